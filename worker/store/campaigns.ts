/**
 * The `campaigns` table: each campaign stored whole as JSON; status, priority and trigger type
 * are columns for lookups.
 */
import { type Campaign, StoredCampaignSchema } from "../../src/schemas/campaign.js";

/** Campaigns of one trigger type that can produce a decision (active, or paused for the trace). */
export async function loadCampaigns(
	db: D1Database,
	tenantId: string,
	triggerType: "geofence" | "cart",
): Promise<Campaign[]> {
	const { results } = await db
		.prepare(
			"SELECT body FROM campaigns WHERE tenant_id = ? AND trigger_type = ? AND status IN ('active', 'paused')",
		)
		.bind(tenantId, triggerType)
		.all<{ body: string }>();
	return results.map((r) => StoredCampaignSchema.parse(JSON.parse(r.body)));
}

/** A stored body, parsed (stored bodies were validated on the way in). */
function stored(text: string): Campaign {
	return StoredCampaignSchema.parse(JSON.parse(text));
}

/** Inserts a campaign; false when the tenant already has one with this id. */
export async function insertCampaign(
	db: D1Database,
	tenantId: string,
	c: Campaign,
	now: string,
): Promise<boolean> {
	const res = await db
		.prepare(
			`INSERT INTO campaigns (tenant_id, id, status, priority, trigger_type, body, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) DO NOTHING`,
		)
		.bind(tenantId, c.id, c.status, c.priority, c.trigger.type, JSON.stringify(c), now, now)
		.run();
	return res.meta.changes > 0;
}

/** The tenant's campaigns by id (at most 1,000). */
export async function listCampaigns(db: D1Database, tenantId: string): Promise<Campaign[]> {
	const { results } = await db
		.prepare("SELECT body FROM campaigns WHERE tenant_id = ? ORDER BY id LIMIT 1000")
		.bind(tenantId)
		.all<{ body: string }>();
	return results.map((r) => stored(r.body));
}

/** One campaign of the tenant, or null. */
export async function campaignById(db: D1Database, tenantId: string, id: string): Promise<Campaign | null> {
	const row = await db
		.prepare("SELECT body FROM campaigns WHERE tenant_id = ? AND id = ?")
		.bind(tenantId, id)
		.first<{ body: string }>();
	return row ? stored(row.body) : null;
}

/** Replaces a campaign (its id stays). */
export async function updateCampaign(
	db: D1Database,
	tenantId: string,
	c: Campaign,
	now: string,
): Promise<void> {
	await db
		.prepare(
			"UPDATE campaigns SET status = ?, priority = ?, trigger_type = ?, body = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
		)
		.bind(c.status, c.priority, c.trigger.type, JSON.stringify(c), now, tenantId, c.id)
		.run();
}

/** Deletes a campaign; false when the tenant had none with this id. */
export async function deleteCampaign(db: D1Database, tenantId: string, id: string): Promise<boolean> {
	const res = await db
		.prepare("DELETE FROM campaigns WHERE tenant_id = ? AND id = ?")
		.bind(tenantId, id)
		.run();
	return res.meta.changes > 0;
}
