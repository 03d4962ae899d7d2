import { DurableObject } from "cloudflare:workers";
import { parseStoredFence } from "../src/geo/fence-input.js";
import {
	createFenceIndex,
	type FenceIndex,
	FenceSnapshotError,
	loadFenceIndex,
	serializeFenceIndex,
} from "../src/geo/index.js";
import type { Fence } from "../src/geo/types.js";
import { RateWindow } from "../src/limits/rate-window.js";
import type { FenceMeta } from "../src/person/state.js";
import { logError, logInfo } from "./log.js";
import {
	type ApplyResult,
	MAX_SHARD_BYTES,
	MAX_SHARD_REPLICAS,
	QUIET_CHECKS_TO_SHRINK,
	REPLICA_CHECK_MS,
	REPLICA_GROW_COOLDOWN_MS,
	REPLICA_RETIRE_GRACE_MS,
	replicaKeysOfCell,
	replicasToKeep,
	replicasWanted,
	SHARD_CALL_BYTES,
	type ShardName,
	type StoredFence,
	shardRequestBudget,
	shardStub,
} from "./shards.js";
import { lowerReplicas, raiseReplicas } from "./store/shard-layout.js";

/** What a ping-processing caller needs to know about a fence (the person core's type). */
export type { FenceMeta };

export interface ShardAnswer {
	/** Per point, in request order. */
	results: { inside: string[]; distances: Record<string, number> }[];
	/** Metadata of every fence named in `results`. */
	fences: Record<string, FenceMeta>;
	/**
	 * When asked: every fence within the radius of the point (src/geo/neighbourhood.ts), or null
	 * when there are more than the caller keeps.
	 */
	neighbourhood?: StoredFence[] | null;
}

/** A request for the fences around a point, with the query. */
export interface NeighbourhoodAsk {
	lat: number;
	lng: number;
	radius: number;
	max: number;
}

/** Thrown inside a write transaction to roll it back when the object would pass its budget. */
class ShardFull extends Error {}

/** Tries of a change forwarded to one replica. */
const FORWARD_ATTEMPTS = 3;

/** Seconds over which an object measures its request rate (see {@link GeoShardDO.query}). */
const RATE_WINDOW_SECONDS = 10;

/**
 * GeoShardDO: the fence index for one tenant and one leaf cell of its shard layout (an H3 cell
 * whose resolution follows the density of the tenant's fences, see src/geo/shard.ts).
 *
 * Responsibilities:
 * - keep the fences whose area (plus the exit-hysteresis buffer) touches this cell, in
 *   its SQLite storage, written by geofence uploads in bounded calls, and at most
 *   {@link MAX_SHARD_BYTES} of them (its index must fit in memory);
 * - answer "which fences contain these points" exactly, and how far the points are from
 *   the fences a person is in, from an in-memory fence index built lazily after changes and
 *   kept as a binary snapshot in storage, so an object that wakes up answers its first ping
 *   from the snapshot (views over the stored bytes) instead of rebuilding from the fences.
 *
 * In memory it keeps the index (packed geometry) and the metadata of the fences it has named,
 * read from storage as they are needed, not the parsed GeoJSON (that would hold every fence's
 * geometry twice).
 *
 * Replicas: a leaf is served by one object (`<cell>/0`, the primary) until its objects pass their
 * request budget ({@link shardRequestBudget}, requests a second over the last
 * {@link RATE_WINDOW_SECONDS} s). Then the primary grows the leaf's objects (to a power of two
 * sized from the measured rate, at least double, up to
 * {@link MAX_SHARD_REPLICAS}): it copies its fences to the new ones, forwards every later change
 * to them (uploads write only primaries, so an upload's calls do not grow with replicas), and
 * records the count in D1 (`geofence_replicas`), from which readers spread people over the
 * objects (worker/shards.ts shardKeyOfPoint). Writes and growth run one at a time, so a replica
 * never misses a change made while it was being filled.
 *
 * A grown leaf shrinks when the surge is over: the primary's alarm measures, every
 * {@link REPLICA_CHECK_MS}, the requests it served (a 1/n share of the leaf's, people being spread
 * evenly), and after {@link QUIET_CHECKS_TO_SHRINK} checks in a row that find the leaf needing
 * fewer objects ({@link replicasToKeep}) lowers the count in D1. The objects given up keep
 * following changes for {@link REPLICA_RETIRE_GRACE_MS}, while readers may still route by the old
 * count, and are then emptied.
 */
