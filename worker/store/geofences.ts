/**
 * The `geofences` table and what the geofence write engine (worker/geofences/) keeps beside it:
 * `geofence_staging` (the journal of a change in progress), `geofence_locks` (one change a tenant
 * at a time) and the tenant's `geofence_version`. Reads return typed rows; the statements a change
 * commits in one `DB.batch` (one transaction) are returned as prepared statements for the engine
 * to compose, the writes carrying the lock condition ({@link HOLDS_LOCK}).
 */

/** A stored fence: its id and its normalized JSON (src/geo/types.ts Fence). */
export interface GeofenceRow {
	id: string;
	fence: string;
}

/** What to list: ids after `after`, at most `limit`, optionally filtered. */
export interface GeofenceListing {
	after: string;
	limit: number;
	/** Only fences whose id or name contains this text (ASCII letters compared case-insensitively). */
	text?: string;
	/** Only fences with exactly this tag. */
	tag?: string;
}

/** A page of the tenant's fences in id order (filters apply to every stored fence, not to a page). */
export async function listGeofences(
	db: D1Database,
	tenantId: string,
	l: GeofenceListing,
): Promise<GeofenceRow[]> {
	const { results } = await db
		.prepare(
			`SELECT id, fence FROM geofences
			  WHERE tenant_id = ?1 AND id > ?2
			    AND (?3 IS NULL OR instr(lower(id), lower(?3)) > 0 OR instr(lower(name), lower(?3)) > 0)
			    AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(fence, '$.tags') WHERE value = ?4))
			  ORDER BY id LIMIT ?5`,
		)
		.bind(tenantId, l.after, l.text ?? null, l.tag ?? null, l.limit)
		.all<GeofenceRow>();
	return results;
}

/** One fence's normalized JSON, or null. */
export async function getGeofence(db: D1Database, tenantId: string, id: string): Promise<string | null> {
	const row = await db
		.prepare("SELECT fence FROM geofences WHERE tenant_id = ? AND id = ?")
		.bind(tenantId, id)
		.first<{ fence: string }>();
	return row?.fence ?? null;
}

/**
 * SQL condition: the change whose lock token is `?2` still holds tenant `?1`'s geofence lock.
 * Every statement of a change's commit carries it, so a change whose lock lapsed writes nothing.
 */
export const HOLDS_LOCK = "EXISTS (SELECT 1 FROM geofence_locks WHERE tenant_id = ?1 AND token = ?2)";

/** What D1 holds of a fence for comparing an upload: content hash, shard list (JSON), size of its JSON. */
export interface FenceStateRow {
	id: string;
	content_hash: string;
	shards: string;
	bytes: number;
}

/** A stored fence with its shard list (JSON). */
export interface FenceShardsRow {
	id: string;
	fence: string;
	shards: string;
}

/** Fences and bytes of fence JSON one shard object holds, as the stored shard lists record it. */
export interface ShardLoadRow {
	key: string;
	fences: number;
	bytes: number;
}

// --- geofence_locks -----------------------------------------------------------------------------

/**
 * Takes tenant's geofence lock with `token` until `expiresAt`, unless another holder's lock is
 * still in force at `now`. True when this token holds it.
 */
export async function takeGeofenceLock(
	db: D1Database,
	tenantId: string,
	token: string,
	now: number,
	expiresAt: number,
): Promise<boolean> {
	const got = await db
		.prepare(
			`INSERT INTO geofence_locks (tenant_id, token, expires_at) VALUES (?1, ?2, ?3)
		 ON CONFLICT (tenant_id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
		 WHERE geofence_locks.expires_at <= ?4
		 RETURNING token`,
		)
		.bind(tenantId, token, expiresAt, now)
		.first<{ token: string }>();
	return got?.token === token;
}

/** When the tenant's geofence lock expires (ms since the epoch), or null when nobody holds it. */
export async function geofenceLockExpiry(db: D1Database, tenantId: string): Promise<number | null> {
	const held = await db
		.prepare("SELECT expires_at FROM geofence_locks WHERE tenant_id = ?")
		.bind(tenantId)
		.first<{ expires_at: number }>();
	return held?.expires_at ?? null;
}

