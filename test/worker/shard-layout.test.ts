/**
 * Shards sized by density (src/geo/shard.ts, worker/geofences/layout.ts): a leaf past its fence
 * budget is split before an upload is written, pings keep matching exactly through a split, and
 * a chain spread over a whole country uploads in chunks touching few shard objects.
 */
import { env } from "cloudflare:workers";
import { getResolution } from "h3-js";
import { describe, expect, it, vi } from "vitest";
import { AppError } from "../../src/errors.js";
import { ROOT_SHARD_RESOLUTION, shardOfPoint } from "../../src/geo/shard.js";
import { validateFeatureCollection } from "../../src/geo/validate.js";
import { sweepRetiredLeaves } from "../../worker/geofences/layout.js";
import { deleteFence, upsertFences } from "../../worker/geofences/upsert.js";
import type { ShardAnswer } from "../../worker/geoshard.js";
import { loadSplits, SHARD_MAX_FENCES, shardKeysOfFence, shardStub } from "../../worker/shards.js";
import { forgetCachedTenants, loadTenant } from "../../worker/tenants.js";
import { prng } from "../helpers/prng.js";
import {
	callOk,
	circleFence,
	createTenant,
	eventsOf,
	featureCollection,
	type LatLng,
	offset,
	postPings,
	registerPerson,
	uploadFences,
	walker,
} from "./helpers";

const PARIS = { lat: 48.8566, lng: 2.3522 };

/** A grid of small circle stores around `center`, `step` metres apart. */
function storeGrid(prefix: string, center: LatLng, side: number, step: number) {
	const out = [];
	for (let i = 0; i < side; i++)
		for (let j = 0; j < side; j++)
			out.push(
				circleFence(`${prefix}-${i}-${j}`, offset(center, (i - side / 2) * step, (j - side / 2) * step), 40),
			);
	return out;
}

/** The centre of a circle store. */
function centerOf(feature: { geometry: { coordinates: unknown } } | undefined): LatLng {
	const c = (feature?.geometry.coordinates ?? [0, 0]) as number[];
	return { lat: c[1] ?? 0, lng: c[0] ?? 0 };
}

function fencesOf(features: unknown[]) {
	const r = validateFeatureCollection(featureCollection(features));
	if (!r.ok) throw new Error("test fences are invalid");
	return r.fences;
}

