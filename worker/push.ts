import type { DeliveryOutcome } from "../src/person/delivery.js";
import { checkPushEndpoint } from "../src/push/endpoint.js";
import { PushError, webPushPayloadFor } from "../src/push/payload.js";
import { buildWebPushRequest, classifyPushResponse, type PushSubscriptionJSON } from "../src/push/webpush.js";

/** What a push service answered for one copy (the person core's type: src/person/delivery.ts). */
export type PushOutcome = DeliveryOutcome;

/**
 * Logs a delivery that did not go through as one structured JSON line (Workers Logs): transport,
 * outcome, code, and the push service's host only (an endpoint URL is a capability to push to
 * the person; a token is a secret). An accepted delivery is not logged.
 */
export function logDelivery(
	transport: "web" | "fcm",
	outcome: PushOutcome,
	host: string | null,
): PushOutcome {
	if (outcome.kind !== "accepted") {
		const line: Record<string, unknown> = { event: "push_delivery", transport, outcome: outcome.kind, host };
		if (outcome.kind === "failed") line.code = outcome.code;
		if (outcome.kind === "retry") line.retryAtMs = outcome.retryAtMs;
		(outcome.kind === "failed" ? console.error : console.warn)(JSON.stringify(line));
	}
	return outcome;
}

function hostOf(url: string): string | null {
	try {
		return new URL(url).host;
	} catch {
		// Not a URL (refused earlier by the endpoint check): no host to log.
		return null;
	}
}

/** Dev setting: plain-http push endpoints on loopback (local receivers, tests). */
export function allowInsecureLoopback(env: Env): boolean {
	return env.ALLOW_INSECURE_LOOPBACK_PUSH === "true";
}

/**
 * Encrypts (RFC 8291), signs (RFC 8292) and sends one Web Push message. The endpoint is
 * re-checked at send time: it is stored hostile input, and settings may have changed.
 */
export async function sendWebPush(
	env: Env,
	sub: PushSubscriptionJSON,
	payload: string,
	opts: { ttlSeconds: number; topic: string; now: number },
): Promise<PushOutcome> {
	return logDelivery("web", await attemptWebPush(env, sub, payload, opts), hostOf(sub.endpoint));
}

async function attemptWebPush(
	env: Env,
	sub: PushSubscriptionJSON,
	payload: string,
	opts: { ttlSeconds: number; topic: string; now: number },
): Promise<PushOutcome> {
	const endpoint = checkPushEndpoint(sub.endpoint, { allowInsecureLoopback: allowInsecureLoopback(env) });
	if (!endpoint.ok) return { kind: "failed", code: endpoint.code };
	if (!env.VAPID_PUBLIC_KEY || !env.VAPID_PRIVATE_KEY)
		return { kind: "failed", code: "vapid_not_configured" };
	try {
		// Building can throw for a subscription that stopped validating (e.g. stored before a stricter check).
		const { url, init } = await buildWebPushRequest(
			sub,
			// Safari's push service gets Declarative Web Push (shown even with no service worker running).
			webPushPayloadFor(sub.endpoint, payload),
			{ subject: env.VAPID_SUBJECT, publicKey: env.VAPID_PUBLIC_KEY, privateKey: env.VAPID_PRIVATE_KEY },
			{ ttlSeconds: opts.ttlSeconds, urgency: "high", topic: opts.topic },
			opts.now,
		);
		let res: Response;
		try {
			res = await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(10_000) });
		} catch {
			return { kind: "retry", retryAtMs: null };
		}
		// Drain so the connection can be reused; push services answer with tiny bodies.
		await res.arrayBuffer().catch(() => undefined);
		const c = classifyPushResponse(res.status, res.headers, opts.now);
		return c.kind === "failed" ? { kind: "failed", code: `http_${res.status}` } : c;
	} catch (e) {
		return { kind: "failed", code: e instanceof PushError ? e.code : "build_failed" };
	}
}
