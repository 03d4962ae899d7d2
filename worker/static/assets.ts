import { z } from "zod";
import { endpoint } from "../api.js";
import { problem } from "../http.js";
import type { ApiRouter } from "../router.js";

/** Browsers check a service worker for updates at least daily whatever this says; the SDK is not versioned in its URL. */
const SCRIPT_CACHE = "public, max-age=300";

const SDK_FILES = ["edge-offers.js", "edge-offers-sw.js"] as const;

/**
 * Files built by `npm run build` into dist/assets/ (Workers Static Assets, `run_worker_first`,
 * so this Worker decides their headers): the web SDK and its service worker at /sdk/ (any
 * origin may load them: see worker/cors.ts), the same service worker at /sw.js for sites set
 * up before the SDK, and the demo shop at /demo/ in local development only.
 */
export function assetRoutes(api: ApiRouter): void {
	const script200 = (description: string) => ({
		200: {
			description,
			schema: z.string().meta({ description: "JavaScript" }),
			contentType: "text/javascript",
		},
	});
	for (const file of SDK_FILES) {
		const worker = file.endsWith("-sw.js");
		api.get(
			`/sdk/${file}`,
			endpoint(
				{
					operationId: worker ? "getSdkServiceWorker" : "getSdk",
					summary: worker
						? "The SDK's service worker; any origin may load it (CORS *), Service-Worker-Allowed: /"
						: "The web SDK, an ES module (docs/web-sdk.md); any origin may load it (CORS *)",
					...(worker
						? {
								description:
									"Shows offers (plain or Declarative Web Push), reports displayed, clicked per action and dismissed, and re-registers a renewed subscription.",
							}
						: {}),
					tags: ["sdk"],
					auth: "none",
					responses: script200(worker ? "the service worker" : "the SDK"),
					problems: [503],
				},
				async ({ req, env }) => script(await env.ASSETS.fetch(new URL(`/sdk/${file}`, req.url)), worker),
			),
		);
	}
	// Any other file under /sdk/.
	api.original.get("/sdk/:file", () => problem(404, "not_found", "No such file."));
	api.get(
		"/sw.js",
		endpoint(
			{
				operationId: "getServiceWorker",
				summary:
					"The web SDK's service worker (same file as /sdk/edge-offers-sw.js), for sites set up before the SDK",
				tags: ["sdk"],
				auth: "none",
				responses: script200("the service worker"),
				problems: [503],
			},
			async ({ req, env }) =>
				script(await env.ASSETS.fetch(new URL("/sdk/edge-offers-sw.js", req.url)), true),
		),
	);
	const router = api.original;
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
