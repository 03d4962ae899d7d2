/**
 * The person core by example, one input kind at a time (src/person/step.ts): what each input
 * changes, which effects it asks the shell for, and what it answers.
 */
import { describe, expect, it } from "vitest";
import {
	applyDeliveries,
	CART_KEYS,
	copyStatus,
	type DeliveryResult,
	emptyState,
	offerIds,
	offerStatus,
	type PendingDelivery,
	PING_KEYS,
	planPings,
	step,
	targetsOf,
	wakeAt,
} from "../../src/person/index.js";
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

describe("profile", () => {
	it("registers the person and ends an erasure's tombstone", () => {
		const erased = { ...emptyState(), erasedAt: T0 - 10 };
		const r = step(
			erased,
			{
				kind: "profile",
				tenantId: TENANT,
				userId: USER,
				profile: { consent: { location: true, push: true } },
			},
			T0,
			null,
		);
		expect(r.state.erasedAt).toBeNull();
		expect(r.state.meta).toEqual({ tenantId: TENANT, userId: USER });
		expect(r.state.profile?.createdAt).toBe(T0);
		expect(r.reply).toEqual({ updatedAt: new Date(T0).toISOString() });
		expect(effectsOf(r, "write")[0]?.keys).toContain("profile");
		expect(effectsOf(r, "forgetNeighbourhood")).toHaveLength(0);
	});

	it("forgets presence, fences, visits and the neighbourhood when location consent is withdrawn", () => {
		const inStore = drive(
			registered(),
			pingsInput(registered(), [{ t: T0, where: inside("g1") }], T0, { fences: grocery }),
			T0,
			[],
		).state;
		expect(Object.keys(inStore.presence.inside)).toEqual(["g1"]);
		expect(inStore.visits).toHaveLength(1);
		const r = step(
			inStore,
			{
				kind: "profile",
				tenantId: TENANT,
				userId: USER,
				profile: { consent: { location: false, push: true } },
			},
			T0 + 1000,
			null,
		);
		expect(r.state.presence).toEqual({ last: null, inside: {} });
		expect(r.state.fences).toEqual({});
		expect(r.state.visits).toEqual([]);
		expect(effectsOf(r, "forgetNeighbourhood")).toHaveLength(1);
		// The person's createdAt stays the first registration's.
		expect(r.state.profile?.createdAt).toBe(inStore.profile?.createdAt);
	});
});

describe("devices", () => {
	it("answers null and changes nothing for a person never registered", () => {
		const r = step(
			emptyState(),
			{ kind: "device", deviceId: "d", device: { platform: "android", fcmToken: "tok" }, maxDevices: 3 },
			T0,
			null,
		);
		expect(r.reply).toBeNull();
		expect(r.effects).toEqual([]);
	});

	it("removes the least recently seen other devices past maxDevices", () => {
		let s = registered();
		for (const [i, id] of ["a", "b", "c"].entries())
			s = step(
				s,
				{ kind: "device", deviceId: id, device: { platform: "android", fcmToken: id }, maxDevices: 3 },
				T0 + i,
				null,
			).state;
		expect(Object.keys(s.devices).sort()).toEqual(["a", "b", "c"]);
	});

	it("drops a removed device's pending deliveries", () => {
		const s = registered();
		s.deliveries = [pending("o1", "web-1", T0 + 5000)];
		const r = step(s, { kind: "deviceRemoved", deviceId: "web-1" }, T0, null);
		expect(r.state.devices).toEqual({});
		expect(r.state.deliveries).toEqual([]);
		expect(effectsOf(r, "alarm")).toEqual([{ type: "alarm", at: null }]);
		// Unknown device: nothing to write.
		expect(step(s, { kind: "deviceRemoved", deviceId: "nope" }, T0, null).effects).toEqual([]);
	});
});

describe("attributes", () => {
	it("merges CRM attributes, which win over the app's, and refuses an erased person", () => {
		const r = step(
			registered(),
			{ kind: "attributes", tenantId: TENANT, userId: USER, patch: { tier: "gold" } },
			T0,
			null,
		);
		expect(r.reply).toEqual({ attributes: { tier: "gold" }, refused: null });
		expect(r.state.crm).toEqual({ tier: "gold" });
		const erased = step(r.state, { kind: "erase" }, T0, null).state;
		const again = step(
			erased,
			{ kind: "attributes", tenantId: TENANT, userId: USER, patch: { tier: "gold" } },
			T0,
			null,
		);
		expect(again.reply).toEqual({ attributes: null, refused: "erased" });
		expect(again.effects).toEqual([]);
	});
});

