/**
 * Bad input on every endpoint: malformed JSON, wrong content types, wrong types, NaN-like
 * values, oversized arrays, out-of-range coordinates, unknown fields and bad path ids all
 * yield a 4xx problem document (with `errors[].path` for validation), never a 5xx, and
 * change nothing.
 */
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import {
	ADMIN_TOKEN,
	call,
	callOk,
	campaignBody,
	createCampaign,
	createTenant,
	expectClientProblemWithPaths,
	expectProblem,
	featureCollection,
	getUser,
	postPings,
	putUser,
	squareFence,
	type Tenant,
	userKey,
	webPushSubscription,
} from "./helpers";

const GENOA = { lat: 44.4056, lng: 8.9463 };

let t: Tenant;
/** The user token of person u1, whom the app routes below act for. */
let u1: string;
let subscription: Awaited<ReturnType<typeof webPushSubscription>>;

beforeAll(async () => {
	t = await createTenant("robust");
	await createCampaign(t, "c1");
	await putUser(t, "u1");
	u1 = await userKey(t, "u1");
	subscription = await webPushSubscription("robust");
});

interface Endpoint {
	name: string;
	method: string;
	path: string;
	key: () => string;
	/** A body the endpoint accepts. */
	valid: () => unknown;
	/** Bodies that must be refused, with a path expected among `errors[]` when given. */
	invalid: () => { label: string; body?: unknown; raw?: string; path?: (string | number)[] }[];
}

const ping = (over: Record<string, unknown> = {}) => ({
	lat: GENOA.lat,
	lng: GENOA.lng,
	accuracy: 5,
	timestamp: Date.now() - 1000,
	...over,
});

