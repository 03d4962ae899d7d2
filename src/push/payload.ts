/**
 * The plaintext of an offer's push message and its Topic header. Pure: runs in
 * Node and workerd alike.
 */
import { createHash } from "node:crypto";
import { AppError, INTERNAL_STATUS } from "../errors.js";

/**
 * Largest plaintext, in UTF-8 bytes, one push message may carry (RFC 8291 §4):
 * push services take 4096-byte bodies, minus the 86-byte aes128gcm header, the
 * 16-byte AEAD tag and the 1-byte padding delimiter.
 */
export const MAX_PAYLOAD_BYTES = 3993;

/** Longest Topic header value a push service accepts (RFC 8030 §5.4). */
export const MAX_TOPIC_LENGTH = 32;

/** Stable codes of {@link PushError}. */
export type PushErrorCode = "payload_too_large" | "invalid_topic" | "invalid_ttl" | "invalid_push_request";

/**
 * An error of the push core, identified by its stable `code`, never by its message. Status
 * 500: a push is built from data the API has validated, so one reaching the Worker's error
 * mapping is a bug, answered `internal` (campaigns too large to push are refused earlier).
 */
export class PushError extends AppError {
	/** Stable, machine-readable reason. */
	declare readonly code: PushErrorCode;
	override readonly name = "PushError";

	/**
	 * @param code - Stable reason.
	 * @param message - Human-readable detail for logs; defaults to the code.
	 * @param options - Standard error options (`cause`).
	 */
	constructor(code: PushErrorCode, message?: string, options?: ErrorOptions) {
		super(code, INTERNAL_STATUS, message ?? code, undefined, undefined, options);
	}
}

/** An action button of a notification. */
export interface OfferPayloadAction {
	id: string;
	title: string;
	url?: string;
}

/** What a service worker needs to show an offer and report on it. */
export interface OfferPayloadInput {
	offerId: string;
	campaignId: string;
	variantId?: string;
	title: string;
	body: string;
	url?: string;
	actions?: OfferPayloadAction[];
	icon?: string;
	image?: string;
	/** ISO 8601; the service worker drops the notification after this instant. */
	expiresAt: string;
}

const utf8 = new TextEncoder();

/**
 * Serialises an offer into the JSON plaintext of a Web Push message.
 *
 * Optional fields left `undefined` are omitted, so the smallest payload is sent.
 *
 * @param p - The rendered offer.
 * @returns The JSON string to encrypt.
 * @throws {PushError} `payload_too_large` when the JSON exceeds {@link MAX_PAYLOAD_BYTES} UTF-8 bytes.
 * @example
 * buildOfferPayload({ offerId: "o1", campaignId: "c1", title: "Hi", body: "-20%", expiresAt: "2026-01-01T00:00:00.000Z" });
 */
export function buildOfferPayload(p: OfferPayloadInput): string {
	const json = JSON.stringify({
		offerId: p.offerId,
		campaignId: p.campaignId,
		variantId: p.variantId,
		title: p.title,
		body: p.body,
		url: p.url,
		actions: p.actions?.map((a) => ({ id: a.id, title: a.title, url: a.url })),
		icon: p.icon,
		image: p.image,
		expiresAt: p.expiresAt,
	});
	assertPayloadSize(json);
	return json;
}

/**
 * Throws when `payload` would not fit in one push message.
 *
 * @param payload - Plaintext about to be encrypted.
 * @throws {PushError} `payload_too_large` above {@link MAX_PAYLOAD_BYTES} UTF-8 bytes.
 */
export function assertPayloadSize(payload: string): void {
	// Cheap bound first: a UTF-16 code unit never takes more than 3 UTF-8 bytes.
	if (payload.length * 3 <= MAX_PAYLOAD_BYTES) return;
	const bytes = utf8.encode(payload).byteLength;
	if (bytes > MAX_PAYLOAD_BYTES) {
		throw new PushError("payload_too_large", `push payload is ${bytes} bytes, limit ${MAX_PAYLOAD_BYTES}`);
	}
}

/**
 * Derives a Topic header value from `parts` (for example tenant, user and
 * campaign), so a newer offer replaces an older one the push service has not
 * delivered yet.
 *
 * The parts are hashed (SHA-256) because a Topic is visible to the push
 * service and must not reveal ids; the result is the first
 * {@link MAX_TOPIC_LENGTH} characters of the URL-safe base64 digest.
 *
 * @param parts - Values identifying what a message may replace; order matters.
 * @returns 32 characters of `[A-Za-z0-9_-]`, equal for equal parts.
 * @example
 * pushTopic(["tenant-1", "u1", "beer-near-store"]); // => "k3Xb...": 32 chars
 */
export function pushTopic(parts: readonly string[]): string {
	// JSON keeps ["a|b", "c"] and ["a", "b|c"] apart; the prefix versions the scheme.
	return createHash("sha256")
		.update(`edge-offers/topic/v1\n${JSON.stringify(parts)}`)
		.digest("base64url")
		.slice(0, MAX_TOPIC_LENGTH);
}

/**
 * Whether a Web Push endpoint belongs to Apple's push service (Safari on macOS, iOS and
 * iPadOS), which presents Declarative Web Push messages itself, with or without a service worker.
 *
 * @param endpoint - The subscription's endpoint URL.
 */
export function isDeclarativePushEndpoint(endpoint: string): boolean {
	try {
		const u = new URL(endpoint);
		return (
			u.protocol === "https:" &&
			(u.hostname === "web.push.apple.com" || u.hostname.endsWith(".push.apple.com"))
		);
	} catch {
		return false;
	}
}

/**
 * Rewrites an offer payload of {@link buildOfferPayload} as a Declarative Web Push message
 * (`"web_push": 8030`): the browser shows `notification` even when no service worker runs, and
 * its `navigate` links are the offer's signed click links, so a click is still recorded (per
 * action) before the redirect to the deep link. `mutable` lets a running service worker show
 * its richer version (image, `displayed` report) instead; the offer's own fields stay at the top
 * level for it. Offers without a link for the notification's body stay plain payloads, since a
 * declarative notification must navigate somewhere. Pure.
 *
 * @param payload - JSON from {@link buildOfferPayload}.
 * @returns The declarative JSON, or `payload` unchanged when it cannot be declarative.
 * @throws {PushError} `payload_too_large` when the declarative form does not fit.
 */
export function declarativeOfferPayload(payload: string): string {
	const p = JSON.parse(payload) as {
		title: string;
		body: string;
		url?: string;
		actions?: OfferPayloadAction[];
		[k: string]: unknown;
	};
	if (typeof p.url !== "string") return payload;
	const { title, body, url, actions, ...rest } = p;
	const json = JSON.stringify({
		web_push: 8030,
		notification: {
			title,
			body,
			navigate: url,
			silent: false,
			// A declarative action must navigate: actions without a link need the service worker.
			actions: actions
				?.filter((a) => typeof a.url === "string")
				.map((a) => ({ action: a.id, title: a.title, navigate: a.url })),
		},
		mutable: true,
		...rest,
	});
	assertPayloadSize(json);
	return json;
}

/**
 * The plaintext to send to one subscription: declarative for Apple's push service, the plain
 * offer payload for every other.
 *
 * @param endpoint - The subscription's endpoint URL.
 * @param payload - JSON from {@link buildOfferPayload}.
 */
export function webPushPayloadFor(endpoint: string, payload: string): string {
	return isDeclarativePushEndpoint(endpoint) ? declarativeOfferPayload(payload) : payload;
}