describe("pings", () => {
	it("answers an unknown person and one without location consent without a lookup", () => {
		const raw = [{ lat: 1, lng: 2, accuracy: 5, t: T0 }];
		expect(planPings(emptyState(), { pings: raw, batchId: null }, T0, SETTINGS)).toEqual({
			kind: "answer",
			answer: { received: 1, events: [], offers: [], rejected: [{ index: 0, reason: "unknown_user" }] },
		});
		const noLocation = registered({ location: false });
		const plan = planPings(noLocation, { pings: raw, batchId: null }, T0, SETTINGS);
		expect(plan.kind === "answer" && plan.answer.rejected[0]?.reason).toBe("no_location_consent");
	});

	it("enters, counts the visit, decides one offer and sends it to every device", () => {
		const s = registered();
		s.devices.phone = { platform: "android", webPush: null, fcmToken: "tok", createdAt: T0, lastSeenAt: T0 };
		const input = pingsInput(s, [{ t: T0, where: inside("g1") }], T0, {
			fences: grocery,
			campaigns: [campaign()],
		});
		const r = step(s, input, T0, SETTINGS);
		expect(r.reply).toMatchObject({ received: 1, events: [{ type: "enter", geofenceId: "g1" }] });
		const [send] = effectsOf(r, "send");
		expect(send?.offer.offer).toEqual({ title: "Hi Ana", body: "at Store g1" });
		expect(send?.offer.targets).toEqual([
			{ deviceId: "web-1", transport: "web" },
			{ deviceId: "phone", transport: "fcm" },
		]);
		expect(records(r).map((x) => x.decision.decision)).toEqual(["sent"]);
		expect(r.state.sent).toEqual([T0]);
		expect(r.state.visits).toHaveLength(1);
		expect(r.state.exposure).toMatchObject({
			campaignId: "c1",
			offerId: send?.offer.offerId,
			holdout: false,
		});
		expect(effectsOf(r, "emit")[0]?.events.map((e) => e.type)).toEqual(["geofence.entered", "offer.sent"]);
		expect(effectsOf(r, "write")[0]?.keys).toEqual(PING_KEYS);
		// The state given is not changed.
		expect(s.sent).toEqual([]);
	});

	it("asks for the campaigns when an event fires without them, and changes nothing until then", () => {
		const s = registered();
		const input = {
			...pingsInput(s, [{ t: T0, where: inside("g1") }], T0, { fences: grocery }),
			campaigns: null,
		};
		const r = step(s, input, T0, SETTINGS);
		expect(r.needs).toBe("campaigns");
		expect(r.state).toBe(s);
		expect(r.effects).toEqual([]);
	});

	it("answers a batch seen before with its first answer and applies nothing", () => {
		const s = registered();
		const first = drive(
			s,
			pingsInput(s, [{ t: T0, where: inside("g1") }], T0, { fences: grocery, batchId: "b1" }),
			T0,
			[campaign()],
		);
		const again = step(
			first.state,
			pingsInput(first.state, [{ t: T0 + 1000, where: inside() }], T0 + 1000, { batchId: "b1" }),
			T0 + 1000,
			SETTINGS,
		);
		expect(again.reply).toEqual(first.first.reply);
		expect(again.effects).toEqual([]);
	});

	it("exits only beyond the hysteresis margin and forgets the fence's metadata", () => {
		const s = drive(
			registered(),
			pingsInput(registered(), [{ t: T0, where: inside("g1") }], T0, { fences: grocery }),
			T0,
			[],
		).state;
		const near = { inside: [], distanceTo: () => 20 };
		const stay = step(
			s,
			pingsInput(s, [{ t: T0 + 60_000, where: near }], T0 + 60_000),
			T0 + 60_000,
			SETTINGS,
		);
		expect(stay.reply.events).toEqual([]);
		const exit = [campaign({ trigger: { type: "geofence", on: "exit" } })];
		const later = T0 + 60_000;
		const away = drive(
			s,
			pingsInput(s, [{ t: later, where: inside() }], later, { campaigns: exit }),
			later,
			exit,
		);
		expect((away.first.reply as { events: unknown[] }).events).toEqual([
			{ type: "exit", geofenceId: "g1", at: new Date(T0 + 60_000).toISOString() },
		]);
		expect(away.state.fences).toEqual({});
		expect(records(away.first).map((x) => x.decision.decision)).toEqual(["sent"]);
	});

	it("records why pings were rejected, for the back office", () => {
		const s = registered();
		const input = pingsInput(s, [{ t: T0 + 3_600_000, where: inside() }], T0);
		const r = step(s, input, T0, SETTINGS);
		expect(r.reply.rejected).toEqual([{ index: 0, reason: "future" }]);
		expect(r.state.screening).toEqual([{ at: T0, reasons: { future: 1 } }]);
	});
});

