/**
 * GET /v1/live (secret key or console session): the tenant's events as Server-Sent Events, pushed
 * as they reach the events store, for the console's Live page. Wire format and query:
 * src/live/stream.ts. The Worker reads D1 in a short loop (one indexed query a second per open
 * connection: events after the last one sent); each connection lasts at most
 * MAX_CONNECTION_SECONDS and ends with `event: bye`, then the client reconnects and resumes
 * after the last id it saw. The caller's key or session is checked again every 30 seconds, so a
 * revoked session stops receiving within that time.
 *
 * Browsers' EventSource cannot send an Authorization header: the console reads this stream with
 * fetch(), the session token in the header. No key or token is ever accepted in the URL.
 */
import { type EventType, EventTypeSchema, type OutEvent } from "../../src/events/types.js";
import {
	BACKLOG,
	DEFAULT_WINDOW_MS,
	EventIdParam,
	eventMessage,
	LiveQuerySchema,
	MAX_CONNECTION_SECONDS,
	MAX_PRESENCE_PAIRS,
	MAX_WINDOW_MS,
	type PresenceRow,
	presenceSnapshot,
	sseComment,
	sseMessage,
} from "../../src/live/stream.js";
import { listEvents } from "../events.js";
import { parse } from "../http.js";
import type { AppRouter } from "../router.js";
import { requireKey } from "../tenants.js";

/** Pause between reads of the events store while nothing new came. */
const POLL_MS = 1_000;
/** A comment at least this often, so idle connections are not closed by proxies. */
const HEARTBEAT_MS = 15_000;
/** How often the caller's key or session is checked again. */
const REAUTH_MS = 30_000;
/** Events read a query at most. */
const PAGE = 200;
/** What the client waits before reconnecting after the stream ends or fails. */
const RETRY_MS = 2_000;

const PRESENCE_TYPES = ["geofence.entered", "geofence.dwelled", "geofence.exited"] as const;

export function liveRoutes(router: AppRouter): void {
	router.get("/v1/live", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const q = parse(LiveQuerySchema, Object.fromEntries(new URL(req.url).searchParams));
		const header = req.headers.get("last-event-id");
		const resumeId = header ? parse(EventIdParam, header) : q.lastEventId;
		const opened = Date.now();
		const since = Math.max(q.since ?? opened - DEFAULT_WINDOW_MS, opened - MAX_WINDOW_MS);
		const seconds = q.seconds ?? MAX_CONNECTION_SECONDS;

		// Where the stream starts: after the event the client saw last, or after the newest one now.
		const resumeSeq = resumeId
			? await env.DB.prepare("SELECT seq FROM events WHERE tenant_id = ? AND id = ?")
					.bind(tenant.id, resumeId)
					.first<number>("seq")
			: null;
		let head = "";
		let after: number;
		if (resumeSeq !== null) after = resumeSeq;
		else {
			// A fresh start (or an id no longer stored: erased or past retention): the presence
			// snapshot and the latest events up to the newest event now, then the stream after it.
			after =
				(await env.DB.prepare("SELECT MAX(seq) AS seq FROM events WHERE tenant_id = ?")
					.bind(tenant.id)
					.first<number | null>("seq")) ?? 0;
			const [presence, backlog] = await Promise.all([
				presenceRows(env, tenant.id, since, after),
				latestEvents(env, tenant.id, after, q.types),
			]);
			head += sseMessage({
				event: "presence",
				data: presenceSnapshot(presence, new Date(since).toISOString()),
			});
			for (const e of backlog) head += eventMessage(e);
		}

		const enc = new TextEncoder();
		const deadline = opened + seconds * 1000;
		let closed = false;
		let lastWrite = Date.now();
		let lastAuth = Date.now();
		const stream = new ReadableStream<Uint8Array>({
			start(controller) {
				controller.enqueue(enc.encode(`retry: ${RETRY_MS}\n${sseComment("connected")}${head}`));
			},
			async pull(controller) {
				try {
					for (;;) {
						if (closed) return;
						const now = Date.now();
						if (now >= deadline) {
							controller.enqueue(enc.encode(sseMessage({ event: "bye", data: { reconnect: true } })));
							controller.close();
							return;
						}
						if (now - lastAuth >= REAUTH_MS) {
							lastAuth = now;
							const still = await requireKey(req, env, "secret").then(
								(t) => t.id === tenant.id,
								() => false,
							);
							if (!still) {
								controller.enqueue(
									enc.encode(
										sseMessage({ event: "bye", data: { reconnect: false, reason: "unauthorized" } }),
									),
								);
								controller.close();
								return;
							}
						}
						const page = await listEvents(env, tenant.id, { afterSeq: after, types: q.types, limit: PAGE });
						if (page.lastSeq !== null) {
							after = page.lastSeq;
							lastWrite = now;
							controller.enqueue(enc.encode(page.events.map(eventMessage).join("")));
							return;
						}
						if (now - lastWrite >= HEARTBEAT_MS) {
							lastWrite = now;
							controller.enqueue(enc.encode(sseComment("keep-alive")));
							return;
						}
						await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - now))));
					}
				} catch (e) {
					console.error("live: stream failed", e instanceof Error ? e.message : e);
					controller.error(e);
				}
			},
			cancel() {
				closed = true;
			},
		});
		return new Response(stream, {
			headers: {
				"content-type": "text/event-stream; charset=utf-8",
				"cache-control": "no-store",
				"x-content-type-options": "nosniff",
			},
		});
	});
}

/**
 * Who is inside each store: per (store, person), the latest presence event of the window up to
 * `maxSeq` (by the time it happened, then by arrival), kept when it is not an exit.
 */
async function presenceRows(
	env: Env,
	tenantId: string,
	since: number,
	maxSeq: number,
): Promise<PresenceRow[]> {
	const { results } = await env.DB.prepare(
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
async function latestEvents(
	env: Env,
	tenantId: string,
	maxSeq: number,
	types: readonly EventType[] | undefined,
): Promise<OutEvent[]> {
	const typed = types && types.length > 0 ? `AND type IN (${types.map(() => "?").join(", ")})` : "";
	const { results } = await env.DB.prepare(
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