const ENDPOINTS: Endpoint[] = [
	{
		name: "POST /v1/tenants",
		method: "POST",
		path: "/v1/tenants",
		key: () => ADMIN_TOKEN,
		valid: () => ({ name: "robust-tenant" }),
		invalid: () => [
			{ label: "number name", body: { name: 5 }, path: ["name"] },
			{ label: "empty name", body: { name: "   " }, path: ["name"] },
			{ label: "bad timezone", body: { name: "x", timezone: "Mars/Olympus" }, path: ["timezone"] },
			{ label: "unknown field", body: { name: "x", plan: "gold" } },
			{ label: "array body", body: [] },
			{ label: "null body", raw: "null" },
		],
	},
	{
		name: "PUT /v1/settings",
		method: "PUT",
		path: "/v1/settings",
		key: () => t.secretKey,
		valid: () => ({ minIntervalSeconds: 0 }),
		invalid: () => [
			{ label: "string number", body: { maxAccuracyMeters: "50" }, path: ["maxAccuracyMeters"] },
			{ label: "NaN-like string", body: { maxAccuracyMeters: "NaN" }, path: ["maxAccuracyMeters"] },
			{ label: "Infinity literal", raw: '{"maxAccuracyMeters": 1e999}', path: ["maxAccuracyMeters"] },
			{ label: "nested wrong type", body: { caps: { perDay: "two" } }, path: ["caps", "perDay"] },
			{
				label: "bad clock",
				body: { quietHours: { start: "25:00", end: "09:00" } },
				path: ["quietHours", "start"],
			},
			{ label: "unknown field", body: { colour: "red" } },
		],
	},
	{
		name: "PUT /v1/geofences",
		method: "PUT",
		path: "/v1/geofences",
		key: () => t.secretKey,
		valid: () => featureCollection([squareFence("robust-store", GENOA, 100)]),
		invalid: () => [
			{
				label: "features not an array",
				body: { type: "FeatureCollection", features: "x" },
				path: ["features"],
			},
			{ label: "no features", body: { type: "FeatureCollection", features: [] }, path: ["features"] },
			{ label: "not an object", body: 42 },
			{
				label: "string coordinates",
				body: featureCollection([
					{
						type: "Feature",
						geometry: { type: "Point", coordinates: ["8.9", "NaN"] },
						properties: { id: "s", radius: 50 },
					},
				]),
				path: ["features", 0, "geometry", "coordinates", 0],
			},
			{
				label: "Infinity coordinate",
				raw: '{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1e999,44]},"properties":{"id":"s","radius":50}}]}',
				path: ["features", 0, "geometry", "coordinates", 0],
			},
			{
				label: "10k tags",
				body: featureCollection([
					{
						...squareFence("s", GENOA, 100),
						properties: { id: "s", tags: Array.from({ length: 10_000 }, (_, i) => `t${i}`) },
					},
				]),
				path: ["features", 0, "properties", "tags"],
			},
			{
				label: "bad id",
				body: featureCollection([
					{ ...squareFence("s", GENOA, 100), properties: { id: "no spaces allowed" } },
				]),
				path: ["features", 0, "properties", "id"],
			},
			{
				label: "LineString",
				body: featureCollection([
					{
						type: "Feature",
						geometry: {
							type: "LineString",
							coordinates: [
								[0, 0],
								[1, 1],
							],
						},
						properties: { id: "l" },
					},
				]),
				path: ["features", 0, "geometry", "type"],
			},
		],
	},
	{
		name: "POST /v1/campaigns",
		method: "POST",
		path: "/v1/campaigns",
		key: () => t.secretKey,
		valid: () => campaignBody(`robust-${crypto.randomUUID().slice(0, 8)}`),
		invalid: () => [
			{ label: "string priority", body: campaignBody("x", { priority: "high" }), path: ["priority"] },
			{ label: "NaN-like priority", body: campaignBody("x", { priority: "NaN" }), path: ["priority"] },
			{
				label: "10k tags",
				body: campaignBody("x", {
					// Short tags keep the body under the 64 KB limit, so validation (not size) refuses it.
					trigger: {
						type: "geofence",
						on: "enter",
						tags: Array.from({ length: 10_000 }, (_, i) => String(i % 10)),
					},
				}),
				path: ["trigger", "tags"],
			},
			{
				label: "bad trigger type",
				body: campaignBody("x", { trigger: { type: "telepathy" } }),
				path: ["trigger", "type"],
			},
			{ label: "no variants", body: campaignBody("x", { variants: [] }), path: ["variants"] },
			{ label: "holdout 101", body: campaignBody("x", { holdoutPercent: 101 }), path: ["holdoutPercent"] },
			{ label: "bad id", body: campaignBody("has space"), path: ["id"] },
			{ label: "unknown field", body: campaignBody("x", { budget: 1000 }) },
			{
				label: "javascript url",
				body: campaignBody("x", {
					variants: [{ id: "a", title: "t", body: "b", url: "javascript:alert(1)" }],
				}),
				path: ["variants", 0, "url"],
			},
		],
	},
	{
		name: "PATCH /v1/campaigns/{id}",
		method: "PATCH",
		path: "/v1/campaigns/c1",
		key: () => t.secretKey,
		valid: () => ({ priority: 3 }),
		invalid: () => [
			{ label: "string priority", body: { priority: "3" }, path: ["priority"] },
			{ label: "bad status", body: { status: "deleted" }, path: ["status"] },
			{ label: "unknown field", body: { owner: "me" } },
			{ label: "null body", raw: "null" },
		],
	},
	{
		name: "PUT /v1/users/{userId}",
		method: "PUT",
		path: "/v1/users/u1",
		key: () => u1,
		valid: () => ({ consent: { location: true, push: true } }),
		invalid: () => [
			{ label: "missing consent", body: {}, path: ["consent"] },
			{
				label: "string consent",
				body: { consent: { location: "yes", push: true } },
				path: ["consent", "location"],
			},
			{
				label: "bad locale",
				body: { consent: { location: true, push: true }, locale: "not a locale!" },
				path: ["locale"],
			},
			{
				label: "bad timezone",
				body: { consent: { location: true, push: true }, timezone: "Nowhere/Land" },
				path: ["timezone"],
			},
			{
				label: "huge attributes",
				body: { consent: { location: true, push: true }, attributes: { blob: "x".repeat(10_000) } },
				path: ["attributes"],
			},
			{ label: "unknown field", body: { consent: { location: true, push: true }, password: "x" } },
		],
	},
	{
		name: "PUT /v1/users/{userId}/devices/{deviceId}",
		method: "PUT",
		path: "/v1/users/u1/devices/d1",
		key: () => u1,
		valid: () => ({ platform: "web", webPush: subscription }),
		invalid: () => [
			{ label: "bad platform", body: { platform: "symbian" }, path: ["platform"] },
			{ label: "web without subscription", body: { platform: "web" }, path: ["webPush"] },
			{
				label: "endpoint not a url",
				body: { platform: "web", webPush: { ...subscription, endpoint: "not a url" } },
				path: ["webPush", "endpoint"],
			},
			{
				label: "endpoint not a push service",
				body: { platform: "web", webPush: { ...subscription, endpoint: "https://evil.example/steal" } },
				path: ["webPush", "endpoint"],
			},
			{
				label: "endpoint on a private network",
				body: { platform: "web", webPush: { ...subscription, endpoint: "http://10.0.0.1/push" } },
				path: ["webPush", "endpoint"],
			},
			{
				label: "short p256dh",
				body: {
					platform: "web",
					webPush: { ...subscription, keys: { ...subscription.keys, p256dh: "AAAA" } },
				},
				path: ["webPush", "keys", "p256dh"],
			},
			{ label: "unknown field", body: { platform: "android", fcmToken: "tok", imei: "123" } },
		],
	},
	{
		name: "POST /v1/pings",
		method: "POST",
		path: "/v1/pings",
		key: () => u1,
		valid: () => ({ userId: "u1", pings: [ping()] }),
		invalid: () => [
			{ label: "no pings", body: { userId: "u1", pings: [] }, path: ["pings"] },
			{
				label: "101 pings",
				body: { userId: "u1", pings: Array.from({ length: 101 }, () => ping()) },
				path: ["pings"],
			},
			{
				label: "string lat",
				body: { userId: "u1", pings: [ping({ lat: "44.4" })] },
				path: ["pings", 0, "lat"],
			},
			{
				label: "NaN-like lat",
				body: { userId: "u1", pings: [ping({ lat: "NaN" })] },
				path: ["pings", 0, "lat"],
			},
			{
				label: "Infinity lng",
				raw: `{"userId":"u1","pings":[{"lat":44,"lng":1e999,"accuracy":5,"timestamp":${Date.now()}}]}`,
				path: ["pings", 0, "lng"],
			},
			{ label: "lat 91", body: { userId: "u1", pings: [ping({ lat: 91 })] }, path: ["pings", 0, "lat"] },
			{ label: "lng -181", body: { userId: "u1", pings: [ping({ lng: -181 })] }, path: ["pings", 0, "lng"] },
			{
				label: "negative accuracy",
				body: { userId: "u1", pings: [ping({ accuracy: -1 })] },
				path: ["pings", 0, "accuracy"],
			},
			{
				label: "bad timestamp",
				body: { userId: "u1", pings: [ping({ timestamp: "yesterday" })] },
				path: ["pings", 0, "timestamp"],
			},
			{
				label: "float timestamp",
				body: { userId: "u1", pings: [ping({ timestamp: 1.5 })] },
				path: ["pings", 0, "timestamp"],
			},
			{ label: "bad userId", body: { userId: "a/b", pings: [ping()] }, path: ["userId"] },
			{ label: "long userId", body: { userId: "u".repeat(129), pings: [ping()] }, path: ["userId"] },
			{ label: "unknown ping field", body: { userId: "u1", pings: [ping({ altitude: 3 })] } },
			{ label: "unknown field", body: { userId: "u1", pings: [ping()], extra: true } },
		],
	},
];

