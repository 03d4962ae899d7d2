import type { OfferLinks } from "../src/offers/click.js";
import type { Decision, TriggerEvent } from "../src/offers/decide.js";
import { type Campaign, StoredCampaignSchema } from "../src/schemas/campaign.js";
import { iso } from "./http.js";

/** Campaigns of one trigger type that can produce a decision (active, or paused for the trace). */
export async function loadCampaigns(
	env: Env,
	tenantId: string,
	triggerType: "geofence" | "cart",
): Promise<Campaign[]> {
	const { results } = await env.DB.prepare(
		"SELECT body FROM campaigns WHERE tenant_id = ? AND trigger_type = ? AND status IN ('active', 'paused')",
	)
		.bind(tenantId, triggerType)
		.all<{ body: string }>();
	return results.map((r) => StoredCampaignSchema.parse(JSON.parse(r.body)));
}

/** pending: copies are being retried; expired: the TTL passed before any copy got through. */
export type OfferStatus = "pending" | "accepted" | "failed" | "gone" | "expired";

export interface OfferRecord {
	id: string;
	campaignId: string;
	variantId: string | null;
	geofenceId: string | null;
	triggerType: "geofence" | "cart";
	/** Where the offer's links lead, for the click redirect. */
	links: OfferLinks | null;
	status: OfferStatus;
	attempts: number;
	expiresAt: number;
}

/** Writes the decision trace (and the offers that left) in one D1 batch. */
export async function recordDecisions(
	env: Env,
	tenantId: string,
	userId: string,
	records: { trigger: TriggerEvent; decision: Decision; offer: OfferRecord | null }[],
	now: number,
): Promise<void> {
	if (records.length === 0) return;
	const at = iso(now);
	const stmts: D1PreparedStatement[] = [];
	for (const { trigger, decision, offer } of records) {
		stmts.push(
			env.DB.prepare(
				`INSERT INTO decisions (id, tenant_id, user_id, trigger_type, trigger, campaign_id, variant_id, decision, reason, offer_id, created_at, audience_failed)
				 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			).bind(
				crypto.randomUUID(),
				tenantId,
				userId,
				trigger.type,
				JSON.stringify(
					trigger.type === "geofence"
						? { type: trigger.type, on: trigger.on, geofenceId: trigger.fence.id, at: iso(trigger.at) }
						: {
								type: trigger.type,
								event: trigger.event,
								skus: trigger.items.map((i) => i.sku),
								at: iso(trigger.at),
							},
				),
				decision.campaign.id,
				decision.variant?.id ?? null,
				decision.decision,
				decision.decision === "suppressed" ? decision.reason : null,
				offer?.id ?? null,
				at,
				decision.decision === "suppressed" && decision.failed ? JSON.stringify(decision.failed) : null,
			),
		);
		if (offer) {
			stmts.push(
				env.DB.prepare(
					`INSERT INTO offers (id, tenant_id, user_id, campaign_id, variant_id, geofence_id, trigger_type, links, status, attempts, created_at, expires_at)
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				).bind(
					offer.id,
					tenantId,
					userId,
					offer.campaignId,
					offer.variantId,
					offer.geofenceId,
					offer.triggerType,
					offer.links ? JSON.stringify(offer.links) : null,
					offer.status,
					offer.attempts,
					at,
					iso(offer.expiresAt),
				),
			);
		}
	}
	await env.DB.batch(stmts);
}

/** Credits a purchase to an offer (or its holdout group); a retried purchase event credits once. */
export async function recordConversion(
	env: Env,
	tenantId: string,
	userId: string,
	exposure: { campaignId: string; variantId: string | null; offerId: string | null; holdout: boolean },
	eventId: string,
	revenue: number,
	now: number,
): Promise<void> {
	await env.DB.prepare(
		`INSERT INTO conversions (id, tenant_id, user_id, campaign_id, variant_id, offer_id, holdout, event_id, revenue, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, event_id) DO NOTHING`,
	)
		.bind(
			crypto.randomUUID(),
			tenantId,
			userId,
			exposure.campaignId,
			exposure.variantId,
			exposure.offerId,
			exposure.holdout ? 1 : 0,
			eventId,
			revenue,
			iso(now),
		)
		.run();
}

/**
 * Counts retry attempts, and records the final (or accepted) outcome of an offer when
 * `status` is given; an accepted offer stays accepted.
 */
export async function updateOfferStatus(
	env: Env,
	offerId: string,
	status: OfferStatus | null,
	attempts: number,
): Promise<void> {
	await env.DB.prepare(
		`UPDATE offers SET attempts = attempts + ?,
		   status = CASE WHEN ?2 IS NULL OR status = 'accepted' THEN status ELSE ?2 END
		 WHERE id = ?3`,
	)
		.bind(attempts, status, offerId)
		.run();
}

/**
 * Reserves a cart eventId for one person of the tenant: true when it is theirs (new, or
 * theirs already: the person's object answers duplicates), false when another person owns it.
 */
