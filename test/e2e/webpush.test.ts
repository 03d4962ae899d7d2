/**
 * End to end, through the public HTTP API only: a real `wrangler dev`
 * (workerd, D1, Durable Objects) sends a personalized Web Push to a local push
 * receiver, the message is decrypted by an independent RFC 8291 decoder and its
 * VAPID token checked as a push service would, and a 410 from the push service
 * removes that subscription.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { z } from "zod";
import { type DevServer, startDevServer } from "../../scripts/lib/devserver.mjs";
import { createTestSubscriber, type TestSubscriber, verifyVapidAuthorization } from "../helpers/ece.js";
import { type PushReceiver, type ReceivedPush, startPushReceiver } from "../helpers/push-receiver.js";

// Paris Rivoli; the outside point is about 1 km north, a plausible walk in 60 s.
const STORE = { lat: 48.8566, lng: 2.3522 };
const OUTSIDE = { lat: 48.8656, lng: 2.3522 };
const OFFER_URL = "https://shop.example/beer";

const TenantSchema = z.object({
	id: z.string(),
	secretKey: z.string().startsWith("sk_"),
	publishableKey: z.string().startsWith("pk_"),
	webhookSecret: z.string(),
});
const VapidKeySchema = z.object({ publicKey: z.string().regex(/^[\w-]+$/) });
const DecisionSchema = z.object({
	offerId: z.string().optional(),
	campaignId: z.string(),
	variantId: z.string().optional(),
	decision: z.enum(["sent", "holdout", "suppressed"]),
	reason: z.string().optional(),
});
const PingsResponseSchema = z.object({
	events: z.array(
		z.object({ type: z.enum(["enter", "exit", "dwell"]), geofenceId: z.string(), at: z.string() }),
	),
	offers: z.array(DecisionSchema),
});
const UserViewSchema = z.object({ devices: z.array(z.unknown()) });
const PushPayloadSchema = z.object({
	offerId: z.string(),
	title: z.string(),
	body: z.string(),
	url: z.string(),
});

let server: DevServer | undefined;
let receiver: PushReceiver | undefined;
let persistDir: string | undefined;
const serverLog: string[] = [];

// Set up by the first tests, used by the later ones (they run in order).
let sk = "";
let pk = "";
let vapidPublicKey = "";
let ada: TestSubscriber | undefined;

/** The running dev server, or a clear failure when start-up did not get that far. */
function api(): DevServer {
	if (!server) throw new Error("dev server is not running");
	return server;
}

function pushReceiver(): PushReceiver {
	if (!receiver) throw new Error("push receiver is not running");
	return receiver;
}

/** Calls the Worker; the body is parsed JSON, or the raw text when it is not JSON. */
async function call(
	method: string,
	route: string,
	key: string | null,
	body?: unknown,
): Promise<{ status: number; json: unknown; text: string; headers: Headers }> {
	const headers: Record<string, string> = {};
	if (key !== null) headers.authorization = `Bearer ${key}`;
	if (body !== undefined) headers["content-type"] = "application/json";
	const res = await fetch(`${api().origin}${route}`, {
		method,
		headers,
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	let json: unknown = null;
	try {
		json = text === "" ? null : JSON.parse(text);
	} catch {
		json = null;
	}
	return { status: res.status, json, text, headers: res.headers };
}

/** Like {@link call}, but fails with the response body when the status is not `expected`. */
async function expectCall(
	expected: number,
	method: string,
	route: string,
	key: string | null,
	body?: unknown,
): Promise<unknown> {
	const res = await call(method, route, key, body);
	expect(res.status, `${method} ${route} answered ${res.status}: ${res.text.slice(0, 600)}`).toBe(expected);
	return res.json;
}

function pingAt(point: { lat: number; lng: number }, timestampMs: number) {
	return { lat: point.lat, lng: point.lng, accuracy: 10, timestamp: new Date(timestampMs).toISOString() };
}

async function sendPings(userId: string, deviceId: string, pings: ReturnType<typeof pingAt>[]) {
	return PingsResponseSchema.parse(
		await expectCall(200, "POST", "/v1/pings", pk, { userId, deviceId, pings }),
	);
}

async function registerShopper(
	userId: string,
	firstName: string,
	deviceId: string,
	subscriber: TestSubscriber,
) {
	await expectCall(200, "PUT", `/v1/users/${userId}`, pk, {
		firstName,
		locale: "en",
		consent: { location: true, push: true },
	});
	await expectCall(200, "PUT", `/v1/users/${userId}/devices/${deviceId}`, pk, {
		platform: "web",
		webPush: subscriber.subscription,
	});
}

/** The person's devices as the back office sees them, serialised for content checks. */
async function devicesJson(userId: string): Promise<string> {
	return JSON.stringify(
		UserViewSchema.parse(await expectCall(200, "GET", `/v1/users/${userId}`, sk)).devices,
	);
}

function requestsTo(endpoint: string): ReceivedPush[] {
	const { pathname, search } = new URL(endpoint);
	return pushReceiver().received.filter((r) => r.path === pathname + search);
}

/** The push carries the service's signed click link, which records the click and redirects to the offer URL. */
async function expectLeadsTo(url: string, target: string): Promise<void> {
	const link = new URL(url);
	expect(link.pathname, `push url ${url} is not a click link`).toMatch(
		/^\/v1\/offers\/[^/]+\/click$/,
	);
	const res = await fetch(`${api().origin}${link.pathname}${link.search}`, { redirect: "manual" });
	expect(res.status).toBe(302);
	expect(res.headers.get("location")).toBe(target);
}

beforeAll(async () => {
	persistDir = await mkdtemp(path.join(tmpdir(), "edge-offers-e2e-webpush-"));
	receiver = await startPushReceiver();
	server = await startDevServer({
		port: 0,
		persistDir,
		vars: { ALLOW_INSECURE_LOOPBACK_PUSH: "true" },
		log: (line) => {
			serverLog.push(line);
			if (serverLog.length > 200) serverLog.shift();
		},
	});

	const tenant = TenantSchema.parse(
		await expectCall(201, "POST", "/v1/tenants", api().adminToken, {
			name: "e2e webpush",
			timezone: "Europe/Paris",
		}),
	);
	sk = tenant.secretKey;
	pk = tenant.publishableKey;
	// Quiet hours would make the outcome depend on when the suite runs.
	await expectCall(200, "PUT", "/v1/settings", sk, { quietHours: null });
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
	vapidPublicKey = VapidKeySchema.parse(
		await expectCall(200, "GET", "/v1/push/vapid-public-key", null),
	).publicKey;
}, 180_000);

afterAll(async () => {
	await server?.stop();
	await receiver?.close();
	if (persistDir) await rm(persistDir, { recursive: true, force: true });
});

describe("Web Push end to end", () => {
	it("walking into the store sends Ada one personalized, encrypted, VAPID-signed push", async () => {
		onTestFailed(() => console.error(`wrangler output:\n${serverLog.slice(-60).join("\n")}`));
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
				publicKey: vapidPublicKey,
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
		onTestFailed(() => console.error(`wrangler output:\n${serverLog.slice(-60).join("\n")}`));
		if (!ada) throw new Error("the first test did not register Ada");
		const before = pushReceiver().received.length;

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
		onTestFailed(() => console.error(`wrangler output:\n${serverLog.slice(-60).join("\n")}`));
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
});
