import { decodeJwt, jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import { hmacHex } from "./crypto.js";
import type { TenantCtx } from "./tenants.js";

/**
 * User tokens: `ut_` + a JWT (HS256) that names one tenant and one person, minted by the
 * tenant's back end with its secret key and carried by that person's app. The signing key
 * is derived per tenant from `KEY_PEPPER`, so it is never stored and one tenant's key says
 * nothing about another's.
 */
const AUDIENCE = "edge-offers:app";
const ISSUER = "edge-offers";

const Claims = z.object({
	tid: z.string().regex(/^tn_[A-Za-z0-9_-]{1,64}$/),
	sub: z.string().min(1).max(128),
});

async function tokenKey(env: Env, tenantId: string): Promise<Uint8Array> {
	if (!env.KEY_PEPPER) throw new Error("KEY_PEPPER is not set");
	return new TextEncoder().encode(await hmacHex(env.KEY_PEPPER, `edge-offers/user-tokens/v1/${tenantId}`));
}

/** Mints a token for one person of one tenant, valid for `ttlSeconds`. */
export async function mintUserToken(
	env: Env,
	tenantId: string,
	userId: string,
	ttlSeconds: number,
	now: number,
): Promise<{ token: string; expiresAt: number }> {
	const iat = Math.floor(now / 1000);
	const exp = iat + ttlSeconds;
	const jwt = await new SignJWT({ tid: tenantId })
		.setProtectedHeader({ alg: "HS256", typ: "JWT" })
		.setSubject(userId)
		.setIssuer(ISSUER)
		.setAudience(AUDIENCE)
		.setIssuedAt(iat)
		.setExpirationTime(exp)
		.sign(await tokenKey(env, tenantId));
	return { token: `ut_${jwt}`, expiresAt: exp * 1000 };
}

/**
 * Verifies a token (without its `ut_` prefix): signature, issuer, audience and expiry.
 * The tenant is read from the unverified payload only to choose the key that must then
 * verify it. Null for anything forged, expired, malformed, or naming an unknown tenant.
 */
export async function verifyUserToken(
	env: Env,
	jwt: string,
	tenantOf: (id: string) => Promise<TenantCtx | null>,
): Promise<{ tenant: TenantCtx; userId: string } | null> {
	let claims: z.infer<typeof Claims>;
	try {
		const unverified = Claims.safeParse(decodeJwt(jwt));
		if (!unverified.success) return null;
		claims = unverified.data;
	} catch {
		// Not a JWT at all: the caller answers 401 like any invalid token.
		return null;
	}
	const tenant = await tenantOf(claims.tid);
	if (!tenant) return null;
	try {
		const { payload } = await jwtVerify(jwt, await tokenKey(env, tenant.id), {
			algorithms: ["HS256"],
			issuer: ISSUER,
			audience: AUDIENCE,
			requiredClaims: ["exp", "sub", "tid"],
		});
		const verified = Claims.safeParse(payload);
		if (!verified.success || verified.data.tid !== tenant.id) return null;
		return { tenant, userId: verified.data.sub };
	} catch {
		// A bad signature, audience or expiry (jose throws): 401 like any invalid token.
		return null;
	}
}
