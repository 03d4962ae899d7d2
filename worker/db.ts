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
				`INSERT INTO decisions (id, tenant_id, user_id, trigger_type, trigger, campaign_id, variant_id, decision, reason, offer_id, created_at)
				 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
