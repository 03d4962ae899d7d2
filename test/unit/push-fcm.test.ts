import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
	buildFcmMessage,
	buildJwtClaims,
	classifyFcmResponse,
	createFcmClient,
	DEFAULT_TOKEN_URL,
	FCM_SCOPE,
	FcmError,
	type FcmMessageInput,
	importServiceAccountKey,
	parseServiceAccount,
	type ServiceAccount,
	signJwt,
} from "../../src/push/fcm.js";
import { createFakeFcm, generateTestServiceAccount, type TestServiceAccount } from "../helpers/fake-fcm.js";

const T0 = Date.UTC(2026, 2, 14, 10, 0, 0);

let account: TestServiceAccount;
let serviceAccount: ServiceAccount;

beforeAll(async () => {
	account = await generateTestServiceAccount();
	const parsed = parseServiceAccount(account.json);
	if (!parsed.ok) throw new Error("generated service account did not parse");
	serviceAccount = parsed.serviceAccount;
});

const offer: FcmMessageInput = {
	title: "Ada, beer is -20%",
	body: "Two minutes away at Paris Rivoli",
	url: "https://shop.example/beer",
	image: "https://cdn.example/beer.png",
	actions: [{ id: "add", title: "Add to cart", url: "https://shop.example/cart/add/beer" }],
	offerId: "o-1",
	campaignId: "beer-near-store",
	variantId: "a",
	expiresAtMs: T0 + 600_000,
	ttlSeconds: 600,
	urgency: "high",
	topic: "k3Xb0123456789abcdefghijklmnopqr",
};

/** A fake FCM and a client sharing one adjustable clock. */
function setup() {
	const clock = { now: T0 };
	const now = () => clock.now;
	const fake = createFakeFcm({ publicKey: account.publicKey, now, clientEmail: account.clientEmail });
	const client = createFcmClient({ serviceAccount, fetch: fake.fetch, now });
	return { clock, fake, client };
}

describe("parseServiceAccount", () => {
	it("takes a Google key file and defaults token_uri", () => {
		expect(serviceAccount).toMatchObject({
			type: "service_account",
			project_id: "p",
			client_email: account.clientEmail,
			token_uri: DEFAULT_TOKEN_URL,
		});
		const withoutUri = JSON.parse(account.json);
		delete withoutUri.token_uri;
		const parsed = parseServiceAccount(JSON.stringify(withoutUri));
		expect(parsed.ok && parsed.serviceAccount.token_uri).toBe(DEFAULT_TOKEN_URL);
	});

	it.each([
		["text that is not JSON", () => "{not json"],
		["a JSON array", () => "[]"],
		[
			"another credential type",
			() => JSON.stringify({ ...JSON.parse(account.json), type: "authorized_user" }),
		],
		["a missing project_id", () => JSON.stringify({ ...JSON.parse(account.json), project_id: undefined })],
		["a missing client_email", () => JSON.stringify({ ...JSON.parse(account.json), client_email: "" })],
		[
			"a PKCS#1 private key",
			() =>
				JSON.stringify({
					...JSON.parse(account.json),
					private_key: "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n",
				}),
		],
		[
			"a plain-http token_uri",
			() => JSON.stringify({ ...JSON.parse(account.json), token_uri: "http://x.test/t" }),
		],
	])("refuses %s with invalid_service_account", (_name, make) => {
		const parsed = parseServiceAccount(make());
		expect(parsed.ok).toBe(false);
		if (!parsed.ok) {
			expect(parsed.code).toBe("invalid_service_account");
			expect(parsed.issues.length).toBeGreaterThan(0);
		}
	});

	it("never quotes the key in its issues", () => {
		const broken = `${account.json.slice(0, 200)}`;
		const parsed = parseServiceAccount(broken);
		expect(parsed.ok).toBe(false);
		expect(JSON.stringify(parsed)).not.toContain("MII");
	});

	it("points at the bad field", () => {
		const parsed = parseServiceAccount(JSON.stringify({ ...JSON.parse(account.json), private_key: "nope" }));
		expect(parsed.ok ? [] : parsed.issues.map((i) => i.path)).toEqual([["private_key"]]);
	});
});

