/**
 * Shared helpers for the workerd integration tests: tenants, fences, people, pings built
 * from `Date.now()`, a Web Push capture, and problem-document assertions.
 *
 * Every helper goes through the public HTTP API (`SELF.fetch`), so tests exercise the
 * same routes, auth and validation a client does.
 */
import { env, SELF } from "cloudflare:test";
import { expect, vi } from "vitest";

export const BASE = "https://api.test";
export const ADMIN_TOKEN = "test-admin-token";

/** A location in degrees. */
export interface LatLng {
	lat: number;
	lng: number;
}

export interface Tenant {
	id: string;
	name: string;
	secretKey: string;
	publishableKey: string;
	webhookSecret: string;
}

// ---------------------------------------------------------------------------
// HTTP

export interface CallOptions {
	/** Bearer token; omitted when undefined. */
	key?: string;
	/** JSON-serialised unless `raw` is given. */
	body?: unknown;
	/** Sent verbatim (for malformed JSON). */
	raw?: string;
	headers?: Record<string, string>;
}

/** One request to the Worker. */
export function call(method: string, path: string, opts: CallOptions = {}): Promise<Response> {
	const headers = new Headers(opts.headers);
	if (opts.key !== undefined) headers.set("authorization", `Bearer ${opts.key}`);
	let body: string | undefined;
	if (opts.raw !== undefined) body = opts.raw;
	else if (opts.body !== undefined) body = JSON.stringify(opts.body);
	if (body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json");
	return SELF.fetch(`${BASE}${path}`, { method, headers, body });
}

/** A request whose answer must be `status`; returns the parsed JSON body (null when empty). */
export async function callOk<T = Record<string, unknown>>(
	method: string,
	path: string,
	opts: CallOptions = {},
	status = 200,
): Promise<T> {
	const res = await call(method, path, opts);
	const text = await res.text();
	expect(res.status, `${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`).toBe(status);
	return (text ? JSON.parse(text) : null) as T;
}

export interface ProblemBody {
	type: string;
	title: string;
	status: number;
	code: string;
	detail?: string;
	errors?: { path: (string | number)[]; message: string; code?: string; [k: string]: unknown }[];
}

/** Asserts an RFC 9457 problem document with this status (and code, when given). */
export async function expectProblem(res: Response, status: number, code?: string): Promise<ProblemBody> {
	const text = await res.text();
	expect(res.status, `answered ${res.status}: ${text.slice(0, 500)}`).toBe(status);
	expect(res.headers.get("content-type") ?? "").toMatch(/^application\/problem\+json/);
	const body = JSON.parse(text) as ProblemBody;
	expect(body.status).toBe(status);
	expect(typeof body.code).toBe("string");
	expect(typeof body.type).toBe("string");
	expect(typeof body.title).toBe("string");
	// No stack traces reach clients.
	expect(text).not.toMatch(/\n\s+at |\.ts:\d+/);
	if (code !== undefined) expect(body.code).toBe(code);
	return body;
}

/** Asserts a 4xx problem document whose `errors[]` all carry an array `path`. */
export async function expectClientProblemWithPaths(res: Response): Promise<ProblemBody> {
	const text = await res.text();
	expect(res.status, `answered ${res.status}: ${text.slice(0, 500)}`).toBeGreaterThanOrEqual(400);
	expect(res.status, `answered ${res.status}: ${text.slice(0, 500)}`).toBeLessThan(500);
	expect(res.headers.get("content-type") ?? "").toMatch(/^application\/problem\+json/);
	const body = JSON.parse(text) as ProblemBody;
	expect(body.status).toBe(res.status);
	expect(Array.isArray(body.errors), `no errors[] in ${text.slice(0, 300)}`).toBe(true);
	expect(body.errors?.length).toBeGreaterThan(0);
	for (const e of body.errors ?? []) expect(Array.isArray(e.path)).toBe(true);
	return body;
}

// ---------------------------------------------------------------------------
// Tenants

let seq = 0;

/** A name unique to this test run, for tenants, users and devices. */
export function unique(prefix: string): string {
	seq += 1;
	return `${prefix}-${seq}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Creates a tenant. Unless `keepDefaultPressure`, marketing pressure is relaxed (no quiet
 * hours, no caps, no minimum interval) so a test's outcome does not depend on the time of
 * day it runs or on how many offers an earlier step sent.
 */
export async function createTenant(
	prefix: string,
	opts: { settings?: Record<string, unknown>; keepDefaultPressure?: boolean } = {},
): Promise<Tenant> {
	const t = await callOk<Tenant>(
		"POST",
		"/v1/tenants",
		{ key: ADMIN_TOKEN, body: { name: unique(prefix), timezone: "Europe/Paris" } },
		201,
	);
	const settings = {
		...(opts.keepDefaultPressure
			? {}
			: { quietHours: null, caps: { perDay: 100, perWeek: 500 }, minIntervalSeconds: 0 }),
		...opts.settings,
	};
	if (Object.keys(settings).length > 0)
		await callOk("PUT", "/v1/settings", { key: t.secretKey, body: settings });
	return t;
}

// ---------------------------------------------------------------------------
// Geometry

const EARTH_RADIUS_M = 6_371_008.8;
const DEG = Math.PI / 180;

/** The point `north` and `east` metres away (local flat approximation, fine below a few km). */
export function offset(p: LatLng, north: number, east: number): LatLng {
	return {
		lat: p.lat + north / EARTH_RADIUS_M / DEG,
		lng: p.lng + east / (EARTH_RADIUS_M * Math.cos(p.lat * DEG)) / DEG,
	};
}

/** Great-circle distance in metres. */
export function distanceMeters(a: LatLng, b: LatLng): number {
	const dLat = (b.lat - a.lat) * DEG;
	const dLng = (b.lng - a.lng) * DEG;
	const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * DEG) * Math.cos(b.lat * DEG) * Math.sin(dLng / 2) ** 2;
	return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

export type Position = [number, number];
export type Ring = Position[];

export interface FenceProps {
	id: string;
	name?: string;
	tags?: string[];
	radius?: number;
	dwellSeconds?: number;
	metadata?: Record<string, unknown>;
}

export interface Feature {
	type: "Feature";
	geometry: { type: string; coordinates: unknown };
	properties: FenceProps & Record<string, unknown>;
}

const pos = (p: LatLng): Position => [p.lng, p.lat];

/** A closed counter-clockwise ring of an axis-aligned rectangle around `center`. */
export function rectRing(center: LatLng, halfNorth: number, halfEast: number): Ring {
	const sw = offset(center, -halfNorth, -halfEast);
	const ne = offset(center, halfNorth, halfEast);
	return [
		[sw.lng, sw.lat],
		[ne.lng, sw.lat],
		[ne.lng, ne.lat],
		[sw.lng, ne.lat],
		[sw.lng, sw.lat],
	];
}

/** A square Polygon fence of side `2 * half` metres. */
export function squareFence(
	id: string,
	center: LatLng,
	half: number,
	props: Omit<FenceProps, "id"> = {},
): Feature {
	return {
		type: "Feature",
		geometry: { type: "Polygon", coordinates: [rectRing(center, half, half)] },
		properties: { id, ...props },
	};
}

/** A circle fence: Point + radius. */
export function circleFence(
	id: string,
	center: LatLng,
	radius: number,
	props: Omit<FenceProps, "id"> = {},
): Feature {
	return {
		type: "Feature",
		geometry: { type: "Point", coordinates: pos(center) },
		properties: { id, radius, ...props },
	};
}

/** A Polygon fence from explicit rings. */
export function polygonFence(id: string, rings: Ring[], props: Omit<FenceProps, "id"> = {}): Feature {
	return { type: "Feature", geometry: { type: "Polygon", coordinates: rings }, properties: { id, ...props } };
}

export function featureCollection(features: unknown[]): { type: "FeatureCollection"; features: unknown[] } {
	return { type: "FeatureCollection", features };
}

export interface UploadResult {
	created: number;
	updated: number;
	upserted: number;
	unchanged: number;
	version: number;
}

/** PUT /v1/geofences, expecting 200. */
export function uploadFences(t: Tenant, features: unknown[]): Promise<UploadResult> {
	return callOk<UploadResult>("PUT", "/v1/geofences", {
		key: t.secretKey,
		body: featureCollection(features),
	});
}

// ---------------------------------------------------------------------------
// People and devices

export const PUSH_ORIGIN = "http://127.0.0.1:9";

/** The loopback push endpoint of subscription `name` (answered by {@link capturePush}). */
export function pushEndpoint(name: string): string {
	return `${PUSH_ORIGIN}/push/${name}`;
}

function base64url(bytes: Uint8Array): string {
	let s = "";
	for (const b of bytes) s += String.fromCharCode(b);
	return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** A browser-like PushSubscription.toJSON() with real P-256 and auth keys. */
export async function webPushSubscription(name: string): Promise<{
	endpoint: string;
	expirationTime: null;
	keys: { p256dh: string; auth: string };
}> {
	const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
		"deriveBits",
	])) as CryptoKeyPair;
	const raw = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
	return {
		endpoint: pushEndpoint(name),
		expirationTime: null,
		keys: { p256dh: base64url(raw), auth: base64url(crypto.getRandomValues(new Uint8Array(16))) },
	};
}

export interface UserOptions {
	consent?: { location: boolean; push: boolean };
	firstName?: string;
	locale?: string;
}

const userTokens = new Map<string, Promise<string>>();

/**
 * A user token for one person, minted with the tenant's secret key as a tenant's back end
 * would (cached per tenant and person for the test run): what the person's app sends.
 */
export function userKey(t: Tenant, userId: string): Promise<string> {
	const k = `${t.id}:${userId}`;
	let token = userTokens.get(k);
	if (!token) {
		token = callOk<{ token: string }>(
			"POST",
			`/v1/users/${userId}/tokens`,
			{ key: t.secretKey, body: { ttlSeconds: 3600 } },
			201,
		).then((r) => r.token);
		userTokens.set(k, token);
	}
	return token;
}

/** PUT /v1/users/{userId} (consent to both by default), with the person's user token. */
export async function putUser(
	t: Tenant,
	userId: string,
	opts: UserOptions = {},
): Promise<Record<string, unknown>> {
	return callOk("PUT", `/v1/users/${userId}`, {
		key: await userKey(t, userId),
		body: {
			consent: opts.consent ?? { location: true, push: true },
			...(opts.firstName ? { firstName: opts.firstName } : {}),
			...(opts.locale ? { locale: opts.locale } : {}),
		},
	});
}

/** PUT /v1/users/{userId}/devices/{deviceId} with a web push subscription to {@link pushEndpoint}(endpointName). */
export async function putWebDevice(
	t: Tenant,
	userId: string,
	deviceId: string,
	endpointName: string,
): Promise<Record<string, unknown>> {
	return callOk("PUT", `/v1/users/${userId}/devices/${deviceId}`, {
		key: await userKey(t, userId),
		body: { platform: "web", webPush: await webPushSubscription(endpointName) },
	});
}

export interface UserView {
	userId: string;
	consent: { location: boolean; push: boolean };
	devices: { deviceId: string; platform: string; pushEndpointHost: string | null }[];
	insideGeofences: string[];
	[k: string]: unknown;
}

/** GET /v1/users/{userId}, expecting 200. */
export function getUser(t: Tenant, userId: string): Promise<UserView> {
	return callOk<UserView>("GET", `/v1/users/${userId}`, { key: t.secretKey });
}

export interface Person {
	userId: string;
	deviceId: string;
	/** Name of the push endpoint, see {@link pushEndpoint}. */
	endpoint: string;
}

/** A consenting person with one web device. */
export async function registerPerson(t: Tenant, prefix: string, opts: UserOptions = {}): Promise<Person> {
	const userId = unique(prefix);
	const deviceId = unique("dev");
	const endpoint = unique(`ep-${prefix}`);
	await putUser(t, userId, opts);
	await putWebDevice(t, userId, deviceId, endpoint);
	return { userId, deviceId, endpoint };
}

// ---------------------------------------------------------------------------
// Pings

export interface PingIn {
	lat: number;
	lng: number;
	accuracy: number;
	timestamp: number | string;
}

/** A ping at `p`, `agoMs` before now. */
export function ping(p: LatLng, agoMs = 0, accuracy = 5): PingIn {
	return { lat: p.lat, lng: p.lng, accuracy, timestamp: Date.now() - agoMs };
}

/**
 * A person's walk: each step is a ping `stepMs` after the previous one, starting
 * `startAgoMs` before now, so speeds stay believable and nothing is out of order.
 */
export function walker(startAgoMs = 5 * 60_000, stepMs = 10_000) {
	let t = Date.now() - startAgoMs;
	return {
		/** The next ping, `dtMs` (default `stepMs`) after the previous one. */
		at(p: LatLng, accuracy = 5, dtMs = stepMs): PingIn {
			t += dtMs;
			return { lat: p.lat, lng: p.lng, accuracy, timestamp: t };
		},
		/** The timestamp of the next step, without taking it. */
		peek(): number {
			return t + stepMs;
		},
	};
}

export interface DecisionOut {
	offerId?: string;
	campaignId: string;
	variantId?: string;
	decision: "sent" | "holdout" | "suppressed";
	reason?: string;
}

export interface PingAnswer {
	received: number;
	events: { type: "enter" | "exit" | "dwell"; geofenceId: string; at: string }[];
	offers: DecisionOut[];
	rejected?: { index: number; reason: string }[];
}

/** POST /v1/pings with the person's user token, expecting 200. */
export async function postPings(
	t: Tenant,
	userId: string,
	pings: PingIn[],
	deviceId?: string,
): Promise<PingAnswer> {
	return callOk<PingAnswer>("POST", "/v1/pings", {
		key: await userKey(t, userId),
		body: { userId, ...(deviceId ? { deviceId } : {}), pings },
	});
}

/** The events of an answer as `type:geofenceId` strings, in order. */
export function eventsOf(a: PingAnswer): string[] {
	return a.events.map((e) => `${e.type}:${e.geofenceId}`);
}

export interface LoggedDecision {
	trigger: { type: string; on?: string; geofenceId?: string; at?: string } & Record<string, unknown>;
	campaignId: string;
	variantId: string | null;
	decision: string;
	reason: string | null;
	offerId: string | null;
	at: string;
}

/** GET /v1/users/{userId}/decisions. */
export async function decisionsOf(t: Tenant, userId: string): Promise<LoggedDecision[]> {
	return (
		await callOk<{ decisions: LoggedDecision[] }>("GET", `/v1/users/${userId}/decisions`, {
			key: t.secretKey,
		})
	).decisions;
}

/** The person's Durable Object, as the Worker names it. */
export function shopperStub(t: Tenant, userId: string): DurableObjectStub {
	return env.SHOPPER.get(env.SHOPPER.idFromName(`${t.id}:${userId}`));
}

// ---------------------------------------------------------------------------
// Campaigns

/** A valid campaign body; `overrides` replace top-level fields. */
export function campaignBody(id: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
	return {
		id,
		name: `Campaign ${id}`,
		status: "active",
		priority: 10,
		trigger: { type: "geofence", on: "enter", tags: ["grocery"] },
		variants: [
			{
				id: "a",
				weight: 1,
				title: '{{ firstName | default: "Hi" }}, beer is -20%',
				body: "Two minutes away at {{ geofence.name }}",
				url: "https://shop.example/beer",
			},
		],
		ttlSeconds: 1800,
		cooldownSeconds: 86_400,
		...overrides,
	};
}

/** POST /v1/campaigns, expecting 201. */
export function createCampaign(
	t: Tenant,
	id: string,
	overrides: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
	return callOk("POST", "/v1/campaigns", { key: t.secretKey, body: campaignBody(id, overrides) }, 201);
}

// ---------------------------------------------------------------------------
// Push capture

export interface CapturedPush {
	/** The endpoint name (last path segment). */
	name: string;
	url: string;
	method: string;
	/** Lower-case header names. */
	headers: Record<string, string>;
	bodyBytes: number;
	/** The status the capture answered with. */
	status: number;
}

/**
 * Intercepts outgoing push requests: the ShopperDO runs in the test isolate, so its
 * `fetch` is the global one. Requests to {@link PUSH_ORIGIN}/push/* are recorded and
 * answered 201 (or what {@link respondWith} scripted); anything else passes through.
 * Undone by `vi.restoreAllMocks()`.
 */
export function capturePush() {
	const original = globalThis.fetch;
	const sent: CapturedPush[] = [];
	const scripted = new Map<string, number>();
	vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
		const req = new Request(input, init);
		if (!req.url.startsWith(`${PUSH_ORIGIN}/push/`)) return original(input, init);
		const name = req.url.slice(`${PUSH_ORIGIN}/push/`.length);
		const headers: Record<string, string> = {};
		req.headers.forEach((v, k) => {
			headers[k.toLowerCase()] = v;
		});
		const bodyBytes = (await req.arrayBuffer()).byteLength;
		const status = scripted.get(name) ?? 201;
		sent.push({ name, url: req.url, method: req.method, headers, bodyBytes, status });
		return new Response(null, { status });
	});
	return {
		sent,
		/** Answers every later push to endpoint `name` with `status`. */
		respondWith(name: string, status: number): void {
			scripted.set(name, status);
		},
		to(name: string): CapturedPush[] {
			return sent.filter((p) => p.name === name);
		},
	};
}
