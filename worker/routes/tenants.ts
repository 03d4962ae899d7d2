import { defaultSettings, mergeSettings, SettingsPatchSchema } from "../../src/schemas/settings.js";
import { CreateTenantSchema, RotateKeySchema } from "../../src/schemas/tenant.js";
import { hashKey, randomToken, sealSecret } from "../crypto.js";
import { body, json, parse, readJson } from "../http.js";
import { rotateApiKey, rotateWebhookSecret } from "../keys.js";
import type { AppRouter } from "../router.js";
import { forgetCachedTenants, requireAdmin, requireKey } from "../tenants.js";

/** POST /v1/tenants (admin) and the tenant's settings (secret key). */
export function tenantRoutes(router: AppRouter): void {
	router.post("/v1/tenants", async (req, env) => {
		await requireAdmin(req, env);
		const input = await body(req, CreateTenantSchema);
		const id = randomToken("tn_", 12);
		const secretKey = randomToken("sk_");
		const publishableKey = randomToken("pk_");
		const webhookSecret = randomToken("whsec_");
		const now = new Date().toISOString();
		const settings = defaultSettings(input.timezone ?? "UTC");
		await env.DB.batch([
			env.DB.prepare(
				"INSERT INTO tenants (id, name, settings, geofence_version, webhook_secret_enc, created_at) VALUES (?, ?, ?, 0, ?, ?)",
			).bind(id, input.name, JSON.stringify(settings), await sealSecret(env.KEY_PEPPER, webhookSecret), now),
			env.DB.prepare(
				"INSERT INTO api_keys (key_hash, tenant_id, kind, created_at) VALUES (?, ?, 'secret', ?)",
			).bind(await hashKey(env.KEY_PEPPER, secretKey), id, now),
			env.DB.prepare(
				"INSERT INTO api_keys (key_hash, tenant_id, kind, created_at) VALUES (?, ?, 'publishable', ?)",
			).bind(await hashKey(env.KEY_PEPPER, publishableKey), id, now),
		]);
		// The only time the keys are shown: only their hashes (and the sealed webhook secret) are stored.
		return json({ id, name: input.name, secretKey, publishableKey, webhookSecret }, 201);
	});

	router.post("/v1/keys/rotate", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const { kind, graceSeconds } = parse(RotateKeySchema, await readJson(req, 1024));
		const now = Date.now();
		const noStore = { "cache-control": "no-store" };
		if (kind === "webhook")
			return json(await rotateWebhookSecret(env, tenant.id, graceSeconds, now), 200, noStore);
		const { key, previousValidUntil } = await rotateApiKey(env, tenant.id, kind, graceSeconds, now);
		// Shown once, like every key.
		return json(
			{ [kind === "secret" ? "secretKey" : "publishableKey"]: key, previousValidUntil },
			200,
			noStore,
		);
	});

	router.get("/v1/settings", async (req, env) => json((await requireKey(req, env, "secret")).settings));

	router.put("/v1/settings", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const patch = await body(req, SettingsPatchSchema);
		const next = mergeSettings(tenant.settings, patch);
		await env.DB.prepare("UPDATE tenants SET settings = ? WHERE id = ?")
			.bind(JSON.stringify(next), tenant.id)
			.run();
		forgetCachedTenants();
		return json(next);
	});
}
