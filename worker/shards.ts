import { shardOfPoint, shardsOfFence } from "../src/geo/shard.js";
import type { Fence } from "../src/geo/types.js";
import { fnv1a32 } from "../src/offers/assign.js";

/**
 * How many identical GeoShard objects serve each coarse cell. A dense city's centre cell
 * gets a large share of all pings; replicas divide that load (a person always reads from
 * the same one, by a stable hash), while uploads, which are rare, write to all of them.
 * See bench/README.md "Scale" for the arithmetic. Changing it re-syncs each fence at its
 * next upload (the stored shard list no longer matches).
 */
export const SHARD_REPLICAS = 4;

/** The shard objects (`<cell>/<replica>`) that must hold a fence. */
export function shardKeysOfFence(f: Fence): string[] {
	return shardsOfFence(f).flatMap((cell) => Array.from({ length: SHARD_REPLICAS }, (_, r) => `${cell}/${r}`));
}

/** The shard object a person's ping at this point is matched by. */
export function shardKeyOfPoint(lat: number, lng: number, userId: string): string {
	return `${shardOfPoint(lat, lng)}/${fnv1a32(userId) % SHARD_REPLICAS}`;
}

/** The GeoShard object for a tenant and shard key. */
export function shardStub(env: Env, tenantId: string, key: string) {
	return env.GEOSHARD.get(env.GEOSHARD.idFromName(`${tenantId}:${key}`));
}
