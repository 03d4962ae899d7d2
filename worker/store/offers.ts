/**
 * The person's rows outside their Durable Object: `decisions`, `offers`, `offer_events`,
 * `conversions` and `cart_events` (the funnel's tables), written by the person's object and
 * the tracking routes, read by the export and the routes, cleared by erasure and retention.
 */
import type { Decision, TriggerEvent } from "../../src/offers/decide.js";
import type { OfferStatus } from "../../src/person/delivery.js";
import type { OfferRecord } from "../../src/person/step.js";
import { iso } from "../http.js";

/** The offers table's row and status are the person core's (src/person). */
export type { OfferRecord, OfferStatus };

/** Writes the decision trace (and the offers that left) in one D1 batch. */
export async function recordDecisions(
	db: D1Database,
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
			db
				.prepare(
					`INSERT INTO decisions (id, tenant_id, user_id, trigger_type, trigger, campaign_id, variant_id, decision, reason, offer_id, created_at, audience_failed)
				 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				)
				.bind(
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
				db
					.prepare(
						`INSERT INTO offers (id, tenant_id, user_id, campaign_id, variant_id, geofence_id, trigger_type, links, status, attempts, created_at, expires_at)
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					)
					.bind(
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
	await db.batch(stmts);
}

/** Credits a purchase to an offer (or its holdout group); a retried purchase event credits once. */
export async function recordConversion(
	db: D1Database,
	tenantId: string,
	userId: string,
	exposure: { campaignId: string; variantId: string | null; offerId: string | null; holdout: boolean },
	eventId: string,
	revenue: number,
	now: number,
): Promise<void> {
	await db
		.prepare(
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
	db: D1Database,
	offerId: string,
	status: OfferStatus | null,
	attempts: number,
): Promise<void> {
	await db
		.prepare(
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
	db: D1Database,
	tenantId: string,
	eventId: string,
	userId: string,
	now: number,
): Promise<boolean> {
	const owner = await db
		.prepare(
			`INSERT INTO cart_events (tenant_id, event_id, user_id, created_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (tenant_id, event_id) DO UPDATE SET event_id = excluded.event_id
		 RETURNING user_id`,
		)
		.bind(tenantId, eventId, userId, iso(now))
		.first<{ user_id: string }>();
	return !owner || owner.user_id === userId;
}

/** An offer's row, as the click and report routes read it. */
export interface OfferRow {
	tenant_id: string;
	user_id: string;
	campaign_id: string;
	variant_id: string | null;
	/** JSON of the offer's links (null: the variant had none). */
	links: string | null;
}

/** An offer by id across tenants (the signed click link names only the offer). */
export function offerById(db: D1Database, offerId: string): Promise<OfferRow | null> {
	return db
		.prepare("SELECT tenant_id, user_id, campaign_id, variant_id, links FROM offers WHERE id = ?")
		.bind(offerId)
		.first<OfferRow>();
}

/** An offer of the tenant, or null (another tenant's offer is just as unknown). */
export function offerOfTenant(db: D1Database, offerId: string, tenantId: string): Promise<OfferRow | null> {
	return db
		.prepare(
			"SELECT tenant_id, user_id, campaign_id, variant_id, links FROM offers WHERE id = ? AND tenant_id = ?",
		)
		.bind(offerId, tenantId)
		.first<OfferRow>();
}

/** Records a reported (or clicked) offer event for the funnel. */
export async function insertOfferEvent(
	db: D1Database,
	e: {
		offerId: string;
		offer: OfferRow;
		type: "displayed" | "dismissed" | "clicked";
		action: string | null;
		at: string;
	},
): Promise<void> {
	await db
		.prepare(
			`INSERT INTO offer_events (id, tenant_id, offer_id, campaign_id, variant_id, type, action, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		)
		.bind(
			crypto.randomUUID(),
			e.offer.tenant_id,
			e.offerId,
			e.offer.campaign_id,
			e.offer.variant_id,
			e.type,
			e.action,
			e.at,
		)
		.run();
}

/** A decision of the person's trace, as GET /v1/users/{userId}/decisions answers it. */
export interface DecisionView {
	trigger: unknown;
	campaignId: string;
	variantId: string | null;
	decision: string;
	reason: string | null;
	offerId: string | null;
	at: string;
	/** not_in_audience: the condition that kept the person out, at its path. */
	failed?: unknown;
}

interface DecisionRow {
	trigger: string;
	campaign_id: string;
	variant_id: string | null;
	decision: string;
	reason: string | null;
	offer_id: string | null;
	created_at: string;
	audience_failed: string | null;
}

function decisionView(r: DecisionRow): DecisionView {
	return {
		trigger: JSON.parse(r.trigger) as unknown,
		campaignId: r.campaign_id,
		variantId: r.variant_id,
		decision: r.decision,
		reason: r.reason,
		offerId: r.offer_id,
		at: r.created_at,
		...(r.audience_failed ? { failed: JSON.parse(r.audience_failed) as unknown } : {}),
	};
}

/** The person's most recent decisions, newest first. */
export async function recentDecisions(
	db: D1Database,
	tenantId: string,
	userId: string,
	limit: number,
): Promise<DecisionView[]> {
	const { results } = await db
		.prepare(
			`SELECT trigger, campaign_id, variant_id, decision, reason, offer_id, created_at, audience_failed
			   FROM decisions WHERE tenant_id = ? AND user_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`,
		)
		.bind(tenantId, userId, limit)
		.all<DecisionRow>();
	return results.map(decisionView);
}

/** Every D1 row about one person, for GET /v1/users/{userId}/export. */
export async function userRows(db: D1Database, tenantId: string, userId: string) {
	const [decisions, offers, offerEvents, conversions, cartEvents] = await db.batch<Record<string, unknown>>([
		db
			.prepare(
				`SELECT trigger, campaign_id, variant_id, decision, reason, offer_id, created_at, audience_failed
			   FROM decisions WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, rowid`,
			)
			.bind(tenantId, userId),
		db
			.prepare(
				`SELECT id, campaign_id, variant_id, geofence_id, trigger_type, status, attempts, created_at, expires_at
			   FROM offers WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, rowid`,
			)
			.bind(tenantId, userId),
		db
			.prepare(
				`SELECT e.offer_id, e.type, e.action, e.created_at FROM offer_events e
			   JOIN offers o ON o.id = e.offer_id AND o.tenant_id = e.tenant_id
			  WHERE e.tenant_id = ? AND o.user_id = ? ORDER BY e.created_at, e.rowid`,
			)
			.bind(tenantId, userId),
		db
			.prepare(
				`SELECT campaign_id, variant_id, offer_id, holdout, event_id, revenue, created_at
			   FROM conversions WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, rowid`,
			)
			.bind(tenantId, userId),
		db
			.prepare(
				"SELECT event_id, created_at FROM cart_events WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, rowid",
			)
			.bind(tenantId, userId),
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
export async function eraseUserRows(db: D1Database, tenantId: string, userId: string): Promise<void> {
	await db.batch([
		db
			.prepare(
				"DELETE FROM offer_events WHERE tenant_id = ? AND offer_id IN (SELECT id FROM offers WHERE tenant_id = ? AND user_id = ?)",
			)
			.bind(tenantId, tenantId, userId),
		db.prepare("DELETE FROM conversions WHERE tenant_id = ? AND user_id = ?").bind(tenantId, userId),
		db.prepare("DELETE FROM decisions WHERE tenant_id = ? AND user_id = ?").bind(tenantId, userId),
		db.prepare("DELETE FROM offers WHERE tenant_id = ? AND user_id = ?").bind(tenantId, userId),
		db.prepare("DELETE FROM cart_events WHERE tenant_id = ? AND user_id = ?").bind(tenantId, userId),
	]);
}

/**
 * Retention: deletes the tenant's decisions, offers, their events, conversions and cart
 * events created before `before`, in bounded slices so one tenant's backlog never holds
 * the database for long. Returns how many rows went.
 */
export async function deleteOlderThan(
	db: D1Database,
	tenantId: string,
	before: number,
	slice = 5000,
): Promise<number> {
	const cutoff = iso(before);
	let total = 0;
	for (const table of ["offer_events", "conversions", "decisions", "offers", "cart_events"]) {
		for (;;) {
			const r = await db
				.prepare(
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