export async function claimCartEventId(
	env: Env,
	tenantId: string,
	eventId: string,
	userId: string,
	now: number,
): Promise<boolean> {
	const owner = await env.DB.prepare(
		`INSERT INTO cart_events (tenant_id, event_id, user_id, created_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (tenant_id, event_id) DO UPDATE SET event_id = excluded.event_id
		 RETURNING user_id`,
	)
		.bind(tenantId, eventId, userId, iso(now))
		.first<{ user_id: string }>();
	return !owner || owner.user_id === userId;
}

/** Every D1 row about one person, for GET /v1/users/{userId}/export. */
export async function userRows(env: Env, tenantId: string, userId: string) {
	const [decisions, offers, offerEvents, conversions, cartEvents] = await env.DB.batch<
		Record<string, unknown>
	>([
		env.DB.prepare(
			`SELECT trigger, campaign_id, variant_id, decision, reason, offer_id, created_at, audience_failed
			   FROM decisions WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, rowid`,
		).bind(tenantId, userId),
		env.DB.prepare(
			`SELECT id, campaign_id, variant_id, geofence_id, trigger_type, status, attempts, created_at, expires_at
			   FROM offers WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, rowid`,
		).bind(tenantId, userId),
		env.DB.prepare(
			`SELECT e.offer_id, e.type, e.action, e.created_at FROM offer_events e
			   JOIN offers o ON o.id = e.offer_id AND o.tenant_id = e.tenant_id
			  WHERE e.tenant_id = ? AND o.user_id = ? ORDER BY e.created_at, e.rowid`,
		).bind(tenantId, userId),
		env.DB.prepare(
			`SELECT campaign_id, variant_id, offer_id, holdout, event_id, revenue, created_at
			   FROM conversions WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, rowid`,
		).bind(tenantId, userId),
		env.DB.prepare(
			"SELECT event_id, created_at FROM cart_events WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, rowid",
		).bind(tenantId, userId),
	]);
	const rows = (r: D1Result<Record<string, unknown>> | undefined) => r?.results ?? [];
	return {
		decisions: rows(decisions).map((r) => ({
			trigger: JSON.parse(String(r.trigger)) as unknown,
			campaignId: r.campaign_id,
			variantId: r.variant_id,
			decision: r.decision,
			reason: r.reason,
			offerId: r.offer_id,
			at: r.created_at,
			...(typeof r.audience_failed === "string" ? { failed: JSON.parse(r.audience_failed) as unknown } : {}),
		})),
		offers: rows(offers).map((r) => ({
			offerId: r.id,
			campaignId: r.campaign_id,
			variantId: r.variant_id,
			geofenceId: r.geofence_id,
			triggerType: r.trigger_type,
			status: r.status,
			attempts: r.attempts,
			createdAt: r.created_at,
			expiresAt: r.expires_at,
		})),
		offerEvents: rows(offerEvents).map((r) => ({
			offerId: r.offer_id,
			type: r.type,
			action: r.action,
			at: r.created_at,
		})),
		conversions: rows(conversions).map((r) => ({
			campaignId: r.campaign_id,
			variantId: r.variant_id,
			offerId: r.offer_id,
			holdout: r.holdout === 1,
			eventId: r.event_id,
			revenue: r.revenue,
			at: r.created_at,
		})),
		cartEvents: rows(cartEvents).map((r) => ({ eventId: r.event_id, at: r.created_at })),
	};
}

/** Deletes every D1 row about one person (one transaction): the erasure's half outside their object. */
export async function eraseUserRows(env: Env, tenantId: string, userId: string): Promise<void> {
	await env.DB.batch([
		env.DB.prepare(
			"DELETE FROM offer_events WHERE tenant_id = ? AND offer_id IN (SELECT id FROM offers WHERE tenant_id = ? AND user_id = ?)",
		).bind(tenantId, tenantId, userId),
		env.DB.prepare("DELETE FROM conversions WHERE tenant_id = ? AND user_id = ?").bind(tenantId, userId),
		env.DB.prepare("DELETE FROM decisions WHERE tenant_id = ? AND user_id = ?").bind(tenantId, userId),
		env.DB.prepare("DELETE FROM offers WHERE tenant_id = ? AND user_id = ?").bind(tenantId, userId),
		env.DB.prepare("DELETE FROM cart_events WHERE tenant_id = ? AND user_id = ?").bind(tenantId, userId),
	]);
}

/**
 * Retention: deletes the tenant's decisions, offers, their events, conversions and cart
 * events created before `before`, in bounded slices so one tenant's backlog never holds
 * the database for long. Returns how many rows went.
 */
export async function deleteOlderThan(
	env: Env,
	tenantId: string,
	before: number,
	slice = 5000,
): Promise<number> {
	const cutoff = iso(before);
	let total = 0;
	for (const table of ["offer_events", "conversions", "decisions", "offers", "cart_events"]) {
		for (;;) {
			const r = await env.DB.prepare(
				`DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE tenant_id = ? AND created_at < ? LIMIT ?)`,
			)
				.bind(tenantId, cutoff, slice)
				.run();
			const n = r.meta.changes ?? 0;
			total += n;
			if (n < slice) break;
		}
	}
	return total;
}
