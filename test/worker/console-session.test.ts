/**
 * Console sign-in (worker/routes/console.ts): the secret key exchanged for a short-lived
 * session token that stands for it on every secret-key route, and only there.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BASE, call, callOk, createTenant, expectProblem } from "./helpers.js";

interface Session {
	token: string;
	expiresAt: string;
}

const open = (key: string, body: unknown = {}) =>
	callOk<Session>("POST", "/v1/console/sessions", { key, body }, 201);

describe("console sessions", () => {
	it("exchanges the secret key for a cs_ token valid one hour, which acts as the secret key", async () => {
		const t = await createTenant("console-a");
		const before = Date.now();
		const res = await call("POST", "/v1/console/sessions", { key: t.secretKey, body: {} });
		expect(res.status).toBe(201);
		expect(res.headers.get("cache-control")).toBe("no-store");
		const s = (await res.json()) as Session;
		expect(s.token).toMatch(/^cs_[A-Za-z0-9_-]{43}$/);
		const ttl = Date.parse(s.expiresAt) - before;
		expect(ttl).toBeGreaterThan(3590_000);
		expect(ttl).toBeLessThanOrEqual(3600_000 + 5_000);
		const settings = await callOk<{ timezone: string }>("GET", "/v1/settings", { key: s.token });
		expect(settings.timezone).toBe("Europe/Paris");
		await callOk("PUT", "/v1/settings", { key: s.token, body: { maxAccuracyMeters: 80 } });
		expect(
			(await callOk<{ maxAccuracyMeters: number }>("GET", "/v1/settings", { key: t.secretKey }))
				.maxAccuracyMeters,
		).toBe(80);
	});

	it("stores only a hash of the token", async () => {
		const t = await createTenant("console-hash");
		const s = await open(t.secretKey);
		const rows = await env.DB.prepare("SELECT * FROM console_sessions WHERE tenant_id = ?").bind(t.id).all();
		expect(rows.results).toHaveLength(1);
		expect(JSON.stringify(rows.results)).not.toContain(s.token.slice(3));
		expect(JSON.stringify(rows.results)).not.toContain(t.secretKey.slice(3));
	});

	it("is opened only with the secret key: not a session, publishable key or garbage", async () => {
		const t = await createTenant("console-open");
		const s = await open(t.secretKey);
		await expectProblem(await call("POST", "/v1/console/sessions", { key: s.token, body: {} }), 401);
		await expectProblem(await call("POST", "/v1/console/sessions", { key: t.publishableKey, body: {} }), 401);
		await expectProblem(await call("POST", "/v1/console/sessions", { key: "sk_nope", body: {} }), 401);
		await expectProblem(await call("POST", "/v1/console/sessions", { body: {} }), 401);
		await expectProblem(await call("POST", "/v1/console/sessions", { key: "cs_forged", body: {} }), 401);
		await expectProblem(await call("GET", "/v1/settings", { key: "cs_forged" }), 401);
	});

	it("validates its body: ttlSeconds 60 to 3600, nothing else", async () => {
		const t = await createTenant("console-body");
		const short = await open(t.secretKey, { ttlSeconds: 60 });
		expect(Date.parse(short.expiresAt) - Date.now()).toBeLessThanOrEqual(60_000);
		const p = await expectProblem(
			await call("POST", "/v1/console/sessions", { key: t.secretKey, body: { ttlSeconds: 7200 } }),
			422,
		);
		expect(p.errors?.[0]?.path).toEqual(["ttlSeconds"]);
		await expectProblem(
			await call("POST", "/v1/console/sessions", { key: t.secretKey, body: { extra: true } }),
			422,
		);
		// An empty body is the default session.
		const res = await call("POST", "/v1/console/sessions", { key: t.secretKey, raw: "" });
		expect(res.status).toBe(201);
	});

	it("is not an app credential: user routes for people still need a user token", async () => {
		const t = await createTenant("console-app");
		const s = await open(t.secretKey);
		const res = await call("POST", "/v1/pings", {
			key: s.token,
			body: { userId: "u1", pings: [{ lat: 48.85, lng: 2.35, accuracy: 5, timestamp: Date.now() }] },
		});
		expect(res.status).toBe(401);
		await res.body?.cancel();
	});

	it("keeps tenants apart: a session of one tenant sees nothing of another", async () => {
		const a = await createTenant("console-ta");
		const b = await createTenant("console-tb");
		await callOk(
			"POST",
			"/v1/campaigns",
			{
				key: b.secretKey,
				body: {
					id: "b-only",
					name: "B",
					trigger: { type: "geofence", on: "enter", tags: ["x"] },
					variants: [{ id: "a", title: "Hi", body: "There" }],
				},
			},
			201,
		);
		const s = await open(a.secretKey);
		await expectProblem(await call("GET", "/v1/campaigns/b-only", { key: s.token }), 404);
		const list = await callOk<{ campaigns: unknown[] }>("GET", "/v1/campaigns", { key: s.token });
		expect(list.campaigns).toEqual([]);
	});

	it("ends with sign-out: the token is refused afterwards, other sessions keep working", async () => {
		const t = await createTenant("console-out");
		const s1 = await open(t.secretKey);
		const s2 = await open(t.secretKey);
		const res = await call("DELETE", "/v1/console/sessions/current", { key: s1.token });
		expect(res.status).toBe(204);
		await expectProblem(await call("GET", "/v1/settings", { key: s1.token }), 401);
		await expectProblem(await call("DELETE", "/v1/console/sessions/current", { key: s1.token }), 401);
		await callOk("GET", "/v1/settings", { key: s2.token });
		// The secret key itself is not a session to end.
		await expectProblem(await call("DELETE", "/v1/console/sessions/current", { key: t.secretKey }), 401);
		await callOk("GET", "/v1/settings", { key: t.secretKey });
	});

	it("is refused once expired", async () => {
		const t = await createTenant("console-exp");
		const s = await open(t.secretKey);
		await env.DB.prepare("UPDATE console_sessions SET expires_at = ? WHERE tenant_id = ?")
			.bind(new Date(Date.now() - 1000).toISOString(), t.id)
			.run();
		await expectProblem(await call("GET", "/v1/settings", { key: s.token }), 401);
	});

	it("ends with its secret key: rotated with no grace, the session is refused at once", async () => {
		const t = await createTenant("console-rot0");
		const s = await open(t.secretKey);
		const rotated = await callOk<{ secretKey: string }>("POST", "/v1/keys/rotate", {
			key: s.token,
			body: { kind: "secret", graceSeconds: 0 },
		});
		await expectProblem(await call("GET", "/v1/settings", { key: s.token }), 401);
		const s2 = await open(rotated.secretKey);
		await callOk("GET", "/v1/settings", { key: s2.token });
	});

	it("with a grace period, lives no longer than the old key", async () => {
		const t = await createTenant("console-rotg");
		const before = await open(t.secretKey);
		await callOk("POST", "/v1/keys/rotate", {
			key: t.secretKey,
			body: { kind: "secret", graceSeconds: 120 },
		});
		// Still valid during the grace period.
		await callOk("GET", "/v1/settings", { key: before.token });
		const during = await open(t.secretKey);
		expect(Date.parse(during.expiresAt) - Date.now()).toBeLessThanOrEqual(120_000);
		// Once the old key's grace is over, both sessions end with it.
		await env.DB.prepare("UPDATE api_keys SET expires_at = ? WHERE tenant_id = ? AND expires_at IS NOT NULL")
			.bind(new Date(Date.now() - 1000).toISOString(), t.id)
			.run();
		await expectProblem(await call("GET", "/v1/settings", { key: before.token }), 401);
		await expectProblem(await call("GET", "/v1/settings", { key: during.token }), 401);
	});
});

describe("console files (/console/, Workers Static Assets)", () => {
	it("serves the app with a strict CSP, no framing, no referrer, revalidated on each load", async () => {
		const res = await call("GET", "/console/");
		expect(res.status).toBe(200);
		expect(res.headers.get("content-type")).toMatch(/^text\/html/);
		const csp = res.headers.get("content-security-policy") ?? "";
		expect(csp).toContain("script-src 'self'");
		expect(csp).toContain("frame-ancestors 'none'");
		expect(csp).not.toMatch(/script-src[^;]*unsafe/);
		expect(res.headers.get("x-frame-options")).toBe("DENY");
		expect(res.headers.get("referrer-policy")).toBe("no-referrer");
		expect(res.headers.get("cache-control")).toBe("no-cache");
		const html = await res.text();
		const script = /<script[^>]+src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
		expect(script).toBeDefined();
		const js = await call("GET", script ?? "");
		expect(js.status).toBe(200);
		expect(js.headers.get("content-type")).toMatch(/javascript/);
		expect(js.headers.get("cache-control")).toContain("immutable");
		await js.body?.cancel();
	});

	it("redirects /console to /console/, answers any other page path with the app, and 404s a missing asset", async () => {
		const bare = await SELF.fetch(`${BASE}/console`, { redirect: "manual" });
		expect(bare.status).toBe(308);
		expect(new URL(bare.headers.get("location") ?? "", "https://api.test").pathname).toBe("/console/");
		const deep = await call("GET", "/console/campaigns");
		expect(deep.status).toBe(200);
		expect(await deep.text()).toContain('<div id="app">');
		const missing = await call("GET", "/console/assets/nope-123.js");
		expect(missing.status).toBe(404);
		await missing.body?.cancel();
	});
});
