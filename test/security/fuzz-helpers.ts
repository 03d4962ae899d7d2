/**
 * Machinery for test/security/fuzz.test.ts: the fixture world (three tenants, their people,
 * fences, campaigns and offers, all made through the public API), symbolic requests that
 * fast-check generates and this module turns into real ones (keys, offer ids, signatures and
 * times are resolved when the request is sent, so a rotated key or a new offer is picked up),
 * and snapshots of every piece of stored state the fuzz can reach: D1 rows of each tenant
 * and the storage (and alarm) of each person's and each GeoShard's Durable Object.
 */
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import fc from "fast-check";
import { SignJWT } from "jose";
import { expect, vi } from "vitest";
import { shardOfPoint } from "../../src/geo/shard.js";
import { signClick } from "../../src/offers/click.js";
import { signPayload } from "../../src/webhook/signature.js";
import { clickKey, hmacHex } from "../../worker/crypto.js";
import { SHARD_REPLICAS } from "../../worker/shards.js";
import { createCartCampaign } from "../worker/cart-helpers";
import {
	ADMIN_TOKEN,
	BASE,
	call,
	callOk,
	campaignBody,
	circleFence,
	createTenant,
	type LatLng,
	offset,
	putUser,
	squareFence,
	type Tenant,
	userKey,
	walker,
	webPushSubscription,
} from "../worker/helpers";

// ---------------------------------------------------------------------------
// The world

/** A (user_token tenant), P (clientAuth "publishable"), B (the other tenant). */
export const LABELS = ["A", "P", "B"] as const;
export type Label = (typeof LABELS)[number];

/** Where every fixture fence is (Toulouse). */
export const CENTER: LatLng = { lat: 43.6047, lng: 1.4442 };
export const AWAY: LatLng = offset(CENTER, 600, 0);
/** The second store, 3 km north. */
export const NORTH: LatLng = offset(CENTER, 3000, 0);

/** People the fuzz names in paths and bodies; each one's Durable Object is snapshotted. */
export const PEOPLE = ["alice", "bob", "ghost", "u.s@r:1-_"] as const;
/** Registered (consent, one web device "dev-1") in every tenant; "ghost" and "u.s@r:1-_" never are by the fixture. */
export const REGISTERED = ["alice", "bob"] as const;
/** Holds the offer the click and event routes use; never named by the fuzz, so never erased. */
export const OFFER_HOLDER = "olga";

export const BEER_URL = "https://shop.example/beer";
export const VARIANT_WITH_LINKS = {
	id: "a",
	weight: 1,
	title: '{{ firstName | default: "Hi" }}, beer is -20%',
	body: "Two minutes away at {{ geofence.name }}",
	url: BEER_URL,
	actions: [{ id: "add", title: "Add to cart", url: "https://shop.example/cart/add/beer" }],
};

export interface WorldTenant {
	label: Label;
	id: string;
	/** Current keys: updated when an accepted request rotates them. */
	sk: string;
	pk: string;
	whsec: string;
	/** The offer sent to {@link OFFER_HOLDER} during set-up. */
	offerId: string;
	/** GeoShard object names (`<cell>/<replica>`) whose rows are snapshotted. */
	shardKeys: Set<string>;
}

export interface World {
	t: Record<Label, WorldTenant>;
	/** A browser-like push subscription, for device bodies ("«sub»"). */
	subscription: Awaited<ReturnType<typeof webPushSubscription>>;
	/** D1 tables: name and whether rows carry a tenant_id. */
	tables: { name: string; tenantColumn: "tenant_id" | "id" | null }[];
}

/**
 * Every request the Worker makes (Web Push, FCM OAuth and send) is answered here with
 * success, so no offer is ever retried by an alarm in the middle of the fuzz.
 */
export function answerOutgoingFetches(): void {
	vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
		const req = new Request(input, init);
		await req.arrayBuffer();
		if (req.url.includes("fcm-token"))
			return Response.json({ access_token: "fake-access-token", expires_in: 3600, token_type: "Bearer" });
		if (req.url.includes("/fcm")) return Response.json({ name: "projects/fuzz/messages/1" });
		return new Response(null, { status: 201 });
	});
}

async function toTenant(label: Label): Promise<Tenant> {
	return createTenant(`fuzz-${label}`, label === "P" ? { settings: { clientAuth: "publishable" } } : {});
}

