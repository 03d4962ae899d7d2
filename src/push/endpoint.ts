/**
 * Policy for Web Push endpoints. An endpoint arrives from a client, so it is
 * hostile input: left unchecked, the Worker would POST to whatever URL a caller
 * names (internal services, credential-bearing URLs, arbitrary hosts).
 */

/** Longest endpoint accepted; real push services issue far shorter URLs. */
export const MAX_ENDPOINT_LENGTH = 2048;

/**
 * Hosts of the push services browsers use (Chrome/Edge via FCM, Firefox via
 * Mozilla autopush, legacy Edge via WNS, Safari via Apple). A host matches when
 * it equals one of these or is a subdomain of one.
 */
export const KNOWN_PUSH_SERVICE_HOSTS: readonly string[] = [
	"fcm.googleapis.com",
	"android.googleapis.com",
	"updates.push.services.mozilla.com",
	"push.services.mozilla.com",
	"notify.windows.com",
	"push.apple.com",
	"web.push.apple.com",
];

/** Stable codes returned by {@link checkPushEndpoint}. */
export type PushEndpointErrorCode =
	| "invalid_url"
	| "url_too_long"
	| "credentials_in_url"
	| "unsupported_scheme"
	| "insecure_scheme"
	| "non_default_port"
	| "loopback_not_allowed"
	| "unknown_push_service";

/** Outcome of {@link checkPushEndpoint}: the parsed URL, or why it was refused. */
export type PushEndpointCheck = { ok: true; url: URL } | { ok: false; code: PushEndpointErrorCode };

/** Options of {@link checkPushEndpoint}. */
export interface PushEndpointOptions {
	/**
	 * Local development only: also accept `http:`/`https:` to 127.0.0.0/8,
	 * `localhost` and `[::1]` on any port, so a test push receiver can be used.
	 */
	allowInsecureLoopback: boolean;
}

// Whitespace and control characters are silently stripped or kept by the URL
// parser; refusing them keeps the stored string identical to what gets fetched.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE_CHARACTERS = /[\u0000-\u0020\u007f]/;

// The WHATWG parser canonicalises every IPv4 spelling (0x7f.1, 2130706433, ...)
// to dotted decimal, so after parsing one pattern covers the whole 127/8 block.
const IPV4_LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** True for the loopback hosts allowed in local development. */
function isLoopbackHost(hostname: string): boolean {
	return hostname === "localhost" || hostname === "[::1]" || IPV4_LOOPBACK.test(hostname);
}

/** True when `hostname` is a known push service or one of its subdomains. */
function isKnownPushService(hostname: string): boolean {
	return KNOWN_PUSH_SERVICE_HOSTS.some((host) => hostname === host || hostname.endsWith(`.${host}`));
}

/**
 * Decides whether the Worker may send a push message to `url`.
 *
 * Production accepts only `https:` on the default port to a known push service,
 * without userinfo, at most {@link MAX_ENDPOINT_LENGTH} characters. With
 * `allowInsecureLoopback` it also accepts `http:` or `https:` to loopback on any
 * port. Cheap checks run first.
 *
 * @param url - The endpoint exactly as the client sent it.
 * @param opts - Whether loopback endpoints are allowed (local development only).
 * @returns `{ ok: true, url }` with the parsed URL, or `{ ok: false, code }`.
 * @example
 * checkPushEndpoint("https://fcm.googleapis.com/fcm/send/abc", { allowInsecureLoopback: false });
 * // => { ok: true, url: URL }
 * checkPushEndpoint("http://10.0.0.1/", { allowInsecureLoopback: true });
 * // => { ok: false, code: "insecure_scheme" }
 */
export function checkPushEndpoint(url: string, opts: PushEndpointOptions): PushEndpointCheck {
	if (url.length > MAX_ENDPOINT_LENGTH) return { ok: false, code: "url_too_long" };
	if (UNSAFE_CHARACTERS.test(url)) return { ok: false, code: "invalid_url" };
	let parsed: URL;
	try {
		parsed = new URL(url);
	} catch {
		return { ok: false, code: "invalid_url" };
	}
	if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
		return { ok: false, code: "unsupported_scheme" };
	}
	if (parsed.hostname === "") return { ok: false, code: "invalid_url" };
	// Credentials would be sent to the push service and logged with the URL.
	if (parsed.username !== "" || parsed.password !== "") return { ok: false, code: "credentials_in_url" };

	if (isLoopbackHost(parsed.hostname)) {
		// Either scheme and any port: a local receiver has neither TLS nor port 443.
		return opts.allowInsecureLoopback
			? { ok: true, url: parsed }
			: { ok: false, code: "loopback_not_allowed" };
	}
	if (parsed.protocol !== "https:") return { ok: false, code: "insecure_scheme" };
	// The parser empties `port` when it equals the scheme's default (443).
	if (parsed.port !== "") return { ok: false, code: "non_default_port" };
	if (!isKnownPushService(parsed.hostname)) return { ok: false, code: "unknown_push_service" };
	return { ok: true, url: parsed };
}
