import { describe, expect, it } from "vitest";
import { AttributePatchSchema, applyAttributePatch, MAX_CRM_KEYS } from "../../src/audience/attributes.js";
import { type Condition, parseAudience } from "../../src/audience/condition.js";
import { audienceFacts, effectiveAttributes, evaluateAudience } from "../../src/audience/evaluate.js";
import { languageMatches, pickLocalized } from "../../src/audience/locale.js";
import {
	countVisits,
	MAX_VISIT_FENCES,
	recordVisit,
	utcDay,
	type VisitCounters,
} from "../../src/audience/visits.js";
import { decide, type GeofenceTrigger, type PersonView } from "../../src/offers/decide.js";
import { renderOffer, worstCasePayloads } from "../../src/offers/render.js";
import { applyCartEvent, emptyCart } from "../../src/rules/cart.js";
import { type Campaign, CreateCampaignSchema, VariantSchema } from "../../src/schemas/campaign.js";
import { defaultSettings } from "../../src/schemas/settings.js";

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const DAY = 86_400_000;

function parsed(value: unknown): Condition {
	const r = parseAudience(value);
	if (!r.ok) throw new Error(JSON.stringify(r.issues));
	return r.condition;
}

const facts = (over: Parameters<typeof audienceFacts>[0] = {}, now = NOW) => audienceFacts(over, now);

describe("parseAudience", () => {
	it("accepts every kind of the grammar", () => {
		const audience = {
			all: [
				{ attribute: "tier", in: ["gold", "platinum"] },
				{ attribute: "tier", nin: ["banned"] },
				{ attribute: "age", gte: 18 },
				{ attribute: "age", lt: 99 },
				{ attribute: "vip", eq: true },
				{ attribute: "store", ne: "x" },
				{ attribute: "email", exists: true },
				{ interest: "wine" },
				{ locale: ["fr", "de-CH"] },
				{ visits: { geofenceIds: ["s1"], tags: ["grocery"] }, withinDays: 30, gte: 2 },
				{ purchased: { skus: ["beer-6"], categories: ["beer"] }, withinDays: 90 },
				{ any: [{ not: { interest: "beer" } }] },
			],
		};
		expect(parseAudience(audience)).toEqual({ ok: true, condition: audience });
	});

	it("names the path of every bad node", () => {
		const r = parseAudience({
			all: [
				{ interest: "wine" },
				{ attribute: "tier", in: "gold" },
				{ any: [{ visits: {}, withinDays: 30 }] },
				{ colour: "red" },
				{ locale: ["not a tag"] },
				{ attribute: "tier", eq: 1, ne: 2 },
			],
		});
		expect(r.ok).toBe(false);
		if (r.ok) return;
		const paths = r.issues.map((i) => i.path.join("."));
		expect(paths).toContain("all.1.in");
		expect(paths).toContain("all.2.any.0");
		expect(paths).toContain("all.3");
		expect(paths).toContain("all.4.locale.0");
		expect(paths).toContain("all.5");
	});

	it("refuses a node with two kinds, unknown keys and non-objects", () => {
		for (const bad of [{ interest: "a", locale: ["fr"] }, { all: [], extra: 1 }, [], "x", null, 3]) {
			expect(parseAudience(bad).ok).toBe(false);
		}
		const r = parseAudience({ interest: "wine", extra: 1 });
		expect(r.ok ? [] : r.issues.map((i) => i.code)).toEqual(["unrecognized_keys"]);
	});

	it("bounds depth at 5 and size at 50, naming where the bound was passed", () => {
		let deep: unknown = { interest: "x" };
		for (let i = 0; i < 4; i++) deep = { not: deep };
		expect(parseAudience(deep).ok).toBe(true);
		const tooDeep = parseAudience({ not: deep });
		expect(tooDeep.ok).toBe(false);
		if (!tooDeep.ok) {
			expect(tooDeep.issues[0]?.code).toBe("audience_too_deep");
			expect(tooDeep.issues[0]?.path).toEqual(["not", "not", "not", "not", "not"]);
		}
		const leaves = (n: number) => ({ all: Array.from({ length: n }, (_, i) => ({ interest: `i${i}` })) });
		expect(parseAudience(leaves(49)).ok).toBe(true);
		const tooMany = parseAudience(leaves(50));
		expect(tooMany.ok).toBe(false);
		if (!tooMany.ok) {
			expect(tooMany.issues).toHaveLength(1);
			expect(tooMany.issues[0]).toMatchObject({ code: "audience_too_large", path: ["all", 49] });
		}
	});

	it("reports audience problems under the campaign field (the 422's errors[])", () => {
		const r = CreateCampaignSchema.safeParse({
			name: "x",
			trigger: { type: "geofence", on: "enter" },
			variants: [{ id: "a", title: "t", body: "b" }],
			audience: { all: [{ interest: "wine" }, { attribute: "age", gt: [1] }] },
		});
		expect(r.success).toBe(false);
		expect(r.error?.issues.map((i) => i.path.join("."))).toEqual(["audience.all.1.gt"]);
	});
});

