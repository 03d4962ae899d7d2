/**
 * The neighbourhood survives the person's object leaving memory. An app pings every 2 minutes and
 * an idle Durable Object is evicted after about 10 s, so almost every ping meets a fresh instance:
 * the copy of the fences around the person is kept in the object's storage (stamped with leaf,
 * geofence version, centre and radius) and a fresh instance answers from it without the shard.
 *
 * Eviction is simulated by a new `ShopperDO` over the same object's storage: nothing it has in
 * memory comes from earlier requests.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ShopperDO } from "../../worker/shopper.js";
import { loadTenant } from "../../worker/tenants.js";
import {
	capturePush,
	circleFence,
	createTenant,
	offset,
	registerPerson,
	shopperStub,
	squareFence,
	type Tenant,
	uploadFences,
} from "./helpers";

const NANTES = { lat: 47.2184, lng: -1.5536 };

interface Day {
	pings: number;
	shard: number;
	local: number;
	events: string[];
}

/**
 * Sends each place as one ping, 2 minutes apart in the day's clock, each to a fresh instance of
 * the person's object (as after an eviction), and counts how each was located.
 */
async function replayEvicted(
	t: Tenant,
	p: { userId: string; deviceId: string },
	places: { lat: number; lng: number }[],
): Promise<Day> {
	const tenant = await loadTenant(env, t.id);
	if (!tenant) throw new Error("no tenant");
	const stub = shopperStub(t, p.userId) as DurableObjectStub<ShopperDO>;
	const start = Date.now() - places.length * 120_000;
	const day: Day = { pings: places.length, shard: 0, local: 0, events: [] };
	for (const [k, at] of places.entries()) {
		const now = start + k * 120_000;
		await runInDurableObject(stub, async (_instance: ShopperDO, state) => {
			const fresh = new ShopperDO(state, env);
			const a = await fresh.pings(tenant, p.userId, p.deviceId, [{ ...at, accuracy: 10, t: now }], now);
			if ("rateLimited" in a) throw new Error("rate limited");
			for (const e of a.events) day.events.push(`${e.type}:${e.geofenceId}`);
			day.shard += fresh.lookups.shard;
			day.local += fresh.lookups.local;
		});
	}
	return day;
}

/** The test's commuting day: home, a 7.2 km commute, work with a lunch walk, back, home. */
function commuteDay(home: { lat: number; lng: number }): { lat: number; lng: number }[] {
	const work = offset(home, 6000, 4000);
	const day: { lat: number; lng: number }[] = [];
	const jitter = (x: { lat: number; lng: number }, k: number) =>
		offset(x, ((k * 37) % 11) - 5, ((k * 53) % 13) - 6);
	for (let k = 0; k < 30; k++) day.push(jitter(home, k));
	for (let k = 0; k <= 15; k++) day.push(offset(home, (6000 * k) / 15, (4000 * k) / 15));
	for (let k = 0; k < 120; k++) day.push(k >= 60 && k < 70 ? offset(work, -120, 80) : jitter(work, k));
	for (let k = 15; k >= 0; k--) day.push(offset(home, (6000 * k) / 15, (4000 * k) / 15));
	for (let k = 0; k < 150; k++) day.push(jitter(home, k));
	return day;
}