/** The fixture of one tenant; idempotent (run again before each fuzz block to undo what accepted requests did). */
export async function repairTenant(world: World, w: WorldTenant): Promise<void> {
	const t = asTenant(w);
	await callOk("PUT", "/v1/settings", {
		key: w.sk,
		body: {
			clientAuth: w.label === "P" ? "publishable" : "user_token",
			quietHours: null,
			caps: { perDay: 100, perWeek: 500 },
			minIntervalSeconds: 0,
			maxAccuracyMeters: 100,
			maxDevicesPerUser: 10,
			allowedOrigins: [],
		},
	});
	await callOk("PUT", "/v1/geofences", {
		key: w.sk,
		body: {
			type: "FeatureCollection",
			features: [
				squareFence("store-1", CENTER, 100, { name: "Store 1", tags: ["grocery"] }),
				circleFence("store-2", NORTH, 150, { name: "Store 2", tags: ["grocery"] }),
			],
		},
	});
	for (const [id, make] of [
		["beer", () => callOk("POST", "/v1/campaigns", { key: w.sk, body: beerCampaign() }, 201)],
		["cart-chips", () => createCartCampaign(t, "cart-chips")],
	] as const) {
		const res = await call("GET", `/v1/campaigns/${id}`, { key: w.sk });
		await res.arrayBuffer();
		if (res.status === 404) await make();
		else await callOk("PATCH", `/v1/campaigns/${id}`, { key: w.sk, body: { status: "active" } });
	}
	for (const u of REGISTERED) {
		await putUser(t, u);
		await callOk("PUT", `/v1/users/${u}/devices/dev-1`, {
			key: await userKey(t, u),
			body: { platform: "web", webPush: world.subscription },
		});
	}
}

function beerCampaign(): Record<string, unknown> {
	return campaignBody("beer", { variants: [VARIANT_WITH_LINKS] });
}

export function asTenant(w: WorldTenant): Tenant {
	return { id: w.id, name: w.label, secretKey: w.sk, publishableKey: w.pk, webhookSecret: w.whsec };
}

/** Builds the three tenants, their fences, campaigns, people, and one sent offer each. */
export async function buildWorld(): Promise<World> {
	const subscription = await webPushSubscription("fuzz");
	const tables = await d1Tables();
	const t = {} as Record<Label, WorldTenant>;
	for (const label of LABELS) {
		const tenant = await toTenant(label);
		const w: WorldTenant = {
			label,
			id: tenant.id,
			sk: tenant.secretKey,
			pk: tenant.publishableKey,
			whsec: tenant.webhookSecret,
			offerId: "",
			shardKeys: new Set(
				[CENTER, NORTH].flatMap((p) =>
					Array.from({ length: SHARD_REPLICAS }, (_, r) => `${shardOfPoint(p.lat, p.lng)}/${r}`),
				),
			),
		};
		t[label] = w;
	}
	const world: World = { t, subscription, tables };
	for (const label of LABELS) {
		const w = t[label];
		await repairTenant(world, w);
		// The offer holder walks into store-1: one offer, with a body link and an "add" action.
		const tenant = asTenant(w);
		await putUser(tenant, OFFER_HOLDER);
		await callOk("PUT", `/v1/users/${OFFER_HOLDER}/devices/dev-1`, {
			key: await userKey(tenant, OFFER_HOLDER),
			body: { platform: "web", webPush: subscription },
		});
		const walk = walker();
		const answer = await callOk<{ offers: { offerId?: string; decision: string }[] }>("POST", "/v1/pings", {
			key: await userKey(tenant, OFFER_HOLDER),
			body: { userId: OFFER_HOLDER, deviceId: "dev-1", pings: [walk.at(AWAY), walk.at(CENTER)] },
		});
		const offerId = answer.offers.find((o) => o.decision === "sent")?.offerId;
		if (!offerId) throw new Error(`no offer was sent in tenant ${label}: ${JSON.stringify(answer)}`);
		w.offerId = offerId;
	}
	return world;
}

async function d1Tables(withColumns = true): Promise<World["tables"]> {
	const { results } = await env.DB.prepare(
		"SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%' ORDER BY name",
	).all<{ name: string }>();
	const out: World["tables"] = [];
	if (!withColumns) return results.map(({ name }) => ({ name, tenantColumn: null }));
	for (const { name } of results) {
		const cols = await env.DB.prepare("SELECT name FROM pragma_table_info(?)")
			.bind(name)
			.all<{ name: string }>();
		const names = cols.results.map((c) => c.name);
		out.push({
			name,
			tenantColumn: name === "tenants" ? "id" : names.includes("tenant_id") ? "tenant_id" : null,
		});
	}
	return out;
}

