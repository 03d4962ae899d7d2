import { AppError } from "../src/errors.js";
import { BoundedCache } from "../src/lib/cache.js";
import { type Settings, storedSettings } from "../src/schemas/settings.js";
import { CONSOLE_TOKEN_PREFIX, consoleSessionTenant } from "./console-sessions.js";
import { admitOrigin } from "./cors.js";
import { hashKey, timingSafeEqualStrings } from "./crypto.js";
import { type KeyKind, tenantOfKeyHash } from "./store/keys.js";
import { type TenantRow, tenantById } from "./store/tenants.js";
import { verifyUserToken } from "./user-tokens.js";

/** The authenticated tenant a request acts for. */
export interface TenantCtx {
	id: string;
	name: string;
	settings: Settings;
	geofenceVersion: number;
	/** Bumped on every campaign change; keys caches of compiled campaigns. */
	campaignVersion: number;
}

export type { KeyKind };

const PREFIX: Record<KeyKind, string> = { secret: "sk_", publishable: "pk_" };

/** The bearer token of a request, bounded in length; null when absent or malformed. */
export function bearer(req: Request): string | null {
	const h = req.headers.get("authorization");
	const m = h ? /^Bearer\s+(\S{1,2048})$/i.exec(h.trim()) : null;
	return m?.[1] ?? null;
}

const unauthorized = () => new AppError("unauthorized", 401, "A valid API key is required.");

/** Admin-only routes: the ADMIN_TOKEN secret, compared in constant time. */
export async function requireAdmin(req: Request, env: Env): Promise<void> {
	const token = bearer(req);
	if (!token || !env.ADMIN_TOKEN || !(await timingSafeEqualStrings(token, env.ADMIN_TOKEN)))
		throw unauthorized();
}

/**
 * Tenant resolutions cached per isolate: every ping authenticates, and without this each
 * one would cost a D1 read. Secret-key requests always read fresh. Another isolate sees a
 * settings or campaign change, or a publishable key rotated out with no grace, within
 * {@link TENANT_TTL_MS}; this isolate at once (see {@link forgetCachedTenants}).
 * Keys: `pk:<key hash>` and `tn:<tenant id>` (user tokens name their tenant).
 */
const TENANT_TTL_MS = 30_000;
const TENANT_CACHE_MAX = 10_000;
const tenantCache = new BoundedCache<string, { ctx: TenantCtx; expires: number }>(TENANT_CACHE_MAX);

/** Drops cached tenant resolutions in this isolate, after a change that must show at once. */
export function forgetCachedTenants(): void {
	tenantCache.clear();
}

function remember(key: string, ctx: TenantCtx, expires: number): void {
	tenantCache.set(key, { ctx, expires });
}

/**
 * Resolves a tenant key of the given kind. The key is looked up by its peppered hash,
 * so comparison happens on digests inside the database index, never on the raw key. A key
 * rotated out is accepted until the end of its grace period.
 */
export async function requireKey(req: Request, env: Env, kind: KeyKind): Promise<TenantCtx> {
	const key = bearer(req);
	// A console session (worker/routes/console.ts) stands for the secret key that opened it.
	if (kind === "secret" && key?.startsWith(CONSOLE_TOKEN_PREFIX)) {
		const tenantId = await consoleSessionTenant(env, key);
		const ctx = tenantId === null ? null : await loadTenant(env, tenantId);
		if (!ctx) throw unauthorized();
		await limitTenant(env, ctx.id);
		return ctx;
	}
	if (!key?.startsWith(PREFIX[kind])) {
		// A key of another kind (an app's key on a back-office route): say which one the route needs.
		if (key && /^(sk|pk|ut|cs)_/.test(key))
			throw new AppError(
				"unauthorized",
				401,
				`This route needs the tenant's ${kind} key (${PREFIX[kind]}...).`,
			);
		throw unauthorized();
	}
	const ctx = await tenantOfKey(env, key, kind);
	if (!ctx) throw unauthorized();
	await limitTenant(env, ctx.id);
	return ctx;
}

async function tenantOfKey(env: Env, key: string, kind: KeyKind): Promise<TenantCtx | null> {
	const hash = await hashKey(env.KEY_PEPPER, key);
	const now = Date.now();
	const cached = kind === "publishable" ? tenantCache.get(`pk:${hash}`) : undefined;
	if (cached && cached.expires > now) return cached.ctx;
	const row = await tenantOfKeyHash(env.DB, hash, kind);
	if (!row) return null;
	const keyExpires = row.expires_at === null ? Number.POSITIVE_INFINITY : Date.parse(row.expires_at);
	if (!(keyExpires > now)) return null;
	const ctx = tenantFromRow(row);
	if (kind === "publishable") remember(`pk:${hash}`, ctx, Math.min(now + TENANT_TTL_MS, keyExpires));
	return ctx;
}

