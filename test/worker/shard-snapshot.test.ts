/**
 * Cold start: a GeoShard object keeps a binary snapshot of its index next to its fences, so an
 * object that wakes up (evicted, or the process restarted) answers its first ping from the
 * snapshot instead of rebuilding, with the same answers; any write of fences invalidates it.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { validateFeatureCollection } from "../../src/geo/validate.js";
import { GeoShardDO, type ShardAnswer } from "../../worker/geoshard.js";
import { shardKeysOfFence, shardStub } from "../../worker/shards.js";
import { circleFence, createTenant, featureCollection, offset, squareFence, uploadFences } from "./helpers";

const RENNES = { lat: 48.1173, lng: -1.6778 };

describe("shard snapshots", () => {
	it("a woken object answers from the snapshot, as the object that built it did", async () => {
		const t = await createTenant("snap");
		const features = Array.from({ length: 60 }, (_, i) =>
			i % 2 === 0
				? circleFence(`c${i}`, offset(RENNES, (i % 10) * 300, Math.floor(i / 10) * 300), 80)
				: squareFence(`s${i}`, offset(RENNES, (i % 10) * 300, Math.floor(i / 10) * 300 + 100), 60),
		);
		await uploadFences(t, features);
		const r = validateFeatureCollection(featureCollection(features));
		if (!r.ok || !r.fences[0]) throw new Error("invalid test fences");
		const key = shardKeysOfFence(r.fences[0])[0] ?? "";
		const points = Array.from({ length: 40 }, (_, i) =>
			offset(RENNES, (i % 10) * 300 + 20, Math.floor(i / 4) * 150),
		);
		const stub = shardStub(env, t.id, key);
		const first: ShardAnswer = await stub.query(points, ["c0", "s1"]);
		expect(first.results.some((x) => x.inside.length > 0)).toBe(true);

		await runInDurableObject(stub, async (instance: GeoShardDO, state) => {
			expect(instance.loadedFrom).toBe("fences");
			// A new object over the same storage: what a wake-up after eviction sees.
			const woken = new GeoShardDO(state, env);
			const again = await woken.query(points, ["c0", "s1"]);
			expect(woken.loadedFrom).toBe("snapshot");
			expect(again).toEqual(first);
		});

		// A write invalidates the snapshot: the next wake-up builds from the fences, with the change.
		await uploadFences(t, [circleFence("c0", offset(RENNES, 5000, 5000), 80)]);
		await runInDurableObject(stub, async (_instance: GeoShardDO, state) => {
			const woken = new GeoShardDO(state, env);
			const a = await woken.query([offset(RENNES, 0, 0)], []);
			expect(woken.loadedFrom).toBe("fences");
			expect(a.results[0]?.inside).not.toContain("c0");
			const rewoken = new GeoShardDO(state, env);
			expect(await rewoken.query([offset(RENNES, 0, 0)], [])).toEqual(a);
			expect(rewoken.loadedFrom).toBe("snapshot");
		});
	});
});
