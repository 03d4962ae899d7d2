/**
 * When to try a push delivery again after a 429 or 5xx: exponential backoff with full
 * jitter (so a push service's outage does not end in a synchronized stampede), never
 * earlier than the service's `Retry-After`, and never past the offer's expiry: an offer
 * nobody can use any more is not worth delivering.
 */

export const RETRY_BASE_MS = 2_000;
export const RETRY_CAP_MS = 10 * 60_000;
/** The floor between two attempts, whatever Retry-After says. */
export const RETRY_MIN_MS = 1_000;

/**
 * @param attempt - 1 for the first retry.
 * @param retryAtMs - The service's Retry-After as epoch ms, or null.
 * @param random - A draw in [0, 1) (injected so tests are exact).
 * @returns Epoch ms of the next attempt, or null when that would be at or past `expiresAt`.
 */
export function nextRetryAt(
	attempt: number,
	now: number,
	retryAtMs: number | null,
	expiresAt: number,
	random: number,
): number | null {
	const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
	const backoff = now + Math.max(RETRY_MIN_MS, Math.floor(random * ceiling));
	const at = retryAtMs === null ? backoff : Math.max(retryAtMs, now + RETRY_MIN_MS);
	return at >= expiresAt ? null : at;
}