describe("the neighbourhood kept in the person's storage", () => {
	it("answers the first ping of a fresh instance without the shard", async () => {
		const t = await createTenant("hood-wake");
		capturePush();
		await uploadFences(t, [squareFence("a", NANTES, 60), circleFence("b", offset(NANTES, 0, 600), 50)]);
		const p = await registerPerson(t, "p");
		const day = await replayEvicted(t, p, [
			offset(NANTES, 0, -300),
			NANTES,
			offset(NANTES, 0, 300),
			offset(NANTES, 0, 600),
			offset(NANTES, 0, 900),
		]);
		expect(day.events).toEqual(["enter:a", "exit:a", "enter:b", "exit:b"]);
		expect({ shard: day.shard, local: day.local }).toEqual({ shard: 1, local: 4 });
	});

	it("costs at most 1.1 Durable Object calls a ping on a commuting day with every ping evicted", async () => {
		const t = await createTenant("hood-evicted-commute");
		capturePush();
		const home = NANTES;
		const work = offset(NANTES, 6000, 4000);
		await uploadFences(t, [
			squareFence("home-bakery", offset(home, 150, 0), 40),
			squareFence("work-cafe", offset(work, -120, 80), 40),
			squareFence("station-shop", offset(home, 3000, 2000), 60),
		]);
		const p = await registerPerson(t, "commuter");
		const day = await replayEvicted(t, p, commuteDay(home));
		expect(day.events).toEqual(["enter:work-cafe", "exit:work-cafe"]);
		expect(day.local + day.shard).toBe(day.pings);
		const callsPerPing = (day.pings + day.shard) / day.pings;
		console.log(
			`evicted commute: ${day.pings} pings, ${day.shard} shard calls, ${callsPerPing.toFixed(3)} Durable Object calls a ping`,
		);
		expect(callsPerPing).toBeLessThanOrEqual(1.1);
	}, 120_000);

	it("is dropped when the tenant's fences change, on a fresh instance too", async () => {
		const t = await createTenant("hood-wake-version");
		await uploadFences(t, [squareFence("a", NANTES, 60)]);
		const p = await registerPerson(t, "p");
		const tenant0 = await loadTenant(env, t.id);
		if (!tenant0) throw new Error("no tenant");
		const first = await replayEvicted(t, p, [offset(NANTES, 0, -400)]);
		expect(first.shard).toBe(1);
		await uploadFences(t, [squareFence("new", offset(NANTES, 0, -200), 60)]);
		const tenant = await loadTenant(env, t.id);
		expect(tenant?.geofenceVersion).not.toBe(tenant0.geofenceVersion);
		const stub = shopperStub(t, p.userId) as DurableObjectStub<ShopperDO>;
		const now = Date.now();
		await runInDurableObject(stub, async (_i: ShopperDO, state) => {
			const fresh = new ShopperDO(state, env);
			if (!tenant) throw new Error("no tenant");
			const a = await fresh.pings(
				tenant,
				p.userId,
				p.deviceId,
				[{ ...offset(NANTES, 0, -200), accuracy: 10, t: now }],
				now,
			);
			if ("rateLimited" in a) throw new Error("rate limited");
			expect(a.events.map((e) => `${e.type}:${e.geofenceId}`)).toEqual(["enter:new"]);
			expect(fresh.lookups).toEqual({ local: 0, shard: 1 });
		});
	});

	it("is erased with the person, and forgotten when location consent is withdrawn", async () => {
		const t = await createTenant("hood-erase");
		await uploadFences(t, [squareFence("a", NANTES, 60)]);
		const p = await registerPerson(t, "p");
		await replayEvicted(t, p, [offset(NANTES, 0, -400)]);
		const stub = shopperStub(t, p.userId) as DurableObjectStub<ShopperDO>;
		/** Runs `fn` on a fresh instance of the person's object (as after an eviction). */
		const fresh = <T>(fn: (o: ShopperDO, storage: DurableObjectStorage) => Promise<T>) =>
			runInDurableObject(stub, async (_i: ShopperDO, state) => fn(new ShopperDO(state, env), state.storage));
		const keys = () => fresh(async (_o, storage) => [...(await storage.list()).keys()]);
		expect(await keys()).toContain("hood");
		// The export names no fence copy and no centre.
		const exported = JSON.stringify(await fresh((o) => o.exportData()));
		expect(exported).not.toContain("hood");
		expect(exported).not.toContain("radius");
		// Location consent withdrawn: where the person is is forgotten, the copy around them too.
		const consent = (location: boolean) =>
			fresh((o) => o.putProfile(t.id, p.userId, { consent: { location, push: true } }, Date.now()));
		await consent(false);
		expect(await keys()).not.toContain("hood");
		await consent(true);
		await replayEvicted(t, p, [offset(NANTES, 0, -300)]);
		expect(await keys()).toContain("hood");
		expect(await fresh((o) => o.erase(Date.now()))).toBe(true);
		expect(await keys()).toEqual(["erasedAt"]);
	});
});
