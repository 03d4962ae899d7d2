/**
 * Audiences in workerd (issue 16): CRM attributes (merge, null, precedence over the app),
 * bulk sync, interests and locale, the audience test route, a malformed audience's 422
 * naming its path, and decisions for people outside the audience: in their decision log
 * with the failed condition, out of the campaign's funnel and of the app's answer.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
	call,
	callOk,
	capturePush,
	createCampaign,
	createTenant,
	decisionsOf,
	expectProblem,
	getUser,
	offset,
	postPings,
	registerPerson,
	squareFence,
	type Tenant,
	unique,
	uploadFences,
	userKey,
	walker,
} from "./helpers";

afterEach(() => {
	vi.restoreAllMocks();
});

const LYON = { lat: 45.764, lng: 4.8357 };
const AWAY = offset(LYON, 600, 0);

/** PUT /v1/users/{userId} from the person's app, with attributes and interests. */
async function putApp(t: Tenant, userId: string, extra: Record<string, unknown>) {
	return callOk("PUT", `/v1/users/${userId}`, {
		key: await userKey(t, userId),
		body: { consent: { location: true, push: true }, ...extra },
	});
}

function patchAttributes(t: Tenant, userId: string, body: unknown) {
	return call("PATCH", `/v1/users/${userId}/attributes`, { key: t.secretKey, body });
}

/** Gold or platinum members who like wine and speak French. */
const audience = {
	all: [{ attribute: "tier", in: ["gold", "platinum"] }, { interest: "wine" }, { locale: ["fr"] }],
};

interface Stats {
	totals: { triggered: number; sent: number; suppressed: Record<string, number> };
	pushOptInAmongTriggered: { people: number };
}

