/**
 * The person core's transitions (src/person/step.ts), cases the mutation run (npm run
 * mutation) showed untested by the step and property tests: exact effects and write keys,
 * boundaries (attribution window, staleness, due times), holdout and suppressed decisions,
 * the offer record and ids.
 */
import { describe, expect, it } from "vitest";
import { MAX_CRM_KEYS } from "../../src/audience/attributes.js";
import {
	alarmNeedsCampaigns,
	campaignsNeeded,
	emptyState,
	offerIds,
	type PendingDelivery,
	type PersonInput,
	type PersonState,
	SCREENING_MAX,
	step,
	wakeAt,
} from "../../src/person/index.js";
import { pushTopic } from "../../src/push/payload.js";
import type { Campaign } from "../../src/schemas/campaign.js";
import type { Settings } from "../../src/schemas/settings.js";
import {
	allRules,
	campaign,
	drive,
	effectsOf,
	fence,
	inside,
	pingsInput,
	records,
	registered,
	SEED,
	SETTINGS,
	T0,
	TENANT,
	USER,
} from "./person-fixtures.js";

const grocery = { g1: fence("g1") };
const FREE: Settings = { ...SETTINGS, minIntervalSeconds: 0, caps: { perDay: 100, perWeek: 500 } };

function pending(offerId: string, deviceId: string, nextAt: number): PendingDelivery {
	return {
		offerId,
		deviceId,
		message: { transport: "web", payload: "{}" },
		topic: "t",
		expiresAt: T0 + 600_000,
		attempt: 0,
		nextAt,
	};
}

/** The person inside g1 since T0 (no campaign fired). */
function inG1(campaigns: Campaign[] = []): PersonState {
	const s = registered();
	return drive(
		s,
		pingsInput(s, [{ t: T0, where: inside("g1") }], T0, { fences: grocery, campaigns }),
		T0,
		campaigns,
	).state;
}

const cartInput = (
	event: Extract<PersonInput, { kind: "cart" }>["event"],
	campaigns: Campaign[] | null,
	seed = SEED,
): Extract<PersonInput, { kind: "cart" }> => ({
	kind: "cart",
	tenantId: TENANT,
	userId: USER,
	event,
	rules: campaigns ? allRules(campaigns) : null,
	fcm: false,
	seed,
});

const crossSell = campaign({
	id: "chips",
	trigger: { type: "cart", whenCartHas: { skus: ["beer"] }, offerSku: "chips" },
	variants: [{ id: "a", weight: 1, title: "{{item.name}} {{item.category}} {{item.price}}", body: "b" }],
});

