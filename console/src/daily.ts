/**
 * The Results page's funnel by day, from the stats endpoint's daily series
 * (`GET /v1/campaigns/{id}/stats?series=daily`, counted in D1 per local day of the tenant's
 * time zone): the rows of one group (all groups, a variant or the holdout) as numbers per day.
 * Pure (test/unit/console-daily.test.ts).
 */
import type { DailySeries, FunnelGroup } from "../../src/schemas/tracking.js";

/** Lines of the chart, in the legend's order. */
export const DAILY_SERIES = ["triggered", "sent", "suppressed", "displayed", "clicked", "converted"] as const;
export type DailySeriesKey = (typeof DAILY_SERIES)[number];
/** Columns of the table: the chart's lines, then the holdout and the revenue. */
export const DAILY_COLUMNS = [...DAILY_SERIES, "holdout", "revenue"] as const;
export type DailyColumn = (typeof DAILY_COLUMNS)[number];

export interface DailyRow {
	/** `YYYY-MM-DD` in the series' time zone. */
	day: string;
	counts: Record<DailyColumn, number>;
}

/** `all` for every group together, `holdout`, or `variant:<id>`. */
export type GroupChoice = string;

/** The groups one may look at: all, each variant the series knows, the holdout (and unassigned when present). */
export function groupChoices(
	series: DailySeries,
): { value: GroupChoice; group: string; variantId: string | null }[] {
	const out = new Map<string, { value: GroupChoice; group: string; variantId: string | null }>();
	out.set("all", { value: "all", group: "all", variantId: null });
	for (const d of series.days)
		for (const g of d.variants) {
			const value = g.group === "variant" ? `variant:${g.variantId}` : g.group;
			if (!out.has(value)) out.set(value, { value, group: g.group, variantId: g.variantId });
		}
	return [...out.values()];
}

type Counters = Omit<FunnelGroup, "group" | "variantId">;

function countsOf(c: Counters | undefined): Record<DailyColumn, number> {
	return {
		triggered: c?.triggered ?? 0,
		sent: c?.sent ?? 0,
		suppressed: Object.values(c?.suppressed ?? {}).reduce((a, b) => a + b, 0),
		displayed: c?.displayed ?? 0,
		clicked: c?.clicked.total ?? 0,
		converted: c?.converted ?? 0,
		holdout: c?.holdout ?? 0,
		revenue: c?.revenue ?? 0,
	};
}

/** One row a day for the group chosen; a group missing on a day counts 0 there. */
export function dailyRows(series: DailySeries, choice: GroupChoice): DailyRow[] {
	return series.days.map((d) => {
		if (choice === "all") return { day: d.day, counts: countsOf(d.totals) };
		const g = d.variants.find((v) =>
			choice.startsWith("variant:")
				? v.group === "variant" && v.variantId === choice.slice(8)
				: v.group === choice,
		);
		return { day: d.day, counts: countsOf(g) };
	});
}
