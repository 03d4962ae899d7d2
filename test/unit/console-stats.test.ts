/** The Results page's arithmetic (console/src/stats.ts): Wilson intervals, Newcombe differences, the table. */
import { describe, expect, it } from "vitest";
import { campaignResults, difference, wilson } from "../../console/src/stats.js";
import type { FunnelGroup } from "../../src/schemas/tracking.js";

describe("wilson", () => {
	it("matches published values", () => {
		// Newcombe (1998), table I: 81/263 -> 0.2553 to 0.3662.
		const r = wilson(81, 263);
		expect(r?.p).toBeCloseTo(0.30798, 5);
		expect(r?.low).toBeCloseTo(0.2553, 4);
		expect(r?.high).toBeCloseTo(0.3662, 4);
		// 15/148 -> 0.0624 to 0.1605; 0/20 -> 0 to 0.1611; 1/29 -> 0.0061 to 0.1718.
		expect(wilson(15, 148)?.low).toBeCloseTo(0.0624, 4);
		expect(wilson(15, 148)?.high).toBeCloseTo(0.1605, 4);
		expect(wilson(0, 20)?.low).toBe(0);
		expect(wilson(0, 20)?.high).toBeCloseTo(0.1611, 4);
		expect(wilson(1, 29)?.low).toBeCloseTo(0.0061, 4);
		expect(wilson(1, 29)?.high).toBeCloseTo(0.1718, 4);
	});

	it("stays within [0, 1], holds p, and narrows as n grows", () => {
		for (const [x, n] of [
			[0, 1],
			[1, 1],
			[5, 10],
			[10, 10],
			[3, 7],
		] as const) {
			const r = wilson(x, n);
			expect(r).not.toBeNull();
			if (!r) continue;
			expect(r.low).toBeGreaterThanOrEqual(0);
			expect(r.high).toBeLessThanOrEqual(1);
			expect(r.low).toBeLessThanOrEqual(r.p);
			expect(r.high).toBeGreaterThanOrEqual(r.p);
		}
		const small = wilson(10, 100);
		const large = wilson(1000, 10000);
		expect(large && small && large.high - large.low < small.high - small.low).toBe(true);
	});

	it("has no rate without trials, and clamps counts above the denominator", () => {
		expect(wilson(0, 0)).toBeNull();
		expect(wilson(3, 0)).toBeNull();
		expect(wilson(5, 3)?.p).toBe(1);
	});
});

describe("difference (Newcombe hybrid score)", () => {
	it("matches Newcombe's worked example 56/70 vs 48/80: 0.0524 to 0.3339", () => {
		const a = wilson(56, 70);
		const b = wilson(48, 80);
		if (!a || !b) throw new Error("rates expected");
		const d = difference(a, b);
		expect(d.diff).toBeCloseTo(0.2, 6);
		expect(d.low).toBeCloseTo(0.0524, 4);
		expect(d.high).toBeCloseTo(0.3339, 4);
		expect(d.significant).toBe(true);
		expect(d.relative).toBeCloseTo(0.2 / 0.6, 6);
	});

	it("is not significant when the interval spans 0, and has no relative uplift against 0", () => {
		const a = wilson(3, 30);
		const b = wilson(2, 30);
		if (!a || !b) throw new Error("rates expected");
		expect(difference(a, b).significant).toBe(false);
		const zero = wilson(0, 30);
		if (!zero) throw new Error("rate expected");
		expect(difference(a, zero).relative).toBeNull();
	});
});

function group(over: Partial<FunnelGroup>): FunnelGroup {
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

describe("campaignResults", () => {
	it("computes rates per group and uplift of each variant against the holdout", () => {
		const rows = campaignResults({
			variants: [
				group({
					variantId: "a",
					triggered: 200,
					sent: 180,
					displayed: 150,
					clicked: { total: 30, body: 20, byAction: { add: 10 } },
					converted: 40,
					suppressed: { quiet_hours: 5, daily_cap: 15 },
				}),
				group({ variantId: "b", triggered: 200, sent: 190, displayed: 100, converted: 22 }),
				group({ group: "holdout", variantId: null, triggered: 100, holdout: 100, converted: 10 }),
			],
		});
		const [a, b, h] = rows;
		expect(a?.displayRate?.p).toBeCloseTo(150 / 180, 9);
		expect(a?.clickRate?.p).toBeCloseTo(30 / 150, 9);
		expect(a?.conversionRate?.p).toBeCloseTo(0.2, 9);
		expect(a?.suppressed).toEqual([
			["daily_cap", 15],
			["quiet_hours", 5],
		]);
		expect(a?.clicksByAction).toEqual([
			["", 20],
			["add", 10],
		]);
		// 20% vs 10%: +10 points, +100 %, and the interval excludes 0.
		expect(a?.uplift?.diff).toBeCloseTo(0.1, 9);
		expect(a?.uplift?.relative).toBeCloseTo(1, 9);
		expect(a?.uplift?.significant).toBe(true);
		// 11% vs 10%: not distinguishable.
		expect(b?.uplift?.diff).toBeCloseTo(0.01, 9);
		expect(b?.uplift?.significant).toBe(false);
		expect(h?.uplift).toBeNull();
		expect(h?.conversionRate?.p).toBeCloseTo(0.1, 9);
	});

	it("has no uplift without a holdout, and no rates without data", () => {
		const [a] = campaignResults({ variants: [group({ variantId: "a" })] });
		expect(a?.uplift).toBeNull();
		expect(a?.displayRate).toBeNull();
		expect(a?.conversionRate).toBeNull();
	});
});
