/**
 * The cart hook end to end, through the public HTTP API only: a real `wrangler dev`
 * (workerd, D1, Durable Objects) receives a signed `item_added` for chips and sends the
 * person a Web Push offer on beer at their subscription (a local push receiver). The push
 * is decrypted by an independent RFC 8291 decoder, its VAPID token checked as a push
 * service would, and the hook's answer lists the decision that led to it.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { signPayload } from "../../src/webhook/signature.js";
import { createTestSubscriber, verifyVapidAuthorization } from "../helpers/ece.js";
import { DecisionSchema, PushPayloadSchema, useE2eService } from "./harness.js";

const OFFER_URL = "https://shop.example/cart/add/beer";

const CartAnswerSchema = z.object({ offers: z.array(DecisionSchema), duplicate: z.boolean().optional() });

const {
	api,
	pushReceiver,
	tenant: theTenant,
	vapidPublicKey,
	userToken,
	expectCall,
	requestsTo,
	expectLeadsTo,
} = useE2eService({ name: "cart" });

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

/**
 * The person's app registers them (push consent only) and their browser's subscription, with
 * the user token the tenant's back end minted for them.
 */
async function registerShopper(
	userId: string,
	profile: { firstName: string; locale?: string },
	deviceId: string,
	subscription: unknown,
): Promise<void> {
	const ut = await userToken(userId);
	await expectCall(200, "PUT", `/v1/users/${userId}`, ut, {
		...profile,
		consent: { location: false, push: true },
	});
	await expectCall(200, "PUT", `/v1/users/${userId}/devices/${deviceId}`, ut, {
		platform: "web",
		webPush: subscription,
	});
}

beforeAll(async () => {
	await expectCall(201, "POST", "/v1/campaigns", theTenant().secretKey, {
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
});

describe("cart hook end to end", () => {
	it("a signed item_added for chips sends Ada a decrypted web push for beer, and the answer lists it", async () => {
		const t = theTenant();
		const ada = await createTestSubscriber(pushReceiver().endpointFor("cart-u1-d1"));
		await registerShopper("cart-u1", { firstName: "Ada", locale: "en" }, "d1", ada.subscription);

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
				publicKey: vapidPublicKey(),
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
		const grace = await createTestSubscriber(pushReceiver().endpointFor("cart-u2-d2"));
		await registerShopper("cart-u2", { firstName: "Grace" }, "d2", grace.subscription);
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
