/**
 * Reads a `Retry-After` value (delay-seconds or HTTP-date, RFC 9110 §10.2.3), shared by
 * the Web Push and FCM transports.
 *
 * @returns Epoch milliseconds, never before `nowMs`; `null` when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
	if (value === null) return null;
	const text = value.trim();
	if (/^\d+$/.test(text)) return nowMs + Number(text) * 1000;
	// Date.parse also takes non-HTTP forms; requiring a letter keeps "1.5" or "-3" out.
	if (!/[A-Za-z]/.test(text)) return null;
	const at = Date.parse(text);
	if (Number.isNaN(at)) return null;
	return Math.max(at, nowMs);
}