describe("signJwt", () => {
	it("makes an RS256 JWT that verifies with the public key", async () => {
		const key = await importServiceAccountKey(account.privateKeyPem);
		const claims = buildJwtClaims(account.clientEmail, DEFAULT_TOKEN_URL, T0 + 999);
		expect(claims).toEqual({
			iss: account.clientEmail,
			scope: FCM_SCOPE,
			aud: DEFAULT_TOKEN_URL,
			iat: T0 / 1000,
			exp: T0 / 1000 + 3600,
		});
		const jwt = await signJwt(claims, key);
		const [header, payload, signature] = jwt.split(".");
		expect(JSON.parse(Buffer.from(header ?? "", "base64url").toString())).toEqual({
			alg: "RS256",
			typ: "JWT",
		});
		expect(JSON.parse(Buffer.from(payload ?? "", "base64url").toString())).toEqual(claims);
		expect(jwt).not.toMatch(/[=+/]/);
		const ok = await crypto.subtle.verify(
			"RSASSA-PKCS1-v1_5",
			account.publicKey,
			Buffer.from(signature ?? "", "base64url"),
			new TextEncoder().encode(`${header}.${payload}`),
		);
		expect(ok).toBe(true);
	});

	it("refuses a PEM that holds no usable key", async () => {
		const garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
		await expect(importServiceAccountKey(garbage)).rejects.toMatchObject({ code: "invalid_service_account" });
	});
});

describe("access token", () => {
	it("is issued by the token endpoint after it verified the assertion", async () => {
		const { fake, client } = setup();
		expect(await client.accessToken()).toBe("tok-1");
		const [request] = fake.requestsOf("token");
		expect(request).toMatchObject({ status: 200, body: { iss: account.clientEmail, scope: FCM_SCOPE } });
		expect(request?.refusal).toBeUndefined();
	});

	it("is not issued for a key the endpoint does not know", async () => {
		const other = await generateTestServiceAccount();
		const fake = createFakeFcm({ publicKey: other.publicKey, now: () => T0 });
		const client = createFcmClient({ serviceAccount, fetch: fake.fetch, now: () => T0 });
		await expect(client.accessToken()).rejects.toMatchObject({ code: "oauth_failed" });
		expect(fake.requestsOf("token")[0]).toMatchObject({ status: 400, refusal: "bad signature" });
		expect(await client.send("device-1", offer)).toEqual({ kind: "failed", code: "oauth_failed" });
		expect(fake.requestsOf("send")).toHaveLength(0);
	});

	it("is cached across sends: one token request for several sends", async () => {
		const { fake, client } = setup();
		for (let i = 0; i < 4; i++) expect((await client.send(`device-${i}`, offer)).kind).toBe("accepted");
		expect(fake.requestsOf("token")).toHaveLength(1);
		expect(fake.requestsOf("send").map((r) => r.accessToken)).toEqual(["tok-1", "tok-1", "tok-1", "tok-1"]);
	});

	it("is renewed 60 s before it expires, not earlier", async () => {
		const { clock, fake, client } = setup();
		await client.send("device-1", offer);
		clock.now = T0 + 3540_000 - 1;
		await client.send("device-1", offer);
		expect(fake.requestsOf("token")).toHaveLength(1);
		clock.now = T0 + 3540_000;
		await client.send("device-1", offer);
		expect(fake.requestsOf("token")).toHaveLength(2);
		expect(fake.requestsOf("send").map((r) => r.accessToken)).toEqual(["tok-1", "tok-1", "tok-2"]);
		// The fresh assertion carries the new time.
		expect(fake.requestsOf("token")[1]?.body).toMatchObject({ iat: (T0 + 3540_000) / 1000 });
	});

	it("is shared by concurrent sends", async () => {
		const { fake, client } = setup();
		const outcomes = await Promise.all(
			Array.from({ length: 8 }, (_, i) => client.send(`device-${i}`, offer)),
		);
		expect(outcomes.every((o) => o.kind === "accepted")).toBe(true);
		expect(fake.requestsOf("token")).toHaveLength(1);
		expect(new Set(fake.requestsOf("send").map((r) => r.accessToken))).toEqual(new Set(["tok-1"]));
	});

	it("is not cached when the token endpoint fails", async () => {
		const { fake, client } = setup();
		fake.failTokenRequests(1, 400);
		const [a, b] = await Promise.allSettled([client.accessToken(), client.accessToken()]);
		expect(a).toMatchObject({ status: "rejected", reason: { code: "oauth_failed" } });
		expect(b).toMatchObject({ status: "rejected", reason: { code: "oauth_failed" } });
		expect(fake.requestsOf("token")).toHaveLength(1);
		expect(await client.accessToken()).toBe("tok-1");
	});

	it("makes a send retry when the token endpoint is down or unreachable", async () => {
		const { fake, client } = setup();
		fake.failTokenRequests(1, 503, { "retry-after": "20" });
		expect(await client.send("device-1", offer)).toEqual({ kind: "retry", retryAtMs: T0 + 20_000 });
		const offline = createFcmClient({
			serviceAccount,
			fetch: () => Promise.reject(new TypeError("network down")),
			now: () => T0,
		});
		expect(await offline.send("device-1", offer)).toEqual({ kind: "retry", retryAtMs: null });
		await expect(offline.accessToken()).rejects.toBeInstanceOf(FcmError);
	});

	it("fails with invalid_service_account when the key cannot be imported", async () => {
		const { fake } = setup();
		const broken = {
			...serviceAccount,
			private_key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
		};
		const client = createFcmClient({ serviceAccount: broken, fetch: fake.fetch, now: () => T0 });
		expect(await client.send("device-1", offer)).toEqual({ kind: "failed", code: "invalid_service_account" });
		await expect(client.accessToken()).rejects.toMatchObject({ code: "invalid_service_account" });
		expect(fake.requests).toHaveLength(0);
	});

	it("uses the tokenUrl and apiBaseUrl options", async () => {
		const tokenUrl = "https://oauth.example.test/token";
		const apiBaseUrl = "https://fcm.example.test/";
		const fake = createFakeFcm({
			publicKey: account.publicKey,
			now: () => T0,
			tokenUrl,
			apiBaseUrl: "https://fcm.example.test",
		});
		const client = createFcmClient({
			serviceAccount,
			fetch: fake.fetch,
			now: () => T0,
			tokenUrl,
			apiBaseUrl,
		});
		expect(await client.send("device-1", offer)).toMatchObject({ kind: "accepted" });
		expect(fake.requestsOf("token")[0]?.body).toMatchObject({ aud: tokenUrl });
		expect(fake.requestsOf("unknown")).toHaveLength(0);
	});
});