describe("cart events", () => {
	const cross = campaign({
		id: "chips",
		trigger: { type: "cart", whenCartHas: { skus: ["beer"] }, offerSku: "chips" },
		variants: [{ id: "a", weight: 1, title: "Chips with {{item.sku}}?", body: "-20%" }],
	});
	const added = (eventId: string, sku: string, at = T0) =>
		({
			kind: "cart",
			tenantId: TENANT,
			userId: USER,
			event: { eventId, type: "item_added", items: [{ sku, price: 3 }], occurredAt: at },
			rules: allRules([cross]),
			fcm: false,
			seed: SEED,
		}) as const;

	it("decides a complementary offer for an added item and answers a duplicate with the first answer", () => {
		const r = drive(registered(), added("e1", "beer"), T0, []);
		const reply = r.first.reply as { offers: { campaignId: string; decision: string }[]; duplicate: boolean };
		expect(reply.offers).toMatchObject([{ campaignId: "chips", decision: "sent" }]);
		expect(effectsOf(r.first, "send")[0]?.offer.offer.title).toBe("Chips with beer?");
		expect(effectsOf(r.first, "write")[0]?.keys).toEqual(CART_KEYS);
		const dup = step(r.state, added("e1", "beer"), T0 + 10, SETTINGS);
		expect(dup.reply).toEqual({ offers: reply.offers, duplicate: true });
		expect(dup.effects).toEqual([]);
	});

	it("credits a purchase within the window to the last exposure, once", () => {
		const exposed = drive(registered(), added("e1", "beer"), T0, []).state;
		const purchase = (eventId: string, at: number) =>
			({
				kind: "cart",
				tenantId: TENANT,
				userId: USER,
				event: {
					eventId,
					type: "purchase",
					items: [{ sku: "chips", price: 2.5, quantity: 2 }],
					occurredAt: at,
				},
				rules: null,
				fcm: false,
				seed: SEED,
			}) as const;
		const r = step(exposed, purchase("p1", T0 + 60_000), T0 + 60_000, SETTINGS);
		expect(effectsOf(r, "convert")).toMatchObject([
			{ eventId: "p1", revenue: 5, exposure: { campaignId: "chips" } },
		]);
		expect(effectsOf(r, "emit")[0]?.events.map((e) => e.type)).toEqual(["cart.conversion"]);
		expect(r.state.exposure).toBeNull();
		expect(effectsOf(step(r.state, purchase("p2", T0 + 70_000), T0 + 70_000, SETTINGS), "convert")).toEqual(
			[],
		);
		// Past the attribution window: no credit.
		const late = T0 + (SETTINGS.attributionWindowSeconds + 1) * 1000;
		expect(effectsOf(step(exposed, purchase("p3", late), late, SETTINGS), "convert")).toEqual([]);
	});

	it("stores nothing for an erased person", () => {
		const erased = step(registered(), { kind: "erase" }, T0, null).state;
		const r = step(erased, added("e1", "beer"), T0, SETTINGS);
		expect(r.reply).toEqual({ erased: true });
		expect(r.effects).toEqual([]);
	});
});

