/**
 * Rates, 95% confidence intervals and uplift for the Results page. Pure, so it is unit-tested
 * in Node (test/unit/console-stats.test.ts).
 *
 * - A rate `x / n` gets a Wilson score interval: unlike `p ± 1.96·√(p(1−p)/n)` it stays inside
 *   [0, 1] and is usable for small counts and rates near 0, which is what early campaigns have.
 * - Uplift against the holdout is the difference of two conversion rates with Newcombe's
 *   hybrid score interval (method 10, built from the two Wilson intervals), and the relative
 *   uplift `(pv − ph) / ph` as a headline.
 */
import type { CampaignStats, FunnelGroup } from "../../src/schemas/tracking.js";

/** z for a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

export interface Rate {
	x: number;
	n: number;
	/** `x / n`. */
	p: number;
	low: number;
	high: number;
}

/**
 * The Wilson score interval of `x` successes in `n` trials; null when `n` is 0. `x` is clamped
 * to `[0, n]` (a count of events can exceed its denominator, e.g. several purchases credited
 * to one trigger; the rate is then reported as 1).
 */
export function wilson(x: number, n: number, z = Z95): Rate | null {
	if (!(n > 0) || !Number.isFinite(n) || !Number.isFinite(x)) return null;
	const k = Math.min(Math.max(x, 0), n);
	const p = k / n;
	const z2 = z * z;
	const denom = 1 + z2 / n;
	const centre = (p + z2 / (2 * n)) / denom;
	const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
	// At 0 and n the bound is exactly 0 or 1 (floating point would leave it a hair off, below p).
	return {
		x: k,
		n,
		p,
		low: k === 0 ? 0 : Math.max(0, centre - half),
		high: k === n ? 1 : Math.min(1, centre + half),
	};
}

export interface Difference {
	/** `a.p − b.p`. */
	diff: number;
	low: number;
	high: number;
	/** `(a.p − b.p) / b.p`; null when `b.p` is 0. */
	relative: number | null;
	/** The interval excludes 0. */
	significant: boolean;
}

/** Newcombe's hybrid score interval for the difference of two independent proportions. */
export function difference(a: Rate, b: Rate): Difference {
	const diff = a.p - b.p;
	const low = diff - Math.sqrt((a.p - a.low) ** 2 + (b.high - b.p) ** 2);
	const high = diff + Math.sqrt((a.high - a.p) ** 2 + (b.p - b.low) ** 2);
	return {
		diff,
		low,
		high,
		relative: b.p > 0 ? diff / b.p : null,
		significant: low > 0 || high < 0,
	};
}

/** One row of the Results table. */
export interface GroupResult {
	group: FunnelGroup["group"];
	variantId: string | null;
	triggered: number;
	sent: number;
	displayed: number;
	clicked: number;
	converted: number;
	revenue: number;
	suppressed: [reason: string, count: number][];
	clicksByAction: [action: string, count: number][];
	/** Displayed among sent. */
	displayRate: Rate | null;
	/** Clicked among displayed. */
	clickRate: Rate | null;
	/** Conversions among triggered: for the holdout, among those held out. */
	conversionRate: Rate | null;
	/** Conversion rate against the holdout's; null for the holdout itself or without data. */
	uplift: Difference | null;
}

/**
 * The Results table of a campaign from `GET /v1/campaigns/{id}/stats`. Conversion is measured
 * over everyone the campaign triggered for in each group (intent to treat: a variant's people
 * who were suppressed count too), which is what the holdout is comparable with.
 */
export function campaignResults(stats: Pick<CampaignStats, "variants">): GroupResult[] {
	const holdout = stats.variants.find((g) => g.group === "holdout");
	const holdoutTriggered = holdout ? holdout.triggered || holdout.holdout : 0;
	const holdoutRate = holdout ? wilson(holdout.converted, holdoutTriggered) : null;
	return stats.variants.map((g) => {
		const triggered = g.group === "holdout" ? g.triggered || g.holdout : g.triggered;
		const conversionRate = wilson(g.converted, triggered);
		return {
			group: g.group,
			variantId: g.variantId,
			triggered,
			sent: g.sent,
			displayed: g.displayed,
			clicked: g.clicked.total,
			converted: g.converted,
			revenue: g.revenue,
			suppressed: Object.entries(g.suppressed).sort((a, b) => b[1] - a[1]),
			clicksByAction: [
				["", g.clicked.body] as [string, number],
				...Object.entries(g.clicked.byAction),
			].filter(([, n]) => n > 0),
			displayRate: wilson(g.displayed, g.sent),
			clickRate: wilson(g.clicked.total, g.displayed),
			conversionRate,
			uplift:
				g.group === "variant" && conversionRate && holdoutRate
					? difference(conversionRate, holdoutRate)
					: null,
		};
	});
}
