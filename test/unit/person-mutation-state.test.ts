/**
 * The person core's storage format and views (src/person/state.ts, view.ts, delivery.ts
 * helpers), cases the mutation run (npm run mutation) showed untested by the step tests.
 */
import { describe, expect, it } from "vitest";
import {
	applyDeliveries,
	audienceDataOf,
	bounded,
	deliveryMessages,
	emptyState,
	exportOf,
	fingerprint,
	iso,
	type OfferToSend,
	type PersonState,
	personView,
	readState,
	STATE_KEYS,
	type StateKey,
	storedValue,
	templateVars,
	ttlLeft,
	userView,
} from "../../src/person/index.js";
import { nextRetryAt } from "../../src/push/retry.js";
import { campaign, fence, registered, T0, USER } from "./person-fixtures.js";

const DAY = 86_400_000;

describe("readState", () => {
	it("gives every absent key its empty value", () => {
		expect(readState(() => undefined)).toEqual(emptyState());
		expect(STATE_KEYS).toHaveLength(Object.keys(emptyState()).length);
		expect(new Set(STATE_KEYS)).toEqual(new Set(Object.keys(emptyState())));
	});

	it("reads every stored key as stored", () => {
		const s = registered();
		s.sent = [T0];
		s.cooldowns = { k: T0 };
		s.erasedAt = null;
		s.crm = { tier: "gold" };
		s.screening = [{ at: T0, reasons: { future: 1 } }];
		s.fences = { g1: fence("g1") };
		const stored = new Map(STATE_KEYS.map((k) => [k, structuredClone(storedValue(s, k))]));
		expect(readState((k) => stored.get(k))).toEqual(s);
	});

	it("takes the devices' last-seen times from presence, when they are numbers", () => {
		const s = registered();
		const raw: Partial<Record<StateKey, unknown>> = {
			devices: structuredClone(s.devices),
			presence: { last: null, inside: {}, seen: { "web-1": T0 + 99, ghost: T0 } },
		};
		// readState sets the times on the devices it is handed: each read gets its own copy.
		const read = readState((k) => structuredClone(raw[k]));
		expect(read.devices["web-1"]?.lastSeenAt).toBe(T0 + 99);
		expect(Object.keys(read.devices)).toEqual(["web-1"]);
		const bad = readState((k) =>
			k === "presence" ? { last: null, inside: {}, seen: { "web-1": "soon" } } : structuredClone(raw[k]),
		);
		expect(bad.devices["web-1"]?.lastSeenAt).toBe(s.devices["web-1"]?.lastSeenAt);
		// Presence stored without `seen` (before last-seen times moved there).
		const old = readState((k) => (k === "presence" ? { last: null, inside: {} } : structuredClone(raw[k])));
		expect(old.devices["web-1"]?.lastSeenAt).toBe(s.devices["web-1"]?.lastSeenAt);
	});
});

describe("storedValue and fingerprint", () => {
	it("stores presence with the devices' last-seen times, every other key as it is", () => {
		const s = registered();
		s.devices.b = { platform: "android", webPush: null, fcmToken: "t", createdAt: T0, lastSeenAt: T0 + 7 };
		expect(storedValue(s, "presence")).toEqual({
			...s.presence,
			seen: { "web-1": s.devices["web-1"]?.lastSeenAt, b: T0 + 7 },
		});
		for (const k of STATE_KEYS.filter((k) => k !== "presence")) expect(storedValue(s, k)).toBe(s[k]);
	});

	it("a device's last-seen time changes presence's fingerprint, not the devices'", () => {
		const a = registered();
		const b = structuredClone(a);
		(b.devices["web-1"] as { lastSeenAt: number }).lastSeenAt += 1000;
		expect(fingerprint(b, "devices")).toBe(fingerprint(a, "devices"));
		expect(fingerprint(b, "presence")).not.toBe(fingerprint(a, "presence"));
		const c = structuredClone(a);
		(c.devices["web-1"] as { fcmToken: string | null }).fcmToken = "new";
		expect(fingerprint(c, "devices")).not.toBe(fingerprint(a, "devices"));
		expect(fingerprint(a, "sent")).toBe(JSON.stringify(a.sent));
		const d = structuredClone(a);
		d.sent = [T0];
		expect(fingerprint(d, "sent")).not.toBe(fingerprint(a, "sent"));
	});
});

