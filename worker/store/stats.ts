/**
 * The funnel's counts (GET /v1/campaigns/{id}/stats): aggregates over `decisions`, `offers`,
 * `offer_events` and `conversions`, each bounded to (tenant_id, campaign_id), the leading columns
 * of an index on each table, so only counts travel. Read-only; the rows are written through
 * worker/store/offers.ts.
 */
import type { DayWindow } from "../../src/offers/daily.js";
import { NOT_IN_AUDIENCE } from "../../src/offers/decide.js";
import type {
	ConversionRow,
	DecisionCountRow,
	EventCountRow,
	OfferCountRow,
} from "../../src/offers/stats.js";

/**
 * Reasons decided before consent is looked at (src/offers/decide.ts checks in order):
 * such a decision says nothing about the person's push opt-in.
 */
const BEFORE_CONSENT = ["campaign_inactive", "stale", NOT_IN_AUDIENCE];

/** The rows the funnel is built from (src/offers/stats.ts `buildFunnel`). */
export interface FunnelRows {
	decisions: DecisionCountRow[];
	offers: OfferCountRow[];
	eventTotals: EventCountRow[];
	clicksByAction: EventCountRow[];
	conversions: ConversionRow[];
	optIn: { people: number; pushConsent: number };
}

/** The campaign's funnel counts over its whole life. */
export async function funnelTotals(
	db: D1Database,
	tenantId: string,
	campaignId: string,
): Promise<FunnelRows> {
	const all = <T>(sql: string, ...extra: unknown[]) =>
		db
			.prepare(sql)
			.bind(tenantId, campaignId, ...extra)
			.all<T>()
			.then((r) => r.results);
	const [decisions, offers, eventTotals, clicksByAction, conversions, optIn] = await Promise.all([
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
	return {
		decisions,
		offers,
		eventTotals,
		clicksByAction,
		conversions,
		optIn: { people: optIn[0]?.people ?? 0, pushConsent: optIn[0]?.push_consent ?? 0 },
	};
}

type Daily<T> = (T & { day: string })[];

/**
 * The same counts grouped by day. The day windows travel as one JSON parameter (D1 binds at
 * most 100 values); each query reads the campaign's rows from the first window's start to the
 * last one's end, and D1 groups them by the window holding `created_at`.
 */
export async function funnelByDay(
	db: D1Database,
	tenantId: string,
	campaignId: string,
	windows: readonly DayWindow[],
): Promise<{
	decisions: Daily<DecisionCountRow>;
	offers: Daily<OfferCountRow>;
	eventTotals: Daily<EventCountRow>;
	clicksByAction: Daily<EventCountRow>;
	conversions: Daily<ConversionRow>;
}> {
	const first = windows[0]?.start ?? "";
	const last = windows[windows.length - 1]?.end ?? "";
	const days = JSON.stringify(windows.map((w) => [w.day, w.start, w.end]));
	const withDays = `WITH days(day, lo, hi) AS (
		SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?3))`;
	const all = <T>(table: string, groups: string, counts: string, where = "", ...extra: unknown[]) =>
		db
			.prepare(
				`${withDays}
				 SELECT d.day AS day, ${groups}, ${counts} FROM ${table} x JOIN days d ON x.created_at >= d.lo AND x.created_at < d.hi
				  WHERE x.tenant_id = ?1 AND x.campaign_id = ?2 AND x.created_at >= ?4 AND x.created_at < ?5 ${where}
				  GROUP BY d.day, ${groups}`,
			)
			.bind(tenantId, campaignId, days, first, last, ...extra)
			.all<T & { day: string }>()
			.then((r) => r.results);
	const [decisions, offers, eventTotals, clicksByAction, conversions] = await Promise.all([
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
	]);
	return { decisions, offers, eventTotals, clicksByAction, conversions };
}