describe("CRM attributes", () => {
	it("merges, removes with null, and wins over the app's keys, which cannot change or remove them", async () => {
		const t = await createTenant("aud-attr");
		const userId = unique("u");
		await putApp(t, userId, { attributes: { tier: "gold", colour: "red" } });

		const patched = await callOk<{ attributes: Record<string, unknown> }>(
			"PATCH",
			`/v1/users/${userId}/attributes`,
			{ key: t.secretKey, body: { tier: "silver", age: 34, vip: true } },
		);
		expect(patched.attributes).toEqual({ tier: "silver", colour: "red", age: 34, vip: true });

		// The app claims gold again and drops the key: the back office's value stays.
		await putApp(t, userId, { attributes: { tier: "gold" } });
		expect((await getUser(t, userId)).attributes).toEqual({ tier: "silver", age: 34, vip: true });
		await putApp(t, userId, {});
		expect((await getUser(t, userId)).attributes).toEqual({ tier: "silver", age: 34, vip: true });

		const removed = await callOk<{ attributes: Record<string, unknown> }>(
			"PATCH",
			`/v1/users/${userId}/attributes`,
			{ key: t.secretKey, body: { age: null, vip: null, store: "lyon-1" } },
		);
		expect(removed.attributes).toEqual({ tier: "silver", store: "lyon-1" });
	});

	it("takes scalars only, from the secret key only, and keeps tenants apart", async () => {
		const t = await createTenant("aud-attr-bad");
		const other = await createTenant("aud-attr-other");
		const userId = unique("u");
		await putApp(t, userId, {});
		const bad = await expectProblem(await patchAttributes(t, userId, { tier: ["gold"], ok: 1 }), 422);
		expect(bad.errors?.map((e) => e.path)).toEqual([["tier"]]);
		await expectProblem(await patchAttributes(t, userId, { "bad key": 1 }), 422);
		await expectProblem(await patchAttributes(t, userId, []), 422);
		// The person's own app may not set CRM attributes.
		const appTry = await call("PATCH", `/v1/users/${userId}/attributes`, {
			key: await userKey(t, userId),
			body: { tier: "gold" },
		});
		expect([401, 403]).toContain(appTry.status);
		// Another tenant's key writes its own person of that id, never this one.
		await callOk("PATCH", `/v1/users/${userId}/attributes`, { key: other.secretKey, body: { tier: "gold" } });
		expect((await getUser(t, userId)).attributes).toEqual({});
		// Nothing was stored by the refusals.
		expect((await getUser(t, userId)).attributes).toEqual({});
	});

	it("refuses past 100 keys a person, leaving what was stored", async () => {
		const t = await createTenant("aud-attr-limit");
		const userId = unique("u");
		const first = Object.fromEntries(Array.from({ length: 90 }, (_, i) => [`k${i}`, i]));
		await callOk("PATCH", `/v1/users/${userId}/attributes`, { key: t.secretKey, body: first });
		const more = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`m${i}`, i]));
		await expectProblem(await patchAttributes(t, userId, more), 422);
		await putApp(t, userId, {});
		expect(Object.keys((await getUser(t, userId)).attributes as object)).toHaveLength(90);
	});

	it("is not written for an erased person until their app registers them again", async () => {
		const t = await createTenant("aud-attr-erased");
		const userId = unique("u");
		await putApp(t, userId, {});
		await callOk("DELETE", `/v1/users/${userId}`, { key: t.secretKey }, 204);
		await expectProblem(await patchAttributes(t, userId, { tier: "gold" }), 404);
		const bulk = await callOk<{ updated: number; skippedErased?: number }>("POST", "/v1/users/attributes", {
			key: t.secretKey,
			body: { users: [{ userId, attributes: { tier: "gold" } }] },
		});
		expect(bulk).toEqual({ updated: 0, skippedErased: 1 });
		await putApp(t, userId, {});
		expect((await getUser(t, userId)).attributes).toEqual({});
	});

	it("syncs in bulk (1 to 1,000 people), including people the app has not registered yet", async () => {
		const t = await createTenant("aud-bulk");
		const ids = Array.from({ length: 40 }, () => unique("b"));
		const res = await callOk<{ updated: number }>("POST", "/v1/users/attributes", {
			key: t.secretKey,
			body: {
				users: ids.map((userId, i) => ({ userId, attributes: { tier: i % 2 ? "gold" : "silver", n: i } })),
			},
		});
		expect(res).toEqual({ updated: 40 });
		await putApp(t, ids[3] as string, { attributes: { tier: "platinum" } });
		expect((await getUser(t, ids[3] as string)).attributes).toEqual({ tier: "gold", n: 3 });

		await expectProblem(
			await call("POST", "/v1/users/attributes", { key: t.secretKey, body: { users: [] } }),
			422,
		);
		const tooMany = Array.from({ length: 1001 }, (_, i) => ({ userId: `x${i}`, attributes: { a: 1 } }));
		await expectProblem(
			await call("POST", "/v1/users/attributes", { key: t.secretKey, body: { users: tooMany } }),
			422,
		);
		const dup = await expectProblem(
			await call("POST", "/v1/users/attributes", {
				key: t.secretKey,
				body: {
					users: [
						{ userId: "d1", attributes: { a: 1 } },
						{ userId: "d1", attributes: { a: 2 } },
					],
				},
			}),
			422,
		);
		expect(dup.errors?.[0]?.path).toEqual(["users", 1, "userId"]);
		const badOne = await expectProblem(
			await call("POST", "/v1/users/attributes", {
				key: t.secretKey,
				body: {
					users: [
						{ userId: "ok", attributes: { a: 1 } },
						{ userId: "bad", attributes: { a: {} } },
					],
				},
			}),
			422,
		);
		expect(badOne.errors?.[0]?.path).toEqual(["users", 1, "attributes", "a"]);
	});
});

describe("interests and locale from the app", () => {
	it("stores at most 50 interests, deduplicated", async () => {
		const t = await createTenant("aud-int");
		const userId = unique("u");
		await putApp(t, userId, { interests: ["wine", "organic", "wine"], locale: "fr-CA" });
		const view = await getUser(t, userId);
		expect(view.interests).toEqual(["wine", "organic"]);
		expect(view.locale).toBe("fr-CA");
		const res = await call("PUT", `/v1/users/${userId}`, {
			key: await userKey(t, userId),
			body: {
				consent: { location: true, push: true },
				interests: Array.from({ length: 51 }, (_, i) => `i${i}`),
			},
		});
		const p = await expectProblem(res, 422);
		expect(p.errors?.[0]?.path).toEqual(["interests"]);
	});
});

