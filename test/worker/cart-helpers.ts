/**
 * Helpers for the cart-hook workerd tests: signed `POST /v1/cart-events` requests (signed
 * with `signPayload`, the same code cart platforms are told to mirror), cart campaigns,
 * the D1 `conversions` rows, and a push capture that keeps the encrypted bodies so a test
 * can decrypt what a person would see with the independent RFC 8291 decoder.
 */
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, vi } from "vitest";
import { signPayload } from "../../src/webhook/signature";
import { createTestSubscriber, type TestSubscriber } from "../helpers/ece";
import {
	BASE,
	callOk,
	createCampaign,
	type DecisionOut,
	PUSH_ORIGIN,
	pushEndpoint,
	putUser,
	type Tenant,
	type UserOptions,
	unique,
	userKey,
} from "./helpers";

export type CartEventType = "item_added" | "item_removed" | "cart_cleared" | "checkout" | "purchase";

export interface CartItemIn {
	sku: string;
	category?: string;
	name?: string;
	quantity?: number;
	price?: number;
}

export interface CartEventBody {
	eventId: string;
	userId: string;
	type: CartEventType;
	items: CartItemIn[];
	occurredAt?: string | number;
}

export interface CartAnswer {
	offers: DecisionOut[];
	duplicate?: boolean;
}

/** A cart event with a fresh eventId; `occurredAt` (epoch ms) is sent as ISO 8601 when given. */
export function cartEvent(
	userId: string,
	type: CartEventType,
	items: CartItemIn[],
	opts: { eventId?: string; occurredAt?: number } = {},
): CartEventBody {
	return {
		eventId: opts.eventId ?? unique("evt"),
		userId,
		type,
		items,
		...(opts.occurredAt !== undefined ? { occurredAt: new Date(opts.occurredAt).toISOString() } : {}),
	};
}

/** Whole unix seconds, as a cart platform signs. */
export function nowSeconds(): number {
	return Math.floor(Date.now() / 1000);
}

export interface SendOptions {
	/** The secret to sign with; the tenant's webhook secret by default. */
	secret?: string;
	/** The signing time, unix seconds; now by default. */
	tSeconds?: number;
	/** `X-Tenant-Id`; the tenant's id by default, omitted when null. */
	tenantId?: string | null;
	/** Sent as `X-Signature` verbatim instead of a computed one; omitted when null. */
	signature?: string | null;
	/** Changes the bytes after they were signed (tampering). */
	tamper?: (raw: string) => string;
}

/**
 * POSTs raw text (sent as UTF-8) or bytes to /v1/cart-events, signed over exactly those
 * bytes unless told otherwise.
 */
export async function sendCartRaw(
	t: Tenant,
	raw: string | Uint8Array<ArrayBuffer>,
	opts: SendOptions = {},
): Promise<Response> {
	const headers = new Headers({ "content-type": "application/json" });
	const tenantId = opts.tenantId === undefined ? t.id : opts.tenantId;
	if (tenantId !== null) headers.set("x-tenant-id", tenantId);
	const signature =
		opts.signature === undefined
			? await signPayload(opts.secret ?? t.webhookSecret, raw, opts.tSeconds ?? nowSeconds())
			: opts.signature;
	if (signature !== null) headers.set("x-signature", signature);
	let body: string | Uint8Array<ArrayBuffer> = raw;
	if (opts.tamper) {
		if (typeof raw !== "string") throw new Error("tamper works on text bodies");
		body = opts.tamper(raw);
	}
	return SELF.fetch(`${BASE}/v1/cart-events`, { method: "POST", headers, body });
}

/** POSTs one cart event (JSON-serialized, then signed). */
export function sendCart(t: Tenant, event: unknown, opts: SendOptions = {}): Promise<Response> {
	return sendCartRaw(t, JSON.stringify(event), opts);
}

/** POSTs one signed cart event and expects 200; returns the answer. */
export async function postCart(t: Tenant, event: unknown, opts: SendOptions = {}): Promise<CartAnswer> {
	const res = await sendCart(t, event, opts);
	const text = await res.text();
	expect(res.status, `POST /v1/cart-events answered ${res.status}: ${text.slice(0, 500)}`).toBe(200);
	return JSON.parse(text) as CartAnswer;
}

