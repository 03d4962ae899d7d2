/**
 * Web Push encryption checked against RFC 8291's worked example (Appendix A)
 * and an independent decoder (test/helpers/ece.ts), so the sender is not only
 * consistent with itself but with what browsers implement.
 */
import { createECDH } from "node:crypto";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { MAX_PAYLOAD_BYTES, PushError, pushTopic } from "../../src/push/payload.js";
import { buildWebPushRequest, generateVapidKeys } from "../../src/push/webpush.js";
import {
	createTestSubscriber,
	decryptAes128gcm,
	deriveAes128gcmSecrets,
	fromBase64Url,
	importUaPrivateKey,
	parseAes128gcmHeader,
	TestPushError,
	toBase64Url,
	verifyVapidAuthorization,
} from "../helpers/ece.js";

// RFC 8291 Appendix A, every value base64url as published.
const RFC = {
	plaintext: "When I grow up, I want to be a watermelon",
	asPublic: "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
	asPrivate: "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
	uaPublic: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
	uaPrivate: "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
	salt: "DGv6ra1nlYgDCS1FRnbzlw",
	authSecret: "BTBZMqHH6r4Tts7J_aSIgg",
	ecdhSecret: "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs",
	ikm: "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg",
	cek: "oIhVW04MRdy2XN9CiKLxTg",
	nonce: "4h_95klXJ5E_qnoN",
	header:
		"DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
	ciphertext: "8pfeW0KbunFT06SuDKoJH9Ql87S1QUrdirN6GcG7sFz1y1sqLgVi1VhjVkHsUoEsbI_0LpXMuGvnzQ",
	body: "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
} as const;

/** http_ece ships no types: load it through require and check the one function used. */
function httpEceEncrypt(plaintext: Buffer, params: Record<string, unknown>): Buffer {
	const mod: unknown = createRequire(import.meta.url)("http_ece");
	if (typeof mod !== "object" || mod === null || !("encrypt" in mod) || typeof mod.encrypt !== "function") {
		throw new Error("http_ece has no encrypt()");
	}
	const out: unknown = mod.encrypt(plaintext, params);
	if (!(out instanceof Uint8Array)) throw new Error("http_ece.encrypt did not return bytes");
	return Buffer.from(out);
}

async function rfcUaKey(): Promise<CryptoKey> {
	return importUaPrivateKey(fromBase64Url(RFC.uaPrivate), fromBase64Url(RFC.uaPublic));
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
	try {
		await promise;
	} catch (err) {
		return err instanceof TestPushError ? err.code : "not a TestPushError";
	}
	return undefined;
}

describe("RFC 8291 Appendix A", () => {
	it("the published body is the published header followed by the published ciphertext", () => {
		expect(RFC.body).toBe(
			toBase64Url(new Uint8Array([...fromBase64Url(RFC.header), ...fromBase64Url(RFC.ciphertext)])),
		);
		const header = parseAes128gcmHeader(fromBase64Url(RFC.body));
		expect(toBase64Url(header.salt)).toBe(RFC.salt);
		expect(header.recordSize).toBe(4096);
		expect(toBase64Url(header.keyId)).toBe(RFC.asPublic);
	});

	it("the independent decoder derives the published intermediate secrets", async () => {
		const secrets = await deriveAes128gcmSecrets(
			await rfcUaKey(),
			fromBase64Url(RFC.uaPublic),
			fromBase64Url(RFC.authSecret),
			fromBase64Url(RFC.asPublic),
			fromBase64Url(RFC.salt),
		);
		expect(toBase64Url(secrets.ecdhSecret)).toBe(RFC.ecdhSecret);
		expect(toBase64Url(secrets.ikm)).toBe(RFC.ikm);
		expect(toBase64Url(secrets.cek)).toBe(RFC.cek);
		expect(toBase64Url(secrets.nonce)).toBe(RFC.nonce);
	});

	it("(a) the independent decoder decrypts the published body", async () => {
		const plain = await decryptAes128gcm(
			fromBase64Url(RFC.body),
			await rfcUaKey(),
			fromBase64Url(RFC.uaPublic),
			fromBase64Url(RFC.authSecret),
		);
		expect(new TextDecoder().decode(plain)).toBe(RFC.plaintext);
	});

	it("the decoder refuses a body altered in one byte, or cut short", async () => {
		const key = await rfcUaKey();
		const ua = fromBase64Url(RFC.uaPublic);
		const auth = fromBase64Url(RFC.authSecret);
		const tampered = fromBase64Url(RFC.body);
		tampered[100] = (tampered[100] ?? 0) ^ 1;
		expect(await codeOf(decryptAes128gcm(tampered, key, ua, auth))).toBe("decrypt_failed");
		expect(await codeOf(decryptAes128gcm(fromBase64Url(RFC.body).slice(0, 120), key, ua, auth))).toBe(
			"decrypt_failed",
		);
		expect(await codeOf(decryptAes128gcm(fromBase64Url(RFC.header), key, ua, auth))).toBe("truncated");
		const wrongAuth = new Uint8Array(16);
		expect(await codeOf(decryptAes128gcm(fromBase64Url(RFC.body), key, ua, wrongAuth))).toBe(
			"decrypt_failed",
		);
	});

	it("(b) http_ece, web-push's encoder, reproduces the published body byte for byte", () => {
		const sender = createECDH("prime256v1");
		sender.setPrivateKey(Buffer.from(RFC.asPrivate, "base64url"));
		expect(sender.getPublicKey().toString("base64url")).toBe(RFC.asPublic);
		const body = httpEceEncrypt(Buffer.from(RFC.plaintext, "utf8"), {
			version: "aes128gcm",
			dh: RFC.uaPublic,
			privateKey: sender,
			salt: RFC.salt,
			authSecret: RFC.authSecret,
			rs: 4096,
		});
		expect(body.toString("base64url")).toBe(RFC.body);
	});
});

