import { AppError, INTERNAL_STATUS } from "../errors.js";
import { importHmacKey } from "../lib/encoding.js";
/**
 * Webhook signatures for cart events: `X-Signature: t=<unix seconds>,v1=<hex>` where the
 * hex is HMAC-SHA256(secret, "<t>.<raw body>"). The MAC covers the raw bytes as received,
 * never a re-serialization, so a JSON round trip can neither break nor forge it. WebCrypto
 * only (`crypto.subtle`), so the same code runs in workerd and in Node 24.
 */

/** Why a signature was refused; stable codes the Worker maps to a 401 problem. */
export type SignatureFailureCode =
	| "missing_signature"
	| "malformed_signature"
	| "stale_timestamp"
	| "bad_signature";

/** Outcome of {@link verifySignature}: which secret matched, or why none did. */
export type SignatureResult = { ok: true; secretIndex: number } | { ok: false; code: SignatureFailureCode };

/** Stable code of the one error this module throws: bad arguments to {@link signPayload}. */
export type SignatureErrorCode = "invalid_signing_input";

/**
 * A programming error in a caller of {@link signPayload}; verification never throws. Status
 * 500: should one reach the Worker's error mapping, it answers `internal`.
 */
export class SignatureError extends AppError {
	/** Stable, machine-readable reason. */
	declare readonly code: SignatureErrorCode;
	override readonly name = "SignatureError";

	/**
	 * @param code stable reason code
	 * @param message human-readable detail (not part of the contract)
	 */
	constructor(code: SignatureErrorCode, message: string) {
		super(code, INTERNAL_STATUS, message);
	}
}

/** The default replay window of the API contract: `t` at most 300 s away from now. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/**
 * Longest header accepted and most `v1=` entries in it. Each entry costs one HMAC per
 * secret, so an unbounded list would let an unauthenticated caller buy CPU time.
 */
const MAX_HEADER_LENGTH = 2048;
const MAX_V1_ENTRIES = 8;

const T_PATTERN = /^\d{1,12}$/;
const V1_PATTERN = /^[0-9a-fA-F]{64}$/;

const encoder = new TextEncoder();

interface ParsedHeader {
	/** `t` exactly as sent: the MAC is over these characters, not over a reformatted number. */
	t: string;
	v1: Uint8Array<ArrayBuffer>[];
}

/**
 * Splits the header into its timestamp and candidate MACs. Keys other than `t` and `v1`
 * (a future `v2`, say) are ignored so a sender can add schemes without breaking us.
 */
function parseHeader(header: string): ParsedHeader | null {
	if (header.length > MAX_HEADER_LENGTH) return null;
	let t: string | null = null;
	const v1: Uint8Array<ArrayBuffer>[] = [];
	for (const part of header.split(",")) {
		const eq = part.indexOf("=");
		if (eq <= 0) return null;
		const key = part.slice(0, eq).trim();
		const value = part.slice(eq + 1).trim();
		if (key === "t") {
			// Two timestamps would leave it ambiguous which one the MAC covers.
			if (t !== null || !T_PATTERN.test(value)) return null;
			t = value;
		} else if (key === "v1") {
			if (!V1_PATTERN.test(value) || v1.length >= MAX_V1_ENTRIES) return null;
			v1.push(hexToBytes(value));
		}
	}
	if (t === null || v1.length === 0) return null;
	return { t, v1 };
}

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
	const out = new Uint8Array(hex.length / 2);
	for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
	return out;
}

function bytesToHex(bytes: Uint8Array): string {
	let s = "";
	for (const b of bytes) s += b.toString(16).padStart(2, "0");
	return s;
}

/** The signed message, `"<t>." + raw body`, built in a fresh buffer WebCrypto accepts. */
function signedData(t: string, rawBody: Uint8Array): Uint8Array<ArrayBuffer> {
	const prefix = encoder.encode(`${t}.`);
	const data = new Uint8Array(prefix.length + rawBody.length);
	data.set(prefix, 0);
	data.set(rawBody, prefix.length);
	return data;
}

function hmacKey(secret: string, usage: "sign" | "verify"): Promise<CryptoKey> {
	return importHmacKey(secret, [usage]);
}

/**
 * Checks an `X-Signature` header against the raw request body.
 *
 * Every secret in `secrets` is tried in order (rotation: the old and the new secret are
 * both valid during a grace period) against every `v1=` entry (a sender mid-rotation may
 * sign with both); the first match wins and its index is reported so the caller can
 * tell when the old secret is no longer used. MACs are compared by
 * `crypto.subtle.verify`, which is constant-time by specification, never as strings.
 * Empty secrets never match (WebCrypto refuses zero-length HMAC keys, and an empty key
 * would be no secret at all).
 *
 * The timestamp is checked before any MAC is computed: cheap checks first, and a
 * replayed old request costs no HMAC.
 *
 * @param header the `X-Signature` value, or null when the header is absent
 * @param rawBody the request body exactly as received
 * @param secrets candidate secrets, current first
 * @param nowMs the current time, epoch milliseconds
 * @param toleranceSeconds largest accepted |now − t|, in seconds (inclusive)
 */
export async function verifySignature(
	header: string | null,
	rawBody: Uint8Array,
	secrets: readonly string[],
	nowMs: number,
	toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
): Promise<SignatureResult> {
	if (header === null || header.trim() === "") return { ok: false, code: "missing_signature" };
	const parsed = parseHeader(header);
	if (parsed === null) return { ok: false, code: "malformed_signature" };
	const tSeconds = Number(parsed.t);
	if (!(Math.abs(nowMs / 1000 - tSeconds) <= toleranceSeconds)) return { ok: false, code: "stale_timestamp" };
	const data = signedData(parsed.t, rawBody);
	for (let i = 0; i < secrets.length; i++) {
		const secret = secrets[i];
		if (secret === undefined || secret === "") continue;
		const key = await hmacKey(secret, "verify");
		for (const mac of parsed.v1) {
			if (await crypto.subtle.verify("HMAC", key, mac, data)) return { ok: true, secretIndex: i };
		}
	}
	return { ok: false, code: "bad_signature" };
}

/**
 * Signs a body the way a cart platform must: returns the `X-Signature` header value
 * `t=<tSeconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. Used by tests, the demo
 * scripts and the documentation's examples.
 *
 * @param secret the tenant's webhook secret (`whsec_...`), not empty
 * @param rawBody the exact bytes that will be sent (a string is encoded as UTF-8)
 * @param tSeconds the signing time, whole unix seconds
 * @throws SignatureError `invalid_signing_input` when `tSeconds` is not whole non-negative
 *   seconds of at most 12 digits (what {@link verifySignature} accepts) or `secret` is empty
 */
export async function signPayload(
	secret: string,
	rawBody: Uint8Array | string,
	tSeconds: number,
): Promise<string> {
	if (!Number.isSafeInteger(tSeconds) || tSeconds < 0 || tSeconds >= 1e12) {
		throw new SignatureError("invalid_signing_input", "tSeconds must be whole unix seconds");
	}
	if (secret === "") throw new SignatureError("invalid_signing_input", "secret must not be empty");
	const t = String(tSeconds);
	const body = typeof rawBody === "string" ? encoder.encode(rawBody) : rawBody;
	const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret, "sign"), signedData(t, body));
	return `t=${t},v1=${bytesToHex(new Uint8Array(mac))}`;
}
