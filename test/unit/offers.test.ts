import { describe, expect, it } from "vitest";
import { assignVariant, inHoldout } from "../../src/offers/assign.js";
import {
	campaignDwellSeconds,
	decide,
	type GeofenceTrigger,
	type PersonView,
} from "../../src/offers/decide.js";
import { renderOffer, worstCasePayloadBytes } from "../../src/offers/render.js";
import { MAX_VALUE_CHARS, parseTemplate, renderTemplate, TemplateError } from "../../src/offers/template.js";
import type { Campaign } from "../../src/schemas/campaign.js";
import { defaultSettings, type Settings } from "../../src/schemas/settings.js";

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

function campaign(over: Partial<Campaign> = {}): Campaign {
	return {
		id: "c1",
		name: "Beer",
		status: "active",
		priority: 0,
		trigger: { type: "geofence", on: "enter", tags: ["grocery"] },
		variants: [{ id: "a", weight: 1, title: "Hi", body: "there" }],
		holdoutPercent: 0,
		ttlSeconds: 600,
		cooldownSeconds: 86_400,
		startsAt: null,
		endsAt: null,
		ignoreCaps: false,
		offerSku: null,
		...over,
	};
}
const trigger = (over: Partial<GeofenceTrigger> = {}): GeofenceTrigger => ({
	type: "geofence",
	on: "enter",
	fence: { id: "store-1", name: "Rivoli", tags: ["grocery"], metadata: {} },
	at: NOW,
	stale: false,
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
// Quiet hours off unless a test turns them on: NOW is noon UTC anyway.
const SETTINGS: Settings = { ...defaultSettings("UTC"), quietHours: null };
const summary = (ds: ReturnType<typeof decide>) =>
	ds.map((d) => [d.campaign.id, d.decision, d.decision === "suppressed" ? d.reason : undefined]);

describe("dwell thresholds", () => {
	const fence = { id: "store-1", name: "Rivoli", tags: ["grocery"], metadata: {}, dwellSeconds: 60 };
	const atFence = campaign({ id: "at-fence", trigger: { type: "geofence", on: "dwell" } });
	const at300 = campaign({ id: "at-300", trigger: { type: "geofence", on: "dwell", dwellSeconds: 300 } });

	it("a dwell event reaches the campaigns waiting for its threshold only", () => {
		const ids = (dwellSeconds: number) =>
			decide(trigger({ on: "dwell", fence, dwellSeconds }), [atFence, at300], person(), SETTINGS, NOW).map(
				(d) => d.campaign.id,
			);
		expect(ids(60)).toEqual(["at-fence"]);
		expect(ids(300).sort()).toEqual(["at-300"]);
		expect(ids(120)).toEqual([]);
	});

	it("campaigns that name a threshold schedule it, for the fences they apply to only", () => {
		const pharmacy = campaign({
			id: "pharmacy",
			trigger: { type: "geofence", on: "dwell", tags: ["pharmacy"], dwellSeconds: 30 },
		});
		const enter = campaign({ id: "enter" });
		expect(campaignDwellSeconds([atFence, at300, pharmacy, enter], fence)).toEqual([300]);
	});
});

describe("decide", () => {
	it("yields no decision for campaigns that do not listen to the event", () => {
		const cs = [
			campaign({ id: "exit", trigger: { type: "geofence", on: "exit" } }),
			campaign({ id: "other-tag", trigger: { type: "geofence", on: "enter", tags: ["pharmacy"] } }),
			campaign({ id: "other-fence", trigger: { type: "geofence", on: "enter", geofenceIds: ["store-2"] } }),
		];
		expect(decide(trigger(), cs, person(), SETTINGS, NOW)).toEqual([]);
	});

	it("names the first failing check as the suppression reason", () => {
		const key = "c1\u0000store-1";
		expect(summary(decide(trigger(), [campaign({ status: "paused" })], person(), SETTINGS, NOW))).toEqual([
			["c1", "suppressed", "campaign_inactive"],
		]);
		expect(summary(decide(trigger(), [campaign({ endsAt: NOW })], person(), SETTINGS, NOW))).toEqual([
			["c1", "suppressed", "campaign_inactive"],
		]);
		expect(summary(decide(trigger({ stale: true }), [campaign()], person(), SETTINGS, NOW))).toEqual([
			["c1", "suppressed", "stale"],
		]);
		expect(
			summary(
				decide(trigger(), [campaign()], person({ consent: { location: true, push: false } }), SETTINGS, NOW),
			),
		).toEqual([["c1", "suppressed", "no_consent"]]);
		expect(
			summary(
				decide(trigger(), [campaign()], person({ lastByCooldownKey: { [key]: NOW - 1000 } }), SETTINGS, NOW),
			),
		).toEqual([["c1", "suppressed", "cooldown"]]);
		expect(summary(decide(trigger(), [campaign()], person({ reachable: false }), SETTINGS, NOW))).toEqual([
			["c1", "suppressed", "no_subscription"],
		]);
	});

	it("lets the cooldown lapse after cooldownSeconds, per fence", () => {
		const key = "c1\u0000store-1";
		expect(
			summary(
				decide(
					trigger(),
					[campaign()],
					person({ lastByCooldownKey: { [key]: NOW - 86_400_000 } }),
					SETTINGS,
					NOW,
				),
			),
		).toEqual([["c1", "sent", undefined]]);
		expect(
			summary(
				decide(
					trigger(),
					[campaign()],
					person({ lastByCooldownKey: { "c1\u0000store-2": NOW } }),
					SETTINGS,
					NOW,
				),
			),
		).toEqual([["c1", "sent", undefined]]);
	});

	it("sends only the highest priority of several matching campaigns", () => {
		const cs = [
			campaign({ id: "low", priority: 1 }),
			campaign({ id: "high", priority: 5 }),
			campaign({ id: "mid", priority: 3 }),
		];
		expect(summary(decide(trigger(), cs, person(), SETTINGS, NOW))).toEqual([
			["high", "sent", undefined],
			["mid", "suppressed", "lower_priority"],
			["low", "suppressed", "lower_priority"],
		]);
	});

	it("holds out the winner instead of sending the runner-up", () => {
		const cs = [
			campaign({ id: "high", priority: 5, holdoutPercent: 100 }),
			campaign({ id: "low", priority: 1 }),
		];
		expect(summary(decide(trigger(), cs, person(), SETTINGS, NOW))).toEqual([
			["high", "holdout", undefined],
			["low", "suppressed", "lower_priority"],
		]);
	});
});

describe("decide with the pressure policy", () => {
	const H = 3_600_000;
	it("suppresses for quiet hours in the person's zone, else the tenant's", () => {
		const quiet: Settings = {
			...SETTINGS,
			timezone: "Europe/Paris",
			quietHours: { start: "21:00", end: "09:00" },
		};
		// 22:30 UTC is 23:30 in Paris (winter), 17:30 in New York.
		const late = Date.UTC(2026, 10, 23, 22, 30);
		expect(summary(decide(trigger(), [campaign()], person(), quiet, late))).toEqual([
			["c1", "suppressed", "quiet_hours"],
		]);
		expect(
			summary(decide(trigger(), [campaign()], person({ timezone: "America/New_York" }), quiet, late)),
		).toEqual([["c1", "sent", undefined]]);
	});

	it("applies the caps and the minimum interval across campaigns, unless the campaign ignores caps", () => {
		const two = [NOW - 20 * H, NOW - 10 * H];
		expect(summary(decide(trigger(), [campaign()], person({ sentHistory: two }), SETTINGS, NOW))).toEqual([
			["c1", "suppressed", "daily_cap"],
		]);
		const five = [1, 2, 3, 4, 5].map((d) => NOW - d * 25 * H);
		expect(summary(decide(trigger(), [campaign()], person({ sentHistory: five }), SETTINGS, NOW))).toEqual([
			["c1", "suppressed", "weekly_cap"],
		]);
		expect(
			summary(decide(trigger(), [campaign()], person({ sentHistory: [NOW - H + 1] }), SETTINGS, NOW)),
		).toEqual([["c1", "suppressed", "min_interval"]]);
		expect(
			summary(
				decide(trigger(), [campaign({ ignoreCaps: true })], person({ sentHistory: two }), SETTINGS, NOW),
			),
		).toEqual([["c1", "sent", undefined]]);
	});

	it("lets a campaign override the tenant's policy", () => {
		const c = campaign({ pressure: { minIntervalSeconds: 0, caps: { perDay: 3 } } });
		expect(
			summary(decide(trigger(), [c], person({ sentHistory: [NOW - 20 * H, NOW - 1000] }), SETTINGS, NOW)),
		).toEqual([["c1", "sent", undefined]]);
	});

	it("never lets ignoreCaps bypass consent", () => {
		const c = campaign({ ignoreCaps: true });
		expect(
			summary(decide(trigger(), [c], person({ consent: { location: true, push: false } }), SETTINGS, NOW)),
		).toEqual([["c1", "suppressed", "no_consent"]]);
	});
});

describe("assignment", () => {
	it("is sticky and follows the weights over 10,000 people", () => {
		const variants = [
			{ id: "a", weight: 70 },
			{ id: "b", weight: 30 },
		];
		let a = 0;
		for (let i = 0; i < 10_000; i++) {
			const v = assignVariant("camp", `user-${i}`, variants);
			if (v?.id === "a") a++;
			expect(assignVariant("camp", `user-${i}`, variants)?.id).toBe(v?.id);
		}
		expect(a / 10_000).toBeGreaterThan(0.68);
		expect(a / 10_000).toBeLessThan(0.72);
	});

	it("holds out about holdoutPercent of people, and never with 0 %", () => {
		let held = 0;
		for (let i = 0; i < 10_000; i++) {
			if (inHoldout("camp", `user-${i}`, 10)) held++;
			expect(inHoldout("camp", `user-${i}`, 0)).toBe(false);
		}
		expect(held).toBeGreaterThan(900);
		expect(held).toBeLessThan(1100);
	});
});

describe("templates", () => {
	it("renders paths, defaults and case filters", () => {
		const t = parseTemplate('{{ firstName | default: "Hi" }}, beer at {{ geofence.name | upcase }}!');
		expect(renderTemplate(t, { firstName: "Ada", geofence: { name: "Rivoli" } })).toBe(
			"Ada, beer at RIVOLI!",
		);
		expect(renderTemplate(t, { geofence: {} })).toBe("Hi, beer at !");
	});

	it("reads only own data properties, never the prototype chain", () => {
		const t = parseTemplate("{{ constructor.name }}{{ toString }}");
		expect(renderTemplate(t, {})).toBe("");
	});

	it("rejects bad syntax with stable codes", () => {
		const code = (s: string) => {
			try {
				parseTemplate(s);
				return null;
			} catch (e) {
				return e instanceof TemplateError ? e.code : "other";
			}
		};
		expect(code("{{ firstName")).toBe("unclosed_tag");
		expect(code("{{ 1+1 }}")).toBe("bad_expression");
		expect(code("{{ a | shout }}")).toBe("unknown_filter");
		expect(code('{{ a | default: "x|y" }}')).toBeNull();
	});
});

describe("payload size bounds", () => {
	it("caps each expression at MAX_VALUE_CHARS, strips control characters, never splits a surrogate pair", () => {
		const t = parseTemplate("Hi {{ firstName }}!");
		expect(renderTemplate(t, { firstName: "x".repeat(500) })).toBe(`Hi ${"x".repeat(MAX_VALUE_CHARS)}!`);
		expect(renderTemplate(t, { firstName: "A\u0000d\u001fa\u007f" })).toBe("Hi Ada!");
		const emoji = `${"x".repeat(MAX_VALUE_CHARS - 1)}😀`;
		expect(renderTemplate(t, { firstName: emoji })).toBe(`Hi ${"x".repeat(MAX_VALUE_CHARS - 1)}!`);
	});

	it("bounds what any person could get, above what a real render produces", () => {
		const variant = {
			id: "a",
			weight: 1,
			title: "{{ firstName }}, -20%",
			body: "At {{ geofence.name }} {{ attributes.x }}",
		};
		const worst = worstCasePayloadBytes("c1", variant);
		const real = renderOffer(variant, {
			firstName: "€".repeat(500),
			geofence: { name: "€".repeat(500) },
			attributes: { x: '"'.repeat(500) },
		});
		const payload = JSON.stringify({
			offerId: "00000000-0000-0000-0000-000000000000",
			campaignId: "c1",
			variantId: "a",
			...real,
			expiresAt: "2026-01-01T00:00:00.000Z",
		});
		expect(new TextEncoder().encode(payload).byteLength).toBeLessThanOrEqual(worst);
		expect(worstCasePayloadBytes("c1", { ...variant, body: "{{ a }}".repeat(40) })).toBeGreaterThan(3993);
	});
});

describe("templates render hostile values safely", () => {
	it("a lone surrogate in a stored value renders as U+FFFD, so the payload stays well-formed", () => {
		const t = parseTemplate("Hi {{ firstName }} {{ attributes.note | upcase }}");
		const out = renderTemplate(t, { firstName: "A\ud800da", attributes: { note: "x\udfffy" } });
		expect(out.isWellFormed()).toBe(true);
		expect(out).toBe("Hi A\ufffdda X\ufffdY");
	});
});