describe("(c) buildWebPushRequest round trip through the independent decoder", () => {
	const vapid = { subject: "mailto:ops@example.com", ...generateVapidKeys() };

	it.each([
		"https://fcm.googleapis.com/fcm/send/abc:APA91b",
		"https://updates.push.services.mozilla.com/wpush/v2/gAAAAA",
		"https://web.push.apple.com/QGh1c2g",
		"http://127.0.0.1:8787/push/d1",
	])("to %s", async (endpoint) => {
		const subscriber = await createTestSubscriber(endpoint);
		const payload = JSON.stringify({
			offerId: "off_1",
			title: "Ada, beer is -20% 🍺",
			body: "Two minutes away",
		});
		const topic = pushTopic(["t1", "u1", "beer"]);
		const req = await buildWebPushRequest(subscriber.subscription, payload, vapid, {
			ttlSeconds: 600,
			urgency: "high",
			topic,
		});

		expect(req.url).toBe(endpoint);
		expect(await subscriber.decrypt(req.init.body)).toBe(payload);
		expect(parseAes128gcmHeader(req.init.body).recordSize).toBe(4096);
		expect(req.init.headers).toMatchObject({
			TTL: "600",
			Urgency: "high",
			Topic: topic,
			"Content-Encoding": "aes128gcm",
		});
		const authorization = req.init.headers.Authorization ?? "";
		const before = Date.now();
		const claims = await verifyVapidAuthorization(authorization, endpoint, { publicKey: vapid.publicKey });
		expect(claims.aud).toBe(new URL(endpoint).origin);
		expect(claims.sub).toBe(vapid.subject);
		expect(claims.exp * 1000).toBeGreaterThan(before);
		expect(claims.exp * 1000).toBeLessThanOrEqual(before + 24 * 3600 * 1000);
	});

	it("a payload of exactly 3993 bytes fills one 4096-byte message and decrypts", async () => {
		const subscriber = await createTestSubscriber("https://fcm.googleapis.com/fcm/send/max");
		const payload = `${"🍉".repeat(998)}a`; // 998 × 4 + 1 = 3993 bytes
		expect(new TextEncoder().encode(payload).byteLength).toBe(MAX_PAYLOAD_BYTES);
		const req = await buildWebPushRequest(subscriber.subscription, payload, vapid, {
			ttlSeconds: 60,
			urgency: "low",
		});
		expect(req.init.body.byteLength).toBe(4096);
		expect(await subscriber.decrypt(req.init.body)).toBe(payload);
		let code: string | undefined;
		try {
			await buildWebPushRequest(subscriber.subscription, `${payload}a`, vapid, {
				ttlSeconds: 60,
				urgency: "low",
			});
		} catch (err) {
			code = err instanceof PushError ? err.code : "other";
		}
		expect(code).toBe("payload_too_large");
	});

	it("each message gets a fresh salt and sender key", async () => {
		const subscriber = await createTestSubscriber("https://fcm.googleapis.com/fcm/send/fresh");
		const opts = { ttlSeconds: 60, urgency: "normal" as const };
		const a = parseAes128gcmHeader(
			(await buildWebPushRequest(subscriber.subscription, "x", vapid, opts)).init.body,
		);
		const b = parseAes128gcmHeader(
			(await buildWebPushRequest(subscriber.subscription, "x", vapid, opts)).init.body,
		);
		expect(toBase64Url(a.salt)).not.toBe(toBase64Url(b.salt));
		expect(toBase64Url(a.keyId)).not.toBe(toBase64Url(b.keyId));
	});

	it("the VAPID verifier refuses another key, another origin and a forged signature", async () => {
		const endpoint = "https://fcm.googleapis.com/fcm/send/abc";
		const subscriber = await createTestSubscriber(endpoint);
		const req = await buildWebPushRequest(subscriber.subscription, "x", vapid, {
			ttlSeconds: 60,
			urgency: "high",
		});
		const header = req.init.headers.Authorization ?? "";
		expect(
			await codeOf(verifyVapidAuthorization(header, endpoint, { publicKey: generateVapidKeys().publicKey })),
		).toBe("wrong_key");
		expect(
			await codeOf(verifyVapidAuthorization(header, "https://updates.push.services.mozilla.com/x")),
		).toBe("wrong_audience");
		const other = generateVapidKeys().publicKey;
		expect(await codeOf(verifyVapidAuthorization(header.replace(/k=[\w-]+$/, `k=${other}`), endpoint))).toBe(
			"bad_signature",
		);
		expect(
			await codeOf(verifyVapidAuthorization(header, endpoint, { nowMs: Date.now() + 25 * 3600 * 1000 })),
		).toBe("expired");
		expect(await codeOf(verifyVapidAuthorization("Bearer abc", endpoint))).toBe("bad_scheme");
	});
});
