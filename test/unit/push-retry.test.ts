import { describe, expect, it } from "vitest";
import { nextRetryAt, RETRY_CAP_MS, RETRY_MIN_MS } from "../../src/push/retry.js";

const NOW = 1_800_000_000_000;
const FAR = NOW + 86_400_000;

describe("nextRetryAt", () => {
	it("grows exponentially within full jitter, capped", () => {
		expect(nextRetryAt(1, NOW, null, FAR, 0.5)).toBe(NOW + 1_000);
		expect(nextRetryAt(3, NOW, null, FAR, 0.5)).toBe(NOW + 4_000);
		expect(nextRetryAt(3, NOW, null, FAR, 0.999)).toBe(NOW + 7_992);
		expect(nextRetryAt(30, NOW, null, FAR, 0.999)).toBe(NOW + Math.floor(0.999 * RETRY_CAP_MS));
	});

	it("never retries sooner than the floor", () => {
		expect(nextRetryAt(1, NOW, null, FAR, 0)).toBe(NOW + RETRY_MIN_MS);
		expect(nextRetryAt(1, NOW, NOW, FAR, 0)).toBe(NOW + RETRY_MIN_MS);
	});

	it("honours Retry-After over the backoff", () => {
		expect(nextRetryAt(1, NOW, NOW + 120_000, FAR, 0.5)).toBe(NOW + 120_000);
	});

	it("gives up when the next attempt would be at or past the offer's expiry", () => {
		expect(nextRetryAt(1, NOW, NOW + 60_000, NOW + 60_000, 0.5)).toBeNull();
		expect(nextRetryAt(1, NOW, NOW + 59_999, NOW + 60_000, 0.5)).toBe(NOW + 59_999);
	});
});