describe("evaluateAudience", () => {
	it("is everyone without an audience", () => {
		expect(evaluateAudience(null, facts())).toEqual({ in: true });
		expect(evaluateAudience(undefined, facts())).toEqual({ in: true });
	});

	it("compares attributes; a missing one fails all but nin, ne and exists: false", () => {
		const f = facts({ crmAttributes: { tier: "gold", age: 34, vip: true, name: "b" } });
		const holds = (c: unknown) => evaluateAudience(parsed(c), f).in;
		expect(holds({ attribute: "tier", in: ["gold"] })).toBe(true);
		expect(holds({ attribute: "tier", in: ["silver"] })).toBe(false);
		expect(holds({ attribute: "tier", nin: ["silver"] })).toBe(true);
		expect(holds({ attribute: "age", eq: 34 })).toBe(true);
		expect(holds({ attribute: "age", eq: "34" })).toBe(false);
		expect(holds({ attribute: "age", ne: 35 })).toBe(true);
		expect(holds({ attribute: "age", gt: 33 })).toBe(true);
		expect(holds({ attribute: "age", gt: 34 })).toBe(false);
		expect(holds({ attribute: "age", gte: 34 })).toBe(true);
		expect(holds({ attribute: "age", lt: 34 })).toBe(false);
		expect(holds({ attribute: "age", lte: 34 })).toBe(true);
		expect(holds({ attribute: "age", gt: "30" })).toBe(false);
		expect(holds({ attribute: "name", gte: "a" })).toBe(true);
		expect(holds({ attribute: "vip", eq: true })).toBe(true);
		expect(holds({ attribute: "tier", exists: true })).toBe(true);
		// Missing.
		expect(holds({ attribute: "zip", in: ["x"] })).toBe(false);
		expect(holds({ attribute: "zip", eq: "x" })).toBe(false);
		expect(holds({ attribute: "zip", gt: 0 })).toBe(false);
		expect(holds({ attribute: "zip", nin: ["x"] })).toBe(true);
		expect(holds({ attribute: "zip", ne: "x" })).toBe(true);
		expect(holds({ attribute: "zip", exists: false })).toBe(true);
		expect(holds({ attribute: "zip", exists: true })).toBe(false);
	});

	it("never reads an inherited property as an attribute", () => {
		expect(evaluateAudience(parsed({ attribute: "constructor", exists: true }), facts()).in).toBe(false);
		expect(evaluateAudience(parsed({ attribute: "toString", exists: false }), facts()).in).toBe(true);
	});

	it("lets back-office attributes win over app-sent ones", () => {
		expect(effectiveAttributes({ tier: "gold", lang: "fr" }, { tier: "silver" })).toEqual({
			tier: "silver",
			lang: "fr",
		});
		const f = facts({ appAttributes: { tier: "gold" }, crmAttributes: { tier: "silver" } });
		expect(evaluateAudience(parsed({ attribute: "tier", in: ["gold"] }), f).in).toBe(false);
	});

	it("matches interests exactly and a language with its regional forms", () => {
		const f = facts({ interests: ["wine", "organic"], locale: "fr-CA" });
		expect(evaluateAudience(parsed({ interest: "wine" }), f).in).toBe(true);
		expect(evaluateAudience(parsed({ interest: "beer" }), f).in).toBe(false);
		expect(evaluateAudience(parsed({ locale: ["fr"] }), f).in).toBe(true);
		expect(evaluateAudience(parsed({ locale: ["FR-ca"] }), f).in).toBe(true);
		expect(evaluateAudience(parsed({ locale: ["fr-FR", "de"] }), f).in).toBe(false);
		expect(evaluateAudience(parsed({ locale: ["fr"] }), facts({ locale: "fra" })).in).toBe(false);
		expect(evaluateAudience(parsed({ locale: ["fr"] }), facts()).in).toBe(false);
		expect(evaluateAudience(parsed({ locale: ["de-CH"] }), facts({ locale: "de" })).in).toBe(false);
	});

	it("counts visits per id and tag over a window of UTC days", () => {
		let v: VisitCounters = [];
		v = recordVisit(v, "s1", ["grocery"], NOW - 40 * DAY, NOW - 40 * DAY);
		v = recordVisit(v, "s1", ["grocery"], NOW - 3 * DAY, NOW - 3 * DAY);
		v = recordVisit(v, "s2", ["grocery", "wine"], NOW, NOW);
		v = recordVisit(v, "s2", ["grocery", "wine"], NOW, NOW);
		const f = facts({ visits: v });
		const n = (c: object) => evaluateAudience(parsed(c), f).in;
		expect(n({ visits: {}, withinDays: 30, gte: 3 })).toBe(true);
		expect(n({ visits: {}, withinDays: 30, gte: 4 })).toBe(false);
		expect(n({ visits: {}, withinDays: 60, gte: 4 })).toBe(true);
		expect(n({ visits: { geofenceIds: ["s1"] }, withinDays: 30, lt: 2 })).toBe(true);
		expect(n({ visits: { tags: ["wine"] }, withinDays: 1, gte: 2 })).toBe(true);
		expect(n({ visits: { tags: ["wine"], geofenceIds: ["s1"] }, withinDays: 90, gte: 1 })).toBe(false);
		expect(countVisits(v, {}, 1, utcDay(NOW))).toBe(2);
	});

	it("keeps visit counters bounded: 90 days, 200 fences", () => {
		let v: VisitCounters = [];
		v = recordVisit(v, "old", [], NOW - 91 * DAY, NOW - 91 * DAY);
		for (let i = 0; i < MAX_VISIT_FENCES + 5; i++) v = recordVisit(v, `f${i}`, [], NOW + i, NOW);
		expect(Object.keys(v)).toHaveLength(MAX_VISIT_FENCES);
		expect(v.find((f) => f.id === "old")).toBeUndefined();
		// Most recently visited first.
		expect(v[0]?.id).toBe(`f${MAX_VISIT_FENCES + 4}`);
	});

	it("finds purchases in the marks the cart keeps (sorted, one per key)", () => {
		let cart = emptyCart();
		const items = [
			{ sku: "wine-1", category: "wine" },
			{ sku: "beer-6", category: "beer" },
			{ sku: "aaa", category: "zzz" },
		];
		cart = applyCartEvent(cart, { eventId: "e1", type: "purchase", items, occurredAt: NOW - 5 * DAY });
		cart = applyCartEvent(cart, {
			eventId: "e2",
			type: "checkout",
			items: [{ sku: "cider", category: "beer" }],
			occurredAt: NOW - DAY,
		});
		const f = facts({ purchases: cart.purchases });
		const n = (c: object) => evaluateAudience(parsed(c), f).in;
		for (const sku of ["wine-1", "beer-6", "aaa", "cider"])
			expect(n({ purchased: { skus: [sku] }, withinDays: 7 })).toBe(true);
		for (const category of ["wine", "beer", "zzz"])
			expect(n({ purchased: { categories: [category] }, withinDays: 7 })).toBe(true);
		expect(n({ purchased: { categories: ["wine"] }, withinDays: 3 })).toBe(false);
		expect(n({ purchased: { categories: ["beer"] }, withinDays: 3 })).toBe(true);
		expect(n({ purchased: { skus: ["wine"] }, withinDays: 30 })).toBe(false);
	});

	it("looks at purchases within the window", () => {
		const f = facts({
			purchases: [
				{ kind: "category", key: "wine", at: NOW - 100 * DAY },
				{ kind: "sku", key: "beer-6", at: NOW - 10 * DAY },
			],
		});
		const n = (c: object) => evaluateAudience(parsed(c), f).in;
		expect(n({ purchased: { skus: ["beer-6"] }, withinDays: 30 })).toBe(true);
		expect(n({ purchased: { skus: ["beer-6"] }, withinDays: 10 })).toBe(false);
		expect(n({ purchased: { categories: ["wine"] }, withinDays: 90 })).toBe(false);
		expect(n({ purchased: { categories: ["wine"] }, withinDays: 365 })).toBe(true);
	});

	it("reports the condition that failed with its path", () => {
		const audience = parsed({
			all: [
				{ attribute: "tier", in: ["gold"] },
				{ any: [{ interest: "wine" }, { interest: "beer" }] },
				{ not: { locale: ["de"] } },
			],
		});
		const gold = { crmAttributes: { tier: "gold" } };
		expect(evaluateAudience(audience, facts({ crmAttributes: { tier: "silver" } }))).toEqual({
			in: false,
			failed: { path: ["audience", "all", 0], condition: { attribute: "tier", in: ["gold"] } },
		});
		expect(evaluateAudience(audience, facts(gold))).toEqual({
			in: false,
			failed: {
				path: ["audience", "all", 1],
				condition: { any: [{ interest: "wine" }, { interest: "beer" }] },
			},
		});
		expect(evaluateAudience(audience, facts({ ...gold, interests: ["beer"], locale: "de-AT" }))).toEqual({
			in: false,
			failed: { path: ["audience", "all", 2], condition: { not: { locale: ["de"] } } },
		});
		expect(evaluateAudience(audience, facts({ ...gold, interests: ["beer"], locale: "fr" }))).toEqual({
			in: true,
		});
	});
});

