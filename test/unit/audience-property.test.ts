import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
	type Condition,
	MAX_AUDIENCE_CONDITIONS,
	MAX_AUDIENCE_DEPTH,
	parseAudience,
} from "../../src/audience/condition.js";
import { type AudienceFacts, audienceFacts, evaluateAudience } from "../../src/audience/evaluate.js";
import { recordVisit, type VisitCounters } from "../../src/audience/visits.js";

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const DAY = 86_400_000;
const RUNS = { numRuns: 300, seed: 16 };

const word = fc.constantFrom("gold", "silver", "wine", "beer", "organic", "s1", "s2", "grocery");
const scalar = fc.oneof(word, fc.integer({ min: 0, max: 100 }), fc.boolean());
const attr = fc.constantFrom("tier", "age", "vip", "store", "missing");

const leaf: fc.Arbitrary<Condition> = fc.oneof(
	fc.record({ attribute: attr, in: fc.array(scalar, { minLength: 1, maxLength: 3 }) }),
	fc.record({ attribute: attr, nin: fc.array(scalar, { minLength: 1, maxLength: 3 }) }),
	fc.record({ attribute: attr, eq: scalar }),
	fc.record({ attribute: attr, ne: scalar }),
	fc.record({ attribute: attr, gte: fc.integer({ min: 0, max: 100 }) }),
	fc.record({ attribute: attr, lt: fc.integer({ min: 0, max: 100 }) }),
	fc.record({ attribute: attr, exists: fc.boolean() }),
	fc.record({ interest: word }),
	fc.record({
		locale: fc.array(fc.constantFrom("fr", "fr-CA", "de", "de-CH", "en"), { minLength: 1, maxLength: 2 }),
	}),
	fc.record({
		visits: fc.record({ tags: fc.constant<string[]>(["grocery"]) }, { requiredKeys: [] }),
		withinDays: fc.integer({ min: 1, max: 90 }),
		gte: fc.integer({ min: 0, max: 4 }),
	}),
	fc.record({
		visits: fc.record({ geofenceIds: fc.constant<string[]>(["s1"]) }, { requiredKeys: [] }),
		withinDays: fc.integer({ min: 1, max: 90 }),
		lt: fc.integer({ min: 1, max: 4 }),
	}),
	fc.record({
		purchased: fc.record({ skus: fc.constant<string[]>(["beer-6"]) }),
		withinDays: fc.integer({ min: 1, max: 365 }),
	}),
);

/** Conditions of at most `depth` levels (a leaf is one level). */
const condition = (depth: number, leafWeight = 3): fc.Arbitrary<Condition> =>
	depth <= 1
		? leaf
		: fc.oneof(
				{ weight: leafWeight, arbitrary: leaf },
				{
					weight: 1,
					arbitrary: fc.record({ all: fc.array(condition(depth - 1, leafWeight), { maxLength: 3 }) }),
				},
				{
					weight: 1,
					arbitrary: fc.record({ any: fc.array(condition(depth - 1, leafWeight), { maxLength: 3 }) }),
				},
				{ weight: 1, arbitrary: fc.record({ not: condition(depth - 1, leafWeight) }) },
			);

const facts: fc.Arbitrary<AudienceFacts> = fc
	.record({
		crm: fc.dictionary(attr, scalar, { maxKeys: 4 }),
		app: fc.dictionary(attr, scalar, { maxKeys: 4 }),
		interests: fc.array(word, { maxLength: 3 }),
		locale: fc.option(fc.constantFrom("fr", "fr-FR", "fr-CA", "de-CH", "de", "en-GB"), { nil: null }),
		visits: fc.array(
			fc.record({ id: fc.constantFrom("s1", "s2"), daysAgo: fc.integer({ min: 0, max: 100 }) }),
			{
				maxLength: 6,
			},
		),
		bought: fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 2 }),
	})
	.map((r) => {
		let visits: VisitCounters = [];
		for (const v of r.visits)
			visits = recordVisit(visits, v.id, v.id === "s1" ? ["grocery"] : [], NOW - v.daysAgo * DAY, NOW);
		return audienceFacts(
			{
				appAttributes: r.app,
				crmAttributes: r.crm,
				interests: r.interests,
				locale: r.locale,
				visits,
				purchases: r.bought.map((d) => ({ kind: "sku" as const, key: "beer-6", at: NOW - d * DAY })),
			},
			NOW,
		);
	});

