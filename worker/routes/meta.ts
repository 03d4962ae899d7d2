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

/** Unauthenticated, read-only: liveness, the OpenAPI document and its reference page, the VAPID public key. */
export function metaRoutes(api: ApiRouter): void {
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