describe("offer reports", () => {
	it("emits the report's event, and nothing once the person is erased", () => {
		const report = {
			type: "clicked",
			offerId: "o1",
			campaignId: "c1",
			variantId: "a",
			action: null,
		} as const;
		const r = step(registered(), { kind: "offerReport", tenantId: TENANT, userId: USER, report }, T0, null);
		expect(effectsOf(r, "emit")[0]?.events).toEqual([
			{ type: "offer.clicked", data: { offerId: "o1", campaignId: "c1", variantId: "a" } },
		]);
		const erased = step(registered(), { kind: "erase" }, T0, null).state;
		expect(
			step(erased, { kind: "offerReport", tenantId: TENANT, userId: USER, report }, T0, null).effects,
		).toEqual([]);
	});
});

describe("alarms", () => {
	const dwell = campaign({ id: "dwell", trigger: { type: "geofence", on: "dwell", dwellSeconds: 300 } });

	it("fires a dwell that fell due and sends its offer; not before", () => {
		const s0 = registered();
		const s = drive(
			s0,
			pingsInput(s0, [{ t: T0, where: inside("g1") }], T0, { fences: grocery, campaigns: [dwell] }),
			T0,
			[dwell],
		).state;
		expect(wakeAt(s)).toBe(T0 + 300_000);
		const early = step(
			s,
			{ kind: "alarm", campaigns: [dwell], fcm: false, seed: SEED },
			T0 + 299_000,
			SETTINGS,
		);
		expect(effectsOf(early, "send")).toEqual([]);
		const r = step(s, { kind: "alarm", campaigns: null, fcm: false, seed: SEED }, T0 + 300_000, SETTINGS);
		expect(r.needs).toBe("campaigns");
		const due = step(
			s,
			{ kind: "alarm", campaigns: [dwell], fcm: false, seed: SEED },
			T0 + 300_000,
			SETTINGS,
		);
		expect(effectsOf(due, "emit")[0]?.events.map((e) => e.type)).toEqual(["geofence.dwelled", "offer.sent"]);
		expect(effectsOf(due, "send")).toHaveLength(1);
		expect(wakeAt(due.state)).toBeNull();
	});

	it("hands over the deliveries that fell due and keeps the others", () => {
		const s = registered();
		s.deliveries = [pending("o1", "web-1", T0), pending("o2", "web-1", T0 + 60_000)];
		const r = step(s, { kind: "alarm", campaigns: null, fcm: false, seed: SEED }, T0, SETTINGS);
		expect(effectsOf(r, "retry")).toEqual([{ type: "retry", copies: [s.deliveries[0]] }]);
		expect(r.state.deliveries).toEqual([s.deliveries[1]]);
		expect(effectsOf(r, "alarm")).toEqual([{ type: "alarm", at: T0 + 60_000 }]);
	});

	it("spends the dwells that fell due without events once the tenant is gone, so the alarm is not set in the past", () => {
		const s0 = registered();
		const s = drive(
			s0,
			pingsInput(s0, [{ t: T0, where: inside("g1") }], T0, { fences: grocery, campaigns: [dwell] }),
			T0,
			[dwell],
		).state;
		const at = T0 + 400_000;
		const r = step(s, { kind: "alarm", campaigns: [dwell], fcm: false, seed: SEED }, at, null);
		expect(r.state.presence.inside.g1?.dwells).toEqual([]);
		expect(effectsOf(r, "emit")).toEqual([]);
		expect(effectsOf(r, "send")).toEqual([]);
		expect(effectsOf(r, "alarm")).toEqual([{ type: "alarm", at: null }]);
		// Still inside: presence is kept, only the spent dwells go.
		expect(Object.keys(r.state.presence.inside)).toEqual(["g1"]);
	});

	it("does nothing for a person never named", () => {
		expect(
			step(emptyState(), { kind: "alarm", campaigns: null, fcm: false, seed: SEED }, T0, SETTINGS).effects,
		).toEqual([]);
	});
});