export class GeoShardDO extends DurableObject<Env> {
	private index: FenceIndex | null = null;
	/** Metadata of fences read so far (all of them after a rebuild). */
	private meta = new Map<string, FenceMeta>();
	/** Where the index in memory came from, for tests and diagnostics. */
	loadedFrom: "snapshot" | "fences" | null = null;
	/** Queries a second lately (in memory: an evicted object starts cold, which is what it is). */
	private readonly rate = new RateWindow(RATE_WINDOW_SECONDS);
	/** When this object last asked for more replicas (ms), so a hot leaf asks once a cooldown. */
	private askedAt = Number.NEGATIVE_INFINITY;
	/** Writes and growth, one at a time (see the class comment). */
	private serial: Promise<unknown> = Promise.resolve();
	/** Whether this instance has seen its name stored (saves a read a query). */
	private named = false;
	/** Queries this instance answered (for tests and diagnostics). */
	queries = 0;
	/** Where the primary's current replica check started counting: when, and {@link queries} then. */
	measuredFrom = { at: Date.now(), queries: 0 };
	/** The request budget (requests a second), from the env; tests may lower it on an instance. */
	requestBudget: number;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		// The index snapshot, in parts under SQLite's value size limit; any write of fences
		// deletes it (see apply), so a snapshot present is one of the fences stored.
		ctx.storage.sql.exec(
			"CREATE TABLE IF NOT EXISTS snapshot (part INTEGER PRIMARY KEY, bytes BLOB NOT NULL)",
		);
		ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS fences (id TEXT PRIMARY KEY, fence TEXT NOT NULL)");
		// The object's own name (tenant, leaf cell, replica number), learnt from its first write,
		// and for a primary how many objects serve its leaf.
		ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS about (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
		this.requestBudget = shardRequestBudget(env);
	}

	/**
	 * Removes, then replaces or adds fences (each given as its id and normalized JSON), all or
	 * nothing; the next query sees the change. A write that adds fences and would leave the object
	 * holding more than {@link MAX_SHARD_BYTES} of fence JSON is refused whole (nothing changes),
	 * unless it is a `restore` (putting back what D1 holds after a failed change). With `reset`,
	 * everything held before is dropped first (a leaf that a split just created: anything there
	 * is left over from an earlier split that failed).
	 */
	async apply(
		upserts: StoredFence[],
		removals: string[],
		opts: { restore?: boolean | undefined; reset?: boolean | undefined; name?: ShardName | undefined } = {},
	): Promise<ApplyResult> {
		return this.oneAtATime(async () => {
			const result = this.applyHere(upserts, removals, opts);
			if (!result.ok) return result;
			// The leaf's replicas get the same change (the primary is the only object uploads write),
			// those being retired too until they are emptied.
			const name = this.name();
			const replicas = this.followers();
			if (name && name.replica === 0 && replicas > 1)
				await this.forward(name, replicas, (stub, replica) =>
					stub.apply(upserts, removals, { restore: true, reset: opts.reset, name: { ...name, replica } }),
				);
			return result;
		});
	}

	private applyHere(
		upserts: StoredFence[],
		removals: string[],
		opts: { restore?: boolean | undefined; reset?: boolean | undefined; name?: ShardName | undefined },
	): ApplyResult {
		const sql = this.ctx.storage.sql;
		if (opts.name && !this.name()) this.setAbout("name", JSON.stringify(opts.name));
		let result: ApplyResult = { ok: true, bytes: 0 };
		try {
			this.ctx.storage.transactionSync(() => {
				if (opts.reset) sql.exec("DELETE FROM fences");
				const before = this.storedBytes();
				sql.exec("DELETE FROM snapshot");
				// One statement each, whatever the number of fences: a statement a row was a call into
				// SQLite (and a trace span in local development) for every fence of an upload.
				if (removals.length > 0)
					sql.exec(
						"DELETE FROM fences WHERE id IN (SELECT value FROM json_each(?))",
						JSON.stringify(removals),
					);
				if (upserts.length > 0)
					sql.exec(
						`INSERT INTO fences (id, fence)
						 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) WHERE true
						 ON CONFLICT(id) DO UPDATE SET fence = excluded.fence`,
						JSON.stringify(upserts.map((f) => [f.id, f.fence])),
					);
				const bytes = this.storedBytes();
				// A write that does not grow the object always goes, so one past its budget (the
				// budget lowered since) can still be changed and emptied.
				if (!opts.restore && bytes > MAX_SHARD_BYTES && bytes > before) {
					result = { ok: false, code: "shard_full", bytes, limit: MAX_SHARD_BYTES };
					// Rolls the transaction back.
					throw new ShardFull();
				}
				result = { ok: true, bytes };
			});
		} catch (error) {
			if (!(error instanceof ShardFull)) throw error;
			return result;
		}
		this.forget();
		return result;
	}