describe("shards sized by density", () => {
	it("splits a leaf past its budget; every store still matches, and nothing matches between them", async () => {
		const t = await createTenant("layout-split");
		const side = Math.ceil(Math.sqrt(SHARD_MAX_FENCES * 1.3));
		const stores = storeGrid("paris", PARIS, side, 250);
		expect(stores.length).toBeGreaterThan(SHARD_MAX_FENCES);
		// A person inside a store before the split stays inside through it.
		await uploadFences(t, stores.slice(0, 10));
		const p = await registerPerson(t, "inside");
		const at = centerOf(stores[0]);
		const w = walker(10 * 60_000, 20_000);
		expect(eventsOf(await postPings(t, p.userId, [w.at(offset(at, 0, 125)), w.at(at)]))).toEqual([
			`enter:${stores[0]?.properties.id}`,
		]);

		const r = await uploadFences(t, stores);
		expect(r.upserted + r.unchanged).toBe(stores.length);
		const splits = await loadSplits(env, t.id);
		expect(splits.size).toBeGreaterThan(0);
		// The same stores again: unchanged, nothing rewritten, nothing split.
		expect(await uploadFences(t, stores)).toMatchObject({ upserted: 0, unchanged: stores.length });
		expect(await loadSplits(env, t.id)).toEqual(splits);
		// No leaf holds more than its budget.
		const held = new Map<string, number>();
		for (const f of fencesOf(stores))
			for (const key of shardKeysOfFence(f, splits)) held.set(key, (held.get(key) ?? 0) + 1);
		for (const [key, n] of held) {
			expect(n, key).toBeLessThanOrEqual(SHARD_MAX_FENCES);
			expect(await shardStub(env, t.id, key).count(), key).toBe(n);
		}
		// The catalog's shard lists follow the layout (they are what deletes and undos use).
		const rows = await env.DB.prepare("SELECT id, shards FROM geofences WHERE tenant_id = ?")
			.bind(t.id)
			.all<{ id: string; shards: string }>();
		const byId = new Map(fencesOf(stores).map((f) => [f.id, f]));
		for (const row of rows.results) {
			const f = byId.get(row.id);
			if (f) expect(JSON.parse(row.shards), row.id).toEqual(shardKeysOfFence(f, splits));
		}

		// Still inside: no exit, no second enter; then out and into another store far away.
		expect(eventsOf(await postPings(t, p.userId, [w.at(at)]))).toEqual([]);
		const far = stores.at(-1);
		const farAt = centerOf(far);
		const q = await registerPerson(t, "walker");
		const w2 = walker(10 * 60_000, 20_000);
		expect(eventsOf(await postPings(t, q.userId, [w2.at(offset(farAt, 0, 125)), w2.at(farAt)]))).toEqual([
			`enter:${far?.properties.id}`,
		]);
		expect(getResolution(shardOfPoint(farAt.lat, farAt.lng, splits))).toBeGreaterThan(ROOT_SHARD_RESOLUTION);
		expect(eventsOf(await postPings(t, p.userId, [w.at(offset(at, 0, 125))]))).toEqual([
			`exit:${stores[0]?.properties.id}`,
		]);

		// Every listed fence can still be deleted, from every object that held it.
		const victim = fencesOf([stores[5]])[0];
		if (!victim) throw new Error("no victim");
		await callOk("DELETE", `/v1/geofences/${victim.id}`, { key: t.secretKey }, 204);
		for (const key of shardKeysOfFence(victim, splits))
			expect(await shardStub(env, t.id, key).count(), key).toBe((held.get(key) ?? 0) - 1);
	}, 120_000);

	it("a region-sized polygon is a few leaf objects, not thousands", async () => {
		// Found by the fuzz: with fixed resolution-5 cells a 2° x 2° polygon (about 220 km a side)
		// was written to 744 objects and took up to 35 s; 5° x 5°, 4,056 objects.
		const t = await createTenant("layout-region");
		const region = {
			type: "Feature",
			geometry: {
				type: "Polygon",
				coordinates: [
					[
						[0, 40],
						[5, 40],
						[5, 45],
						[0, 45],
						[0, 40],
					],
				],
			},
			properties: { id: "region" },
		};
		const started = Date.now();
		await uploadFences(t, [region]);
		const rows = await env.DB.prepare("SELECT shards FROM geofences WHERE tenant_id = ?")
			.bind(t.id)
			.first<{ shards: string }>();
		const objects = JSON.parse(rows?.shards ?? "[]") as string[];
		expect(objects.length).toBeGreaterThan(1);
		expect(objects.length).toBeLessThan(60);
		expect(Date.now() - started).toBeLessThan(15_000);
		await callOk("DELETE", "/v1/geofences/region", { key: t.secretKey }, 204);
	}, 60_000);

	it("a chain spread over a country uploads in chunks, each answered truthfully, touching few objects", async () => {
		const t = await createTenant("layout-france");
		const rng = prng(0xf2a);
		// Metropolitan France's bounding box, roughly.
		const stores = Array.from({ length: 3000 }, (_, i) =>
			circleFence(`fr-${i}`, { lat: 42.5 + rng() * 8.5, lng: -4.5 + rng() * 12.5 }, 50 + rng() * 250),
		);
		const started = Date.now();
		for (let i = 0; i < stores.length; i += 1000) {
			const chunk = stores.slice(i, i + 1000);
			const splits = await loadSplits(env, t.id);
			const objects = new Set(fencesOf(chunk).flatMap((f) => shardKeysOfFence(f, splits)));
			// Whatever the spread, a chunk touches a few dozen leaf objects, not one per store.
			expect(objects.size).toBeLessThan(150);
			const r = await uploadFences(t, chunk);
			expect(r.upserted).toBe(chunk.length);
		}
		const elapsed = Date.now() - started;
		// Uploading a chunk again after later chunks split cells around it: unchanged; a changed
		// store is the only one written.
		const first = stores.slice(0, 1000);
		expect(await uploadFences(t, first)).toMatchObject({ upserted: 0, unchanged: 1000 });
		const moved = first.map((f, i) =>
			i < 3 ? circleFence(f.properties.id, offset(centerOf(f), 50, 0), 120) : f,
		);
		expect(await uploadFences(t, moved)).toMatchObject({ upserted: 3, unchanged: 997 });
		const listed = await callOk<{ features: unknown[]; nextCursor: string | null }>(
			"GET",
			"/v1/geofences?limit=1000",
			{ key: t.secretKey },
		);
		expect(listed.features.length).toBe(1000);
		const total = await env.DB.prepare("SELECT COUNT(*) AS n FROM geofences WHERE tenant_id = ?")
			.bind(t.id)
			.first<{ n: number }>();
		expect(total?.n).toBe(3000);
		// Spot checks: a store in the middle of the list matches where it is.
		const splits = await loadSplits(env, t.id);
		for (const k of [17, 1234, 2999]) {
			const s = stores[k];
			const c = centerOf(s);
			const stub = shardStub(env, t.id, `${shardOfPoint(c.lat, c.lng, splits)}/0`);
			const inside: ShardAnswer = await stub.query([{ lat: c.lat, lng: c.lng }], []);
			expect(inside.results[0]?.inside).toContain(s?.properties.id);
		}
		console.log(`3,000 stores over France in 3 chunks: ${elapsed} ms`);
		expect(elapsed).toBeLessThan(60_000);
	}, 120_000);
});

