/**
 * GeoShard replicas: every replica object of a fence's cells holds it after an upload,
 * people spread over the replicas and all of them match, and a fence stored under another
 * replica layout is written again at its next upload even when its content is unchanged.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { shardsOfFence } from "../../src/geo/shard.js";
import { validateFeatureCollection } from "../../src/geo/validate.js";
import { fnv1a32 } from "../../src/offers/assign.js";
import { SHARD_REPLICAS, shardKeysOfFence, shardStub } from "../../worker/shards.js";
import {
	createTenant,
	eventsOf,
	featureCollection,
	offset,
	postPings,
	registerPerson,
	squareFence,
	uploadFences,
	walker,
} from "./helpers";

const LILLE = { lat: 50.6292, lng: 3.0573 };

function fenceOf(feature: unknown) {
	const r = validateFeatureCollection(featureCollection([feature]));
	if (!r.ok || !r.fences[0]) throw new Error("test fence is invalid");
	return r.fences[0];
}

describe("GeoShard replicas", () => {
	it("writes a fence to every replica of its cells, and people on every replica match it", async () => {
		const t = await createTenant("sh-replicas");
		const feature = squareFence("lille-1", LILLE, 80, { tags: ["grocery"] });
		await uploadFences(t, [feature]);
		const keys = shardKeysOfFence(fenceOf(feature));
		expect(keys.length).toBe(shardsOfFence(fenceOf(feature)).length * SHARD_REPLICAS);
		for (const key of keys) expect(await shardStub(env, t.id, key).count()).toBe(1);

		// Enough people that every replica serves someone.
		const replicasSeen = new Set<number>();
		for (let i = 0; replicasSeen.size < SHARD_REPLICAS && i < 64; i++) {
			const p = await registerPerson(t, `u${i}`);
			replicasSeen.add(fnv1a32(p.userId) % SHARD_REPLICAS);
			const w = walker();
			await postPings(t, p.userId, [w.at(offset(LILLE, 400, 0))]);
			expect(eventsOf(await postPings(t, p.userId, [w.at(LILLE)]))).toEqual(["enter:lille-1"]);
		}
		expect(replicasSeen.size).toBe(SHARD_REPLICAS);
	});

	it("re-syncs an unchanged fence whose stored shard list predates the replica layout", async () => {
		const t = await createTenant("sh-resync");
		const feature = squareFence("lille-2", LILLE, 80, { tags: ["grocery"] });
		await uploadFences(t, [feature]);
		const cells = shardsOfFence(fenceOf(feature));
		// As stored before replicas existed: bare cells, and no replica object holds the fence.
		await env.DB.prepare("UPDATE geofences SET shards = ? WHERE tenant_id = ? AND id = ?")
			.bind(JSON.stringify(cells), t.id, "lille-2")
			.run();
		for (const key of shardKeysOfFence(fenceOf(feature))) {
			await shardStub(env, t.id, key).apply([], ["lille-2"]);
		}
		const again = await uploadFences(t, [feature]);
		expect(again.upserted).toBe(1);
		for (const key of shardKeysOfFence(fenceOf(feature)))
			expect(await shardStub(env, t.id, key).count()).toBe(1);
		expect((await uploadFences(t, [feature])).unchanged).toBe(1);
	});
});