describe("profile and devices", () => {
	it("a profile stores its fields, interests once each, and writes exactly its keys", () => {
		const r = step(
			emptyState(),
			{
				kind: "profile",
				tenantId: TENANT,
				userId: USER,
				profile: {
					firstName: "Ana",
					locale: "fr-FR",
					timezone: "Europe/Paris",
					attributes: { a: 1 },
					interests: ["wine", "beer", "wine"],
					consent: { location: true, push: false },
				},
			},
			T0,
			null,
		);
		expect(r.state.profile).toEqual({
			firstName: "Ana",
			locale: "fr-FR",
			timezone: "Europe/Paris",
			attributes: { a: 1 },
			interests: ["wine", "beer"],
			consent: { location: true, push: false },
			createdAt: T0,
			updatedAt: T0,
		});
		expect(r.effects).toEqual([
			{ type: "write", keys: ["meta", "profile", "presence", "fences", "erasedAt", "visits"] },
			{ type: "alarm", at: null },
		]);
		const bare = step(
			emptyState(),
			{
				kind: "profile",
				tenantId: TENANT,
				userId: USER,
				profile: { consent: { location: true, push: true } },
			},
			T0,
			null,
		).state.profile;
		expect(bare).toMatchObject({
			firstName: null,
			locale: null,
			timezone: null,
			attributes: {},
			interests: [],
		});
	});

	it("a device registered again keeps its creation time; absent push fields are null", () => {
		const s = registered();
		const put = (now: number, device: Extract<PersonInput, { kind: "device" }>["device"]) =>
			step(s, { kind: "device", deviceId: "web-1", device, maxDevices: 5 }, now, null);
		const r = put(T0, { platform: "ios" });
		expect(r.state.devices["web-1"]).toEqual({
			platform: "ios",
			webPush: null,
			fcmToken: null,
			createdAt: s.devices["web-1"]?.createdAt,
			lastSeenAt: T0,
		});
		expect(r.reply).toEqual({ lastSeenAt: new Date(T0).toISOString() });
		expect(r.effects).toEqual([
			{ type: "write", keys: ["devices", "presence"] },
			{ type: "alarm", at: null },
		]);
		const fresh = step(
			s,
			{ kind: "device", deviceId: "new", device: { platform: "android", fcmToken: "tok" }, maxDevices: 5 },
			T0,
			null,
		);
		expect(fresh.state.devices.new).toMatchObject({ fcmToken: "tok", createdAt: T0 });
	});

	it("removing a device keeps the other devices' deliveries and writes devices and deliveries", () => {
		const s = registered();
		s.devices.b = { platform: "android", webPush: null, fcmToken: "t", createdAt: T0, lastSeenAt: T0 };
		s.deliveries = [pending("o1", "web-1", T0 + 5), pending("o2", "b", T0 + 9)];
		const r = step(s, { kind: "deviceRemoved", deviceId: "web-1" }, T0, null);
		expect(Object.keys(r.state.devices)).toEqual(["b"]);
		expect(r.state.deliveries).toEqual([s.deliveries[1]]);
		expect(r.effects).toEqual([
			{ type: "write", keys: ["devices", "deliveries"] },
			{ type: "alarm", at: T0 + 9 },
		]);
	});
});

describe("attributes", () => {
	it("refuses a patch past the limits and stores nothing", () => {
		const patch = Object.fromEntries(Array.from({ length: MAX_CRM_KEYS + 1 }, (_, i) => [`k${i}`, i]));
		const r = step(registered(), { kind: "attributes", tenantId: TENANT, userId: USER, patch }, T0, null);
		expect(r.reply).toEqual({ attributes: null, refused: "too_large" });
		expect(r.effects).toEqual([]);
		expect(r.state.crm).toEqual({});
	});

	it("names the person, touches the profile's update time and writes meta, crm and profile", () => {
		const r = step(
			registered(),
			{ kind: "attributes", tenantId: TENANT, userId: USER, patch: { tier: "gold" } },
			T0,
			null,
		);
		expect(r.state.profile?.updatedAt).toBe(T0);
		expect(r.effects).toEqual([
			{ type: "write", keys: ["meta", "crm", "profile"] },
			{ type: "alarm", at: null },
		]);
		// Someone the app never registered: CRM attributes only.
		const crmOnly = step(
			emptyState(),
			{ kind: "attributes", tenantId: TENANT, userId: USER, patch: { tier: "gold" } },
			T0,
			null,
		);
		expect(crmOnly.state.meta).toEqual({ tenantId: TENANT, userId: USER });
		expect(crmOnly.state.profile).toBeNull();
		expect(crmOnly.reply).toEqual({ attributes: { tier: "gold" }, refused: null });
	});
});

