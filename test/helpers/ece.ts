/**
 * The user agent's side of Web Push, for tests: an RFC 8291 (aes128gcm, RFC
 * 8188) decoder and an RFC 8292 VAPID verifier written from the RFCs with
 * WebCrypto only. It shares no code with `web-push` or `http_ece`, so a bug in
 * the sender cannot be mirrored here and cancel itself out.
 */
import { z } from "zod";
import type { PushSubscriptionJSON } from "../../src/push/webpush.js";

const subtle = crypto.subtle;
const utf8 = new TextEncoder();

/** Raised by the decoder and the verifier; tests match on `code`. */
export class TestPushError extends Error {
	readonly code: string;

	/**
	 * @param code - Stable reason, e.g. `bad_header`, `bad_padding`, `bad_signature`.
	 * @param message - Detail for the failing test's output.
	 */
	constructor(code: string, message: string) {
		super(`${code}: ${message}`);
		this.name = "TestPushError";
		this.code = code;
	}
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Strict unpadded base64url decoding: any other character is an error rather
 * than being skipped as Buffer does.
 *
 * @param text - base64url without padding.
 * @returns The decoded bytes.
 */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
	if (!BASE64URL.test(text) || text.length % 4 === 1) {
		throw new TestPushError("bad_base64url", `not unpadded base64url: ${text.slice(0, 40)}`);
	}
	return Uint8Array.from(Buffer.from(text, "base64url"));
}

/**
 * @param bytes - Any bytes.
 * @returns Unpadded base64url.
 */
export function toBase64Url(bytes: Uint8Array): string {
	return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
	const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
	let at = 0;
	for (const p of parts) {
		out.set(p, at);
		at += p.byteLength;
	}
	return out;
}

/** HKDF-SHA-256 (RFC 5869), extract and expand in one call. */
async function hkdf(
	salt: Uint8Array,
	ikm: Uint8Array,
	info: Uint8Array,
	length: number,
): Promise<Uint8Array> {
	// Copies: WebCrypto's typings want ArrayBuffer-backed views.
	const key = await subtle.importKey("raw", Uint8Array.from(ikm), "HKDF", false, ["deriveBits"]);
	const params = { name: "HKDF", hash: "SHA-256", salt: Uint8Array.from(salt), info: Uint8Array.from(info) };
	return new Uint8Array(await subtle.deriveBits(params, key, length * 8));
}

/** Secrets RFC 8291 §3.4 derives for one message, exposed to check them against the RFC's example. */
export interface Aes128gcmSecrets {
	ecdhSecret: Uint8Array;
	/** Input keying material: HKDF(auth_secret, ecdh_secret, "WebPush: info" || 0 || ua_public || as_public, 32). */
	ikm: Uint8Array;
	/** Content-encryption key (16 bytes). */
	cek: Uint8Array;
	/** Base nonce (12 bytes), XORed with the record sequence number. */
	nonce: Uint8Array;
}

/**
 * Derives the per-message secrets from the user agent's keys and the
 * sender's public key and salt (RFC 8291 §3.3-3.4, RFC 8188 §2.2-2.3).
 *
 * @param uaPrivateKey - The user agent's ECDH P-256 private key.
 * @param uaPublicRaw - Its 65-byte uncompressed public key (`p256dh`).
 * @param authSecret - The 16-byte authentication secret (`auth`).
 * @param asPublicRaw - The sender's ephemeral 65-byte public key (the aes128gcm `keyid`).
 * @param salt - The 16-byte salt from the aes128gcm header.
 */
