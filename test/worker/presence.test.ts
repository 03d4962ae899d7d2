/**
 * Presence through POST /v1/pings: enter, exit with hysteresis, dwell by Durable Object
 * alarm, ping screening (accuracy, order, future, speed), batch ordering, staleness,
 * consent, and exact matching at edges, in holes, for tiny fences and across H3 shards.
 */
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { cellToBoundary, latLngToCell } from "h3-js";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
	callOk,
	capturePush,
	circleFence,
	createCampaign,
	createTenant,
	decisionsOf,
	eventsOf,
	type Feature,
	getUser,
	type LatLng,
	offset,
	ping,
	polygonFence,
	postPings,
	putUser,
	rectRing,
	registerPerson,
	shopperStub,
	squareFence,
	type Tenant,
	unique,
	uploadFences,
	walker,
} from "./helpers";

const NANTES = { lat: 47.2184, lng: -1.5536 };

afterEach(() => {
	vi.useRealTimers();
	vi.restoreAllMocks();
});

async function tenantWithCircle(prefix: string, radius = 100, props: Record<string, unknown> = {}) {
	const t = await createTenant(prefix);
	await uploadFences(t, [circleFence("store", NANTES, radius, props)]);
	return t;
}

async function person(t: Tenant, prefix: string): Promise<string> {
	const userId = unique(prefix);
	await putUser(t, userId);
	return userId;
}

/** Moves the clock every `Date.now()` in this isolate (tests and Durable Objects) reads. */
function advanceClock(ms: number): void {
	const now = Date.now();
	vi.useFakeTimers({ toFake: ["Date"] });
	vi.setSystemTime(now + ms);
}

describe("enter and exit", () => {
	it("enters once and stays inside without new events", async () => {
		const t = await tenantWithCircle("pr-enter");
		const u = await person(t, "u");
		const w = walker();
		const a = await postPings(t, u, [w.at(offset(NANTES, 500, 0))]);
		expect(a.events).toEqual([]);
		const b = await postPings(t, u, [w.at(NANTES)]);
		expect(eventsOf(b)).toEqual(["enter:store"]);
		expect(b.events[0]?.at).toBe(new Date(w.peek() - 10_000).toISOString());
		for (const p of [offset(NANTES, 20, 0), offset(NANTES, -30, 30), NANTES]) {
			expect((await postPings(t, u, [w.at(p)])).events).toEqual([]);
		}
		expect((await getUser(t, u)).insideGeofences).toEqual(["store"]);
	});

	it("exits only beyond max(25 m, accuracy) outside the fence", async () => {
		const t = await tenantWithCircle("pr-hysteresis", 100);
		const u = await person(t, "u");
		const w = walker();
		expect(eventsOf(await postPings(t, u, [w.at(NANTES)]))).toEqual(["enter:store"]);
		// 10 m outside, accuracy 5: within the 25 m margin.
		expect((await postPings(t, u, [w.at(offset(NANTES, 110, 0), 5)])).events).toEqual([]);
		// 40 m outside with accuracy 60: the margin is 60 m.
		expect((await postPings(t, u, [w.at(offset(NANTES, 140, 0), 60)])).events).toEqual([]);
		expect((await getUser(t, u)).insideGeofences).toEqual(["store"]);
		// 40 m outside, accuracy 5: out.
		expect(eventsOf(await postPings(t, u, [w.at(offset(NANTES, 140, 0), 5)]))).toEqual(["exit:store"]);
		expect((await getUser(t, u)).insideGeofences).toEqual([]);
		// And back in.
		expect(eventsOf(await postPings(t, u, [w.at(NANTES)]))).toEqual(["enter:store"]);
	});

	it("exits with a large accuracy once beyond it", async () => {
		const t = await tenantWithCircle("pr-hysteresis-acc", 100);
		const u = await person(t, "u");
		const w = walker();
		await postPings(t, u, [w.at(NANTES)]);
		expect(eventsOf(await postPings(t, u, [w.at(offset(NANTES, 0, 170), 60)]))).toEqual(["exit:store"]);
	});
});

