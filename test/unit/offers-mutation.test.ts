/**
 * The decision pipeline's checks (src/offers/decide.ts) one by one, cases the mutation run
 * (npm run mutation) showed untested in Node: the campaign's window, the cart requirement,
 * purchase suppression by SKU or category, cooldowns, tags, cart rules.
 */
import { describe, expect, it } from "vitest";
import { campaignDwellSeconds, decide, type PersonView, type TriggerEvent } from "../../src/offers/decide.js";
import type { Campaign } from "../../src/schemas/campaign.js";
import { defaultSettings } from "../../src/schemas/settings.js";

const NOW = Date.UTC(2026, 10, 23, 12);
const DAY = 86_400_000;
const SETTINGS = { ...defaultSettings("UTC"), quietHours: null, minIntervalSeconds: 0 };

const campaign = (over: Partial<Campaign> = {}): Campaign => ({
	id: "c1",
	name: "n",
	status: "active",
	priority: 0,
	trigger: { type: "geofence", on: "enter", tags: ["grocery"] },
	variants: [{ id: "a", weight: 1, title: "t", body: "b" }],
	holdoutPercent: 0,
	ttlSeconds: 600,
	cooldownSeconds: 0,
	startsAt: null,
	endsAt: null,
	ignoreCaps: false,
	offerSku: null,
	...over,
});

const person = (over: Partial<PersonView> = {}): PersonView => ({
	userId: "u1",
	timezone: null,
	consent: { location: true, push: true },
	reachable: true,
	lastByCooldownKey: {},
	sentHistory: [],
	cart: { skus: new Set(), categories: new Set() },
	purchasedWithin: () => false,
	...over,
});

const enter = (tags = ["grocery"]): TriggerEvent => ({
	type: "geofence",
	on: "enter",
	fence: { id: "g1", name: "G", tags, metadata: {} },
	at: NOW,
	stale: false,
});

const cartAdd = (items: { sku: string; category?: string }[]): TriggerEvent => ({
	type: "cart",
	event: "item_added",
	items: items.map((i) => ({ sku: i.sku, category: i.category ?? null, name: null, price: null })),
	at: NOW,
	stale: false,
});

const outcome = (c: Campaign, p = person(), t = enter()) =>
	decide(t, [c], p, SETTINGS, NOW).map((d) => (d.decision === "suppressed" ? d.reason : d.decision));

describe("decide: the campaign's window", () => {
	it("starts at startsAt (included) and ends at endsAt (excluded)", () => {
		expect(outcome(campaign({ startsAt: NOW + 1 }))).toEqual(["campaign_inactive"]);
		expect(outcome(campaign({ startsAt: NOW }))).toEqual(["sent"]);
		expect(outcome(campaign({ endsAt: NOW }))).toEqual(["campaign_inactive"]);
		expect(outcome(campaign({ endsAt: NOW + 1 }))).toEqual(["sent"]);
		expect(outcome(campaign({ status: "paused" } as Partial<Campaign>))).toEqual(["campaign_inactive"]);
	});
});

