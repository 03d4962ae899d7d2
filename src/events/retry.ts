/**
 * When a failed webhook delivery is tried again: exponential backoff with full jitter,
 * 2 s doubling up to one hour between attempts, for at least 24 hours after the first
 * attempt (about 30 attempts). After that the event is given up and the person's next
 * event goes out: an endpoint down for days must not hold a person's stream forever.
 */

/** First delay, before jitter. */
export const RETRY_BASE_MS = 2_000;
/** Longest delay between two attempts. */
export const RETRY_MAX_DELAY_MS = 3_600_000;
/** How long an event is retried, counted from its first attempt. */
export const RETRY_HORIZON_MS = 24 * 3_600_000;

/**
 * The time of the next attempt after `attempt` failed attempts, or null when the event has
 * been retried for {@link RETRY_HORIZON_MS} and is given up.
 *
 * The delay is drawn in [d/2, d] where d = min(max, base * 2^(attempt-1)): half jitter, so
 * endpoints recovering at once are not hit in lockstep, yet the schedule still grows.
 *
 * @param attempt failed attempts so far (1 after the first failure)
 * @param firstAttemptAt when the event was first tried, epoch ms
 * @param now epoch ms
 * @param random a number in [0, 1)
 * @param retryAfterMs the endpoint's `Retry-After`, when it sent one (honoured up to the max delay)
 */
export function nextAttemptAt(
	attempt: number,
	firstAttemptAt: number,
	now: number,
	random: number,
	retryAfterMs: number | null = null,
): number | null {
	if (now - firstAttemptAt >= RETRY_HORIZON_MS) return null;
	const d = Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
	let delay = d / 2 + (d / 2) * Math.min(Math.max(random, 0), 1);
	if (retryAfterMs !== null && retryAfterMs > delay) delay = Math.min(retryAfterMs, RETRY_MAX_DELAY_MS);
	// The last attempt lands at the horizon, so "at least 24 h" holds exactly.
	return Math.min(now + Math.round(delay), firstAttemptAt + RETRY_HORIZON_MS);
}

/** What an endpoint's answer means for the delivery. */
export type DeliveryVerdict = "delivered" | "retry" | "disable";

/** 2xx delivered; 410 Gone disables the endpoint; anything else (3xx not followed, 4xx, 5xx) is retried. */
export function verdictOf(status: number): DeliveryVerdict {
	if (status >= 200 && status < 300) return "delivered";
	if (status === 410) return "disable";
	return "retry";
}
