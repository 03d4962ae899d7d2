import { BoundedCache } from "../src/lib/cache.js";
import {
	bytesToBase64url as base64url,
	base64urlToBytes as fromBase64url,
	importHmacKey,
} from "../src/lib/encoding.js";
/** Random token: `prefix` + 32 bytes of base64url. */
export function randomToken(prefix: string, bytes = 32): string {
	return prefix + base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export { base64urlToBytes as fromBase64url, bytesToBase64url as base64url } from "../src/lib/encoding.js";

function hex(buf: ArrayBuffer): string {
	return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const enc = new TextEncoder();

/**
 * Imported HMAC keys by secret. Every authenticated request hashes its API key with the
 * pepper, so importing that key once per isolate keeps it off the ping path; only
 * server-side secrets (the pepper and keys derived from it) come here, never request data.
 */
const hmacKeys = new BoundedCache<string, Promise<CryptoKey>>(16);

function hmacKey(secret: string): Promise<CryptoKey> {
	return hmacKeys.getOrCreate(secret, (s) => importHmacKey(s, ["sign"]));
}

/** HMAC-SHA256 as hex. */
export async function hmacHex(secret: string, message: string): Promise<string> {
	return hex(await crypto.subtle.sign("HMAC", await hmacKey(secret), enc.encode(message)));
}

/** How API keys are stored: a peppered HMAC, so a leaked table reveals no usable key. */
export function hashKey(pepper: string, key: string): Promise<string> {
	return hmacHex(pepper, key);
}

/**
 * Compares two secrets in constant time: both sides are hashed first so lengths match
 * and nothing about the expected value leaks through early exits.
 */
export async function timingSafeEqualStrings(a: string, b: string): Promise<boolean> {
	const [x, y] = await Promise.all([
		crypto.subtle.digest("SHA-256", enc.encode(a)),
		crypto.subtle.digest("SHA-256", enc.encode(b)),
	]);
	return crypto.subtle.timingSafeEqual(x, y);
}

async function aesKey(pepper: string): Promise<CryptoKey> {
	const material = await crypto.subtle.digest(
		"SHA-256",
		enc.encode(`webhook-secret-encryption\u0000${pepper}`),
	);
	return crypto.subtle.importKey("raw", material, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** Encrypts a secret for storage (AES-GCM, random IV): `iv.ciphertext` in base64url. */
export async function sealSecret(pepper: string, secret: string): Promise<string> {
	const iv = crypto.getRandomValues(new Uint8Array(12));
	const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await aesKey(pepper), enc.encode(secret));
	return `${base64url(iv)}.${base64url(new Uint8Array(ct))}`;
}

/** Reverses {@link sealSecret}. */
export async function openSecret(pepper: string, sealed: string): Promise<string> {
	const [iv, ct] = sealed.split(".");
	if (!iv || !ct) throw new Error("sealed secret is malformed");
	const pt = await crypto.subtle.decrypt(
		{ name: "AES-GCM", iv: fromBase64url(iv) },
		await aesKey(pepper),
		fromBase64url(ct),
	);
	return new TextDecoder().decode(pt);
}

let derived: { pepper: string; key: Promise<string> } | null = null;

/**
 * The click-link secret, derived from `KEY_PEPPER` under its own label so it differs from
 * every other use of the pepper (key hashes, the webhook-secret seal). Sign links with
 * `signClick(await clickKey(env), offerId, action)` and build them with `clickUrl`.
 */
export function clickKey(env: Env): Promise<string> {
	// An empty pepper would make every link forgeable: fail closed.
	if (!env.KEY_PEPPER) return Promise.reject(new Error("KEY_PEPPER is not set"));
	if (derived?.pepper !== env.KEY_PEPPER)
		derived = { pepper: env.KEY_PEPPER, key: hmacHex(env.KEY_PEPPER, "edge-offers/click-links/v1") };
	return derived.key;
}