// ---------------------------------------------------------------------------
// Snapshots

/** Slice name → canonical JSON. Slices are `<label or global>|<what>`. */
export type Snapshot = Map<string, string>;

/** JSON with sorted object keys, so the same state always reads the same. */
export function stableJson(value: unknown): string {
	return JSON.stringify(value, (_k, v: unknown) => {
		if (v instanceof Map)
			return { $map: [...v.entries()].sort(([a], [b]) => String(a).localeCompare(String(b))) };
		if (v instanceof Uint8Array || v instanceof ArrayBuffer)
			return { $bytes: [...new Uint8Array(v as ArrayBuffer)] };
		if (v !== null && typeof v === "object" && !Array.isArray(v))
			return Object.fromEntries(
				Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
			);
		return v;
	});
}

function shopperStubOf(tenantId: string, userId: string): DurableObjectStub {
	return env.SHOPPER.get(env.SHOPPER.idFromName(`${tenantId}:${userId}`));
}

function shardStubOf(tenantId: string, key: string): DurableObjectStub {
	return env.GEOSHARD.get(env.GEOSHARD.idFromName(`${tenantId}:${key}`));
}

interface ObjectDump {
	json: string;
	alarm: number | null;
}

function dumpShopper(stub: DurableObjectStub): Promise<ObjectDump> {
	return runInDurableObject(stub, async (_instance: unknown, state: DurableObjectState) => {
		const entries = await state.storage.list();
		const alarm = await state.storage.getAlarm();
		return { json: stableJson({ entries, alarm }), alarm };
	});
}

function dumpShard(stub: DurableObjectStub): Promise<ObjectDump> {
	return runInDurableObject(stub, async (_instance: unknown, state: DurableObjectState) => {
		const rows = state.storage.sql.exec("SELECT id, fence FROM fences ORDER BY id").toArray();
		const alarm = await state.storage.getAlarm();
		return { json: stableJson({ rows, alarm }), alarm };
	});
}

/**
 * An alarm falling due while a request is in flight would change state that the request
 * did not: wait for any that is due within the next seconds and let it run first.
 */
async function settled(stub: DurableObjectStub, dump: (s: DurableObjectStub) => Promise<ObjectDump>) {
	let d = await dump(stub);
	for (let i = 0; i < 3 && d.alarm !== null && d.alarm <= Date.now() + 3000; i++) {
		const wait = d.alarm - Date.now() + 50;
		if (wait > 0) await new Promise((r) => setTimeout(r, wait));
		await runDurableObjectAlarm(stub);
		d = await dump(stub);
	}
	return d.json;
}

/** Fences stored on more GeoShard objects than this are not snapshotted object by object. */
const MAX_SHARDS_PER_FENCE = 32;

/** Every row and object the fuzz can reach, per tenant, plus the rows of any other tenant (counted). */
export async function snapshot(world: World): Promise<Snapshot> {
	const snap: Snapshot = new Map();
	const ids = LABELS.map((l) => world.t[l].id);
	// Tables created since the last snapshot (a migration, or one a route creates on first use) are dumped too.
	const tables = await d1Tables(false);
	if (tables.map((t) => t.name).join() !== world.tables.map((t) => t.name).join())
		world.tables = await d1Tables();
	const stmts: { slice: string; stmt: D1PreparedStatement }[] = [];
	for (const table of world.tables) {
		if (table.tenantColumn === null) {
			stmts.push({
				slice: `global|d1:${table.name}`,
				stmt: env.DB.prepare(`SELECT * FROM "${table.name}" ORDER BY rowid LIMIT 1000`),
			});
			continue;
		}
		const col = table.tenantColumn;
		for (const label of LABELS)
			stmts.push({
				slice: `${label}|d1:${table.name}`,
				stmt: env.DB.prepare(`SELECT * FROM "${table.name}" WHERE ${col} = ? ORDER BY rowid`).bind(
					world.t[label].id,
				),
			});
		stmts.push({
			slice: `global|d1:${table.name}`,
			stmt: env.DB.prepare(
				`SELECT COUNT(*) AS n, MAX(rowid) AS last FROM "${table.name}" WHERE ${col} NOT IN (?, ?, ?)`,
			).bind(...ids),
		});
	}
	const results = await env.DB.batch(stmts.map((s) => s.stmt));
	stmts.forEach((s, i) => {
		snap.set(s.slice, stableJson(results[i]?.results ?? null));
	});
	// Shards of every fence stored now: an upload may have reached new cells.
	const shards = await env.DB.prepare("SELECT tenant_id, shards FROM geofences WHERE tenant_id IN (?, ?, ?)")
		.bind(...ids)
		.all<{ tenant_id: string; shards: string }>();
	for (const row of shards.results) {
		const w = LABELS.map((l) => world.t[l]).find((x) => x.id === row.tenant_id);
		try {
			// A fence as large as a region (an accepted upload) reaches thousands of objects: those
			// are left out, or every later snapshot would read them all.
			const keys = JSON.parse(row.shards) as string[];
			if (keys.length <= MAX_SHARDS_PER_FENCE) for (const k of keys) w?.shardKeys.add(k);
		} catch {
			// A corrupt shard list is for the D1 comparison to show.
		}
	}
	const jobs: Promise<void>[] = [];
	for (const label of LABELS) {
		const w = world.t[label];
		for (const u of [...PEOPLE, OFFER_HOLDER])
			jobs.push(
				settled(shopperStubOf(w.id, u), dumpShopper).then((j) => {
					snap.set(`${label}|do:shopper:${u}`, j);
				}),
			);
		for (const k of [...w.shardKeys].sort())
			jobs.push(
				settled(shardStubOf(w.id, k), dumpShard).then((j) => {
					snap.set(`${label}|do:geoshard:${k}`, j);
				}),
			);
	}
	await Promise.all(jobs);
	return snap;
}

