/**
 * Signed click links. A notification carries links to the service, not to the retailer,
 * so a click is recorded before the person is redirected; the link's HMAC binds the offer
 * and the action, so it can be neither forged nor re-pointed at another offer or button.
 * Where a link leads is never in the link: it is looked up from the stored offer, so the
 * endpoint cannot be used as an open redirect. WebCrypto only: runs in workerd and Node.
 */
import { z } from "zod";
import { base64urlToBytes, bytesToBase64url, importHmacKey } from "../lib/encoding.js";

/** An action button id, as campaigns define them. */
export const ActionId = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/);

/** Length of a click signature: HMAC-SHA256 (32 bytes) in unpadded base64url. */
export const CLICK_SIG_LENGTH = 43;

/**
 * 43 characters carry 258 bits for a 256-bit MAC: the last one must have its two spare
 * bits clear, so each MAC has exactly one accepted spelling.
 */
const SIG_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
const enc = new TextEncoder();

/** The signed message: versioned, and JSON keeps `null` (the body) apart from any action id. */
function message(offerId: string, action: string | null): Uint8Array<ArrayBuffer> {
	return new Uint8Array(enc.encode(JSON.stringify(["edge-offers/click/v1", offerId, action])));
}

function hmacKey(key: string, usage: "sign" | "verify"): Promise<CryptoKey> {
	return importHmacKey(key, [usage]);
}

function toBase64url(bytes: Uint8Array): string {
	return bytesToBase64url(bytes);
}

function fromBase64url(s: string): Uint8Array<ArrayBuffer> {
	return base64urlToBytes(s);
}

/**
 * Signs a click link for one offer and one action.
 *
 * @param key - The click-link secret (the Worker derives it from `KEY_PEPPER`).
 * @param offerId - The offer the link belongs to.
 * @param action - The action button id, or `null` for the notification body.
 * @returns HMAC-SHA256 over the offer and action, {@link CLICK_SIG_LENGTH} base64url characters.
 * @example
 * const sig = await signClick(key, "3f0c…", "add");
 */
export async function signClick(key: string, offerId: string, action: string | null): Promise<string> {
	const mac = await crypto.subtle.sign("HMAC", await hmacKey(key, "sign"), message(offerId, action));
	return toBase64url(new Uint8Array(mac));
}

/**
 * Checks a click signature in constant time (`crypto.subtle.verify`). Never throws: a
 * malformed signature is simply not valid.
 *
 * @param key - The secret {@link signClick} used.
 * @param offerId - The offer of the link being followed.
 * @param action - The action of the link being followed, `null` for the body.
 * @param sig - The `sig` query parameter as received.
 * @returns Whether `sig` was made by {@link signClick} for exactly this offer and action.
 */
export async function verifyClick(
	key: string,
	offerId: string,
	action: string | null,
	sig: string,
): Promise<boolean> {
	if (!SIG_PATTERN.test(sig)) return false;
	return crypto.subtle.verify(
		"HMAC",
		await hmacKey(key, "verify"),
		fromBase64url(sig),
		message(offerId, action),
	);
}

/**
 * The click link to put in a push payload.
 *
 * @param baseUrl - Public origin of the service, e.g. `https://offers.example.com` (a trailing slash is dropped).
 * @param offerId - The offer.
 * @param action - The action button id, `null` for the notification body.
 * @param sig - {@link signClick} of the same offer and action.
 * @returns `${baseUrl}/v1/offers/${offerId}/click?sig=…` with `&action=…` for a button.
 */
export function clickUrl(baseUrl: string, offerId: string, action: string | null, sig: string): string {
	const q = new URLSearchParams({ sig });
	if (action !== null) q.set("action", action);
	return `${baseUrl.replace(/\/+$/, "")}/v1/offers/${encodeURIComponent(offerId)}/click?${q}`;
}

/**
 * Where an offer's links lead, stored with the offer (`offers.links`):
 * `{"url": "...", "actions": {"<actionId>": "<url>"}}`. An action without a URL is
 * listed with `null`, so a click on it is still known (and recorded) but leads nowhere.
 */
export const OfferLinksSchema = z.object({
	url: z.string().max(2048).nullish(),
	actions: z.record(ActionId, z.string().max(2048).nullable()).optional(),
});
export type OfferLinks = z.infer<typeof OfferLinksSchema>;

/**
 * The links of a rendered variant, in the shape stored on the offer.
 *
 * @param v - The variant (or its rendering): its `url` and its actions' `url`s.
 * @returns `{url, actions}` with `null` where the variant has no link.
 */
export function linksOf(v: {
	url?: string | undefined;
	actions?: readonly { id: string; url?: string | undefined }[] | undefined;
}): OfferLinks {
	return {
		url: v.url ?? null,
		actions: Object.fromEntries((v.actions ?? []).map((a) => [a.id, a.url ?? null])),
	};
}

/** Where a click goes: a redirect, nowhere (the click still counts), or an action the offer never had. */
export type ClickTarget = { kind: "redirect"; url: string } | { kind: "none" } | { kind: "unknown_action" };

/**
 * Resolves a click to its destination. Only absolute http(s) URLs are followed, so a
 * stored `javascript:` or `data:` link (which campaign validation already refuses) can
 * never become a redirect.
 *
 * @param links - The offer's stored links; `null` when unknown.
 * @param action - The clicked action id, `null` for the notification body.
 * @returns The target; `unknown_action` when the offer has no such action.
 */
export function resolveClick(links: OfferLinks | null, action: string | null): ClickTarget {
	let raw: string | null | undefined;
	if (action === null) raw = links?.url;
	else {
		const actions = links?.actions ?? {};
		if (!Object.hasOwn(actions, action)) return { kind: "unknown_action" };
		raw = actions[action];
	}
	const url = raw ? httpUrl(raw) : null;
	return url ? { kind: "redirect", url } : { kind: "none" };
}

/** The URL normalized when it is absolute http(s), else null. */
export function httpUrl(raw: string): string | null {
	if (!URL.canParse(raw)) return null;
	const u = new URL(raw);
	return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
}