describe("when the alarm must ring", () => {
	it("the earliest of the next dwell and the deliveries", () => {
		const s = registered();
		expect(wakeAt(s)).toBeNull();
		s.deliveries = [pending("o1", "web-1", T0 + 50), pending("o2", "web-1", T0 + 20)];
		expect(wakeAt(s)).toBe(T0 + 20);
		const dwell = campaign({ id: "d", trigger: { type: "geofence", on: "dwell", dwellSeconds: 10 } });
		const d = inG1([dwell]);
		expect(wakeAt(d)).toBe(T0 + 10_000);
		d.deliveries = [pending("o1", "web-1", T0 + 20_000)];
		expect(wakeAt(d)).toBe(T0 + 10_000);
	});

	it("alarmNeedsCampaigns: a dwell due now, with location consent", () => {
		const dwell = campaign({ id: "d", trigger: { type: "geofence", on: "dwell", dwellSeconds: 10 } });
		const d = inG1([dwell]);
		expect(alarmNeedsCampaigns(d, T0 + 9_999)).toBe(false);
		expect(alarmNeedsCampaigns(d, T0 + 10_000)).toBe(true);
		expect(alarmNeedsCampaigns(d, T0 + 20_000)).toBe(true);
		const noConsent = structuredClone(d);
		(noConsent.profile as { consent: { location: boolean } }).consent.location = false;
		expect(alarmNeedsCampaigns(noConsent, T0 + 20_000)).toBe(false);
		expect(alarmNeedsCampaigns({ ...d, profile: null }, T0 + 20_000)).toBe(false);
		expect(alarmNeedsCampaigns(registered(), T0 + 20_000)).toBe(false);
	});

	it("campaignsNeeded: an enter, an exit or a dwell due by the latest ping", () => {
		const s = inG1();
		const t = [{ t: T0 + 1000 }];
		expect(campaignsNeeded(s, t, [inside("g1")], T0 + 1000)).toBe(false);
		expect(campaignsNeeded(s, t, [inside("g1", "g2")], T0 + 1000)).toBe(true);
		expect(campaignsNeeded(s, t, [inside()], T0 + 1000)).toBe(true);
		expect(campaignsNeeded(s, [], [], T0 + 1000)).toBe(false);
		const dwell = campaign({ id: "d", trigger: { type: "geofence", on: "dwell", dwellSeconds: 10 } });
		const d = inG1([dwell]);
		expect(campaignsNeeded(d, [{ t: T0 + 9_999 }], [inside("g1")], T0 + 9_999)).toBe(false);
		expect(campaignsNeeded(d, [{ t: T0 + 10_000 }], [inside("g1")], T0 + 9_000)).toBe(true);
		expect(campaignsNeeded(d, [{ t: T0 + 5_000 }], [inside("g1")], T0 + 10_000)).toBe(true);
		expect(campaignsNeeded(d, [], [], T0 + 10_000)).toBe(true);
	});
});