describe("campaign audience", () => {
	it("is refused with a 422 naming the path of the bad condition, on create and on patch", async () => {
		const t = await createTenant("aud-422");
		const create = await expectProblem(
			await call("POST", "/v1/campaigns", {
				key: t.secretKey,
				body: {
					name: "x",
					trigger: { type: "geofence", on: "enter" },
					variants: [{ id: "a", title: "t", body: "b" }],
					audience: { all: [{ interest: "wine" }, { any: [{ attribute: "tier", in: "gold" }] }] },
				},
			}),
			422,
		);
		expect(create.errors?.map((e) => e.path)).toEqual([["audience", "all", 1, "any", 0, "in"]]);
		await createCampaign(t, "c1", { audience });
		let deep: unknown = { interest: "x" };
		for (let i = 0; i < 5; i++) deep = { not: deep };
		const patch = await expectProblem(
			await call("PATCH", "/v1/campaigns/c1", { key: t.secretKey, body: { audience: deep } }),
			422,
		);
		expect(patch.errors?.[0]?.path).toEqual(["audience", "not", "not", "not", "not", "not"]);
		expect(patch.errors?.[0]?.code).toBe("custom");
		// Unchanged, then removable with null.
		expect((await callOk("GET", "/v1/campaigns/c1", { key: t.secretKey })).audience).toEqual(audience);
		const cleared = await callOk("PATCH", "/v1/campaigns/c1", { key: t.secretKey, body: { audience: null } });
		expect(cleared.audience).toBeNull();
	});

	it("refuses a translation whose push could pass the payload limit, naming it", async () => {
		const t = await createTenant("aud-l10n");
		const res = await call("POST", "/v1/campaigns", {
			key: t.secretKey,
			body: {
				name: "x",
				trigger: { type: "geofence", on: "enter" },
				variants: [
					{
						id: "a",
						title: "t",
						body: "b",
						localized: {
							fr: { title: "t", body: "{{ firstName }}".repeat(60) },
							de: { title: "t", body: "b" },
						},
					},
				],
			},
		});
		const p = await expectProblem(res, 422);
		expect(p.errors?.map((e) => e.path)).toEqual([["variants", 0, "localized", "fr"]]);
	});

	it("tests listed people: in, or which condition failed; unknown people; tenants apart", async () => {
		const t = await createTenant("aud-test");
		await createCampaign(t, "wine", { audience });
		const gold = unique("gold");
		const silver = unique("silver");
		const german = unique("de");
		await putApp(t, gold, { interests: ["wine"], locale: "fr-FR", attributes: { tier: "silver" } });
		await patchAttributes(t, gold, { tier: "gold" });
		await putApp(t, silver, { interests: ["wine"], locale: "fr", attributes: { tier: "gold" } });
		await patchAttributes(t, silver, { tier: "silver" });
		await putApp(t, german, { interests: ["wine"], locale: "de-DE" });
		await patchAttributes(t, german, { tier: "platinum" });
		const nobody = unique("nobody");

		const r = await callOk<{
			results: {
				userId: string;
				known: boolean;
				inAudience: boolean;
				failed?: { path: unknown[]; condition: unknown };
			}[];
		}>("POST", "/v1/campaigns/wine/audience/test", {
			key: t.secretKey,
			body: { userIds: [gold, silver, german, nobody] },
		});
		expect(r.results).toEqual([
			{ userId: gold, known: true, inAudience: true },
			{
				userId: silver,
				known: true,
				inAudience: false,
				failed: { path: ["audience", "all", 0], condition: { attribute: "tier", in: ["gold", "platinum"] } },
			},
			{
				userId: german,
				known: true,
				inAudience: false,
				failed: { path: ["audience", "all", 2], condition: { locale: ["fr"] } },
			},
			{
				userId: nobody,
				known: false,
				inAudience: false,
				failed: { path: ["audience", "all", 0], condition: { attribute: "tier", in: ["gold", "platinum"] } },
			},
		]);

		const test = (key: string, path: string, body: unknown) => call("POST", path, { key, body });
		await expectProblem(await test(t.secretKey, "/v1/campaigns/wine/audience/test", { userIds: [] }), 422);
		const many = Array.from({ length: 101 }, (_, i) => `u${i}`);
		await expectProblem(await test(t.secretKey, "/v1/campaigns/wine/audience/test", { userIds: many }), 422);
		await expectProblem(
			await test(t.secretKey, "/v1/campaigns/nope/audience/test", { userIds: [gold] }),
			404,
		);
		const other = await createTenant("aud-test-other");
		await expectProblem(
			await test(other.secretKey, "/v1/campaigns/wine/audience/test", { userIds: [gold] }),
			404,
		);
		const appKey = await userKey(t, gold);
		expect([401, 403]).toContain(
			(await test(appKey, "/v1/campaigns/wine/audience/test", { userIds: [gold] })).status,
		);
	});
});