describe("attributes", () => {
	it("merges a patch; null removes; bounded", () => {
		expect(applyAttributePatch({ tier: "gold", age: 3 }, { age: null, store: "s1", tier: "silver" })).toEqual(
			{
				tier: "silver",
				store: "s1",
			},
		);
		const many = Object.fromEntries(Array.from({ length: MAX_CRM_KEYS }, (_, i) => [`k${i}`, i]));
		expect(applyAttributePatch(many, { extra: 1 })).toBeNull();
		expect(applyAttributePatch({}, { big: "x".repeat(256) })).not.toBeNull();
	});

	it("takes scalars and null only, with safe keys", () => {
		expect(AttributePatchSchema.safeParse({ tier: "gold", age: 34, ok: true, store: null }).success).toBe(
			true,
		);
		for (const bad of [{ tier: ["gold"] }, { tier: { a: 1 } }, { "bad key": 1 }, { __proto__x: 1 }]) {
			expect(AttributePatchSchema.safeParse(bad).success).toBe(false);
		}
		// A "__proto__" key never becomes an attribute (dropped, the prototype untouched).
		const proto = AttributePatchSchema.parse(JSON.parse('{"__proto__": 1, "a": 2}'));
		expect(Object.hasOwn(proto, "__proto__")).toBe(false);
		expect(applyAttributePatch({}, proto)).toEqual({ a: 2 });
	});
});

