/**
 * Geofence uploads and deletes are all-or-nothing across D1 (what GET lists) and the GeoShard
 * objects (what pings match): a failure at any step (staging in D1, a shard write, the D1
 * commit) leaves the previous set live in both, with no fence listed that the shards do not hold
 * and no fence held that D1 does not list; every listed fence can be deleted; an upload past the
 * byte limit is a 413, never a 500; a change abandoned mid-way (the Worker gone) is repaired by
 * the next one.
 *
 * Failures are real ones, not mocks: a shard refuses a write past its size budget, and D1
 * refuses a row through a trigger the test installs for its own tenant (SQLite's RAISE(ABORT)).
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { NO_SPLITS, type ShardSplits } from "../../src/geo/shard.js";
import type { Fence } from "../../src/geo/types.js";
import { validateFeatureCollection } from "../../src/geo/validate.js";
import type { ShardAnswer } from "../../worker/geoshard.js";
import { MAX_UPLOAD_BYTES } from "../../worker/routes/geofences.js";
import {
	loadSplits,
	MAX_SHARD_BYTES,
	planShardCalls,
	SHARD_CALL_BYTES,
	type ShardChange,
	shardKeysOfFence,
	shardStub,
} from "../../worker/shards.js";
import {
	call,
	callOk,
	circleFence,
	createTenant,
	expectProblem,
	type Feature,
	featureCollection,
	type LatLng,
	offset,
	squareFence,
	type Tenant,
	uploadFences,
} from "../worker/helpers";
import { collectionOfSize, heavyFence, heavyFences } from "./helpers-limits";

const MiB = 1024 * 1024;
const LYON = { lat: 45.764, lng: 4.8357 };
const PARIS = { lat: 48.8566, lng: 2.3522 };
const BORDEAUX = { lat: 44.8378, lng: -0.5792 };

interface Page {
	features: Feature[];
	version: number;
}

function fenceOf(feature: Feature): Fence {
	const r = validateFeatureCollection(featureCollection([feature]));
	if (!r.ok || !r.fences[0]) throw new Error(`test fence ${feature.properties.id} is invalid`);
	return r.fences[0];
}

function keysOf(features: Feature[], splits: ShardSplits = NO_SPLITS): Set<string> {
	return new Set(features.flatMap((f) => shardKeysOfFence(fenceOf(f), splits)));
}

async function listed(t: Tenant): Promise<Page> {
	return callOk<Page>("GET", "/v1/geofences?limit=1000", { key: t.secretKey });
}

/** Asserts every shard object in `keys` holds exactly the fences of `expected` indexed there. */
async function expectShardsHold(
	t: Tenant,
	keys: Iterable<string>,
	expected: Feature[],
	splits: ShardSplits = NO_SPLITS,
): Promise<void> {
	const where = new Map<string, number>();
	for (const f of expected)
		for (const k of shardKeysOfFence(fenceOf(f), splits)) where.set(k, (where.get(k) ?? 0) + 1);
	for (const key of keys)
		expect(await shardStub(env, t.id, key).count(), `shard ${key}`).toBe(where.get(key) ?? 0);
}

/** The fence ids a shard object matches at a point. */
async function insideAt(t: Tenant, key: string, p: LatLng): Promise<string[]> {
	const answer: ShardAnswer = await shardStub(env, t.id, key).query([p], []);
	return answer.results[0]?.inside ?? [];
}

/** Deletes every listed fence (each must answer 204), then expects an empty list. */
async function deleteAll(t: Tenant): Promise<void> {
	for (const f of (await listed(t)).features)
		await callOk("DELETE", `/v1/geofences/${f.properties.id}`, { key: t.secretKey }, 204);
	expect((await listed(t)).features).toEqual([]);
}

