/**
 * The tenant's shard layout tables: `geofence_splits` (split cells, and when their objects were
 * emptied) and `geofence_retired` (objects of leaves merged away, emptied later). The statements a
 * split or merge commits in one `DB.batch` with the moved fences' shard lists and the version bump
 * (worker/store/geofences.ts) are returned as prepared statements, each only while the change
 * holds the tenant's geofence lock ({@link HOLDS_LOCK}: `?1` tenant, `?2` lock token).
 * Readers load the layout with worker/shards.ts (loadSplits, loadLayout).
 */
import { HOLDS_LOCK } from "./geofences.js";

/** Records new split cells (already recorded ones kept as they are). Changes nothing without the lock. */
export function recordSplitsStatement(
	db: D1Database,
	tenantId: string,
	token: string,
	cells: string[],
	at: number,
): D1PreparedStatement {
	return db
		.prepare(
			`INSERT INTO geofence_splits (tenant_id, cell, created_at) SELECT ?1, value, ?4 FROM json_each(?3) WHERE ${HOLDS_LOCK}
			 ON CONFLICT (tenant_id, cell) DO NOTHING`,
		)
		.bind(tenantId, token, JSON.stringify(cells), at);
}

/** Drops a split (its cell is a leaf again). Changes nothing without the lock. */
export function dropSplitStatement(
	db: D1Database,
	tenantId: string,
	token: string,
	cell: string,
): D1PreparedStatement {
	return db
		.prepare(`DELETE FROM geofence_splits WHERE tenant_id = ?1 AND cell = ?3 AND ${HOLDS_LOCK}`)
		.bind(tenantId, token, cell);
}

/** Retires shard objects as of `at` (a key retired again gets the later time). Changes nothing without the lock. */
export function retireKeysStatement(
	db: D1Database,
	tenantId: string,
	token: string,
	keys: string[],
	at: number,
): D1PreparedStatement {
	return db
		.prepare(
			`INSERT INTO geofence_retired (tenant_id, key, retired_at) SELECT ?1, value, ?4 FROM json_each(?3) WHERE ${HOLDS_LOCK}
				 ON CONFLICT (tenant_id, key) DO UPDATE SET retired_at = excluded.retired_at`,
		)
		.bind(tenantId, token, JSON.stringify(keys), at);
}

/** Split cells made before `before` whose objects were not emptied yet. */
export async function splitsToClear(db: D1Database, tenantId: string, before: number): Promise<string[]> {
	const { results } = await db
		.prepare("SELECT cell FROM geofence_splits WHERE tenant_id = ? AND cleared_at IS NULL AND created_at < ?")
		.bind(tenantId, before)
		.all<{ cell: string }>();
	return results.map((r) => r.cell);
}

/** Records that these split cells' objects were emptied at `at`. */
export async function markSplitsCleared(
	db: D1Database,
	tenantId: string,
	cells: string[],
	at: number,
): Promise<void> {
	await db
		.prepare(
			"UPDATE geofence_splits SET cleared_at = ? WHERE tenant_id = ? AND cell IN (SELECT value FROM json_each(?))",
		)
		.bind(at, tenantId, JSON.stringify(cells))
		.run();
}

/** Shard keys retired before `before`. */
export async function retiredKeys(db: D1Database, tenantId: string, before: number): Promise<string[]> {
	const { results } = await db
		.prepare("SELECT key FROM geofence_retired WHERE tenant_id = ? AND retired_at < ?")
		.bind(tenantId, before)
		.all<{ key: string }>();
	return results.map((r) => r.key);
}

/** Forgets these retired keys (their objects were emptied, or they are leaves again). */
export async function forgetRetiredKeys(db: D1Database, tenantId: string, keys: string[]): Promise<void> {
	await db
		.prepare("DELETE FROM geofence_retired WHERE tenant_id = ? AND key IN (SELECT value FROM json_each(?))")
		.bind(tenantId, JSON.stringify(keys))
		.run();
}
