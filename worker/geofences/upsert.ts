/**
 * The geofence write engine: upserts and deletes, all or nothing across D1 and the GeoShard
 * objects, under the tenant's geofence lock (./lock.ts), with the layout sized first (./layout.ts).
 */
import type { z } from "zod";
import { AppError } from "../../src/errors.js";
import type { Fence } from "../../src/geo/types.js";
import { fenceContentHash } from "../../src/geo/validate.js";
import type { UpsertAnswerSchema } from "../../src/schemas/geofence.js";
import { loadSplits, planShardCalls, type ShardChange, shardKeysOfCell, writeShardCalls } from "../shards.js";
import {
	commitFenceDelete,
	commitStagedFences,
	fenceShardList,
	fenceStates,
	geofenceVersion,
	stageRowsStatement,
	stageStoredFence,
} from "../store/geofences.js";
import type { TenantCtx } from "../tenants.js";
import { Timing } from "../timing.js";
import {
	areaTooDense,
	busy,
	changeOf,
	type Existing,
	ID_CHUNK,
	isCurrentKey,
	logFailure,
	mapBounded,
	type Pending,
	RETRY_AFTER_SECONDS,
	storedShards,
	tooSpread,
	unavailable,
} from "./common.js";
import { clearRetiredLeaves, mergeSparseLeaves, prepareLeaves } from "./layout.js";
import { dropStaging, undo, withGeofenceLock } from "./lock.js";

/** Characters of staged rows per D1 statement: a bound value may be at most 2 MB. */
const STAGE_STATEMENT_CHARS = 1_000_000;
/** Staging statements per D1 batch (about 4 MB a round trip). */
const STAGE_STATEMENTS_PER_BATCH = 4;

/** A fence of an upload that differs from what D1 holds, ready to store. */
interface Row {
	f: Fence;
	json: string;
	hash: string;
	shards: string[];
}

/**
 * Upserts validated fences, all or nothing across D1 (what GET lists) and the GeoShard objects
 * (what pings match). Unchanged fences (same content hash and shard objects) are skipped.
 *
 * Neither store can join the other's transaction, so the change is made in this order, under a
 * per-tenant lock (one upload or delete at a time; another gets 409 with Retry-After):
 *
 * 1. Stage: the new rows go to `geofence_staging`, in bounded batches. Invisible to readers; a
 *    failure here has touched nothing else (503, nothing changed).
 * 2. Shards: each shard object gets its new fences and loses moved ones, in calls of at most
 *    `SHARD_CALL_BYTES` (RPC arguments are capped at 32 MiB). A shard object refuses a write
 *    that would pass its size budget (422 `area_too_dense`); any failure (refusal, error) stops
 *    new calls, waits for those in flight, then undoes: every fence of the upload is written
 *    back to its shard objects as D1 (still untouched) holds it, or removed where D1 has none.
 * 3. Commit: one `DB.batch`, which D1 runs as one transaction: version bump, INSERT ... SELECT
 *    from staging, staging cleanup, all conditional on still holding the lock. A failure rolls
 *    it all back and is undone as in 2 (503, nothing changed).
 *
 * Why: shards used to be written first and D1 after, in batches of 200 statements (each atomic,
 * the whole not), and a shard call could pass the RPC limit. A failure part-way left shard
 * objects holding fences (or places) D1 did not list, and DELETE only cleans the objects D1
 * records for a fence: such a fence kept matching pings and could never be deleted. Now D1
 * changes at exactly one point (the commit), so until then D1 is the old state and the shards
 * can always be put back from it.
 *
 * Shards are written before the commit, so between 2 and 3 pings may see the new fences
 * slightly before GET does; never afterwards. If the Worker stops mid-way (or the undo itself
 * fails), the staged rows stay behind as a journal, and the next change of the tenant (the lock
 * lapses after `LOCK_MS`) first re-syncs their shard objects from D1. DELETE follows the same
 * steps with the removed row as its journal, so every fence D1 lists can be deleted.
 */
