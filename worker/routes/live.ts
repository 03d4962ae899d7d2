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
import { z } from "zod";
import {
	DEFAULT_WINDOW_MS,
	EventIdParam,
	eventMessage,
	LiveQuerySchema,
	MAX_CONNECTION_SECONDS,
	MAX_WINDOW_MS,
	presenceSnapshot,
	sseComment,
	sseMessage,
} from "../../src/live/stream.js";
import { endpoint } from "../api.js";
import { listEvents } from "../events.js";
import { parse } from "../http.js";
import { logError } from "../log.js";
import type { ApiRouter } from "../router.js";
import { eventSeq, latestEvents, newestEventSeq, presenceRows } from "../store/live.js";
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

export function liveRoutes(api: ApiRouter): void {
	api.get(
		"/v1/live",
		endpoint(
			{
				operationId: "streamLive",
				summary: "The tenant's events as Server-Sent Events, pushed as they are stored",
				description:
					"First `event: presence` (who is inside each store, from the enter/dwell/exit events since `since`, default 12 h) and the latest 50 events, then each new event with `id:` = its id; Last-Event-ID (or lastEventId) resumes after it without the snapshot; `: keep-alive` comments; `event: bye` when the connection's time (seconds, 1 to 300, default 300) is over. The secret key or a console session in the Authorization header, never in the URL (docs/console.md). Unknown query parameters are refused.",
				tags: ["events"],
				auth: "secret",
				query: LiveQuerySchema,
				headers: z.object({
					"Last-Event-ID": EventIdParam.optional().meta({ description: "resume after this event id" }),
				}),
				responses: {
					200: {
						description: "the event stream",
						schema: z.string().meta({ description: "text/event-stream messages" }),
						contentType: "text/event-stream",
					},
				},
				problems: [429],
			},
			async ({ req, env }) => {
				const tenant = await requireKey(req, env, "secret");
				// Strict: every parameter is read (not only the declared ones), so an unknown one is refused.
				const q = parse(LiveQuerySchema, Object.fromEntries(new URL(req.url).searchParams));
				// An empty header is no header (as before); a malformed one is a 422.
				const header = req.headers.get("last-event-id");
				const resumeId = header ? parse(EventIdParam, header) : q.lastEventId;
				const opened = Date.now();
				const since = Math.max(q.since ?? opened - DEFAULT_WINDOW_MS, opened - MAX_WINDOW_MS);
				const seconds = q.seconds ?? MAX_CONNECTION_SECONDS;

				// Where the stream starts: after the event the client saw last, or after the newest one now.
				const resumeSeq = resumeId ? await eventSeq(env.DB, tenant.id, resumeId) : null;
				let head = "";
				let after: number;
				if (resumeSeq !== null) after = resumeSeq;
				else {
					// A fresh start (or an id no longer stored: erased or past retention): the presence
					// snapshot and the latest events up to the newest event now, then the stream after it.
					after = await newestEventSeq(env.DB, tenant.id);
					const [presence, backlog] = await Promise.all([
						presenceRows(env.DB, tenant.id, since, after),
						latestEvents(env.DB, tenant.id, after, q.types),
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
								const page = await listEvents(env, tenant.id, {
									afterSeq: after,
									types: q.types,
									limit: PAGE,
								});
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
							logError("live_stream_failed", e);
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
			},
		),
	);
}