describe("unusable pings", () => {
	it("rejects pings less accurate than maxAccuracyMeters (default 100) and changes nothing", async () => {
		const t = await tenantWithCircle("pr-accuracy");
		const u = await person(t, "u");
		const a = await postPings(t, u, [ping(NANTES, 5_000, 150)]);
		expect(a.events).toEqual([]);
		expect(a.rejected).toEqual([{ index: 0, reason: "low_accuracy" }]);
		expect((await getUser(t, u)).insideGeofences).toEqual([]);
		// 100 is usable.
		expect(eventsOf(await postPings(t, u, [ping(NANTES, 4_000, 100)]))).toEqual(["enter:store"]);
	});

	it("follows the tenant's maxAccuracyMeters", async () => {
		const t = await tenantWithCircle("pr-accuracy-setting");
		await callOk("PUT", "/v1/settings", { key: t.secretKey, body: { maxAccuracyMeters: 50 } });
		const u = await person(t, "u");
		const a = await postPings(t, u, [ping(NANTES, 5_000, 60)]);
		expect(a.rejected).toEqual([{ index: 0, reason: "low_accuracy" }]);
		expect(a.events).toEqual([]);
		expect(eventsOf(await postPings(t, u, [ping(NANTES, 4_000, 40)]))).toEqual(["enter:store"]);
	});

	it("rejects a ping older than the last processed one", async () => {
		const t = await tenantWithCircle("pr-order");
		const u = await person(t, "u");
		const last = Date.now() - 60_000;
		await postPings(t, u, [{ ...offset(NANTES, 1000, 0), accuracy: 5, timestamp: last }]);
		const a = await postPings(t, u, [{ ...NANTES, accuracy: 5, timestamp: last - 30_000 }]);
		expect(a.rejected).toEqual([{ index: 0, reason: "out_of_order" }]);
		expect(a.events).toEqual([]);
		expect((await getUser(t, u)).insideGeofences).toEqual([]);
	});

	it("rejects a ping more than 5 minutes in the future without moving the clock of the person", async () => {
		const t = await tenantWithCircle("pr-future");
		const u = await person(t, "u");
		const a = await postPings(t, u, [{ ...NANTES, accuracy: 5, timestamp: Date.now() + 6 * 60_000 }]);
		expect(a.rejected).toEqual([{ index: 0, reason: "future" }]);
		expect(a.events).toEqual([]);
		// Had the future ping been kept as the last one, this one would be out of order.
		const b = await postPings(t, u, [ping(NANTES, 1_000)]);
		expect(b.rejected ?? []).toEqual([]);
		expect(eventsOf(b)).toEqual(["enter:store"]);
	});

	it("accepts a ping slightly in the future (clock skew)", async () => {
		const t = await tenantWithCircle("pr-skew");
		const u = await person(t, "u");
		const a = await postPings(t, u, [{ ...NANTES, accuracy: 5, timestamp: Date.now() + 60_000 }]);
		expect(a.rejected ?? []).toEqual([]);
		expect(eventsOf(a)).toEqual(["enter:store"]);
	});

	it("rejects a ping implying more than 100 m/s", async () => {
		const t = await tenantWithCircle("pr-speed");
		const u = await person(t, "u");
		const t0 = Date.now() - 60_000;
		await postPings(t, u, [{ ...offset(NANTES, 10_000, 0), accuracy: 5, timestamp: t0 }]);
		// 10 km in 10 s.
		const a = await postPings(t, u, [{ ...NANTES, accuracy: 5, timestamp: t0 + 10_000 }]);
		expect(a.rejected).toEqual([{ index: 0, reason: "too_fast" }]);
		expect(a.events).toEqual([]);
		expect((await getUser(t, u)).insideGeofences).toEqual([]);
		// 10 km in 200 s (50 m/s) is believable.
		const b = await postPings(t, u, [{ ...NANTES, accuracy: 5, timestamp: t0 + 200_000 }]);
		expect(b.rejected ?? []).toEqual([]);
		expect(eventsOf(b)).toEqual(["enter:store"]);
	});

	it("reports each unusable ping of a batch by its index and uses the rest", async () => {
		const t = await tenantWithCircle("pr-mixed");
		const u = await person(t, "u");
		const a = await postPings(t, u, [
			{ ...NANTES, accuracy: 500, timestamp: Date.now() - 30_000 },
			{ ...NANTES, accuracy: 5, timestamp: Date.now() - 20_000 },
			{ ...NANTES, accuracy: 5, timestamp: Date.now() + 10 * 60_000 },
		]);
		expect(a.rejected).toEqual([
			{ index: 0, reason: "low_accuracy" },
			{ index: 2, reason: "future" },
		]);
		expect(eventsOf(a)).toEqual(["enter:store"]);
	});

	it("rejects every ping of a person without location consent and records nothing", async () => {
		const t = await tenantWithCircle("pr-consent");
		await createCampaign(t, "c", { trigger: { type: "geofence", on: "enter" } });
		const u = unique("u");
		await putUser(t, u, { consent: { location: false, push: true } });
		const a = await postPings(t, u, [ping(NANTES, 2_000), ping(NANTES, 1_000)]);
		expect(a.events).toEqual([]);
		expect(a.offers).toEqual([]);
		expect(a.rejected).toEqual([
			{ index: 0, reason: "no_location_consent" },
			{ index: 1, reason: "no_location_consent" },
		]);
		expect((await getUser(t, u)).insideGeofences).toEqual([]);
		expect(await decisionsOf(t, u)).toEqual([]);
	});

	it("forgets where a person is when location consent is withdrawn", async () => {
		const t = await tenantWithCircle("pr-withdraw");
		const u = await person(t, "u");
		expect(eventsOf(await postPings(t, u, [ping(NANTES, 5_000)]))).toEqual(["enter:store"]);
		await putUser(t, u, { consent: { location: false, push: true } });
		expect((await getUser(t, u)).insideGeofences).toEqual([]);
		const a = await postPings(t, u, [ping(NANTES, 4_000)]);
		expect(a.rejected).toEqual([{ index: 0, reason: "no_location_consent" }]);
		await putUser(t, u, { consent: { location: true, push: true } });
		expect(eventsOf(await postPings(t, u, [ping(NANTES, 3_000)]))).toEqual(["enter:store"]);
	});
});