export async function upsertFences(
	env: Env,
	tenant: TenantCtx,
	fences: Fence[],
	timing = new Timing(),
): Promise<UpsertAnswer> {
	return withGeofenceLock(env, tenant.id, async (token) => {
		let splits = await loadSplits(env, tenant.id);
		await clearRetiredLeaves(env, tenant.id);
		timing.lap("lock");
		const existing = await loadExisting(env, tenant.id, fences);
		// Only what differs from D1 is sized and written. A fence whose content is the same but
		// whose shard objects are not all leaves of the current layout is written again too.
		//
		// The stored shard list of an unchanged fence is still right while every object on it is a
		// leaf of the current layout (splits move the fences of the leaf they split and rewrite
		// their lists): the list computed now may be larger, since it is a superset (cells next to
		// a split cell that no point near this fence reaches), but those need nothing. Comparing
		// with it would rewrite fences on every re-upload after a nearby split.
		const pending: Pending[] = [];
		for (const f of fences) {
			const hash = fenceContentHash(f);
			const old = existing.get(f.id);
			if (old?.hash === hash && old.shards.length > 0 && old.shards.every((key) => isCurrentKey(key, splits)))
				continue;
			pending.push({ f, json: JSON.stringify(f), hash, cells: [] });
		}
		const unchanged = fences.length - pending.length;
		timing.lap("compare");
		// Nothing to write: the version in force now (another change may have committed since this
		// request read its tenant).
		if (pending.length === 0)
			return { created: 0, updated: 0, upserted: 0, unchanged, version: await currentVersion(env, tenant) };

		splits = await prepareLeaves(env, tenant.id, token, pending, existing, splits, timing);
		const rows: Row[] = pending.map((p) => ({ ...p, shards: p.cells.flatMap(shardKeysOfCell) }));

		// Every shard object the upload may touch, per fence: where it goes and where it was.
		const suspects = new Map<string, Set<string>>();
		const changes = new Map<string, ShardChange>();
		for (const { f, json, shards } of rows) {
			const keep = new Set(shards);
			const old = existing.get(f.id)?.shards ?? [];
			suspects.set(f.id, new Set([...shards, ...old]));
			for (const key of shards) changeOf(changes, key).upserts.push({ id: f.id, fence: json });
			for (const key of old) if (!keep.has(key)) changeOf(changes, key).removals.push(f.id);
		}
		const calls = planShardCalls(changes);
		// Every call is a subrequest of this one request (10,000 at most on Workers Paid, D1 and
		// the splits' calls included): a change that would pass the budget is refused before
		// anything of it is written.
		const maxCalls = shardMaxCalls(env);
		if (calls.length > maxCalls) throw tooSpread(calls.length, maxCalls);

		const now = new Date().toISOString();
		try {
			await stage(env, tenant.id, token, rows, now);
			timing.lap("stage");
		} catch (error) {
			logFailure("staging", error);
			await dropStaging(env, token).catch((e) => logFailure("staging cleanup", e));
			throw unavailable();
		}

		const written = await writeShardCalls(env, tenant.id, calls);
		timing.lap("shards");
		if (!written.ok) {
			if (!written.full) logFailure("shard write", written.error);
			await undo(env, tenant.id, token, suspects);
			if (written.full) throw areaTooDense(written.full);
			throw unavailable();
		}

		let version: number | null;
		try {
			// One transaction, each statement only while holding the lock: version, rows, staging.
			version = await commitStagedFences(env.DB, tenant.id, token, now);
			timing.lap("commit");
		} catch (error) {
			logFailure("commit", error);
			await undo(env, tenant.id, token, suspects);
			throw unavailable();
		}
		if (version === null) {
			// The lock lapsed (this request ran past LOCK_MS) and another change took it and may
			// have repaired our journal already: nothing was committed, so put our fences' shard
			// objects back as D1 holds them.
			await undo(env, tenant.id, token, suspects);
			throw busy(RETRY_AFTER_SECONDS);
		}
		const created = rows.filter((r) => !existing.has(r.f.id)).length;
		return { created, updated: rows.length - created, upserted: rows.length, unchanged, version };
	});
}

async function currentVersion(env: Env, tenant: TenantCtx): Promise<number> {
	return (await geofenceVersion(env.DB, tenant.id)) ?? tenant.geofenceVersion;
}

/** What an upsert answers. */
export type UpsertAnswer = z.infer<typeof UpsertAnswerSchema>;

