/**
 * Replicas by request rate (worker/geoshard.ts grow, worker/shards.ts): a leaf whose object passes
 * its request budget gets more objects holding the same fences; uploads still write the primary
 * only, which keeps its replicas in step; people are spread over the objects by a stable hash.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { validateFeatureCollection } from "../../src/geo/validate.js";
import { fnv1a32 } from "../../src/offers/assign.js";
import type { GeoShardDO, ShardAnswer } from "../../worker/geoshard.js";
import {
	loadLayout,
	REPLICA_RETIRE_GRACE_MS,
	replicaKeysOfCell,
	replicasToKeep,
	replicasWanted,
	shardKeysOfFence,
	shardNameOf,
	shardStub,
} from "../../worker/shards.js";
import {
	circleFence,
	createTenant,
	eventsOf,
	featureCollection,
	type LatLng,
	offset,
	type Person,
	postPings,
	registerPerson,
	type Tenant,
	uploadFences,
	walker,
} from "./helpers";

const NANTES = { lat: 47.2184, lng: -1.5536 };

function fencesOfOne(feature: unknown) {
	const r = validateFeatureCollection(featureCollection([feature]));
	if (!r.ok || !r.fences[0]) throw new Error("invalid test fence");
	return r.fences[0];
}

function leafOf(feature: unknown): string {
	const r = validateFeatureCollection(featureCollection([feature]));
	if (!r.ok || !r.fences[0]) throw new Error("invalid test fence");
	const key = shardKeysOfFence(r.fences[0])[0];
	if (!key) throw new Error("no shard");
	return shardNameOf("", key).cell;
}

/** A person whose pings go to replica `replica` of `n` (by the same hash as the service). */
async function personOn(t: Tenant, replica: number, n: number): Promise<Person> {
	for (let i = 0; i < 64; i++) {
		const p = await registerPerson(t, `rep${replica}`);
		if (fnv1a32(p.userId) % n === replica) return p;
	}
	throw new Error("no person hashed to the replica");
}

async function walkIn(t: Tenant, p: Person, at: LatLng): Promise<string[]> {
	const w = walker(10 * 60_000, 20_000);
	return eventsOf(await postPings(t, p.userId, [w.at(offset(at, 0, 400)), w.at(at)]));
}

