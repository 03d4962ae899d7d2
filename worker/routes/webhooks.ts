import { z } from "zod";
import { AppError } from "../../src/errors.js";
import { checkWebhookTarget } from "../../src/events/target.js";
import {
	CreateWebhookSchema,
	DeliverySchema,
	MAX_WEBHOOKS_PER_TENANT,
	ReplaySchema,
	WebhookCreatedSchema,
	WebhookSchema,
} from "../../src/events/webhook.js";
import { PageLimit } from "../../src/schemas/common.js";
import { endpoint } from "../api.js";
import { isLocalDev } from "../config.js";
import { randomToken, sealSecret } from "../crypto.js";
import { outboxStub, parseTypes } from "../events.js";
import { iso, json } from "../http.js";
import type { ApiRouter } from "../router.js";
import {
	countWebhooks,
	deleteWebhook,
	insertWebhook,
	listWebhooks,
	type WebhookRow,
	webhookOfTenant,
} from "../store/webhooks.js";
import { requireKey } from "../tenants.js";

const WebhookId = z
	.string()
	.regex(/^wh_[A-Za-z0-9_-]{1,64}$/, "not a webhook id")
	.meta({
		description: "the webhook's id (a malformed one is answered 404, like another tenant's)",
		example: "wh_3kT9xQ2mPz7a",
	});
const WebhookParams = z.object({ id: WebhookId });
const NO_STORE = { "cache-control": "no-store" };

function view(r: WebhookRow) {
	return {
		id: r.id,
		url: r.url,
		events: parseTypes(r.events),
		description: r.description,
		createdAt: r.created_at,
		status: r.disabled_at === null ? ("active" as const) : ("disabled" as const),
		disabledAt: r.disabled_at,
		disabledReason: r.disabled_reason,
	};
}

/** The tenant's webhook, or 404 (a malformed id, or another tenant's webhook, is just as unknown). */
async function ownWebhook(env: Env, tenantId: string, rawId: string | undefined): Promise<WebhookRow> {
	const id = WebhookId.safeParse(rawId);
	const row = id.success ? await webhookOfTenant(env.DB, id.data, tenantId) : null;
	if (!row) throw new AppError("not_found", 404, "No webhook with this id.");
	return row;
}

/**
 * Outgoing webhooks (secret key): create (the signing secret shown once), list, read, delete,
 * the deliveries log, and replays. Delivery itself is the outbox object's (worker/webhooks-outbox.ts).
 */