describe("pings", () => {
	it("need the tenant's settings and one lookup per usable ping", () => {
		const s = registered();
		const input = pingsInput(s, [{ t: T0, where: inside() }], T0);
		expect(() => step(s, input, T0, null)).toThrow("pings need the tenant's settings");
		expect(() => step(s, { ...input, lookups: [] }, T0, SETTINGS)).toThrow("expected 1 lookups, got 0");
	});

	it("updates the sending device's last-seen time only", () => {
		const s = registered();
		const seenBefore = s.devices["web-1"]?.lastSeenAt;
		const input = pingsInput(s, [{ t: T0, where: inside() }], T0);
		expect(step(s, input, T0, SETTINGS).state.devices["web-1"]?.lastSeenAt).toBe(T0);
		const other = step(s, { ...input, deviceId: "nope" }, T0, SETTINGS).state;
		expect(other.devices["web-1"]?.lastSeenAt).toBe(seenBefore);
		expect(Object.keys(other.devices)).toEqual(["web-1"]);
		const none = step(s, { ...input, deviceId: null }, T0, SETTINGS).state;
		expect(none.devices["web-1"]?.lastSeenAt).toBe(seenBefore);
	});

	it("a batch with no usable ping learns no fence and emits nothing", () => {
		const s = registered();
		const input = pingsInput(s, [{ t: T0 + 3_600_000, where: inside("g1") }], T0, { fences: grocery });
		const r = step(s, { ...input, fences: grocery }, T0, SETTINGS);
		expect(r.state.fences).toEqual({});
		expect(effectsOf(r, "emit")).toEqual([]);
		expect(r.reply).toEqual({
			received: 1,
			events: [],
			offers: [],
			rejected: [{ index: 0, reason: "future" }],
		});
	});

	it("a dwell in the answer carries its seconds; an enter does not", () => {
		const dwell = campaign({ id: "d", trigger: { type: "geofence", on: "dwell", dwellSeconds: 10 } });
		const d = inG1([dwell]);
		const at = T0 + 20_000;
		const r = drive(d, pingsInput(d, [{ t: at, where: inside("g1") }], at, { campaigns: [dwell] }), at, [
			dwell,
		]);
		expect((r.first.reply as { events: unknown[] }).events).toEqual([
			{ type: "dwell", geofenceId: "g1", at: new Date(T0 + 10_000).toISOString(), dwellSeconds: 10 },
		]);
		const s = registered();
		const enter = step(
			s,
			pingsInput(s, [{ t: T0, where: inside("g1") }], T0, { fences: grocery }),
			T0,
			SETTINGS,
		);
		expect(enter.reply.events[0]).toEqual({
			type: "enter",
			geofenceId: "g1",
			at: new Date(T0).toISOString(),
		});
	});

	it("keeps the newest screening summaries, at most SCREENING_MAX, and no summary without a rejection", () => {
		let s = registered();
		const ok = step(s, pingsInput(s, [{ t: T0, where: inside() }], T0), T0, SETTINGS);
		expect(ok.state.screening).toEqual([]);
		for (let i = 0; i < SCREENING_MAX + 2; i++) {
			const now = T0 + i;
			s = step(s, pingsInput(s, [{ t: now + 3_600_000, where: inside() }], now), now, SETTINGS).state;
		}
		expect(s.screening).toHaveLength(SCREENING_MAX);
		expect(s.screening[0]?.at).toBe(T0 + SCREENING_MAX + 1);
		expect(s.screening.at(-1)?.at).toBe(T0 + 2);
	});

	it("remembers a batch only when it has an id", () => {
		const s = registered();
		const without = step(s, pingsInput(s, [{ t: T0, where: inside() }], T0), T0, SETTINGS);
		expect(without.state.batches).toEqual({});
		const withId = step(s, pingsInput(s, [{ t: T0, where: inside() }], T0, { batchId: "b" }), T0, SETTINGS);
		expect(Object.keys(withId.state.batches)).toEqual(["b"]);
		expect(withId.state.batches.b).toEqual({ answer: withId.reply, at: T0 });
	});

	it("an exit with a fence whose metadata is unknown decides with the fence's id as its name", () => {
		const s = inG1();
		s.fences = {};
		const anyFence = campaign({
			trigger: { type: "geofence", on: "exit" },
			variants: [{ id: "a", weight: 1, title: "Bye {{geofence.name}}", body: "{{geofence.id}}" }],
		});
		const at = T0 + 60_000;
		const r2 = step(
			s,
			pingsInput(s, [{ t: at, where: inside() }], at, { campaigns: [anyFence] }),
			at,
			SETTINGS,
		);
		expect(effectsOf(r2, "send")[0]?.offer.offer).toEqual({ title: "Bye g1", body: "g1" });
		expect(effectsOf(r2, "emit")[0]?.events[0]).toMatchObject({ type: "geofence.exited" });
	});

	it("a fence left and entered again in one batch keeps its metadata", () => {
		const s = inG1();
		const far = { inside: [], distanceTo: () => 5000 };
		const a = T0 + 60_000;
		const b = T0 + 120_000;
		const input = pingsInput(
			s,
			[
				{ t: a, where: far },
				{ t: b, where: inside("g1") },
			],
			b,
			{ fences: grocery },
		);
		const r = step(s, input, b, SETTINGS);
		expect(r.reply.events.map((e) => e.type)).toEqual(["exit", "enter"]);
		expect(r.state.fences).toEqual(grocery);
		// Left for good: forgotten.
		const gone = step(s, pingsInput(s, [{ t: a, where: far }], a), a, SETTINGS);
		expect(gone.state.fences).toEqual({});
	});
});

