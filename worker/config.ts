/** Deployment settings read from the environment, checked in one place. */

/** Local development (`npm start` sets LOCAL_DEV=true in its per-run env file); never in production. */
export function isLocalDev(env: Env): boolean {
	return env.LOCAL_DEV === "true";
}

let warned = false;

/**
 * The service's public origin, for signed click links: `PUBLIC_BASE_URL`, never the
 * request's Host (a client chooses that header, and with it where signed links would
 * point). Null when unset or not an http(s) origin: offers then go out without click
 * tracking, and the omission is logged once per isolate.
 */
export function publicBaseUrl(env: Env): string | null {
	const raw = env.PUBLIC_BASE_URL;
	let origin: string | null = null;
	if (raw) {
		try {
			const u = new URL(raw);
			const secure = u.protocol === "https:" || (u.protocol === "http:" && isLocalDev(env));
			if (secure) origin = u.origin;
		} catch {
			// Not a URL: treated as unset (warned once below).
			origin = null;
		}
	}
	if (!origin && !warned) {
		warned = true;
		console.warn(
			"PUBLIC_BASE_URL is unset or invalid (https required outside local development): offers are sent without click tracking",
		);
	}
	return origin;
}
