import { AppError } from "../../src/errors.js";
import { NOT_IN_AUDIENCE } from "../../src/offers/decide.js";
import {
	buildFunnel,
	type ConversionRow,
	type DecisionCountRow,
	type EventCountRow,
	type OfferCountRow,
} from "../../src/offers/stats.js";
import { StoredCampaignSchema } from "../../src/schemas/campaign.js";
import { ExternalId } from "../../src/schemas/common.js";
import { json, parse } from "../http.js";
import type { AppRouter } from "../router.js";
import { requireKey } from "../tenants.js";

/**
 * Reasons decided before consent is looked at (src/offers/decide.ts checks in order):
 * such a decision says nothing about the person's push opt-in.
 */
const BEFORE_CONSENT = ["campaign_inactive", "stale", NOT_IN_AUDIENCE];

/**
 * GET /v1/campaigns/{id}/stats (secret key): the campaign's funnel per variant, holdout
 * and unassigned group. Every query is bounded to (tenant_id, campaign_id), the leading
 * columns of an index on each table, and aggregates in D1 so only counts travel.
 */
export function statsRoutes(router: AppRouter): void {
	router.get("/v1/campaigns/:id/stats", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const id = parse(ExternalId, req.params.id);
		const all = <T>(sql: string, ...extra: unknown[]) =>
			env.DB.prepare(sql)
				.bind(tenant.id, id, ...extra)
				.all<T>()
				.then((r) => r.results);
		const [campaign, decisions, offers, eventTotals, clicksByAction, conversions, optIn] = await Promise.all([
			env.DB.prepare("SELECT body FROM campaigns WHERE tenant_id = ? AND id = ?")
				.bind(tenant.id, id)
				.first<{ body: string }>(),
			all<DecisionCountRow>(
				`SELECT variant_id, decision, reason, COUNT(*) AS n FROM decisions
				  WHERE tenant_id = ? AND campaign_id = ? AND (reason IS NULL OR reason <> ?)
				  GROUP BY variant_id, decision, reason`,
				// People outside the audience are not part of the campaign's funnel.
				NOT_IN_AUDIENCE,
			),
			all<OfferCountRow>(
				`SELECT variant_id, status, COUNT(*) AS n FROM offers
				  WHERE tenant_id = ? AND campaign_id = ? GROUP BY variant_id, status`,
			),
			// Distinct offers, so a retried or repeated report does not inflate the funnel.
			all<EventCountRow>(
				`SELECT variant_id, type, COUNT(DISTINCT offer_id) AS n FROM offer_events
				  WHERE tenant_id = ? AND campaign_id = ? GROUP BY variant_id, type`,
			),
			all<EventCountRow>(
				`SELECT variant_id, type, action, COUNT(DISTINCT offer_id) AS n FROM offer_events
				  WHERE tenant_id = ? AND campaign_id = ? AND type = 'clicked' GROUP BY variant_id, action`,
			),
			all<ConversionRow>(
				`SELECT variant_id, holdout, COUNT(*) AS n, SUM(revenue) AS revenue FROM conversions
				  WHERE tenant_id = ? AND campaign_id = ? GROUP BY variant_id, holdout`,
			),
			all<{ people: number; push_consent: number }>(
				`SELECT COUNT(DISTINCT user_id) AS people,
				        COUNT(DISTINCT CASE WHEN decision <> 'suppressed' OR reason <> 'no_consent' THEN user_id END) AS push_consent
				   FROM decisions
				  WHERE tenant_id = ? AND campaign_id = ? AND (reason IS NULL OR reason NOT IN (${BEFORE_CONSENT.map(() => "?").join(", ")}))`,
				...BEFORE_CONSENT,
			),
		]);
		if (!campaign) throw new AppError("not_found", 404, "No campaign with this id.");
		const variantIds = StoredCampaignSchema.parse(JSON.parse(campaign.body)).variants.map((v) => v.id);
		return json(
			buildFunnel({
				campaignId: id,
				variantIds,
				decisions,
				offers,
				eventTotals,
				clicksByAction,
				conversions,
				optIn: { people: optIn[0]?.people ?? 0, pushConsent: optIn[0]?.push_consent ?? 0 },
			}),
		);
	});
}
