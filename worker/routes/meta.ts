import { z } from "zod";
import { endpoint } from "../api.js";
import { json, problem } from "../http.js";
import type { ApiRouter } from "../router.js";

let openapi: string | null = null;

/** The OpenAPI document of every route registered on `api`, built once per isolate. */
export function openApiText(api: ApiRouter): string {
	openapi ??= JSON.stringify(api.schema);
	return openapi;
}

const OpenApiDocument = z
	.object({ openapi: z.string(), info: z.object({ title: z.string(), version: z.string() }) })
	.catchall(z.unknown())
	.meta({ description: "an OpenAPI 3.1 document" });

/**
 * Headers of the reference page's files: its script and styles come from this origin only, and
 * it reads only /openapi.json; no framing, no referrer.
 */
const DOCS_HEADERS: Record<string, string> = {
	"content-security-policy":
		"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	"x-content-type-options": "nosniff",
	"referrer-policy": "no-referrer",
	"cache-control": "no-cache",
};

/** A file of the reference page, from Workers Static Assets (dist/assets/docs/, built by `npm run build`). */
async function docsFile(req: Request, env: Env, assetPath: string): Promise<Response> {
	const res = await env.ASSETS.fetch(new Request(new URL(assetPath, req.url), { method: "GET" }));
	if (!res.ok)
		return problem(503, "assets_missing", "The API reference page is not built: run npm run build.");
	const out = new Response(res.body, res);
	for (const [k, v] of Object.entries(DOCS_HEADERS)) out.headers.set(k, v);
	return out;
}

/** Unauthenticated, read-only: liveness, the OpenAPI document and its reference page, the VAPID public key. */
export function metaRoutes(api: ApiRouter): void {
	// The readable reference (apidocs/), rendered in the browser from /openapi.json. A page, not
	// an API operation: outside the document.
	api.original.get("/docs", (req, env) => docsFile(req, env, "/docs/"));
	api.original.get("/docs/:file", (req, env) => {
		const file = String(req.params.file);
		if (file !== "reference.js" && file !== "reference.css")
			return problem(404, "not_found", "No such file.");
		return docsFile(req, env, `/docs/${file}`);
	});
	api.get(
		"/healthz",
		endpoint(
			{
				operationId: "getHealth",
				summary: "Liveness",
				tags: ["meta"],
				auth: "none",
				responses: { 200: { description: "the service answers", schema: z.object({ ok: z.literal(true) }) } },
				problems: [],
			},
			() => json({ ok: true }),
		),
	);
	api.get(
		"/openapi.json",
		endpoint(
			{
				operationId: "getOpenApi",
				summary: "This document",
				description: "Generated from the same zod schemas that validate the requests; rendered at /docs.",
				tags: ["meta"],
				auth: "none",
				responses: { 200: { description: "OpenAPI 3.1", schema: OpenApiDocument } },
				problems: [],
			},
			() =>
				new Response(openApiText(api), { headers: { "content-type": "application/json; charset=utf-8" } }),
		),
	);
	api.get(
		"/v1/push/vapid-public-key",
		endpoint(
			{
				operationId: "getVapidPublicKey",
				summary: "VAPID public key for PushManager.subscribe",
				tags: ["push"],
				auth: "none",
				responses: {
					200: {
						description: "the key, base64url of an uncompressed P-256 point",
						schema: z.object({ publicKey: z.string().meta({ example: "BNc...q8" }) }),
					},
				},
				problems: [503],
			},
			({ env }) =>
				env.VAPID_PUBLIC_KEY
					? json({ publicKey: env.VAPID_PUBLIC_KEY })
					: problem(503, "vapid_not_configured", "Set the VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY secrets."),
		),
	);
}
