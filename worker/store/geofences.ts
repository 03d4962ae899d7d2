/**
 * The `geofences` table as the routes read it (the catalog GET lists). The upload, delete, split
 * and merge paths (worker/routes/geofences.ts) still hold their own statements: they run inside
 * the geofence lock in batches that span several tables (docs/architecture.md, "Data layer").
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