/** Who an app request acts as: one person (user token) or any person of the tenant (publishable key). */
export interface AppCaller {
	tenant: TenantCtx;
	/** The person a user token names; null with the publishable key. */
	userId: string | null;
}

/**
 * App routes (profile, devices, pings): a user token (`ut_`) for one person, or the
 * publishable key where the tenant's `clientAuth` is still `"publishable"`. Authenticates
 * only; {@link actFor} then checks the person the request names.
 */
export async function requireApp(req: Request, env: Env): Promise<AppCaller> {
	return appCaller(req, env, false);
}

/**
 * Offer events: a user token, or the publishable key in every `clientAuth` mode (the
 * offer id is an unguessable capability that a service worker holds).
 */
export async function requireOfferReporter(req: Request, env: Env): Promise<AppCaller> {
	const caller = await appCaller(req, env, true);
	await limitTenant(env, caller.tenant.id);
	return caller;
}

async function appCaller(req: Request, env: Env, publishableAlways: boolean): Promise<AppCaller> {
	const key = bearer(req);
	if (key?.startsWith("ut_")) {
		const claims = await verifyUserToken(env, key.slice(3), (id) => cachedTenant(env, id));
		if (!claims) throw new AppError("invalid_token", 401, "The user token is invalid or has expired.");
		admitOrigin(req, claims.tenant.settings.allowedOrigins);
		return { tenant: claims.tenant, userId: claims.userId };
	}
	if (key?.startsWith("pk_")) {
		const tenant = await tenantOfKey(env, key, "publishable");
		if (!tenant) throw unauthorized();
		if (!publishableAlways && tenant.settings.clientAuth !== "publishable")
			throw new AppError(
				"user_token_required",
				401,
				"This tenant requires a user token (ut_...) minted by its back end for the person.",
			);
		admitOrigin(req, tenant.settings.allowedOrigins);
		return { tenant, userId: null };
	}
	throw unauthorized();
}

/**
 * A user token acts only for its own person: another person is 403. Then the request
 * budgets: the person's first, so requests refused for one person's flood never use up
 * the tenant's budget that other people share; then the tenant's.
 */
export async function actFor(env: Env, caller: AppCaller, userId: string): Promise<void> {
	if (caller.userId !== null && caller.userId !== userId)
		throw new AppError("forbidden", 403, "This user token acts for another person.");
	const person = await env.PERSON_RATE_LIMIT.limit({ key: `${caller.tenant.id}:${userId}` });
	if (!person.success)
		throw new AppError("rate_limited", 429, "Too many requests for this person.", undefined, 10);
	await limitTenant(env, caller.tenant.id);
}

/**
 * Per-tenant request budget (the Workers Rate Limiting binding, counted per Cloudflare
 * location): one tenant's flood never slows another tenant. Per-person limits are exact in
 * the person's Durable Object, with a coarser binding in front (see {@link actFor}).
 */
export async function limitTenant(env: Env, tenantId: string): Promise<void> {
	const { success } = await env.TENANT_RATE_LIMIT.limit({ key: tenantId });
	if (!success) throw new AppError("rate_limited", 429, "Too many requests for this tenant.", undefined, 10);
}

/** A tenant by id, cached like publishable-key resolutions (user tokens name their tenant). */
async function cachedTenant(env: Env, tenantId: string): Promise<TenantCtx | null> {
	const now = Date.now();
	const cached = tenantCache.get(`tn:${tenantId}`);
	if (cached && cached.expires > now) return cached.ctx;
	const ctx = await loadTenant(env, tenantId);
	if (ctx) remember(`tn:${tenantId}`, ctx, now + TENANT_TTL_MS);
	return ctx;
}

/** Loads a tenant by id (alarms and background work, where no key is at hand). */
export async function loadTenant(env: Env, tenantId: string): Promise<TenantCtx | null> {
	const row = await tenantById(env.DB, tenantId);
	return row ? tenantFromRow(row) : null;
}

function tenantFromRow(row: TenantRow): TenantCtx {
	return {
		id: row.id,
		name: row.name,
		settings: storedSettings(JSON.parse(row.settings)),
		geofenceVersion: row.geofence_version,
		campaignVersion: row.campaign_version,
	};
}
