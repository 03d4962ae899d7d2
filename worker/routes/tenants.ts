import { z } from "zod";
import {
	defaultSettings,
	mergeSettings,
	SettingsPatchSchema,
	SettingsSchema,
} from "../../src/schemas/settings.js";
import { CreateTenantSchema, RotateKeySchema, TenantCreatedSchema } from "../../src/schemas/tenant.js";
import { endpoint } from "../api.js";
import { hashKey, randomToken, sealSecret } from "../crypto.js";
import { json } from "../http.js";
import { rotateApiKey, rotateWebhookSecret } from "../keys.js";
import type { ApiRouter } from "../router.js";
import { insertKey } from "../store/keys.js";
import { insertTenant, updateSettings } from "../store/tenants.js";
import { forgetCachedTenants, requireAdmin, requireKey } from "../tenants.js";

const NO_STORE = { "cache-control": "no-store" };

/** POST /v1/tenants (admin), key rotation and the tenant's settings (secret key). */
export function tenantRoutes(api: ApiRouter): void {
	api.post(
		"/v1/tenants",
		endpoint(
			{
				operationId: "createTenant",
				summary: "Create a tenant; its keys are shown once",
				tags: ["tenants"],
				auth: "admin",
				body: {
					schema: CreateTenantSchema,
					maxBytes: 64 * 1024,
					example: { name: "Acme Groceries", timezone: "Europe/Paris" },
				},
				responses: {
					201: {
						description: "the tenant and its keys (only their hashes are kept)",
						schema: TenantCreatedSchema,
					},
				},
				problems: [],
			},
			async ({ req, env, body }) => {
				await requireAdmin(req, env);
				const input = await body();
				const id = randomToken("tn_", 12);
				const secretKey = randomToken("sk_");
				const publishableKey = randomToken("pk_");
				const webhookSecret = randomToken("whsec_");
				const now = new Date().toISOString();
				const settings = defaultSettings(input.timezone ?? "UTC");
				await env.DB.batch([
					insertTenant(env.DB, {
						id,
						name: input.name,
						settings: JSON.stringify(settings),
						webhookSecretSealed: await sealSecret(env.KEY_PEPPER, webhookSecret),
						createdAt: now,
					}),
					insertKey(env.DB, {
						keyHash: await hashKey(env.KEY_PEPPER, secretKey),
						tenantId: id,
						kind: "secret",
						createdAt: now,
					}),
					insertKey(env.DB, {
						keyHash: await hashKey(env.KEY_PEPPER, publishableKey),
						tenantId: id,
						kind: "publishable",
						createdAt: now,
					}),
				]);
				// The only time the keys are shown: only their hashes (and the sealed webhook secret) are stored.
				return json({ id, name: input.name, secretKey, publishableKey, webhookSecret }, 201);
			},
		),
	);

	api.post(
		"/v1/keys/rotate",
		endpoint(
			{
				operationId: "rotateKey",
				summary:
					"Rotate the secret, publishable or webhook key; the old one stays valid for graceSeconds (0: refused at once)",
				tags: ["tenants"],
				auth: "secret",
				body: {
					schema: RotateKeySchema,
					maxBytes: 1024,
					example: { kind: "publishable", graceSeconds: 86400 },
				},
				responses: {
					200: {
						description: "the new key, shown once (one of secretKey, publishableKey, webhookSecret)",
						schema: z.object({
							secretKey: z.string().optional(),
							publishableKey: z.string().optional(),
							webhookSecret: z.string().optional(),
							previousValidUntil: z.string().meta({ format: "date-time" }),
						}),
					},
				},
				problems: [429],
			},
			async ({ req, env, body }) => {
				const tenant = await requireKey(req, env, "secret");
				const { kind, graceSeconds } = await body();
				const now = Date.now();
				if (kind === "webhook")
					return json(await rotateWebhookSecret(env, tenant.id, graceSeconds, now), 200, NO_STORE);
				const { key, previousValidUntil } = await rotateApiKey(env, tenant.id, kind, graceSeconds, now);
				// Shown once, like every key.
				return json(
					{ [kind === "secret" ? "secretKey" : "publishableKey"]: key, previousValidUntil },
					200,
					NO_STORE,
				);
			},
		),
	);

	api.get(
		"/v1/settings",
		endpoint(
			{
				operationId: "getSettings",
				summary: "Settings in force",
				tags: ["tenants"],
				auth: "secret",
				responses: { 200: { description: "the settings", schema: SettingsSchema } },
				problems: [429],
			},
			async ({ req, env }) => json((await requireKey(req, env, "secret")).settings),
		),
	);

	api.put(
		"/v1/settings",
		endpoint(
			{
				operationId: "putSettings",
				summary: "Change settings (every field optional, merged over what is in force)",
				tags: ["tenants"],
				auth: "secret",
				body: {
					schema: SettingsPatchSchema,
					maxBytes: 64 * 1024,
					example: { caps: { perDay: 3 }, quietHours: { start: "21:00", end: "08:00" } },
				},
				responses: { 200: { description: "the settings in force", schema: SettingsSchema } },
				problems: [429],
			},
			async ({ req, env, body }) => {
				const tenant = await requireKey(req, env, "secret");
				const next = mergeSettings(tenant.settings, await body());
				await updateSettings(env.DB, tenant.id, JSON.stringify(next));
				forgetCachedTenants();
				return json(next);
			},
		),
	);
}
