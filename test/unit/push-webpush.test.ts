import { createECDH } from "node:crypto";
import { describe, expect, it } from "vitest";
import { PushError } from "../../src/push/payload.js";
import {
	buildWebPushRequest,
	classifyPushResponse,
	generateVapidKeys,
	PushSubscriptionSchema,
} from "../../src/push/webpush.js";

// RFC 8291 Appendix A's user agent keys: a real P-256 point and auth secret.
const P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH = "BTBZMqHH6r4Tts7J_aSIgg";
const valid = {
	endpoint: "https://fcm.googleapis.com/fcm/send/abc",
	expirationTime: null,
	keys: { p256dh: P256DH, auth: AUTH },
};

const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

/** The RFC key with its last byte changed: right length and prefix, but not a curve point. */
function offCurve(): string {
	const bytes = Buffer.from(P256DH, "base64url");
	bytes[64] = (bytes[64] ?? 0) ^ 1;
	return b64u(bytes);
}

describe("PushSubscriptionSchema", () => {
	it("accepts a browser's PushSubscription.toJSON()", () => {
		expect(PushSubscriptionSchema.parse(valid)).toEqual(valid);
		expect(PushSubscriptionSchema.safeParse({ ...valid, expirationTime: 1_800_000_000_000 }).success).toBe(
			true,
		);
		const { expirationTime: _, ...withoutExpiry } = valid;
		expect(PushSubscriptionSchema.safeParse(withoutExpiry).success).toBe(true);
	});

	it("accepts any real P-256 public key", () => {
		for (let i = 0; i < 50; i++) {
			const ecdh = createECDH("prime256v1");
			const p256dh = ecdh.generateKeys().toString("base64url");
			expect(PushSubscriptionSchema.safeParse({ ...valid, keys: { p256dh, auth: AUTH } }).success).toBe(true);
		}
	});

	it("accepts padded base64url keys", () => {
		const padded = { ...valid, keys: { p256dh: `${P256DH}=`, auth: `${AUTH}==` } };
		expect(PushSubscriptionSchema.safeParse(padded).success).toBe(true);
	});

	function issuePaths(input: unknown): string[] {
		const result = PushSubscriptionSchema.safeParse(input);
		return result.success ? [] : result.error.issues.map((i) => i.path.join("."));
	}

	it.each([
		["p256dh of 64 bytes", { p256dh: b64u(new Uint8Array(64).fill(4)), auth: AUTH }, "keys.p256dh"],
		["p256dh of 66 bytes", { p256dh: b64u(new Uint8Array(66).fill(4)), auth: AUTH }, "keys.p256dh"],
		["compressed-point prefix", { p256dh: b64u(new Uint8Array(65).fill(2)), auth: AUTH }, "keys.p256dh"],
		[
			"p256dh in standard base64",
			{ p256dh: Buffer.from(P256DH, "base64url").toString("base64"), auth: AUTH },
			"keys.p256dh",
		],
		["p256dh with junk", { p256dh: `${P256DH.slice(0, 80)}!!!!!!!`, auth: AUTH }, "keys.p256dh"],
		["empty p256dh", { p256dh: "", auth: AUTH }, "keys.p256dh"],
		["a p256dh point off the curve", { p256dh: offCurve(), auth: AUTH }, "keys.p256dh"],
		[
			"a p256dh coordinate above the field prime",
			{ p256dh: b64u(new Uint8Array(65).fill(0xff)), auth: AUTH },
			"keys.p256dh",
		],
		["auth of 15 bytes", { p256dh: P256DH, auth: b64u(new Uint8Array(15)) }, "keys.auth"],
		["auth of 32 bytes", { p256dh: P256DH, auth: b64u(new Uint8Array(32)) }, "keys.auth"],
		["auth with an impossible length", { p256dh: P256DH, auth: "A".repeat(21) }, "keys.auth"],
	])("rejects %s", (_name, keys, path) => {
		expect(issuePaths({ ...valid, keys })).toEqual([path]);
	});

	it.each([
		["a missing keys object", { endpoint: valid.endpoint }, "keys"],
		["a non-URL endpoint", { ...valid, endpoint: "nope" }, "endpoint"],
		["a javascript: endpoint", { ...valid, endpoint: "javascript:alert(1)" }, "endpoint"],
		[
			"an endpoint over 2048 chars",
			{ ...valid, endpoint: `${valid.endpoint}${"a".repeat(2048)}` },
			"endpoint",
		],
		["a string expirationTime", { ...valid, expirationTime: "soon" }, "expirationTime"],
	])("rejects %s", (_name, input, path) => {
		expect(issuePaths(input)).toEqual([path]);
	});
});

