/**
 * CORS on the app routes only (worker/cors.ts): preflights answered the same for every
 * origin, the tenant's allowedOrigins enforced on the actual request before anything is
 * applied, public files readable by any origin, back-office routes never answering CORS.
 */

import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
	BASE,
	call,
	callOk,
	createTenant,
	expectProblem,
	getUser,
	type Tenant,
	unique,
	userKey,
} from "./helpers";

const SHOP = "https://shop.example";
const OTHER = "https://evil.example";

function preflight(path: string, origin: string, method: string, headers = "authorization, content-type") {
	return SELF.fetch(`${BASE}${path}`, {
		method: "OPTIONS",
		headers: {
			origin,
			"access-control-request-method": method,
			"access-control-request-headers": headers,
		},
	});
}

async function shopTenant(settings: Record<string, unknown> = {}): Promise<Tenant> {
	return createTenant("cors", { settings: { allowedOrigins: [SHOP], ...settings } });
}

function profile(userId: string, key: string, origin: string | null, firstName = "Ada") {
	return call("PUT", `/v1/users/${userId}`, {
		key,
		body: { firstName, consent: { location: true, push: true } },
		headers: origin === null ? {} : { origin, "sec-fetch-site": "cross-site" },
	});
}

describe("preflight", () => {
	it("answers an app route's preflight with its methods, headers and a cache lifetime", async () => {
		const res = await preflight("/v1/pings", SHOP, "POST");
		expect(res.status).toBe(204);
		expect(res.headers.get("access-control-allow-origin")).toBe(SHOP);
		expect(res.headers.get("access-control-allow-methods")).toBe("POST");
		expect(res.headers.get("access-control-allow-headers")?.split(/,\s*/).sort()).toEqual([
			"authorization",
			"content-type",
		]);
		expect(res.headers.get("access-control-max-age")).toBe("7200");
		expect(res.headers.get("vary")).toMatch(/\bOrigin\b/);
		expect(res.headers.get("access-control-allow-credentials")).toBeNull();
	});

	it("answers every origin alike, so a preflight tells nothing about any tenant's origins", async () => {
		await shopTenant();
		const a = await preflight("/v1/users/u1/devices/d1", SHOP, "PUT");
		const b = await preflight("/v1/users/u1/devices/d1", OTHER, "PUT");
		expect(a.status).toBe(b.status);
		const strip = (r: Response) =>
			[...r.headers].filter(([k]) => k !== "access-control-allow-origin" && k !== "date").sort();
		expect(strip(a)).toEqual(strip(b));
		expect(b.headers.get("access-control-allow-origin")).toBe(OTHER);
		expect(a.headers.get("access-control-allow-methods")?.split(/,\s*/).sort()).toEqual(["DELETE", "PUT"]);
	});

	it("never answers a back-office route's preflight", async () => {
		for (const [path, method] of [
			["/v1/geofences", "PUT"],
			["/v1/settings", "GET"],
			["/v1/campaigns", "POST"],
			["/v1/users/u1", "GET"], // the profile path: GET and DELETE are back office
			["/v1/users/u1", "DELETE"],
			["/v1/users/u1/tokens", "POST"],
			["/v1/events", "GET"],
			["/v1/tenants", "POST"],
		] as const) {
			const res = await preflight(path, SHOP, method);
			expect(res.headers.get("access-control-allow-origin"), `${method} ${path}`).toBeNull();
			expect(res.headers.get("access-control-allow-methods"), `${method} ${path}`).toBeNull();
			expect(res.status, `${method} ${path}`).not.toBe(204);
			await res.body?.cancel();
		}
		// The same profile path with the app's method is answered.
		const put = await preflight("/v1/users/u1", SHOP, "PUT");
		expect(put.status).toBe(204);
		expect(put.headers.get("access-control-allow-methods")).toBe("PUT");
	});
});

