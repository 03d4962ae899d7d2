/**
 * GET /v1/events query parameters and the opaque cursor. The cursor is the D1 order of the
 * last event returned (`seq`), base64url-encoded with a version tag so it can change shape.
 */
import { z } from "zod";
import { base64urlToBytes, bytesToBase64url } from "../lib/encoding.js";
import { Instant } from "../schemas/common.js";
import { EVENT_TYPES, type EventType } from "./types.js";

const CURSOR = /^c1\.(\d{1,15})$/;

/** The cursor after the event stored at `seq`. */
export function encodeCursor(seq: number): string {
	return bytesToBase64url(new TextEncoder().encode(`c1.${seq}`));
}

/** The `seq` a cursor continues after, or null when it is not one of ours. */
export function decodeCursor(cursor: string): number | null {
	if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return null;
	let text: string;
	try {
		text = new TextDecoder().decode(base64urlToBytes(cursor));
	} catch {
		// Not base64url: not one of ours.
		return null;
	}
	const m = CURSOR.exec(text);
	return m ? Number(m[1]) : null;
}

/** `?types=` : a comma-separated list of event types (a `prefix.*` selects a family). */
export const TypesParam = z
	.string()
	.max(400)
	.transform((s, ctx) => {
		const out = new Set<EventType>();
		for (const raw of s.split(",")) {
			const t = raw.trim();
			if (t === "") continue;
			const family = t.endsWith(".*") ? t.slice(0, -1) : null;
			const hits = family
				? EVENT_TYPES.filter((x) => x.startsWith(family))
				: EVENT_TYPES.filter((x) => x === t);
			if (hits.length === 0) {
				ctx.addIssue({ code: "custom", message: `unknown event type: ${t.slice(0, 40)}` });
				return z.NEVER;
			}
			for (const h of hits) out.add(h);
		}
		return [...out];
	});

/** GET /v1/events query: `since` (ISO 8601 or epoch ms), `types`, `limit` (1..1000, default 100), `cursor`. */
/** `?since=`: an ISO 8601 instant or epoch milliseconds (the events feed and the live feed). */
export const SinceParam = z
	.string()
	.max(40)
	.transform((s) => (/^\d+$/.test(s) ? Number(s) : s))
	.pipe(Instant);

export const EventsQuerySchema = z.object({
	since: SinceParam.optional(),
	types: TypesParam.optional(),
	limit: z
		.string()
		.regex(/^\d{1,4}$/, "expected a whole number")
		.transform(Number)
		.pipe(z.number().int().min(1).max(1000))
		.optional(),
	cursor: z
		.string()
		.max(40)
		.refine((c) => decodeCursor(c) !== null, { message: "not a cursor this service issued" })
		.optional(),
});
export type EventsQuery = z.infer<typeof EventsQuerySchema>;

/** Whether an event type passes a filter (an empty or absent filter passes everything). */
export function typeSelected(type: EventType, types: readonly EventType[] | undefined): boolean {
	return !types || types.length === 0 || types.includes(type);
}
