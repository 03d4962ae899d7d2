/**
 * The one base64url codec and HMAC-SHA256 key import of the service (unpadded base64url, RFC 4648
 * section 5): tokens, click signatures, JWTs, cursors and webhook signatures all use these.
 */

/** Bytes as unpadded base64url. */
export function bytesToBase64url(bytes: Uint8Array): string {
	let s = "";
	for (const b of bytes) s += String.fromCharCode(b);
	return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Base64url (padded or not) as bytes.
 *
 * @throws DOMException (`InvalidCharacterError`) for text that is not base64url
 */
export function base64urlToBytes(s: string): Uint8Array<ArrayBuffer> {
	const b = atob(s.replaceAll("-", "+").replaceAll("_", "/"));
	return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

const utf8 = new TextEncoder();

/** An HMAC-SHA256 key from a secret (its UTF-8 bytes), for signing or verifying. */
export function importHmacKey(secret: string, usages: ("sign" | "verify")[]): Promise<CryptoKey> {
	return crypto.subtle.importKey(
		"raw",
		utf8.encode(secret),
		{ name: "HMAC", hash: "SHA-256" },
		false,
		usages,
	);
}