/** What a slice that did not exist before may hold without anything having been stored. */
const EMPTY = new Set([
	stableJson([]),
	stableJson([{ n: 0, last: null }]),
	stableJson({ rows: [], alarm: null }),
	stableJson({ entries: new Map(), alarm: null }),
]);

/** Slices that differ (or exist on one side only), with a short before/after. */
export function diff(before: Snapshot, after: Snapshot): { slice: string; before: string; after: string }[] {
	const out: { slice: string; before: string; after: string }[] = [];
	for (const slice of new Set([...before.keys(), ...after.keys()])) {
		const a = before.get(slice);
		const b = after.get(slice);
		// A table or shard first seen after the request holds nothing it had before.
		if (a === undefined && b !== undefined && EMPTY.has(b)) continue;
		if (a !== b) out.push({ slice, before: short(a ?? "(absent)"), after: short(b ?? "(absent)") });
	}
	return out;
}

function short(s: string): string {
	return s.length > 1200 ? `${s.slice(0, 1200)}… (${s.length} chars)` : s;
}

// ---------------------------------------------------------------------------
// Symbolic values inside generated bodies

/** A JSON value written verbatim (numbers JSON.parse turns into Infinity, duplicate keys, comments...). */
export class RawJson {
	constructor(readonly text: string) {}
	toJSON(): string {
		return `\u0001RAW:${this.text}\u0001`;
	}
	[fc.toStringMethod](): string {
		return `raw(${JSON.stringify(this.text.length > 60 ? `${this.text.slice(0, 60)}…` : this.text)})`;
	}
}

/** A string of `n` copies of `unit`, built only when serialized (keeps counterexamples short). */
export class LongString {
	constructor(
		readonly n: number,
		readonly unit: string,
	) {}
	toJSON(): string {
		return this.unit.repeat(this.n);
	}
	[fc.toStringMethod](): string {
		return `long(${this.n} x ${JSON.stringify(this.unit)})`;
	}
}

/** Arrays or objects nested `depth` levels deep. */
export class Deep {
	constructor(
		readonly depth: number,
		readonly shape: "array" | "object" | "mixed",
	) {}
	toJSON(): unknown {
		let v: unknown = 1;
		for (let i = 0; i < this.depth; i++) {
			const asArray = this.shape === "array" || (this.shape === "mixed" && i % 2 === 0);
			v = asArray ? [v] : { a: v };
		}
		return v;
	}
	[fc.toStringMethod](): string {
		return `deep(${this.depth}, ${this.shape})`;
	}
}

/** Serializes a generated body: RawJson sentinels become their verbatim text. */
export function serialize(value: unknown): string {
	const text = JSON.stringify(value) ?? "";
	return text.replace(/"\\u0001RAW:((?:[^"\\]|\\.)*?)\\u0001"/g, (_m, inner: string) =>
		JSON.parse(`"${inner}"`),
	);
}

