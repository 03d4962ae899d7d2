/**
 * The `geofence_imports` and `geofence_import_parts` tables (migration 0007): staged imports and
 * their chunks, stored as parts of normalized fence JSON (worker/routes/geofence-imports.ts).
 */

/** An import as the routes need it. */
export interface ImportRow {
	id: string;
	status: "open" | "committed";
	expires_at: number;
	result: string | null;
}

/** One stored part of a chunk: a JSON array of normalized fences. */
export interface ImportPartRow {
	chunk: number;
	part: number;
	body: string;
}

/** The tenant's import, or null (another tenant's import is null too). */
export function findImportRow(db: D1Database, tenantId: string, id: string): Promise<ImportRow | null> {
	return db
		.prepare("SELECT id, status, expires_at, result FROM geofence_imports WHERE id = ? AND tenant_id = ?")
		.bind(id, tenantId)
		.first<ImportRow>();
}

/** How many imports the tenant has open. */
export async function countOpenImports(db: D1Database, tenantId: string): Promise<number> {
	const row = await db
		.prepare("SELECT count(*) AS n FROM geofence_imports WHERE tenant_id = ? AND status = 'open'")
		.bind(tenantId)
		.first<{ n: number }>();
	return row?.n ?? 0;
}

/** A new open import. */
export async function insertImport(
	db: D1Database,
	i: { id: string; tenantId: string; createdAt: number; expiresAt: number },
): Promise<void> {
	await db
		.prepare(
			"INSERT INTO geofence_imports (id, tenant_id, status, created_at, expires_at) VALUES (?, ?, 'open', ?, ?)",
		)
		.bind(i.id, i.tenantId, i.createdAt, i.expiresAt)
		.run();
}

/** Drops the tenant's imports past their expiry (open or committed), parts first, in one batch. */
export async function deleteExpiredImports(db: D1Database, tenantId: string, now: number): Promise<void> {
	await db.batch([
		db
			.prepare(
				"DELETE FROM geofence_import_parts WHERE import_id IN (SELECT id FROM geofence_imports WHERE tenant_id = ? AND expires_at <= ?)",
			)
			.bind(tenantId, now),
		db.prepare("DELETE FROM geofence_imports WHERE tenant_id = ? AND expires_at <= ?").bind(tenantId, now),
	]);
}

/** Features and stored characters of every chunk but `chunk` (what a replacement adds to). */
export async function otherChunksSize(
	db: D1Database,
	importId: string,
	chunk: number,
): Promise<{ features: number; chars: number }> {
	const row = await db
		.prepare(
			"SELECT coalesce(sum(features), 0) AS n, coalesce(sum(length(body)), 0) AS chars FROM geofence_import_parts WHERE import_id = ? AND chunk != ?",
		)
		.bind(importId, chunk)
		.first<{ n: number; chars: number }>();
	return { features: row?.n ?? 0, chars: row?.chars ?? 0 };
}

/**
 * Replaces a chunk with these parts: the old parts are deleted in the same batch (one
 * transaction) as the first new ones, then the rest follow `perBatch` parts a batch.
 */
export async function replaceChunk(
	db: D1Database,
	importId: string,
	chunk: number,
	parts: { features: number; body: string }[],
	perBatch: number,
): Promise<void> {
	const statements: D1PreparedStatement[] = [
		db.prepare("DELETE FROM geofence_import_parts WHERE import_id = ? AND chunk = ?").bind(importId, chunk),
	];
	parts.forEach((p, part) => {
		statements.push(
			db
				.prepare(
					"INSERT INTO geofence_import_parts (import_id, chunk, part, features, body) VALUES (?, ?, ?, ?, ?)",
				)
				.bind(importId, chunk, part, p.features, p.body),
		);
	});
	for (let i = 0; i < statements.length; i += perBatch + 1)
		await db.batch(statements.slice(i, i + perBatch + 1));
}

/** Features received per chunk, in chunk order. */
export async function chunkCounts(
	db: D1Database,
	importId: string,
): Promise<{ chunk: number; features: number }[]> {
	const { results } = await db
		.prepare(
			"SELECT chunk, sum(features) AS features FROM geofence_import_parts WHERE import_id = ? GROUP BY chunk ORDER BY chunk",
		)
		.bind(importId)
		.all<{ chunk: number; features: number }>();
	return results;
}

/** The parts after the given position (chunk * 100,000 + part), in order, at most `limit`. */
export async function partsAfter(
	db: D1Database,
	importId: string,
	after: number,
	limit: number,
): Promise<ImportPartRow[]> {
	const { results } = await db
		.prepare(
			"SELECT chunk, part, body FROM geofence_import_parts WHERE import_id = ? AND (chunk * 100000 + part) > ? ORDER BY chunk, part LIMIT ?",
		)
		.bind(importId, after, limit)
		.all<ImportPartRow>();
	return results;
}

/** Marks the import committed with its answer and drops its parts, in one transaction. */
export async function markCommitted(
	db: D1Database,
	importId: string,
	result: string,
	at: number,
): Promise<void> {
	await db.batch([
		db
			.prepare("UPDATE geofence_imports SET status = 'committed', committed_at = ?, result = ? WHERE id = ?")
			.bind(at, result, importId),
		db.prepare("DELETE FROM geofence_import_parts WHERE import_id = ?").bind(importId),
	]);
}

/** Deletes an import and its parts. */
export async function deleteImport(db: D1Database, importId: string): Promise<void> {
	await db.batch([
		db.prepare("DELETE FROM geofence_import_parts WHERE import_id = ?").bind(importId),
		db.prepare("DELETE FROM geofence_imports WHERE id = ?").bind(importId),
	]);
}
