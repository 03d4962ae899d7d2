/**
 * CORS for the app routes only (docs/web-sdk.md, "CORS"): the routes a browser app calls
 * for one person (profile, devices, pings, offer events) and the public ones it loads (the
 * VAPID key, the SDK files). Back-office routes never answer CORS, so no page can read a
 * back-office answer even with a leaked secret key in hand.
 *
 * A preflight carries neither the key nor the body, so it cannot name its tenant. It is
 * answered the same way for every origin (the origin reflected, the route's methods, cached),
 * which tells nothing about which origins any tenant allows. The tenant's `allowedOrigins`
 * is enforced on the actual request, once its key names the tenant and before anything is
 * applied: a cross-origin request from an origin the tenant does not list is refused with
 * 403 `origin_not_allowed` and no CORS headers (see {@link admitOrigin}).
 */
import { AppError } from "../src/errors.js";

/** How long a browser may cache a preflight answer (Chromium caps it at 2 hours). */
export const PREFLIGHT_MAX_AGE_SECONDS = 7200;

/** Request headers an app sends on app routes. */
const ALLOWED_HEADERS = "authorization, content-type";
/** Response headers the SDK reads besides the CORS-safelisted ones. */
const EXPOSED_HEADERS = "retry-after";

interface AppRoute {
	pattern: RegExp;
	/** The methods of this path that are app routes; the path's other methods are back office. */
	methods: readonly string[];
	/** Public, the same for every tenant and caller: any origin may read it, no key needed. */
	public?: true;
}

const SEGMENT = "[^/]+";
const APP_ROUTES: readonly AppRoute[] = [
	{ pattern: new RegExp(`^/v1/users/${SEGMENT}$`), methods: ["PUT"] },
	{ pattern: new RegExp(`^/v1/users/${SEGMENT}/devices/${SEGMENT}$`), methods: ["PUT", "DELETE"] },
	{ pattern: /^\/v1\/pings$/, methods: ["POST"] },
	{ pattern: new RegExp(`^/v1/offers/${SEGMENT}/events$`), methods: ["POST"] },
	{ pattern: /^\/v1\/push\/vapid-public-key$/, methods: ["GET"], public: true },
	{ pattern: /^\/sdk\/[A-Za-z0-9._-]+$/, methods: ["GET"], public: true },
];

/**
 * The app route of a path and method, or null for anything else (back office, unknown).
 *
 * @param pathname the URL's path
 * @param method the request method (for a preflight: the method it asks for)
 */
export function appRoute(pathname: string, method: string): AppRoute | null {
	const m = method.toUpperCase();
	// HEAD is answered like GET by the router.
	const asked = m === "HEAD" ? "GET" : m;
	for (const r of APP_ROUTES) if (r.pattern.test(pathname) && r.methods.includes(asked)) return r;
	return null;
}

/** What {@link admitOrigin} decided for a request: its CORS answer follows from it. */
const decisions = new WeakMap<Request, boolean>();

/**
 * Called by app-route authentication once the tenant is known, before anything is applied:
 * a request from a browser page on another origin passes only when the tenant lists that
 * origin (or `"*"`, which settings allow only with user tokens). Requests without `Origin`
 * (native apps, servers) and same-origin ones (`Sec-Fetch-Site: same-origin`, or the
 * service's own origin, such as the demo page or a proxy in front of it) are not CORS and pass.
 *
 * @param req the request, remembered so its answer gets the matching CORS headers
 * @param allowed the tenant's `allowedOrigins`
 * @throws AppError `origin_not_allowed` (403)
 */
export function admitOrigin(req: Request, allowed: readonly string[]): void {
	const origin = req.headers.get("origin");
	if (origin === null) return;
	if (req.headers.get("sec-fetch-site") === "same-origin" || origin === new URL(req.url).origin) return;
	const ok = allowed.includes("*") || allowed.includes(origin);
	decisions.set(req, ok);
	if (!ok)
		throw new AppError(
			"origin_not_allowed",
			403,
			"This origin is not in the tenant's allowedOrigins setting.",
		);
}

/**
 * Wraps the router: answers preflights of app routes and adds CORS headers to the answers
 * of app routes. Anything else is passed through untouched.
 *
 * @param req the incoming request
 * @param handle the router
 */
export async function withCors(req: Request, handle: (req: Request) => Promise<Response>): Promise<Response> {
	const origin = req.headers.get("origin");
	const { pathname } = new URL(req.url);
	if (req.method === "OPTIONS") {
		const asked = req.headers.get("access-control-request-method");
		const route = origin !== null && asked !== null ? appRoute(pathname, asked) : null;
		if (route && origin !== null) return preflight(route, origin);
		return handle(req);
	}
	const res = await handle(req);
	const route = appRoute(pathname, req.method);
	if (!route) return res;
	const headers = new Headers(res.headers);
	headers.append("vary", "Origin");
	if (origin !== null) {
		if (route.public) headers.set("access-control-allow-origin", "*");
		// false: refused for this tenant. Unset: no tenant was established (a 401 or a malformed
		// request), whose generic answer the page may read, so an SDK can renew its token.
		else if (decisions.get(req) !== false) headers.set("access-control-allow-origin", origin);
		if (headers.has("access-control-allow-origin"))
			headers.set("access-control-expose-headers", EXPOSED_HEADERS);
	}
	return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

function preflight(route: AppRoute, origin: string): Response {
	return new Response(null, {
		status: 204,
		headers: {
			"access-control-allow-origin": route.public ? "*" : origin,
			"access-control-allow-methods": route.methods.join(", "),
			"access-control-allow-headers": ALLOWED_HEADERS,
			"access-control-max-age": String(PREFLIGHT_MAX_AGE_SECONDS),
			vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
		},
	});
}