describe("actual requests", () => {
	it("lets a listed origin read the answer, with Vary and Retry-After exposed", async () => {
		const t = await shopTenant();
		const userId = unique("cors-ok");
		const res = await profile(userId, await userKey(t, userId), SHOP);
		expect(res.status).toBe(200);
		expect(res.headers.get("access-control-allow-origin")).toBe(SHOP);
		expect(res.headers.get("vary")).toMatch(/\bOrigin\b/);
		expect(res.headers.get("access-control-expose-headers")).toMatch(/retry-after/i);
		expect((await getUser(t, userId)).firstName).toBe("Ada");
	});

	it("refuses an origin the tenant does not list, before anything is applied", async () => {
		const t = await shopTenant();
		const userId = unique("cors-no");
		const key = await userKey(t, userId);
		await callOk("PUT", `/v1/users/${userId}`, {
			key,
			body: { firstName: "Before", consent: { location: true, push: true } },
		});
		const res = await profile(userId, key, OTHER, "After");
		expect(res.headers.get("access-control-allow-origin")).toBeNull();
		await expectProblem(res, 403, "origin_not_allowed");
		expect((await getUser(t, userId)).firstName).toBe("Before");

		const pings = await call("POST", "/v1/pings", {
			key,
			body: { userId, pings: [{ lat: 48.85, lng: 2.35, accuracy: 5, timestamp: Date.now() }] },
			headers: { origin: OTHER },
		});
		expect(pings.headers.get("access-control-allow-origin")).toBeNull();
		await expectProblem(pings, 403, "origin_not_allowed");
	});

	it("keeps tenants apart: one tenant's origin is not another's", async () => {
		await shopTenant();
		const other = await createTenant("cors-b", { settings: { allowedOrigins: ["https://b.example"] } });
		const userId = unique("cors-b");
		const res = await profile(userId, await userKey(other, userId), SHOP);
		await expectProblem(res, 403, "origin_not_allowed");
	});

	it("leaves requests without Origin (native apps, servers) and same-origin ones alone", async () => {
		const t = await createTenant("cors-none"); // allowedOrigins: []
		const userId = unique("cors-native");
		const key = await userKey(t, userId);
		const native = await profile(userId, key, null);
		expect(native.status).toBe(200);
		expect(native.headers.get("access-control-allow-origin")).toBeNull();
		// The service's own pages (the demo) and a same-origin proxy in front of it.
		expect((await profile(userId, key, BASE)).status).toBe(200);
		const proxied = await call("PUT", `/v1/users/${userId}`, {
			key,
			body: { consent: { location: true, push: true } },
			headers: { origin: SHOP, "sec-fetch-site": "same-origin" },
		});
		expect(proxied.status).toBe(200);
	});

	it('admits any origin with ["*"] and user tokens', async () => {
		const t = await createTenant("cors-star", { settings: { allowedOrigins: ["*"] } });
		const userId = unique("cors-star");
		const res = await profile(userId, await userKey(t, userId), OTHER);
		expect(res.status).toBe(200);
		expect(res.headers.get("access-control-allow-origin")).toBe(OTHER);
	});

	it("enforces the list for the publishable key too", async () => {
		const t = await shopTenant({ clientAuth: "publishable" });
		const userId = unique("cors-pk");
		expect((await profile(userId, t.publishableKey, SHOP)).status).toBe(200);
		await expectProblem(await profile(userId, t.publishableKey, OTHER), 403, "origin_not_allowed");
	});

	it("lets the page read a 401, so an SDK can fetch a new user token", async () => {
		const res = await profile("someone", "ut_not-a-token", OTHER);
		expect(res.headers.get("access-control-allow-origin")).toBe(OTHER);
		await expectProblem(res, 401);
	});

	it("serves the public VAPID key to any origin", async () => {
		const res = await SELF.fetch(`${BASE}/v1/push/vapid-public-key`, { headers: { origin: OTHER } });
		expect(res.status).toBe(200);
		expect(res.headers.get("access-control-allow-origin")).toBe("*");
		const pre = await preflight("/v1/push/vapid-public-key", OTHER, "GET", "authorization");
		expect(pre.status).toBe(204);
		expect(pre.headers.get("access-control-allow-origin")).toBe("*");
	});

	it("never adds CORS headers to back-office answers, even for a listed origin", async () => {
		const t = await shopTenant();
		for (const path of ["/v1/settings", "/v1/geofences", "/v1/campaigns"]) {
			const res = await call("GET", path, { key: t.secretKey, headers: { origin: SHOP } });
			expect(res.status, path).toBe(200);
			expect(res.headers.get("access-control-allow-origin"), path).toBeNull();
			await res.body?.cancel();
		}
		const userId = unique("cors-bo");
		await profile(userId, await userKey(t, userId), SHOP);
		const bo = await call("GET", `/v1/users/${userId}`, { key: t.secretKey, headers: { origin: SHOP } });
		expect(bo.status).toBe(200);
		expect(bo.headers.get("access-control-allow-origin")).toBeNull();
		await bo.body?.cancel();
	});
});
