/** The `webhooks` table: outgoing webhooks (their deliveries live in each one's outbox object). */

/** A webhook's row (the sealed secret is never read back here). */
export interface WebhookRow {
	id: string;
	url: string;
	/** JSON array of event types. */
	events: string;
	description: string | null;
	created_at: string;
	disabled_at: string | null;
	disabled_reason: string | null;
}

const COLUMNS = "id, url, events, description, created_at, disabled_at, disabled_reason";

/** The tenant's webhook, or null (another tenant's is just as unknown). */
export function webhookOfTenant(db: D1Database, id: string, tenantId: string): Promise<WebhookRow | null> {
	return db
		.prepare(`SELECT ${COLUMNS} FROM webhooks WHERE id = ? AND tenant_id = ?`)
		.bind(id, tenantId)
		.first<WebhookRow>();
}

/** The tenant's webhooks, oldest first. */
export async function listWebhooks(db: D1Database, tenantId: string): Promise<WebhookRow[]> {
	const { results } = await db
		.prepare(`SELECT ${COLUMNS} FROM webhooks WHERE tenant_id = ? ORDER BY created_at, id`)
		.bind(tenantId)
		.all<WebhookRow>();
	return results;
}

/** How many webhooks the tenant has. */
export async function countWebhooks(db: D1Database, tenantId: string): Promise<number> {
	const row = await db
		.prepare("SELECT COUNT(*) AS n FROM webhooks WHERE tenant_id = ?")
		.bind(tenantId)
		.first<{ n: number }>();
	return row?.n ?? 0;
}

/** Writes a new webhook. */
export async function insertWebhook(
	db: D1Database,
	w: {
		id: string;
		tenantId: string;
		url: string;
		events: string;
		description: string | null;
		secretSealed: string;
		createdAt: string;
	},
): Promise<void> {
	await db
		.prepare(
			"INSERT INTO webhooks (id, tenant_id, url, events, description, secret_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		)
		.bind(w.id, w.tenantId, w.url, w.events, w.description, w.secretSealed, w.createdAt)
		.run();
}

/** Deletes the tenant's webhook row. */
export async function deleteWebhook(db: D1Database, id: string, tenantId: string): Promise<void> {
	await db.prepare("DELETE FROM webhooks WHERE id = ? AND tenant_id = ?").bind(id, tenantId).run();
}

/** Marks a webhook disabled (its endpoint answered 410), once. */
export async function disableWebhook(db: D1Database, id: string, at: string, reason: string): Promise<void> {
	await db
		.prepare("UPDATE webhooks SET disabled_at = ?, disabled_reason = ? WHERE id = ? AND disabled_at IS NULL")
		.bind(at, reason, id)
		.run();
}
