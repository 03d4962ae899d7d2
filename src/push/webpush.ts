/**
 * Web Push requests (RFC 8030) with aes128gcm encryption (RFC 8291) by the
 * `web-push` package and a VAPID token (RFC 8292) signed with `jose` (the one
 * JWT library of the service: user tokens and the FCM assertion too), sent by
 * the caller with `fetch`. Pure apart from randomness inside the encryption
 * and the clock for the token's expiry: no I/O, no env.
 */
import { importJWK, SignJWT } from "jose";
import webpush from "web-push";
import { z } from "zod";
import { bytesToBase64url } from "../lib/encoding.js";
import { MAX_ENDPOINT_LENGTH } from "./endpoint.js";
import { assertPayloadSize, MAX_TOPIC_LENGTH, PushError } from "./payload.js";
import { parseRetryAfter } from "./retry-after.js";

/** Bytes of an uncompressed P-256 public key: 0x04, then X and Y. */
const P256_UNCOMPRESSED_POINT_BYTES = 65;
/** Bytes of the subscription's authentication secret (RFC 8291 §3.2). */
const AUTH_SECRET_BYTES = 16;

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const TOPIC = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_TOPIC_LENGTH}}$`);

/** Decodes unpadded or padded base64url; `null` when the text is not base64url. */
function decodeBase64Url(text: string): Uint8Array | null {
	if (!BASE64URL.test(text)) return null;
	const unpadded = text.replace(/=+$/, "");
	// A length of 1 mod 4 cannot come from any byte string.
	if (unpadded.length % 4 === 1) return null;
	const base64 = unpadded.replaceAll("-", "+").replaceAll("_", "/");
	const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "="));
	const bytes = new Uint8Array(binary.length);
	for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
	return bytes;
}

// NIST P-256 (SEC 2): y^2 = x^3 - 3x + b over the prime field p.
const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

function bytesToBigInt(bytes: Uint8Array): bigint {
	let n = 0n;
	for (const byte of bytes) n = (n << 8n) | BigInt(byte);
	return n;
}

/**
 * True when `bytes` is an uncompressed point on P-256. A key of the right length
 * but off the curve would otherwise pass validation and only fail later, inside
 * encryption, on every send to that subscription.
 */
function isP256Point(bytes: Uint8Array): boolean {
	if (bytes.length !== P256_UNCOMPRESSED_POINT_BYTES || bytes[0] !== 0x04) return false;
	const x = bytesToBigInt(bytes.subarray(1, 33));
	const y = bytesToBigInt(bytes.subarray(33, 65));
	if (x >= P256_P || y >= P256_P) return false;
	const rhs = (((x * x * x - 3n * x + P256_B) % P256_P) + P256_P) % P256_P;
	return (y * y) % P256_P === rhs;
}

/**
 * A browser's `PushSubscription.toJSON()`, as an app uploads it. Keys are
 * decoded and checked here (lengths, and `p256dh` on the curve) so a bad
 * subscription is refused at the API edge rather than failing later inside
 * encryption. Whether the endpoint may be
 * contacted is a separate policy: see `checkPushEndpoint`.
 */
export const PushSubscriptionSchema = z.object({
	endpoint: z.url({ protocol: /^https?$/ }).max(MAX_ENDPOINT_LENGTH),
	expirationTime: z.number().nullable().optional(),
	keys: z.object({
		p256dh: z.string().refine(
			(text) => {
				const bytes = decodeBase64Url(text);
				return bytes !== null && isP256Point(bytes);
			},
			{ message: "must be the base64url of a 65-byte uncompressed P-256 public key" },
		),
		auth: z.string().refine((text) => decodeBase64Url(text)?.length === AUTH_SECRET_BYTES, {
			message: "must be the base64url of a 16-byte authentication secret",
		}),
	}),
});

/** A validated push subscription. */
export type PushSubscriptionJSON = z.infer<typeof PushSubscriptionSchema>;

/** The application server's VAPID identity (RFC 8292). Keys are base64url, as {@link generateVapidKeys} makes them. */
export interface VapidDetails {
	/** `mailto:` or `https:` contact for the push service operator. */
	subject: string;
	publicKey: string;
	privateKey: string;
}

/** How long a VAPID token is valid: RFC 8292 §2 allows at most 24 h; 12 h as push libraries do. */
export const VAPID_TOKEN_SECONDS = 12 * 3600;
/** Bytes of a P-256 private scalar. */
const P256_PRIVATE_BYTES = 32;

/** The last VAPID key imported (one pair serves every push of a deployment). */
let vapidKey: { publicKey: string; privateKey: string; key: Promise<CryptoKey> } | null = null;

function invalidVapid(detail: string): PushError {
	return new PushError("invalid_push_request", detail);
}

/** The VAPID signing key from the deployment's base64url key pair, checked (lengths, point on the curve). */
function vapidSigningKey(vapid: VapidDetails): Promise<CryptoKey> {
	if (vapidKey && vapidKey.publicKey === vapid.publicKey && vapidKey.privateKey === vapid.privateKey)
		return vapidKey.key;
	const pub = decodeBase64Url(vapid.publicKey);
	if (!pub || !isP256Point(pub))
		throw invalidVapid("the VAPID public key is not an uncompressed P-256 point");
	const priv = decodeBase64Url(vapid.privateKey);
	if (!priv || priv.length !== P256_PRIVATE_BYTES)
		throw invalidVapid("the VAPID private key is not 32 bytes");
	const key = importJWK(
		{
			kty: "EC",
			crv: "P-256",
			x: bytesToBase64url(pub.subarray(1, 33)),
			y: bytesToBase64url(pub.subarray(33, 65)),
			d: bytesToBase64url(priv),
		},
		"ES256",
	) as Promise<CryptoKey>;
	vapidKey = { publicKey: vapid.publicKey, privateKey: vapid.privateKey, key };
	key.catch(() => {
		if (vapidKey?.key === key) vapidKey = null;
	});
	return key;
}

/** The VAPID subject must be a `mailto:` or `https:` URL (RFC 8292 §2.1). */
function checkVapidSubject(subject: string): void {
	let url: URL;
	try {
		url = new URL(subject);
	} catch {
		throw invalidVapid("the VAPID subject must be a mailto: or https: URL");
	}
	if (url.protocol !== "mailto:" && url.protocol !== "https:")
		throw invalidVapid("the VAPID subject must be a mailto: or https: URL");
}

/**
 * The `Authorization` header of RFC 8292: `vapid t=<ES256 JWT>, k=<public key>`, the token for
 * the endpoint's origin, valid {@link VAPID_TOKEN_SECONDS} from `nowMs`.
 */
export async function vapidAuthorization(
	endpoint: string,
	vapid: VapidDetails,
	nowMs: number,
): Promise<string> {
	checkVapidSubject(vapid.subject);
	const key = await vapidSigningKey(vapid).catch((cause: unknown) => {
		if (cause instanceof PushError) throw cause;
		throw new PushError("invalid_push_request", "the VAPID key pair does not import", { cause });
	});
	const jwt = await new SignJWT({ sub: vapid.subject })
		.setProtectedHeader({ typ: "JWT", alg: "ES256" })
		.setAudience(new URL(endpoint).origin)
		.setExpirationTime(Math.floor(nowMs / 1000) + VAPID_TOKEN_SECONDS)
		.sign(key);
	return `vapid t=${jwt}, k=${vapid.publicKey.replace(/=+$/, "")}`;
}

/** RFC 8030 §5.3 urgency. */
export type PushUrgency = "very-low" | "low" | "normal" | "high";

/** Delivery options of one push message. */
export interface WebPushOptions {
	/** How long the push service keeps an undelivered message: the offer's remaining validity. */
	ttlSeconds: number;
	urgency: PushUrgency;
	/** Replaces an undelivered message with the same topic; see `pushTopic`. */
	topic?: string;
}

/** A ready-to-send request: `fetch(req.url, req.init)`. */
export interface WebPushRequest {
	url: string;
	init: {
		method: "POST";
		headers: Record<string, string>;
		body: Uint8Array<ArrayBuffer>;
		/**
		 * A redirect from an endpoint must not be followed: it would let a
		 * subscription reach a host the endpoint policy refused.
		 */
		redirect: "manual";
	};
}

/**
 * Encrypts `payload` for `sub` (aes128gcm) and signs a VAPID token for the
 * endpoint's origin, returning the request to send.
 *
 * The endpoint is used as given: callers must have accepted it with
 * `checkPushEndpoint` first. An empty payload gives a push without a body
 * (no encryption, no `Content-Encoding`), which RFC 8030 allows.
 *
 * @param sub - A subscription parsed with {@link PushSubscriptionSchema}.
 * @param payload - The plaintext, usually from `buildOfferPayload`.
 * @param vapid - The VAPID subject and key pair.
 * @param opts - TTL, urgency and optional topic.
 * @param nowMs - The clock for the VAPID token's expiry.
 * @returns The URL and `fetch` init; headers carry `TTL`, `Urgency`, `Topic`, `Content-Encoding`, `Authorization`.
 * @throws {PushError} `invalid_ttl`, `invalid_topic`, `payload_too_large`, or
 *   `invalid_push_request` when the VAPID details or the subscription are refused.
 */
export async function buildWebPushRequest(
	sub: PushSubscriptionJSON,
	payload: string,
	vapid: VapidDetails,
	opts: WebPushOptions,
	nowMs: number = Date.now(),
): Promise<WebPushRequest> {
	if (!Number.isSafeInteger(opts.ttlSeconds) || opts.ttlSeconds < 0) {
		throw new PushError("invalid_ttl", "ttlSeconds must be a non-negative integer");
	}
	if (opts.topic !== undefined && !TOPIC.test(opts.topic)) {
		throw new PushError("invalid_topic", "topic must be 1 to 32 URL-safe base64 characters");
	}
	assertPayloadSize(payload);

	let details: ReturnType<typeof webpush.generateRequestDetails>;
	try {
		details = webpush.generateRequestDetails(
			{ endpoint: sub.endpoint, keys: { p256dh: sub.keys.p256dh, auth: sub.keys.auth } },
			payload,
			{
				// No vapidDetails: the token is signed below with jose.
				TTL: opts.ttlSeconds,
				urgency: opts.urgency,
				contentEncoding: "aes128gcm",
				topic: opts.topic,
			},
		);
	} catch (cause) {
		const detail = cause instanceof Error ? cause.message : String(cause);
		throw new PushError("invalid_push_request", detail, { cause });
	}

	const headers: Record<string, string> = {};
	for (const [name, value] of Object.entries(details.headers)) {
		// fetch computes Content-Length from the body; a second copy could disagree.
		if (name.toLowerCase() === "content-length") continue;
		// web-push gives numbers for some headers (TTL) despite its typings.
		headers[name] = String(value);
	}
	headers.Authorization = await vapidAuthorization(details.endpoint, vapid, nowMs);
	// Copy out of Buffer's shared pool so the body owns exactly its bytes.
	const body = details.body === null ? new Uint8Array(0) : Uint8Array.from(details.body);
	return { url: details.endpoint, init: { method: "POST", headers, body, redirect: "manual" } };
}

/** What to do after a push service answered. */
export type PushOutcome =
	| { kind: "accepted" }
	| { kind: "gone" }
	| { kind: "retry"; retryAtMs: number | null }
	| { kind: "failed" };

/**
 * Maps a push service's answer to the action the sender takes (DESIGN "Push").
 *
 * - 2xx (201 normally, 200/202 from some services): accepted.
 * - 404 and 410: the subscription is gone; delete exactly that one.
 * - 429 and 5xx: retry, at `Retry-After` when given (`retryAtMs`), else with the caller's backoff (`null`).
 * - Anything else (other 4xx, an unfollowed 3xx): failed, never retried blindly.
 *
 * @param status - HTTP status of the push service's response.
 * @param headers - Its headers (for `Retry-After`).
 * @param nowMs - Current time in epoch milliseconds.
 * @example
 * classifyPushResponse(429, new Headers({ "Retry-After": "30" }), 0); // => { kind: "retry", retryAtMs: 30000 }
 */
export function classifyPushResponse(status: number, headers: Headers, nowMs: number): PushOutcome {
	if (status >= 200 && status <= 299) return { kind: "accepted" };
	if (status === 404 || status === 410) return { kind: "gone" };
	if (status === 429 || (status >= 500 && status <= 599)) {
		return { kind: "retry", retryAtMs: parseRetryAfter(headers.get("retry-after"), nowMs) };
	}
	return { kind: "failed" };
}

/**
 * Generates a VAPID key pair (P-256), both halves base64url: the public key is
 * the 65-byte uncompressed point browsers take as `applicationServerKey`.
 *
 * @returns `{ publicKey, privateKey }`.
 */
export function generateVapidKeys(): { publicKey: string; privateKey: string } {
	const keys = webpush.generateVAPIDKeys();
	return { publicKey: keys.publicKey, privateKey: keys.privateKey };
}
