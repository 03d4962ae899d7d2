/**
 * Offers to Android and iOS devices through FCM HTTP v1: the Shopper object signs a
 * service-account JWT, exchanges it for a cached access token and sends the message;
 * a fake FCM (test/helpers/fake-fcm.ts) verifies the signature and the message shape.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { createFakeFcm, type FakeFcm } from "../helpers/fake-fcm";
import {
	callOk,
	createCampaign,
	createTenant,
	decisionsOf,
	getUser,
	offset,
	postPings,
	putUser,
	squareFence,
	type Tenant,
	unique,
	uploadFences,
	userKey,
	walker,
} from "./helpers";

const LYON = { lat: 45.764, lng: 4.8357 };
const AWAY = offset(LYON, 500, 0);
let fake: FakeFcm;

beforeAll(async () => {
	const jwk = JSON.parse(env.TEST_FCM_PUBLIC_JWK ?? "null");
	const publicKey = await crypto.subtle.importKey(
		"jwk",
		jwk,
		{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
		false,
		["verify"],
	);
	fake = createFakeFcm({
		publicKey,
		tokenUrl: "http://127.0.0.1:9/fcm-token",
		apiBaseUrl: "http://127.0.0.1:9/fcm",
	});
});

/** Routes the worker's FCM traffic to the fake; everything else goes out as usual. */
function routeFcmToFake(): void {
	const original = globalThis.fetch;
	vi.spyOn(globalThis, "fetch").mockImplementation((input: RequestInfo | URL, init?: RequestInit) => {
		const url = new Request(input, init).url;
		return url.startsWith("http://127.0.0.1:9/fcm") ? fake.fetch(input, init) : original(input, init);
	});
}

afterEach(() => {
	vi.restoreAllMocks();
});

async function store(prefix: string): Promise<Tenant> {
	const t = await createTenant(prefix);
	await uploadFences(t, [squareFence("lyon-1", LYON, 80, { name: "Lyon Bellecour", tags: ["grocery"] })]);
	await createCampaign(t, "beer", { ttlSeconds: 600 });
	return t;
}

async function androidPerson(t: Tenant, token: string): Promise<string> {
	const userId = unique("droid");
	await putUser(t, userId, { firstName: "Noor" });
	await callOk("PUT", `/v1/users/${userId}/devices/phone`, {
		key: await userKey(t, userId),
		body: { platform: "android", fcmToken: token },
	});
	return userId;
}

describe("FCM transport", () => {
	it("sends a signed, well-formed message to an Android device on enter", async () => {
		routeFcmToFake();
		const t = await store("fcm-send");
		const token = unique("tok");
		const userId = await androidPerson(t, token);
		const before = fake.requests.length;
		const w = walker();
		await postPings(t, userId, [w.at(AWAY)]);
		const a = await postPings(t, userId, [w.at(LYON)]);
		expect(a.offers).toEqual([
			{ offerId: expect.any(String), campaignId: "beer", variantId: "a", decision: "sent" },
		]);

		const sends = fake.requests.slice(before).filter((r) => r.kind === "send");
		expect(sends.map((r) => r.status)).toEqual([200]);
		const body = z.object({ message: z.record(z.string(), z.unknown()) }).parse(sends[0]?.body);
		const message = body.message;
		expect(message.token).toBe(token);
		expect(message.notification).toMatchObject({ title: expect.stringContaining("beer") });
		expect(message.android).toMatchObject({ ttl: "600s", priority: "high" });
		expect((message.data as Record<string, string>).offerId).toBe(a.offers[0]?.offerId);
		expect((message.apns as { headers: Record<string, string> }).headers["apns-priority"]).toBe("10");
	});

	it("caches the access token across sends", async () => {
		routeFcmToFake();
		const t = await store("fcm-cache");
		// Warm the token so this test counts only its own requests.
		const first = await androidPerson(t, unique("tok"));
		const w0 = walker();
		await postPings(t, first, [w0.at(AWAY), w0.at(LYON)]);
		const before = fake.requests.length;
		for (let i = 0; i < 3; i++) {
			const userId = await androidPerson(t, unique("tok"));
			const w = walker();
			await postPings(t, userId, [w.at(AWAY), w.at(LYON)]);
		}
		const after = fake.requests.slice(before);
		expect(after.filter((r) => r.kind === "send").map((r) => r.status)).toEqual([200, 200, 200]);
		expect(after.filter((r) => r.kind === "token")).toEqual([]);
	});

	it("drops a token that FCM reports UNREGISTERED, and the person becomes unreachable", async () => {
		routeFcmToFake();
		const t = await store("fcm-gone");
		const token = unique("tok");
		fake.answer(token, { kind: "unregistered" });
		const userId = await androidPerson(t, token);
		const w = walker();
		await postPings(t, userId, [w.at(AWAY), w.at(LYON)]);
		expect((await getUser(t, userId)).devices).toEqual([
			expect.objectContaining({ deviceId: "phone", hasFcmToken: false }),
		]);

		await postPings(t, userId, [w.at(AWAY)]);
		await callOk("PATCH", "/v1/campaigns/beer", { key: t.secretKey, body: { cooldownSeconds: 0 } });
		await postPings(t, userId, [w.at(LYON)]);
		const reasons = (await decisionsOf(t, userId)).map((d) => d.reason ?? d.decision);
		expect(reasons[0]).toBe("no_subscription");
	});
});