export async function deriveAes128gcmSecrets(
	uaPrivateKey: CryptoKey,
	uaPublicRaw: Uint8Array,
	authSecret: Uint8Array,
	asPublicRaw: Uint8Array,
	salt: Uint8Array,
): Promise<Aes128gcmSecrets> {
	const asPublic = await subtle.importKey(
		"raw",
		Uint8Array.from(asPublicRaw),
		{ name: "ECDH", namedCurve: "P-256" },
		false,
		[],
	);
	// Standard WebCrypto names the peer key `public`; workers-types spell it `$public`,
	// so the object is built apart to keep the standard name without a cast.
	const ecdh = { name: "ECDH", public: asPublic };
	const ecdhSecret = new Uint8Array(await subtle.deriveBits(ecdh, uaPrivateKey, 256));
	const keyInfo = concat(utf8.encode("WebPush: info\0"), uaPublicRaw, asPublicRaw);
	const ikm = await hkdf(authSecret, ecdhSecret, keyInfo, 32);
	const cek = await hkdf(salt, ikm, utf8.encode("Content-Encoding: aes128gcm\0"), 16);
	const nonce = await hkdf(salt, ikm, utf8.encode("Content-Encoding: nonce\0"), 12);
	return { ecdhSecret, ikm, cek, nonce };
}

/** Parsed aes128gcm header (RFC 8188 §2.1). */
export interface Aes128gcmHeader {
	salt: Uint8Array;
	recordSize: number;
	keyId: Uint8Array;
	/** Offset of the first record. */
	headerLength: number;
}

/**
 * Reads the aes128gcm header: salt (16), record size (uint32 BE), keyid length (1), keyid.
 *
 * @param body - The whole message body.
 */
export function parseAes128gcmHeader(body: Uint8Array): Aes128gcmHeader {
	if (body.byteLength < 21) throw new TestPushError("bad_header", `body of ${body.byteLength} bytes`);
	const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
	const recordSize = view.getUint32(16);
	const idLength = view.getUint8(20);
	const headerLength = 21 + idLength;
	if (body.byteLength < headerLength) throw new TestPushError("bad_header", "keyid runs past the body");
	// A record holds at least the delimiter and the 16-byte tag (RFC 8188 §2).
	if (recordSize < 18) throw new TestPushError("bad_header", `record size ${recordSize}`);
	return { salt: body.slice(0, 16), recordSize, keyId: body.slice(21, headerLength), headerLength };
}

/** RFC 8188 §2.3: the record's nonce is the base nonce XOR its 96-bit big-endian sequence number. */
function recordNonce(base: Uint8Array, seq: number): Uint8Array<ArrayBuffer> {
	const nonce = Uint8Array.from(base);
	let rest = seq;
	for (let i = nonce.length - 1; i >= 0 && rest > 0; i--) {
		nonce[i] = (nonce[i] ?? 0) ^ (rest & 0xff);
		rest = Math.floor(rest / 256);
	}
	return nonce;
}

/**
 * Decrypts a Web Push message body (RFC 8291 over RFC 8188 aes128gcm) as a
 * browser would, checking every record's padding delimiter.
 *
 * @param body - The request body the push service received.
 * @param uaPrivateKey - The user agent's ECDH P-256 private key.
 * @param uaPublicRaw - Its 65-byte uncompressed public key.
 * @param authSecret - The 16-byte authentication secret.
 * @returns The plaintext bytes.
 * @throws {TestPushError} `bad_header`, `bad_key_id`, `decrypt_failed`, `bad_padding` or `truncated`.
 */
