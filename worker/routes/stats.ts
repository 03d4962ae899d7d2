import { z } from "zod";
import { AppError } from "../../src/errors.js";
import {
	buildDaily,
	dayWindows,
	resolveRange,
	type StatsQuery,
	StatsQuerySchema,
} from "../../src/offers/daily.js";
import { buildFunnel } from "../../src/offers/stats.js";
import { ExternalId } from "../../src/schemas/common.js";
import { CampaignStatsSchema, type DailySeries } from "../../src/schemas/tracking.js";
import { endpoint } from "../api.js";
import { json, parse } from "../http.js";
import type { ApiRouter } from "../router.js";
import { campaignById } from "../store/campaigns.js";
import { funnelByDay, funnelTotals } from "../store/stats.js";
import { requireKey } from "../tenants.js";

/**
 * GET /v1/campaigns/{id}/stats (secret key): the campaign's funnel per variant, holdout
 * and unassigned group, counted in D1 (worker/store/stats.ts).
 * `?series=daily` (with `from`, `to`, `tz`) adds the same funnel per local day (src/offers/daily.ts).
 */
export function statsRoutes(api: ApiRouter): void {
	api.get(
		"/v1/campaigns/:id/stats",
		endpoint(
			{
				operationId: "getCampaignStats",
				summary: "The campaign's funnel per variant and holdout (and per local day)",
				description:
					"series=daily adds `daily`, the same funnel per local day; from and to (YYYY-MM-DD, inclusive, at most 92 days; default the 14 days ending today); tz (IANA zone of the days, default the tenant's timezone setting). Unknown query parameters are refused.",
				tags: ["campaigns"],
				auth: "secret",
				params: z.object({
					id: ExternalId.meta({ description: "the campaign's id", example: "beer-promo" }),
				}),
				query: StatsQuerySchema,
				responses: { 200: { description: "the funnel (and its daily series)", schema: CampaignStatsSchema } },
				problems: [404, 429],
			},
			async ({ req, env, params }) => {
				const tenant = await requireKey(req, env, "secret");
				const { id } = params();
				// Strict: every parameter is read (not only the declared ones), so an unknown one is refused.
				const query = parse(StatsQuerySchema, Object.fromEntries(new URL(req.url).searchParams));
				const [campaign, totals, dailyFold] = await Promise.all([
					campaignById(env.DB, tenant.id, id),
					funnelTotals(env.DB, tenant.id, id),
					query.series === "daily"
						? daily(env, tenant.id, id, query, query.tz ?? tenant.settings.timezone)
						: null,
				]);
				if (!campaign) throw new AppError("not_found", 404, "No campaign with this id.");
				const variantIds = campaign.variants.map((v) => v.id);
				const series = dailyFold?.(variantIds);
				return json({
					...buildFunnel({ campaignId: id, variantIds, ...totals }),
					...(series ? { daily: series } : {}),
				});
			},
		),
	);
}

/**
 * Starts the per-day queries of one campaign (they run beside the totals' queries) and returns
 * a function that folds their rows once the campaign's variants are known.
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
	return funnelByDay(env.DB, tenantId, campaignId, windows).then((rows) => (variantIds) => ({
		timeZone,
		from,
		to,
		days: buildDaily({ campaignId, variantIds, windows, ...rows }),
	}));
}
