/**
 * The trust findings, one test each, through the public API on real workerd (Durable
 * Objects, D1): only a person's own app acts for them, app answers reveal nothing, limits,
 * the privacy lifecycle, and production safety. Each was written against the code before
 * the fix and failed there.
 */
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { publicBaseUrl } from "../../worker/config.js";
import worker from "../../worker/index.js";
import type { ShopperDO } from "../../worker/shopper.js";
import {
	capturePushBodies,
	cartEvent,
	postCart,
	registerDecryptablePerson,
	sendCart,
} from "../worker/cart-helpers";
import {
	ADMIN_TOKEN,
	BASE,
	call,
	callOk,
	capturePush,
	createCampaign,
	createTenant,
	expectProblem,
	getUser,
	offset,
	postPings,
	putUser,
	putWebDevice,
	registerPerson,
	shopperStub,
	squareFence,
	type Tenant,
	unique,
	uploadFences,
	userKey,
	walker,
	webPushSubscription,
} from "../worker/helpers";

const NANTES = { lat: 47.2184, lng: -1.5536 };
const AWAY = offset(NANTES, 400, 0);

afterEach(() => {
	vi.restoreAllMocks();
});

/** A tenant with one store at NANTES and an enter campaign. */
async function store(prefix: string, settings: Record<string, unknown> = {}): Promise<Tenant> {
	const t = await createTenant(prefix, { settings });
	await uploadFences(t, [squareFence("nantes-1", NANTES, 100, { name: "Nantes", tags: ["grocery"] })]);
	await createCampaign(t, "beer");
	return t;
}

function mint(t: Tenant, userId: string, body: unknown = {}): Promise<Response> {
	return call("POST", `/v1/users/${userId}/tokens`, { key: t.secretKey, body });
}