describe("shard replicas", () => {
	it("a grown leaf is served by copies that follow every later change", async () => {
		const t = await createTenant("replicas");
		const stores = Array.from({ length: 12 }, (_, i) => circleFence(`n${i}`, offset(NANTES, i * 250, 0), 60));
		await uploadFences(t, stores);
		const cell = leafOf(stores[0]);
		const [primaryKey, replicaKey] = replicaKeysOfCell(cell, 2);
		const primary = shardStub(env, t.id, primaryKey ?? "");
		const replica = shardStub(env, t.id, replicaKey ?? "");
		const held = await primary.count();
		expect(held).toBe(12);
		expect(await replica.count()).toBe(0);

		expect(await primary.grow(600)).toBe(2);
		expect(await replica.count()).toBe(held);
		expect((await loadLayout(env, t.id)).replicas.get(cell)).toBe(2);
		// A replica does not grow the leaf itself, and the leaf doubles once a cooldown however
		// many of its objects ask (they are all hot at once).
		expect(await replica.grow(600)).toBe(1);
		expect(await primary.grow(600)).toBe(2);
		expect((await loadLayout(env, t.id)).replicas.get(cell)).toBe(2);

		// An upload writes the primary; the replica follows (a new store, a moved one).
		const added = circleFence("n-new", offset(NANTES, 0, 600), 60);
		await uploadFences(t, [added, circleFence("n1", offset(NANTES, 250, 900), 60)]);
		expect(await replica.count()).toBe(13);
		const answer: ShardAnswer = await replica.query([offset(NANTES, 250, 900), offset(NANTES, 250, 0)], []);
		expect(answer.results.map((r) => r.inside)).toEqual([["n1"], []]);

		// A person hashed to the replica walks into the new store: the replica answers, not the primary.
		const queries = async () => [
			await runInDurableObject(primary, (i: GeoShardDO) => i.queries),
			await runInDurableObject(replica, (i: GeoShardDO) => i.queries),
		];
		const before = await queries();
		const p = await personOn(t, 1, 2);
		expect(await walkIn(t, p, offset(NANTES, 0, 600))).toEqual(["enter:n-new"]);
		const between = await queries();
		expect(between[0]).toBe(before[0]);
		expect(between[1]).toBeGreaterThan(before[1] ?? 0);
		// One hashed to the primary walks into the same store and gets the same answer from it.
		const q = await personOn(t, 0, 2);
		expect(await walkIn(t, q, offset(NANTES, 0, 600))).toEqual(["enter:n-new"]);
		const after = await queries();
		expect(after[0]).toBeGreaterThan(between[0] ?? 0);
		expect(after[1]).toBe(between[1]);
	}, 120_000);

	it("an object written before names were kept learns its name from a reader, and can then grow", async () => {
		const t = await createTenant("replicas-unnamed");
		const cell = leafOf(circleFence("u0", NANTES, 60));
		const [primaryKey] = replicaKeysOfCell(cell, 1);
		const primary = shardStub(env, t.id, primaryKey ?? "");
		// A write without a name, as every write was before names were kept.
		await primary.apply(
			[{ id: "u0", fence: JSON.stringify(fencesOfOne(circleFence("u0", NANTES, 60))) }],
			[],
		);
		expect(await primary.grow(600)).toBe(1);
		await primary.query([NANTES], [], null, shardNameOf(t.id, primaryKey ?? ""));
		expect(await primary.grow(600)).toBe(2);
		const [, replicaKey] = replicaKeysOfCell(cell, 2);
		expect(await shardStub(env, t.id, replicaKey ?? "").count()).toBe(1);
	});

	it("sizes a growth from the measured rate: a surge is met in one step, a power of two, at most 16", () => {
		// Budget 500, each object aimed at 400: one object at 600/s -> 2; at 3,000/s -> 8 at once.
		expect(replicasWanted(600, 1, 500)).toBe(2);
		expect(replicasWanted(3000, 1, 500)).toBe(8);
		// Two objects at 2,200/s each: the leaf gets 4,400/s -> 16 (11 needed).
		expect(replicasWanted(2200, 2, 500)).toBe(16);
		// Never less than double, never more than 16.
		expect(replicasWanted(501, 4, 500)).toBe(8);
		expect(replicasWanted(1e6, 1, 500)).toBe(16);
	});

	it("grows a surging leaf in one step", async () => {
		const t = await createTenant("replicas-surge");
		await uploadFences(t, [circleFence("s0", NANTES, 60)]);
		const cell = leafOf(circleFence("s0", NANTES, 60));
		const [primaryKey] = replicaKeysOfCell(cell, 1);
		expect(await shardStub(env, t.id, primaryKey ?? "").grow(3000)).toBe(8);
		expect((await loadLayout(env, t.id)).replicas.get(cell)).toBe(8);
		const keys = replicaKeysOfCell(cell, 8);
		for (const key of keys) expect(await shardStub(env, t.id, key).count(), key).toBe(1);
	});

	it("an empty leaf object (split or merged away) does not grow", async () => {
		const t = await createTenant("replicas-empty");
		const cell = leafOf(circleFence("e0", NANTES, 60));
		const [primaryKey] = replicaKeysOfCell(cell, 1);
		const primary = shardStub(env, t.id, primaryKey ?? "");
		await primary.apply([], [], { name: shardNameOf(t.id, primaryKey ?? "") });
		expect(await primary.grow(600)).toBe(1);
		expect((await loadLayout(env, t.id)).replicas.get(cell)).toBeUndefined();
	});

	it("an object past its request budget grows its leaf's objects, sized by its busiest second", async () => {
		const t = await createTenant("replicas-hot");
		const stores = Array.from({ length: 5 }, (_, i) => circleFence(`h${i}`, offset(NANTES, 0, i * 300), 60));
		await uploadFences(t, stores);
		const cell = leafOf(stores[0]);
		const [primaryKey] = replicaKeysOfCell(cell, 1);
		const primary = shardStub(env, t.id, primaryKey ?? "");
		// A budget of 2 queries a second over 10 s: the 21st query within a second passes it, and
		// that second's count (about 21 to 24) sizes the growth (aim 1.6 a second an object: 16).
		await runInDurableObject(primary, (instance: GeoShardDO) => {
			instance.requestBudget = 2;
		});
		for (let i = 0; i < 19; i++) await primary.query([NANTES], []);
		expect((await loadLayout(env, t.id)).replicas.get(cell)).toBeUndefined();
		for (let i = 0; i < 5; i++) await primary.query([NANTES], []);
		let replicas: number | undefined;
		for (let i = 0; i < 50 && replicas === undefined; i++) {
			await new Promise((r) => setTimeout(r, 100));
			replicas = (await loadLayout(env, t.id)).replicas.get(cell);
		}
		// Queries that straddle seconds split the peak (24 over at most 4 s on a slow machine: 6 in
		// one at least, so at least 4; in one second, 16).
		expect([4, 8, 16]).toContain(replicas);
		for (const key of replicaKeysOfCell(cell, replicas ?? 0))
			expect(await shardStub(env, t.id, key).count(), key).toBe(5);
		// Within the cooldown it does not ask again, however busy.
		for (let i = 0; i < 30; i++) await primary.query([NANTES], []);
		await new Promise((r) => setTimeout(r, 300));
		expect((await loadLayout(env, t.id)).replicas.get(cell)).toBe(replicas);
	}, 120_000);
	it("sizes a shrink from the rate over a check: the fewest objects, a power of two, each under a quarter of the budget", () => {
		// Budget 500: each object that stays may expect at most 125 a second.
		expect(replicasToKeep(0, 8, 500)).toBe(1);
		expect(replicasToKeep(125, 8, 500)).toBe(1);
		expect(replicasToKeep(126, 8, 500)).toBe(2);
		expect(replicasToKeep(600, 8, 500)).toBe(8);
		// Never more than it has (a leaf busier than that grows instead).
		expect(replicasToKeep(5000, 4, 500)).toBe(4);
		expect(replicasToKeep(0, 1, 500)).toBe(1);
	});

	it("a grown leaf that stays quiet shrinks back; the objects it gives up follow changes for a grace, then are emptied", async () => {
		const t = await createTenant("replicas-shrink");
		const stores = Array.from({ length: 3 }, (_, i) => circleFence(`q${i}`, offset(NANTES, i * 200, 0), 60));
		await uploadFences(t, stores);
		const cell = leafOf(stores[0]);
		const keys = replicaKeysOfCell(cell, 4);
		const primary = shardStub(env, t.id, keys[0] ?? "");
		const counts = () => Promise.all(keys.map((key) => shardStub(env, t.id, key).count()));
		expect(await primary.grow(1500)).toBe(4);
		expect(await counts()).toEqual([3, 3, 3, 3]);
		// The growth armed the primary's check.
		expect(
			await runInDurableObject(primary, (_i: GeoShardDO, state) => state.storage.getAlarm()),
		).not.toBeNull();

		// Still busy: 300 queries a second on the primary over the last 5 minutes is 1,200 for the
		// leaf, which needs its 4 objects (each under 125 a second would take 16).
		const t0 = Date.now();
		await runInDurableObject(primary, (i: GeoShardDO) => {
			i.measuredFrom = { at: t0 - 300_000, queries: i.queries - 90_000 };
		});
		expect(await primary.checkReplicas(t0)).toBe(4);
		// Quiet from then on. The alarm runs the check (the first quiet one); one quiet check is not enough.
		expect(await runDurableObjectAlarm(primary)).toBe(true);
		expect((await loadLayout(env, t.id)).replicas.get(cell)).toBe(4);
		// The second quiet check in a row shrinks the leaf to one object, in D1 first.
		expect(await primary.checkReplicas(t0 + 600_000)).toBe(1);
		expect((await loadLayout(env, t.id)).replicas.get(cell)).toBeUndefined();
		expect(await primary.replicas()).toBe(1);

		// Within the grace an isolate may still route by the old count: the objects given up
		// still follow a change.
		const late = circleFence("q-late", offset(NANTES, 0, 200), 60);
		await uploadFences(t, [...stores, late]);
		expect(await counts()).toEqual([4, 4, 4, 4]);
		const answer: ShardAnswer = await shardStub(env, t.id, keys[3] ?? "").query([offset(NANTES, 0, 200)], []);
		expect(answer.results[0]?.inside).toEqual(["q-late"]);
		// A check before the grace is over keeps them.
		expect(await primary.checkReplicas(t0 + 600_000 + REPLICA_RETIRE_GRACE_MS - 1)).toBe(1);
		expect(await counts()).toEqual([4, 4, 4, 4]);

		// After it they are emptied, the primary keeps every fence, and nothing is left to check.
		expect(await primary.checkReplicas(t0 + 600_000 + REPLICA_RETIRE_GRACE_MS)).toBe(1);
		expect(await counts()).toEqual([4, 0, 0, 0]);
		expect(await runInDurableObject(primary, (_i: GeoShardDO, state) => state.storage.getAlarm())).toBeNull();
		// Later changes reach the primary alone.
		await uploadFences(t, [circleFence("q-later", offset(NANTES, 200, 200), 60)]);
		expect(await counts()).toEqual([5, 0, 0, 0]);
	}, 120_000);
});
