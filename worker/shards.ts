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

/**
 * Most fence JSON one `GeoShardDO.apply` call carries (a single larger fence still goes, alone;
 * the validator keeps a fence far smaller). RPC arguments are limited to 32 MiB serialized: an
 * upload whose fences of one cell went in one call failed at 53 MB with a 500. 4 MiB stays far
 * below that and bounds what the object holds in memory while it writes.
 */
export const SHARD_CALL_BYTES = 4 * 1024 * 1024;

/**
 * Most fence JSON one shard object may hold (counted in characters, which is bytes for the ASCII
 * JSON of nearly every fence). Its first query parses every stored fence, about 4 bytes of heap a
 * byte of coordinate-heavy JSON, and builds the index on top, inside an isolate of 128 MB: 8 MiB
 * keeps that well inside, and is three times the busiest shard object of the benchmark city
 * (2.6 MB for 10,000 fences). A write that would pass it is refused as a whole, and the upload
 * with it (422 `area_too_dense`): better than an object every ping of its cell then fails on.
 * The sharding redesign ("national chain scale") should revisit it with finer cells.
 */
export const MAX_SHARD_BYTES = 8 * 1024 * 1024;

/** Shard objects written at once by one request. */
const SHARD_CONCURRENCY = 8;

/** A fence as shard objects store it: its id and its normalized JSON (a `Fence`). */
export interface StoredFence {
	id: string;
	fence: string;
}

/** What one shard object must change: fences to write whole and ids to drop. */
export interface ShardChange {
	upserts: StoredFence[];
	removals: string[];
}

/** One `GeoShardDO.apply` call. */
export interface ShardCall extends ShardChange {
	key: string;
}

/** What `GeoShardDO.apply` answers: done, or refused whole because the object would pass its budget. */
export type ApplyResult =
	| { ok: true; bytes: number }
	| { ok: false; code: "shard_full"; bytes: number; limit: number };

/** The outcome of {@link writeShardCalls}. */
export type ShardWriteOutcome =
	| { ok: true }
	| { ok: false; full: { key: string; bytes: number; limit: number } | null; error: unknown };

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

/**
 * Splits each shard object's change into calls of at most `maxBytes` of fence JSON (ids
 * included), in order: the removals go with the first call, then the upserts as they come.
 *
 * @param changes per shard key
 * @param maxBytes most JSON a call carries, {@link SHARD_CALL_BYTES} by default
 * @returns the calls, those of one key together and in order
 */
export function planShardCalls(changes: Map<string, ShardChange>, maxBytes = SHARD_CALL_BYTES): ShardCall[] {
	const calls: ShardCall[] = [];
	for (const [key, change] of changes) {
		let call: ShardCall = { key, upserts: [], removals: change.removals };
		let bytes = change.removals.reduce((n, id) => n + id.length, 0);
		for (const u of change.upserts) {
			const size = u.id.length + u.fence.length;
			if (call.upserts.length > 0 && bytes + size > maxBytes) {
				calls.push(call);
				call = { key, upserts: [], removals: [] };
				bytes = 0;
			}
			call.upserts.push(u);
			bytes += size;
		}
		calls.push(call);
	}
	return calls;
}

/**
 * Runs the calls: one key's calls in order, up to {@link SHARD_CONCURRENCY} keys at once. After
 * the first failure no new call starts, and the outcome is returned only once every call in
 * flight has settled, so no write of this request lands after its caller starts undoing it.
 *
 * @param opts.restore writes that put back what D1 holds: never refused for size
 * @param opts.attempts tries per call when it throws (a refusal is final)
 */
export async function writeShardCalls(
	env: Env,
	tenantId: string,
	calls: ShardCall[],
	opts: { restore?: boolean; attempts?: number } = {},
): Promise<ShardWriteOutcome> {
	const byKey = new Map<string, ShardCall[]>();
	for (const c of calls) {
		const list = byKey.get(c.key);
		if (list) list.push(c);
		else byKey.set(c.key, [c]);
	}
	const queue = [...byKey.values()];
	let failure: ShardWriteOutcome | null = null;
	const attempts = Math.max(1, opts.attempts ?? 1);
	const apply = async (c: ShardCall): Promise<ApplyResult> => {
		for (let i = 1; ; i++) {
			try {
				return await shardStub(env, tenantId, c.key).apply(c.upserts, c.removals, { restore: opts.restore });
			} catch (error) {
				if (i >= attempts) throw error;
			}
		}
	};
	// Never rejects: a failure is recorded, so Promise.all below waits for every call in flight.
	const worker = async () => {
		for (let keyCalls = queue.shift(); keyCalls && !failure; keyCalls = queue.shift()) {
			for (const c of keyCalls) {
				if (failure) return;
				try {
					const result = await apply(c);
					if (!result.ok)
						failure ??= {
							ok: false,
							full: { key: c.key, bytes: result.bytes, limit: result.limit },
							error: null,
						};
				} catch (error) {
					failure ??= { ok: false, full: null, error };
				}
			}
		}
	};
	await Promise.all(Array.from({ length: Math.min(SHARD_CONCURRENCY, queue.length) }, worker));
	return failure ?? { ok: true };
}