describe("decisions for people outside the audience", () => {
	it("are logged as not_in_audience with the failed condition, left out of the app's answer and of the funnel", async () => {
		const push = capturePush();
		const t = await createTenant("aud-decide");
		await uploadFences(t, [squareFence("store-1", LYON, 60, { tags: ["grocery"], name: "Lyon" })]);
		await createCampaign(t, "gold-wine", { audience, cooldownSeconds: 0 });
		const inside = await registerPerson(t, "in", { locale: "fr-FR" });
		const outside = await registerPerson(t, "out", { locale: "fr-FR" });
		await putApp(t, inside.userId, { interests: ["wine"], locale: "fr-FR" });
		await putApp(t, outside.userId, { interests: ["wine"], locale: "fr-FR", attributes: { tier: "gold" } });
		await patchAttributes(t, inside.userId, { tier: "gold" });
		await patchAttributes(t, outside.userId, { tier: "silver" });

		const walkIn = walker();
		const a = await postPings(t, inside.userId, [walkIn.at(AWAY), walkIn.at(LYON)], inside.deviceId);
		expect(a.offers).toMatchObject([{ campaignId: "gold-wine", decision: "sent" }]);
		const walkOut = walker();
		const b = await postPings(t, outside.userId, [walkOut.at(AWAY), walkOut.at(LYON)], outside.deviceId);
		expect(b.events.map((e) => e.type)).toEqual(["enter"]);
		expect(b.offers).toEqual([]);
		expect(push.to(outside.endpoint)).toHaveLength(0);
		expect(push.to(inside.endpoint)).toHaveLength(1);

		const logged = await decisionsOf(t, outside.userId);
		expect(logged).toHaveLength(1);
		expect(logged[0]).toMatchObject({
			campaignId: "gold-wine",
			decision: "suppressed",
			reason: "not_in_audience",
			variantId: null,
			offerId: null,
			failed: { path: ["audience", "all", 0], condition: { attribute: "tier", in: ["gold", "platinum"] } },
		});

		const stats = await callOk<Stats>("GET", "/v1/campaigns/gold-wine/stats", { key: t.secretKey });
		expect(stats.totals.triggered).toBe(1);
		expect(stats.totals.sent).toBe(1);
		expect(stats.totals.suppressed).toEqual({});
		expect(stats.pushOptInAmongTriggered.people).toBe(1);

		// The export carries the failed condition and the CRM attributes too.
		const exported = await callOk<{ decisions: { failed?: unknown }[]; crmAttributes: unknown }>(
			"GET",
			`/v1/users/${outside.userId}/export`,
			{ key: t.secretKey },
		);
		expect(exported.crmAttributes).toEqual({ tier: "silver" });
		expect(exported.decisions[0]?.failed).toMatchObject({ path: ["audience", "all", 0] });
	});

	it("counts visits in the person's object: the first enter is outside a second-visit audience, the second inside", async () => {
		const push = capturePush();
		const t = await createTenant("aud-visits");
		await uploadFences(t, [squareFence("store-2", LYON, 60, { tags: ["grocery"], name: "Lyon" })]);
		await createCampaign(t, "welcome-back", {
			audience: { visits: { tags: ["grocery"] }, withinDays: 30, gte: 2 },
			cooldownSeconds: 0,
		});
		const p = await registerPerson(t, "visitor");
		const w = walker(10 * 60_000);
		const first = await postPings(t, p.userId, [w.at(AWAY), w.at(LYON)], p.deviceId);
		expect(first.offers).toEqual([]);
		const second = await postPings(t, p.userId, [w.at(AWAY), w.at(LYON)], p.deviceId);
		expect(second.events.map((e) => e.type)).toEqual(["exit", "enter"]);
		expect(second.offers).toMatchObject([{ campaignId: "welcome-back", decision: "sent" }]);
		expect(push.to(p.endpoint)).toHaveLength(1);
		const logged = await decisionsOf(t, p.userId);
		expect(logged.map((d) => d.reason)).toEqual([null, "not_in_audience"]);

		const exported = await callOk<{
			visits: { geofenceId: string; tags: string[]; days: { enters: number }[] }[];
		}>("GET", `/v1/users/${p.userId}/export`, { key: t.secretKey });
		expect(exported.visits).toEqual([
			{ geofenceId: "store-2", tags: ["grocery"], days: [{ date: expect.any(String), enters: 2 }] },
		]);
		// Withdrawing location consent forgets the visits with the rest of the location data.
		await putApp(t, p.userId, { consent: { location: false, push: true } });
		const after = await callOk<{ visits: unknown[] }>("GET", `/v1/users/${p.userId}/export`, {
			key: t.secretKey,
		});
		expect(after.visits).toEqual([]);
	});
});

