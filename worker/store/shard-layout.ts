/**
 * What readers need of a tenant's shard layout: `geofence_splits` (the split cells, written by
 * worker/store/geofence-layout.ts under the geofence lock) and `geofence_replicas` (objects a hot
 * leaf has, raised by its primary shard object, worker/geoshard.ts `grow`, and lowered by it when the
 * leaf has been quiet, `checkReplicas`).
 */

/** The tenant's split cells. */
export async function splitCells(db: D1Database, tenantId: string): Promise<string[]> {
	const { results } = await db
		.prepare("SELECT cell FROM geofence_splits WHERE tenant_id = ?")
		.bind(tenantId)
		.all<{ cell: string }>();
	return results.map((r) => r.cell);
}

/** The split cells and the leaves with more than one object, read in one batch. */
export async function layoutRows(
	db: D1Database,
	tenantId: string,
): Promise<{ splits: string[]; replicas: [string, number][] }> {
	const [splits, replicas] = await db.batch([
		db.prepare("SELECT cell FROM geofence_splits WHERE tenant_id = ?").bind(tenantId),
		db
			.prepare("SELECT cell, replicas FROM geofence_replicas WHERE tenant_id = ? AND replicas > 1")
			.bind(tenantId),
	]);
	return {
		splits: ((splits?.results ?? []) as { cell: string }[]).map((r) => r.cell),
		replicas: ((replicas?.results ?? []) as { cell: string; replicas: number }[]).map((r) => [
			r.cell,
			r.replicas,
		]),
	};
}

/** Records that a leaf has `replicas` objects (never lowers a count already recorded). */
export async function raiseReplicas(
	db: D1Database,
	r: { tenantId: string; cell: string; replicas: number; rate: number; at: number },
): Promise<void> {
	await db
		.prepare(
			`INSERT INTO geofence_replicas (tenant_id, cell, replicas, rate, updated_at) VALUES (?, ?, ?, ?, ?)
			 ON CONFLICT (tenant_id, cell) DO UPDATE SET replicas = MAX(replicas, excluded.replicas), rate = excluded.rate, updated_at = excluded.updated_at`,
		)
		.bind(r.tenantId, r.cell, r.replicas, r.rate, r.at)
		.run();
}

/** Records that a leaf shrank to `replicas` objects (its primary alone decides, one change at a time). */
export async function lowerReplicas(
	db: D1Database,
	r: { tenantId: string; cell: string; replicas: number; rate: number; at: number },
): Promise<void> {
	await db
		.prepare(
			"UPDATE geofence_replicas SET replicas = ?, rate = ?, updated_at = ? WHERE tenant_id = ? AND cell = ?",
		)
		.bind(r.replicas, r.rate, r.at, r.tenantId, r.cell)
		.run();
}
