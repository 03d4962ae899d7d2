/** The funnel's grouping rules on rows the database would return. */
import { describe, expect, it } from "vitest";
import { buildFunnel, type FunnelInput } from "../../src/offers/stats.js";

function input(over: Partial<FunnelInput>): FunnelInput {
	return {
		campaignId: "c1",
		variantIds: ["a"],
		decisions: [],
		offers: [],
		eventTotals: [],
		clicksByAction: [],
		conversions: [],
		optIn: { people: 0, pushConsent: 0 },
		...over,
	};
}

describe("buildFunnel", () => {
	it("puts holdout decisions and holdout conversions in the holdout group, not their variant", () => {
		const f = buildFunnel(
			input({
				decisions: [
					{ variant_id: "a", decision: "holdout", reason: null, n: 2 },
					{ variant_id: "a", decision: "sent", reason: null, n: 3 },
				],
				conversions: [
					{ variant_id: "a", holdout: 1, n: 1, revenue: 5 },
					{ variant_id: "a", holdout: 0, n: 2, revenue: 8 },
				],
			}),
		);
		expect(
			f.variants.map((g) => [g.group, g.variantId, g.triggered, g.holdout, g.sent, g.converted]),
		).toEqual([
			["variant", "a", 3, 0, 3, 2],
			["holdout", null, 2, 2, 0, 1],
		]);
		expect(f.totals).toMatchObject({ triggered: 5, holdout: 2, sent: 3, converted: 3, revenue: 13 });
	});

	it("shows rows with no variant as an unassigned group, only when there are some", () => {
		expect(buildFunnel(input({})).variants.map((g) => g.group)).toEqual(["variant", "holdout"]);
		const f = buildFunnel(
			input({ decisions: [{ variant_id: null, decision: "suppressed", reason: "no_consent", n: 4 }] }),
		);
		expect(f.variants.at(-1)).toMatchObject({
			group: "unassigned",
			variantId: null,
			triggered: 4,
			suppressed: { no_consent: 4 },
		});
	});

	it("keeps a variant the campaign no longer has, after the current ones", () => {
		const f = buildFunnel(
			input({ variantIds: ["b"], decisions: [{ variant_id: "old", decision: "sent", reason: null, n: 1 }] }),
		);
		expect(f.variants.map((g) => g.variantId)).toEqual(["b", "old", null]);
	});

	it("counts body clicks apart from actions, so an action named body cannot mix with them", () => {
		const f = buildFunnel(
			input({
				eventTotals: [{ variant_id: "a", type: "clicked", n: 3 }],
				clicksByAction: [
					{ variant_id: "a", type: "clicked", action: null, n: 2 },
					{ variant_id: "a", type: "clicked", action: "body", n: 1 },
				],
			}),
		);
		expect(f.variants[0]?.clicked).toEqual({ total: 3, body: 2, byAction: { body: 1 } });
	});

	it("counts delivery outcomes, an unknown status as failed", () => {
		const f = buildFunnel(
			input({
				offers: [
					{ variant_id: "a", status: "accepted", n: 1 },
					{ variant_id: "a", status: "pending", n: 2 },
					{ variant_id: "a", status: "gone", n: 3 },
					{ variant_id: "a", status: "failed", n: 4 },
					{ variant_id: "a", status: "no_device", n: 5 },
				],
			}),
		);
		expect(f.variants[0]).toMatchObject({ accepted: 1, pending: 2, gone: 3, failed: 9 });
	});

	it("sums revenue without floating-point noise and rates opt-in only when someone was triggered", () => {
		const f = buildFunnel(
			input({
				conversions: [
					{ variant_id: "a", holdout: 0, n: 1, revenue: 0.1 },
					{ variant_id: null, holdout: 0, n: 1, revenue: 0.2 },
				],
				optIn: { people: 4, pushConsent: 1 },
			}),
		);
		expect(f.totals.revenue).toBe(0.3);
		expect(f.pushOptInAmongTriggered).toEqual({ people: 4, pushConsent: 1, rate: 0.25 });
		expect(buildFunnel(input({})).pushOptInAmongTriggered.rate).toBeNull();
	});
});
