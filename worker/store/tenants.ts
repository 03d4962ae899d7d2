/**
 * The `tenants` table: settings, versions, the sealed cart-webhook secrets. One module per table
 * group (docs/architecture.md, "Data layer"): plain prepared statements, typed rows, nothing
 * else in the service writes SQL for these tables.
 */

/** A tenant's row, as the authentication and settings code reads it. */
export interface TenantRow {
	id: string;
	name: string;
	/** JSON of the stored settings (src/schemas/settings.ts `storedSettings`). */
	settings: string;
	geofence_version: number;
	campaign_version: number;
}

const TENANT_COLUMNS = "id, name, settings, geofence_version, campaign_version";

/** A tenant by id. */
export function tenantById(db: D1Database, tenantId: string): Promise<TenantRow | null> {
	return db.prepare(`SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = ?`).bind(tenantId).first<TenantRow>();
}

/** The new tenant's row; written in one batch with its keys ({@link import("./keys.js").insertKey}). */
export function insertTenant(
	db: D1Database,
	t: { id: string; name: string; settings: string; webhookSecretSealed: string; createdAt: string },
): D1PreparedStatement {
	return db
		.prepare(
			"INSERT INTO tenants (id, name, settings, geofence_version, webhook_secret_enc, created_at) VALUES (?, ?, ?, 0, ?, ?)",
		)
		.bind(t.id, t.name, t.settings, t.webhookSecretSealed, t.createdAt);
}

/** Replaces the tenant's settings (JSON). */
export async function updateSettings(db: D1Database, tenantId: string, settings: string): Promise<void> {
	await db.prepare("UPDATE tenants SET settings = ? WHERE id = ?").bind(settings, tenantId).run();
}

/** Counts a campaign change, so caches of compiled campaigns keyed by the version rebuild. */
export async function bumpCampaignVersion(db: D1Database, tenantId: string): Promise<void> {
	await db
		.prepare("UPDATE tenants SET campaign_version = campaign_version + 1 WHERE id = ?")
		.bind(tenantId)
		.run();
}

/** The sealed cart-webhook secret in force and the JSON list of previous ones. */
export interface WebhookSecretRow {
	webhook_secret_enc: string;
	webhook_secret_prev_enc: string | null;
}

export function webhookSecretRow(db: D1Database, tenantId: string): Promise<WebhookSecretRow | null> {
	return db
		.prepare("SELECT webhook_secret_enc, webhook_secret_prev_enc FROM tenants WHERE id = ?")
		.bind(tenantId)
		.first<WebhookSecretRow>();
}

/** Stores a new sealed webhook secret with the previous ones still in their grace period. */
export async function updateWebhookSecret(
	db: D1Database,
	tenantId: string,
	w: { sealed: string; previous: string; previousExpiresAt: string },
): Promise<void> {
	await db
		.prepare(
			`UPDATE tenants SET webhook_secret_enc = ?, webhook_secret_prev_enc = ?, webhook_secret_prev_expires_at = ?
			  WHERE id = ?`,
		)
		.bind(w.sealed, w.previous, w.previousExpiresAt, tenantId)
		.run();
}

/** Tenants after `afterId`, by id (the retention sweep walks them a page at a time). */
export async function tenantsPage(
	db: D1Database,
	afterId: string,
	limit: number,
): Promise<{ id: string; settings: string }[]> {
	const { results } = await db
		.prepare("SELECT id, settings FROM tenants WHERE id > ? ORDER BY id LIMIT ?")
		.bind(afterId, limit)
		.all<{ id: string; settings: string }>();
	return results;
}
