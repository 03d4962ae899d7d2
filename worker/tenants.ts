import { AppError } from "../src/errors.js";
import { type Settings, SettingsSchema } from "../src/schemas/settings.js";
import { hashKey, timingSafeEqualStrings } from "./crypto.js";

/** The authenticated tenant a request acts for. */
export interface TenantCtx {
	id: string;
	name: string;
	settings: Settings;
	geofenceVersion: number;
	/** Bumped on every campaign change; keys caches of compiled campaigns. */
	campaignVersion: number;
}

export type KeyKind = "secret" | "publishable";
const PREFIX: Record<KeyKind, string> = { secret: "sk_", publishable: "pk_" };

function bearer(req: Request): string | null {
	const h = req.headers.get("authorization");
	const m = h ? /^Bearer\s+(\S{1,512})$/i.exec(h.trim()) : null;
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
 * Publishable-key resolutions cached per isolate: every ping authenticates, and without
 * this each one would cost a D1 read. Back-office (secret-key) requests always read
 * fresh. Another isolate sees a settings or campaign change within {@link TENANT_TTL_MS};
 * this isolate at once (see {@link forgetCachedTenants}).
 */
const tenantCache = new Map<string, { ctx: TenantCtx; expires: number }>();
const TENANT_TTL_MS = 30_000;
const TENANT_CACHE_MAX = 10_000;

/** Drops cached tenant resolutions in this isolate, after a change that must show at once. */
export function forgetCachedTenants(): void {
	tenantCache.clear();
}

/**
 * Resolves a tenant key of the given kind. The key is looked up by its peppered hash,
 * so comparison happens on digests inside the database index, never on the raw key.
 */
export async function requireKey(req: Request, env: Env, kind: KeyKind): Promise<TenantCtx> {
	const key = bearer(req);
	if (!key?.startsWith(PREFIX[kind])) throw unauthorized();
	const hash = await hashKey(env.KEY_PEPPER, key);
	const now = Date.now();
	const cached = kind === "publishable" ? tenantCache.get(hash) : undefined;
	if (cached && cached.expires > now) return cached.ctx;
	const row = await env.DB.prepare(
		`SELECT t.id, t.name, t.settings, t.geofence_version, t.campaign_version
		   FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
		  WHERE k.key_hash = ? AND k.kind = ?`,
	)
		.bind(hash, kind)
		.first<TenantRow>();
	if (!row) throw unauthorized();
	const ctx = tenantFromRow(row);
	if (kind === "publishable") {
		if (tenantCache.size >= TENANT_CACHE_MAX) tenantCache.clear();
		tenantCache.set(hash, { ctx, expires: now + TENANT_TTL_MS });
	}
	return ctx;
}

/** Loads a tenant by id (alarms and background work, where no key is at hand). */
export async function loadTenant(env: Env, tenantId: string): Promise<TenantCtx | null> {
	const row = await env.DB.prepare(
		"SELECT id, name, settings, geofence_version, campaign_version FROM tenants WHERE id = ?",
	)
		.bind(tenantId)
		.first<TenantRow>();
	return row ? tenantFromRow(row) : null;
}

interface TenantRow {
	id: string;
	name: string;
	settings: string;
	geofence_version: number;
	campaign_version: number;
}

function tenantFromRow(row: TenantRow): TenantCtx {
	return {
		id: row.id,
		name: row.name,
		settings: SettingsSchema.parse(JSON.parse(row.settings)),
		geofenceVersion: row.geofence_version,
		campaignVersion: row.campaign_version,
	};
}