/** POST /v1/webhook-secret/rotate with the secret key, expecting 200. */
export function rotateWebhookSecret(
	t: Tenant,
	body: { graceSeconds?: number } = {},
): Promise<{ webhookSecret: string; previousValidUntil: string }> {
	return callOk("POST", "/v1/webhook-secret/rotate", { key: t.secretKey, body });
}

/** The cart trigger of {@link createCartCampaign}: chips in the cart → an offer on beer by default. */
export interface CartTriggerIn {
	whenCartHas?: { skus?: string[]; categories?: string[] };
	unlessCartHas?: { skus?: string[]; categories?: string[] };
	offerSku?: string;
	offerCategory?: string;
	suppressIfPurchasedWithinDays?: number;
}

export const CART_TITLE = '{{ item.name | default: "Your snack" }} goes with {{ offer.sku }}';
export const CART_BODY = '{{ firstName | default: "Hi" }}, add a cold {{ offer.sku }} for -20%';
export const CART_URL = "https://shop.example/cart/add/beer";

/** A campaign body with a cart trigger; `overrides` replace top-level fields. */
export function cartCampaignOverrides(
	trigger: CartTriggerIn = {},
	overrides: Record<string, unknown> = {},
): Record<string, unknown> {
	return {
		trigger: {
			type: "cart",
			whenCartHas: { skus: ["chips"] },
			offerSku: "beer",
			...trigger,
		},
		variants: [{ id: "a", weight: 1, title: CART_TITLE, body: CART_BODY, url: CART_URL }],
		...overrides,
	};
}

/** POST /v1/campaigns with a cart trigger, expecting 201. */
export function createCartCampaign(
	t: Tenant,
	id: string,
	trigger: CartTriggerIn = {},
	overrides: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
	return createCampaign(t, id, cartCampaignOverrides(trigger, overrides));
}

export interface ConversionRow {
	campaign_id: string;
	variant_id: string | null;
	offer_id: string | null;
	holdout: number;
	revenue: number;
	event_id: string;
}

/** The person's rows in the D1 `conversions` table, oldest first. */
export async function conversionsOf(t: Tenant, userId: string): Promise<ConversionRow[]> {
	const { results } = await env.DB.prepare(
		`SELECT campaign_id, variant_id, offer_id, holdout, revenue, event_id
		   FROM conversions WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, rowid`,
	)
		.bind(t.id, userId)
		.all<ConversionRow>();
	return results;
}

/** A consenting person whose one web device can be decrypted by the test (see {@link capturePushBodies}). */
export interface DecryptablePerson {
	userId: string;
	deviceId: string;
	endpoint: string;
	subscriber: TestSubscriber;
}

/** Registers a person with a browser-like subscription whose private key the test keeps. */
export async function registerDecryptablePerson(
	t: Tenant,
	prefix: string,
	opts: UserOptions = {},
): Promise<DecryptablePerson> {
	const userId = unique(prefix);
	const deviceId = unique("dev");
	const endpoint = unique(`ep-${prefix}`);
	const subscriber = await createTestSubscriber(pushEndpoint(endpoint));
	await putUser(t, userId, opts);
	await callOk("PUT", `/v1/users/${userId}/devices/${deviceId}`, {
		key: await userKey(t, userId),
		body: { platform: "web", webPush: subscriber.subscription },
	});
	return { userId, deviceId, endpoint, subscriber };
}

export interface CapturedPushBody {
	name: string;
	headers: Record<string, string>;
	body: Uint8Array;
}

/**
 * Like `capturePush` in helpers.ts (answers 201 to every push to the loopback push origin),
 * but keeps each request's body for decryption. Undone by `vi.restoreAllMocks()`.
 */
export function capturePushBodies() {
	const original = globalThis.fetch;
	const sent: CapturedPushBody[] = [];
	vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
		const req = new Request(input, init);
		if (!req.url.startsWith(`${PUSH_ORIGIN}/push/`)) return original(input, init);
		const headers: Record<string, string> = {};
		req.headers.forEach((v, k) => {
			headers[k.toLowerCase()] = v;
		});
		sent.push({
			name: req.url.slice(`${PUSH_ORIGIN}/push/`.length),
			headers,
			body: new Uint8Array(await req.arrayBuffer()),
		});
		return new Response(null, { status: 201 });
	});
	return {
		sent,
		to(name: string): CapturedPushBody[] {
			return sent.filter((p) => p.name === name);
		},
	};
}