describe.each(ENDPOINTS)("$name", (ep) => {
	it("accepts its valid body (sanity check of this table)", async () => {
		const res = await call(ep.method, ep.path, { key: ep.key(), body: ep.valid() });
		expect(res.status, await res.clone().text()).toBeLessThan(300);
	});

	it("answers 400 to malformed JSON", async () => {
		for (const raw of ['{"a":', "{'a': 1}", "", "\u0000", "[1,]"]) {
			await expectProblem(await call(ep.method, ep.path, { key: ep.key(), raw }), 400);
		}
	});

	it("answers 400 to a body that is not UTF-8", async () => {
		const res = await fetchBytes(ep, new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]));
		await expectProblem(res, 400);
	});

	it("answers 415 to a body that is not JSON", async () => {
		for (const type of [
			"text/plain",
			"application/x-www-form-urlencoded",
			"multipart/form-data; boundary=x",
		]) {
			const res = await call(ep.method, ep.path, {
				key: ep.key(),
				raw: JSON.stringify(ep.valid()),
				headers: { "content-type": type },
			});
			await expectProblem(res, 415);
		}
	});

	it("answers 4xx with errors[].path to invalid bodies", async () => {
		for (const bad of ep.invalid()) {
			const res = await call(ep.method, ep.path, {
				key: ep.key(),
				...(bad.raw !== undefined ? { raw: bad.raw } : { body: bad.body }),
			});
			const problem = await expectClientProblemWithPaths(res).catch((e: Error) => {
				throw new Error(`${bad.label}: ${e.message}`);
			});
			if (bad.path) {
				const paths = (problem.errors ?? []).map((e) => JSON.stringify(e.path));
				expect(paths, bad.label).toContain(JSON.stringify(bad.path));
			}
		}
	});
});