	/**
	 * Carries a change to every replica of this primary's leaf, each tried up to
	 * {@link FORWARD_ATTEMPTS} times (a replica exists because it is busy, and an overloaded object
	 * refuses calls for a moment). Resolves only once every forward has settled, so no forward of
	 * this change lands after a caller that saw it fail starts undoing; then throws the first
	 * failure, which fails the caller's change as a failed write of the primary would.
	 */
	private async forward(
		name: ShardName,
		replicas: number,
		call: (stub: ReturnType<typeof shardStub>, replica: number) => Promise<unknown>,
	): Promise<void> {
		const keys = replicaKeysOfCell(name.cell, replicas);
		const settled = await Promise.allSettled(
			keys.slice(1).map(async (key, i) => {
				for (let attempt = 1; ; attempt++) {
					try {
						return await call(shardStub(this.env, name.tenantId, key), i + 1);
					} catch (error) {
						if (attempt >= FORWARD_ATTEMPTS) throw error;
						await new Promise((r) => setTimeout(r, 50 * attempt));
					}
				}
			}),
		);
		const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
		if (failed) throw failed.reason;
	}

	/** Runs `fn` after every write or growth already started (see the class comment). */
	private oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
		const run = this.serial.then(fn, fn);
		this.serial = run.catch(() => undefined);
		return run;
	}

	private about(k: string): string | null {
		return (
			this.ctx.storage.sql.exec<{ v: string }>("SELECT v FROM about WHERE k = ?", k).toArray()[0]?.v ?? null
		);
	}

	private setAbout(k: string, v: string): void {
		this.ctx.storage.sql.exec(
			"INSERT INTO about (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
			k,
			v,
		);
	}

	/** This object's tenant, leaf cell and replica number, once a write told it. */
	private name(): ShardName | null {
		const v = this.about("name");
		return v ? (JSON.parse(v) as ShardName) : null;
	}

	/** How many objects serve this leaf (kept by the primary; 1 until it grows). */
	replicas(): number {
		return Number(this.about("replicas") ?? 1);
	}

	/** How many objects follow this primary's changes: those serving the leaf and those being retired. */
	private followers(): number {
		return Math.max(this.replicas(), Number(this.about("retiring") ?? 0));
	}

	/**
	 * Grows the objects serving this leaf ({@link replicasWanted}: at least double, up to
	 * {@link MAX_SHARD_REPLICAS}): the new ones get
	 * every fence this primary holds, then later changes are forwarded to them, then D1 records
	 * the count for readers. A no-op on a replica, on an object that has not been named by a
	 * write yet, and at the maximum.
	 *
	 * @param rate the request rate the asking object measured (sizes the growth; recorded)
	 * @returns the count now
	 */
	async grow(rate: number): Promise<number> {
		return this.oneAtATime(async () => {
			const name = this.name();
			const before = this.replicas();
			if (name?.replica !== 0 || before >= MAX_SHARD_REPLICAS) return before;
			// Every object of a hot leaf asks at about the same time (people are spread evenly), and
			// readers see a new count only up to 30 s later: one growth a cooldown, for the leaf.
			const now = Date.now();
			if (now - Number(this.about("grownAt") ?? Number.NEGATIVE_INFINITY) < REPLICA_GROW_COOLDOWN_MS)
				return before;
			// A cell split or merged away holds nothing: a reader a version behind is no reason to grow.
			if (this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM fences").one().n === 0)
				return before;
			const after = replicasWanted(rate, before, this.requestBudget);
			const keys = replicaKeysOfCell(name.cell, after);
			for (let r = before; r < after; r++) {
				const stub = shardStub(this.env, name.tenantId, keys[r] ?? "");
				const replicaName = { ...name, replica: r };
				// Pages read one at a time (no cursor held across the calls).
				let cursor = "";
				for (let first = true; ; first = false) {
					const page = this.page(cursor);
					await stub.apply(page, [], { restore: true, reset: first, name: replicaName });
					const last = page.at(-1);
					if (!last) break;
					cursor = last.id;
				}
			}
			this.setAbout("replicas", String(after));
			this.setAbout("grownAt", String(now));
			this.setAbout("quietChecks", "0");
			// Objects being retired that this growth filled again serve the leaf once more.
			if (Number(this.about("retiring") ?? 0) <= after) this.clearRetiring();
			this.measuredFrom = { at: now, queries: this.queries };
			if ((await this.ctx.storage.getAlarm()) === null)
				await this.ctx.storage.setAlarm(now + REPLICA_CHECK_MS);
			await raiseReplicas(this.env.DB, {
				tenantId: name.tenantId,
				cell: name.cell,
				replicas: after,
				rate,
				at: now,
			});
			logInfo("shard_replicas", { tenantId: name.tenantId, cell: name.cell, replicas: after, rate });
			return after;
		});
	}

	override async alarm(): Promise<void> {
		await this.checkReplicas(Date.now());
	}

	/**
	 * The primary's replica check (its alarm, every {@link REPLICA_CHECK_MS} while the leaf has
	 * more than one object): empties the objects whose retirement grace is over, then measures the
	 * leaf's rate since the last check and, after {@link QUIET_CHECKS_TO_SHRINK} checks in a row
	 * that find it needing fewer objects, shrinks it. Runs with writes and growth, one at a time.
	 *
	 * @param now the check's clock (ms)
	 * @returns how many objects serve the leaf now
	 */
	async checkReplicas(now: number): Promise<number> {
		return this.oneAtATime(async () => {
			const name = this.name();
			if (name?.replica !== 0) return this.replicas();
			let current = this.replicas();
			let retiring = Number(this.about("retiring") ?? 0);
			let retireAt = Number(this.about("retireAt") ?? 0);
			if (retiring > current && now >= retireAt) {
				const keys = replicaKeysOfCell(name.cell, retiring).slice(current);
				await Promise.all(keys.map((key) => shardStub(this.env, name.tenantId, key).clear()));
				this.clearRetiring();
				retiring = 0;
				logInfo("shard_replicas_retired", { tenantId: name.tenantId, cell: name.cell, objects: keys.length });
			}
			const seconds = (now - this.measuredFrom.at) / 1000;
			const leafRate = seconds > 0 ? ((this.queries - this.measuredFrom.queries) / seconds) * current : 0;
			this.measuredFrom = { at: now, queries: this.queries };
			const keep = replicasToKeep(leafRate, current, this.requestBudget);
			const quiet = keep < current ? Number(this.about("quietChecks") ?? 0) + 1 : 0;
			this.setAbout("quietChecks", String(quiet));
			if (quiet >= QUIET_CHECKS_TO_SHRINK) {
				// D1 first: once readers may see the lower count, the objects above it only wait out the grace.
				await lowerReplicas(this.env.DB, {
					tenantId: name.tenantId,
					cell: name.cell,
					replicas: keep,
					rate: leafRate,
					at: now,
				});
				retiring = Math.max(current, retiring);
				retireAt = now + REPLICA_RETIRE_GRACE_MS;
				this.setAbout("retiring", String(retiring));
				this.setAbout("retireAt", String(retireAt));
				this.setAbout("replicas", String(keep));
				this.setAbout("quietChecks", "0");
				logInfo("shard_replicas_shrunk", {
					tenantId: name.tenantId,
					cell: name.cell,
					replicas: keep,
					from: current,
					rate: leafRate,
				});
				current = keep;
			}
			if (retiring > current)
				await this.ctx.storage.setAlarm(Math.max(now, Math.min(retireAt, now + REPLICA_CHECK_MS)));
			else if (current > 1) await this.ctx.storage.setAlarm(now + REPLICA_CHECK_MS);
			else await this.ctx.storage.deleteAlarm();
			return current;
		});
	}

	private clearRetiring(): void {
		this.ctx.storage.sql.exec("DELETE FROM about WHERE k IN ('retiring', 'retireAt')");
	}

	/** The fences held after id `after`, in id order, up to {@link SHARD_CALL_BYTES} of JSON (at least one). */
	private page(after: string): StoredFence[] {
		const page: StoredFence[] = [];
		let bytes = 0;
		for (const r of this.ctx.storage.sql
			.exec<{ id: string; fence: string }>(
				"SELECT id, fence FROM fences WHERE id > ? ORDER BY id LIMIT 2000",
				after,
			)
			.toArray()) {
			const size = r.id.length + r.fence.length;
			if (page.length > 0 && bytes + size > SHARD_CALL_BYTES) break;
			page.push({ id: r.id, fence: r.fence });
			bytes += size;
		}
		return page;
	}

	/**
	 * Counts a query; past the request budget, asks the leaf's primary (itself, or through a call)
	 * for more replicas, at most once a {@link REPLICA_GROW_COOLDOWN_MS}, after answering.
	 */
	private countQuery(): void {
		this.queries += 1;
		const now = Date.now();
		const rate = this.rate.hit(now);
		if (rate <= this.requestBudget || now - this.askedAt < REPLICA_GROW_COOLDOWN_MS) return;
		const name = this.name();
		if (!name) return;
		this.askedAt = now;
		// Past the budget on the 10 s mean; sized by the busiest second, which shows a sudden surge
		// at once (the mean is still climbing when it first passes the budget).
		const load = Math.max(rate, this.rate.peak());
		const grown =
			name.replica === 0
				? this.grow(load)
				: shardStub(this.env, name.tenantId, replicaKeysOfCell(name.cell, 1)[0] ?? "").grow(load);
		this.ctx.waitUntil(
			grown.then(
				() => undefined,
				(error: unknown) =>
					logError("shard_replicas_failed", error, { tenantId: name.tenantId, cell: name.cell }),
			),
		);
	}

	/**
	 * Matches points and measures, for exit hysteresis, each point's distance to every
	 * candidate: the fences the person was in (`current`) plus every fence any point of
	 * this request is inside (a fence entered earlier in the batch). A candidate this
	 * shard does not hold is more than the shard buffer away, so the caller treats it
	 * as far outside.
	 */
	async query(
		points: { lat: number; lng: number }[],
		current: string[],
		ask: NeighbourhoodAsk | null = null,
		name: ShardName | null = null,
	): Promise<ShardAnswer> {
		// An object written before names were kept learns its name from the reader, so it can grow.
		if (name && !this.named) {
			if (!this.name()) this.setAbout("name", JSON.stringify(name));
			this.named = true;
		}
		this.countQuery();
		const index = this.load();
		const matches = points.map(({ lat, lng }) => index.match(lat, lng));
		const candidates = new Set(current);
		for (const ids of matches) for (const id of ids) candidates.add(id);
		const results = points.map(({ lat, lng }, i) => {
			const distances: Record<string, number> = {};
			const inside = matches[i] ?? [];
			// Inside is distance 0; only the others need measuring.
			for (const id of candidates) distances[id] = inside.includes(id) ? 0 : index.distanceTo(id, lat, lng);
			return { inside, distances };
		});
		const meta = this.metaOf([...candidates]);
		if (!ask) return { results, fences: meta };
		return { results, fences: meta, neighbourhood: this.around(index, ask) };
	}

	/** Metadata of the given fences this object holds (unknown ids are left out). */
	private metaOf(ids: string[]): Record<string, FenceMeta> {
		const missing = ids.filter((id) => !this.meta.has(id));
		if (missing.length > 0) {
			for (const row of this.ctx.storage.sql.exec<{ fence: string }>(
				"SELECT fence FROM fences WHERE id IN (SELECT value FROM json_each(?))",
				JSON.stringify(missing),
			)) {
				const f = parseStoredFence(JSON.parse(row.fence));
				this.meta.set(f.id, metaOf(f));
			}
		}
		const out: Record<string, FenceMeta> = {};
		for (const id of ids) {
			const m = this.meta.get(id);
			if (m) out[id] = m;
		}
		return out;
	}

	/**
	 * Every fence within `ask.radius` of the point (with a margin for the distance's
	 * approximation), or null past `ask.max`. A scan of the leaf, which holds a few hundred
	 * fences: it runs only when a person moved out of the neighbourhood they had.
	 */
	private around(index: FenceIndex, ask: NeighbourhoodAsk): StoredFence[] | null {
		const reach = ask.radius * 1.02 + 10;
		const ids: string[] = [];
		for (const { id } of this.ctx.storage.sql.exec<{ id: string }>("SELECT id FROM fences")) {
			if (index.distanceTo(id, ask.lat, ask.lng) <= reach) {
				ids.push(id);
				if (ids.length > ask.max) return null;
			}
		}
		if (ids.length === 0) return [];
		return this.ctx.storage.sql
			.exec<{ id: string; fence: string }>(
				"SELECT id, fence FROM fences WHERE id IN (SELECT value FROM json_each(?))",
				JSON.stringify(ids),
			)
			.toArray()
			.map((r) => ({ id: r.id, fence: r.fence }));
	}

	private storedBytes(): number {
		return this.ctx.storage.sql
			.exec<{ n: number }>("SELECT coalesce(sum(length(fence)), 0) AS n FROM fences")
			.one().n;
	}

	/** The fences held, by id after `after`, at most `limit` (for splitting this leaf). */
	async rows(after: string, limit: number): Promise<StoredFence[]> {
		return this.ctx.storage.sql
			.exec<{ id: string; fence: string }>(
				"SELECT id, fence FROM fences WHERE id > ? ORDER BY id LIMIT ?",
				after,
				Math.max(1, Math.min(limit, 10_000)),
			)
			.toArray()
			.map((r) => ({ id: r.id, fence: r.fence }));
	}

	/** Forgets every fence: this cell was split and no isolate routes to it any more, or it is being reused. */
	async clear(): Promise<void> {
		await this.oneAtATime(async () => {
			this.ctx.storage.transactionSync(() => {
				this.ctx.storage.sql.exec("DELETE FROM fences");
				this.ctx.storage.sql.exec("DELETE FROM snapshot");
			});
			this.forget();
			const name = this.name();
			const replicas = this.followers();
			if (name && name.replica === 0 && replicas > 1)
				await this.forward(name, replicas, (stub) => stub.clear());
		});
	}

	/** Number of fences held (stored rows: the index is built from them), for tests and diagnostics. */
	async count(): Promise<number> {
		return this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM fences").one().n;
	}

	private forget(): void {
		this.index = null;
		this.meta.clear();
		this.loadedFrom = null;
	}

	/**
	 * The index: in memory, else from the stored snapshot, else built from the stored fences
	 * (then snapshotted, so the next wake-up loads it).
	 */
	private load(): FenceIndex {
		if (this.index) return this.index;
		const sql = this.ctx.storage.sql;
		const parts = sql.exec<{ bytes: ArrayBuffer }>("SELECT bytes FROM snapshot ORDER BY part").toArray();
		if (parts.length > 0) {
			try {
				this.index = loadFenceIndex(concat(parts.map((p) => new Uint8Array(p.bytes))));
				this.loadedFrom = "snapshot";
				return this.index;
			} catch (error) {
				// Another format version (or damage): build from the fences, which are the truth.
				if (!(error instanceof FenceSnapshotError)) throw error;
			}
		}
		const parsed: Fence[] = [];
		for (const row of sql.exec<{ fence: string }>("SELECT fence FROM fences ORDER BY id")) {
			parsed.push(parseStoredFence(JSON.parse(row.fence)));
		}
		const index = createFenceIndex(parsed);
		this.meta = new Map(parsed.map((f) => [f.id, metaOf(f)]));
		const bytes = serializeFenceIndex(index);
		this.ctx.storage.transactionSync(() => {
			sql.exec("DELETE FROM snapshot");
			for (let at = 0, part = 0; at < bytes.length; at += SNAPSHOT_PART_BYTES, part++)
				sql.exec(
					"INSERT INTO snapshot (part, bytes) VALUES (?, ?)",
					part,
					bytes.subarray(at, at + SNAPSHOT_PART_BYTES),
				);
		});
		this.index = index;
		this.loadedFrom = "fences";
		return index;
	}
}

/** Snapshot bytes per stored row: under the 2 MB a SQLite value may hold in a Durable Object. */
const SNAPSHOT_PART_BYTES = 1024 * 1024;

function metaOf({ id, name, tags, metadata, dwellSeconds }: Fence): FenceMeta {
	return { id, name, tags, metadata, dwellSeconds };
}

function concat(parts: Uint8Array[]): Uint8Array {
	if (parts.length === 1 && parts[0]) return parts[0];
	const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
	let at = 0;
	for (const p of parts) {
		out.set(p, at);
		at += p.byteLength;
	}
	return out;
}
