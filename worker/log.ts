/**
 * Structured logs: one JSON line a record, which Workers Logs indexes field by field (so
 * `event = "shard_write_failed"` can be queried and charted). Every caught error that is not
 * handled with a reason in the code goes through {@link logError}, which also counts it per
 * isolate (`count` in the line: a rising count in one isolate is a loop, not a one-off).
 *
 * Never log secrets, keys, push endpoints' paths, coordinates or message bodies: callers pass
 * identifiers (tenant, campaign, object key) and codes only.
 */

/** What a record may carry besides its event name. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Errors counted per event name in this isolate; names are literals in the code, so the map stays small. */
const counts = new Map<string, number>();

/** Longest error message kept (a message can quote input). */
const MAX_MESSAGE = 300;

function describe(error: unknown): { name: string; message: string } {
	if (error instanceof Error) return { name: error.name, message: error.message.slice(0, MAX_MESSAGE) };
	return { name: typeof error, message: String(error).slice(0, MAX_MESSAGE) };
}

/** An error caught and not handled: logged as `{level: "error", event, count, error, ...fields}`. */
export function logError(event: string, error: unknown, fields: LogFields = {}): void {
	const count = (counts.get(event) ?? 0) + 1;
	counts.set(event, count);
	console.error(JSON.stringify({ level: "error", event, count, error: describe(error), ...fields }));
}

/** Something worth seeing that is not an error (a shard grew, a sweep ran). */
export function logInfo(event: string, fields: LogFields = {}): void {
	console.log(JSON.stringify({ level: "info", event, ...fields }));
}

/** How many errors of each event this isolate logged (for tests and diagnostics). */
export function errorCounts(): Readonly<Record<string, number>> {
	return Object.fromEntries(counts);
}