/** What D1 holds of these fences, by id. */
async function loadExisting(env: Env, tenantId: string, fences: Fence[]): Promise<Map<string, Existing>> {
	const existing = new Map<string, Existing>();
	const chunks: string[][] = [];
	for (let i = 0; i < fences.length; i += ID_CHUNK)
		chunks.push(fences.slice(i, i + ID_CHUNK).map((f) => f.id));
	await mapBounded(chunks, 4, async (ids) => {
		for (const r of await fenceStates(env.DB, tenantId, ids))
			existing.set(r.id, { hash: r.content_hash, shards: storedShards(r.shards), bytes: r.bytes });
	});
	return existing;
}

/** Deletes one fence from its shard objects and D1, all or nothing (see {@link upsertFences}). */
export async function deleteFence(env: Env, tenantId: string, id: string): Promise<void> {
	await withGeofenceLock(env, tenantId, async (token) => {
		const shards = await fenceShardList(env.DB, tenantId, id);
		if (shards === null) throw new AppError("not_found", 404, "No geofence with this id.");
		const keys = storedShards(shards);
		const now = new Date().toISOString();
		try {
			// The journal: the row as D1 holds it, which is what an undo puts back.
			await stageStoredFence(env.DB, tenantId, token, id, now);
		} catch (error) {
			logFailure("delete journal", error);
			throw unavailable();
		}
		const suspects = new Map([[id, new Set(keys)]]);
		const changes = new Map<string, ShardChange>(keys.map((key) => [key, { upserts: [], removals: [id] }]));
		const written = await writeShardCalls(env, tenantId, planShardCalls(changes));
		if (!written.ok) {
			logFailure("shard delete", written.error);
			await undo(env, tenantId, token, suspects);
			throw unavailable();
		}
		let deleted: boolean;
		try {
			// One transaction: version, row (both only while holding the lock), journal.
			deleted = await commitFenceDelete(env.DB, tenantId, token, id);
		} catch (error) {
			logFailure("delete commit", error);
			await undo(env, tenantId, token, suspects);
			throw unavailable();
		}
		if (!deleted) {
			await undo(env, tenantId, token, suspects);
			throw busy(RETRY_AFTER_SECONDS);
		}
		// The delete is done; a region that shrank enough gets coarser leaves again. A failure here
		// leaves the layout as it was (still right), so it is logged, not reported.
		await mergeSparseLeaves(env, tenantId, token, keys).catch((e) => logFailure("merge", e));
	});
}

/**
 * Writes the rows to `geofence_staging`, many rows a statement (a JSON array), a few statements a
 * batch, sending each batch as soon as it is full so at most one batch of text is held at once.
 */
async function stage(env: Env, tenantId: string, token: string, rows: Row[], now: string): Promise<void> {
	let batch: D1PreparedStatement[] = [];
	let packed: string[] = [];
	let chars = 0;
	const flushStatement = () => {
		if (packed.length === 0) return;
		batch.push(stageRowsStatement(env.DB, tenantId, token, now, `[${packed.join(",")}]`));
		packed = [];
		chars = 0;
	};
	const sendBatch = async () => {
		if (batch.length === 0) return;
		const statements = batch;
		batch = [];
		await env.DB.batch(statements);
	};
	for (const r of rows) {
		const item = JSON.stringify([r.f.id, r.f.name, r.json, r.hash, JSON.stringify(r.shards)]);
		if (packed.length > 0 && chars + item.length > STAGE_STATEMENT_CHARS) {
			flushStatement();
			if (batch.length >= STAGE_STATEMENTS_PER_BATCH) await sendBatch();
		}
		packed.push(item);
		chars += item.length + 1;
	}
	flushStatement();
	await sendBatch();
}

/** Shard object calls one change may make (Cloudflare allows 10,000 subrequests a request on Workers Paid). */
export const MAX_SHARD_CALLS = 8000;

/** The call budget in force: the `SHARD_MAX_CALLS` var (tests, tuning) when it is a positive integer, else {@link MAX_SHARD_CALLS}. */
export function shardMaxCalls(env: Env): number {
	const v = Number(env.SHARD_MAX_CALLS);
	return Number.isInteger(v) && v >= 1 ? v : MAX_SHARD_CALLS;
}
