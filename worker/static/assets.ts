import { problem } from "../http.js";
import type { AppRouter } from "../router.js";

/** Browsers check a service worker for updates at least daily whatever this says; the SDK is not versioned in its URL. */
const SCRIPT_CACHE = "public, max-age=300";

/**
 * Files built by `npm run build` into dist/assets/ (Workers Static Assets, `run_worker_first`,
 * so this Worker decides their headers): the web SDK and its service worker at /sdk/ (any
 * origin may load them: see worker/cors.ts), the same service worker at /sw.js for sites set
 * up before the SDK, and the demo shop at /demo/ in local development only.
 */
export function assetRoutes(router: AppRouter): void {
	router.get("/sdk/:file", async (req, env) => {
		const file = String(req.params.file);
		if (!/^edge-offers(-sw)?\.js$/.test(file)) return problem(404, "not_found", "No such file.");
		return script(await env.ASSETS.fetch(new URL(`/sdk/${file}`, req.url)), file.endsWith("-sw.js"));
	});
	router.get("/sw.js", async (req, env) =>
		script(await env.ASSETS.fetch(new URL("/sdk/edge-offers-sw.js", req.url)), true),
	);
	router.get("/demo/*", async (req, env) => {
		if (env.LOCAL_DEV !== "true") return problem(404, "not_found", "No such route.");
		const url = new URL(req.url);
		if (url.pathname === "/demo") return Response.redirect(new URL("/demo/", url).href, 301);
		const res = await env.ASSETS.fetch(new Request(req.url, { method: "GET" }));
		const h = new Headers(res.headers);
		h.set("cache-control", "no-store");
		h.set("x-content-type-options", "nosniff");
		return new Response(res.body, { status: res.status, headers: h });
	});
}

function script(res: Response, serviceWorker: boolean): Response {
	if (!res.ok) return problem(503, "assets_missing", "The web SDK is not built: run npm run build.");
	const h = new Headers({
		"content-type": "text/javascript; charset=utf-8",
		"cache-control": SCRIPT_CACHE,
		"x-content-type-options": "nosniff",
	});
	const etag = res.headers.get("etag");
	if (etag) h.set("etag", etag);
	// Lets a page register it for the whole site when the service itself is the site (the demo).
	if (serviceWorker) h.set("service-worker-allowed", "/");
	return new Response(res.body, { status: 200, headers: h });
}