export async function decryptAes128gcm(
	body: Uint8Array,
	uaPrivateKey: CryptoKey,
	uaPublicRaw: Uint8Array,
	authSecret: Uint8Array,
): Promise<Uint8Array> {
	const header = parseAes128gcmHeader(body);
	// RFC 8291 §4: the keyid is the sender's uncompressed P-256 public key.
	if (header.keyId.byteLength !== 65 || header.keyId[0] !== 0x04) {
		throw new TestPushError("bad_key_id", `keyid of ${header.keyId.byteLength} bytes`);
	}
	const secrets = await deriveAes128gcmSecrets(
		uaPrivateKey,
		uaPublicRaw,
		authSecret,
		header.keyId,
		header.salt,
	);
	const cek = await subtle.importKey("raw", Uint8Array.from(secrets.cek), "AES-GCM", false, ["decrypt"]);

	const out: Uint8Array[] = [];
	let start = header.headerLength;
	if (start >= body.byteLength) throw new TestPushError("truncated", "no record after the header");
	for (let seq = 0; start < body.byteLength; seq++) {
		const end = Math.min(start + header.recordSize, body.byteLength);
		const isLast = end === body.byteLength;
		let plain: Uint8Array;
		try {
			plain = new Uint8Array(
				await subtle.decrypt(
					{ name: "AES-GCM", iv: recordNonce(secrets.nonce, seq), tagLength: 128 },
					cek,
					body.slice(start, end),
				),
			);
		} catch {
			throw new TestPushError("decrypt_failed", `record ${seq} fails authentication`);
		}
		// Padding is zeros after a delimiter: 0x02 ends the last record, 0x01 any other.
		let delimiterAt = plain.length - 1;
		while (delimiterAt >= 0 && plain[delimiterAt] === 0) delimiterAt--;
		const delimiter = plain[delimiterAt];
		if (delimiter !== (isLast ? 2 : 1)) {
			const found = delimiter === undefined ? "none" : String(delimiter);
			throw new TestPushError(
				isLast && delimiter === 1 ? "truncated" : "bad_padding",
				`record ${seq} delimiter ${found}`,
			);
		}
		out.push(plain.slice(0, delimiterAt));
		start = end;
	}
	return concat(...out);
}

/**
 * Imports a P-256 private key for ECDH from its raw scalar and public point
 * (WebCrypto has no raw private import, so it goes through a JWK).
 *
 * @param d - The 32-byte private scalar.
 * @param publicRaw - The matching 65-byte uncompressed public key.
 */
