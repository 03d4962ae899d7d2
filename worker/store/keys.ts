/**
 * The `api_keys` and `console_sessions` tables: keys and session tokens are stored only as
 * peppered hashes and looked up by them (docs/architecture.md, "Data layer").
 */
import type { TenantRow } from "./tenants.js";

export type KeyKind = "secret" | "publishable";

/** A key's new row (created with the tenant, or by a rotation). */
export function insertKey(
	db: D1Database,
	k: { keyHash: string; tenantId: string; kind: KeyKind; createdAt: string },
): D1PreparedStatement {
	return db
		.prepare(
			"INSERT INTO api_keys (key_hash, tenant_id, kind, created_at, expires_at) VALUES (?, ?, ?, ?, NULL)",
		)
		.bind(k.keyHash, k.tenantId, k.kind, k.createdAt);
}

/** The tenant a key of this kind belongs to, with when the key stops working (null: in force). */
export function tenantOfKeyHash(
	db: D1Database,
	keyHash: string,
	kind: KeyKind,
): Promise<(TenantRow & { expires_at: string | null }) | null> {
	return db
		.prepare(
			`SELECT t.id, t.name, t.settings, t.geofence_version, t.campaign_version, k.expires_at
			   FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
			  WHERE k.key_hash = ? AND k.kind = ?`,
		)
		.bind(keyHash, kind)
		.first<TenantRow & { expires_at: string | null }>();
}

/** When a key stops working: null in force, undefined unknown. */
export async function keyExpiry(db: D1Database, keyHash: string): Promise<string | null | undefined> {
	const row = await db
		.prepare("SELECT expires_at FROM api_keys WHERE key_hash = ?")
		.bind(keyHash)
		.first<{ expires_at: string | null }>();
	return row ? row.expires_at : undefined;
}

/**
 * A rotation in one batch: keys past their grace go, the key in force is retired (at `until`,
 * or at once when `until` is null), the new key is written.
 */
export async function rotateKey(
	db: D1Database,
	r: { tenantId: string; kind: KeyKind; newKeyHash: string; now: string; until: string | null },
): Promise<void> {
	const retire =
		r.until === null
			? db
					.prepare("DELETE FROM api_keys WHERE tenant_id = ? AND kind = ? AND expires_at IS NULL")
					.bind(r.tenantId, r.kind)
			: db
					.prepare(
						"UPDATE api_keys SET expires_at = ? WHERE tenant_id = ? AND kind = ? AND expires_at IS NULL",
					)
					.bind(r.until, r.tenantId, r.kind);
	await db.batch([
		db
			.prepare("DELETE FROM api_keys WHERE tenant_id = ? AND kind = ? AND expires_at <= ?")
			.bind(r.tenantId, r.kind, r.now),
		retire,
		insertKey(db, { keyHash: r.newKeyHash, tenantId: r.tenantId, kind: r.kind, createdAt: r.now }),
	]);
}

/** A console session joined with the secret key that opened it. */
export interface ConsoleSessionRow {
	tenant_id: string;
	expires_at: string;
	/** The opening key's end (null: in force). */
	key_expires_at: string | null;
}

/** The session of a token hash, only while the secret key that opened it exists. */
export function consoleSession(db: D1Database, tokenHash: string): Promise<ConsoleSessionRow | null> {
	return db
		.prepare(
			`SELECT s.tenant_id, s.expires_at, k.expires_at AS key_expires_at
			   FROM console_sessions s
			   JOIN api_keys k ON k.key_hash = s.key_hash AND k.kind = 'secret' AND k.tenant_id = s.tenant_id
			  WHERE s.token_hash = ?`,
		)
		.bind(tokenHash)
		.first<ConsoleSessionRow>();
}

/** Opens a session, dropping the tenant's expired ones in the same batch. */
export async function openConsoleSession(
	db: D1Database,
	s: { tokenHash: string; tenantId: string; keyHash: string; now: string; expiresAt: string },
): Promise<void> {
	await db.batch([
		db
			.prepare("DELETE FROM console_sessions WHERE tenant_id = ? AND expires_at <= ?")
			.bind(s.tenantId, s.now),
		db
			.prepare(
				"INSERT INTO console_sessions (token_hash, tenant_id, key_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
			)
			.bind(s.tokenHash, s.tenantId, s.keyHash, s.now, s.expiresAt),
	]);
}

/** Ends a session (nothing when it is not the tenant's). */
export async function deleteConsoleSession(
	db: D1Database,
	tokenHash: string,
	tenantId: string,
): Promise<void> {
	await db
		.prepare("DELETE FROM console_sessions WHERE token_hash = ? AND tenant_id = ?")
		.bind(tokenHash, tenantId)
		.run();
}