describe("bounded", () => {
	it("keeps the newest max entries younger than the ttl", () => {
		const entries = {
			old: { at: T0 - 1000 },
			edge: { at: T0 - 999 },
			a: { at: T0 - 10 },
			b: { at: T0 - 5 },
			c: { at: T0 },
		};
		expect(Object.keys(bounded(entries, T0, 10, 1000)).sort()).toEqual(["a", "b", "c", "edge"]);
		expect(Object.keys(bounded(entries, T0, 2, 1000))).toEqual(["c", "b"]);
		expect(bounded({}, T0, 2, 1000)).toEqual({});
	});
});

describe("views", () => {
	it("userView: the profile, devices without push keys, fences inside sorted", () => {
		const s = registered();
		s.devices.phone = {
			platform: "android",
			webPush: null,
			fcmToken: "tok",
			createdAt: T0,
			lastSeenAt: T0 + 1,
		};
		s.devices.bad = {
			platform: "web",
			webPush: { endpoint: "not a url", keys: { p256dh: "p", auth: "a" } },
			fcmToken: null,
			createdAt: T0,
			lastSeenAt: T0,
		};
		s.presence.inside = { z: { enteredAt: T0, dwells: [] }, a: { enteredAt: T0, dwells: [] } };
		s.crm = { tier: "gold" };
		const v = userView(s);
		expect(v).toMatchObject({
			userId: USER,
			firstName: "Ana",
			locale: null,
			timezone: null,
			attributes: { tier: "gold" },
			interests: [],
			consent: { location: true, push: true },
			insideGeofences: ["a", "z"],
			createdAt: iso(T0 - 3_600_000),
			updatedAt: iso(T0 - 3_600_000),
		});
		expect(v?.devices).toEqual([
			{
				deviceId: "web-1",
				platform: "web",
				pushEndpointHost: "push.example",
				hasFcmToken: false,
				createdAt: iso(T0 - 3_600_000),
				lastSeenAt: iso(T0 - 3_600_000),
			},
			{
				deviceId: "phone",
				platform: "android",
				pushEndpointHost: null,
				hasFcmToken: true,
				createdAt: iso(T0),
				lastSeenAt: iso(T0 + 1),
			},
			{
				deviceId: "bad",
				platform: "web",
				pushEndpointHost: null,
				hasFcmToken: false,
				createdAt: iso(T0),
				lastSeenAt: iso(T0),
			},
		]);
		expect(JSON.stringify(v)).not.toContain("p256dh");
		expect(userView(emptyState())).toBeNull();
		const noMeta = { ...registered(), meta: null };
		expect(userView(noMeta)?.userId).toBe("");
	});

	it("exportOf: everything held, null for nobody, CRM-only people included", () => {
		expect(exportOf(emptyState())).toBeNull();
		const crmOnly: PersonState = { ...emptyState(), crm: { tier: "gold" } };
		expect(exportOf(crmOnly)?.profile).toBeNull();
		expect(exportOf(crmOnly)?.crmAttributes).toEqual({ tier: "gold" });
		const s = registered();
		s.presence = {
			last: { lat: 1, lng: 2, t: T0 },
			inside: { g1: { enteredAt: T0, dwells: [] } },
		};
		s.sent = [T0];
		s.cooldowns = { "c1:g1": T0 };
		s.deliveries = [
			{
				offerId: "o1",
				deviceId: "web-1",
				message: { transport: "web", payload: "{}" },
				topic: "t",
				expiresAt: T0,
				attempt: 0,
				nextAt: T0,
			},
		];
		s.screening = [{ at: T0, reasons: { future: 2 } }];
		s.visits = [{ id: "g1", tags: ["grocery"], days: [[Math.floor(T0 / DAY), 3]] }];
		s.cart.purchases = [{ kind: "sku", key: "beer", at: T0 }];
		const x = exportOf(s);
		expect(x).toMatchObject({
			presence: {
				insideGeofences: [{ geofenceId: "g1", since: iso(T0) }],
				lastAcceptedPing: { lat: 1, lng: 2, at: iso(T0) },
			},
			cart: { items: [] },
			purchases: [{ kind: "sku", key: "beer", at: iso(T0) }],
			offersSentAt: [iso(T0)],
			cooldowns: [{ key: "c1:g1", at: iso(T0) }],
			pendingDeliveries: [{ offerId: "o1", deviceId: "web-1" }],
			screening: [{ at: iso(T0), reasons: { future: 2 } }],
			crmAttributes: {},
			visits: [{ geofenceId: "g1", tags: ["grocery"], days: [{ date: "2026-11-23", enters: 3 }] }],
		});
		expect(x?.profile?.userId).toBe(USER);
		expect(exportOf({ ...s, presence: { last: null, inside: {} } })?.presence.lastAcceptedPing).toBeNull();
	});

	it("audienceDataOf: null for nobody, the person's data otherwise", () => {
		expect(audienceDataOf(emptyState())).toBeNull();
		expect(audienceDataOf({ ...emptyState(), crm: { a: 1 } })).toEqual({
			appAttributes: null,
			crmAttributes: { a: 1 },
			interests: [],
			locale: null,
			visits: [],
			purchases: [],
		});
		const s = registered();
		s.profile = { ...(s.profile as NonNullable<PersonState["profile"]>), locale: "fr", interests: ["wine"] };
		expect(audienceDataOf(s)).toMatchObject({ appAttributes: {}, interests: ["wine"], locale: "fr" });
	});

	it("personView: what decisions read about the person", () => {
		const nobody = personView(emptyState(), true, T0);
		expect(nobody).toMatchObject({
			userId: "",
			timezone: null,
			consent: { location: false, push: false },
			reachable: false,
		});
		const s = registered();
		s.profile = { ...(s.profile as NonNullable<PersonState["profile"]>), timezone: "Europe/Paris" };
		s.cooldowns = { k: T0 };
		s.sent = [T0 - 1];
		s.cart.purchases = [{ kind: "sku", key: "beer", at: T0 - DAY }];
		const v = personView(s, false, T0);
		expect(v).toMatchObject({
			userId: USER,
			timezone: "Europe/Paris",
			consent: { location: true, push: true },
			reachable: true,
			lastByCooldownKey: { k: T0 },
			sentHistory: [T0 - 1],
		});
		expect(v.purchasedWithin({ sku: "beer" }, 2)).toBe(true);
		expect(v.purchasedWithin({ sku: "wine" }, 2)).toBe(false);
		// An FCM-only device reaches the person only when FCM is on.
		const fcmOnly = registered();
		fcmOnly.devices = {
			p: { platform: "android", webPush: null, fcmToken: "t", createdAt: T0, lastSeenAt: T0 },
		};
		expect(personView(fcmOnly, false, T0).reachable).toBe(false);
		expect(personView(fcmOnly, true, T0).reachable).toBe(true);
	});

	it("templateVars: the person and the fence, or the cart item that matched and the offered SKU", () => {
		const s = registered();
		s.crm = { tier: "gold" };
		const g = templateVars(s, campaign(), {
			type: "geofence",
			on: "enter",
			fence: fence("g1", { metadata: { floor: 2 } }),
			at: T0,
			stale: false,
		});
		expect(g).toEqual({
			firstName: "Ana",
			locale: "",
			attributes: { tier: "gold" },
			cart: { items: [] },
			geofence: { id: "g1", name: "Store g1", tags: ["grocery"], metadata: { floor: 2 } },
		});
		const items = [
			{ sku: "bread", category: null, name: null, price: 1 },
			{ sku: "x", category: "wine", name: "Red", price: 9 },
		];
		const cartTrigger = { type: "cart" as const, event: "item_added" as const, items, at: T0, stale: false };
		const byCategory = campaign({
			trigger: { type: "cart", whenCartHas: { categories: ["wine"] }, offerSku: "cheese" },
		});
		expect(templateVars(s, byCategory, cartTrigger)).toMatchObject({
			item: items[1],
			offer: { sku: "cheese" },
		});
		const bySku = campaign({
			trigger: { type: "cart", whenCartHas: { skus: ["bread"] } },
			offerSku: "butter",
		});
		expect(templateVars(s, bySku, cartTrigger)).toMatchObject({ item: items[0], offer: { sku: "butter" } });
		const none = campaign({ trigger: { type: "cart", whenCartHas: { skus: ["zzz"] } } });
		expect(templateVars(emptyState(), none, cartTrigger)).toEqual({
			firstName: "",
			locale: "",
			attributes: {},
			cart: { items: [] },
			item: items[0],
			offer: { sku: "" },
		});
		expect(templateVars(s, none, { ...cartTrigger, items: [] })).toMatchObject({ item: {} });
		// A geofence campaign asked for a cart trigger: nothing in its trigger matches.
		expect(templateVars(s, campaign({ offerSku: "o" }), cartTrigger)).toMatchObject({
			item: items[0],
			offer: { sku: "o" },
		});
	});
});