describe("buildFcmMessage", () => {
	it("builds the v1 message for Android and iOS", () => {
		expect(buildFcmMessage("device-1", offer)).toEqual({
			message: {
				token: "device-1",
				notification: { title: offer.title, body: offer.body, image: offer.image },
				data: {
					offerId: "o-1",
					campaignId: "beer-near-store",
					variantId: "a",
					url: "https://shop.example/beer",
					actions: JSON.stringify(offer.actions),
					expiresAt: new Date(T0 + 600_000).toISOString(),
				},
				android: {
					ttl: "600s",
					priority: "high",
					collapse_key: offer.topic,
					notification: { tag: offer.topic },
				},
				apns: {
					headers: {
						"apns-priority": "10",
						"apns-expiration": String((T0 + 600_000) / 1000),
						"apns-collapse-id": offer.topic,
					},
					payload: { aps: { "mutable-content": 1, alert: { title: offer.title, body: offer.body } } },
				},
			},
		});
	});

	it("maps normal urgency and omits what is not given", () => {
		const { message } = buildFcmMessage("device-1", {
			title: "t",
			body: "b",
			offerId: "o",
			campaignId: "c",
			expiresAtMs: T0,
			ttlSeconds: 0,
			urgency: "normal",
			topic: "t1",
			clickAction: "OPEN_OFFER",
			analyticsLabel: "campaign_c",
		});
		expect(message.android).toMatchObject({
			ttl: "0s",
			priority: "normal",
			notification: { click_action: "OPEN_OFFER" },
		});
		expect(message.apns.headers["apns-priority"]).toBe("5");
		expect(Object.keys(message.data).sort()).toEqual(["campaignId", "expiresAt", "offerId"]);
		expect(Object.keys(message.notification)).toEqual(["title", "body"]);
		expect(message.fcm_options).toEqual({ analytics_label: "campaign_c" });
	});

	it("caps the TTL at FCM's four weeks", () => {
		expect(buildFcmMessage("d", { ...offer, ttlSeconds: 90 * 86_400 }).message.android.ttl).toBe("2419200s");
	});

	it.each([
		["an empty token", "", offer, "invalid_fcm_message"],
		["a negative TTL", "d", { ...offer, ttlSeconds: -1 }, "invalid_ttl"],
		["a fractional TTL", "d", { ...offer, ttlSeconds: 1.5 }, "invalid_ttl"],
		["an empty topic", "d", { ...offer, topic: "" }, "invalid_topic"],
		["a topic with spaces", "d", { ...offer, topic: "a b" }, "invalid_topic"],
		["a topic over 64 characters", "d", { ...offer, topic: "a".repeat(65) }, "invalid_topic"],
		["an expiry that is not a time", "d", { ...offer, expiresAtMs: Number.NaN }, "invalid_fcm_message"],
		["a bad analytics label", "d", { ...offer, analyticsLabel: "a:b" }, "invalid_fcm_message"],
	])("refuses %s", (_name, token, input, code) => {
		expect(() => buildFcmMessage(token, input)).toThrow(expect.objectContaining({ code }));
	});

	it("is what the client sends, and the fake accepts it with all-string data", async () => {
		const { fake, client } = setup();
		expect(await client.send("device-1", offer)).toEqual({
			kind: "accepted",
			messageId: "projects/p/messages/1",
		});
		const [request] = fake.requestsOf("send");
		expect(request?.url).toBe("https://fcm.googleapis.com/v1/projects/p/messages:send");
		expect(request?.refusal).toBeUndefined();
		expect(request?.body).toEqual(buildFcmMessage("device-1", offer));
		const data = z
			.object({ message: z.object({ data: z.record(z.string(), z.unknown()) }) })
			.parse(request?.body).message.data;
		expect(Object.values(data).every((v) => typeof v === "string")).toBe(true);
	});

	it("a send with bad input rejects before any request", async () => {
		const { fake, client } = setup();
		await expect(client.send("device-1", { ...offer, topic: "" })).rejects.toMatchObject({
			code: "invalid_topic",
		});
		expect(fake.requests).toHaveLength(0);
	});
});