describe("decide: combined signals and purchases", () => {
	it("an in-store campaign that requires a cart item", () => {
		const c = campaign({
			trigger: { type: "geofence", on: "enter", requiresCart: { categories: ["wine"] } },
		});
		expect(outcome(c)).toEqual(["cart_requirement"]);
		const withWine = person({ cart: { skus: new Set(), categories: new Set(["wine"]) } });
		expect(outcome(c, withWine)).toEqual(["sent"]);
	});

	it("suppresses what was bought: the campaign's SKU, a cart rule's SKU or category, over their days", () => {
		const asked: unknown[] = [];
		const bought = (what: { sku?: string; category?: string }) =>
			person({
				purchasedWithin: (item, days) => {
					asked.push({ ...item, days });
					return item.sku === what.sku && what.sku !== undefined
						? true
						: item.category === what.category && what.category !== undefined;
				},
			});
		expect(outcome(campaign({ offerSku: "beer" }), bought({ sku: "beer" }))).toEqual(["already_purchased"]);
		expect(asked).toEqual([{ sku: "beer", days: SETTINGS.purchaseSuppressionDays }]);
		expect(outcome(campaign({ offerSku: "beer" }), bought({ sku: "wine" }))).toEqual(["sent"]);
		// No SKU or category to offer: nothing is asked.
		asked.length = 0;
		expect(outcome(campaign(), bought({ sku: "beer" }))).toEqual(["sent"]);
		expect(asked).toEqual([]);
		const rule = campaign({
			trigger: {
				type: "cart",
				whenCartHas: { skus: ["chips"] },
				offerCategory: "dips",
				suppressIfPurchasedWithinDays: 30,
			},
		});
		const inCart = { skus: new Set(["chips"]), categories: new Set<string>() };
		const p = (what: { sku?: string; category?: string }) => ({ ...bought(what), cart: inCart });
		asked.length = 0;
		expect(outcome(rule, p({ category: "dips" }), cartAdd([{ sku: "chips" }]))).toEqual([
			"already_purchased",
		]);
		expect(asked).toEqual([{ category: "dips", days: 30 }]);
		expect(outcome(rule, p({ category: "salsa" }), cartAdd([{ sku: "chips" }]))).toEqual(["sent"]);
		const skuRule = campaign({
			trigger: { type: "cart", whenCartHas: { skus: ["chips"] }, offerSku: "salsa" },
			offerSku: "other",
		});
		asked.length = 0;
		expect(outcome(skuRule, p({ sku: "salsa" }), cartAdd([{ sku: "chips" }]))).toEqual(["already_purchased"]);
		expect(asked).toEqual([{ sku: "salsa", days: SETTINGS.purchaseSuppressionDays }]);
	});

	it("a cooldown counts from the last send of this campaign at this fence", () => {
		const c = campaign({ cooldownSeconds: 60 });
		const key = `c1\u0000g1`;
		expect(outcome(c, person({ lastByCooldownKey: { [key]: NOW - 59_999 } }))).toEqual(["cooldown"]);
		expect(outcome(c, person({ lastByCooldownKey: { [key]: NOW - 60_000 } }))).toEqual(["sent"]);
		expect(outcome(c, person({ lastByCooldownKey: { "c1\u0000g2": NOW } }))).toEqual(["sent"]);
		expect(outcome(campaign(), person({ lastByCooldownKey: { [key]: NOW } }))).toEqual(["sent"]);
		const rule = campaign({
			cooldownSeconds: DAY / 1000,
			trigger: { type: "cart", whenCartHas: { skus: ["a"] } },
		});
		const cart = { skus: new Set(["a"]), categories: new Set<string>() };
		expect(
			outcome(
				rule,
				person({ cart, lastByCooldownKey: { "c1\u0000cart": NOW - 1 } }),
				cartAdd([{ sku: "a" }]),
			),
		).toEqual(["cooldown"]);
	});
});

describe("decide: which campaigns a trigger matches", () => {
	it("a fence with any one of the campaign's tags; a geofence campaign never fires on a cart event", () => {
		const c = campaign({ trigger: { type: "geofence", on: "enter", tags: ["grocery", "wine"] } });
		expect(outcome(c, person(), enter(["wine"]))).toEqual(["sent"]);
		expect(outcome(c, person(), enter(["shoes"]))).toEqual([]);
		expect(outcome(c, person(), cartAdd([{ sku: "a" }]))).toEqual([]);
	});

	it("a cart rule fires for an added item of its category, the cart holding it, unless the cart has the exclusion", () => {
		const rule = campaign({
			trigger: { type: "cart", whenCartHas: { categories: ["beer"] }, unlessCartHas: { skus: ["chips"] } },
		});
		const cart = (skus: string[], categories: string[]) => ({
			skus: new Set(skus),
			categories: new Set(categories),
		});
		expect(
			outcome(rule, person({ cart: cart(["ipa"], ["beer"]) }), cartAdd([{ sku: "ipa", category: "beer" }])),
		).toEqual(["sent"]);
		// The cart holds beer but the item added is not beer: no re-fire.
		expect(
			outcome(rule, person({ cart: cart(["ipa", "milk"], ["beer"]) }), cartAdd([{ sku: "milk" }])),
		).toEqual([]);
		// The added item is beer but the cart (as the rule sees it) does not hold it.
		expect(
			outcome(rule, person({ cart: cart([], []) }), cartAdd([{ sku: "ipa", category: "beer" }])),
		).toEqual([]);
		expect(
			outcome(
				rule,
				person({ cart: cart(["ipa", "chips"], ["beer"]) }),
				cartAdd([{ sku: "ipa", category: "beer" }]),
			),
		).toEqual([]);
		// A cart rule never fires on a fence.
		expect(outcome(rule, person({ cart: cart(["ipa"], ["beer"]) }), enter())).toEqual([]);
	});

	it("campaignDwellSeconds: the thresholds of the dwell campaigns that apply to the fence", () => {
		const fence = { id: "g1", name: "G", tags: ["grocery"], metadata: {} };
		const list = [
			campaign({ trigger: { type: "geofence", on: "dwell", dwellSeconds: 300, tags: ["grocery"] } }),
			campaign({ trigger: { type: "geofence", on: "dwell", dwellSeconds: 600, tags: ["shoes"] } }),
			campaign({ trigger: { type: "geofence", on: "dwell" } }),
			campaign({ trigger: { type: "geofence", on: "enter" } }),
			campaign({ trigger: { type: "cart", whenCartHas: { skus: ["a"] } } }),
		];
		expect(campaignDwellSeconds(list, fence)).toEqual([300]);
	});
});