function fetchBytes(ep: Endpoint, bytes: Uint8Array): Promise<Response> {
	return SELF.fetch(`https://api.test${ep.path}`, {
		method: ep.method,
		headers: { authorization: `Bearer ${ep.key()}`, "content-type": "application/json" },
		body: bytes,
	});
}

describe("refused input changes nothing", () => {
	it("keeps settings after a refused PUT", async () => {
		const own = await createTenant("robust-settings");
		const before = await callOk("GET", "/v1/settings", { key: own.secretKey });
		await expectProblem(
			await call("PUT", "/v1/settings", {
				key: own.secretKey,
				body: { maxAccuracyMeters: 30, caps: { perDay: -1 } },
			}),
			422,
		);
		expect(await callOk("GET", "/v1/settings", { key: own.secretKey })).toEqual(before);
	});

	it("processes no ping of a batch that fails validation", async () => {
		const own = await createTenant("robust-pings");
		await callOk("PUT", "/v1/geofences", {
			key: own.secretKey,
			body: featureCollection([squareFence("s", GENOA, 100)]),
		});
		await putUser(own, "walker");
		await expectProblem(
			await call("POST", "/v1/pings", {
				key: await userKey(own, "walker"),
				body: { userId: "walker", pings: [ping(), ping({ lat: 200 })] },
			}),
			422,
			"validation_failed",
		);
		expect((await getUser(own, "walker")).insideGeofences).toEqual([]);
		const a = await postPings(own, "walker", [ping()]);
		expect(a.events.map((e) => e.type)).toEqual(["enter"]);
	});

	it("does not create a user from a refused device registration", async () => {
		const own = await createTenant("robust-device");
		await expectProblem(
			await call("PUT", "/v1/users/ghost/devices/d1", {
				key: await userKey(own, "ghost"),
				body: { platform: "web", webPush: subscription },
			}),
			404,
			"not_found",
		);
		await expectProblem(await call("GET", "/v1/users/ghost", { key: own.secretKey }), 404, "not_found");
	});
});

describe("oversized bodies", () => {
	it("answers 413 to a settings body over the limit", async () => {
		const raw = JSON.stringify({ timezone: "UTC", pad: "x".repeat(200_000) });
		await expectProblem(await call("PUT", "/v1/settings", { key: t.secretKey, raw }), 413);
	});

	it("answers 413 to a ping batch over the limit", async () => {
		const raw = JSON.stringify({ userId: "u1", pings: [ping()], pad: "x".repeat(300_000) });
		await expectProblem(await call("POST", "/v1/pings", { key: u1, raw }), 413);
	});
});