/** A trigger that makes D1 refuse rows of `table` for this tenant and id; dropped by the returned function. */
async function refuseRows(table: string, tenantId: string, id: string): Promise<() => Promise<void>> {
	const name = `refuse_${crypto.randomUUID().replaceAll("-", "")}`;
	await env.DB.prepare(
		`CREATE TRIGGER ${name} BEFORE INSERT ON ${table}
		 WHEN NEW.tenant_id = '${tenantId}' AND NEW.id = '${id}'
		 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
	).run();
	return async () => {
		await env.DB.prepare(`DROP TRIGGER IF EXISTS ${name}`).run();
	};
}

describe("a shard write refused part-way", () => {
	it("leaves the previous set live in D1 and in every shard, with no ghost, and every fence deletable", async () => {
		const t = await createTenant("atomic-shard-full");
		const oldA = squareFence("a", LYON, 100, { tags: ["old"] });
		const b = circleFence("b", offset(LYON, 500, 0), 60);
		const old = [oldA, b];
		await uploadFences(t, old);
		const before = await listed(t);

		// "a" moves 300 m and gains a crowd of heavy neighbours: more fence JSON than one shard
		// object may hold, sent in several bounded calls, so the refusal comes after some were
		// written (the first calls carry "a" and the first neighbours).
		const newA = squareFence("a", offset(LYON, 300, 300), 100, { tags: ["new"] });
		const crowd = heavyFences("crowd", MAX_SHARD_BYTES + MiB / 2, offset(LYON, -200, -200), {
			spacing: 10,
			perRow: 20,
		});
		const res = await call("PUT", "/v1/geofences", {
			key: t.secretKey,
			body: featureCollection([newA, ...crowd]),
		});
		await expectProblem(res, 422, "area_too_dense");

		// The crowd's leaf was split down to the finest cells first (each split commits on its
		// own, bumping the version: a finer layout, the same fences), and the finest still could
		// not hold it: the upload itself changed nothing.
		const after = await listed(t);
		expect(after.features).toEqual(before.features);
		const splits = await loadSplits(env, t.id);
		// The objects pings can reach under that layout (a split cell's own object is no longer
		// reached, and is emptied once no isolate can still route by the older layout).
		const touched = keysOf([oldA, b, newA, ...crowd], splits);
		await expectShardsHold(t, touched, old, splits);
		for (const key of shardKeysOfFence(fenceOf(oldA), splits)) {
			expect(await insideAt(t, key, LYON)).toEqual(["a"]);
			expect(await insideAt(t, key, offset(LYON, 300, 300))).toEqual([]);
		}
		await expectProblem(await call("GET", "/v1/geofences/crowd-0", { key: t.secretKey }), 404, "not_found");

		await deleteAll(t);
		// Deleting shrank the region, so leaves were merged back: nothing is left in any object of
		// the layout now; an object the merge took out of the layout may still hold a fence for
		// isolates a version behind, and is recorded to be emptied (after 2 minutes).
		const merged = await loadSplits(env, t.id);
		await expectShardsHold(t, keysOf([oldA, b, newA, ...crowd], merged), [], merged);
		const retired = new Set(
			(
				await env.DB.prepare("SELECT key FROM geofence_retired WHERE tenant_id = ?")
					.bind(t.id)
					.all<{ key: string }>()
			).results.map((r) => r.key),
		);
		for (const key of touched)
			if (!retired.has(key)) expect(await shardStub(env, t.id, key).count(), `shard ${key}`).toBe(0);
	}, 30_000);
});

describe("a D1 failure", () => {
	it("at the commit, after every shard was written, leaves the previous set live and no ghost", async () => {
		const t = await createTenant("atomic-d1-commit");
		const oldA = squareFence("a", LYON, 100);
		await uploadFences(t, [oldA]);
		const before = await listed(t);

		// "a" moves to Paris (other shard objects entirely); "poison" is refused by D1.
		const newA = squareFence("a", PARIS, 100);
		const poison = circleFence("poison", BORDEAUX, 50);
		const drop = await refuseRows("geofences", t.id, "poison");
		try {
			const res = await call("PUT", "/v1/geofences", {
				key: t.secretKey,
				body: featureCollection([newA, poison]),
			});
			const problem = await expectProblem(res, 503, "geofences_unavailable");
			expect(problem.detail).toMatch(/nothing/i);
			expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
		} finally {
			await drop();
		}

		expect(await listed(t)).toEqual(before);
		const touched = keysOf([oldA, newA, poison]);
		await expectShardsHold(t, touched, [oldA]);
		for (const key of shardKeysOfFence(fenceOf(newA))) expect(await insideAt(t, key, PARIS)).toEqual([]);

		// The ghost of the old code: "a" listed at Lyon, held in Paris; deleting it removed it
		// from Lyon only, so Paris kept matching a fence no request could delete any more.
		await deleteAll(t);
		await expectShardsHold(t, touched, []);
		await expectProblem(await call("DELETE", "/v1/geofences/a", { key: t.secretKey }), 404, "not_found");
	});

	it("while staging stores nothing and writes no shard", async () => {
		const t = await createTenant("atomic-d1-staging");
		const oldA = squareFence("a", LYON, 100);
		await uploadFences(t, [oldA]);
		const before = await listed(t);
		const newA = squareFence("a", PARIS, 100);
		const poison = circleFence("poison", BORDEAUX, 50);
		const drop = await refuseRows("geofence_staging", t.id, "poison");
		try {
			const res = await call("PUT", "/v1/geofences", {
				key: t.secretKey,
				body: featureCollection([newA, poison]),
			});
			await expectProblem(res, 503, "geofences_unavailable");
		} finally {
			await drop();
		}
		expect(await listed(t)).toEqual(before);
		await expectShardsHold(t, keysOf([oldA, newA, poison]), [oldA]);
		// The same upload, once D1 takes it, goes through.
		expect(await uploadFences(t, [newA, poison])).toMatchObject({ upserted: 2, version: before.version + 1 });
		await expectShardsHold(t, keysOf([oldA, newA, poison]), [newA, poison]);
		await deleteAll(t);
	});
});

describe("a change abandoned mid-way", () => {
	it("holds off other changes with 409 while its lock lives, and is undone by the next change once it lapses", async () => {
		const t = await createTenant("atomic-abandoned");
		const oldA = squareFence("a", LYON, 100);
		const c = circleFence("c", BORDEAUX, 50);
		await uploadFences(t, [oldA, c]);
		const before = await listed(t);

		// What a Worker that died after staging and writing the shards leaves behind: a lock,
		// staged rows, and shards holding content D1 does not list.
		const newA = fenceOf(squareFence("a", PARIS, 100));
		const ghost = fenceOf(circleFence("ghost", PARIS, 50));
		const uploadId = crypto.randomUUID();
		const now = new Date().toISOString();
		for (const f of [newA, ghost]) {
			await env.DB.prepare(
				`INSERT INTO geofence_staging (upload_id, tenant_id, id, name, fence, content_hash, shards, created_at)
				 VALUES (?, ?, ?, ?, ?, 'x', ?, ?)`,
			)
				.bind(uploadId, t.id, f.id, f.name, JSON.stringify(f), JSON.stringify(shardKeysOfFence(f)), now)
				.run();
			for (const key of shardKeysOfFence(f))
				await shardStub(env, t.id, key).apply([{ id: f.id, fence: JSON.stringify(f) }], []);
		}
		await env.DB.prepare("INSERT INTO geofence_locks (tenant_id, token, expires_at) VALUES (?, ?, ?)")
			.bind(t.id, uploadId, Date.now() + 60_000)
			.run();

		for (const [method, path, body] of [
			["PUT", "/v1/geofences", featureCollection([circleFence("d", BORDEAUX, 40)])],
			["DELETE", "/v1/geofences/c", undefined],
		] as const) {
			const res = await call(method, path, { key: t.secretKey, body });
			await expectProblem(res, 409, "geofences_busy");
			expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
		}
		expect(await listed(t)).toEqual(before);

		// The lock lapses: the next change repairs the shards from D1 first.
		await env.DB.prepare("UPDATE geofence_locks SET expires_at = ? WHERE tenant_id = ?")
			.bind(Date.now() - 1, t.id)
			.run();
		await callOk("DELETE", "/v1/geofences/c", { key: t.secretKey }, 204);
		const touched = keysOf([oldA, c, squareFence("a", PARIS, 100), circleFence("ghost", PARIS, 50)]);
		await expectShardsHold(t, touched, [oldA]);
		const left = await env.DB.prepare("SELECT count(*) AS n FROM geofence_staging WHERE tenant_id = ?")
			.bind(t.id)
			.first<{ n: number }>();
		expect(left?.n).toBe(0);
		await deleteAll(t);
		await expectShardsHold(t, touched, []);
	});
});

describe("bounded shard calls", () => {
	it("plans calls of at most SHARD_CALL_BYTES of fence JSON, removals first, covering every change", () => {
		expect(SHARD_CALL_BYTES).toBeLessThanOrEqual(4 * MiB);
		const row = (id: string, bytes: number) => ({ id, fence: "x".repeat(bytes) });
		const changes = new Map<string, ShardChange>([
			["k1", { upserts: Array.from({ length: 10 }, (_, i) => row(`f${i}`, 1_000)), removals: ["r1", "r2"] }],
			["k2", { upserts: [], removals: ["r3"] }],
			["k3", { upserts: [row("big", 3_000), row("small", 10)], removals: [] }],
		]);
		const calls = planShardCalls(changes, 2_500);
		for (const c of calls) {
			const bytes = c.upserts.reduce((n, u) => n + u.fence.length + u.id.length, 0);
			// A single fence larger than a call still goes, alone.
			if (c.upserts.length > 1) expect(bytes).toBeLessThanOrEqual(2_500);
		}
		const of = (key: string) => calls.filter((c) => c.key === key);
		expect(of("k1")[0]?.removals).toEqual(["r1", "r2"]);
		expect(of("k1").flatMap((c) => c.upserts.map((u) => u.id))).toEqual(
			Array.from({ length: 10 }, (_, i) => `f${i}`),
		);
		expect(of("k1").length).toBeGreaterThan(4);
		expect(of("k2")).toEqual([{ key: "k2", upserts: [], removals: ["r3"] }]);
		expect(of("k3").map((c) => c.upserts.map((u) => u.id))).toEqual([["big"], ["small"]]);
	});
});

describe("the upload byte limit", () => {
	it(`is ${MAX_UPLOAD_BYTES / MiB} MiB: one byte more is a 413 that stores nothing; exactly the limit is stored whole, in bounded calls, and deletable`, async () => {
		expect(MAX_UPLOAD_BYTES).toBe(16 * MiB);
		const t = await createTenant("atomic-limit");
		// A dense cluster whose shard objects get more than one call's worth (but less than their
		// budget), and the rest spread over many cells far away.
		const cluster = heavyFences("dense", SHARD_CALL_BYTES + 1 * MiB, LYON, { spacing: 300, perRow: 6 });
		const clusterBytes = JSON.stringify(featureCollection(cluster)).length;
		const spread = heavyFences("spread", MAX_UPLOAD_BYTES - clusterBytes, PARIS, {
			spacing: 3_000,
			perRow: 12,
		});
		const features = [...cluster, ...spread];
		const exact = collectionOfSize(features, MAX_UPLOAD_BYTES);

		const over = await call("PUT", "/v1/geofences", { key: t.secretKey, raw: `${exact} ` });
		await expectProblem(over, 413, "body_too_large");
		expect((await listed(t)).features).toEqual([]);

		const r = await callOk<{ upserted: number }>("PUT", "/v1/geofences", { key: t.secretKey, raw: exact });
		expect(r.upserted).toBe(features.length);
		const ids = (await listed(t)).features.map((f) => f.properties.id).sort();
		expect(ids).toEqual(features.map((f) => f.properties.id).sort());
		// The spread fences' leaf passed its byte budget and was split; the cluster's leaf got
		// more than one call's worth, under what an object may hold.
		const splits = await loadSplits(env, t.id);
		expect(splits.size).toBeGreaterThan(0);
		const perKey = new Map<string, number>();
		for (const f of features)
			for (const k of shardKeysOfFence(fenceOf(f), splits))
				perKey.set(k, (perKey.get(k) ?? 0) + JSON.stringify(fenceOf(f)).length);
		const busiest = Math.max(...perKey.values());
		expect(busiest).toBeGreaterThan(SHARD_CALL_BYTES);
		expect(busiest).toBeLessThan(MAX_SHARD_BYTES);
		await expectShardsHold(t, keysOf(cluster, splits), cluster, splits);

		for (const f of [cluster[0], spread.at(-1)] as Feature[]) {
			const keys = [...keysOf([f], splits)];
			const counts = await Promise.all(keys.map((k) => shardStub(env, t.id, k).count()));
			await callOk("DELETE", `/v1/geofences/${f.properties.id}`, { key: t.secretKey }, 204);
			for (const [i, k] of keys.entries())
				expect(await shardStub(env, t.id, k).count(), k).toBe((counts[i] ?? 0) - 1);
		}
	}, 30_000);

	it("one heavy fence is well within a shard call", () => {
		expect(JSON.stringify(heavyFence("x", LYON)).length).toBeLessThan(SHARD_CALL_BYTES / 16);
	});
});
