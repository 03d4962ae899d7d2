import { z } from "zod";
import { decodeCursor, EventsQuerySchema, encodeCursor } from "../../src/events/query.js";
import { EventSchema } from "../../src/events/types.js";
import { endpoint } from "../api.js";
import { listEvents } from "../events.js";
import { json } from "../http.js";
import { logError } from "../log.js";
import type { ApiRouter } from "../router.js";
import { requireKey } from "../tenants.js";

/** Events read a page at a time while streaming NDJSON. */
const STREAM_PAGE = 500;

/**
 * GET /v1/events (secret key): the tenant's events oldest first. JSON pages with a `nextCursor`
 * (null at the end); with `Accept: application/x-ndjson`, one event a line, every matching
 * event streamed page by page from D1 (memory stays bounded whatever the volume).
 */
export function eventRoutes(api: ApiRouter): void {
	api.get(
		"/v1/events",
		endpoint(
			{
				operationId: "listEvents",
				summary: "The tenant's events, oldest first",
				description:
					"JSON pages with nextCursor (null at the end) and cursor (where to resume after this page even when it was the last, for following new events). With Accept: application/x-ndjson every matching event is streamed, one JSON object a line (limit then caps the stream).",
				tags: ["events"],
				auth: "secret",
				query: z.object({
					since: EventsQuerySchema.shape.since.meta({
						description: "ISO 8601 or epoch milliseconds",
						example: "2026-12-01T00:00:00Z",
					}),
					types: EventsQuerySchema.shape.types.meta({
						description: "comma-separated event types, or a family like geofence.*",
						example: "geofence.*,offer.sent",
					}),
					limit: EventsQuerySchema.shape.limit.meta({
						description: "1 to 1000, default 100",
						example: "100",
					}),
					cursor: EventsQuerySchema.shape.cursor.meta({
						description: "nextCursor (or cursor) of the previous page",
					}),
				}),
				responses: {
					200: {
						description: "a page of events (JSON), or every matching event (NDJSON)",
						schema: z.object({
							events: z.array(EventSchema),
							nextCursor: z.string().nullable(),
							cursor: z.string().nullable(),
						}),
						alternatives: {
							"application/x-ndjson": z.string().meta({ description: "one event (JSON) a line" }),
						},
					},
				},
				problems: [429],
			},
			async ({ req, env, query }) => {
				const tenant = await requireKey(req, env, "secret");
				const q = query();
				const afterSeq = q.cursor ? (decodeCursor(q.cursor) ?? 0) : 0;
				const wantsNdjson = /\bapplication\/x-ndjson\b/i.test(req.headers.get("accept") ?? "");
				if (!wantsNdjson) {
					const limit = q.limit ?? 100;
					const page = await listEvents(env, tenant.id, { afterSeq, since: q.since, types: q.types, limit });
					const more = page.events.length === limit && page.lastSeq !== null;
					// `cursor` always says where to resume (a tail polls with it); `nextCursor` only when more may follow now.
					const resume = page.lastSeq !== null ? encodeCursor(page.lastSeq) : (q.cursor ?? null);
					return json(
						{
							events: page.events,
							nextCursor: more ? resume : null,
							cursor: resume,
						},
						200,
						{ "cache-control": "no-store" },
					);
				}
				const enc = new TextEncoder();
				let after = afterSeq;
				// `limit` caps the whole stream when given; otherwise every matching event is sent.
				let left = q.limit ?? Number.POSITIVE_INFINITY;
				const stream = new ReadableStream<Uint8Array>({
					async pull(controller) {
						try {
							const size = Math.min(STREAM_PAGE, left);
							const page = await listEvents(env, tenant.id, {
								afterSeq: after,
								since: q.since,
								types: q.types,
								limit: size,
							});
							if (page.events.length > 0)
								controller.enqueue(enc.encode(page.events.map((e) => `${JSON.stringify(e)}\n`).join("")));
							left -= page.events.length;
							if (page.lastSeq === null || page.events.length < size || left <= 0) controller.close();
							else after = page.lastSeq;
						} catch (e) {
							logError("events_stream_failed", e);
							controller.error(e);
						}
					},
				});
				return new Response(stream, {
					headers: { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" },
				});
			},
		),
	);
}
