/**
 * Unauthenticated endpoints: liveness, the OpenAPI document, the VAPID public key.
 */
import { describe, expect, it } from "vitest";
import { call, callOk } from "./helpers";

/** The contract's paths (API.md) this service implements, in OpenAPI template form. */
const CONTRACT: [method: string, path: string][] = [
	["get", "/healthz"],
	["get", "/openapi.json"],
	["get", "/v1/push/vapid-public-key"],
	["post", "/v1/tenants"],
	["get", "/v1/settings"],
	["put", "/v1/settings"],
	["put", "/v1/geofences"],
	["get", "/v1/geofences"],
	["get", "/v1/geofences/{id}"],
	["delete", "/v1/geofences/{id}"],
	["post", "/v1/campaigns"],
	["get", "/v1/campaigns"],
	["get", "/v1/campaigns/{id}"],
	["patch", "/v1/campaigns/{id}"],
	["delete", "/v1/campaigns/{id}"],
	["put", "/v1/users/{userId}"],
	["put", "/v1/users/{userId}/devices/{deviceId}"],
	["get", "/v1/users/{userId}"],
	["delete", "/v1/users/{userId}"],
	["get", "/v1/users/{userId}/decisions"],
	["post", "/v1/pings"],
];

interface OpenApiDoc {
	openapi: string;
	info: { title: string; version: string };
	paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown[] }>>;
	components?: { securitySchemes?: Record<string, unknown> };
}

describe("GET /healthz", () => {
	it("answers 200 {ok: true} without a key", async () => {
		const res = await call("GET", "/healthz");
		expect(res.status).toBe(200);
		expect(res.headers.get("content-type")).toMatch(/^application\/json/);
		expect(await res.json()).toEqual({ ok: true });
	});
});

describe("GET /openapi.json", () => {
	it("is an OpenAPI 3.1 document listing the contract's paths", async () => {
		const res = await call("GET", "/openapi.json");
		expect(res.status).toBe(200);
		expect(res.headers.get("content-type")).toMatch(/^application\/json/);
		const doc = (await res.json()) as OpenApiDoc;
		expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
		expect(typeof doc.info.title).toBe("string");
		expect(typeof doc.info.version).toBe("string");
		for (const [method, path] of CONTRACT) {
			expect(doc.paths[path]?.[method], `${method.toUpperCase()} ${path}`).toBeDefined();
			expect(Object.keys(doc.paths[path]?.[method]?.responses ?? {}).length).toBeGreaterThan(0);
		}
		const schemes = Object.keys(doc.components?.securitySchemes ?? {});
		expect(schemes.length).toBeGreaterThanOrEqual(3);
	});

	it("lists only routes that exist", async () => {
		const doc = await callOk<OpenApiDoc>("GET", "/openapi.json");
		for (const [path, ops] of Object.entries(doc.paths)) {
			for (const method of Object.keys(ops)) {
				const concrete = path.replaceAll(/\{\w+\}/g, "probe");
				const res = await call(method.toUpperCase(), concrete);
				// Without a key a real route answers 2xx, 401 or (for bodies) 4xx, never "no such route".
				const body = res.status === 404 ? ((await res.json()) as { code?: string }) : null;
				expect(body?.code, `${method.toUpperCase()} ${path}`).not.toBe("not_found");
				expect(res.status, `${method.toUpperCase()} ${path}`).toBeLessThan(500);
			}
		}
	});
});

describe("GET /v1/push/vapid-public-key", () => {
	it("returns the VAPID public key as base64url of an uncompressed P-256 point", async () => {
		const body = await callOk<{ publicKey: string }>("GET", "/v1/push/vapid-public-key");
		expect(body.publicKey).toMatch(/^[A-Za-z0-9_-]+$/);
		const bytes = Uint8Array.from(atob(body.publicKey.replaceAll("-", "+").replaceAll("_", "/")), (c) =>
			c.charCodeAt(0),
		);
		expect(bytes.length).toBe(65);
		expect(bytes[0]).toBe(4);
		// The key signs pushes: it can be imported as a P-256 public key.
		await crypto.subtle.importKey("raw", bytes, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
	});
});
