import { AppError } from "../../src/errors.js";
import {
	CONSOLE_SESSION_MAX_SECONDS,
	ConsoleSessionSchema,
	CreateConsoleSessionSchema,
} from "../../src/schemas/console.js";
import { endpoint } from "../api.js";
import { CONSOLE_TOKEN_PREFIX } from "../console-sessions.js";
import { hashKey, randomToken } from "../crypto.js";
import { iso, json } from "../http.js";
import type { ApiRouter } from "../router.js";
import { deleteConsoleSession, keyExpiry, openConsoleSession } from "../store/keys.js";
import { bearer, requireKey } from "../tenants.js";

const NO_STORE = { "cache-control": "no-store" };

/**
 * Headers of every console file. The console talks only to this origin (connect-src 'self'),
 * except a basemap style the retailer configures (https: for its tiles, glyphs and sprites);
 * MapLibre runs its workers from blob: URLs. No framing (clickjacking), no referrer.
 */
export const CONSOLE_HEADERS: Record<string, string> = {
	"content-security-policy": [
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data: blob: https:",
		"font-src 'self' data:",
		"connect-src 'self' https:",
		"worker-src 'self' blob:",
		"child-src blob:",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	].join("; "),
	"x-content-type-options": "nosniff",
	"x-frame-options": "DENY",
	"referrer-policy": "no-referrer",
	"cross-origin-opener-policy": "same-origin",
};

/** Built files under /console/assets/ have content hashes in their names: cached for good. */
const IMMUTABLE = "public, max-age=31536000, immutable";

/**
 * Console sign-in: `POST /v1/console/sessions` exchanges the tenant's secret key for a
 * session token (`cs_…`, at most one hour) that the browser console keeps in memory, and that
 * every secret-key route accepts (worker/tenants.ts `requireKey`);
 * `DELETE /v1/console/sessions/current` ends it. Only the token's peppered hash is stored.
 */
export function consoleRoutes(api: ApiRouter): void {
	// Also matches "/console" itself (redirected to "/console/" so relative URLs resolve).
	api.original.get("/console/*", (req, env) => serveConsole(req, env));
	api.original.head("/console/*", (req, env) => serveConsole(req, env));

	api.post(
		"/v1/console/sessions",
		endpoint(
			{
				operationId: "createConsoleSession",
				summary: "Console sign-in: exchange the secret key for a session token",
				description:
					"Only the secret key itself (sk_) opens a session: a session cannot extend itself. The token (cs_, at most 1 h, never past the key's own end) is accepted wherever the secret key is.",
				tags: ["console"],
				auth: "secret",
				body: {
					schema: CreateConsoleSessionSchema,
					maxBytes: 1024,
					example: { ttlSeconds: 3600 },
					emptyAs: {},
				},
				responses: { 201: { description: "the session token, shown once", schema: ConsoleSessionSchema } },
				problems: [429],
			},
			async ({ req, env, body }) => {
				// Only the secret key itself opens a session: a session cannot extend itself.
				const key = bearer(req);
				if (!key?.startsWith("sk_"))
					throw new AppError("unauthorized", 401, "Open a console session with the secret key (sk_...).");
				const tenant = await requireKey(req, env, "secret");
				const { ttlSeconds } = await body();
				const now = Date.now();
				const keyHash = await hashKey(env.KEY_PEPPER, key);
				const keyExpiresAt = await keyExpiry(env.DB, keyHash);
				// A key in its grace period opens a session no longer than the key lives.
				const keyExpires = keyExpiresAt ? Date.parse(keyExpiresAt) : Number.POSITIVE_INFINITY;
				const expires = Math.min(now + Math.min(ttlSeconds, CONSOLE_SESSION_MAX_SECONDS) * 1000, keyExpires);
				const token = randomToken(CONSOLE_TOKEN_PREFIX);
				await openConsoleSession(env.DB, {
					tokenHash: await hashKey(env.KEY_PEPPER, token),
					tenantId: tenant.id,
					keyHash,
					now: iso(now),
					expiresAt: iso(expires),
				});
				return json({ token, expiresAt: iso(expires) }, 201, NO_STORE);
			},
		),
	);

	api.delete(
		"/v1/console/sessions/current",
		endpoint(
			{
				operationId: "deleteConsoleSession",
				summary: "Console sign-out: ends the session whose cs_ token authenticates the request",
				tags: ["console"],
				auth: "secret",
				responses: { 204: { description: "ended" } },
				problems: [429],
			},
			async ({ req, env }) => {
				const token = bearer(req);
				if (!token?.startsWith(CONSOLE_TOKEN_PREFIX))
					throw new AppError("unauthorized", 401, "Send the console session token (cs_...) to end it.");
				const tenant = await requireKey(req, env, "secret");
				await deleteConsoleSession(env.DB, await hashKey(env.KEY_PEPPER, token), tenant.id);
				return new Response(null, { status: 204, headers: NO_STORE });
			},
		),
	);
}

/**
 * A console file from Workers Static Assets (dist/assets/console/, built by `npm run build`).
 * Any path that is not a file is the app itself (it routes with the URL's hash), so a deep
 * link or a reload never ends on a 404.
 */
async function serveConsole(req: Request, env: Env): Promise<Response> {
	const url = new URL(req.url);
	if (url.pathname === "/console") return Response.redirect(new URL("/console/", url).toString(), 308);
	let res = await env.ASSETS.fetch(new Request(url, { method: req.method, headers: { accept: "*/*" } }));
	const isAsset = url.pathname.startsWith("/console/assets/");
	if (res.status === 404 && !isAsset)
		res = await env.ASSETS.fetch(new Request(new URL("/console/", url), { method: req.method }));
	if (res.status === 404)
		return new Response(isAsset ? "Not found" : "The console is not built: run npm run build.", {
			status: 404,
			headers: { "content-type": "text/plain; charset=utf-8", ...CONSOLE_HEADERS },
		});
	const out = new Response(res.body, res);
	for (const [k, v] of Object.entries(CONSOLE_HEADERS)) out.headers.set(k, v);
	out.headers.set("cache-control", isAsset && res.ok ? IMMUTABLE : "no-cache");
	return out;
}
