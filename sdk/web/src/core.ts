/**
 * The SDK's pure decisions, with no browser API: which positions to keep, how long to wait
 * before a retry, how a batch is named. Tested in Node (test/unit/sdk-core.test.ts).
 */

/** A position as sent to POST /v1/pings. */
export interface Ping {
	lat: number;
	lng: number;
	/** Horizontal accuracy radius in metres. */
	accuracy: number;
	/** Epoch milliseconds. */
	timestamp: number;
}

/** How positions are filtered and how soon they are sent. */
export interface TrackingProfile {
	/** Keep a position only this far (m) from the last kept one... */
	minDistance: number;
	/** ...or once this long (ms) has passed since it, so presence and dwell stay current. */
	maxInterval: number;
	/** Positions less accurate than this (m) are dropped. */
	maxAccuracy: number;
	/** Send the queue at most this long (ms) after a position is kept. */
	flushAfter: number;
	/** Send at once when this many positions are waiting. */
	batchSize: number;
	/** Ask the device for GPS-grade fixes. */
	highAccuracy: boolean;
}

/**
 * `responsive`: offers as soon as the person walks in (each kept position sent within
 * seconds). `continuous`: a finer trace sent in batches (fewer requests, more battery for GPS).
 */
export const MODES: Record<"responsive" | "continuous", TrackingProfile> = {
	responsive: {
		minDistance: 30,
		maxInterval: 5 * 60_000,
		maxAccuracy: 100,
		flushAfter: 2_000,
		batchSize: 5,
		highAccuracy: false,
	},
	continuous: {
		minDistance: 10,
		maxInterval: 60_000,
		maxAccuracy: 50,
		flushAfter: 30_000,
		batchSize: 20,
		highAccuracy: true,
	},
};

/** Most pings one request may carry (the API's limit). */
export const MAX_BATCH = 100;

const R = 6_371_008.8;
const RAD = Math.PI / 180;

/** Great-circle distance in metres. */
export function distance(a: Ping, b: Ping): number {
	const dLat = (b.lat - a.lat) * RAD;
	const dLng = (b.lng - a.lng) * RAD;
	const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(dLng / 2) ** 2;
	return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * Whether to keep a new position: accurate enough, not older than the last kept one, and
 * either far enough from it or long enough after it.
 */
export function keep(p: Ping, last: Ping | null, mode: TrackingProfile): boolean {
	if (!(p.accuracy <= mode.maxAccuracy)) return false;
	if (!last) return true;
	if (p.timestamp <= last.timestamp) return false;
	return distance(p, last) >= mode.minDistance || p.timestamp - last.timestamp >= mode.maxInterval;
}

/** How a failed send is retried. */
export type Retry =
	| { kind: "done" }
	| { kind: "wait"; ms: number }
	| { kind: "renew-token" }
	/** The service refused the batch itself (4xx): retrying it unchanged can never succeed. */
	| { kind: "drop" };

/** First and longest wait after a 5xx or a network error. */
export const BACKOFF_MIN_MS = 1_000;
export const BACKOFF_MAX_MS = 5 * 60_000;

/**
 * What to do after an answer: 2xx is done; 401 renews the token; 429 and 503 wait
 * `Retry-After` (else back off); other 5xx and network errors (status 0) back off
 * exponentially with jitter; any other 4xx drops the batch.
 *
 * @param status the HTTP status, 0 for a network error
 * @param retryAfter the `Retry-After` header, if any
 * @param attempt 0 for the first retry
 * @param now epoch ms (for a `Retry-After` date)
 * @param random in [0, 1)
 */
export function retryPlan(
	status: number,
	retryAfter: string | null,
	attempt: number,
	now: number,
	random: number,
): Retry {
	if (status >= 200 && status < 300) return { kind: "done" };
	if (status === 401) return { kind: "renew-token" };
	if (status === 429 || status === 503) {
		const ms = retryAfterMs(retryAfter, now);
		if (ms !== null) return { kind: "wait", ms: Math.min(ms, 3_600_000) };
	}
	if (status === 0 || status === 408 || status === 429 || status >= 500) {
		const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 20));
		// "Equal jitter": never less than half the cap, so a flapping network is not hammered.
		return { kind: "wait", ms: Math.round(cap / 2 + (random * cap) / 2) };
	}
	return { kind: "drop" };
}

/** `Retry-After` in ms: delta seconds or an HTTP date; null when absent or malformed. */
export function retryAfterMs(value: string | null, now: number): number | null {
	if (value === null) return null;
	const v = value.trim();
	if (/^\d+$/.test(v)) return Number(v) * 1000;
	const at = Date.parse(v);
	return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

/** A batch id the service de-duplicates (`A-Za-z0-9._:-`, at most 64). */
export function newBatchId(random: () => string = () => crypto.randomUUID()): string {
	return `b:${random()}`;
}
