/**
 * A token bucket: `capacity` requests at once, refilled at `perSecond`. Pure: the caller
 * keeps the state and passes the clock, so a Durable Object can hold one per person and
 * count exactly (its requests are serialized).
 */
export interface Bucket {
	tokens: number;
	at: number;
}

export interface BucketRule {
	capacity: number;
	perSecond: number;
}

/** Takes one token: the new bucket, or how many seconds until one is available. */
export function take(
	bucket: Bucket | null,
	rule: BucketRule,
	now: number,
): { ok: true; bucket: Bucket } | { ok: false; bucket: Bucket; retryAfterSeconds: number } {
	const prev = bucket ?? { tokens: rule.capacity, at: now };
	const elapsed = Math.max(0, now - prev.at) / 1000;
	const tokens = Math.min(rule.capacity, prev.tokens + elapsed * rule.perSecond);
	if (tokens >= 1) return { ok: true, bucket: { tokens: tokens - 1, at: now } };
	return {
		ok: false,
		bucket: { tokens, at: now },
		retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / rule.perSecond)),
	};
}