describe("1. only the person's own app acts for them", () => {
	it("a new tenant's publishable key alone cannot create, change, read or add a device to a person", async () => {
		const t = await store("trust-pk");
		const victim = await registerPerson(t, "victim", { firstName: "Ada" });
		const pk = t.publishableKey;
		const consent = { consent: { location: false, push: false } };
		await expectProblem(
			await call("PUT", `/v1/users/${victim.userId}`, { key: pk, body: consent }),
			401,
			"user_token_required",
		);
		await expectProblem(
			await call("PUT", `/v1/users/${victim.userId}/devices/attacker`, {
				key: pk,
				body: { platform: "web", webPush: await webPushSubscription("attacker") },
			}),
			401,
			"user_token_required",
		);
		await expectProblem(
			await call("POST", "/v1/pings", {
				key: pk,
				body: { userId: victim.userId, pings: [walker().at(NANTES)] },
			}),
			401,
			"user_token_required",
		);
		const after = await getUser(t, victim.userId);
		expect(after.consent).toEqual({ location: true, push: true });
		expect(after.devices.map((d) => d.deviceId)).toEqual([victim.deviceId]);
	});

	it("a user token acts only for its own person (403), forged or expired tokens are 401", async () => {
		const t = await store("trust-token");
		const victim = await registerPerson(t, "victim");
		const mallory = await userKey(t, "mallory");
		await expectProblem(
			await call("PUT", `/v1/users/${victim.userId}`, {
				key: mallory,
				body: { consent: { location: false, push: false } },
			}),
			403,
			"forbidden",
		);
		await expectProblem(
			await call("POST", "/v1/pings", {
				key: mallory,
				body: { userId: victim.userId, pings: [walker().at(NANTES)] },
			}),
			403,
			"forbidden",
		);
		await expectProblem(
			await call("DELETE", `/v1/users/${victim.userId}/devices/${victim.deviceId}`, { key: mallory }),
			403,
			"forbidden",
		);
		// Forged: another tenant's token for the same user id, a tampered signature, garbage.
		const other = await createTenant("trust-token-other");
		const foreign = await userKey(other, victim.userId);
		const own = await userKey(t, victim.userId);
		const tampered = `${own.slice(0, -4)}${own.slice(-4) === "AAAA" ? "BBBB" : "AAAA"}`;
		// The other tenant's token with its payload rewritten to name this tenant: the
		// signature no longer verifies under this tenant's key.
		const [h, payload, sig] = foreign.slice(3).split(".");
		const claims = JSON.parse(atob((payload ?? "").replaceAll("-", "+").replaceAll("_", "/"))) as Record<
			string,
			unknown
		>;
		const renamed = btoa(JSON.stringify({ ...claims, tid: t.id }))
			.replaceAll("+", "-")
			.replaceAll("/", "_")
			.replace(/=+$/, "");
		const retargeted = `ut_${h}.${renamed}.${sig}`;
		for (const key of [retargeted, tampered, "ut_garbage", "ut_a.b.c"]) {
			await expectProblem(
				await call("PUT", `/v1/users/${victim.userId}`, {
					key,
					body: { consent: { location: false, push: false } },
				}),
				401,
			);
		}
		// Another tenant's genuine token never reaches this tenant's person.
		await callOk("PUT", `/v1/users/${victim.userId}`, {
			key: foreign,
			body: { consent: { location: false, push: false } },
		});
		expect((await getUser(t, victim.userId)).consent).toEqual({ location: true, push: true });
		// Expired: minted 2 minutes in the past with a 60 s lifetime.
		const realNow = Date.now();
		vi.spyOn(Date, "now").mockReturnValue(realNow - 120_000);
		const old = await callOk<{ token: string }>(
			"POST",
			`/v1/users/${victim.userId}/tokens`,
			{ key: t.secretKey, body: { ttlSeconds: 60 } },
			201,
		);
		vi.restoreAllMocks();
		await expectProblem(
			await call("PUT", `/v1/users/${victim.userId}`, {
				key: old.token,
				body: { consent: { location: false, push: false } },
			}),
			401,
			"invalid_token",
		);
		expect((await getUser(t, victim.userId)).consent).toEqual({ location: true, push: true });
	});

	it("minting needs the secret key and a ttl within 60 s to 7 days", async () => {
		const t = await createTenant("trust-mint");
		await expectProblem(await call("POST", "/v1/users/u/tokens", { key: t.publishableKey, body: {} }), 401);
		await expectProblem(await mint(t, "u", { ttlSeconds: 59 }), 422, "validation_failed");
		await expectProblem(await mint(t, "u", { ttlSeconds: 604_801 }), 422, "validation_failed");
		const res = await mint(t, "u", { ttlSeconds: 600 });
		expect(res.status).toBe(201);
		const body = (await res.json()) as { token: string; expiresAt: string };
		expect(body.token).toMatch(/^ut_[\w-]+\.[\w-]+\.[\w-]+$/);
		const ttl = Date.parse(body.expiresAt) - Date.now();
		expect(ttl).toBeGreaterThan(590_000);
		expect(ttl).toBeLessThanOrEqual(600_000);
	});

	it("app answers carry nothing the caller did not send", async () => {
		const t = await store("trust-echo", { clientAuth: "publishable" });
		const victim = unique("victim");
		await callOk("PUT", `/v1/users/${victim}`, {
			key: await userKey(t, victim),
			body: {
				firstName: "Ada",
				attributes: { tier: "gold", email: "ada@example.com" },
				consent: { location: true, push: true },
			},
		});
		await putWebDevice(t, victim, "phone-1", unique("ep"));
		// The publishable key (this tenant still allows it) registers a device: the answer
		// names only that device, never the profile or the other devices.
		const answer = await callOk("PUT", `/v1/users/${victim}/devices/phone-2`, {
			key: t.publishableKey,
			body: { platform: "android", fcmToken: "tok" },
		});
		const text = JSON.stringify(answer);
		for (const secret of ["Ada", "gold", "ada@example.com", "phone-1", "insideGeofences"])
			expect(text).not.toContain(secret);
		const profile = await callOk("PUT", `/v1/users/${victim}`, {
			key: t.publishableKey,
			body: { consent: { location: true, push: true } },
		});
		expect(JSON.stringify(profile)).not.toContain("gold");
		expect(JSON.stringify(profile)).not.toContain("phone-1");
	});
});

describe("1b. offer events", () => {
	it("take the person's user token, or the publishable key in every mode; another person's token is 404", async () => {
		const t = await store("trust-offer-events");
		capturePush();
		const p = await registerPerson(t, "p");
		const w = walker();
		const a = await postPings(t, p.userId, [w.at(AWAY), w.at(NANTES)], p.deviceId);
		const offerId = a.offers[0]?.offerId;
		expect(offerId).toBeTruthy();
		const path = `/v1/offers/${offerId}/events`;
		const own = await call("POST", path, { key: await userKey(t, p.userId), body: { type: "displayed" } });
		expect(own.status).toBe(204);
		const sw = await call("POST", path, { key: t.publishableKey, body: { type: "clicked" } });
		expect(sw.status).toBe(204);
		await expectProblem(
			await call("POST", path, { key: await userKey(t, "someone-else"), body: { type: "clicked" } }),
			404,
			"not_found",
		);
	});
});