describe("send outcomes", () => {
	it.each([404, 400, 403] as const)("UNREGISTERED with HTTP %i is gone", async (status) => {
		const { fake, client } = setup();
		fake.answer("stale", { kind: "unregistered", status });
		expect(await client.send("stale", offer)).toEqual({ kind: "gone" });
		expect(fake.requestsOf("send")).toHaveLength(1);
	});

	it("429 with Retry-After seconds retries at that time", async () => {
		const { fake, client } = setup();
		fake.answer("busy", { kind: "rate_limited", retryAfter: "120" });
		expect(await client.send("busy", offer)).toEqual({ kind: "retry", retryAtMs: T0 + 120_000 });
	});

	it("429 with a Retry-After date retries at that date", async () => {
		const { fake, client } = setup();
		const at = new Date(T0 + 90_000).toUTCString();
		fake.answer("busy", { kind: "rate_limited", retryAfter: at });
		expect(await client.send("busy", offer)).toEqual({ kind: "retry", retryAtMs: T0 + 90_000 });
	});

	it("503 retries, with the caller's backoff when no Retry-After", async () => {
		const { fake, client } = setup();
		fake.answer("down", { kind: "unavailable" });
		expect(await client.send("down", offer)).toEqual({ kind: "retry", retryAtMs: null });
		fake.answer("down", { kind: "unavailable", retryAfter: "5" });
		expect(await client.send("down", offer)).toEqual({ kind: "retry", retryAtMs: T0 + 5000 });
	});

	it("400 INVALID_ARGUMENT fails with its code, without a retry", async () => {
		const { fake, client } = setup();
		fake.answer("bad", { kind: "invalid_argument" });
		expect(await client.send("bad", offer)).toEqual({ kind: "failed", code: "INVALID_ARGUMENT" });
		fake.answer("other-project", { kind: "sender_id_mismatch" });
		expect(await client.send("other-project", offer)).toEqual({ kind: "failed", code: "SENDER_ID_MISMATCH" });
		expect(fake.requestsOf("send")).toHaveLength(2);
	});

	it("401 drops the token and retries once with a fresh one", async () => {
		const { fake, client } = setup();
		fake.answer("device-1", { kind: "unauthenticated_once" });
		expect(await client.send("device-1", offer)).toMatchObject({ kind: "accepted" });
		expect(fake.requestsOf("send").map((r) => [r.accessToken, r.status])).toEqual([
			["tok-1", 401],
			["tok-2", 200],
		]);
		// The fresh token is the cached one now.
		await client.send("device-2", offer);
		expect(fake.requestsOf("token")).toHaveLength(2);
		expect(fake.requestsOf("send")[2]?.accessToken).toBe("tok-2");
	});

	it("a revoked token is replaced after FCM's 401", async () => {
		const { fake, client } = setup();
		await client.send("device-1", offer);
		fake.revokeTokens();
		expect(await client.send("device-1", offer)).toMatchObject({ kind: "accepted" });
		expect(fake.requestsOf("send").map((r) => r.status)).toEqual([200, 401, 200]);
	});

	it("401 twice fails after exactly one retry", async () => {
		const { fake, client } = setup();
		fake.answer("device-1", { kind: "unauthenticated" });
		expect(await client.send("device-1", offer)).toEqual({ kind: "failed", code: "UNAUTHENTICATED" });
		expect(fake.requestsOf("send")).toHaveLength(2);
		expect(fake.requestsOf("token")).toHaveLength(2);
	});

	it("a network error retries with the caller's backoff", async () => {
		const { fake } = setup();
		let calls = 0;
		const flaky: typeof fetch = (input, init) => {
			calls += 1;
			// Token request goes through; the send is cut.
			return calls === 1 ? fake.fetch(input, init) : Promise.reject(new TypeError("fetch failed"));
		};
		const client = createFcmClient({ serviceAccount, fetch: flaky, now: () => T0 });
		expect(await client.send("device-1", offer)).toEqual({ kind: "retry", retryAtMs: null });
	});
});