describe("classifyPushResponse", () => {
	const now = Date.parse("2026-11-20T10:00:00.000Z");
	const none = new Headers();

	it.each([200, 201, 202])("%i is accepted", (status) => {
		expect(classifyPushResponse(status, none, now)).toEqual({ kind: "accepted" });
	});

	it.each([404, 410])("%i means the subscription is gone", (status) => {
		expect(classifyPushResponse(status, none, now)).toEqual({ kind: "gone" });
	});

	it.each([429, 500, 502, 503, 504])(
		"%i is retried, with the caller's backoff when no Retry-After",
		(status) => {
			expect(classifyPushResponse(status, none, now)).toEqual({ kind: "retry", retryAtMs: null });
		},
	);

	it.each([400, 401, 403, 405, 408, 413, 301, 302])("%i fails without retry", (status) => {
		expect(classifyPushResponse(status, new Headers({ "Retry-After": "5" }), now)).toEqual({
			kind: "failed",
		});
	});

	it("honours Retry-After in seconds", () => {
		expect(classifyPushResponse(429, new Headers({ "Retry-After": "120" }), now)).toEqual({
			kind: "retry",
			retryAtMs: now + 120_000,
		});
		expect(classifyPushResponse(503, new Headers({ "Retry-After": " 0 " }), now)).toEqual({
			kind: "retry",
			retryAtMs: now,
		});
	});

	it("honours Retry-After as an HTTP-date (IMF-fixdate, RFC 850, asctime)", () => {
		const at = Date.parse("2026-11-20T10:05:00.000Z");
		for (const value of [
			"Fri, 20 Nov 2026 10:05:00 GMT",
			"Friday, 20-Nov-26 10:05:00 GMT",
			"Fri Nov 20 10:05:00 2026",
		]) {
			expect(classifyPushResponse(503, new Headers({ "Retry-After": value }), now)).toEqual({
				kind: "retry",
				retryAtMs: at,
			});
		}
	});

	it("never schedules a retry in the past", () => {
		const past = new Headers({ "Retry-After": "Fri, 20 Nov 2026 09:00:00 GMT" });
		expect(classifyPushResponse(429, past, now)).toEqual({ kind: "retry", retryAtMs: now });
	});

	it.each(["soon", "-5", "1.5", ""])("ignores an unreadable Retry-After %j", (value) => {
		expect(classifyPushResponse(429, new Headers({ "Retry-After": value }), now)).toEqual({
			kind: "retry",
			retryAtMs: null,
		});
	});
});

