/**
 * What a ping writes to the person's object. SQLite-backed Durable Object storage bills every key
 * written as a row, and pings are nearly all of a city's traffic: a ping writes the keys it
 * changed and no other, and touches the alarm only when the time it should ring changes.
 *
 * Each request runs on a fresh `ShopperDO` over the same storage (as after an eviction, which a
 * 2-minute ping interval always meets), whose storage calls are counted.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ShopperDO } from "../../worker/shopper.js";
import type { TenantCtx } from "../../worker/tenants.js";
import { loadTenant } from "../../worker/tenants.js";
import {
	capturePush,
	createCampaign,
	createTenant,
	offset,
	registerPerson,
	shopperStub,
	squareFence,
	type Tenant,
	uploadFences,
} from "./helpers";

const NANTES = { lat: 47.2184, lng: -1.5536 };

interface Written {
	/** Keys put, in order. */
	keys: string[];
	/** Other writes: delete, deleteAll, setAlarm, deleteAlarm. */
	other: string[];
}

/** A storage whose writes are recorded (reads go through untouched). */
function counting(storage: DurableObjectStorage, w: Written): DurableObjectStorage {
	return new Proxy(storage, {
		get(target, prop) {
			const v = Reflect.get(target, prop, target);
			if (typeof v !== "function") return v;
			return (...args: unknown[]) => {
				if (prop === "put")
					w.keys.push(...(typeof args[0] === "string" ? [args[0]] : Object.keys(args[0] as object)));
				else if (["delete", "deleteAll", "setAlarm", "deleteAlarm"].includes(String(prop)))
					w.other.push(String(prop));
				return v.apply(target, args);
			};
		},
	});
}

/** Runs `fn` on a fresh instance of the person's object whose storage writes are counted. */
async function onFresh<T>(
	t: Tenant,
	userId: string,
	fn: (o: ShopperDO) => Promise<T>,
): Promise<{ result: T; written: Written }> {
	const stub = shopperStub(t, userId) as DurableObjectStub<ShopperDO>;
	return runInDurableObject(stub, async (_i: ShopperDO, state) => {
		const written: Written = { keys: [], other: [] };
		const storage = counting(state.storage, written);
		const ctx = new Proxy(state, {
			get: (target, prop) => (prop === "storage" ? storage : Reflect.get(target, prop, target)),
		});
		const o = new ShopperDO(state, env);
		// The base class checks its argument's type: the counted storage goes in afterwards.
		Object.defineProperty(o, "ctx", { value: ctx });
		const result = await fn(o);
		return { result, written };
	});
}

async function pingAt(
	t: Tenant,
	tenant: TenantCtx,
	p: { userId: string; deviceId: string },
	at: { lat: number; lng: number },
	now: number,
	batchId: string | null = null,
) {
	return onFresh(t, p.userId, async (o) => {
		const a = await o.pings(tenant, p.userId, p.deviceId, [{ ...at, accuracy: 10, t: now }], now, batchId);
		if ("rateLimited" in a) throw new Error("rate limited");
		return a;
	});
}

describe("what a ping writes", () => {
	it("a ping that only moves the person writes one key (last fix and the device's last-seen time), and no alarm call", async () => {
		const t = await createTenant("writes-plain");
		await uploadFences(t, [squareFence("a", NANTES, 60)]);
		const p = await registerPerson(t, "p");
		const tenant = await loadTenant(env, t.id);
		if (!tenant) throw new Error("no tenant");
		const start = Date.now() - 60 * 60_000;
		// The first ping fills the neighbourhood (one more key) and the person's meta.
		await pingAt(t, tenant, p, offset(NANTES, 0, -400), start);
		const second = await pingAt(t, tenant, p, offset(NANTES, 0, -390), start + 120_000);
		expect(second.result.events).toEqual([]);
		expect(second.written.keys).toEqual(["presence"]);
		expect(second.written.other).toEqual([]);
		// The device's last-seen time is the ping's, read back by a fresh instance.
		const seen = await onFresh(t, p.userId, (o) => o.getProfile());
		expect(seen.result?.devices).toEqual([
			expect.objectContaining({ deviceId: p.deviceId, lastSeenAt: new Date(start + 120_000).toISOString() }),
		]);
		// Without a device, only the last fix.
		const third = await onFresh(t, p.userId, async (o) => {
			const now = start + 240_000;
			return o.pings(tenant, p.userId, null, [{ ...offset(NANTES, 0, -380), accuracy: 10, t: now }], now);
		});
		expect(third.written.keys).toEqual(["presence"]);
		expect(third.written.other).toEqual([]);
	});

	it("a ping screened out writes only the screening summary", async () => {
		const t = await createTenant("writes-nothing");
		await uploadFences(t, [squareFence("a", NANTES, 60)]);
		const p = await registerPerson(t, "p");
		const tenant = await loadTenant(env, t.id);
		if (!tenant) throw new Error("no tenant");
		const now = Date.now() - 60_000;
		await pingAt(t, tenant, p, offset(NANTES, 0, -400), now);
		// Out of order: screened out, presence unchanged (the device was seen at this same instant);
		// only the back office's summary of why pings changed nothing.
		const again = await onFresh(t, p.userId, async (o) =>
			o.pings(tenant, p.userId, p.deviceId, [{ ...offset(NANTES, 0, -400), accuracy: 10, t: now - 1 }], now),
		);
		expect(again.result).toMatchObject({ rejected: [{ index: 0, reason: "out_of_order" }] });
		expect(again.written.keys).toEqual(["screening"]);
		expect(again.written.other).toEqual([]);
	});

	it("writes what an enter changes, sets the dwell alarm once, and clears it once", async () => {
		const t = await createTenant("writes-enter");
		capturePush();
		await uploadFences(t, [squareFence("a", NANTES, 60, { dwellSeconds: 600 })]);
		await createCampaign(t, "c-enter");
		const p = await registerPerson(t, "p");
		const tenant = await loadTenant(env, t.id);
		if (!tenant) throw new Error("no tenant");
		const start = Date.now() - 5 * 60_000;
		await pingAt(t, tenant, p, offset(NANTES, 0, -200), start);
		const enter = await pingAt(t, tenant, p, NANTES, start + 30_000, "b1");
		expect(enter.result.events.map((e) => e.type)).toEqual(["enter"]);
		expect(enter.written.keys).toContain("presence");
		expect(enter.written.keys).toContain("fences");
		expect(enter.written.keys).toContain("batches");
		expect(enter.written.keys).not.toContain("screening");
		expect(enter.written.other).toEqual(["setAlarm"]);
		// Still inside, the dwell not due: the alarm stays as it is.
		const stay = await pingAt(t, tenant, p, offset(NANTES, 5, 0), start + 60_000);
		expect(stay.result.events).toEqual([]);
		expect(stay.written.keys).toEqual(["presence"]);
		expect(stay.written.other).toEqual([]);
		// Out: the dwell alarm is no longer needed.
		const exit = await pingAt(t, tenant, p, offset(NANTES, 0, -300), start + 90_000);
		expect(exit.result.events.map((e) => e.type)).toEqual(["exit"]);
		expect(exit.written.other).toEqual(["deleteAlarm"]);
		const after = await pingAt(t, tenant, p, offset(NANTES, 0, -310), start + 120_000);
		expect(after.written.other).toEqual([]);
	});
});