describe("shards merged back when a region shrinks", () => {
	it("makes a split cell a leaf again once its finer leaves hold under half the budget; pings still match", async () => {
		const t = await createTenant("layout-merge");
		// A budget of 300 (the service's logic at any budget; the default would need thousands of
		// deletes one request each): uploads and deletes go through the same functions the routes call.
		const budget = 300;
		const small = { ...env, SHARD_MAX_FENCES: String(budget) };
		const side = Math.ceil(Math.sqrt(budget * 1.05));
		const stores = storeGrid("lyon", { lat: 45.764, lng: 4.8357 }, side, 150);
		const tenant = await loadTenant(env, t.id);
		if (!tenant) throw new Error("tenant not found");
		await upsertFences(small, tenant, fencesOf(stores));
		forgetCachedTenants();
		const split = await loadSplits(env, t.id);
		expect(split.size).toBeGreaterThan(0);
		const versionAfterSplit = (
			await callOk<{ version: number }>("GET", "/v1/geofences?limit=1", { key: t.secretKey })
		).version;
		// Delete all but a corner of the grid, one store at a time (as a retailer closing stores).
		const keep = new Set(
			stores.filter((_, i) => i % side < 6 && Math.floor(i / side) < 6).map((s) => s.properties.id),
		);
		for (const s of stores) if (!keep.has(s.properties.id)) await deleteFence(small, t.id, s.properties.id);
		forgetCachedTenants();
		const merged = await loadSplits(env, t.id);
		expect(merged.size).toBeLessThan(split.size);
		const page = await callOk<{ version: number; features: unknown[] }>("GET", "/v1/geofences?limit=100", {
			key: t.secretKey,
		});
		expect(page.features.length).toBe(keep.size);
		expect(page.version).toBeGreaterThan(versionAfterSplit);
		// Every kept store is held by exactly the objects the layout names, and D1 says so too.
		const kept = fencesOf(stores.filter((s) => keep.has(s.properties.id)));
		const rows = await env.DB.prepare("SELECT id, shards FROM geofences WHERE tenant_id = ?")
			.bind(t.id)
			.all<{ id: string; shards: string }>();
		const stored = new Map(rows.results.map((r) => [r.id, JSON.parse(r.shards) as string[]]));
		const perKey = new Map<string, number>();
		for (const f of kept) {
			expect(stored.get(f.id), f.id).toEqual(shardKeysOfFence(f, merged));
			for (const key of shardKeysOfFence(f, merged)) perKey.set(key, (perKey.get(key) ?? 0) + 1);
		}
		for (const [key, n] of perKey) expect(await shardStub(env, t.id, key).count(), key).toBe(n);
		// The leaves merged away are recorded, and the daily sweep empties them once no isolate can
		// still route to them (2 minutes), leaving the leaves of the layout as they are.
		const retired = (
			await env.DB.prepare("SELECT key FROM geofence_retired WHERE tenant_id = ?")
				.bind(t.id)
				.all<{ key: string }>()
		).results.map((r) => r.key);
		expect(retired.length).toBeGreaterThan(0);
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 3 * 60_000);
		try {
			await sweepRetiredLeaves(env, t.id);
		} finally {
			vi.useRealTimers();
		}
		for (const key of retired)
			if (!perKey.has(key)) expect(await shardStub(env, t.id, key).count(), key).toBe(0);
		for (const [key, n] of perKey) expect(await shardStub(env, t.id, key).count(), key).toBe(n);
		// A walk into a kept store enters it; a deleted one matches nothing.
		const p = await registerPerson(t, "merge");
		const w = walker(10 * 60_000, 20_000);
		const inStore = centerOf(stores.find((s) => keep.has(s.properties.id)));
		expect(
			eventsOf(await postPings(t, p.userId, [w.at(offset(inStore, 0, 75)), w.at(inStore)])),
		).toHaveLength(1);
		const gone = centerOf(stores.at(-1));
		const q = await registerPerson(t, "merge-gone");
		const w2 = walker(10 * 60_000, 20_000);
		expect(eventsOf(await postPings(t, q.userId, [w2.at(offset(gone, 0, 75)), w2.at(gone)]))).toEqual([]);
	}, 300_000);
});