const holds = (c: Condition, f: AudienceFacts) => evaluateAudience(c, f).in;

function depthOf(c: Condition): number {
	if ("all" in c) return 1 + Math.max(0, ...c.all.map(depthOf));
	if ("any" in c) return 1 + Math.max(0, ...c.any.map(depthOf));
	if ("not" in c) return 1 + depthOf(c.not);
	return 1;
}
function sizeOf(c: Condition): number {
	if ("all" in c) return 1 + c.all.reduce((n, k) => n + sizeOf(k), 0);
	if ("any" in c) return 1 + c.any.reduce((n, k) => n + sizeOf(k), 0);
	if ("not" in c) return 1 + sizeOf(c.not);
	return 1;
}

describe("audience evaluation: properties", () => {
	it("not(not(c)) == c", () => {
		fc.assert(
			fc.property(condition(3), facts, (c, f) => holds({ not: { not: c } }, f) === holds(c, f)),
			RUNS,
		);
	});

	it("not(c) is the opposite of c", () => {
		fc.assert(
			fc.property(condition(4), facts, (c, f) => holds({ not: c }, f) === !holds(c, f)),
			RUNS,
		);
	});

	it("all([]) holds and any([]) does not, for everyone", () => {
		fc.assert(
			fc.property(facts, (f) => holds({ all: [] }, f) && !holds({ any: [] }, f)),
			RUNS,
		);
	});

	it("all and any of one condition are that condition; De Morgan holds", () => {
		fc.assert(
			fc.property(condition(3), condition(3), facts, (a, b, f) => {
				expect(holds({ all: [a] }, f)).toBe(holds(a, f));
				expect(holds({ any: [a] }, f)).toBe(holds(a, f));
				expect(holds({ not: { all: [a, b] } }, f)).toBe(holds({ any: [{ not: a }, { not: b }] }, f));
				expect(holds({ all: [a, b] }, f)).toBe(holds(a, f) && holds(b, f));
				expect(holds({ any: [a, b] }, f)).toBe(holds(a, f) || holds(b, f));
			}),
			RUNS,
		);
	});

	it("a failure names a condition that is at its path and itself fails", () => {
		fc.assert(
			fc.property(condition(4), facts, (c, f) => {
				const v = evaluateAudience(c, f);
				if (v.in) return;
				let at: unknown = c;
				for (const step of v.failed.path.slice(1)) at = (at as Record<string | number, unknown>)[step];
				expect(at).toBe(v.failed.condition);
				expect(holds(v.failed.condition, f)).toBe(false);
			}),
			RUNS,
		);
	});
});

describe("audience parsing: properties", () => {
	it("accepts exactly the conditions within the depth and size bounds, unchanged", () => {
		const seen = { within: 0, outside: 0 };
		fc.assert(
			fc.property(condition(8, 1), (c) => {
				const r = parseAudience(JSON.parse(JSON.stringify(c)));
				const within = depthOf(c) <= MAX_AUDIENCE_DEPTH && sizeOf(c) <= MAX_AUDIENCE_CONDITIONS;
				seen[within ? "within" : "outside"] += 1;
				expect(r.ok).toBe(within);
				if (r.ok) expect(r.condition).toEqual(c);
				else
					expect(
						r.issues.some((i) => i.code === "audience_too_deep" || i.code === "audience_too_large"),
					).toBe(true);
			}),
			RUNS,
		);
		// Both sides of the bound were exercised.
		expect(seen.within).toBeGreaterThan(20);
		expect(seen.outside).toBeGreaterThan(20);
	});

	it("refuses more than 50 conditions however they are nested", () => {
		fc.assert(
			fc.property(fc.integer({ min: 51, max: 200 }), fc.integer({ min: 1, max: 4 }), (n, split) => {
				const per = Math.ceil(n / split);
				const groups = Array.from({ length: split }, (_, g) => ({
					any: Array.from({ length: Math.max(0, Math.min(per, n - g * per)) }, () => ({ interest: "x" })),
				}));
				const r = parseAudience({ all: groups });
				expect(r.ok).toBe(false);
				if (!r.ok) expect(r.issues.map((i) => i.code)).toEqual(["audience_too_large"]);
			}),
			RUNS,
		);
	});
});
