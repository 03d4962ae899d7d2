/**
 * Keys and tenant isolation: the admin token creates tenants, sk_ keys drive the back
 * office, pk_ keys the apps, and no key ever reaches another tenant's data.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
	ADMIN_TOKEN,
	call,
	callOk,
	createCampaign,
	createTenant,
	expectProblem,
	postPings,
	putUser,
	squareFence,
	type Tenant,
	unique,
	uploadFences,
	userKey,
} from "./helpers";

const PARIS = { lat: 48.8566, lng: 2.3522 };

describe("POST /v1/tenants", () => {
	it("is refused without the admin token", async () => {
		await expectProblem(await call("POST", "/v1/tenants", { body: { name: "x" } }), 401, "unauthorized");
	});

	it("is refused with a wrong admin token", async () => {
		await expectProblem(
			await call("POST", "/v1/tenants", { key: "wrong", body: { name: "x" } }),
			401,
			"unauthorized",
		);
		await expectProblem(
			await call("POST", "/v1/tenants", { key: `${ADMIN_TOKEN}x`, body: { name: "x" } }),
			401,
			"unauthorized",
		);
		await expectProblem(
			await call("POST", "/v1/tenants", { headers: { authorization: ADMIN_TOKEN }, body: { name: "x" } }),
			401,
			"unauthorized",
		);
	});

	it("is refused with a tenant's secret key", async () => {
		const t = await createTenant("auth-sk-as-admin");
		await expectProblem(
			await call("POST", "/v1/tenants", { key: t.secretKey, body: { name: "x" } }),
			401,
			"unauthorized",
		);
	});

	it("returns sk_, pk_ and whsec_ keys once and stores none of them in clear", async () => {
		const name = unique("auth-create");
		const t = await callOk<Tenant>("POST", "/v1/tenants", { key: ADMIN_TOKEN, body: { name } }, 201);
		expect(t.name).toBe(name);
		expect(typeof t.id).toBe("string");
		expect(t.secretKey).toMatch(/^sk_[A-Za-z0-9_-]{20,}$/);
		expect(t.publishableKey).toMatch(/^pk_[A-Za-z0-9_-]{20,}$/);
		expect(t.webhookSecret).toMatch(/^whsec_[A-Za-z0-9_-]{20,}$/);

		// The keys work (a new tenant's apps act through user tokens the secret key mints)...
		await callOk("GET", "/v1/settings", { key: t.secretKey });
		const userId = unique("u");
		const { token } = await callOk<{ token: string }>(
			"POST",
			`/v1/users/${userId}/tokens`,
			{ key: t.secretKey, body: {} },
			201,
		);
		await callOk("PUT", `/v1/users/${userId}`, {
			key: token,
			body: { consent: { location: true, push: true } },
		});
		// ...but nothing shows them again, and the database holds no raw key.
		const settings = JSON.stringify(await callOk("GET", "/v1/settings", { key: t.secretKey }));
		for (const k of [t.secretKey, t.publishableKey, t.webhookSecret]) expect(settings).not.toContain(k);
		const rows = await env.DB.prepare(
			"SELECT t.*, k.key_hash FROM tenants t JOIN api_keys k ON k.tenant_id = t.id WHERE t.id = ?",
		)
			.bind(t.id)
			.all();
		expect(rows.results.length).toBe(2);
		const dump = JSON.stringify(rows.results);
		for (const k of [t.secretKey, t.publishableKey, t.webhookSecret]) expect(dump).not.toContain(k);
	});

	it("gives each tenant distinct keys", async () => {
		const a = await createTenant("auth-distinct-a");
		const b = await createTenant("auth-distinct-b");
		expect(a.id).not.toBe(b.id);
		expect(a.secretKey).not.toBe(b.secretKey);
		expect(a.publishableKey).not.toBe(b.publishableKey);
		expect(a.webhookSecret).not.toBe(b.webhookSecret);
	});
});

describe("tenant keys", () => {
	it("refuses a missing, malformed or unknown key with 401", async () => {
		const t = await createTenant("auth-missing");
		await expectProblem(await call("GET", "/v1/settings"), 401, "unauthorized");
		await expectProblem(await call("GET", "/v1/settings", { key: "sk_doesnotexist" }), 401, "unauthorized");
		await expectProblem(
			await call("GET", "/v1/settings", { headers: { authorization: `Basic ${t.secretKey}` } }),
			401,
			"unauthorized",
		);
		await expectProblem(await call("GET", "/v1/settings", { key: `${t.secretKey}x` }), 401, "unauthorized");
	});

	it("refuses a pk key on sk routes with 401", async () => {
		const t = await createTenant("auth-pk-on-sk");
		const pk = t.publishableKey;
		await expectProblem(await call("GET", "/v1/settings", { key: pk }), 401, "unauthorized");
		await expectProblem(
			await call("PUT", "/v1/settings", { key: pk, body: { maxAccuracyMeters: 50 } }),
			401,
			"unauthorized",
		);
		await expectProblem(await call("GET", "/v1/geofences", { key: pk }), 401, "unauthorized");
		await expectProblem(
			await call("PUT", "/v1/geofences", { key: pk, body: { type: "FeatureCollection", features: [] } }),
			401,
			"unauthorized",
		);
		await expectProblem(await call("GET", "/v1/campaigns", { key: pk }), 401, "unauthorized");
		await expectProblem(await call("POST", "/v1/campaigns", { key: pk, body: {} }), 401, "unauthorized");
		await expectProblem(await call("GET", "/v1/users/someone", { key: pk }), 401, "unauthorized");
		await expectProblem(await call("DELETE", "/v1/users/someone", { key: pk }), 401, "unauthorized");
		// Settings are unchanged by the refused PUT.
		const settings = await callOk<{ maxAccuracyMeters: number }>("GET", "/v1/settings", { key: t.secretKey });
		expect(settings.maxAccuracyMeters).toBe(100);
	});

	it("refuses an sk key on pk routes with 401", async () => {
		const t = await createTenant("auth-sk-on-pk");
		await expectProblem(
			await call("PUT", "/v1/users/u1", {
				key: t.secretKey,
				body: { consent: { location: true, push: true } },
			}),
			401,
			"unauthorized",
		);
		await expectProblem(
			await call("POST", "/v1/pings", {
				key: t.secretKey,
				body: { userId: "u1", pings: [{ lat: 1, lng: 1, accuracy: 5, timestamp: Date.now() }] },
			}),
			401,
			"unauthorized",
		);
	});

	it("does not let a pk key read the decision trace", async () => {
		const a = await createTenant("auth-pk-decisions");
		const userId = unique("u");
		await putUser(a, userId);
		await expectProblem(
			await call("GET", `/v1/users/${userId}/decisions`, { key: a.publishableKey }),
			401,
			"unauthorized",
		);
		await callOk("GET", `/v1/users/${userId}/decisions`, { key: a.secretKey });
	});
});

describe("tenant isolation", () => {
	it("keeps tenant A's fences, campaigns and people out of tenant B's reach", async () => {
		const a = await createTenant("iso-a");
		const b = await createTenant("iso-b");
		const fenceId = unique("store");
		await uploadFences(a, [squareFence(fenceId, PARIS, 100, { tags: ["grocery"] })]);
		await createCampaign(a, "iso-campaign");
		const userId = unique("alice");
		await putUser(a, userId);
		const entered = await postPings(a, userId, [{ ...PARIS, accuracy: 5, timestamp: Date.now() - 1000 }]);
		expect(entered.events.map((e) => e.type)).toEqual(["enter"]);

		// B sees nothing of A...
		await expectProblem(
			await call("GET", `/v1/geofences/${fenceId}`, { key: b.secretKey }),
			404,
			"not_found",
		);
		await expectProblem(
			await call("DELETE", `/v1/geofences/${fenceId}`, { key: b.secretKey }),
			404,
			"not_found",
		);
		await expectProblem(await call("GET", `/v1/users/${userId}`, { key: b.secretKey }), 404, "not_found");
		await expectProblem(
			await call("GET", "/v1/campaigns/iso-campaign", { key: b.secretKey }),
			404,
			"not_found",
		);
		await expectProblem(
			await call("DELETE", "/v1/campaigns/iso-campaign", { key: b.secretKey }),
			404,
			"not_found",
		);
		await expectProblem(
			await call("PATCH", "/v1/campaigns/iso-campaign", { key: b.secretKey, body: { status: "paused" } }),
			404,
			"not_found",
		);
		const fences = await callOk<{ features: unknown[] }>("GET", "/v1/geofences", { key: b.secretKey });
		expect(fences.features).toEqual([]);
		const campaigns = await callOk<{ campaigns: unknown[] }>("GET", "/v1/campaigns", { key: b.secretKey });
		expect(campaigns.campaigns).toEqual([]);
		const decisions = await callOk<{ decisions: unknown[] }>("GET", `/v1/users/${userId}/decisions`, {
			key: b.secretKey,
		});
		expect(decisions.decisions).toEqual([]);
		// B's erasure of the same user id is its own (empty) person, not A's.
		await callOk("DELETE", `/v1/users/${userId}`, { key: b.secretKey }, 204);

		// B's pings at the same place, for the same user id, hit no fence of A.
		await callOk("PUT", `/v1/users/${userId}`, {
			key: await userKey(b, userId),
			body: { consent: { location: true, push: true } },
		});
		const bPings = await postPings(b, userId, [{ ...PARIS, accuracy: 5, timestamp: Date.now() - 1000 }]);
		expect(bPings.events).toEqual([]);
		expect(bPings.offers).toEqual([]);

		// ...and A's data is intact.
		await callOk("GET", `/v1/geofences/${fenceId}`, { key: a.secretKey });
		await callOk("GET", "/v1/campaigns/iso-campaign", { key: a.secretKey });
		const user = await callOk<{ insideGeofences: string[] }>("GET", `/v1/users/${userId}`, {
			key: a.secretKey,
		});
		expect(user.insideGeofences).toEqual([fenceId]);
		const aDecisions = await callOk<{ decisions: unknown[] }>("GET", `/v1/users/${userId}/decisions`, {
			key: a.secretKey,
		});
		expect(aDecisions.decisions.length).toBe(1);
	});
});