describe("classifyFcmResponse", () => {
	const h = (init: Record<string, string> = {}) => new Headers(init);
	const error = (code: number, status: string, errorCode?: string) =>
		JSON.stringify({
			error: {
				code,
				status,
				message: "m",
				details: errorCode
					? [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode }]
					: undefined,
			},
		});

	it.each([
		["200 without a readable body", 200, h(), "oops", { kind: "accepted", messageId: null }],
		[
			"404 without FCM's error body (wrong project or URL)",
			404,
			h(),
			"",
			{ kind: "failed", code: "http_404" },
		],
		["500 INTERNAL", 500, h(), error(500, "INTERNAL", "INTERNAL"), { kind: "retry", retryAtMs: null }],
		[
			"400 carrying QUOTA_EXCEEDED",
			400,
			h(),
			error(400, "X", "QUOTA_EXCEEDED"),
			{ kind: "retry", retryAtMs: null },
		],
		[
			"a Retry-After in the past",
			429,
			h({ "retry-after": new Date(0).toUTCString() }),
			"",
			{ kind: "retry", retryAtMs: T0 },
		],
		["a nonsense Retry-After", 429, h({ "retry-after": "-3" }), "", { kind: "retry", retryAtMs: null }],
		[
			"403 PERMISSION_DENIED",
			403,
			h(),
			error(403, "PERMISSION_DENIED"),
			{ kind: "failed", code: "PERMISSION_DENIED" },
		],
		["an unreadable 400", 400, h(), null, { kind: "failed", code: "http_400" }],
		["an unfollowed redirect", 302, h(), "", { kind: "failed", code: "http_302" }],
	])("%s", (_name, status, headers, body, expected) => {
		expect(classifyFcmResponse(status, headers, body, T0)).toEqual(expected);
	});
});
