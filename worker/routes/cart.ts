import { AppError } from "../../src/errors.js";
import { isFutureCartEvent } from "../../src/rules/cart.js";
import { CartEventSchema, RotateWebhookSecretSchema } from "../../src/schemas/cart.js";
import { verifySignature } from "../../src/webhook/signature.js";
import { openSecret, randomToken, sealSecret } from "../crypto.js";
import { body, iso, json, parse } from "../http.js";
import type { AppRouter } from "../router.js";
import { loadTenant, requireKey } from "../tenants.js";
import { shopper } from "./users.js";

const MAX_BODY_BYTES = 256 * 1024;
const TENANT_ID = /^tn_[A-Za-z0-9_-]{1,64}$/;

const unauthorized = (code: string) =>
	new AppError(code, 401, "The X-Signature header does not verify for this body and tenant.");

/** The cart webhook (signed) and webhook-secret rotation (secret key). */
export function cartRoutes(router: AppRouter): void {
	router.post("/v1/cart-events", async (req, env) => {
		const now = Date.now();
		// The raw bytes are what was signed: verify before parsing anything.
		const raw = new Uint8Array(await readRaw(req));
		const tenantId = req.headers.get("x-tenant-id") ?? "";
		const secrets = TENANT_ID.test(tenantId) ? await webhookSecrets(env, tenantId, now) : [];
		const verdict = await verifySignature(req.headers.get("x-signature"), raw, secrets, now);
		// An unknown tenant looks exactly like a bad signature.
		if (!verdict.ok) throw unauthorized(secrets.length === 0 ? "bad_signature" : verdict.code);
		let parsedJson: unknown;
		try {
			parsedJson = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(raw));
		} catch {
			throw new AppError("malformed_json", 400, "The body is not valid JSON.");
		}
		const input = parse(CartEventSchema, parsedJson);
		const event = { ...input, occurredAt: input.occurredAt ?? now };
		if (isFutureCartEvent(event, now)) {
			throw new AppError("validation_failed", 422, "occurredAt is more than 5 minutes in the future.", [
				{ path: ["occurredAt"], message: "more than 5 minutes in the future", code: "future" },
			]);
		}
		const tenant = await loadTenant(env, tenantId);
		if (!tenant) throw unauthorized("bad_signature");
		const answer = await shopper(env, tenant.id, input.userId).cartEvent(
			tenant,
			input.userId,
			event,
			now,
			new URL(req.url).origin,
		);
		return json({ offers: answer.offers, ...(answer.duplicate ? { duplicate: true } : {}) });
	});

	router.post("/v1/webhook-secret/rotate", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const { graceSeconds } = await body(req, RotateWebhookSecretSchema);
		const row = await env.DB.prepare("SELECT webhook_secret_enc FROM tenants WHERE id = ?")
			.bind(tenant.id)
			.first<{ webhook_secret_enc: string }>();
		if (!row) throw new AppError("not_found", 404, "Unknown tenant.");
		const webhookSecret = randomToken("whsec_");
		const previousValidUntil = iso(Date.now() + graceSeconds * 1000);
		await env.DB.prepare(
			`UPDATE tenants SET webhook_secret_enc = ?, webhook_secret_prev_enc = ?, webhook_secret_prev_expires_at = ?
			  WHERE id = ?`,
		)
			.bind(
				await sealSecret(env.KEY_PEPPER, webhookSecret),
				row.webhook_secret_enc,
				previousValidUntil,
				tenant.id,
			)
			.run();
		// Shown once, like every key.
		return json({ webhookSecret, previousValidUntil });
	});
}

/** The current secret, and the previous one while its grace period lasts. */
async function webhookSecrets(env: Env, tenantId: string, now: number): Promise<string[]> {
	const row = await env.DB.prepare(
		"SELECT webhook_secret_enc, webhook_secret_prev_enc, webhook_secret_prev_expires_at FROM tenants WHERE id = ?",
	)
		.bind(tenantId)
		.first<{
			webhook_secret_enc: string;
			webhook_secret_prev_enc: string | null;
			webhook_secret_prev_expires_at: string | null;
		}>();
	if (!row) return [];
	const secrets = [await openSecret(env.KEY_PEPPER, row.webhook_secret_enc)];
	const until = row.webhook_secret_prev_expires_at ? Date.parse(row.webhook_secret_prev_expires_at) : 0;
	if (row.webhook_secret_prev_enc && until > now)
		secrets.push(await openSecret(env.KEY_PEPPER, row.webhook_secret_prev_enc));
	return secrets;
}

async function readRaw(req: Request): Promise<ArrayBuffer> {
	const declared = Number(req.headers.get("content-length") ?? "0");
	if (declared > MAX_BODY_BYTES)
		throw new AppError("body_too_large", 413, `The body exceeds ${MAX_BODY_BYTES} bytes.`);
	const buf = await req.arrayBuffer();
	if (buf.byteLength > MAX_BODY_BYTES)
		throw new AppError("body_too_large", 413, `The body exceeds ${MAX_BODY_BYTES} bytes.`);
	return buf;
}