describe("buildWebPushRequest", () => {
	const vapid = { subject: "mailto:ops@example.com", ...generateVapidKeys() };
	const opts = { ttlSeconds: 600, urgency: "high" as const, topic: "abc" };

	async function thrownCode(fn: () => Promise<unknown>): Promise<string | undefined> {
		try {
			await fn();
		} catch (err) {
			return err instanceof PushError ? err.code : "not a PushError";
		}
		return undefined;
	}

	it("returns a POST with the RFC 8030 headers and no Content-Length of its own", async () => {
		const req = await buildWebPushRequest(valid, "hello", vapid, opts);
		expect(req.url).toBe(valid.endpoint);
		expect(req.init.method).toBe("POST");
		expect(req.init.redirect).toBe("manual");
		expect(req.init.body).toBeInstanceOf(Uint8Array);
		expect(req.init.headers).toMatchObject({
			TTL: "600",
			Urgency: "high",
			Topic: "abc",
			"Content-Encoding": "aes128gcm",
			"Content-Type": "application/octet-stream",
		});
		expect(req.init.headers.Authorization).toMatch(/^vapid t=[\w-]+\.[\w-]+\.[\w-]+, k=[\w-]+$/);
		expect(Object.keys(req.init.headers).map((h) => h.toLowerCase())).not.toContain("content-length");
		// 86-byte header + plaintext + delimiter + 16-byte tag.
		expect(req.init.body.byteLength).toBe(86 + 5 + 1 + 16);
	});

	it("omits Topic when none is given and sends an empty body for an empty payload", async () => {
		const req = await buildWebPushRequest(valid, "", vapid, { ttlSeconds: 0, urgency: "normal" });
		expect(req.init.headers.Topic).toBeUndefined();
		expect(req.init.headers.TTL).toBe("0");
		expect(req.init.body.byteLength).toBe(0);
	});

	it.each([
		["a negative TTL", { ...opts, ttlSeconds: -1 }, "invalid_ttl"],
		["a fractional TTL", { ...opts, ttlSeconds: 1.5 }, "invalid_ttl"],
		["a topic of 33 characters", { ...opts, topic: "a".repeat(33) }, "invalid_topic"],
		["a topic with '='", { ...opts, topic: "abc=" }, "invalid_topic"],
		["an empty topic", { ...opts, topic: "" }, "invalid_topic"],
	])("refuses %s", async (_name, badOpts, code) => {
		expect(await thrownCode(() => buildWebPushRequest(valid, "hi", vapid, badOpts))).toBe(code);
	});

	it("refuses a payload over 3993 bytes", async () => {
		expect(await thrownCode(() => buildWebPushRequest(valid, "é".repeat(1997), vapid, opts))).toBe(
			"payload_too_large",
		);
	});

	it("refuses bad VAPID details with invalid_push_request", async () => {
		const cases = [
			{ ...vapid, privateKey: "short" },
			{ ...vapid, privateKey: "%%%" },
			{ ...vapid, publicKey: generateVapidKeys().privateKey },
			{ ...vapid, subject: "not a contact" },
			{ ...vapid, subject: "http://example.com" },
		];
		for (const bad of cases)
			expect(await thrownCode(() => buildWebPushRequest(valid, "hi", bad, opts)), JSON.stringify(bad)).toBe(
				"invalid_push_request",
			);
	});

	it("signs the VAPID token for the endpoint's origin, valid 12 hours from the clock given", async () => {
		const now = Date.UTC(2026, 11, 2, 12);
		const req = await buildWebPushRequest(valid, "hi", vapid, opts, now);
		const [, token = "", key] = /^vapid t=([^,]+), k=(.+)$/.exec(req.init.headers.Authorization ?? "") ?? [];
		expect(key).toBe(vapid.publicKey);
		const [header, claims] = token
			.split(".")
			.slice(0, 2)
			.map((p) => JSON.parse(Buffer.from(p, "base64url").toString()));
		expect(header).toEqual({ typ: "JWT", alg: "ES256" });
		expect(claims).toEqual({
			sub: vapid.subject,
			aud: new URL(valid.endpoint).origin,
			exp: now / 1000 + 12 * 3600,
		});
	});
});

describe("generateVapidKeys", () => {
	it("returns a 65-byte uncompressed public key and a 32-byte private key, base64url", () => {
		const keys = generateVapidKeys();
		const pub = Buffer.from(keys.publicKey, "base64url");
		expect(keys.publicKey).toMatch(/^[\w-]+$/);
		expect(pub).toHaveLength(65);
		expect(pub[0]).toBe(4);
		expect(Buffer.from(keys.privateKey, "base64url")).toHaveLength(32);
		expect(generateVapidKeys().publicKey).not.toBe(keys.publicKey);
	});
});