describe("locale fallback", () => {
	const localized = { fr: "fr", "fr-CA": "fr-CA", "de-CH": "de-CH" };
	it("picks the exact tag, then the language, else nothing", () => {
		expect(pickLocalized(localized, "fr-CA")?.entry).toBe("fr-CA");
		expect(pickLocalized(localized, "fr-ca")?.entry).toBe("fr-CA");
		expect(pickLocalized(localized, "fr-BE")?.entry).toBe("fr");
		expect(pickLocalized(localized, "fr")?.entry).toBe("fr");
		expect(pickLocalized(localized, "de")).toBeNull();
		expect(pickLocalized(localized, "de-AT")).toBeNull();
		expect(pickLocalized(localized, "de-CH")?.entry).toBe("de-CH");
		expect(pickLocalized(localized, null)).toBeNull();
		expect(pickLocalized(undefined, "fr")).toBeNull();
		expect(languageMatches("fr", "fr-ca")).toBe(true);
		expect(languageMatches("fr", "fra")).toBe(false);
	});

	it("renders the person's translation, else the variant's own texts", () => {
		const variant = VariantSchema.parse({
			id: "a",
			title: '{{ firstName | default: "Hi" }}, wine -20%',
			body: "Default body",
			url: "https://shop.example/wine",
			localized: {
				fr: { title: '{{ firstName | default: "Bonjour" }}, vin -20%', body: "Texte" },
				"fr-CA": { title: "Vin", body: "Québec", url: "https://shop.example/qc" },
			},
		});
		expect(renderOffer(variant, { firstName: "Ana" }, "fr-FR")).toMatchObject({
			title: "Ana, vin -20%",
			body: "Texte",
			url: "https://shop.example/wine",
		});
		expect(renderOffer(variant, {}, "fr")).toMatchObject({ title: "Bonjour, vin -20%" });
		expect(renderOffer(variant, {}, "fr-CA")).toMatchObject({
			body: "Québec",
			url: "https://shop.example/qc",
		});
		expect(renderOffer(variant, {}, "de-DE")).toMatchObject({ title: "Hi, wine -20%", body: "Default body" });
		expect(renderOffer(variant, {}, null)).toMatchObject({ body: "Default body" });
	});

	it("checks the payload size of every translation", () => {
		const variant = VariantSchema.parse({
			id: "a",
			title: "t",
			body: "short",
			localized: { fr: { title: "t", body: "{{ a }}".repeat(140) } },
		});
		const sizes = worstCasePayloads("c", variant);
		expect(sizes.map((s) => s.tag)).toEqual([null, "fr"]);
		expect(sizes[1]?.bytes).toBeGreaterThan(3993);
		expect(sizes[0]?.bytes).toBeLessThan(1000);
	});
});

