import {
	NO_SPLITS,
	SHARD_BUFFER_METERS,
	type ShardSplits,
	shardOfPoint,
	shardsOfFence,
} from "../src/geo/shard.js";
import type { Fence } from "../src/geo/types.js";
import { fnv1a32 } from "../src/offers/assign.js";
import type { TenantCtx } from "./tenants.js";

/**
 * How many identical GeoShard objects serve each leaf cell (a person always reads from the same
 * one, by a stable hash; uploads write all). Leaves are sized by density (src/geo/shard.ts): a
 * dense city centre is split into small cells, which spreads its pings over many objects, so one
 * object a leaf is the default. Changing it re-syncs each fence at its next upload (the stored
 * shard list no longer matches).
 */
export const SHARD_REPLICAS = 1;

/**
 * A leaf holding more fences than this (with those an upload brings) is split before the upload
 * is written: its cells one resolution finer take its place. Stores are where people are, so
 * the budget also spreads a city's pings: on the benchmark city (2,000 stores, 1M people pinging
 * every 2 minutes) the busiest leaf gets 6.8 % of pings at 500 (564 requests/s, under the ~1,000
 * one object serves), against 94 % with one leaf for the city (`npm run bench:scale`).
 * `SHARD_MAX_FENCES` overrides it.
 */
export const SHARD_MAX_FENCES = 500;

/**
 * A leaf that would hold more fence JSON than this is split too: between one call's worth
 * ({@link SHARD_CALL_BYTES}) and what an object may hold ({@link MAX_SHARD_BYTES}), so few
 * large polygons split their leaf long before it would refuse a write.
 */
export const SHARD_SPLIT_BYTES = 6 * 1024 * 1024;

/** The split budget in force (the `SHARD_MAX_FENCES` var, for tuning and tests, else the default). */
export function shardMaxFences(env: Env): number {
	const v = Number(env.SHARD_MAX_FENCES);
	return Number.isInteger(v) && v >= 1 ? v : SHARD_MAX_FENCES;
}

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

/** The shard objects (`<cell>/<replica>`) of one leaf cell. */
export function shardKeysOfCell(cell: string): string[] {
	return Array.from({ length: SHARD_REPLICAS }, (_, r) => `${cell}/${r}`);
}

/** The shard objects (`<cell>/<replica>`) that must hold a fence, under the tenant's layout. */
export function shardKeysOfFence(f: Fence, splits: ShardSplits = NO_SPLITS): string[] {
	return shardsOfFence(f, SHARD_BUFFER_METERS, splits).flatMap(shardKeysOfCell);
}

/** The shard object a person's ping at this point is matched by, under the tenant's layout. */
export function shardKeyOfPoint(
	lat: number,
	lng: number,
	userId: string,
	splits: ShardSplits = NO_SPLITS,
): string {
	return `${shardOfPoint(lat, lng, splits)}/${fnv1a32(userId) % SHARD_REPLICAS}`;
}

/** A tenant's split cells as D1 holds them now. */
export async function loadSplits(env: Env, tenantId: string): Promise<Set<string>> {
	const { results } = await env.DB.prepare("SELECT cell FROM geofence_splits WHERE tenant_id = ?")
		.bind(tenantId)
		.all<{ cell: string }>();
	return new Set(results.map((r) => r.cell));
}

/**
 * Layouts cached per isolate by tenant and geofence version: every ping needs its tenant's
 * layout, and every change of it bumps the version, so a D1 read per version is enough.
 */
const splitsCache = new Map<string, { version: number; splits: Promise<Set<string>> }>();
const SPLITS_CACHE_MAX = 1000;

/** The layout of the tenant at the geofence version it was read at (cached). */
export function tenantSplits(env: Env, tenant: TenantCtx): Promise<ShardSplits> {
	const cached = splitsCache.get(tenant.id);
	if (cached && cached.version >= tenant.geofenceVersion) return cached.splits;
	const splits = loadSplits(env, tenant.id);
	if (splitsCache.size >= SPLITS_CACHE_MAX) splitsCache.clear();
	splitsCache.set(tenant.id, { version: tenant.geofenceVersion, splits });
	splits.catch(() => splitsCache.delete(tenant.id));
	return splits;
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
 * @param opts.reset keys whose objects are emptied by their first call (see `GeoShardDO.apply`)
 */
export async function writeShardCalls(
	env: Env,
	tenantId: string,
	calls: ShardCall[],
	opts: { restore?: boolean; attempts?: number; reset?: ReadonlySet<string> } = {},
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
	const apply = async (c: ShardCall, reset: boolean): Promise<ApplyResult> => {
		for (let i = 1; ; i++) {
			try {
				return await shardStub(env, tenantId, c.key).apply(c.upserts, c.removals, {
					restore: opts.restore,
					reset,
				});
			} catch (error) {
				if (i >= attempts) throw error;
			}
		}
	};
	// Never rejects: a failure is recorded, so Promise.all below waits for every call in flight.
	const worker = async () => {
		for (let keyCalls = queue.shift(); keyCalls && !failure; keyCalls = queue.shift()) {
			for (const [i, c] of keyCalls.entries()) {
				if (failure) return;
				try {
					const result = await apply(c, i === 0 && (opts.reset?.has(c.key) ?? false));
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
