/**
 * Reads of the `events` table for the live feed (GET /v1/live): where a client resumes, the
 * presence snapshot and the latest events. The table's writes and pages are worker/events.ts's.
 */
import { type EventType, EventTypeSchema, type OutEvent } from "../../src/events/types.js";
import { BACKLOG, MAX_PRESENCE_PAIRS, type PresenceRow } from "../../src/live/stream.js";

const PRESENCE_TYPES = ["geofence.entered", "geofence.dwelled", "geofence.exited"] as const;

/** The position of one of the tenant's events, or null when it is no longer stored. */
export function eventSeq(db: D1Database, tenantId: string, eventId: string): Promise<number | null> {
	return db
		.prepare("SELECT seq FROM events WHERE tenant_id = ? AND id = ?")
		.bind(tenantId, eventId)
		.first<number>("seq");
}

/** The position of the tenant's newest event (0 when none). */
export async function newestEventSeq(db: D1Database, tenantId: string): Promise<number> {
	return (
		(await db
			.prepare("SELECT MAX(seq) AS seq FROM events WHERE tenant_id = ?")
			.bind(tenantId)
			.first<number | null>("seq")) ?? 0
	);
}

/**
 * Who is inside each store: per (store, person), the latest presence event of the window up to
 * `maxSeq` (by the time it happened, then by arrival), kept when it is not an exit.
 */
export async function presenceRows(
	db: D1Database,
	tenantId: string,
	since: number,
	maxSeq: number,
): Promise<PresenceRow[]> {
	const { results } = await db
		.prepare(
			`SELECT fence AS geofenceId, name AS geofenceName, user_id AS userId, at FROM (
		   SELECT json_extract(data, '$.geofenceId') AS fence, json_extract(data, '$.geofenceName') AS name,
		          user_id, type, COALESCE(json_extract(data, '$.occurredAt'), created_at) AS at,
		          ROW_NUMBER() OVER (
		            PARTITION BY json_extract(data, '$.geofenceId'), user_id
		            ORDER BY COALESCE(json_extract(data, '$.occurredAt'), created_at) DESC, seq DESC) AS rn
		     FROM events
		    WHERE tenant_id = ?1 AND created_at >= ?2 AND seq <= ?3 AND type IN (?4, ?5, ?6)
		 ) WHERE rn = 1 AND type <> ?6 AND fence IS NOT NULL
		 ORDER BY fence, at LIMIT ?7`,
		)
		.bind(tenantId, new Date(since).toISOString(), maxSeq, ...PRESENCE_TYPES, MAX_PRESENCE_PAIRS + 1)
		.all<PresenceRow>();
	return results;
}

/** The newest {@link BACKLOG} events up to `maxSeq` (of `types` when given), oldest first. */
export async function latestEvents(
	db: D1Database,
	tenantId: string,
	maxSeq: number,
	types: readonly EventType[] | undefined,
): Promise<OutEvent[]> {
	const typed = types && types.length > 0 ? `AND type IN (${types.map(() => "?").join(", ")})` : "";
	const { results } = await db
		.prepare(
			`SELECT id, type, user_id, created_at, data FROM events
		  WHERE tenant_id = ? AND seq <= ? ${typed} ORDER BY seq DESC LIMIT ?`,
		)
		.bind(tenantId, maxSeq, ...(types ?? []), BACKLOG)
		.all<{ id: string; type: string; user_id: string; created_at: string; data: string }>();
	return results.reverse().map((r) => ({
		id: r.id,
		type: EventTypeSchema.parse(r.type),
		createdAt: r.created_at,
		userId: r.user_id,
		data: JSON.parse(r.data) as OutEvent["data"],
	}));
}