describe("alarms", () => {
	const dwell = campaign({ id: "d", trigger: { type: "geofence", on: "dwell", dwellSeconds: 10 } });

	it("a delivery due exactly now is retried; none due, no retry effect", () => {
		const s = registered();
		s.deliveries = [pending("o1", "web-1", T0)];
		const r = step(s, { kind: "alarm", campaigns: null, fcm: false, seed: SEED }, T0, SETTINGS);
		expect(effectsOf(r, "retry")).toHaveLength(1);
		const early = step(s, { kind: "alarm", campaigns: null, fcm: false, seed: SEED }, T0 - 1, SETTINGS);
		expect(effectsOf(early, "retry")).toEqual([]);
		expect(early.state.deliveries).toEqual(s.deliveries);
		expect(early.effects).toEqual([
			{ type: "write", keys: expect.any(Array) },
			{ type: "alarm", at: T0 },
		]);
	});

	it("fires no dwell without location consent or without settings", () => {
		const d = inG1([dwell]);
		const noConsent = structuredClone(d);
		(noConsent.profile as { consent: { location: boolean } }).consent.location = false;
		const at = T0 + 10_000;
		const alarm = { kind: "alarm", campaigns: [dwell], fcm: false, seed: SEED } as const;
		expect(effectsOf(step(noConsent, alarm, at, SETTINGS), "send")).toEqual([]);
		expect(effectsOf(step(noConsent, alarm, at, SETTINGS), "emit")).toEqual([]);
		expect(effectsOf(step(d, alarm, at, null), "send")).toEqual([]);
		// The tenant is gone: the due dwell is spent without an event (not left to ring again).
		expect(effectsOf(step(d, alarm, at, null), "emit")).toEqual([]);
		expect(step(d, alarm, at, null).state.presence.inside).toEqual({
			g1: { ...d.presence.inside.g1, dwells: [] },
		});
		const fired = step(d, alarm, at, SETTINGS);
		expect(effectsOf(fired, "send")).toHaveLength(1);
		expect(fired.state.presence).not.toEqual(d.presence);
		// The dwell's event names the fence.
		expect(effectsOf(fired, "emit")[0]?.events[0]).toMatchObject({
			type: "geofence.dwelled",
			data: { geofenceId: "g1", geofenceName: "Store g1" },
		});
	});
});

describe("cart events", () => {
	const added = (eventId: string, at: number, items = [{ sku: "beer", price: 3 }]) =>
		({ eventId, type: "item_added", items, occurredAt: at }) as const;

	it("need the tenant's settings", () => {
		expect(() => step(registered(), cartInput(added("e1", T0), [crossSell]), T0, null)).toThrow(
			"cart events need the tenant's settings",
		);
	});

	it("an added item decides with its category, name and price; the answer is not a duplicate", () => {
		const r = step(
			registered(),
			cartInput(added("e1", T0, [{ sku: "beer", category: "drinks", name: "IPA", price: 3 } as never]), [
				crossSell,
			]),
			T0,
			FREE,
		);
		expect(effectsOf(r, "send")[0]?.offer.offer.title).toBe("IPA drinks 3");
		expect(r.reply).toEqual({ offers: [expect.objectContaining({ decision: "sent" })], duplicate: false });
		expect(r.state.meta).toEqual({ tenantId: TENANT, userId: USER });
		expect(r.state.cartAnswers.e1).toEqual({ offers: (r.reply as { offers: unknown[] }).offers, at: T0 });
		const bare = step(
			registered(),
			cartInput(added("e2", T0, [{ sku: "beer" } as never]), [crossSell]),
			T0,
			FREE,
		);
		expect(effectsOf(bare, "send")[0]?.offer.offer.title).toBe("  ");
	});

	it("an event older than ten minutes is stale: suppressed", () => {
		const at = T0 - 10 * 60_000;
		const exactly = step(registered(), cartInput(added("e1", at), [crossSell]), T0, FREE);
		expect((exactly.reply as { offers: { decision: string }[] }).offers[0]?.decision).toBe("sent");
		const stale = step(registered(), cartInput(added("e1", at - 1), [crossSell]), T0, FREE);
		expect((stale.reply as { offers: unknown[] }).offers).toEqual([
			{ campaignId: "chips", variantId: "a", decision: "suppressed", reason: "stale" },
		]);
		expect(records(stale)).toHaveLength(1);
		expect(effectsOf(stale, "emit")[0]?.events).toEqual([
			{
				type: "offer.suppressed",
				data: { campaignId: "chips", trigger: "cart", variantId: "a", reason: "stale" },
			},
		]);
		expect(stale.state.cooldowns).toEqual({});
		expect(stale.state.exposure).toBeNull();
	});

	it("other event types and no rules decide nothing", () => {
		const r = step(registered(), cartInput(added("e1", T0), null), T0, FREE);
		expect(r.reply).toEqual({ offers: [], duplicate: false });
		expect(effectsOf(r, "record")).toEqual([]);
		expect(effectsOf(r, "emit")).toEqual([]);
		const removed = step(
			registered(),
			cartInput({ eventId: "e2", type: "item_removed", items: [{ sku: "beer" }], occurredAt: T0 }, [
				crossSell,
			]),
			T0,
			FREE,
		);
		expect(removed.reply).toEqual({ offers: [], duplicate: false });
		expect(effectsOf(removed, "convert")).toEqual([]);
		const none = step(registered(), cartInput(added("e3", T0), []), T0, FREE);
		expect(effectsOf(none, "record")).toEqual([]);
	});

	it("a purchase is credited from the exposure's instant to the end of the window, both included", () => {
		const exposed = step(registered(), cartInput(added("e1", T0), [crossSell]), T0, FREE).state;
		const x = exposed.exposure;
		expect(x).toMatchObject({ campaignId: "chips", variantId: "a", holdout: false, at: T0 });
		const window = FREE.attributionWindowSeconds * 1000;
		const buy = (id: string, at: number, items: { sku: string; price?: number; quantity?: number }[]) =>
			step(exposed, cartInput({ eventId: id, type: "purchase", items, occurredAt: at }, null), at, FREE);
		expect(effectsOf(buy("p0", T0 - 1, [{ sku: "x", price: 1 }]), "convert")).toEqual([]);
		const first = buy("p1", T0, [
			{ sku: "x", price: 2 },
			{ sku: "y", quantity: 3 },
			{ sku: "z", price: 1.5, quantity: 2 },
		]);
		expect(effectsOf(first, "convert")).toEqual([
			{ type: "convert", exposure: x, eventId: "p1", revenue: 5 },
		]);
		expect(effectsOf(first, "emit")[0]?.events).toEqual([
			{
				type: "cart.conversion",
				data: expect.objectContaining({ campaignId: "chips", cartEventId: "p1", revenue: 5 }),
			},
		]);
		expect(effectsOf(buy("p2", T0 + window, [{ sku: "x", price: 1 }]), "convert")).toHaveLength(1);
		expect(effectsOf(buy("p3", T0 + window + 1, [{ sku: "x", price: 1 }]), "convert")).toEqual([]);
	});
});