describe("batches", () => {
	it("processes a batch in timestamp order, whatever order it arrives in", async () => {
		const t = await tenantWithCircle("pr-batch-order");
		const u = await person(t, "u");
		const t0 = Date.now() - 120_000;
		const a = await postPings(t, u, [
			{ ...offset(NANTES, 500, 0), accuracy: 5, timestamp: t0 + 30_000 },
			{ ...NANTES, accuracy: 5, timestamp: t0 },
			{ ...offset(NANTES, 20, 0), accuracy: 5, timestamp: t0 + 15_000 },
		]);
		expect(a.rejected ?? []).toEqual([]);
		expect(a.events).toEqual([
			{ type: "enter", geofenceId: "store", at: new Date(t0).toISOString() },
			{ type: "exit", geofenceId: "store", at: new Date(t0 + 30_000).toISOString() },
		]);
	});

	// A fence entered by an earlier ping of the same batch must get the same hysteresis as
	// one the person was already in: exit only beyond max(25 m, accuracy).
	it("keeps exit hysteresis for a fence entered earlier in the same batch", async () => {
		const t = await tenantWithCircle("pr-batch-hysteresis", 100);
		const u = await person(t, "u");
		const w = walker();
		const a = await postPings(t, u, [w.at(NANTES), w.at(offset(NANTES, 110, 0), 5)]);
		expect(eventsOf(a)).toEqual(["enter:store"]);
		expect((await getUser(t, u)).insideGeofences).toEqual(["store"]);
	});

	it("accepts ISO 8601 timestamps with an offset as well as epoch milliseconds", async () => {
		const t = await tenantWithCircle("pr-iso");
		const u = await person(t, "u");
		const t0 = Date.now() - 60_000;
		// +02:00: the same instant written in another zone.
		const local = new Date(t0 + 2 * 3_600_000).toISOString().replace("Z", "+02:00");
		const a = await postPings(t, u, [
			{ ...NANTES, accuracy: 5, timestamp: local },
			{ ...offset(NANTES, 500, 0), accuracy: 5, timestamp: t0 + 30_000 },
		]);
		expect(a.rejected ?? []).toEqual([]);
		expect(a.events).toEqual([
			{ type: "enter", geofenceId: "store", at: new Date(t0).toISOString() },
			{ type: "exit", geofenceId: "store", at: new Date(t0 + 30_000).toISOString() },
		]);
	});

	it("fires the enter of a ping older than 10 minutes but suppresses its offer as stale", async () => {
		const t = await tenantWithCircle("pr-stale", 100, { tags: ["grocery"] });
		await createCampaign(t, "stale-c");
		const push = capturePush();
		const p = await registerPerson(t, "u");
		const a = await postPings(t, p.userId, [ping(NANTES, 11 * 60_000)], p.deviceId);
		expect(eventsOf(a)).toEqual(["enter:store"]);
		expect(a.offers).toEqual([
			expect.objectContaining({ campaignId: "stale-c", decision: "suppressed", reason: "stale" }),
		]);
		expect(a.offers[0]?.offerId).toBeUndefined();
		expect(push.sent).toEqual([]);
		expect((await getUser(t, p.userId)).insideGeofences).toEqual(["store"]);
		const logged = await decisionsOf(t, p.userId);
		expect(logged).toEqual([
			expect.objectContaining({ campaignId: "stale-c", decision: "suppressed", reason: "stale" }),
		]);
	});
});

