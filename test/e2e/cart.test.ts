/**
 * The cart hook end to end, through the public HTTP API only: a real `wrangler dev`
 * (workerd, D1, Durable Objects) receives a signed `item_added` for chips and sends the
 * person a Web Push offer on beer at their subscription (a local push receiver). The push
 * is decrypted by an independent RFC 8291 decoder, its VAPID token checked as a push
 * service would, and the hook's answer lists the decision that led to it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { z } from "zod";
import { type DevServer, startDevServer } from "../../scripts/lib/devserver.mjs";
import { signPayload } from "../../src/webhook/signature.js";
import { createTestSubscriber, verifyVapidAuthorization } from "../helpers/ece.js";
import { type PushReceiver, type ReceivedPush, startPushReceiver } from "../helpers/push-receiver.js";

const OFFER_URL = "https://shop.example/cart/add/beer";

const TenantSchema = z.object({
	id: z.string(),
	secretKey: z.string().startsWith("sk_"),
	publishableKey: z.string().startsWith("pk_"),
	webhookSecret: z.string().min(1),
});
const VapidKeySchema = z.object({ publicKey: z.string().regex(/^[\w-]+$/) });
const DecisionSchema = z.object({
	offerId: z.string().optional(),
	campaignId: z.string(),
	variantId: z.string().optional(),
	decision: z.enum(["sent", "holdout", "suppressed"]),
	reason: z.string().optional(),
});
const CartAnswerSchema = z.object({ offers: z.array(DecisionSchema), duplicate: z.boolean().optional() });
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

let tenant: z.infer<typeof TenantSchema> | undefined;
let vapidPublicKey = "";

function api(): DevServer {
	if (!server) throw new Error("dev server is not running");
	return server;
}

function pushReceiver(): PushReceiver {
	if (!receiver) throw new Error("push receiver is not running");
	return receiver;
}

function theTenant(): z.infer<typeof TenantSchema> {
	if (!tenant) throw new Error("the tenant was not created");
	return tenant;
}

/** Calls the Worker with a bearer key; fails with the body when the status is not `expected`. */
async function expectCall(
	expected: number,
	method: string,
	route: string,
	key: string | null,
	body?: unknown,
): Promise<unknown> {
	const headers: Record<string, string> = {};
	if (key !== null) headers.authorization = `Bearer ${key}`;
	if (body !== undefined) headers["content-type"] = "application/json";
	const res = await fetch(`${api().origin}${route}`, {
		method,
		headers,
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	expect(res.status, `${method} ${route} answered ${res.status}: ${text.slice(0, 600)}`).toBe(expected);
	return text === "" ? null : JSON.parse(text);
}

/** Posts a cart event the way a cart platform does: raw JSON, HMAC-signed, tenant named. */
async function postCartEvent(
	event: unknown,
	secret = theTenant().webhookSecret,
): Promise<{ status: number; text: string }> {
	const raw = JSON.stringify(event);
	const res = await fetch(`${api().origin}/v1/cart-events`, {
		method: "POST",
		headers: {
			"content-type": "application/json",
			"x-tenant-id": theTenant().id,
			"x-signature": await signPayload(secret, raw, Math.floor(Date.now() / 1000)),
		},
		body: raw,
	});
	return { status: res.status, text: await res.text() };
}

function requestsTo(endpoint: string): ReceivedPush[] {
	const { pathname, search } = new URL(endpoint);
	return pushReceiver().received.filter((r) => r.path === pathname + search);
}

/** The push may carry the offer URL itself or the service's signed click link that redirects to it. */
async function expectLeadsTo(url: string, target: string): Promise<void> {
	if (url === target) return;
	const link = new URL(url);
	expect(link.pathname, `push url ${url} is neither ${target} nor a click link`).toMatch(
		/^\/v1\/offers\/[^/]+\/click$/,
	);
	const res = await fetch(`${api().origin}${link.pathname}${link.search}`, { redirect: "manual" });
	expect(res.status).toBe(302);
	expect(res.headers.get("location")).toBe(target);
}

beforeAll(async () => {
	persistDir = await mkdtemp(path.join(tmpdir(), "edge-offers-e2e-cart-"));
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

	tenant = TenantSchema.parse(
		await expectCall(201, "POST", "/v1/tenants", api().adminToken, {
			name: "e2e cart",
			timezone: "Europe/Paris",
		}),
	);
	// Quiet hours would make the outcome depend on when the suite runs.
	await expectCall(200, "PUT", "/v1/settings", tenant.secretKey, { quietHours: null });
	await expectCall(201, "POST", "/v1/campaigns", tenant.secretKey, {
		id: "beer-with-chips",
		name: "Beer goes with chips",
		status: "active",
		priority: 10,
		trigger: {
			type: "cart",
			whenCartHas: { skus: ["chips"] },
			unlessCartHas: { skus: ["beer"] },
			offerSku: "beer",
		},
		variants: [
			{
				id: "a",
				weight: 100,
				title: "{{ item.name }} taste better with {{ offer.sku }}",
				body: '{{ firstName | default: "Hi" }}, add a cold {{ offer.sku }}: -20% today',
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

describe("cart hook end to end", () => {
	it("a signed item_added for chips sends Ada a decrypted web push for beer, and the answer lists it", async () => {
		onTestFailed(() => console.error(`wrangler output:\n${serverLog.slice(-60).join("\n")}`));
		const t = theTenant();
		const ada = await createTestSubscriber(pushReceiver().endpointFor("cart-u1-d1"));
		await expectCall(200, "PUT", "/v1/users/cart-u1", t.publishableKey, {
			firstName: "Ada",
			locale: "en",
			consent: { location: false, push: true },
		});
		await expectCall(200, "PUT", "/v1/users/cart-u1/devices/d1", t.publishableKey, {
			platform: "web",
			webPush: ada.subscription,
		});

		const event = {
			eventId: "evt-e2e-chips-1",
			userId: "cart-u1",
			type: "item_added",
			items: [{ sku: "chips", category: "snacks", name: "Sea-salt chips", quantity: 2, price: 2.49 }],
			occurredAt: new Date().toISOString(),
		};
		const res = await postCartEvent(event);
		expect(res.status, res.text.slice(0, 600)).toBe(200);
		const answer = CartAnswerSchema.parse(JSON.parse(res.text));
		expect(answer.duplicate).toBeUndefined();
		expect(answer.offers).toEqual([
			{ offerId: expect.any(String), campaignId: "beer-with-chips", variantId: "a", decision: "sent" },
		]);
		const offerId = answer.offers[0]?.offerId;

		await pushReceiver().waitFor(() => requestsTo(ada.subscription.endpoint).length >= 1, 2000);
		const pushes = requestsTo(ada.subscription.endpoint);
		expect(pushes).toHaveLength(1);
		const push = pushes[0];
		if (!push) throw new Error("no push received");
		expect(push.method).toBe("POST");
		expect(push.headers["content-encoding"]).toBe("aes128gcm");
		expect(Number(push.headers.ttl)).toBeGreaterThanOrEqual(595);
		expect(Number(push.headers.ttl)).toBeLessThanOrEqual(600);
		const claims = await verifyVapidAuthorization(
			push.headers.authorization ?? "",
			ada.subscription.endpoint,
			{
				publicKey: vapidPublicKey,
			},
		);
		expect(claims.aud).toBe(pushReceiver().origin);

		const payload = PushPayloadSchema.parse(JSON.parse(await ada.decrypt(push.body)));
		expect(payload.title).toBe("Sea-salt chips taste better with beer");
		expect(payload.body).toBe("Ada, add a cold beer: -20% today");
		expect(payload.offerId).toBe(offerId);
		await expectLeadsTo(payload.url, OFFER_URL);

		// The platform retries the webhook: same answer, flagged, and no second push.
		const retry = await postCartEvent(event);
		expect(retry.status).toBe(200);
		expect(CartAnswerSchema.parse(JSON.parse(retry.text))).toEqual({ ...answer, duplicate: true });
		// The decision log is written before the hook answers; by then any second push would have left too.
		const log = z
			.object({ decisions: z.array(z.object({ decision: z.string(), offerId: z.string().nullable() })) })
			.parse(await expectCall(200, "GET", "/v1/users/cart-u1/decisions", t.secretKey));
		expect(log.decisions).toEqual([expect.objectContaining({ decision: "sent", offerId })]);
		expect(requestsTo(ada.subscription.endpoint)).toHaveLength(1);
	});

	it("a forged signature is refused with 401 and sends nothing", async () => {
		onTestFailed(() => console.error(`wrangler output:\n${serverLog.slice(-60).join("\n")}`));
		const t = theTenant();
		const grace = await createTestSubscriber(pushReceiver().endpointFor("cart-u2-d2"));
		await expectCall(200, "PUT", "/v1/users/cart-u2", t.publishableKey, {
			firstName: "Grace",
			consent: { location: false, push: true },
		});
		await expectCall(200, "PUT", "/v1/users/cart-u2/devices/d2", t.publishableKey, {
			platform: "web",
			webPush: grace.subscription,
		});
		const event = {
			eventId: "evt-e2e-forged",
			userId: "cart-u2",
			type: "item_added",
			items: [{ sku: "chips", name: "Paprika chips" }],
		};
		const res = await postCartEvent(event, "whsec_forged");
		expect(res.status).toBe(401);
		expect(JSON.parse(res.text)).toMatchObject({ status: 401, code: "bad_signature" });

		// The genuine event afterwards is processed as new, and Grace gets exactly one push.
		const ok = await postCartEvent(event);
		expect(ok.status).toBe(200);
		const answer = CartAnswerSchema.parse(JSON.parse(ok.text));
		expect(answer.duplicate).toBeUndefined();
		expect(answer.offers).toEqual([
			expect.objectContaining({ campaignId: "beer-with-chips", decision: "sent" }),
		]);
		await pushReceiver().waitFor(() => requestsTo(grace.subscription.endpoint).length >= 1, 2000);
		const [push] = requestsTo(grace.subscription.endpoint);
		if (!push) throw new Error("no push received");
		const payload = PushPayloadSchema.parse(JSON.parse(await grace.decrypt(push.body)));
		expect(payload.title).toBe("Paprika chips taste better with beer");
		expect(payload.body).toBe("Grace, add a cold beer: -20% today");
		expect(payload.offerId).toBe(answer.offers[0]?.offerId);
	});
});
