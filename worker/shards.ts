import {
	NO_SPLITS,
	SHARD_BUFFER_METERS,
	type ShardSplits,
	shardOfPoint,
	shardsOfFence,
} from "../src/geo/shard.js";
import type { Fence } from "../src/geo/types.js";
import { BoundedCache } from "../src/lib/cache.js";
import { fnv1a32 } from "../src/offers/assign.js";
import { layoutRows, splitCells } from "./store/shard-layout.js";
import type { TenantCtx } from "./tenants.js";

/**
 * The objects an upload writes for each leaf cell: its primary only. A leaf whose objects pass
 * their request budget gets read replicas (worker/geoshard.ts `grow`), which the primary keeps
 * in step; readers learn their number from D1 ({@link tenantSplits}). Changing this constant
 * re-syncs each fence at its next upload (the stored shard list no longer matches).
 */
export const SHARD_REPLICAS = 1;

/** Most objects that may serve one leaf (a hot leaf doubles up to this). */
export const MAX_SHARD_REPLICAS = 16;

/**
 * Queries a second (mean over 10 s) past which a shard object asks for more replicas of its leaf.
 * Cloudflare documents about 1,000 requests a second as what one object serves; a shard query
 * is cheap but carries a neighbourhood scan now and then, so half that leaves headroom.
 * `SHARD_REQUEST_BUDGET` overrides it.
 */
export const SHARD_REQUEST_BUDGET = 500;

/**
 * A leaf grows at most this often: readers see a new count within 30 s ({@link REPLICAS_TTL_MS})
 * and an object's rate covers the last 10 s, so 40 s after a growth the objects measure the load
 * as spread by it.
 */
export const REPLICA_GROW_COOLDOWN_MS = 40_000;

/** Share of the request budget a grown leaf aims each object at (headroom for the next surge). */
const GROW_TARGET = 0.8;

/**
 * How many objects a leaf should have, from the rate one of its `current` objects measured
 * (people are spread evenly, so the leaf gets about `rate * current`): enough for each to get at
 * most {@link GROW_TARGET} of the budget, a power of two, at least double, at most
 * {@link MAX_SHARD_REPLICAS}. A surge is met in one growth instead of one doubling a cooldown.
 */
export function replicasWanted(rate: number, current: number, budget: number): number {
	const needed = Math.ceil((rate * current) / (budget * GROW_TARGET));
	let n = current * 2;
	while (n < needed && n < MAX_SHARD_REPLICAS) n *= 2;
	return Math.min(MAX_SHARD_REPLICAS, n);
}

/** How long an isolate trusts the replica counts it read (they change without a geofence version). */
const REPLICAS_TTL_MS = 30_000;

/** How often the primary of a grown leaf checks whether the leaf still needs its objects (its alarm). */
export const REPLICA_CHECK_MS = 5 * 60_000;

/**
 * Share of the request budget each object of a shrunk leaf may expect: far under the share a
 * growth aims at (0.8), so a leaf that shrinks does not grow straight back.
 */
const SHRINK_TARGET = 0.25;

/**
 * Checks in a row that must find a leaf quiet before it shrinks: a primary evicted while idle
 * forgets what it had counted, so one quiet check could be a short lull.
 */
export const QUIET_CHECKS_TO_SHRINK = 2;

/**
 * How long the objects a leaf gave up keep following its changes after the lower count is in D1:
 * an isolate may route by the count it read up to {@link REPLICAS_TTL_MS} before. Then they are
 * emptied (their storage is what a leaf pays for).
 */
export const REPLICA_RETIRE_GRACE_MS = 2 * REPLICAS_TTL_MS;

/**
 * How many objects a leaf needs for the rate it gets (`leafRate`, requests a second over a whole
 * check): the fewest, a power of two, at most `current`, that keep each under
 * {@link SHRINK_TARGET} of the budget.
 */
export function replicasToKeep(leafRate: number, current: number, budget: number): number {
	let n = 1;
	while (n < current && leafRate > n * budget * SHRINK_TARGET) n *= 2;
	return Math.min(n, current);
}

