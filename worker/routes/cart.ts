import { AppError } from "../../src/errors.js";
import { isFutureCartEvent } from "../../src/rules/cart.js";
import { CartEventSchema, RotateWebhookSecretSchema } from "../../src/schemas/cart.js";
import { verifySignature } from "../../src/webhook/signature.js";
import { json, parse, parseJsonBytes, readBytes, readJson } from "../http.js";
import { rotateWebhookSecret, webhookSecrets } from "../keys.js";
import type { AppRouter } from "../router.js";
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

/** The cart webhook (signed) and webhook-secret rotation (secret key). */
export function cartRoutes(router: AppRouter): void {
	router.post("/v1/cart-events", async (req, env) => {
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
		const answer = await shopper(env, tenant.id, input.userId).cartEvent(tenant, input.userId, event, now);
		if ("eventIdOwnedByAnother" in answer)
			throw new AppError("event_id_reused", 409, "This eventId was already used for another user.", [
				{ path: ["eventId"], message: "already used for another user", code: "event_id_reused" },
			]);
		// An erased person: acknowledged like any event, and nothing was stored.
		if ("erased" in answer) return json({ offers: [] });
		return json({ offers: answer.offers, ...(answer.duplicate ? { duplicate: true } : {}) });
	});

	router.post("/v1/webhook-secret/rotate", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		// Every field is optional, so an empty body means the defaults. Kept beside
		// POST /v1/keys/rotate {"kind": "webhook"}, which does the same.
		const raw = await readJson(req, 4096, { emptyAs: {} });
		const { graceSeconds } = parse(RotateWebhookSecretSchema, raw);
		return json(await rotateWebhookSecret(env, tenant.id, graceSeconds, Date.now()), 200, {
			"cache-control": "no-store",
		});
	});
}