describe("a change too spread for one request", () => {
	it("refuses a change that would call more shard objects than one request may, before writing anything", async () => {
		const t = await createTenant("layout-spread");
		const tenant = await loadTenant(env, t.id);
		if (!tenant) throw new Error("tenant not found");
		// Three cities hundreds of kilometres apart: one call per leaf a store's buffer reaches.
		const cities = [PARIS, { lat: 45.764, lng: 4.8357 }, { lat: 43.2965, lng: 5.3698 }];
		const fences = fencesOf(cities.map((c, i) => circleFence(`spread-${i}`, c, 60)));
		const leaves = new Set(fences.flatMap((f) => shardKeysOfFence(f)));
		expect(leaves.size).toBeGreaterThanOrEqual(3);
		const calls = leaves.size;
		const stored = async () =>
			(
				await env.DB.prepare("SELECT COUNT(*) AS n FROM geofences WHERE tenant_id = ?")
					.bind(t.id)
					.first<{ n: number }>()
			)?.n;

		const refused = await upsertFences({ ...env, SHARD_MAX_CALLS: String(calls - 1) }, tenant, fences).then(
			() => null,
			(e: unknown) => e,
		);
		expect(refused).toBeInstanceOf(AppError);
		expect(refused).toMatchObject({ code: "too_many_shards", status: 413 });
		expect((refused as AppError).message).toContain(`${calls} shard objects, more than the ${calls - 1}`);
		expect(await stored()).toBe(0);
		for (const key of leaves) expect(await shardStub(env, t.id, key).count(), key).toBe(0);
		const p = await registerPerson(t, "spread");
		const w = walker(10 * 60_000, 20_000);
		expect(eventsOf(await postPings(t, p.userId, [w.at(offset(PARIS, 0, 200)), w.at(PARIS)]))).toEqual([]);

		// The same change within the budget goes through, and the store matches.
		expect(await upsertFences({ ...env, SHARD_MAX_CALLS: String(calls) }, tenant, fences)).toMatchObject({
			upserted: 3,
		});
		expect(await stored()).toBe(3);
		const q = await registerPerson(t, "spread-after");
		const w2 = walker(10 * 60_000, 20_000);
		expect(eventsOf(await postPings(t, q.userId, [w2.at(offset(PARIS, 0, 200)), w2.at(PARIS)]))).toEqual([
			"enter:spread-0",
		]);
	}, 120_000);
});