/** The request budget in force (the `SHARD_REQUEST_BUDGET` var, else {@link SHARD_REQUEST_BUDGET}). */
export function shardRequestBudget(env: Env): number {
	const v = Number(env.SHARD_REQUEST_BUDGET);
	return Number.isFinite(v) && v > 0 ? v : SHARD_REQUEST_BUDGET;
}

/** Who a shard object is: learnt from its first write, so it can find its primary or replicas. */
export interface ShardName {
	tenantId: string;
	cell: string;
	/** 0 for the leaf's primary. */
	replica: number;
}

/**
 * A leaf holding more fences than this (with those an upload brings) is split before the upload
 * is written: its cells one resolution finer take its place. Stores are where people are, so
 * the budget also spreads a city's pings: on the benchmark city (2,000 stores, 1M people pinging
 * every 2 minutes) the busiest leaf gets 6.8 % of pings at 500 (564 requests/s, under the ~1,000
 * one object serves), against 94 % with one leaf for the city (`npm run bench:scale`).
 * `SHARD_MAX_FENCES` overrides it.
 */
export const SHARD_MAX_FENCES = 2000;

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

/** The shard objects (`<cell>/<replica>`) of one leaf cell that uploads write. */
export function shardKeysOfCell(cell: string): string[] {
	return replicaKeysOfCell(cell, SHARD_REPLICAS);
}

/** The keys of the first `n` objects serving a leaf cell; the first is its primary. */
export function replicaKeysOfCell(cell: string, n: number): string[] {
	return Array.from({ length: n }, (_, r) => `${cell}/${r}`);
}

/** The name of the object with this key (`<cell>/<replica>`). */
export function shardNameOf(tenantId: string, key: string): ShardName {
	const at = key.lastIndexOf("/");
	return { tenantId, cell: key.slice(0, at), replica: Number(key.slice(at + 1)) };
}

/** A tenant's layout as readers need it: the split cells, and how many objects serve the hot leaves. */
export class TenantLayout extends Set<string> {
	/** Objects a leaf cell has, for the leaves that have more than one. */
	readonly replicas: ReadonlyMap<string, number>;

	constructor(splits: Iterable<string>, replicas: ReadonlyMap<string, number> = new Map()) {
		super(splits);
		this.replicas = replicas;
	}
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
	const cell = shardOfPoint(lat, lng, splits);
	const n = splits instanceof TenantLayout ? (splits.replicas.get(cell) ?? SHARD_REPLICAS) : SHARD_REPLICAS;
	return `${cell}/${fnv1a32(userId) % n}`;
}

/** A tenant's split cells as D1 holds them now. */
export async function loadSplits(env: Env, tenantId: string): Promise<Set<string>> {
	return new Set(await splitCells(env.DB, tenantId));
}

/** A tenant's layout for readers: split cells and replica counts, as D1 holds them now. */
export async function loadLayout(env: Env, tenantId: string): Promise<TenantLayout> {
	const { splits, replicas } = await layoutRows(env.DB, tenantId);
	return new TenantLayout(splits, new Map(replicas));
}

/**
 * Layouts cached per isolate by tenant and geofence version: every ping needs its tenant's
 * layout, and every split or merge bumps the version, so a D1 read per version is enough. Replica
 * counts change without a version (a hot leaf grows while nobody uploads), so they are read again
 * after {@link REPLICAS_TTL_MS}; a stale count only spreads people over fewer objects.
 */
const splitsCache = new BoundedCache<string, { version: number; at: number; splits: Promise<TenantLayout> }>(
	1000,
);

/** The layout of the tenant at the geofence version it was read at (cached). */
export function tenantSplits(env: Env, tenant: TenantCtx): Promise<TenantLayout> {
	const cached = splitsCache.get(tenant.id);
	const now = Date.now();
	if (cached && cached.version >= tenant.geofenceVersion && now - cached.at < REPLICAS_TTL_MS)
		return cached.splits;
	const splits = loadLayout(env, tenant.id);
	splitsCache.set(tenant.id, { version: tenant.geofenceVersion, at: now, splits });
	splits.catch(() => {
		// Only this read's entry: a later read may have replaced it already.
		if (splitsCache.peek(tenant.id)?.splits === splits) splitsCache.delete(tenant.id);
	});
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
					name: shardNameOf(tenantId, c.key),
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
