import { checkPushEndpoint } from "../src/push/endpoint.js";
import { PushError, webPushPayloadFor } from "../src/push/payload.js";
import { buildWebPushRequest, classifyPushResponse, type PushSubscriptionJSON } from "../src/push/webpush.js";

export type PushOutcome =
	| { kind: "accepted" }
	| { kind: "gone" }
	| { kind: "retry"; retryAtMs: number | null }
	| { kind: "failed"; code: string };

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
	const endpoint = checkPushEndpoint(sub.endpoint, { allowInsecureLoopback: allowInsecureLoopback(env) });
	if (!endpoint.ok) return { kind: "failed", code: endpoint.code };
	if (!env.VAPID_PUBLIC_KEY || !env.VAPID_PRIVATE_KEY)
		return { kind: "failed", code: "vapid_not_configured" };
	try {
		// Building can throw for a subscription that stopped validating (e.g. stored before a stricter check).
		const { url, init } = buildWebPushRequest(
			sub,
			// Safari's push service gets Declarative Web Push (shown even with no service worker running).
			webPushPayloadFor(sub.endpoint, payload),
			{ subject: env.VAPID_SUBJECT, publicKey: env.VAPID_PUBLIC_KEY, privateKey: env.VAPID_PRIVATE_KEY },
			{ ttlSeconds: opts.ttlSeconds, urgency: "high", topic: opts.topic },
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
