import { hashKey } from "./crypto.js";
import { consoleSession } from "./store/keys.js";

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
	const row = await consoleSession(env.DB, await hashKey(env.KEY_PEPPER, token));
	if (!row) return null;
	if (!(Date.parse(row.expires_at) > now)) return null;
	if (row.key_expires_at !== null && !(Date.parse(row.key_expires_at) > now)) return null;
	return row.tenant_id;
}