/** Placeholders resolved at send time: "«now-N»" (epoch ms), "«iso-now-N»", "«sub»" (push subscription). */
export function resolvePlaceholders(value: unknown, world: World): unknown {
	if (typeof value === "string") {
		const m = /^«(iso-)?now([+-]\d+)»$/.exec(value);
		if (m) {
			const ms = Date.now() + Number(m[2]);
			return m[1] ? new Date(ms).toISOString() : ms;
		}
		if (value === "«sub»") return world.subscription;
		return value;
	}
	if (Array.isArray(value)) return value.map((v) => resolvePlaceholders(v, world));
	if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
		const out: Record<string, unknown> = {};
		for (const [k, v] of Object.entries(value)) {
			Object.defineProperty(out, k, {
				value: resolvePlaceholders(v, world),
				enumerable: true,
				writable: true,
				configurable: true,
			});
		}
		return out;
	}
	return value;
}

// ---------------------------------------------------------------------------
// Requests

export type ForgeKind =
	| "alg-none"
	| "wrong-key"
	| "other-tenant-key"
	| "expired"
	| "no-exp"
	| "unknown-tenant"
	| "bad-sub"
	| "wrong-audience"
	| "tampered-payload"
	| "truncated"
	| "garbage";

export type KeySpec =
	| { kind: "none" }
	| { kind: "admin" }
	| { kind: "sk" | "pk"; tenant: Label }
	| { kind: "ut"; tenant: Label; user: string }
	| { kind: "forged"; how: ForgeKind; tenant: Label; user: string }
	/** The whole Authorization header, verbatim. */
	| { kind: "header"; value: string };

export type BodySpec =
	| { kind: "none" }
	| { kind: "json"; value: unknown }
	| { kind: "text"; text: string }
	/** Bytes, then (when given) a JSON value. */
	| { kind: "bytes"; bytes: number[]; tail?: unknown }
	/** A JSON body padded to exactly `size` bytes with spaces (still valid JSON) or with garbage. */
	| { kind: "sized"; value: unknown; size: number; fill: "space" | "garbage" | "field"; chunked?: boolean };

export type SigSpec =
	| { kind: "valid"; signer: Label; skewSeconds: number }
	| { kind: "stale"; signer: Label; skewSeconds: number }
	| { kind: "wrong-secret" }
	| { kind: "tampered"; signer: Label }
	| { kind: "multi"; signer: Label; n: number }
	| { kind: "none" }
	| { kind: "header"; value: string };

export type ClickSig =
	| { kind: "valid"; action: string | null; forOtherOffer?: boolean }
	| { kind: "value"; value: string }
	| { kind: "none" }
	| { kind: "twice"; action: string | null };

export interface FuzzRequest {
	/** The route this request aims at (for the report). */
	route: string;
	method: string;
	/** The key the route wants: "none" (public or signed otherwise), "admin", "sk", "pk", "app" (ut, or pk of P), "unknown". */
	auth: "none" | "admin" | "sk" | "pk" | "app" | "reporter" | "unknown";
	/** The person the path or body names, when any. */
	target?: string;
	/** The path; "«offer:A»" is tenant A's offer id. */
	path: string;
	/** "" or "?…" (not for the click route, whose query is `click`). */
	query: string;
	key: KeySpec;
	/** null: no content-type header. */
	contentType: string | null;
	headers: Record<string, string>;
	body: BodySpec;
	/** POST /v1/cart-events: the X-Tenant-Id (a label, or verbatim) and X-Signature. */
	cart?: { tenant: Label | { verbatim: string } | null; sig: SigSpec };
	/** GET /v1/offers/{id}/click: the query. */
	click?: { action: string | null | undefined; sig: ClickSig; extra: string };
}

const forged = new Map<string, Promise<string>>();

async function tokenKey(tenantId: string): Promise<Uint8Array> {
	return new TextEncoder().encode(await hmacHex(env.KEY_PEPPER, `edge-offers/user-tokens/v1/${tenantId}`));
}

