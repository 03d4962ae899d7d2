/**
 * End to end, through the public HTTP API only: a real `wrangler dev`
 * (workerd, D1, Durable Objects) sends a personalized Web Push to a local push
 * receiver, the message is decrypted by an independent RFC 8291 decoder and its
 * VAPID token checked as a push service would, and a 410 from the push service
 * removes that subscription.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestSubscriber, type TestSubscriber, verifyVapidAuthorization } from "../helpers/ece.js";
import { DecisionSchema, PushPayloadSchema, useE2eService } from "./harness.js";

// Paris Rivoli; the outside point is about 1 km north, a plausible walk in 60 s.
const STORE = { lat: 48.8566, lng: 2.3522 };
const OUTSIDE = { lat: 48.8656, lng: 2.3522 };
const OFFER_URL = "https://shop.example/beer";

/** A ping answer as the person's own app (user token) gets it: what happened, and why not. */
const PingsResponseSchema = z.object({
	received: z.number().int(),
	events: z.array(
		z.object({ type: z.enum(["enter", "exit", "dwell"]), geofenceId: z.string(), at: z.string() }),
	),
	offers: z.array(DecisionSchema),
	rejected: z.array(z.object({ index: z.number().int(), reason: z.string() })),
});
const UserViewSchema = z.object({ devices: z.array(z.unknown()) });

const { pushReceiver, tenant, vapidPublicKey, userToken, expectCall, requestsTo, expectLeadsTo } =
	useE2eService({ name: "webpush" });

// Set up by the first test, used by the later ones (they run in order).
let ada: TestSubscriber | undefined;

function pingAt(point: { lat: number; lng: number }, timestampMs: number) {
	return { lat: point.lat, lng: point.lng, accuracy: 10, timestamp: new Date(timestampMs).toISOString() };
}

/** Sends pings as the person's app does: with the user token its back end minted for them. */
async function sendPings(userId: string, deviceId: string, pings: ReturnType<typeof pingAt>[]) {
	const res = PingsResponseSchema.parse(
		await expectCall(200, "POST", "/v1/pings", await userToken(userId), { userId, deviceId, pings }),
	);
	expect(res.received).toBe(pings.length);
	expect(res.rejected, "every ping is usable").toEqual([]);
	return res;
}

async function registerShopper(
	userId: string,
	firstName: string,
	deviceId: string,
	subscriber: TestSubscriber,
) {
	const ut = await userToken(userId);
	const profile = { firstName, locale: "en", consent: { location: true, push: true } };
	const user = await expectCall(200, "PUT", `/v1/users/${userId}`, ut, profile);
	// The app is told what it sent, and when it was stored.
	expect(user).toEqual({ userId, ...profile, updatedAt: expect.any(String) });
	const device = await expectCall(200, "PUT", `/v1/users/${userId}/devices/${deviceId}`, ut, {
		platform: "web",
		webPush: subscriber.subscription,
	});
	expect(device).toEqual({ userId, deviceId, platform: "web", lastSeenAt: expect.any(String) });
}

/** The person's devices as the back office sees them, serialised for content checks. */
async function devicesJson(userId: string): Promise<string> {
	return JSON.stringify(
		UserViewSchema.parse(await expectCall(200, "GET", `/v1/users/${userId}`, tenant().secretKey)).devices,
	);
}

beforeAll(async () => {
	const sk = tenant().secretKey;
	await expectCall(200, "PUT", "/v1/geofences", sk, {
		type: "FeatureCollection",
		features: [
			{
				type: "Feature",
				geometry: { type: "Point", coordinates: [STORE.lng, STORE.lat] },
				properties: { id: "rivoli", name: "Rivoli", tags: ["grocery"], radius: 150 },
			},
		],
	});
	await expectCall(201, "POST", "/v1/campaigns", sk, {
		id: "beer-near-store",
		name: "Cold beer nearby",
		status: "active",
		priority: 10,
		trigger: { type: "geofence", on: "enter" },
		variants: [
			{
				id: "a",
				weight: 100,
				title: '{{ firstName | default: "Hi" }}, beer is -20%',
				body: "Two minutes away at {{ geofence.name }}",
				url: OFFER_URL,
			},
		],
		// No holdout: the test needs the one person it follows to be sent the offer.
		holdoutPercent: 0,
		ttlSeconds: 600,
		cooldownSeconds: 86400,
	});
});