/** Releases the tenant's geofence lock if `token` still holds it. */
export async function releaseGeofenceLock(db: D1Database, tenantId: string, token: string): Promise<void> {
	await db
		.prepare("DELETE FROM geofence_locks WHERE tenant_id = ? AND token = ?")
		.bind(tenantId, token)
		.run();
}

// --- tenants.geofence_version -------------------------------------------------------------------

/** The tenant's geofence version as D1 holds it now, or null when there is no such tenant. */
export async function geofenceVersion(db: D1Database, tenantId: string): Promise<number | null> {
	const row = await db
		.prepare("SELECT geofence_version AS v FROM tenants WHERE id = ?")
		.bind(tenantId)
		.first<{ v: number }>();
	return row?.v ?? null;
}

/** Bumps the tenant's geofence version, while the change holds the lock (for a layout change's batch). */
export function bumpVersionStatement(db: D1Database, tenantId: string, token: string): D1PreparedStatement {
	return db
		.prepare(`UPDATE tenants SET geofence_version = geofence_version + 1 WHERE id = ?1 AND ${HOLDS_LOCK}`)
		.bind(tenantId, token);
}

// --- geofences ----------------------------------------------------------------------------------

/** Hash, shard list and size of these fences (ids as given, at most a few thousand). */
export async function fenceStates(db: D1Database, tenantId: string, ids: string[]): Promise<FenceStateRow[]> {
	const { results } = await db
		.prepare(
			"SELECT id, content_hash, shards, length(fence) AS bytes FROM geofences WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))",
		)
		.bind(tenantId, JSON.stringify(ids))
		.all<FenceStateRow>();
	return results;
}

/** These fences (ids as given, at most a few thousand) with their shard lists; missing ids are absent. */
export async function fencesWithShards(
	db: D1Database,
	tenantId: string,
	ids: string[],
): Promise<FenceShardsRow[]> {
	const { results } = await db
		.prepare(
			"SELECT id, fence, shards FROM geofences WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))",
		)
		.bind(tenantId, JSON.stringify(ids))
		.all<FenceShardsRow>();
	return results;
}

/** One fence's shard list (JSON), or null when D1 has no such fence. */
export async function fenceShardList(db: D1Database, tenantId: string, id: string): Promise<string | null> {
	const row = await db
		.prepare("SELECT shards FROM geofences WHERE tenant_id = ? AND id = ?")
		.bind(tenantId, id)
		.first<{ shards: string }>();
	return row?.shards ?? null;
}

/** What every shard object of the tenant holds as the stored shard lists record it: one scan. */
export async function shardLoads(db: D1Database, tenantId: string): Promise<ShardLoadRow[]> {
	const { results } = await db
		.prepare(
			`SELECT j.value AS key, count(*) AS fences, sum(length(g.fence)) AS bytes
		 FROM geofences g, json_each(g.shards) j WHERE g.tenant_id = ? GROUP BY j.value`,
		)
		.bind(tenantId)
		.all<ShardLoadRow>();
	return results;
}

/**
 * Sets moved fences' shard lists from `part`, a JSON object of id to shard key list (ids not
 * stored are skipped), while the change holds the lock (for a layout change's batch).
 */
export function shardListsStatement(
	db: D1Database,
	tenantId: string,
	token: string,
	part: string,
): D1PreparedStatement {
	return db
		.prepare(
			`UPDATE geofences SET shards = json_extract(?3, '$."' || id || '"')
			 WHERE tenant_id = ?1 AND id IN (SELECT key FROM json_each(?3)) AND ${HOLDS_LOCK}`,
		)
		.bind(tenantId, token, part);
}

// --- geofence_staging ---------------------------------------------------------------------------

/**
 * Stages rows of an upload: `packed` is a JSON array of `[id, name, fence, content_hash, shards]`
 * (at most about 1 MB: a bound value may be at most 2 MB). The engine batches these.
 */
export function stageRowsStatement(
	db: D1Database,
	tenantId: string,
	token: string,
	now: string,
	packed: string,
): D1PreparedStatement {
	return db
		.prepare(
			`INSERT INTO geofence_staging (upload_id, tenant_id, id, name, fence, content_hash, shards, created_at)
				 SELECT ?1, ?2, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
				   json_extract(value, '$[3]'), json_extract(value, '$[4]'), ?3
				 FROM json_each(?4)`,
		)
		.bind(token, tenantId, now, packed);
}

