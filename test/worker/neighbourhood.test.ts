/**
 * One hop a ping: the person's object keeps the fences around where they were last matched
 * (src/geo/neighbourhood.ts) and answers the next pings from them, asking the shard only when
 * the person leaves that area, crosses into another leaf, or the tenant's fences change.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ShopperDO } from "../../worker/shopper.js";
import { loadTenant } from "../../worker/tenants.js";
import {
	capturePush,
	circleFence,
	createTenant,
	eventsOf,
	offset,
	postPings,
	registerPerson,
	shopperStub,
	squareFence,
	type Tenant,
	uploadFences,
	walker,
} from "./helpers";

const NANTES = { lat: 47.2184, lng: -1.5536 };

async function lookups(t: Tenant, userId: string): Promise<{ local: number; shard: number }> {
	const stub = shopperStub(t, userId) as DurableObjectStub<ShopperDO>;
	return runInDurableObject(stub, async (instance: ShopperDO) => ({ ...instance.lookups }));
}

describe("the person's neighbourhood", () => {
	it("answers pings near the last match without the shard, with the same events", async () => {
		const t = await createTenant("hood-walk");
		capturePush();
		await uploadFences(t, [
			squareFence("a", NANTES, 60),
			circleFence("b", offset(NANTES, 0, 600), 50),
			squareFence("far", offset(NANTES, 8000, 0), 60),
		]);
		const p = await registerPerson(t, "p");
		const w = walker(20 * 60_000, 30_000);
		// First ping: the shard answers and hands over the neighbourhood.
		expect(eventsOf(await postPings(t, p.userId, [w.at(offset(NANTES, 0, -300))]))).toEqual([]);
		expect(await lookups(t, p.userId)).toEqual({ local: 0, shard: 1 });
		// Into a, out, into b, out: all within 2 km of the first ping, all answered locally.
		expect(eventsOf(await postPings(t, p.userId, [w.at(NANTES)]))).toEqual(["enter:a"]);
		expect(eventsOf(await postPings(t, p.userId, [w.at(offset(NANTES, 0, 300))]))).toEqual(["exit:a"]);
		expect(eventsOf(await postPings(t, p.userId, [w.at(offset(NANTES, 0, 600))]))).toEqual(["enter:b"]);
		expect(eventsOf(await postPings(t, p.userId, [w.at(offset(NANTES, 0, 900))]))).toEqual(["exit:b"]);
		expect(await lookups(t, p.userId)).toEqual({ local: 4, shard: 1 });
		// Far away: the shard again (a new neighbourhood), and the far fence is found.
		const w2 = walker(5 * 60_000, 60_000);
		await postPings(t, p.userId, [w2.at(offset(NANTES, 7800, 0))]);
		expect(eventsOf(await postPings(t, p.userId, [w2.at(offset(NANTES, 8000, 0))]))).toEqual(["enter:far"]);
		expect(await lookups(t, p.userId)).toEqual({ local: 5, shard: 2 });
	});

	it("asks the shard again after the tenant's fences change", async () => {
		const t = await createTenant("hood-version");
		await uploadFences(t, [squareFence("a", NANTES, 60)]);
		const p = await registerPerson(t, "p");
		const w = walker(10 * 60_000, 30_000);
		await postPings(t, p.userId, [w.at(offset(NANTES, 0, -400))]);
		// A new store right where the person is going: the copy they hold predates it.
		await uploadFences(t, [squareFence("new", offset(NANTES, 0, -200), 60)]);
		expect(eventsOf(await postPings(t, p.userId, [w.at(offset(NANTES, 0, -200))]))).toEqual(["enter:new"]);
		expect((await lookups(t, p.userId)).shard).toBe(2);
	});

	it("costs at most 1.1 Durable Object calls a ping on a day of commuting", async () => {
		const t = await createTenant("hood-commute");
		capturePush();
		const home = NANTES;
		const work = offset(NANTES, 6000, 4000);
		const stores = [
			squareFence("home-bakery", offset(home, 150, 0), 40),
			squareFence("work-cafe", offset(work, -120, 80), 40),
			squareFence("station-shop", offset(home, 3000, 2000), 60),
		];
		await uploadFences(t, stores);
		const p = await registerPerson(t, "commuter");
		// One ping every 2 minutes from 08:00 to 19:00: home, a 30-minute commute, work with a
		// lunch walk, the commute back, home; each ping jittered by a few metres.
		const day: { lat: number; lng: number }[] = [];
		const jitter = (x: { lat: number; lng: number }, k: number) =>
			offset(x, ((k * 37) % 11) - 5, ((k * 53) % 13) - 6);
		for (let k = 0; k < 30; k++) day.push(jitter(home, k));
		for (let k = 0; k <= 15; k++) day.push(offset(home, (6000 * k) / 15, (4000 * k) / 15));
		for (let k = 0; k < 120; k++) day.push(k >= 60 && k < 70 ? offset(work, -120, 80) : jitter(work, k));
		for (let k = 15; k >= 0; k--) day.push(offset(home, (6000 * k) / 15, (4000 * k) / 15));
		for (let k = 0; k < 150; k++) day.push(jitter(home, k));
		// One ping a request, as an app pinging every 2 minutes sends them: straight to the person's
		// object with the clock of the day (through HTTP, 332 requests back to back would pass the
		// person's request budget, which is the point of the budget).
		const tenant = await loadTenant(env, t.id);
		if (!tenant) throw new Error("no tenant");
		const stub = shopperStub(t, p.userId) as DurableObjectStub<ShopperDO>;
		const start = Date.now() - day.length * 120_000;
		const events: string[] = [];
		for (const [k, at] of day.entries()) {
			const now = start + k * 120_000;
			const a = await stub.pings(tenant, p.userId, p.deviceId, [{ ...at, accuracy: 10, t: now }], now);
			if ("rateLimited" in a) throw new Error("rate limited");
			for (const e of a.events) events.push(`${e.type}:${e.geofenceId}`);
		}
		expect(events).toEqual(["enter:work-cafe", "exit:work-cafe"]);
		const { local, shard } = await lookups(t, p.userId);
		expect(local + shard).toBe(day.length);
		const callsPerPing = (day.length + shard) / day.length;
		console.log(
			`commute day: ${day.length} pings, ${shard} shard calls, ${callsPerPing.toFixed(3)} Durable Object calls a ping`,
		);
		expect(callsPerPing).toBeLessThanOrEqual(1.1);
	}, 120_000);
});