describe("Web Push end to end", () => {
	it("walking into the store sends Ada one personalized, encrypted, VAPID-signed push", async () => {
		ada = await createTestSubscriber(pushReceiver().endpointFor("u1-d1"));
		await registerShopper("u1", "Ada", "d1", ada);

		const devices = await devicesJson("u1");
		expect(devices, "the back office sees the push endpoint's host").toContain("127.0.0.1");
		expect(devices, "never the subscription keys").not.toContain(ada.subscription.keys.p256dh);
		expect(devices).not.toContain(ada.subscription.keys.auth);

		const now = Date.now();
		const res = await sendPings("u1", "d1", [pingAt(OUTSIDE, now - 60_000), pingAt(STORE, now)]);
		expect(res.events).toContainEqual(expect.objectContaining({ type: "enter", geofenceId: "rivoli" }));
		const sent = res.offers.filter((o) => o.decision === "sent");
		expect(sent, JSON.stringify(res.offers)).toHaveLength(1);
		const decision = sent[0];
		expect(decision?.campaignId).toBe("beer-near-store");
		expect(decision?.offerId).toEqual(expect.any(String));

		await pushReceiver().waitFor(() => requestsTo(ada?.subscription.endpoint ?? "").length >= 1, 1000);
		const pushes = requestsTo(ada.subscription.endpoint);
		expect(pushes).toHaveLength(1);
		const push = pushes[0];
		if (!push) throw new Error("no push received");

		expect(push.method).toBe("POST");
		expect(push.headers["content-encoding"]).toBe("aes128gcm");
		expect(push.headers.urgency).toBe("high");
		// TTL is the offer's remaining validity: 600 s, give or take the time it took to send.
		expect(Number(push.headers.ttl)).toBeGreaterThanOrEqual(595);
		expect(Number(push.headers.ttl)).toBeLessThanOrEqual(600);
		expect(push.headers.topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);

		const claims = await verifyVapidAuthorization(
			push.headers.authorization ?? "",
			ada.subscription.endpoint,
			{
				publicKey: vapidPublicKey(),
			},
		);
		expect(claims.aud).toBe(pushReceiver().origin);

		const payload = PushPayloadSchema.parse(JSON.parse(await ada.decrypt(push.body)));
		expect(payload.title).toBe("Ada, beer is -20%");
		expect(payload.body).toBe("Two minutes away at Rivoli");
		expect(payload.offerId).toBe(decision?.offerId);
		await expectLeadsTo(payload.url, OFFER_URL);
	});

	it("a second ping inside the store sends nothing more", async () => {
		if (!ada) throw new Error("the first test did not register Ada");
		const before = pushReceiver().received.length;

		// 11 m from the last fix: a second later at least, so it is a believable move (not too_fast)
		// and the ping is really applied.
		await new Promise((resolve) => setTimeout(resolve, 1000));
		const res = await sendPings("u1", "d1", [
			pingAt({ lat: STORE.lat + 0.0001, lng: STORE.lng }, Date.now()),
		]);
		expect(res.events.filter((e) => e.type === "enter")).toEqual([]);
		expect(res.offers.filter((o) => o.decision === "sent")).toEqual([]);

		// Nothing should arrive; a push sent after the response would show up within this window.
		await new Promise((resolve) => setTimeout(resolve, 1000));
		expect(pushReceiver().received.length).toBe(before);
		expect(requestsTo(ada.subscription.endpoint)).toHaveLength(1);
	});

	it("a 410 Gone from the push service removes exactly that subscription", async () => {
		if (!ada) throw new Error("the first test did not register Ada");
		const grace = await createTestSubscriber(pushReceiver().endpointFor("u2-d2"));
		pushReceiver().respondWith(grace.subscription.endpoint, 410);
		await registerShopper("u2", "Grace", "d2", grace);
		expect(await devicesJson("u2"), "the subscription is listed before the 410").toContain("127.0.0.1");

		const now = Date.now();
		const res = await sendPings("u2", "d2", [pingAt(OUTSIDE, now - 60_000), pingAt(STORE, now)]);
		expect(res.events).toContainEqual(expect.objectContaining({ type: "enter", geofenceId: "rivoli" }));
		await pushReceiver().waitFor(() => requestsTo(grace.subscription.endpoint).length >= 1, 2000);
		expect(requestsTo(grace.subscription.endpoint)[0]?.status).toBe(410);

		// The removal may complete just after the push service's answer: poll briefly.
		let devices = await devicesJson("u2");
		for (const deadline = Date.now() + 5000; devices.includes("127.0.0.1") && Date.now() < deadline; ) {
			await new Promise((resolve) => setTimeout(resolve, 100));
			devices = await devicesJson("u2");
		}
		expect(devices, "Grace's device no longer has a push endpoint").not.toContain("127.0.0.1");
		expect(await devicesJson("u1"), "Ada's subscription is untouched").toContain("127.0.0.1");
	});

	it("the publishable key alone acts for nobody, and a user token only for its own person", async () => {
		const ping = { userId: "u1", deviceId: "d1", pings: [pingAt(STORE, Date.now())] };
		const refused = await expectCall(401, "POST", "/v1/pings", tenant().publishableKey, ping);
		expect(refused).toMatchObject({ status: 401, code: "user_token_required" });
		await expectCall(403, "POST", "/v1/pings", await userToken("u2"), ping);

		// A tenant may allow the publishable key again: its apps are then told only how many
		// pings arrived, never what they caused.
		await expectCall(200, "PUT", "/v1/settings", tenant().secretKey, { clientAuth: "publishable" });
		const answer = await expectCall(200, "POST", "/v1/pings", tenant().publishableKey, ping);
		expect(answer).toEqual({ received: 1 });
	});
});