describe("OpenAPI", () => {
	it("describes the audience routes and the condition grammar, with examples", async () => {
		const doc = await callOk<{
			paths: Record<string, Record<string, { requestBody?: unknown }>>;
			components: { schemas: Record<string, { anyOf?: unknown[]; examples?: unknown[] }> };
		}>("GET", "/openapi.json");
		expect(doc.paths["/v1/users/{userId}/attributes"]?.patch).toBeDefined();
		expect(doc.paths["/v1/users/attributes"]?.post).toBeDefined();
		expect(doc.paths["/v1/campaigns/{id}/audience/test"]?.post).toBeDefined();
		const condition = doc.components.schemas.AudienceCondition;
		// all, any, not, attribute, interest, locale, visits, purchased.
		expect(condition?.anyOf).toHaveLength(8);
		expect(condition?.examples?.length).toBeGreaterThan(0);
		const text = JSON.stringify(doc);
		expect(text).not.toContain("#/$defs/AudienceCondition");
		// The campaign's audience and the condition's own children point at the component.
		expect(JSON.stringify(doc.paths["/v1/campaigns"]?.post?.requestBody)).toContain(
			"#/components/schemas/AudienceCondition",
		);
		expect(JSON.stringify(condition)).toContain("#/components/schemas/AudienceCondition");
	});
});

describe("people known only from the CRM", () => {
	it("are in the export and erased with DELETE like anyone", async () => {
		const t = await createTenant("aud-crm-only");
		const userId = unique("crm-only");
		await callOk("PATCH", `/v1/users/${userId}/attributes`, { key: t.secretKey, body: { tier: "gold" } });
		// Not a registered person: no profile to show, and pings store nothing.
		await expectProblem(await call("GET", `/v1/users/${userId}`, { key: t.secretKey }), 404);
		const exported = await callOk<{ profile: unknown; crmAttributes: unknown }>(
			"GET",
			`/v1/users/${userId}/export`,
			{ key: t.secretKey },
		);
		expect(exported.profile).toBeNull();
		expect(exported.crmAttributes).toEqual({ tier: "gold" });
		await callOk("DELETE", `/v1/users/${userId}`, { key: t.secretKey }, 204);
		await expectProblem(await call("GET", `/v1/users/${userId}/export`, { key: t.secretKey }), 404);
	});
});
