import { z } from "zod";
import { AppError } from "../../src/errors.js";
import { isFutureCartEvent } from "../../src/rules/cart.js";
import { CartEventSchema, RotateWebhookSecretSchema } from "../../src/schemas/cart.js";
import { DecisionSchema } from "../../src/schemas/ping.js";
import { verifySignature } from "../../src/webhook/signature.js";
import { endpoint } from "../api.js";
import { json, parse, parseJsonBytes, readBytes } from "../http.js";
import { rotateWebhookSecret, webhookSecrets } from "../keys.js";
import type { ApiRouter } from "../router.js";
import { limitTenant, loadTenant, requireKey } from "../tenants.js";
import { shopper } from "./users.js";

const MAX_BODY_BYTES = 256 * 1024;
const TENANT_ID = /^tn_[A-Za-z0-9_-]{1,64}$/;

/**
 * Every refusal of an unauthenticated cart event is this one answer, whatever the cause
 * (no signature, a bad one, a stale one, an unknown tenant): a caller without the secret
 * learns nothing, not even which tenants exist.
 */
const refused = () =>
	new AppError("bad_signature", 401, "The X-Signature header does not verify for this body and tenant.");

/**
 * Stands in for the secret of an unknown tenant, so its refusal costs the same HMAC work
 * as a known tenant's: the time of the answer does not tell them apart either.
 */
const DECOY_SECRET = "whsec_decoy-for-unknown-tenants";

const CartHeaders = z.object({
	"X-Tenant-Id": z
		.string()
		.regex(TENANT_ID)
		.meta({ description: "the tenant the event is for", example: "tn_Xb3kQ9mPz7aL" }),
	"X-Signature": z.string().meta({
		description:
			"t=<unix seconds>,v1=<hex HMAC-SHA256 of `<t>.<raw body>` with the tenant's webhook secret>; at most 5 minutes old",
		example: "t=1764691200,v1=5f2b...e9",
	}),
});

/** The cart webhook (signed) and webhook-secret rotation (secret key). */
export function cartRoutes(api: ApiRouter): void {
	api.post(
		"/v1/cart-events",
		endpoint(
			{
				operationId: "postCartEvent",
				summary: "Cart webhook from the shop's platform, signed with the tenant's webhook secret",
				description:
					"The signature is checked over the raw bytes before anything is parsed. Every refusal of the signature (missing, bad, stale, unknown tenant) is the same 401. The same eventId again answers the first answer (duplicate: true).",
				tags: ["cart"],
				auth: "webhook",
				headers: CartHeaders,
				body: {
					schema: CartEventSchema,
					maxBytes: MAX_BODY_BYTES,
					raw: true,
					example: {
						eventId: "evt-20261202-0001",
						userId: "alice",
						type: "item_added",
						items: [{ sku: "chips-200g", category: "snacks", quantity: 1, price: 2.5 }],
						occurredAt: "2026-12-02T16:00:00Z",
					},
				},
				responses: {
					200: {
						description: "offer decisions",
						schema: z.object({ offers: z.array(DecisionSchema), duplicate: z.boolean().optional() }),
					},
				},
				problems: [409, 429],
			},
			async ({ req, env }) => {
				const now = Date.now();
				// The raw bytes are what was signed: verify before parsing anything.
				const raw = await readBytes(req, MAX_BODY_BYTES);
				const tenantId = req.headers.get("x-tenant-id") ?? "";
				const secrets = TENANT_ID.test(tenantId) ? await webhookSecrets(env, tenantId, now) : [];
				const verdict = await verifySignature(
					req.headers.get("x-signature"),
					raw,
					secrets.length > 0 ? secrets : [DECOY_SECRET],
					now,
				);
				if (!verdict.ok || secrets.length === 0) throw refused();
				const input = parse(CartEventSchema, parseJsonBytes(raw));
				const event = { ...input, occurredAt: input.occurredAt ?? now };
				if (isFutureCartEvent(event, now)) {
					throw new AppError("validation_failed", 422, "occurredAt is more than 5 minutes in the future.", [
						{ path: ["occurredAt"], message: "more than 5 minutes in the future", code: "future" },
					]);
				}
				const tenant = await loadTenant(env, tenantId);
				if (!tenant) throw refused();
				await limitTenant(env, tenant.id);
				const answer = await shopper(env, tenant.id, input.userId).cartEvent(
					tenant,
					input.userId,
					event,
					now,
				);
				if ("eventIdOwnedByAnother" in answer)
					throw new AppError("event_id_reused", 409, "This eventId was already used for another user.", [
						{ path: ["eventId"], message: "already used for another user", code: "event_id_reused" },
					]);
				// An erased person: acknowledged like any event, and nothing was stored.
				if ("erased" in answer) return json({ offers: [] });
				return json({ offers: answer.offers, ...(answer.duplicate ? { duplicate: true } : {}) });
			},
		),
	);

	api.post(
		"/v1/webhook-secret/rotate",
		endpoint(
			{
				operationId: "rotateWebhookSecret",
				summary: "New cart-webhook secret (shown once); the previous one stays valid for graceSeconds",
				description:
					'The same as POST /v1/keys/rotate with {"kind": "webhook"}. An empty body means the defaults.',
				tags: ["cart"],
				auth: "secret",
				body: {
					schema: RotateWebhookSecretSchema,
					maxBytes: 4096,
					example: { graceSeconds: 3600 },
					emptyAs: {},
				},
				responses: {
					200: {
						description: "the new secret",
						schema: z.object({
							webhookSecret: z.string(),
							previousValidUntil: z.string().meta({ format: "date-time" }),
						}),
					},
				},
				problems: [429],
			},
			async ({ req, env, body }) => {
				const tenant = await requireKey(req, env, "secret");
				const { graceSeconds } = await body();
				return json(await rotateWebhookSecret(env, tenant.id, graceSeconds, Date.now()), 200, {
					"cache-control": "no-store",
				});
			},
		),
	);
}