export function webhookRoutes(api: ApiRouter): void {
	api.post(
		"/v1/webhooks",
		endpoint(
			{
				operationId: "createWebhook",
				summary: "Create an outgoing webhook; its signing secret is shown once",
				description:
					'https to a public host (http://127.0.0.1 or localhost only in local development), and the event types it receives. Deliveries are POSTs of one event with X-Event-Id and X-Signature (t=..,v1=hex HMAC-SHA256(secret, "t.body")), at least once, in order per person, retried with backoff for 24 h; a 410 disables it.',
				tags: ["webhooks"],
				auth: "secret",
				body: {
					schema: CreateWebhookSchema,
					maxBytes: 8 * 1024,
					example: {
						url: "https://crm.example/hooks/edge-offers",
						events: ["geofence.entered", "offer.sent"],
						description: "CRM sync",
					},
				},
				responses: {
					201: {
						description: "the webhook and its signing secret, shown once",
						schema: WebhookCreatedSchema,
					},
				},
				problems: [409, 429],
			},
			async ({ req, env, body }) => {
				const tenant = await requireKey(req, env, "secret");
				const input = await body();
				const target = checkWebhookTarget(input.url, { localDev: isLocalDev(env) });
				if (!target.ok)
					throw new AppError("validation_failed", 422, "The webhook URL is not allowed.", [
						{ path: ["url"], message: "not an allowed webhook target", code: target.code },
					]);
				if ((await countWebhooks(env.DB, tenant.id)) >= MAX_WEBHOOKS_PER_TENANT)
					throw new AppError(
						"too_many_webhooks",
						409,
						`At most ${MAX_WEBHOOKS_PER_TENANT} webhooks per tenant.`,
					);
				const id = randomToken("wh_", 12);
				const secret = randomToken("whsec_");
				const sealed = await sealSecret(env.KEY_PEPPER, secret);
				const now = iso(Date.now());
				// The outbox first: once the row exists, drains fan out to it.
				await outboxStub(env, id).configure({
					webhookId: id,
					tenantId: tenant.id,
					url: target.url,
					events: input.events,
					sealedSecret: sealed,
				});
				const row: WebhookRow = {
					id,
					url: target.url,
					events: JSON.stringify(input.events),
					description: input.description ?? null,
					created_at: now,
					disabled_at: null,
					disabled_reason: null,
				};
				await insertWebhook(env.DB, {
					id,
					tenantId: tenant.id,
					url: row.url,
					events: row.events,
					description: row.description,
					secretSealed: sealed,
					createdAt: now,
				});
				return json({ ...view(row), secret }, 201, NO_STORE);
			},
		),
	);

	api.get(
		"/v1/webhooks",
		endpoint(
			{
				operationId: "listWebhooks",
				summary: "List the tenant's webhooks (never their secrets)",
				tags: ["webhooks"],
				auth: "secret",
				responses: {
					200: { description: "the webhooks", schema: z.object({ webhooks: z.array(WebhookSchema) }) },
				},
				problems: [429],
			},
			async ({ req, env }) => {
				const tenant = await requireKey(req, env, "secret");
				return json({ webhooks: (await listWebhooks(env.DB, tenant.id)).map(view) });
			},
		),
	);

	api.get(
		"/v1/webhooks/:id",
		endpoint(
			{
				operationId: "getWebhook",
				summary: "One webhook (never its secret); status disabled after its endpoint answered 410",
				tags: ["webhooks"],
				auth: "secret",
				params: WebhookParams,
				responses: { 200: { description: "the webhook", schema: WebhookSchema } },
				problems: [404, 429],
			},
			async ({ req, env }) => {
				const tenant = await requireKey(req, env, "secret");
				return json(view(await ownWebhook(env, tenant.id, req.params.id)));
			},
		),
	);

	api.delete(
		"/v1/webhooks/:id",
		endpoint(
			{
				operationId: "deleteWebhook",
				summary: "Delete a webhook and everything waiting for it",
				tags: ["webhooks"],
				auth: "secret",
				params: WebhookParams,
				responses: { 204: { description: "deleted" } },
				problems: [404, 429],
			},
			async ({ req, env }) => {
				const tenant = await requireKey(req, env, "secret");
				const row = await ownWebhook(env, tenant.id, req.params.id);
				// The row first: drains stop fanning out to it, then the outbox forgets everything.
				await deleteWebhook(env.DB, row.id, tenant.id);
				await outboxStub(env, row.id).destroy();
				return new Response(null, { status: 204 });
			},
		),
	);

	api.get(
		"/v1/webhooks/:id/deliveries",
		endpoint(
			{
				operationId: "listWebhookDeliveries",
				summary: "Recent delivery attempts, newest first, after the events waiting for their first",
				description: "Each: event, status code, attempt, outcome, next retry, error.",
				tags: ["webhooks"],
				auth: "secret",
				params: WebhookParams,
				query: z.object({
					limit: PageLimit.optional().meta({ description: "1 to 1000, default 100", example: "100" }),
				}),
				responses: {
					200: {
						description: "the deliveries log",
						schema: z.object({ deliveries: z.array(DeliverySchema) }),
					},
				},
				problems: [404, 429],
			},
			async ({ req, env, query }) => {
				const tenant = await requireKey(req, env, "secret");
				const row = await ownWebhook(env, tenant.id, req.params.id);
				const limit = query().limit ?? 100;
				return json({ deliveries: await outboxStub(env, row.id).deliveries(limit) }, 200, NO_STORE);
			},
		),
	);

	api.post(
		"/v1/webhooks/:id/replay",
		endpoint(
			{
				operationId: "replayWebhook",
				summary: "Deliver again the webhook's events since a time (read from the events store, in order)",
				tags: ["webhooks"],
				auth: "secret",
				params: WebhookParams,
				body: { schema: ReplaySchema, maxBytes: 1024, example: { since: "2026-12-01T00:00:00Z" } },
				responses: {
					202: {
						description: "the replay is under way",
						schema: z.object({ id: z.string(), since: z.string().meta({ format: "date-time" }) }),
					},
				},
				problems: [404, 409, 429],
			},
			async ({ req, env, body }) => {
				const tenant = await requireKey(req, env, "secret");
				const row = await ownWebhook(env, tenant.id, req.params.id);
				const { since } = await body();
				if (row.disabled_at !== null)
					throw new AppError("webhook_disabled", 409, "This webhook is disabled: create a new one.");
				await outboxStub(env, row.id).replay(since);
				return json({ id: row.id, since: iso(since) }, 202);
			},
		),
	);
}