describe("2. no location oracle", () => {
	it("in publishable mode a ping answer is the same whatever the person's history", async () => {
		const t = await store("trust-oracle", { clientAuth: "publishable" });
		capturePush();
		const p = await registerPerson(t, "p");
		const w = walker(10 * 60_000, 30_000);
		// The person walks into the store, so their history now has a place and a time.
		await postPings(t, p.userId, [w.at(AWAY), w.at(NANTES)]);
		const probes = [
			[{ lat: NANTES.lat, lng: NANTES.lng, accuracy: 5, timestamp: Date.now() - 3_600_000 }], // out of order
			[{ lat: -33.86, lng: 151.2, accuracy: 5, timestamp: Date.now() }], // too fast
			[{ ...AWAY, accuracy: 5, timestamp: Date.now() }], // an exit
			[{ ...NANTES, accuracy: 5000, timestamp: Date.now() }], // low accuracy
		];
		const answers: unknown[] = [];
		for (const pings of probes) {
			const res = await call("POST", "/v1/pings", {
				key: t.publishableKey,
				body: { userId: p.userId, pings },
			});
			expect(res.status).toBe(200);
			answers.push(await res.json());
		}
		// And a person who never existed answers the same.
		const res = await call("POST", "/v1/pings", {
			key: t.publishableKey,
			body: { userId: unique("nobody"), pings: probes[0] },
		});
		answers.push(await res.json());
		for (const a of answers) expect(a).toEqual({ received: 1 });
	});

	it("with a user token the person's own app still hears its events and offers", async () => {
		const t = await store("trust-own");
		capturePush();
		const p = await registerPerson(t, "p");
		const w = walker();
		const a = await postPings(t, p.userId, [w.at(AWAY), w.at(NANTES)], p.deviceId);
		expect(a.received).toBe(2);
		expect(a.events.map((e) => e.type)).toEqual(["enter"]);
		expect(a.offers).toEqual([expect.objectContaining({ campaignId: "beer", decision: "sent" })]);
	});

	it("a batch id retried answers as the first time and applies nothing", async () => {
		const t = await store("trust-batch");
		const push = capturePush();
		const p = await registerPerson(t, "p");
		const w = walker();
		const body = {
			userId: p.userId,
			deviceId: p.deviceId,
			batchId: "b-1",
			pings: [w.at(AWAY), w.at(NANTES)],
		};
		const key = await userKey(t, p.userId);
		const first = await callOk("POST", "/v1/pings", { key, body });
		const again = await callOk("POST", "/v1/pings", { key, body });
		expect(again).toEqual(first);
		expect(push.sent.length).toBe(1);
		await expectProblem(
			await call("POST", "/v1/pings", { key, body: { ...body, batchId: "no spaces" } }),
			422,
			"validation_failed",
		);
	});
});

describe("4. devices and rate limits", () => {
	it("a person keeps at most maxDevicesPerUser devices: the least recently seen go", async () => {
		const t = await store("trust-devices", { maxDevicesPerUser: 3 });
		const push = capturePush();
		const userId = unique("many");
		await putUser(t, userId);
		for (let i = 0; i < 12; i += 1) await putWebDevice(t, userId, `d${i}`, unique(`ep${i}`));
		const devices = (await getUser(t, userId)).devices.map((d) => d.deviceId).sort();
		expect(devices).toEqual(["d10", "d11", "d9"]);
		const w = walker();
		await postPings(t, userId, [w.at(AWAY), w.at(NANTES)]);
		expect(push.sent.length).toBe(3);
	});

	it("the default cap is 10", async () => {
		const t = await createTenant("trust-devices-default");
		const settings = await callOk<{ maxDevicesPerUser: number }>("GET", "/v1/settings", { key: t.secretKey });
		expect(settings.maxDevicesPerUser).toBe(10);
	});

	it("one person's flood is limited with 429 and Retry-After; another person is not", async () => {
		const t = await store("trust-flood");
		const flooder = unique("flooder");
		const calm = await registerPerson(t, "calm");
		await putUser(t, flooder);
		const key = await userKey(t, flooder);
		const statuses: number[] = [];
		let retryAfter: string | null = null;
		// Sent at once: one at a time on a loaded machine, the budget may refill between calls.
		const answers = await Promise.all(
			Array.from({ length: 80 }, () =>
				call("POST", "/v1/pings", {
					key,
					body: { userId: flooder, pings: [{ ...AWAY, accuracy: 5, timestamp: Date.now() }] },
				}),
			),
		);
		for (const res of answers) {
			statuses.push(res.status);
			if (res.status === 429) retryAfter = res.headers.get("retry-after");
			await res.arrayBuffer();
		}
		expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
		expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
		expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
		const a = await postPings(t, calm.userId, [walker().at(AWAY)]);
		expect(a.received).toBe(1);
	}, 60_000);
});