describe("decide with an audience", () => {
	const trigger: GeofenceTrigger = {
		type: "geofence",
		on: "enter",
		fence: { id: "s1", name: "Store", tags: ["grocery"], metadata: {} },
		at: NOW,
		stale: false,
	};
	const campaign: Campaign = {
		id: "c1",
		name: "Wine",
		status: "active",
		priority: 0,
		trigger: { type: "geofence", on: "enter" },
		variants: [{ id: "a", weight: 1, title: "t", body: "b" }],
		holdoutPercent: 0,
		ttlSeconds: 1800,
		cooldownSeconds: 0,
		startsAt: null,
		endsAt: null,
		ignoreCaps: true,
		offerSku: null,
		audience: parsed({ attribute: "tier", in: ["gold"] }),
	};
	const person = (audience?: PersonView["audience"]): PersonView => ({
		userId: "u1",
		timezone: null,
		consent: { location: true, push: true },
		reachable: true,
		lastByCooldownKey: {},
		sentHistory: [],
		cart: { skus: new Set(), categories: new Set() },
		purchasedWithin: () => false,
		...(audience ? { audience } : {}),
	});

	it("suppresses a person outside with not_in_audience and the failed condition, no variant", () => {
		const [d] = decide(
			trigger,
			[campaign],
			person(facts({ crmAttributes: { tier: "silver" } })),
			defaultSettings(),
			NOW,
		);
		expect(d).toMatchObject({ decision: "suppressed", reason: "not_in_audience", variant: null });
		expect(d?.decision === "suppressed" && d.failed?.path).toEqual(["audience"]);
		const [none] = decide(trigger, [campaign], person(), defaultSettings(), NOW);
		expect(none).toMatchObject({ reason: "not_in_audience" });
	});

	it("sends to a person inside", () => {
		const [d] = decide(
			trigger,
			[campaign],
			person(facts({ crmAttributes: { tier: "gold" } })),
			defaultSettings(),
			NOW,
		);
		expect(d?.decision).toBe("sent");
	});
});
