import { DurableObject } from "cloudflare:workers";
import { parseStoredFence } from "../src/geo/fence-input.js";
import { createFenceIndex, type FenceIndex } from "../src/geo/index.js";
import type { Fence } from "../src/geo/types.js";
import { type ApplyResult, MAX_SHARD_BYTES, type StoredFence } from "./shards.js";

/** What a ping-processing caller needs to know about a fence. */
export interface FenceMeta {
	id: string;
	name: string;
	tags: string[];
	metadata: Record<string, unknown>;
	dwellSeconds: number | null;
}

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

/**
 * GeoShardDO: the fence index for one tenant and one leaf cell of its shard layout (an H3 cell
 * whose resolution follows the density of the tenant's fences, see src/geo/shard.ts).
 *
 * Responsibilities:
 * - keep the fences whose area (plus the exit-hysteresis buffer) touches this cell, in
 *   its SQLite storage, written by geofence uploads in bounded calls, and at most
 *   {@link MAX_SHARD_BYTES} of them (its index must fit in memory);
 * - answer "which fences contain these points" exactly, and how far the points are from
 *   the fences a person is in, from an in-memory fence index rebuilt lazily after changes.
 *
 * In memory it keeps the index (packed geometry) and each fence's metadata, not the parsed
 * GeoJSON: that would hold every fence's geometry twice. Parsed GeoJSON takes about 1.8 KB a
 * fence on the benchmark's city (55 MB for a shard of 30,000 fences), next to the 128 MB an
 * isolate may use; the index itself about 1.2 KB.
 */
export class GeoShardDO extends DurableObject<Env> {
	private index: FenceIndex | null = null;
	private fences: Map<string, FenceMeta> | null = null;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS fences (id TEXT PRIMARY KEY, fence TEXT NOT NULL)");
	}

	/**
	 * Removes, then replaces or adds fences (each given as its id and normalized JSON), all or
	 * nothing; the next query sees the change. A write that adds fences and would leave the object
	 * holding more than {@link MAX_SHARD_BYTES} of fence JSON is refused whole (nothing changes),
	 * unless it is a `restore` (putting back what D1 holds after a failed change).
	 */
	async apply(
		upserts: StoredFence[],
		removals: string[],
		opts: { restore?: boolean | undefined } = {},
	): Promise<ApplyResult> {
		const sql = this.ctx.storage.sql;
		let result: ApplyResult = { ok: true, bytes: 0 };
		try {
			this.ctx.storage.transactionSync(() => {
				const before = this.storedBytes();
				for (const id of removals) sql.exec("DELETE FROM fences WHERE id = ?", id);
				for (const f of upserts) {
					sql.exec(
						"INSERT INTO fences (id, fence) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET fence = excluded.fence",
						f.id,
						f.fence,
					);
				}
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
		this.index = null;
		this.fences = null;
		return result;
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
	): Promise<ShardAnswer> {
		const { index, fences } = this.load();
		const matches = points.map(({ lat, lng }) => index.match(lat, lng));
		const candidates = new Set(current.filter((id) => fences.has(id)));
		for (const ids of matches) for (const id of ids) candidates.add(id);
		const results = points.map(({ lat, lng }, i) => {
			const distances: Record<string, number> = {};
			const inside = matches[i] ?? [];
			// Inside is distance 0; only the others need measuring.
			for (const id of candidates) distances[id] = inside.includes(id) ? 0 : index.distanceTo(id, lat, lng);
			return { inside, distances };
		});
		const meta: Record<string, FenceMeta> = {};
		for (const id of candidates) {
			const f = fences.get(id);
			if (f) meta[id] = f;
		}
		if (!ask) return { results, fences: meta };
		return { results, fences: meta, neighbourhood: this.around(index, fences, ask) };
	}

	/**
	 * Every fence within `ask.radius` of the point (with a margin for the distance's
	 * approximation), or null past `ask.max`. A scan of the leaf, which holds a few hundred
	 * fences: it runs only when a person moved out of the neighbourhood they had.
	 */
	private around(
		index: FenceIndex,
		fences: Map<string, FenceMeta>,
		ask: NeighbourhoodAsk,
	): StoredFence[] | null {
		const reach = ask.radius * 1.02 + 10;
		const ids: string[] = [];
		for (const id of fences.keys()) {
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
		this.ctx.storage.sql.exec("DELETE FROM fences");
		this.index = null;
		this.fences = null;
	}

	/** Fences held and their JSON size, for sizing leaves before an upload. */
	async stats(): Promise<{ fences: number; bytes: number }> {
		return this.ctx.storage.sql
			.exec<{ fences: number; bytes: number }>(
				"SELECT count(*) AS fences, coalesce(sum(length(fence)), 0) AS bytes FROM fences",
			)
			.one();
	}

	/** Number of fences held (stored rows: the index is built from them), for tests and diagnostics. */
	async count(): Promise<number> {
		return this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM fences").one().n;
	}

	private load(): { index: FenceIndex; fences: Map<string, FenceMeta> } {
		if (!this.index || !this.fences) {
			const parsed: Fence[] = [];
			for (const row of this.ctx.storage.sql.exec<{ id: string; fence: string }>(
				"SELECT id, fence FROM fences",
			)) {
				parsed.push(parseStoredFence(JSON.parse(row.fence)));
			}
			this.index = createFenceIndex(parsed);
			this.fences = new Map(
				parsed.map(({ id, name, tags, metadata, dwellSeconds }) => [
					id,
					{ id, name, tags, metadata, dwellSeconds },
				]),
			);
		}
		return { index: this.index, fences: this.fences };
	}
}