export async function importUaPrivateKey(d: Uint8Array, publicRaw: Uint8Array): Promise<CryptoKey> {
	if (publicRaw.byteLength !== 65 || publicRaw[0] !== 0x04) {
		throw new TestPushError("bad_key", "public key must be 65 bytes, uncompressed");
	}
	const jwk: JsonWebKey = {
		kty: "EC",
		crv: "P-256",
		d: toBase64Url(d),
		x: toBase64Url(publicRaw.slice(1, 33)),
		y: toBase64Url(publicRaw.slice(33, 65)),
	};
	return subtle.importKey("jwk", jwk, { name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
}

/** A simulated browser subscription. */
export interface TestSubscriber {
	/** What the app would upload as `webPush`. */
	subscription: PushSubscriptionJSON;
	/** Decrypts a push body sent to this subscription into UTF-8 text. */
	decrypt(body: Uint8Array): Promise<string>;
}

/**
 * Creates a user agent key pair and a 16-byte auth secret, like
 * `pushManager.subscribe()` does, for a subscription at `endpoint`.
 *
 * @param endpoint - Where the push service (here a test receiver) listens.
 */
export async function createTestSubscriber(endpoint: string): Promise<TestSubscriber> {
	const pair = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
	if (!("privateKey" in pair)) throw new TestPushError("bad_key", "ECDH generateKey gave no key pair");
	const exported = await subtle.exportKey("raw", pair.publicKey);
	if (!(exported instanceof ArrayBuffer)) throw new TestPushError("bad_key", "raw export gave no bytes");
	const publicRaw = new Uint8Array(exported);
	const auth = crypto.getRandomValues(new Uint8Array(16));
	return {
		subscription: {
			endpoint,
			expirationTime: null,
			keys: { p256dh: toBase64Url(publicRaw), auth: toBase64Url(auth) },
		},
		async decrypt(body) {
			const plain = await decryptAes128gcm(body, pair.privateKey, publicRaw, auth);
			return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(plain);
		},
	};
}

const JwtHeaderSchema = z.object({ alg: z.literal("ES256"), typ: z.string().optional() });
const VapidClaimsSchema = z.object({
	aud: z.string(),
	exp: z.number().int(),
	sub: z.string().min(1),
});

/** The claims of a valid VAPID token (RFC 8292 §2). */
export type VapidClaims = z.infer<typeof VapidClaimsSchema>;

/** Options of {@link verifyVapidAuthorization}. */
export interface VerifyVapidOptions {
	/** The application server key the token must carry in `k` (base64url). */
	publicKey?: string;
	/** Clock for the `exp` check; defaults to `Date.now()`. */
	nowMs?: number;
}

function parseJsonPart(part: string): unknown {
	try {
		return JSON.parse(
			new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromBase64Url(part)),
		);
	} catch {
		throw new TestPushError("bad_token", "a JWT part is not base64url JSON");
	}
}

/**
 * Verifies an `Authorization: vapid t=<jwt>, k=<key>` header as a push
 * service does (RFC 8292 §3): ES256 signature by `k`, `aud` equal to the
 * endpoint's origin, `exp` in the future and at most 24 h away, `sub` present.
 *
 * @param header - The Authorization header value.
 * @param endpoint - The endpoint the request was sent to.
 * @param opts - Expected public key and clock.
 * @returns The token's claims.
 * @throws {TestPushError} `bad_scheme`, `bad_token`, `wrong_key`, `bad_signature`, `wrong_audience`, `expired` or `exp_too_far`.
 */
export async function verifyVapidAuthorization(
	header: string,
	endpoint: string,
	opts: VerifyVapidOptions = {},
): Promise<VapidClaims> {
	const match = /^vapid\s+(.+)$/i.exec(header.trim());
	if (!match?.[1]) throw new TestPushError("bad_scheme", "not a vapid Authorization header");
	const params = new Map<string, string>();
	for (const item of match[1].split(",")) {
		const eq = item.indexOf("=");
		if (eq > 0) params.set(item.slice(0, eq).trim().toLowerCase(), item.slice(eq + 1).trim());
	}
	const token = params.get("t");
	const key = params.get("k");
	if (token === undefined || key === undefined) throw new TestPushError("bad_token", "t= or k= missing");
	if (opts.publicKey !== undefined && key !== opts.publicKey) {
		throw new TestPushError("wrong_key", "k is not the expected application server key");
	}

	const [head, payload, signature, ...extra] = token.split(".");
	if (head === undefined || payload === undefined || signature === undefined || extra.length > 0) {
		throw new TestPushError("bad_token", "not a compact JWS");
	}
	if (!JwtHeaderSchema.safeParse(parseJsonPart(head)).success) {
		throw new TestPushError("bad_token", "JWT header is not alg ES256");
	}
	const claims = VapidClaimsSchema.safeParse(parseJsonPart(payload));
	if (!claims.success) throw new TestPushError("bad_token", "claims lack aud, exp or sub");

	const publicKey = await subtle.importKey(
		"raw",
		fromBase64Url(key),
		{ name: "ECDSA", namedCurve: "P-256" },
		false,
		["verify"],
	);
	// JWS ES256 signatures are raw r||s (64 bytes), the form WebCrypto verifies.
	const valid = await subtle.verify(
		{ name: "ECDSA", hash: "SHA-256" },
		publicKey,
		fromBase64Url(signature),
		utf8.encode(`${head}.${payload}`),
	);
	if (!valid) throw new TestPushError("bad_signature", "ES256 signature does not verify with k");

	if (claims.data.aud !== new URL(endpoint).origin) {
		throw new TestPushError("wrong_audience", `aud ${claims.data.aud} for ${new URL(endpoint).origin}`);
	}
	const nowS = Math.floor((opts.nowMs ?? Date.now()) / 1000);
	if (claims.data.exp <= nowS) throw new TestPushError("expired", `exp ${claims.data.exp} <= now ${nowS}`);
	// RFC 8292 §2: no more than 24 hours; a minute of slack covers clock skew.
	if (claims.data.exp > nowS + 24 * 3600 + 60)
		throw new TestPushError("exp_too_far", `exp ${claims.data.exp}`);
	return claims.data;
}
