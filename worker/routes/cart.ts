import { z } from "zod";
import { AppError } from "../../src/errors.js";
import { isFutureCartEvent } from "../../src/rules/cart.js";
import { CartEventSchema, RotateWebhookSecretSchema } from "../../src/schemas/cart.js";
import { verifySignature } from "../../src/webhook/signature.js";
import { openSecret, randomToken, sealSecret } from "../crypto.js";
import { iso, json, parse, readJson } from "../http.js";
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
		await claimEventId(env, tenant.id, input.eventId, input.userId, now);
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
		// Every field is optional, so an empty body means the defaults.
		const raw = await readJson(req, 4096, { emptyAs: {} });
		const { graceSeconds } = parse(RotateWebhookSecretSchema, raw);
		const now = Date.now();
		const row = await env.DB.prepare(
			"SELECT webhook_secret_enc, webhook_secret_prev_enc FROM tenants WHERE id = ?",
		)
			.bind(tenant.id)
			.first<{ webhook_secret_enc: string; webhook_secret_prev_enc: string | null }>();
		if (!row) throw new AppError("not_found", 404, "Unknown tenant.");
		const webhookSecret = randomToken("whsec_");
		const until = now + graceSeconds * 1000;
		// Earlier secrets keep the grace period they were promised; the newest few are kept.
		const previous = [{ enc: row.webhook_secret_enc, until }, ...previousSecrets(row.webhook_secret_prev_enc)]
			.filter((p) => p.until > now)
			.slice(0, MAX_PREVIOUS_SECRETS);
		await env.DB.prepare(
			`UPDATE tenants SET webhook_secret_enc = ?, webhook_secret_prev_enc = ?, webhook_secret_prev_expires_at = ?
			  WHERE id = ?`,
		)
			.bind(
				await sealSecret(env.KEY_PEPPER, webhookSecret),
				JSON.stringify(previous),
				iso(Math.max(now, ...previous.map((p) => p.until))),
				tenant.id,
			)
			.run();
		// Shown once, like every key.
		return json({ webhookSecret, previousValidUntil: iso(until) });
	});
}

/** How many rotated-out secrets can still be in their grace period at once. */
const MAX_PREVIOUS_SECRETS = 3;
const PreviousSecrets = z.array(z.object({ enc: z.string(), until: z.number() }));

function previousSecrets(text: string | null): { enc: string; until: number }[] {
	if (!text) return [];
	try {
		const r = PreviousSecrets.safeParse(JSON.parse(text));
		return r.success ? r.data : [];
	} catch {
		return [];
	}
}

/**
 * Reserves an eventId for one user of the tenant. The same id for the same user goes on
 * to the person's object, which answers duplicates; for another user it is refused.
 */
async function claimEventId(
	env: Env,
	tenantId: string,
	eventId: string,
	userId: string,
	now: number,
): Promise<void> {
	const owner = await env.DB.prepare(
		`INSERT INTO cart_events (tenant_id, event_id, user_id, created_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (tenant_id, event_id) DO UPDATE SET event_id = excluded.event_id
		 RETURNING user_id`,
	)
		.bind(tenantId, eventId, userId, iso(now))
		.first<{ user_id: string }>();
	if (owner && owner.user_id !== userId) {
		throw new AppError("event_id_reused", 409, "This eventId was already used for another user.", [
			{ path: ["eventId"], message: "already used for another user", code: "event_id_reused" },
		]);
	}
}

/** The current secret, and the previous ones while their grace periods last. */
async function webhookSecrets(env: Env, tenantId: string, now: number): Promise<string[]> {
	const row = await env.DB.prepare(
		"SELECT webhook_secret_enc, webhook_secret_prev_enc FROM tenants WHERE id = ?",
	)
		.bind(tenantId)
		.first<{ webhook_secret_enc: string; webhook_secret_prev_enc: string | null }>();
	if (!row) return [];
	const sealed = [
		row.webhook_secret_enc,
		...previousSecrets(row.webhook_secret_prev_enc)
			.filter((p) => p.until > now)
			.map((p) => p.enc),
	];
	return Promise.all(sealed.map((enc) => openSecret(env.KEY_PEPPER, enc)));
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