describe("dwell", () => {
	it("fires by alarm once the person has been inside for dwellSeconds, logs and pushes it", async () => {
		const t = await tenantWithCircle("pr-dwell", 100, { tags: ["grocery"], dwellSeconds: 60 });
		await createCampaign(t, "dwell-c", { trigger: { type: "geofence", on: "dwell", tags: ["grocery"] } });
		const push = capturePush();
		const p = await registerPerson(t, "u");
		const a = await postPings(t, p.userId, [ping(NANTES, 1_000)], p.deviceId);
		expect(eventsOf(a)).toEqual(["enter:store"]);
		expect(a.offers).toEqual([]);
		expect(await decisionsOf(t, p.userId)).toEqual([]);

		advanceClock(61_000);
		expect(await runDurableObjectAlarm(shopperStub(t, p.userId))).toBe(true);

		const logged = await decisionsOf(t, p.userId);
		expect(logged).toEqual([
			expect.objectContaining({ campaignId: "dwell-c", decision: "sent", variantId: "a", reason: null }),
		]);
		expect(logged[0]?.trigger).toMatchObject({ type: "geofence", on: "dwell", geofenceId: "store" });
		expect(typeof logged[0]?.offerId).toBe("string");
		expect(push.to(p.endpoint).length).toBe(1);
		// Once per visit: nothing left to run.
		expect(await runDurableObjectAlarm(shopperStub(t, p.userId))).toBe(false);
		expect((await decisionsOf(t, p.userId)).length).toBe(1);
	});

	it("does not fire before dwellSeconds, even when the alarm runs early", async () => {
		const t = await tenantWithCircle("pr-dwell-early", 100, { tags: ["grocery"], dwellSeconds: 600 });
		await createCampaign(t, "dwell-c", { trigger: { type: "geofence", on: "dwell" } });
		const p = await registerPerson(t, "u");
		capturePush();
		await postPings(t, p.userId, [ping(NANTES, 1_000)], p.deviceId);
		await runDurableObjectAlarm(shopperStub(t, p.userId));
		expect(await decisionsOf(t, p.userId)).toEqual([]);
		// It still fires when due.
		advanceClock(601_000);
		expect(await runDurableObjectAlarm(shopperStub(t, p.userId))).toBe(true);
		expect((await decisionsOf(t, p.userId)).map((d) => d.trigger.on)).toEqual(["dwell"]);
	});

	it("never fires after an exit", async () => {
		const t = await tenantWithCircle("pr-dwell-exit", 100, { tags: ["grocery"], dwellSeconds: 60 });
		await createCampaign(t, "dwell-c", { trigger: { type: "geofence", on: "dwell" } });
		const push = capturePush();
		const p = await registerPerson(t, "u");
		const t0 = Date.now() - 20_000;
		await postPings(t, p.userId, [{ ...NANTES, accuracy: 5, timestamp: t0 }], p.deviceId);
		const out = await postPings(t, p.userId, [
			{ ...offset(NANTES, 400, 0), accuracy: 5, timestamp: t0 + 10_000 },
		]);
		expect(eventsOf(out)).toEqual(["exit:store"]);

		advanceClock(120_000);
		await runDurableObjectAlarm(shopperStub(t, p.userId));
		expect(await decisionsOf(t, p.userId)).toEqual([]);
		expect(push.sent).toEqual([]);
	});

	it("keeps presence and the dwell alarm across an eviction of the object", async () => {
		const t = await tenantWithCircle("pr-evict", 100, { dwellSeconds: 60, tags: ["grocery"] });
		await createCampaign(t, "dwell-c", { trigger: { type: "geofence", on: "dwell" } });
		capturePush();
		const p = await registerPerson(t, "u");
		const w = walker(30_000);
		expect(eventsOf(await postPings(t, p.userId, [w.at(NANTES)]))).toEqual(["enter:store"]);
		await evictDurableObject(shopperStub(t, p.userId));
		expect((await postPings(t, p.userId, [w.at(offset(NANTES, 10, 0))])).events).toEqual([]);
		await evictDurableObject(shopperStub(t, p.userId));
		advanceClock(120_000);
		expect(await runDurableObjectAlarm(shopperStub(t, p.userId))).toBe(true);
		expect((await decisionsOf(t, p.userId)).map((d) => [d.trigger.on, d.decision])).toEqual([
			["dwell", "sent"],
		]);
	});

	it("is cancelled by withdrawing location consent or by erasure", async () => {
		const t = await tenantWithCircle("pr-dwell-cancel", 100, { dwellSeconds: 60 });
		await createCampaign(t, "dwell-c", { trigger: { type: "geofence", on: "dwell" } });
		const push = capturePush();
		const withdrawn = await registerPerson(t, "withdrawn");
		const erased = await registerPerson(t, "erased");
		for (const p of [withdrawn, erased]) {
			expect(eventsOf(await postPings(t, p.userId, [ping(NANTES, 1_000)]))).toEqual(["enter:store"]);
		}
		await putUser(t, withdrawn.userId, { consent: { location: false, push: true } });
		await callOk("DELETE", `/v1/users/${erased.userId}`, { key: t.secretKey }, 204);

		advanceClock(120_000);
		for (const p of [withdrawn, erased]) {
			await runDurableObjectAlarm(shopperStub(t, p.userId));
			expect(await decisionsOf(t, p.userId)).toEqual([]);
		}
		expect(push.sent).toEqual([]);
	});

	it("fires within a batch whose pings span dwellSeconds inside", async () => {
		const t = await tenantWithCircle("pr-dwell-batch", 100, { dwellSeconds: 60 });
		const u = await person(t, "u");
		const t0 = Date.now() - 200_000;
		const a = await postPings(t, u, [
			{ ...NANTES, accuracy: 5, timestamp: t0 },
			{ ...offset(NANTES, 10, 0), accuracy: 5, timestamp: t0 + 100_000 },
		]);
		expect(a.events).toEqual([
			{ type: "enter", geofenceId: "store", at: new Date(t0).toISOString() },
			{ type: "dwell", geofenceId: "store", at: new Date(t0 + 60_000).toISOString(), dwellSeconds: 60 },
		]);
	});

	it("fires a campaign with its own dwellSeconds at that threshold, and one without at the fence's", async () => {
		const t = await tenantWithCircle("pr-dwell-own", 100, { dwellSeconds: 60 });
		await createCampaign(t, "at-fence", { trigger: { type: "geofence", on: "dwell" } });
		await createCampaign(t, "at-300", { trigger: { type: "geofence", on: "dwell", dwellSeconds: 300 } });
		const push = capturePush();
		const p = await registerPerson(t, "u");
		expect(eventsOf(await postPings(t, p.userId, [ping(NANTES, 1_000)], p.deviceId))).toEqual([
			"enter:store",
		]);

		advanceClock(61_000);
		expect(await runDurableObjectAlarm(shopperStub(t, p.userId))).toBe(true);
		expect((await decisionsOf(t, p.userId)).map((d) => [d.campaignId, d.decision])).toEqual([
			["at-fence", "sent"],
		]);

		// Not before its own threshold, then once.
		advanceClock(200_000);
		await runDurableObjectAlarm(shopperStub(t, p.userId));
		expect((await decisionsOf(t, p.userId)).length).toBe(1);
		advanceClock(40_000);
		expect(await runDurableObjectAlarm(shopperStub(t, p.userId))).toBe(true);
		const logged = await decisionsOf(t, p.userId);
		expect(logged.map((d) => [d.campaignId, d.decision]).sort()).toEqual([
			["at-300", "sent"],
			["at-fence", "sent"],
		]);
		expect(push.to(p.endpoint).length).toBe(2);
		expect(await runDurableObjectAlarm(shopperStub(t, p.userId))).toBe(false);
	});

	it("schedules every threshold again, with the fence's tags, after leaving and re-entering in one batch", async () => {
		const t = await tenantWithCircle("pr-dwell-reenter", 100, { tags: ["grocery"], dwellSeconds: 60 });
		await createCampaign(t, "at-fence", { trigger: { type: "geofence", on: "dwell", tags: ["grocery"] } });
		await createCampaign(t, "at-300", {
			trigger: { type: "geofence", on: "dwell", tags: ["grocery"], dwellSeconds: 300 },
		});
		capturePush();
		const p = await registerPerson(t, "u");
		const t0 = Date.now() - 50_000;
		const first = await postPings(t, p.userId, [{ ...NANTES, accuracy: 5, timestamp: t0 }], p.deviceId);
		expect(eventsOf(first)).toEqual(["enter:store"]);
		const again = await postPings(
			t,
			p.userId,
			[
				{ ...offset(NANTES, 400, 0), accuracy: 5, timestamp: t0 + 10_000 },
				{ ...NANTES, accuracy: 5, timestamp: t0 + 20_000 },
			],
			p.deviceId,
		);
		expect(eventsOf(again)).toEqual(["exit:store", "enter:store"]);

		// The fence's own threshold, 60 s after the re-entry, reaches the campaign filtering by tag.
		advanceClock(31_000);
		expect(await runDurableObjectAlarm(shopperStub(t, p.userId))).toBe(true);
		expect((await decisionsOf(t, p.userId)).map((d) => [d.campaignId, d.decision])).toEqual([
			["at-fence", "sent"],
		]);
		// And the campaign's own threshold was scheduled for the new visit.
		advanceClock(240_000);
		expect(await runDurableObjectAlarm(shopperStub(t, p.userId))).toBe(true);
		expect((await decisionsOf(t, p.userId)).map((d) => [d.campaignId, d.decision]).sort()).toEqual([
			["at-300", "sent"],
			["at-fence", "sent"],
		]);
	});

	it("dwells in a fence without dwellSeconds for a campaign that names its own, by tag", async () => {
		const t = await tenantWithCircle("pr-dwell-campaign-only", 100, { tags: ["grocery"] });
		await createCampaign(t, "other-tag", {
			trigger: { type: "geofence", on: "dwell", tags: ["pharmacy"], dwellSeconds: 30 },
		});
		await createCampaign(t, "at-120", {
			trigger: { type: "geofence", on: "dwell", tags: ["grocery"], dwellSeconds: 120 },
		});
		capturePush();
		const u = await person(t, "u");
		const t0 = Date.now() - 300_000;
		const a = await postPings(t, u, [
			{ ...NANTES, accuracy: 5, timestamp: t0 },
			{ ...offset(NANTES, 10, 0), accuracy: 5, timestamp: t0 + 200_000 },
		]);
		// Only the threshold of a campaign that applies to this fence is scheduled.
		expect(a.events).toEqual([
			{ type: "enter", geofenceId: "store", at: new Date(t0).toISOString() },
			{ type: "dwell", geofenceId: "store", at: new Date(t0 + 120_000).toISOString(), dwellSeconds: 120 },
		]);
		expect((await decisionsOf(t, u)).map((d) => d.campaignId)).toEqual(["at-120"]);
	});
});

