import {
	createFcmClient,
	type FcmClient,
	type FcmMessageInput,
	parseServiceAccount,
} from "../src/push/fcm.js";
import { logError } from "./log.js";
import type { PushOutcome } from "./push.js";
import { allowInsecureLoopback, logDelivery } from "./push.js";

/**
 * One FCM client per isolate and service account, so the OAuth2 access token is cached
 * across Durable Objects and requests until it expires.
 */
let cached: { account: string; client: FcmClient | null } | null = null;

/** The FCM client, or null when FCM is not configured (or misconfigured: logged once). */
export function fcmClient(env: Env): FcmClient | null {
	const account = env.FCM_SERVICE_ACCOUNT;
	if (!account) return null;
	if (cached?.account === account) return cached.client;
	const parsed = parseServiceAccount(account);
	let client: FcmClient | null = null;
	if (!parsed.ok)
		logError("fcm_disabled", new Error("FCM_SERVICE_ACCOUNT is not a usable service account"), {
			code: parsed.code,
		});
	else if (!baseUrlAllowed(env, env.FCM_API_BASE_URL) || !baseUrlAllowed(env, env.FCM_TOKEN_URL)) {
		logError(
			"fcm_disabled",
			new Error("FCM_API_BASE_URL / FCM_TOKEN_URL must be https (plain http only on loopback in dev)"),
		);
	} else {
		client = createFcmClient({
			serviceAccount: parsed.serviceAccount,
			fetch: (input, init) => fetch(input, init),
			now: () => Date.now(),
			...(env.FCM_TOKEN_URL ? { tokenUrl: env.FCM_TOKEN_URL } : {}),
			...(env.FCM_API_BASE_URL ? { apiBaseUrl: env.FCM_API_BASE_URL } : {}),
		});
	}
	cached = { account, client };
	return client;
}

/** Overrides point tests and staging at a local fake; production keeps https. */
function baseUrlAllowed(env: Env, url: string | undefined): boolean {
	if (!url) return true;
	try {
		const u = new URL(url);
		if (u.protocol === "https:") return true;
		return (
			u.protocol === "http:" &&
			allowInsecureLoopback(env) &&
			/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(u.hostname)
		);
	} catch {
		// Not a URL: not an allowed base URL (the caller disables FCM and logs it).
		return false;
	}
}

/** Sends one offer to one FCM registration token. */
export async function sendFcm(
	client: FcmClient,
	token: string,
	input: FcmMessageInput,
): Promise<PushOutcome> {
	let outcome: PushOutcome;
	try {
		const r = await client.send(token, input);
		outcome = r.kind === "accepted" ? { kind: "accepted" } : r;
	} catch (e) {
		outcome = { kind: "failed", code: e instanceof Error && "code" in e ? String(e.code) : "build_failed" };
	}
	return logDelivery("fcm", outcome, null);
}