describe("decisions", () => {
	it("a holdout sets the cooldown and the exposure, sends nothing, answers without an offer id", () => {
		const held = campaign({ holdoutPercent: 100 });
		const s = registered();
		const r = step(
			s,
			pingsInput(s, [{ t: T0, where: inside("g1") }], T0, { fences: grocery, campaigns: [held] }),
			T0,
			FREE,
		);
		expect(r.reply.offers).toEqual([{ campaignId: "c1", variantId: "a", decision: "holdout" }]);
		expect(effectsOf(r, "send")).toEqual([]);
		expect(r.state.exposure).toEqual({
			campaignId: "c1",
			variantId: "a",
			offerId: null,
			holdout: true,
			at: T0,
		});
		expect(Object.values(r.state.cooldowns)).toEqual([T0]);
		expect(r.state.sent).toEqual([]);
		expect(records(r)).toEqual([expect.objectContaining({ offer: null })]);
		expect(effectsOf(r, "emit")[0]?.events.map((e) => e.type)).toEqual(["geofence.entered"]);
	});

	it("a person outside the audience is left out of the answer, kept in the trace", () => {
		const aud = campaign({ audience: { attribute: "tier", eq: "gold" } } as Partial<Campaign>);
		const s = registered();
		const r = step(
			s,
			pingsInput(s, [{ t: T0, where: inside("g1") }], T0, { fences: grocery, campaigns: [aud] }),
			T0,
			FREE,
		);
		expect(r.reply.offers).toEqual([]);
		expect(records(r).map((x) => x.decision.decision)).toEqual(["suppressed"]);
		expect(r.state.cooldowns).toEqual({});
		// Suppressed for another reason: answered with the reason.
		const noPush = registered({ push: false });
		const r2 = step(
			noPush,
			pingsInput(noPush, [{ t: T0, where: inside("g1") }], T0, { fences: grocery, campaigns: [campaign()] }),
			T0,
			FREE,
		);
		expect(r2.reply.offers).toEqual([
			{ campaignId: "c1", variantId: "a", decision: "suppressed", reason: "no_consent" },
		]);
	});

	it("a transactional offer does not use up the caps", () => {
		const tx = campaign({ ignoreCaps: true });
		const s = registered();
		const r = step(
			s,
			pingsInput(s, [{ t: T0, where: inside("g1") }], T0, { fences: grocery, campaigns: [tx] }),
			T0,
			FREE,
		);
		expect(effectsOf(r, "send")).toHaveLength(1);
		expect(r.state.sent).toEqual([]);
	});

	it("the offer record and the send: expiry, fence, trigger, links, topic", () => {
		const linked = campaign({
			ttlSeconds: 900,
			variants: [{ id: "a", weight: 1, title: "t", body: "b", url: "https://shop.example/g1" }],
		});
		const s = registered();
		const r = step(
			s,
			pingsInput(s, [{ t: T0, where: inside("g1") }], T0, { fences: grocery, campaigns: [linked] }),
			T0,
			FREE,
		);
		const [rec] = records(r);
		const [send] = effectsOf(r, "send");
		expect(rec?.offer).toEqual({
			id: send?.offer.offerId,
			campaignId: "c1",
			variantId: "a",
			geofenceId: "g1",
			triggerType: "geofence",
			links: expect.objectContaining({ url: "https://shop.example/g1" }),
			status: "failed",
			attempts: 0,
			expiresAt: T0 + 900_000,
		});
		expect(send?.offer).toMatchObject({
			campaignId: "c1",
			variantId: "a",
			expiresAt: T0 + 900_000,
			ttlSeconds: 900,
			topic: pushTopic(["c1", "g1"]),
		});
		expect(r.state.exposure?.offerId).toBe(send?.offer.offerId);
		const unreachable = registered();
		unreachable.devices = {};
		const r2 = step(
			unreachable,
			pingsInput(unreachable, [{ t: T0, where: inside("g1") }], T0, { fences: grocery, campaigns: [linked] }),
			T0,
			FREE,
		);
		// No device: suppressed before any offer is recorded.
		expect(records(r2)[0]?.offer).toBeNull();
		// A cart offer has no fence; its topic names the cart.
		const cart = step(registered(), cartInput(added2("e1"), [crossSell]), T0, FREE);
		expect(records(cart)[0]?.offer).toMatchObject({ geofenceId: null, triggerType: "cart" });
		expect(effectsOf(cart, "send")[0]?.offer.topic).toBe(pushTopic(["chips", "cart"]));
	});

	it("renders in the person's language", () => {
		const fr = campaign({
			variants: [
				{ id: "a", weight: 1, title: "Hello", body: "b", localized: { fr: { title: "Bonjour", body: "b" } } },
			],
		});
		const s = registered();
		(s.profile as { locale: string | null }).locale = "fr-FR";
		const r = step(
			s,
			pingsInput(s, [{ t: T0, where: inside("g1") }], T0, { fences: grocery, campaigns: [fr] }),
			T0,
			FREE,
		);
		expect(effectsOf(r, "send")[0]?.offer.offer.title).toBe("Bonjour");
	});
});

function added2(eventId: string) {
	return { eventId, type: "item_added", items: [{ sku: "beer" }], occurredAt: T0 } as const;
}

describe("offer ids", () => {
	it("are the seed's digits with the counter mixed into the last 32 bits, version 4, variant 8 to b", () => {
		const next = offerIds(SEED);
		expect([next(), next(), next()]).toEqual([
			"01234567-89ab-4def-8123-456789abcdef",
			"01234567-89ab-4def-8123-456789abcdee",
			"01234567-89ab-4def-8123-456789abcded",
		]);
		const zeros = offerIds(`${"0".repeat(16)}${"f".repeat(8)}${"0".repeat(8)}`);
		expect([zeros(), zeros()]).toEqual([
			"00000000-0000-4000-bfff-ffff00000000",
			"00000000-0000-4000-bfff-ffff00000001",
		]);
		expect(() => offerIds("0123456789ABCDEF0123456789ABCDEF")).toThrow("the seed is 32 lowercase hex digits");
	});
});