describe("bad path ids", () => {
	const BAD_IDS = [
		"x".repeat(129),
		"has%20space",
		"dollar$",
		"%E0%A4%A",
		"%00",
		"semi;colon",
		"%C3%A9t%C3%A9",
		"a%2Fb",
	];
	const routes: { method: string; path: (id: string) => string; key: () => string; body?: () => unknown }[] =
		[
			{ method: "GET", path: (id) => `/v1/geofences/${id}`, key: () => t.secretKey },
			{ method: "DELETE", path: (id) => `/v1/geofences/${id}`, key: () => t.secretKey },
			{ method: "GET", path: (id) => `/v1/campaigns/${id}`, key: () => t.secretKey },
			{
				method: "PATCH",
				path: (id) => `/v1/campaigns/${id}`,
				key: () => t.secretKey,
				body: () => ({ priority: 1 }),
			},
			{ method: "DELETE", path: (id) => `/v1/campaigns/${id}`, key: () => t.secretKey },
			{ method: "GET", path: (id) => `/v1/users/${id}`, key: () => t.secretKey },
			{ method: "DELETE", path: (id) => `/v1/users/${id}`, key: () => t.secretKey },
			{ method: "GET", path: (id) => `/v1/users/${id}/decisions`, key: () => t.secretKey },
			{
				method: "PUT",
				path: (id) => `/v1/users/${id}`,
				key: () => u1,
				body: () => ({ consent: { location: true, push: true } }),
			},
			{
				method: "PUT",
				path: (id) => `/v1/users/u1/devices/${id}`,
				key: () => u1,
				body: () => ({ platform: "android", fcmToken: "tok" }),
			},
			{
				method: "PUT",
				path: (id) => `/v1/users/${id}/devices/d1`,
				key: () => u1,
				body: () => ({ platform: "android", fcmToken: "tok" }),
			},
		];

	for (const r of routes) {
		it(`${r.method} ${r.path("{id}")} answers 4xx problem documents`, async () => {
			for (const id of BAD_IDS) {
				const res = await call(r.method, r.path(id), { key: r.key(), ...(r.body ? { body: r.body() } : {}) });
				const text = await res.clone().text();
				expect(res.status, `${id}: ${text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
				expect(res.status, `${id}: ${text.slice(0, 200)}`).toBeLessThan(500);
				await expectProblem(res, res.status);
			}
		});
	}

	it("answers 422 with errors[].path for an id that is too long", async () => {
		const res = await call("GET", `/v1/users/${"x".repeat(129)}`, { key: t.secretKey });
		const p = await expectClientProblemWithPaths(res);
		expect(p.status).toBe(422);
	});
});

describe("bad query parameters", () => {
	it("answer 4xx problem documents on list endpoints", async () => {
		for (const path of [
			"/v1/users/u1/decisions?limit=abc",
			"/v1/users/u1/decisions?limit=0",
			"/v1/users/u1/decisions?limit=1e3",
			"/v1/users/u1/decisions?limit=99999",
			"/v1/geofences?limit=NaN",
			"/v1/geofences?limit=-5",
			"/v1/geofences?cursor=!!!",
		]) {
			const res = await call("GET", path, { key: t.secretKey });
			expect(res.status, path).toBeGreaterThanOrEqual(400);
			expect(res.status, path).toBeLessThan(500);
			await expectProblem(res, res.status);
		}
	});
});

describe("unknown routes", () => {
	it("answer 404 problem documents", async () => {
		for (const [method, path] of [
			["GET", "/"],
			["GET", "/nope"],
			["GET", "/v2/geofences"],
			["POST", "/healthz"],
			["GET", "/v1/tenants"],
			["DELETE", "/v1/settings"],
			["GET", "/v1/users"],
			["GET", "/v1/users/u1/devices"],
		] as const) {
			await expectProblem(await call(method, path, { key: t.secretKey }), 404, "not_found");
		}
	});
});