describe("delivery helpers", () => {
	const send: OfferToSend = {
		offerId: "o1",
		campaignId: "c1",
		variantId: "a",
		offer: { title: "T", body: "B" },
		expiresAt: T0 + 600_000,
		ttlSeconds: 600,
		topic: "topic1",
		targets: [],
	};

	it("deliveryMessages: one Web Push payload and one FCM input from the final links", () => {
		const m = deliveryMessages(send, { title: "T2", body: "B2", url: "https://x.example/c" });
		expect(m.web.transport).toBe("web");
		expect(JSON.parse(m.web.transport === "web" ? m.web.payload : "")).toMatchObject({
			title: "T2",
			body: "B2",
			offerId: "o1",
			campaignId: "c1",
			variantId: "a",
			expiresAt: iso(T0 + 600_000),
		});
		expect(m.fcm).toEqual({
			transport: "fcm",
			input: {
				title: "T2",
				body: "B2",
				url: "https://x.example/c",
				offerId: "o1",
				campaignId: "c1",
				variantId: "a",
				expiresAtMs: T0 + 600_000,
				ttlSeconds: 600,
				urgency: "high",
				topic: "topic1",
			},
		});
	});

	it("ttlLeft rounds up to whole seconds", () => {
		expect(ttlLeft({ expiresAt: T0 + 1500 }, T0)).toBe(2);
		expect(ttlLeft({ expiresAt: T0 + 1000 }, T0)).toBe(1);
		expect(ttlLeft({ expiresAt: T0 }, T0)).toBe(0);
		expect(ttlLeft({ expiresAt: T0 - 1500 }, T0)).toBe(-1);
	});

	it("applyDeliveries: a retry of a retry backs off further and counts it; FCM gone drops the token only", () => {
		const s = registered();
		s.devices.phone = {
			platform: "android",
			webPush: { endpoint: "https://push.example/p", keys: { p256dh: "p", auth: "a" } },
			fcmToken: "tok",
			createdAt: T0,
			lastSeenAt: T0,
		};
		const copy = (offerId: string, deviceId: string, attempt: number, transport: "web" | "fcm" = "web") => ({
			offerId,
			deviceId,
			message:
				transport === "web"
					? ({ transport: "web", payload: "{}" } as const)
					: ({
							transport: "fcm",
							input: {
								title: "t",
								body: "b",
								offerId,
								campaignId: "c1",
								expiresAtMs: T0 + 3_600_000,
								ttlSeconds: 3600,
								urgency: "high",
								topic: "t",
							},
						} as const),
			topic: "t",
			expiresAt: T0 + 3_600_000,
			attempt,
			nextAt: T0,
		});
		const changes = applyDeliveries(
			s,
			[
				// Retry 3 (2 made before): ceiling 4 x the base; jitter 0.99 lands past retry 1's ceiling.
				{
					copy: copy("o1", "web-1", 2),
					first: false,
					outcome: { kind: "retry", retryAtMs: null },
					jitter: 0.99,
				},
				{ copy: copy("o2", "phone", 0, "fcm"), first: true, outcome: { kind: "gone" }, jitter: 0 },
			],
			T0,
		);
		expect(s.deliveries).toHaveLength(1);
		expect(s.deliveries[0]?.attempt).toBe(3);
		expect(s.deliveries[0]?.nextAt).toBe(nextRetryAt(3, T0, null, T0 + 3_600_000, 0.99));
		expect(s.deliveries[0]?.nextAt).toBeGreaterThan(nextRetryAt(1, T0, null, T0 + 3_600_000, 0.99) ?? 0);
		expect(s.devices.phone?.fcmToken).toBeNull();
		expect(s.devices.phone?.webPush).not.toBeNull();
		// o2's only copy is gone: its status is final although o1 is still being retried.
		expect(changes).toEqual([
			{ offerId: "o1", status: null, attempts: 1, first: false },
			{ offerId: "o2", status: "gone", attempts: 1, first: true },
		]);
	});
});
