import { buildOpenApi } from "../../src/schemas/openapi.js";
import { json, problem } from "../http.js";
import type { AppRouter } from "../router.js";

let openapi: string | null = null;

/** Unauthenticated, read-only: liveness, the OpenAPI document, the VAPID public key. */
export function metaRoutes(router: AppRouter): void {
	router.get("/healthz", () => json({ ok: true }));
	router.get("/openapi.json", () => {
		openapi ??= JSON.stringify(buildOpenApi("1.0.0"));
		return new Response(openapi, { headers: { "content-type": "application/json; charset=utf-8" } });
	});
	router.get("/v1/push/vapid-public-key", (_req, env) =>
		env.VAPID_PUBLIC_KEY
			? json({ publicKey: env.VAPID_PUBLIC_KEY })
			: problem(503, "vapid_not_configured", "Set the VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY secrets."),
	);
}
