/** The Results page's funnel by day (console/src/daily.ts), from the stats endpoint's daily series. */
import { describe, expect, it } from "vitest";
import { dailyRows, groupChoices } from "../../console/src/daily.js";
import type { DailySeries, FunnelGroup } from "../../src/schemas/tracking.js";

function g(over: Partial<FunnelGroup>): FunnelGroup {
	return {
		group: "variant",
		variantId: "a",
		triggered: 0,
		holdout: 0,
		suppressed: {},
		sent: 0,
		accepted: 0,
		pending: 0,
		failed: 0,
		gone: 0,
		displayed: 0,
		dismissed: 0,
		clicked: { total: 0, body: 0, byAction: {} },
		converted: 0,
		revenue: 0,
		...over,
	};
}
const totals = ({ group: _g, variantId: _v, ...c }: FunnelGroup) => c;

const series: DailySeries = {
	timeZone: "Europe/Paris",
	from: "2026-12-01",
	to: "2026-12-02",
	days: [
		{
			day: "2026-12-01",
			start: "2026-11-30T23:00:00.000Z",
			end: "2026-12-01T23:00:00.000Z",
			variants: [
				g({
					variantId: "a",
					triggered: 3,
					sent: 1,
					suppressed: { cooldown: 1, quiet_hours: 1 },
					displayed: 1,
				}),
				g({ variantId: "b", triggered: 1, sent: 1, clicked: { total: 1, body: 0, byAction: { buy: 1 } } }),
				g({ group: "holdout", variantId: null, triggered: 2, holdout: 2, converted: 1, revenue: 9.5 }),
			],
			totals: totals(
				g({
					triggered: 6,
					holdout: 2,
					sent: 2,
					suppressed: { cooldown: 1, quiet_hours: 1 },
					displayed: 1,
					clicked: { total: 1, body: 0, byAction: { buy: 1 } },
					converted: 1,
					revenue: 9.5,
				}),
			),
		},
		{
			day: "2026-12-02",
			start: "2026-12-01T23:00:00.000Z",
			end: "2026-12-02T23:00:00.000Z",
			variants: [
				g({ variantId: "a" }),
				g({ group: "unassigned", variantId: null, triggered: 1, suppressed: { stale: 1 } }),
			],
			totals: totals(g({ triggered: 1, suppressed: { stale: 1 } })),
		},
	],
};

describe("daily rows", () => {
	it("offers all, each variant, the holdout and unassigned once, in the series' order", () => {
		expect(groupChoices(series).map((c) => c.value)).toEqual([
			"all",
			"variant:a",
			"variant:b",
			"holdout",
			"unassigned",
		]);
	});

	it("reads the totals, or one group, per day; suppressed summed over reasons; a missing group is 0", () => {
		expect(dailyRows(series, "all")).toEqual([
			{
				day: "2026-12-01",
				counts: {
					triggered: 6,
					sent: 2,
					suppressed: 2,
					displayed: 1,
					clicked: 1,
					converted: 1,
					holdout: 2,
					revenue: 9.5,
				},
			},
			{
				day: "2026-12-02",
				counts: {
					triggered: 1,
					sent: 0,
					suppressed: 1,
					displayed: 0,
					clicked: 0,
					converted: 0,
					holdout: 0,
					revenue: 0,
				},
			},
		]);
		expect(dailyRows(series, "variant:a").map((r) => [r.counts.triggered, r.counts.suppressed])).toEqual([
			[3, 2],
			[0, 0],
		]);
		expect(dailyRows(series, "variant:b").map((r) => r.counts.clicked)).toEqual([1, 0]);
		expect(dailyRows(series, "holdout").map((r) => [r.counts.holdout, r.counts.revenue])).toEqual([
			[2, 9.5],
			[0, 0],
		]);
		expect(dailyRows(series, "unassigned").map((r) => r.counts.suppressed)).toEqual([0, 1]);
	});
});