/** Stages a copy of the fence as D1 holds it (a delete's journal, which an undo puts back). */
export async function stageStoredFence(
	db: D1Database,
	tenantId: string,
	token: string,
	id: string,
	now: string,
): Promise<void> {
	await db
		.prepare(
			`INSERT INTO geofence_staging (upload_id, tenant_id, id, name, fence, content_hash, shards, created_at)
				 SELECT ?1, tenant_id, id, name, fence, content_hash, shards, ?4 FROM geofences WHERE tenant_id = ?2 AND id = ?3`,
		)
		.bind(token, tenantId, id, now)
		.run();
}

/** Every staged row of the tenant, of any change: what a change that never finished left behind. */
export async function stagedFences(
	db: D1Database,
	tenantId: string,
): Promise<{ id: string; shards: string }[]> {
	const { results } = await db
		.prepare("SELECT id, shards FROM geofence_staging WHERE tenant_id = ?")
		.bind(tenantId)
		.all<{ id: string; shards: string }>();
	return results;
}

/** Drops every staged row of the tenant. */
export async function dropTenantStaging(db: D1Database, tenantId: string): Promise<void> {
	await db.prepare("DELETE FROM geofence_staging WHERE tenant_id = ?").bind(tenantId).run();
}

/** Drops one change's staged rows. */
export async function dropChangeStaging(db: D1Database, token: string): Promise<void> {
	await db.prepare("DELETE FROM geofence_staging WHERE upload_id = ?").bind(token).run();
}

// --- commits (one DB.batch each: one transaction) -----------------------------------------------

/**
 * Moves the change's staged rows into `geofences` and bumps the version, in one transaction, if
 * the change still holds the lock. The new version, or null when the lock was lost (then nothing
 * was written).
 */
export async function commitStagedFences(
	db: D1Database,
	tenantId: string,
	token: string,
	now: string,
): Promise<number | null> {
	const [bumped] = await db.batch([
		db
			.prepare(
				`UPDATE tenants SET geofence_version = geofence_version + 1 WHERE id = ?1 AND ${HOLDS_LOCK}
			 RETURNING geofence_version`,
			)
			.bind(tenantId, token),
		db
			.prepare(
				`INSERT INTO geofences (tenant_id, id, name, fence, content_hash, shards, version, created_at, updated_at)
			 SELECT s.tenant_id, s.id, s.name, s.fence, s.content_hash, s.shards, t.geofence_version, ?3, ?3
			 FROM geofence_staging s JOIN tenants t ON t.id = s.tenant_id
			 WHERE s.upload_id = ?2 AND s.tenant_id = ?1 AND ${HOLDS_LOCK}
			 ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, fence = excluded.fence,
			   content_hash = excluded.content_hash, shards = excluded.shards, version = excluded.version,
			   updated_at = excluded.updated_at`,
			)
			.bind(tenantId, token, now),
		db
			.prepare(`DELETE FROM geofence_staging WHERE upload_id = ?2 AND tenant_id = ?1 AND ${HOLDS_LOCK}`)
			.bind(tenantId, token),
	]);
	const row = bumped?.results[0] as { geofence_version?: unknown } | undefined;
	return typeof row?.geofence_version === "number" ? row.geofence_version : null;
}

/**
 * Deletes the fence and bumps the version while the change holds the lock, and drops the change's
 * journal, in one transaction. False when nothing was deleted (the lock was lost).
 */
export async function commitFenceDelete(
	db: D1Database,
	tenantId: string,
	token: string,
	id: string,
): Promise<boolean> {
	const results = await db.batch([
		db
			.prepare(`UPDATE tenants SET geofence_version = geofence_version + 1 WHERE id = ?1 AND ${HOLDS_LOCK}`)
			.bind(tenantId, token),
		db
			.prepare(`DELETE FROM geofences WHERE tenant_id = ?1 AND id = ?3 AND ${HOLDS_LOCK}`)
			.bind(tenantId, token, id),
		db.prepare("DELETE FROM geofence_staging WHERE upload_id = ?1 AND tenant_id = ?2").bind(token, tenantId),
	]);
	return (results[1]?.meta.changes ?? 0) > 0;
}
