import { AppError } from "../../src/errors.js";
import {
	buildDaily,
	dayWindows,
	resolveRange,
	type StatsQuery,
	StatsQuerySchema,
} from "../../src/offers/daily.js";
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
import type { DailySeries } from "../../src/schemas/tracking.js";
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
 * `?series=daily` (with `from`, `to`, `tz`) adds the same funnel per local day (src/offers/daily.ts).
 */
export function statsRoutes(router: AppRouter): void {
	router.get("/v1/campaigns/:id/stats", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const id = parse(ExternalId, req.params.id);
		const url = new URL(req.url);
		const query = parse(StatsQuerySchema, Object.fromEntries(url.searchParams));
		const all = <T>(sql: string, ...extra: unknown[]) =>
			env.DB.prepare(sql)
				.bind(tenant.id, id, ...extra)
				.all<T>()
				.then((r) => r.results);
		const [campaign, decisions, offers, eventTotals, clicksByAction, conversions, optIn, dailyFold] =
			await Promise.all([
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
				query.series === "daily"
					? daily(env, tenant.id, id, query, query.tz ?? tenant.settings.timezone)
					: null,
			]);
		if (!campaign) throw new AppError("not_found", 404, "No campaign with this id.");
		const variantIds = StoredCampaignSchema.parse(JSON.parse(campaign.body)).variants.map((v) => v.id);
		const series = dailyFold?.(variantIds);
		return json({
			...buildFunnel({
				campaignId: id,
				variantIds,
				decisions,
				offers,
				eventTotals,
				clicksByAction,
				conversions,
				optIn: { people: optIn[0]?.people ?? 0, pushConsent: optIn[0]?.push_consent ?? 0 },
			}),
			...(series ? { daily: series } : {}),
		});
	});
}

/**
 * Starts the per-day queries of one campaign (they run beside the totals' queries) and returns
 * a function that folds their rows once the campaign's variants are known. The day windows
 * travel as one JSON parameter (D1 binds at most 100 values); each query reads the campaign's
 * rows from the first window's start to the last one's end, and D1 groups them by the window
 * holding `created_at` (ISO 8601 UTC strings, so text order is time order).
 */
function daily(
	env: Env,
	tenantId: string,
	campaignId: string,
	query: StatsQuery,
	timeZone: string,
): Promise<(variantIds: readonly string[]) => DailySeries> {
	const { from, to } = resolveRange(query, timeZone, Date.now());
	const windows = dayWindows(from, to, timeZone);
	const first = windows[0]?.start ?? "";
	const last = windows[windows.length - 1]?.end ?? "";
	const days = JSON.stringify(windows.map((w) => [w.day, w.start, w.end]));
	const withDays = `WITH days(day, lo, hi) AS (
		SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?3))`;
	const all = <T>(table: string, groups: string, counts: string, where = "", ...extra: unknown[]) =>
		env.DB.prepare(
			`${withDays}
			 SELECT d.day AS day, ${groups}, ${counts} FROM ${table} x JOIN days d ON x.created_at >= d.lo AND x.created_at < d.hi
			  WHERE x.tenant_id = ?1 AND x.campaign_id = ?2 AND x.created_at >= ?4 AND x.created_at < ?5 ${where}
			  GROUP BY d.day, ${groups}`,
		)
			.bind(tenantId, campaignId, days, first, last, ...extra)
			.all<T & { day: string }>()
			.then((r) => r.results);
	return Promise.all([
		all<DecisionCountRow>(
			"decisions",
			"x.variant_id, x.decision, x.reason",
			"COUNT(*) AS n",
			"AND (x.reason IS NULL OR x.reason <> ?6)",
			NOT_IN_AUDIENCE,
		),
		all<OfferCountRow>("offers", "x.variant_id, x.status", "COUNT(*) AS n"),
		all<EventCountRow>("offer_events", "x.variant_id, x.type", "COUNT(DISTINCT x.offer_id) AS n"),
		all<EventCountRow>(
			"offer_events",
			"x.variant_id, x.type, x.action",
			"COUNT(DISTINCT x.offer_id) AS n",
			"AND x.type = 'clicked'",
		),
		all<ConversionRow>("conversions", "x.variant_id, x.holdout", "COUNT(*) AS n, SUM(x.revenue) AS revenue"),
	]).then(([decisions, offers, eventTotals, clicksByAction, conversions]) => (variantIds) => ({
		timeZone,
		from,
		to,
		days: buildDaily({
			campaignId,
			variantIds,
			windows,
			decisions,
			offers,
			eventTotals,
			clicksByAction,
			conversions,
		}),
	}));
}