/**
 * The midpoint of an edge of the resolution-5 H3 cell of `near`, and points `m` metres from it
 * across the edge: `inCell(m)` in that cell, `outCell(m)` in its neighbour.
 */
function shardBorder(near: LatLng) {
	const cell = latLngToCell(near.lat, near.lng, 5);
	const boundary = cellToBoundary(cell);
	const [v0, v1] = [boundary[0] as [number, number], boundary[1] as [number, number]];
	const mid: LatLng = { lat: (v0[0] + v1[0]) / 2, lng: (v0[1] + v1[1]) / 2 };
	// Unit vector across the edge, in local metres (north, east).
	const along = {
		n: (v1[0] - v0[0]) * 111_195,
		e: (v1[1] - v0[1]) * 111_195 * Math.cos(mid.lat * (Math.PI / 180)),
	};
	const len = Math.hypot(along.n, along.e);
	const across = { n: -along.e / len, e: along.n / len };
	const side = (m: number) => offset(mid, across.n * m, across.e * m);
	const [a, b] = [side(5), side(-5)];
	const cellA = latLngToCell(a.lat, a.lng, 5);
	const cellB = latLngToCell(b.lat, b.lng, 5);
	expect(cellA).not.toBe(cellB);
	expect([cellA, cellB]).toContain(cell);
	const sign = cellA === cell ? 1 : -1;
	const inCell = (m: number) => side(sign * m);
	const outCell = (m: number) => side(-sign * m);
	const cellOf = (p: LatLng) => latLngToCell(p.lat, p.lng, 5);
	return { cell, mid, inCell, outCell, cellOf };
}

