/**
 * Webhook targets are hostile input: a tenant could point one at our own network (cloud
 * metadata, loopback admin ports, private ranges) and use the service as a proxy. Checked at
 * creation and again before every delivery; deliveries never follow redirects.
 *
 * Production: `https:` to a public host name or a public IP literal only, no credentials in
 * the URL. Local development (`LOCAL_DEV=true`) also allows `http:` to loopback.
 * DNS is not resolved here (Workers cannot): a public name that resolves to a private address
 * is refused by Cloudflare's own fetch, which never reaches private networks.
 */

/** Why a target was refused; stable codes for the 422's errors[]. */
export type TargetRefusal =
	| "malformed_url"
	| "https_required"
	| "credentials_in_url"
	| "private_address"
	| "internal_hostname"
	| "loopback_not_allowed";

export type TargetCheck = { ok: true; url: string } | { ok: false; code: TargetRefusal };

/** Whether the host is loopback: `localhost`, `*.localhost`, 127/8 or ::1. */
export function isLoopbackHost(host: string): boolean {
	const h = stripBrackets(host.toLowerCase());
	if (h === "localhost" || h.endsWith(".localhost")) return true;
	const v4 = parseIPv4(h);
	if (v4) return v4[0] === 127;
	const v6 = parseIPv6(h);
	return v6?.every((x, i) => (i === 7 ? x === 1 : x === 0)) ?? false;
}

/** Host name suffixes that never name a public service. */
const INTERNAL_SUFFIXES = [
	".local",
	".localhost",
	".internal",
	".intranet",
	".lan",
	".home",
	".corp",
	".home.arpa",
	".in-addr.arpa",
	".ip6.arpa",
];
const INTERNAL_NAMES = new Set(["localhost", "metadata", "metadata.google.internal", "instance-data"]);

/**
 * Checks a webhook target.
 * @param raw the URL as the tenant sent it
 * @param opts `localDev`: allow http(s) to loopback (never in production)
 */
export function checkWebhookTarget(raw: string, opts: { localDev: boolean }): TargetCheck {
	let u: URL;
	try {
		u = new URL(raw);
	} catch {
		return { ok: false, code: "malformed_url" };
	}
	if (u.protocol !== "https:" && u.protocol !== "http:") return { ok: false, code: "https_required" };
	if (u.username !== "" || u.password !== "") return { ok: false, code: "credentials_in_url" };
	// WHATWG URL has already normalised numeric hosts (2130706433, 0x7f.1, 127.1) to dotted quads.
	const host = u.hostname.toLowerCase().replace(/\.$/, "");
	if (host === "") return { ok: false, code: "malformed_url" };
	if (isLoopbackHost(host)) {
		return opts.localDev ? { ok: true, url: u.href } : { ok: false, code: "loopback_not_allowed" };
	}
	if (u.protocol !== "https:") return { ok: false, code: "https_required" };
	const bare = stripBrackets(host);
	const v4 = parseIPv4(bare);
	if (v4) return isPublicIPv4(v4) ? { ok: true, url: u.href } : { ok: false, code: "private_address" };
	const v6 = parseIPv6(bare);
	if (v6) return isPublicIPv6(v6) ? { ok: true, url: u.href } : { ok: false, code: "private_address" };
	if (bare.includes(":")) return { ok: false, code: "malformed_url" };
	// A single label (`intranet`, `router`) resolves through search domains: never public.
	if (!bare.includes(".") || INTERNAL_NAMES.has(bare) || INTERNAL_SUFFIXES.some((s) => bare.endsWith(s)))
		return { ok: false, code: "internal_hostname" };
	return { ok: true, url: u.href };
}

function stripBrackets(h: string): string {
	return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

function parseIPv4(h: string): number[] | null {
	const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
	if (!m) return null;
	const parts = m.slice(1).map(Number);
	return parts.every((p) => p <= 255) ? parts : null;
}

/** Public unicast only: not this network, private, CGNAT, loopback, link-local, test, benchmark, multicast, reserved. */
function isPublicIPv4([a, b, c]: number[]): boolean {
	if (a === undefined || b === undefined || c === undefined) return false;
	if (a === 0 || a === 10 || a === 127) return false;
	if (a === 100 && b >= 64 && b <= 127) return false;
	if (a === 169 && b === 254) return false;
	if (a === 172 && b >= 16 && b <= 31) return false;
	if (a === 192 && b === 168) return false;
	if (a === 192 && b === 0 && (c === 0 || c === 2)) return false;
	if (a === 198 && (b === 18 || b === 19)) return false;
	if (a === 198 && b === 51 && c === 100) return false;
	if (a === 203 && b === 0 && c === 113) return false;
	if (a >= 224) return false;
	return true;
}

/**
 * Eight 16-bit groups, or null. The URL parser has already written IPv6 hosts in canonical
 * hexadecimal form (`[::ffff:127.0.0.1]` becomes `[::ffff:7f00:1]`), so no dotted tail is left.
 */
function parseIPv6(h: string): number[] | null {
	if (!h.includes(":") || !/^[0-9a-f:]+$/.test(h)) return null;
	const halves = h.split("::");
	if (halves.length > 2) return null;
	const parse = (part: string) =>
		part === "" ? [] : part.split(":").map((g) => (g === "" ? -1 : Number.parseInt(g, 16)));
	const head = parse(halves[0] ?? "");
	const rest = halves.length === 2 ? parse(halves[1] ?? "") : [];
	if ([...head, ...rest].some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return null;
	const fixed = head.length + rest.length;
	if (halves.length === 1 ? fixed !== 8 : fixed > 7) return null;
	return [...head, ...new Array<number>(8 - fixed).fill(0), ...rest];
}

function isPublicIPv6(g: number[]): boolean {
	const [a = 0, b = 0] = g;
	if (g.every((x) => x === 0)) return false; // ::
	if (g.slice(0, 7).every((x) => x === 0)) return false; // ::1 and ::x
	// IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::/96): judged by the IPv4 inside.
	const v4 = [(g[6] ?? 0) >> 8, (g[6] ?? 0) & 255, (g[7] ?? 0) >> 8, (g[7] ?? 0) & 255];
	if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return isPublicIPv4(v4);
	if (a === 0x64 && b === 0xff9b) return isPublicIPv4(v4);
	if ((a & 0xfe00) === 0xfc00) return false; // unique local fc00::/7
	if ((a & 0xffc0) === 0xfe80) return false; // link-local fe80::/10
	if ((a & 0xffc0) === 0xfec0) return false; // site-local fec0::/10
	if ((a & 0xff00) === 0xff00) return false; // multicast
	if (a === 0x2001 && b === 0x0db8) return false; // documentation
	return true;
}
