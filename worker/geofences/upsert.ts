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
			version = await commitUpload(env, tenant.id, token, now);
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
	const row = await env.DB.prepare("SELECT geofence_version AS v FROM tenants WHERE id = ?")
		.bind(tenant.id)
		.first<{ v: number }>();
	return row?.v ?? tenant.geofenceVersion;
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
		const { results } = await env.DB.prepare(
			"SELECT id, content_hash, shards, length(fence) AS bytes FROM geofences WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))",
		)
			.bind(tenantId, JSON.stringify(ids))
			.all<{ id: string; content_hash: string; shards: string; bytes: number }>();
		for (const r of results)
			existing.set(r.id, { hash: r.content_hash, shards: storedShards(r.shards), bytes: r.bytes });
	});
	return existing;
}

/** Deletes one fence from its shard objects and D1, all or nothing (see {@link upsertFences}). */
export async function deleteFence(env: Env, tenantId: string, id: string): Promise<void> {
	await withGeofenceLock(env, tenantId, async (token) => {
		const row = await env.DB.prepare("SELECT shards FROM geofences WHERE tenant_id = ? AND id = ?")
			.bind(tenantId, id)
			.first<{ shards: string }>();
		if (!row) throw new AppError("not_found", 404, "No geofence with this id.");
		const keys = storedShards(row.shards);
		const now = new Date().toISOString();
		try {
			// The journal: the row as D1 holds it, which is what an undo puts back.
			await env.DB.prepare(
				`INSERT INTO geofence_staging (upload_id, tenant_id, id, name, fence, content_hash, shards, created_at)
				 SELECT ?1, tenant_id, id, name, fence, content_hash, shards, ?4 FROM geofences WHERE tenant_id = ?2 AND id = ?3`,
			)
				.bind(token, tenantId, id, now)
				.run();
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
		let results: D1Result[];
		try {
			results = await env.DB.batch([
				env.DB.prepare(
					`UPDATE tenants SET geofence_version = geofence_version + 1
					 WHERE id = ?1 AND EXISTS (SELECT 1 FROM geofence_locks WHERE tenant_id = ?1 AND token = ?2)`,
				).bind(tenantId, token),
				env.DB.prepare(
					`DELETE FROM geofences WHERE tenant_id = ?1 AND id = ?3
					 AND EXISTS (SELECT 1 FROM geofence_locks WHERE tenant_id = ?1 AND token = ?2)`,
				).bind(tenantId, token, id),
				env.DB.prepare("DELETE FROM geofence_staging WHERE upload_id = ?1 AND tenant_id = ?2").bind(
					token,
					tenantId,
				),
			]);
		} catch (error) {
			logFailure("delete commit", error);
			await undo(env, tenantId, token, suspects);
			throw unavailable();
		}
		if ((results[1]?.meta.changes ?? 0) === 0) {
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
		batch.push(
			env.DB.prepare(
				`INSERT INTO geofence_staging (upload_id, tenant_id, id, name, fence, content_hash, shards, created_at)
				 SELECT ?1, ?2, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
				   json_extract(value, '$[3]'), json_extract(value, '$[4]'), ?3
				 FROM json_each(?4)`,
			).bind(token, tenantId, now, `[${packed.join(",")}]`),
		);
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

/**
 * Moves the staged rows into `geofences` and bumps the version, in one transaction, if this
 * change still holds the lock. Returns the new version, or null when the lock was lost (then
 * nothing was written).
 */
async function commitUpload(env: Env, tenantId: string, token: string, now: string): Promise<number | null> {
	const holds = "EXISTS (SELECT 1 FROM geofence_locks WHERE tenant_id = ?1 AND token = ?2)";
	const [bumped] = await env.DB.batch([
		env.DB.prepare(
			`UPDATE tenants SET geofence_version = geofence_version + 1 WHERE id = ?1 AND ${holds}
			 RETURNING geofence_version`,
		).bind(tenantId, token),
		env.DB.prepare(
			`INSERT INTO geofences (tenant_id, id, name, fence, content_hash, shards, version, created_at, updated_at)
			 SELECT s.tenant_id, s.id, s.name, s.fence, s.content_hash, s.shards, t.geofence_version, ?3, ?3
			 FROM geofence_staging s JOIN tenants t ON t.id = s.tenant_id
			 WHERE s.upload_id = ?2 AND s.tenant_id = ?1 AND ${holds}
			 ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, fence = excluded.fence,
			   content_hash = excluded.content_hash, shards = excluded.shards, version = excluded.version,
			   updated_at = excluded.updated_at`,
		).bind(tenantId, token, now),
		env.DB.prepare(`DELETE FROM geofence_staging WHERE upload_id = ?2 AND tenant_id = ?1 AND ${holds}`).bind(
			tenantId,
			token,
		),
	]);
	const row = bumped?.results[0] as { geofence_version?: unknown } | undefined;
	return typeof row?.geofence_version === "number" ? row.geofence_version : null;
}

/** Shard object calls one change may make (Cloudflare allows 10,000 subrequests a request on Workers Paid). */
export const MAX_SHARD_CALLS = 8000;

/** The call budget in force: the `SHARD_MAX_CALLS` var (tests, tuning) when it is a positive integer, else {@link MAX_SHARD_CALLS}. */
export function shardMaxCalls(env: Env): number {
	const v = Number(env.SHARD_MAX_CALLS);
	return Number.isInteger(v) && v >= 1 ? v : MAX_SHARD_CALLS;
}