describe("4b. tenant budget", () => {
	it("a tenant past its budget gets 429 with Retry-After; another tenant does not", async () => {
		// vitest.config.ts binds TENANT_RATE_LIMIT at 500 requests per 10 s (fixed windows, so
		// a burst may straddle two: up to twice that gets through before the first 429).
		const a = await createTenant("trust-tenant-flood");
		const b = await createTenant("trust-tenant-calm");
		// 25 calls at a time: the budget is per 10 s, and one call at a time on a loaded machine
		// may never reach 500 in a window.
		let limited: Response | null = null;
		for (let i = 0; i < 3000 && !limited; i += 25) {
			const answers = await Promise.all(
				Array.from({ length: 25 }, () => call("GET", "/v1/settings", { key: a.secretKey })),
			);
			for (const res of answers) {
				if (res.status === 429) limited ??= res;
				else {
					expect(res.status).toBe(200);
					await res.arrayBuffer();
				}
			}
		}
		expect(limited).not.toBeNull();
		if (!limited) return;
		expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
		await expectProblem(limited, 429, "rate_limited");
		await callOk("GET", "/v1/settings", { key: b.secretKey });
	}, 60_000);
});

describe("5. privacy lifecycle", () => {
	it("erasure removes cart events too, and a later signed cart event stores nothing", async () => {
		const t = await store("trust-erase");
		capturePush();
		const p = await registerPerson(t, "p");
		await postCart(t, cartEvent(p.userId, "item_added", [{ sku: "chips", category: "snacks" }]));
		const w = walker();
		await postPings(t, p.userId, [w.at(AWAY), w.at(NANTES)]);
		await callOk("DELETE", `/v1/users/${p.userId}`, { key: t.secretKey }, 204);

		const rows = async () => {
			const counts = await env.DB.batch<{ n: number }>(
				["cart_events", "decisions", "offers", "conversions"].map((table) =>
					env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE tenant_id = ? AND user_id = ?`).bind(
						t.id,
						p.userId,
					),
				),
			);
			return counts.map((c) => c.results[0]?.n);
		};
		expect(await rows()).toEqual([0, 0, 0, 0]);

		// The cart platform does not know: it sends another event about the erased person.
		const res = await sendCart(t, cartEvent(p.userId, "item_added", [{ sku: "chips", category: "snacks" }]));
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ offers: [] });
		// A ping naming them (their old token) stores nothing either.
		await postPings(t, p.userId, [walker().at(NANTES)]);
		expect(await rows()).toEqual([0, 0, 0, 0]);
		await expectProblem(await call("GET", `/v1/users/${p.userId}`, { key: t.secretKey }), 404);
		await expectProblem(await call("GET", `/v1/users/${p.userId}/export`, { key: t.secretKey }), 404);
		// Their own app registering them again ends the tombstone.
		await putUser(t, p.userId);
		expect((await getUser(t, p.userId)).devices).toEqual([]);
	});

	it("export holds everything stored about the person and never push keys", async () => {
		const t = await store("trust-export");
		capturePush();
		const userId = unique("p");
		await putUser(t, userId, { firstName: "Ada" });
		const sub = await webPushSubscription(unique("ep"));
		await callOk("PUT", `/v1/users/${userId}/devices/web-1`, {
			key: await userKey(t, userId),
			body: { platform: "web", webPush: sub },
		});
		const w = walker();
		await postPings(t, userId, [w.at(AWAY), w.at(NANTES)], "web-1");
		await postCart(t, cartEvent(userId, "purchase", [{ sku: "beer", price: 3 }]));
		const res = await call("GET", `/v1/users/${userId}/export`, { key: t.secretKey });
		expect(res.status).toBe(200);
		expect(res.headers.get("cache-control")).toBe("no-store");
		const text = await res.text();
		const x = JSON.parse(text) as Record<string, unknown> & {
			profile: { firstName: string; devices: unknown[] };
			presence: { insideGeofences: { geofenceId: string }[]; lastAcceptedPing: unknown };
			decisions: unknown[];
			offers: unknown[];
			cartEvents: unknown[];
			purchases: unknown[];
		};
		expect(x.profile.firstName).toBe("Ada");
		expect(x.profile.devices.length).toBe(1);
		expect(x.presence.insideGeofences.map((f) => f.geofenceId)).toEqual(["nantes-1"]);
		expect(x.presence.lastAcceptedPing).not.toBeNull();
		expect(x.decisions.length).toBe(1);
		expect(x.offers.length).toBe(1);
		expect(x.cartEvents.length).toBe(1);
		expect(x.purchases.length).toBeGreaterThan(0);
		for (const secret of [sub.keys.p256dh, sub.keys.auth, sub.endpoint]) expect(text).not.toContain(secret);
		await expectProblem(await call("GET", `/v1/users/${userId}/export`, { key: t.publishableKey }), 401);
	});

	it("the daily retention sweep deletes rows older than retentionDays and keeps the rest", async () => {
		const t = await store("trust-retention", { retentionDays: 30 });
		capturePush();
		const p = await registerPerson(t, "p");
		const w = walker();
		await postPings(t, p.userId, [w.at(AWAY), w.at(NANTES)], p.deviceId);
		await postCart(t, cartEvent(p.userId, "item_added", [{ sku: "chips" }]));
		const old = new Date(Date.now() - 31 * 86_400_000).toISOString();
		await env.DB.batch(
			["decisions", "offers", "cart_events"].map((table) =>
				env.DB.prepare(`UPDATE ${table} SET created_at = ? WHERE tenant_id = ? AND user_id = ?`).bind(
					old,
					t.id,
					p.userId,
				),
			),
		);
		const fresh = await registerPerson(t, "fresh");
		const w2 = walker();
		await postPings(t, fresh.userId, [w2.at(AWAY), w2.at(NANTES)], fresh.deviceId);

		const ctx = createExecutionContextLike();
		await worker.scheduled?.(
			{ cron: "17 3 * * *", scheduledTime: Date.now(), noRetry: () => {} } as ScheduledController,
			env,
			ctx,
		);
		await ctx.done();
		const count = async (table: string, userId: string) =>
			(
				await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE tenant_id = ? AND user_id = ?`)
					.bind(t.id, userId)
					.first<{ n: number }>()
			)?.n;
		expect(await count("decisions", p.userId)).toBe(0);
		expect(await count("offers", p.userId)).toBe(0);
		expect(await count("cart_events", p.userId)).toBe(0);
		expect(await count("decisions", fresh.userId)).toBe(1);
		expect(await count("offers", fresh.userId)).toBe(1);
	});
});

describe("6. no state ahead of storage", () => {
	it("a failed storage write leaves the object answering from what was stored", async () => {
		const t = await createTenant("trust-ahead");
		const userId = unique("p");
		await putUser(t, userId, { firstName: "Before" });
		const stub = shopperStub(t, userId) as DurableObjectStub<ShopperDO>;
		await runInDurableObject(stub, async (instance: ShopperDO) => {
			// A value storage cannot serialize: the write fails after the change was made.
			const attributes = { callback: () => 1 } as unknown as Record<string, unknown>;
			await expect(
				instance.putProfile(
					t.id,
					userId,
					{ firstName: "After", attributes, consent: { location: true, push: true } },
					Date.now(),
				),
			).rejects.toThrow();
			const view = await instance.getProfile();
			expect(view?.firstName).toBe("Before");
		});
		const user = await callOk<{ firstName: string }>("GET", `/v1/users/${userId}`, { key: t.secretKey });
		expect(user.firstName).toBe("Before");
	});
});

describe("7. production safety", () => {
	it("click links use PUBLIC_BASE_URL, never the request's Host", async () => {
		const t = await store("trust-host");
		const push = capturePushBodies();
		const p = await registerDecryptablePerson(t, "p");
		const w = walker();
		const res = await SELF.fetch("https://evil.example/v1/pings", {
			method: "POST",
			headers: {
				authorization: `Bearer ${await userKey(t, p.userId)}`,
				"content-type": "application/json",
				host: "evil.example",
			},
			body: JSON.stringify({ userId: p.userId, deviceId: p.deviceId, pings: [w.at(AWAY), w.at(NANTES)] }),
		});
		expect(res.status).toBe(200);
		const sent = push.to(p.endpoint);
		expect(sent.length).toBe(1);
		const payload = JSON.parse(await p.subscriber.decrypt(sent[0]?.body ?? new Uint8Array())) as {
			url: string;
		};
		expect(new URL(payload.url).origin).toBe(BASE);
		expect(payload.url).not.toContain("evil.example");
		// Unset or plain http outside local development: no signed links at all.
		expect(publicBaseUrl({ ...env, PUBLIC_BASE_URL: undefined })).toBeNull();
		expect(publicBaseUrl({ ...env, PUBLIC_BASE_URL: "http://plain.example" })).toBeNull();
		expect(publicBaseUrl({ ...env, PUBLIC_BASE_URL: "http://127.0.0.1:8787", LOCAL_DEV: "true" })).toBe(
			"http://127.0.0.1:8787",
		);
	});

	it("unsigned cart events answer the same for tenants that exist and ones that don't", async () => {
		const t = await createTenant("trust-unsigned");
		const event = cartEvent("u", "item_added", [{ sku: "chips" }]);
		const answers: { status: number; body: string }[] = [];
		for (const opts of [
			{ signature: null },
			{ signature: "t=1,v1=00" },
			{ tenantId: "tn_doesnotexist", signature: null },
			{ tenantId: "tn_doesnotexist" },
			{ tenantId: null },
			{ secret: "whsec_wrong" },
		]) {
			const res = await sendCart(t, event, opts);
			answers.push({ status: res.status, body: await res.text() });
		}
		for (const a of answers) expect(a).toEqual(answers[0]);
		expect(answers[0]?.status).toBe(401);
	});

	it("keys rotate with a grace period; graceSeconds 0 refuses the old key at once", async () => {
		const t = await createTenant("trust-rotate");
		const a = await callOk<{ secretKey: string; previousValidUntil: string }>("POST", "/v1/keys/rotate", {
			key: t.secretKey,
			body: { kind: "secret", graceSeconds: 3600 },
		});
		expect(a.secretKey).toMatch(/^sk_/);
		expect(Date.parse(a.previousValidUntil) - Date.now()).toBeGreaterThan(3_500_000);
		// Both work during the grace period.
		await callOk("GET", "/v1/settings", { key: t.secretKey });
		await callOk("GET", "/v1/settings", { key: a.secretKey });
		// Rotating again with no grace: only the newest works.
		const b = await callOk<{ secretKey: string }>("POST", "/v1/keys/rotate", {
			key: a.secretKey,
			body: { kind: "secret", graceSeconds: 0 },
		});
		await expectProblem(await call("GET", "/v1/settings", { key: a.secretKey }), 401);
		await callOk("GET", "/v1/settings", { key: b.secretKey });
		// The first key keeps the grace it was promised.
		await callOk("GET", "/v1/settings", { key: t.secretKey });

		const pk = await callOk<{ publishableKey: string }>("POST", "/v1/keys/rotate", {
			key: b.secretKey,
			body: { kind: "publishable", graceSeconds: 0 },
		});
		expect(pk.publishableKey).toMatch(/^pk_/);
		const vapid = await call("GET", "/v1/push/vapid-public-key");
		expect(vapid.status).toBe(200);
		const wh = await callOk<{ webhookSecret: string }>("POST", "/v1/keys/rotate", {
			key: b.secretKey,
			body: { kind: "webhook", graceSeconds: 0 },
		});
		const p = await registerPerson(t, "p");
		const event = cartEvent(p.userId, "item_added", [{ sku: "chips" }]);
		expect((await sendCart(t, event)).status).toBe(401);
		expect((await sendCart(t, event, { secret: wh.webhookSecret })).status).toBe(200);
		await expectProblem(
			await call("POST", "/v1/keys/rotate", { key: b.secretKey, body: { kind: "admin" } }),
			422,
			"validation_failed",
		);
		await expectProblem(
			await call("POST", "/v1/keys/rotate", { key: ADMIN_TOKEN, body: { kind: "secret" } }),
			401,
		);
	});
});

/** An ExecutionContext whose waitUntil promises can be awaited. */
function createExecutionContextLike(): ExecutionContext & { done(): Promise<unknown> } {
	const pending: Promise<unknown>[] = [];
	return {
		waitUntil: (p: Promise<unknown>) => {
			pending.push(p);
		},
		passThroughOnException: () => {},
		props: {},
		done: () => Promise.all(pending),
	} as unknown as ExecutionContext & { done(): Promise<unknown> };
}
