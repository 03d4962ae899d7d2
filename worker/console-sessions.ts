import { hashKey } from "./crypto.js";

/** Prefix of console session tokens. */
export const CONSOLE_TOKEN_PREFIX = "cs_";

/**
 * The tenant a console session token acts for, or null when the token is unknown, expired,
 * or the secret key that opened it is no longer valid (rotated out and past its grace).
 * Looked up by the token's peppered hash, like API keys: no comparison on the raw token.
 */
export async function consoleSessionTenant(
	env: Env,
	token: string,
	now = Date.now(),
): Promise<string | null> {
	const row = await env.DB.prepare(
		`SELECT s.tenant_id, s.expires_at, k.expires_at AS key_expires_at
		   FROM console_sessions s
		   JOIN api_keys k ON k.key_hash = s.key_hash AND k.kind = 'secret' AND k.tenant_id = s.tenant_id
		  WHERE s.token_hash = ?`,
	)
		.bind(await hashKey(env.KEY_PEPPER, token))
		.first<{ tenant_id: string; expires_at: string; key_expires_at: string | null }>();
	if (!row) return null;
	if (!(Date.parse(row.expires_at) > now)) return null;
	if (row.key_expires_at !== null && !(Date.parse(row.key_expires_at) > now)) return null;
	return row.tenant_id;
}