describe("delivery results", () => {
	it("maps one copy's outcome to a status, and an offer's copies to one status", () => {
		expect(copyStatus({ kind: "accepted" })).toBe("accepted");
		expect(copyStatus({ kind: "retry", retryAtMs: null })).toBe("expired");
		expect(copyStatus({ kind: "gone" })).toBe("gone");
		expect(copyStatus({ kind: "failed", code: "x" })).toBe("failed");
		expect(offerStatus(["gone", "accepted"], true)).toBe("accepted");
		expect(offerStatus(["gone"], true)).toBe("pending");
		expect(offerStatus(["gone", "expired"], false)).toBe("expired");
		expect(offerStatus(["gone", "gone"], false)).toBe("gone");
		expect(offerStatus(["gone", "failed"], false)).toBe("failed");
	});

	it("drops a gone subscription, schedules a retry with the jitter given, and keeps the offer pending", () => {
		const s = registered();
		s.devices.phone = { platform: "android", webPush: null, fcmToken: "tok", createdAt: T0, lastSeenAt: T0 };
		const results: DeliveryResult[] = [
			{ copy: pending("o1", "web-1", T0), first: true, outcome: { kind: "gone" }, jitter: 0 },
			{
				copy: { ...pending("o1", "phone", T0), message: { transport: "fcm", input: fcmInput() } },
				first: true,
				outcome: { kind: "retry", retryAtMs: null },
				jitter: 0.5,
			},
		];
		const r = step(s, { kind: "delivered", results }, T0, null);
		expect(r.state.devices["web-1"]?.webPush).toBeNull();
		expect(r.state.devices.phone?.fcmToken).toBe("tok");
		expect(r.state.deliveries).toEqual([{ ...results[1]?.copy, attempt: 0, nextAt: T0 + 1000 }]);
		expect(effectsOf(r, "offerStatus")).toEqual([
			{ type: "offerStatus", offerId: "o1", status: "pending", attempts: 2, first: true },
		]);
	});

	it("leaves a retried offer's status as it is while a copy is still retried, and ends it expired past its TTL", () => {
		const s = registered();
		const copy = { ...pending("o1", "web-1", T0), attempt: 2 };
		const retry = (now: number) =>
			applyDeliveries(
				structuredClone(s),
				[{ copy, first: false, outcome: { kind: "retry", retryAtMs: null }, jitter: 0.9 }],
				now,
			);
		expect(retry(T0)).toEqual([{ offerId: "o1", status: null, attempts: 1, first: false }]);
		expect(retry(copy.expiresAt)).toEqual([{ offerId: "o1", status: "expired", attempts: 1, first: false }]);
	});

	it("chooses Web Push where there is a subscription and FCM where there is a token and FCM is on", () => {
		const s = registered();
		s.devices.phone = { platform: "android", webPush: null, fcmToken: "tok", createdAt: T0, lastSeenAt: T0 };
		expect(targetsOf(s.devices, false)).toEqual([{ deviceId: "web-1", transport: "web" }]);
		expect(targetsOf(s.devices, true)).toHaveLength(2);
	});
});

describe("erasure", () => {
	it("keeps a tombstone only and asks the shell to delete everything", () => {
		const s = drive(
			registered(),
			pingsInput(registered(), [{ t: T0, where: inside("g1") }], T0, { fences: grocery }),
			T0,
			[campaign()],
		).state;
		const r = step(s, { kind: "erase" }, T0 + 5, null);
		expect(r.state).toEqual({ ...emptyState(), erasedAt: T0 + 5 });
		expect(r.reply).toEqual({ existed: true });
		expect(r.effects).toEqual([
			{ type: "eraseAll" },
			{ type: "write", keys: ["erasedAt"] },
			{ type: "alarm", at: null },
		]);
		expect(step(emptyState(), { kind: "erase" }, T0, null).reply).toEqual({ existed: false });
	});
});

describe("offer ids", () => {
	it("are UUID-shaped, distinct within a step and the same for the same seed", () => {
		const a = offerIds(SEED);
		const ids = [a(), a(), a()];
		expect(new Set(ids).size).toBe(3);
		for (const id of ids)
			expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
		const b = offerIds(SEED);
		expect([b(), b(), b()]).toEqual(ids);
		expect(offerIds("f".repeat(32))()).not.toBe(ids[0]);
		expect(() => offerIds("xyz")).toThrow();
	});
});

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

function fcmInput() {
	return {
		title: "t",
		body: "b",
		offerId: "o1",
		campaignId: "c1",
		expiresAtMs: T0 + 600_000,
		ttlSeconds: 600,
		urgency: "high",
		topic: "t",
	} as const;
}
