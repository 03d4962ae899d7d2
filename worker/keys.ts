import { z } from "zod";
import { AppError } from "../src/errors.js";
import { hashKey, openSecret, randomToken, sealSecret } from "./crypto.js";
import { iso } from "./http.js";
import { rotateKey } from "./store/keys.js";
import { updateWebhookSecret, webhookSecretRow } from "./store/tenants.js";
import { forgetCachedTenants, type KeyKind } from "./tenants.js";

/**
 * Key rotation. The new key is shown once; the old one keeps working for `graceSeconds`
 * (both valid meanwhile) so clients switch without failures; 0 refuses it at once.
 */

const PREFIX: Record<KeyKind, string> = { secret: "sk_", publishable: "pk_" };

/** Rotates the tenant's secret or publishable key. */
export async function rotateApiKey(
	env: Env,
	tenantId: string,
	kind: KeyKind,
	graceSeconds: number,
	now: number,
): Promise<{ key: string; previousValidUntil: string }> {
	const key = randomToken(PREFIX[kind]);
	const until = now + graceSeconds * 1000;
	// Keys already rotated out keep the (shorter or longer) grace they were promised; the key
	// in force gets this one, or goes at once.
	await rotateKey(env.DB, {
		tenantId,
		kind,
		newKeyHash: await hashKey(env.KEY_PEPPER, key),
		now: iso(now),
		until: graceSeconds === 0 ? null : iso(until),
	});
	forgetCachedTenants();
	return { key, previousValidUntil: iso(until) };
}

/** How many rotated-out webhook secrets can still be in their grace period at once. */
const MAX_PREVIOUS_SECRETS = 3;
const PreviousSecrets = z.array(z.object({ enc: z.string(), until: z.number() }));

function previousSecrets(text: string | null): { enc: string; until: number }[] {
	if (!text) return [];
	try {
		const r = PreviousSecrets.safeParse(JSON.parse(text));
		return r.success ? r.data : [];
	} catch {
		// Unreadable stored list (never written so): no previous secret is in its grace period.
		return [];
	}
}

/** Rotates the tenant's cart-webhook secret; earlier secrets keep their promised grace (the newest few). */
export async function rotateWebhookSecret(
	env: Env,
	tenantId: string,
	graceSeconds: number,
	now: number,
): Promise<{ webhookSecret: string; previousValidUntil: string }> {
	const row = await webhookSecretRow(env.DB, tenantId);
	if (!row) throw new AppError("not_found", 404, "Unknown tenant.");
	const webhookSecret = randomToken("whsec_");
	const until = now + graceSeconds * 1000;
	const previous = [{ enc: row.webhook_secret_enc, until }, ...previousSecrets(row.webhook_secret_prev_enc)]
		.filter((p) => p.until > now)
		.slice(0, MAX_PREVIOUS_SECRETS);
	await updateWebhookSecret(env.DB, tenantId, {
		sealed: await sealSecret(env.KEY_PEPPER, webhookSecret),
		previous: JSON.stringify(previous),
		previousExpiresAt: iso(Math.max(now, ...previous.map((p) => p.until))),
	});
	return { webhookSecret, previousValidUntil: iso(until) };
}

/** The current webhook secret, and the previous ones while their grace periods last. */
export async function webhookSecrets(env: Env, tenantId: string, now: number): Promise<string[]> {
	const row = await webhookSecretRow(env.DB, tenantId);
	if (!row) return [];
	const sealed = [
		row.webhook_secret_enc,
		...previousSecrets(row.webhook_secret_prev_enc)
			.filter((p) => p.until > now)
			.map((p) => p.enc),
	];
	return Promise.all(sealed.map((enc) => openSecret(env.KEY_PEPPER, enc)));
}
