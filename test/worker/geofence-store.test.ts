/**
 * The geofence write engine's data layer (worker/store/geofences.ts, worker/store/geofence-layout.ts)
 * against real D1: the lock is taken by one change at a time and only after it lapses; a commit
 * (upload or delete) by a change that does not hold the lock writes nothing, one that holds it
 * writes everything in one transaction; layout statements change nothing without the lock.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { validateFeatureCollection } from "../../src/geo/validate.js";
import {
	dropSplitStatement,
	forgetRetiredKeys,
	markSplitsCleared,
	recordSplitsStatement,
	retiredKeys,
	retireKeysStatement,
	splitsToClear,
} from "../../worker/store/geofence-layout.js";
import {
	commitFenceDelete,
	commitStagedFences,
	fenceShardList,
	fenceStates,
	geofenceLockExpiry,
	geofenceVersion,
	releaseGeofenceLock,
	stagedFences,
	stageRowsStatement,
	stageStoredFence,
	takeGeofenceLock,
} from "../../worker/store/geofences.js";
import { circleFence, createTenant, featureCollection } from "./helpers.js";

const PARIS = { lat: 48.8606, lng: 2.3364 };

function fenceJson(id: string): string {
	const r = validateFeatureCollection(featureCollection([circleFence(id, PARIS, 60)]));
	if (!r.ok) throw new Error("test fence invalid");
	return JSON.stringify(r.fences[0]);
}

describe("geofence store", () => {
	it("gives the lock to one change at a time, to another only once it lapses, and releases only the holder's", async () => {
		const t = await createTenant("store-lock");
		expect(await takeGeofenceLock(env.DB, t.id, "a", 1000, 2000)).toBe(true);
		expect(await takeGeofenceLock(env.DB, t.id, "b", 1999, 2999)).toBe(false);
		expect(await geofenceLockExpiry(env.DB, t.id)).toBe(2000);
		await releaseGeofenceLock(env.DB, t.id, "b");
		expect(await geofenceLockExpiry(env.DB, t.id)).toBe(2000);
		expect(await takeGeofenceLock(env.DB, t.id, "b", 2000, 3000)).toBe(true);
		await releaseGeofenceLock(env.DB, t.id, "a");
		expect(await geofenceLockExpiry(env.DB, t.id)).toBe(3000);
		await releaseGeofenceLock(env.DB, t.id, "b");
		expect(await geofenceLockExpiry(env.DB, t.id)).toBeNull();
	});

	it("commits staged fences only while holding the lock, version and rows and staging together", async () => {
		const t = await createTenant("store-commit");
		const now = Date.now();
		expect(await takeGeofenceLock(env.DB, t.id, "holder", now, now + 60_000)).toBe(true);
		const before = await geofenceVersion(env.DB, t.id);
		expect(before).not.toBeNull();
		const packed = JSON.stringify([JSON.stringify(["s1", "One", fenceJson("s1"), "h1", '["k/0"]'])]);
		await env.DB.batch([stageRowsStatement(env.DB, t.id, "holder", "2026-01-01T00:00:00.000Z", packed)]);

		// A change whose lock lapsed: nothing written, its journal kept.
		expect(await commitStagedFences(env.DB, t.id, "lapsed", "2026-01-01T00:00:00.000Z")).toBeNull();
		expect(await fenceStates(env.DB, t.id, ["s1"])).toEqual([]);
		expect(await stagedFences(env.DB, t.id)).toEqual([{ id: "s1", shards: '["k/0"]' }]);
		expect(await geofenceVersion(env.DB, t.id)).toBe(before);

		const version = await commitStagedFences(env.DB, t.id, "holder", "2026-01-01T00:00:00.000Z");
		expect(version).toBe((before ?? 0) + 1);
		expect(await geofenceVersion(env.DB, t.id)).toBe(version);
		const [state] = await fenceStates(env.DB, t.id, ["s1", "absent"]);
		expect(state).toMatchObject({ id: "s1", content_hash: "h1", shards: '["k/0"]' });
		expect(state?.bytes).toBe(fenceJson("s1").length);
		expect(await stagedFences(env.DB, t.id)).toEqual([]);

		// A delete: refused without the lock (row and journal kept), done with it.
		await stageStoredFence(env.DB, t.id, "holder", "s1", "2026-01-02T00:00:00.000Z");
		expect(await commitFenceDelete(env.DB, t.id, "lapsed", "s1")).toBe(false);
		expect(await fenceShardList(env.DB, t.id, "s1")).toBe('["k/0"]');
		expect(await geofenceVersion(env.DB, t.id)).toBe(version);
		expect(await commitFenceDelete(env.DB, t.id, "holder", "s1")).toBe(true);
		expect(await fenceShardList(env.DB, t.id, "s1")).toBeNull();
		expect(await stagedFences(env.DB, t.id)).toEqual([]);
		expect(await geofenceVersion(env.DB, t.id)).toBe((version ?? 0) + 1);
		await releaseGeofenceLock(env.DB, t.id, "holder");
	});

	it("records splits and retired leaves only while holding the lock, and clears them", async () => {
		const t = await createTenant("store-layout");
		const now = Date.now();
		expect(await takeGeofenceLock(env.DB, t.id, "holder", now, now + 60_000)).toBe(true);
		const cells = ["831fb4fffffffff", "831fb6fffffffff"];

		const [refused] = await env.DB.batch([recordSplitsStatement(env.DB, t.id, "lapsed", cells, 1000)]);
		expect(refused?.meta.changes).toBe(0);
		expect(await splitsToClear(env.DB, t.id, 5000)).toEqual([]);
		const [recorded] = await env.DB.batch([recordSplitsStatement(env.DB, t.id, "holder", cells, 1000)]);
		expect(recorded?.meta.changes).toBe(2);
		expect(await splitsToClear(env.DB, t.id, 1000)).toEqual([]);
		expect((await splitsToClear(env.DB, t.id, 5000)).sort()).toEqual(cells);
		await markSplitsCleared(env.DB, t.id, [cells[0] ?? ""], 6000);
		expect(await splitsToClear(env.DB, t.id, 5000)).toEqual([cells[1]]);

		const [noDrop] = await env.DB.batch([dropSplitStatement(env.DB, t.id, "lapsed", cells[1] ?? "")]);
		expect(noDrop?.meta.changes).toBe(0);
		const [dropped] = await env.DB.batch([dropSplitStatement(env.DB, t.id, "holder", cells[1] ?? "")]);
		expect(dropped?.meta.changes).toBe(1);
		expect(await splitsToClear(env.DB, t.id, 5000)).toEqual([]);

		await env.DB.batch([retireKeysStatement(env.DB, t.id, "lapsed", ["x/0"], 1000)]);
		expect(await retiredKeys(env.DB, t.id, 5000)).toEqual([]);
		await env.DB.batch([retireKeysStatement(env.DB, t.id, "holder", ["x/0", "y/0"], 1000)]);
		// Retired again later: the later time counts.
		await env.DB.batch([retireKeysStatement(env.DB, t.id, "holder", ["y/0"], 9000)]);
		expect(await retiredKeys(env.DB, t.id, 5000)).toEqual(["x/0"]);
		await forgetRetiredKeys(env.DB, t.id, ["x/0"]);
		expect(await retiredKeys(env.DB, t.id, 10_000)).toEqual(["y/0"]);
		await releaseGeofenceLock(env.DB, t.id, "holder");
	});
});