function b64url(s: string): string {
	return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

async function forge(world: World, how: ForgeKind, label: Label, user: string): Promise<string> {
	const tid = world.t[label].id;
	const other = world.t[label === "B" ? "A" : "B"].id;
	const now = Math.floor(Date.now() / 1000);
	const jwt = (claims: Record<string, unknown>) =>
		new SignJWT({ tid, ...claims })
			.setProtectedHeader({ alg: "HS256", typ: "JWT" })
			.setSubject(user)
			.setIssuer("edge-offers")
			.setAudience("edge-offers:app")
			.setIssuedAt(now);
	const real = await userKey(asTenant(world.t[label]), user.length > 0 ? user : "alice");
	switch (how) {
		case "alg-none":
			return `ut_${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${b64url(
				JSON.stringify({ tid, sub: user, iss: "edge-offers", aud: "edge-offers:app", exp: now + 3600 }),
			)}.`;
		case "wrong-key":
			return `ut_${await jwt({})
				.setExpirationTime(now + 3600)
				.sign(new TextEncoder().encode("not-the-key"))}`;
		case "other-tenant-key":
			return `ut_${await jwt({})
				.setExpirationTime(now + 3600)
				.sign(await tokenKey(other))}`;
		case "expired":
			return `ut_${await jwt({})
				.setExpirationTime(now - 10)
				.sign(await tokenKey(tid))}`;
		case "no-exp":
			return `ut_${await jwt({}).sign(await tokenKey(tid))}`;
		case "unknown-tenant":
			return `ut_${await new SignJWT({ tid: "tn_doesnotexist" })
				.setProtectedHeader({ alg: "HS256" })
				.setSubject(user)
				.setIssuer("edge-offers")
				.setAudience("edge-offers:app")
				.setExpirationTime(now + 3600)
				.sign(await tokenKey("tn_doesnotexist"))}`;
		case "bad-sub":
			return `ut_${await new SignJWT({ tid })
				.setProtectedHeader({ alg: "HS256" })
				.setSubject(`../${user}\u0000`)
				.setIssuer("edge-offers")
				.setAudience("edge-offers:app")
				.setExpirationTime(now + 3600)
				.sign(await tokenKey(tid))}`;
		case "wrong-audience":
			return `ut_${await new SignJWT({ tid })
				.setProtectedHeader({ alg: "HS256" })
				.setSubject(user)
				.setIssuer("edge-offers")
				.setAudience("someone-else")
				.setExpirationTime(now + 3600)
				.sign(await tokenKey(tid))}`;
		case "tampered-payload": {
			const [h, , s] = real.slice(3).split(".");
			const payload = b64url(
				JSON.stringify({ tid, sub: "alice", iss: "edge-offers", aud: "edge-offers:app", exp: now + 3600 }),
			);
			return `ut_${h}.${payload}.${s}`;
		}
		case "truncated":
			return real.slice(0, -5);
		case "garbage":
			return `ut_${b64url(user)}.${b64url("{")}.x`;
	}
}

async function authorization(world: World, key: KeySpec): Promise<string | null> {
	switch (key.kind) {
		case "none":
			return null;
		case "admin":
			return `Bearer ${ADMIN_TOKEN}`;
		case "sk":
			return `Bearer ${world.t[key.tenant].sk}`;
		case "pk":
			return `Bearer ${world.t[key.tenant].pk}`;
		case "ut":
			return `Bearer ${await userKey(asTenant(world.t[key.tenant]), key.user)}`;
		case "forged": {
			const k = `${key.how}:${key.tenant}:${key.user}`;
			let p = forged.get(k);
			if (!p) {
				p = forge(world, key.how, key.tenant, key.user);
				forged.set(k, p);
			}
			return `Bearer ${await p}`;
		}
		case "header":
			return key.value;
	}
}

function resolvePath(world: World, path: string): string {
	return path.replace(/«offer:([APB])»/g, (_m, l: Label) => world.t[l].offerId);
}

function bodyBytes(world: World, body: BodySpec): Uint8Array | null {
	const enc = new TextEncoder();
	switch (body.kind) {
		case "none":
			return null;
		case "json":
			return enc.encode(serialize(resolvePlaceholders(body.value, world)));
		case "text":
			return enc.encode(body.text);
		case "bytes": {
			const tail =
				body.tail === undefined
					? new Uint8Array()
					: enc.encode(serialize(resolvePlaceholders(body.tail, world)));
			const out = new Uint8Array(body.bytes.length + tail.length);
			out.set(body.bytes, 0);
			out.set(tail, body.bytes.length);
			return out;
		}
		case "sized": {
			const value = resolvePlaceholders(body.value, world);
			if (body.fill === "garbage") return enc.encode("x".repeat(body.size));
			if (body.fill === "field" && value !== null && typeof value === "object" && !Array.isArray(value)) {
				const base = enc.encode(serialize({ ...value, pad: "" })).length;
				return enc.encode(serialize({ ...value, pad: "p".repeat(Math.max(0, body.size - base)) }));
			}
			const text = serialize(value);
			const n = enc.encode(text).length;
			return enc.encode(text + " ".repeat(Math.max(0, body.size - n)));
		}
	}
}

/** The tenant a request acts for when it is accepted: only that tenant's state may change. */
export function actingTenant(req: FuzzRequest): Label | "global" | null {
	if (req.cart) {
		const t = req.cart.tenant;
		return typeof t === "string" ? t : null;
	}
	if (req.click) {
		const m = /«offer:([APB])»/.exec(req.path);
		return m ? (m[1] as Label) : null;
	}
	switch (req.key.kind) {
		case "admin":
			return "global";
		case "sk":
		case "pk":
		case "ut":
		case "forged":
			return req.key.tenant;
		case "header":
			return req.key.value.includes(ADMIN_TOKEN) ? "global" : null;
		default:
			return null;
	}
}

export interface Sent {
	res: Response;
	text: string;
	/** The exact request, for failure messages. */
	described: string;
}

function preview(bytes: Uint8Array | null): string {
	if (bytes === null) return "(no body)";
	const head = bytes.slice(0, 400);
	let text: string;
	try {
		text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(head);
	} catch {
		text = `bytes ${[...head.slice(0, 60)].map((b) => b.toString(16).padStart(2, "0")).join(" ")}`;
	}
	return `${bytes.length} bytes: ${JSON.stringify(text)}${bytes.length > 400 ? "…" : ""}`;
}

/** Sends one symbolic request; `counter` learns how much of a chunked body the Worker pulled. */
export async function send(world: World, req: FuzzRequest, counter?: { pulled: number }): Promise<Sent> {
	const headers = new Headers();
	const auth = await authorization(world, req.key);
	if (auth !== null) headers.set("authorization", auth);
	if (req.contentType !== null) headers.set("content-type", req.contentType);
	for (const [k, v] of Object.entries(req.headers)) headers.set(k, v);
	let bytes = bodyBytes(world, req.body);
	let query = req.query;
	const path = resolvePath(world, req.path);
	if (req.cart) {
		const { tenant, sig } = req.cart;
		if (tenant !== null)
			headers.set("x-tenant-id", typeof tenant === "string" ? world.t[tenant].id : tenant.verbatim);
		const raw = bytes ?? new Uint8Array();
		const nowS = Math.floor(Date.now() / 1000);
		switch (sig.kind) {
			case "valid":
			case "stale":
				headers.set("x-signature", await signPayload(world.t[sig.signer].whsec, raw, nowS + sig.skewSeconds));
				break;
			case "wrong-secret":
				headers.set("x-signature", await signPayload("whsec_not-the-secret", raw, nowS));
				break;
			case "tampered": {
				headers.set("x-signature", await signPayload(world.t[sig.signer].whsec, raw, nowS));
				const changed = new Uint8Array(raw.length + 1);
				changed.set(raw, 0);
				changed[raw.length] = 0x20;
				bytes = changed;
				break;
			}
			case "multi": {
				const good = await signPayload(world.t[sig.signer].whsec, raw, nowS);
				const v1 = good.split(",")[1] ?? "";
				headers.set("x-signature", [`t=${nowS}`, ...Array.from({ length: sig.n }, () => v1)].join(","));
				break;
			}
			case "none":
				break;
			case "header":
				headers.set("x-signature", sig.value);
				break;
		}
	}
	if (req.click) {
		const offerId = decodeURIComponentSafe(path.split("/")[3] ?? "");
		const key = await clickKey(env);
		const q = new URLSearchParams();
		if (req.click.action !== undefined && req.click.action !== null) q.append("action", req.click.action);
		const s = req.click.sig;
		if (s.kind === "valid")
			q.append("sig", await signClick(key, s.forOtherOffer ? `${offerId}x` : offerId, s.action));
		else if (s.kind === "value") q.append("sig", s.value);
		else if (s.kind === "twice") {
			const sig = await signClick(key, offerId, s.action);
			q.append("sig", sig);
			q.append("sig", sig);
		}
		query = `?${q.toString()}${req.click.extra}`;
	}
	const url = `${BASE}${path}${query}`;
	const hdrs: string[] = [];
	headers.forEach((v, k) => {
		hdrs.push(`${k}: ${v.length > 120 ? `${v.slice(0, 120)}…(${v.length})` : v}`);
	});
	if (req.body.kind === "sized" && req.body.chunked === true)
		hdrs.push("(body streamed in 16 KiB chunks, no content-length)");
	const described = `${req.method} ${url.length > 300 ? `${url.slice(0, 300)}…` : url}\n  ${hdrs.join("\n  ")}\n  body ${preview(bytes)}`;
	const chunked = req.body.kind === "sized" && req.body.chunked === true;
	const body =
		bytes === null || req.method === "GET" || req.method === "HEAD"
			? null
			: chunked
				? chunks(bytes, counter)
				: bytes;
	const res = await SELF.fetch(url, { method: req.method, headers, body, redirect: "manual" });
	const text = await res.text();
	return { res, text, described };
}

/** The bytes as a stream of 16 KiB chunks (sent chunked, without a content-length); counts what was pulled. */
export function chunks(bytes: Uint8Array, counter?: { pulled: number }): ReadableStream<Uint8Array> {
	let offset = 0;
	return new ReadableStream({
		pull(c) {
			if (offset >= bytes.length) return c.close();
			const next = bytes.slice(offset, offset + 16 * 1024);
			offset += next.length;
			if (counter) counter.pulled = offset;
			c.enqueue(next);
		},
	});
}

function decodeURIComponentSafe(s: string): string {
	try {
		return decodeURIComponent(s);
	} catch {
		return s;
	}
}

// ---------------------------------------------------------------------------
// The oracle

/** Statuses a route may answer without a problem document. */
export interface Expectations {
	/** 2xx and 3xx statuses this route may answer with (200, 201, 204 by default; 302 for the click link). */
	accepted?: number[];
}

export interface Failure {
	route: string;
	kind: "5xx" | "not-a-problem" | "unexpected-status" | "state-changed-on-rejection" | "other-tenant-changed";
	message: string;
}

/** Checks one answer: status, problem document, and what changed in stored state. */
export function judge(
	req: FuzzRequest,
	sent: Sent,
	before: Snapshot,
	after: Snapshot,
	exp: Expectations = {},
): Failure[] {
	const { res, text, described } = sent;
	const failures: Failure[] = [];
	const head = `${res.status} for\n  ${described}\n  answer: ${text.slice(0, 400)}`;
	const add = (kind: Failure["kind"], message: string) => failures.push({ route: req.route, kind, message });
	if (res.status >= 500) add("5xx", head);
	else if (res.status >= 400) {
		const type = res.headers.get("content-type") ?? "";
		let ok = /^application\/problem\+json/i.test(type);
		if (ok && req.method !== "HEAD") {
			try {
				const p = JSON.parse(text) as Record<string, unknown>;
				ok =
					p !== null &&
					typeof p === "object" &&
					typeof p.type === "string" &&
					typeof p.title === "string" &&
					typeof p.code === "string" &&
					p.status === res.status &&
					!/\n\s+at |\.ts:\d+/.test(text);
			} catch {
				ok = false;
			}
		}
		if (!ok) add("not-a-problem", `content-type ${type}: ${head}`);
	} else {
		const allowed = exp.accepted ?? [200, 201, 202, 204];
		if (!allowed.includes(res.status)) add("unexpected-status", head);
	}
	const changed = diff(before, after);
	if (res.status >= 400 && changed.length > 0)
		add(
			"state-changed-on-rejection",
			`${head}\n  changed: ${changed.map((c) => `${c.slice}\n    before ${c.before}\n    after  ${c.after}`).join("\n  ")}`,
		);
	if (res.status < 400) {
		const acting = actingTenant(req);
		const foreign = changed.filter((c) => c.slice.split("|")[0] !== acting);
		if (foreign.length > 0)
			add(
				"other-tenant-changed",
				`${head}\n  acting for ${acting ?? "nobody"}, yet changed: ${foreign.map((c) => `${c.slice}\n    before ${c.before}\n    after  ${c.after}`).join("\n  ")}`,
			);
	}
	return failures;
}

/** Learns rotated keys from accepted answers, so the fuzz keeps using keys that work. */
export function learn(world: World, req: FuzzRequest, sent: Sent): void {
	if (sent.res.status !== 200 || req.key.kind !== "sk") return;
	if (!/^\/v1\/(keys|webhook-secret)\/rotate\/*$/.test(req.path)) return;
	let body: Record<string, unknown>;
	try {
		body = JSON.parse(sent.text) as Record<string, unknown>;
	} catch {
		return;
	}
	const w = world.t[req.key.tenant];
	if (typeof body.secretKey === "string") w.sk = body.secretKey;
	if (typeof body.publishableKey === "string") w.pk = body.publishableKey;
	if (typeof body.webhookSecret === "string") w.whsec = body.webhookSecret;
}

/** Fails the test with every failure, grouped. */
export function expectNoFailures(failures: Failure[]): void {
	expect(
		failures.map((f) => `[${f.kind}] ${f.route}: ${f.message}`),
		"fuzz failures",
	).toEqual([]);
}
