/**
 * The live feed's wire format (`GET /v1/live`, Server-Sent Events) and its query, pure so the
 * console's reader and the Worker's writer are tested against the same text.
 *
 * A connection sends, in order: a `retry:` hint; unless it resumes (`Last-Event-ID`), one
 * `event: presence` message (who is inside each store, from the latest enter, dwell or exit of
 * each person and store in the window) and the latest events before the stream starts; then every
 * new event as it reaches the events store, `id:` = the event id, `data:` = the event as
 * `GET /v1/events` answers it; `: keep-alive` comments while nothing happens; and at the end of
 * the connection's time, `event: bye`, after which the client reconnects with the last id.
 */
import { z } from "zod";
import { SinceParam, TypesParam } from "../events/query.js";
import type { OutEvent } from "../events/types.js";
import { sseMessage } from "./sse.js";

export { type SseMessage, SseReader, sseComment, sseMessage } from "./sse.js";

/** Longest a connection lasts before the client is asked to reconnect (seconds). */
export const MAX_CONNECTION_SECONDS = 300;
/** Default presence window: the enter and exit events of the last 12 hours. */
export const DEFAULT_WINDOW_MS = 12 * 3_600_000;
/** Longest presence window. */
export const MAX_WINDOW_MS = 7 * 86_400_000;
/** Most (store, person) pairs a presence snapshot carries. */
export const MAX_PRESENCE_PAIRS = 10_000;
/** Latest events sent before the stream starts. */
export const BACKLOG = 50;

/** Event ids are ordered text ids (src/events/id.ts); a resume id is checked to look like one. */
export const EventIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "not an event id");

/** GET /v1/live query: `since` (presence window start), `types`, `seconds` (connection length). */
export const LiveQuerySchema = z.strictObject({
	since: SinceParam.optional(),
	types: TypesParam.optional(),
	seconds: z.coerce.number().int().min(1).max(MAX_CONNECTION_SECONDS).optional(),
	/** Resume after this event id (what `Last-Event-ID` carries; a fetch() client may use either). */
	lastEventId: EventIdParam.optional(),
});
export type LiveQuery = z.infer<typeof LiveQuerySchema>;

/** One person inside one store, with when that became true (the latest presence event's time). */
export interface PresenceRow {
	geofenceId: string;
	geofenceName: string | null;
	userId: string;
	at: string;
}

/** The `presence` message: stores with the people inside, most crowded first. */
export interface PresenceSnapshot {
	/** Start of the window the presence events were read from (ISO). */
	since: string;
	stores: { id: string; name: string | null; people: { userId: string; at: string }[] }[];
	/** More than {@link MAX_PRESENCE_PAIRS} pairs: the snapshot holds the first ones only. */
	truncated: boolean;
}

export function presenceSnapshot(rows: readonly PresenceRow[], since: string): PresenceSnapshot {
	const stores = new Map<string, PresenceSnapshot["stores"][number]>();
	for (const r of rows.slice(0, MAX_PRESENCE_PAIRS)) {
		let s = stores.get(r.geofenceId);
		if (!s) {
			s = { id: r.geofenceId, name: r.geofenceName, people: [] };
			stores.set(r.geofenceId, s);
		}
		if (s.name === null && r.geofenceName !== null) s.name = r.geofenceName;
		s.people.push({ userId: r.userId, at: r.at });
	}
	return {
		since,
		stores: [...stores.values()].sort(
			(a, b) => b.people.length - a.people.length || a.id.localeCompare(b.id),
		),
		truncated: rows.length > MAX_PRESENCE_PAIRS,
	};
}

/** What the Worker streams for one event. */
export function eventMessage(e: OutEvent): string {
	return sseMessage({ id: e.id, data: e });
}