describe("exact matching", () => {
	it("matches right at a polygon's edges without false positives or negatives", async () => {
		const t = await createTenant("pr-edge");
		const ring = rectRing(NANTES, 100, 100);
		await uploadFences(t, [polygonFence("rect", [ring])]);
		const [west, south] = ring[0] as [number, number];
		const [east, north] = ring[2] as [number, number];
		const eps = 1e-7; // about one centimetre
		const midLat = (south + north) / 2;
		const midLng = (west + east) / 2;
		const cases: { name: string; outside: LatLng; inside: LatLng }[] = [
			{ name: "east", outside: { lat: midLat, lng: east + eps }, inside: { lat: midLat, lng: east - eps } },
			{ name: "west", outside: { lat: midLat, lng: west - eps }, inside: { lat: midLat, lng: west + eps } },
			{
				name: "north",
				outside: { lat: north + eps, lng: midLng },
				inside: { lat: north - eps, lng: midLng },
			},
			{
				name: "south",
				outside: { lat: south - eps, lng: midLng },
				inside: { lat: south + eps, lng: midLng },
			},
		];
		for (const c of cases) {
			const u = await person(t, `edge-${c.name}`);
			const w = walker();
			expect((await postPings(t, u, [w.at(c.outside)])).events, c.name).toEqual([]);
			expect(eventsOf(await postPings(t, u, [w.at(c.inside)])), c.name).toEqual(["enter:rect"]);
		}
	});

	it("does not enter in a hole, enters in the ring around it, and exits into the hole", async () => {
		const t = await createTenant("pr-hole");
		const second = offset(NANTES, 0, 1000);
		const donut: Feature = {
			type: "Feature",
			geometry: {
				type: "MultiPolygon",
				coordinates: [[rectRing(NANTES, 200, 200), rectRing(NANTES, 60, 60)], [rectRing(second, 50, 50)]],
			},
			properties: { id: "donut" },
		};
		await uploadFences(t, [donut]);
		const u = await person(t, "u");
		const w = walker();
		expect((await postPings(t, u, [w.at(NANTES)])).events).toEqual([]);
		expect((await postPings(t, u, [w.at(offset(NANTES, 20, 20))])).events).toEqual([]);
		expect(eventsOf(await postPings(t, u, [w.at(offset(NANTES, 130, 0))]))).toEqual(["enter:donut"]);
		// The hole's centre is 60 m from the fence: beyond the 25 m margin.
		expect(eventsOf(await postPings(t, u, [w.at(NANTES)]))).toEqual(["exit:donut"]);

		const v = await person(t, "v");
		expect(eventsOf(await postPings(t, v, [walker().at(second)]))).toEqual(["enter:donut"]);
	});

	it("matches right at a circle's edge", async () => {
		const t = await createTenant("pr-circle-edge");
		const center = offset(NANTES, -2000, 0);
		await uploadFences(t, [circleFence("round", center, 100)]);
		for (const [name, north, east] of [
			["north", 1, 0],
			["east", 0, 1],
			["south-west", -Math.SQRT1_2, -Math.SQRT1_2],
		] as const) {
			const u = await person(t, `circle-${name}`);
			const w = walker();
			expect(
				(await postPings(t, u, [w.at(offset(center, north * 100.5, east * 100.5))])).events,
				name,
			).toEqual([]);
			expect(
				eventsOf(await postPings(t, u, [w.at(offset(center, north * 99.5, east * 99.5))])),
				name,
			).toEqual(["enter:round"]);
		}
	});

	it("finds circles across the antimeridian and around a pole", async () => {
		const t = await createTenant("pr-antimeridian");
		await uploadFences(t, [
			circleFence("dateline", { lat: 10, lng: 179.999 }, 500),
			circleFence("north-pole", { lat: 89.999, lng: 0 }, 500),
		]);
		const cases: [string, LatLng, string[]][] = [
			["east of the line", { lat: 10, lng: 179.9995 }, ["enter:dateline"]],
			["west of the line", { lat: 10, lng: -179.9998 }, ["enter:dateline"]],
			["far west of the line", { lat: 10, lng: -179.99 }, []],
			["across the pole", { lat: 89.9995, lng: 180 }, ["enter:north-pole"]],
			["beside the pole", { lat: 89.9992, lng: 90 }, ["enter:north-pole"]],
			["below the circle", { lat: 89.99, lng: 0 }, []],
		];
		for (const [name, p, expected] of cases) {
			const u = await person(t, "u");
			expect(eventsOf(await postPings(t, u, [ping(p, 1_000)])), name).toEqual(expected);
		}
	});

	it("finds a 10 m circle", async () => {
		const t = await createTenant("pr-tiny");
		const center = offset(NANTES, 3000, 3000);
		await uploadFences(t, [circleFence("kiosk", center, 10)]);
		const u = await person(t, "u");
		const w = walker();
		expect((await postPings(t, u, [w.at(offset(center, 12, 0))])).events).toEqual([]);
		expect(eventsOf(await postPings(t, u, [w.at(offset(center, 0, 8))]))).toEqual(["enter:kiosk"]);
		// 10 m outside: kept by hysteresis; 40 m outside: out.
		expect((await postPings(t, u, [w.at(offset(center, 0, 20))])).events).toEqual([]);
		expect(eventsOf(await postPings(t, u, [w.at(offset(center, 0, 50))]))).toEqual(["exit:kiosk"]);
	});

	it("handles a fence straddling an H3 resolution-5 shard border from both sides", async () => {
		const t = await createTenant("pr-shard");
		const { mid, inCell, outCell } = shardBorder(NANTES);
		await uploadFences(t, [squareFence("border", mid, 100)]);

		// From this cell's side...
		const u = await person(t, "from-in");
		const w = walker();
		expect((await postPings(t, u, [w.at(inCell(400))])).events).toEqual([]);
		expect(eventsOf(await postPings(t, u, [w.at(inCell(40))]))).toEqual(["enter:border"]);
		// ...crossing the shard border inside the fence is no event...
		expect((await postPings(t, u, [w.at(outCell(40))])).events).toEqual([]);
		// ...and leaving on the other side is an exit.
		expect(eventsOf(await postPings(t, u, [w.at(outCell(400))]))).toEqual(["exit:border"]);

		// From the neighbouring cell's side.
		const v = await person(t, "from-out");
		const wv = walker();
		expect((await postPings(t, v, [wv.at(outCell(400))])).events).toEqual([]);
		expect(eventsOf(await postPings(t, v, [wv.at(outCell(40))]))).toEqual(["enter:border"]);
		expect((await postPings(t, v, [wv.at(inCell(40))])).events).toEqual([]);
		expect(eventsOf(await postPings(t, v, [wv.at(inCell(400))]))).toEqual(["exit:border"]);
	});

	it("keeps exit hysteresis when a ping crosses into a shard the fence does not cover", async () => {
		const t = await createTenant("pr-shard-hysteresis");
		const { cell, inCell, outCell, cellOf } = shardBorder(offset(NANTES, 20_000, 0));
		// A 30 m circle wholly in this cell, its edge 10 m from the border.
		const center = inCell(40);
		await uploadFences(t, [circleFence("near-border", center, 30)]);
		expect(cellOf(center)).toBe(cell);
		const u = await person(t, "u");
		const w = walker();
		expect(eventsOf(await postPings(t, u, [w.at(center)]))).toEqual(["enter:near-border"]);
		// In the neighbouring cell, 20 m outside the fence with accuracy 5: kept (margin 25 m).
		expect(cellOf(outCell(10))).not.toBe(cell);
		expect((await postPings(t, u, [w.at(outCell(10), 5)])).events).toEqual([]);
		// 60 m outside with accuracy 80: kept (margin 80 m).
		expect((await postPings(t, u, [w.at(outCell(50), 80)])).events).toEqual([]);
		// 160 m outside with accuracy 5: out.
		expect(eventsOf(await postPings(t, u, [w.at(outCell(150), 5)]))).toEqual(["exit:near-border"]);
	});
});
