import { decodeCursor, EventsQuerySchema, encodeCursor } from "../../src/events/query.js";
import { listEvents } from "../events.js";
import { json, parse } from "../http.js";
import type { AppRouter } from "../router.js";
import { requireKey } from "../tenants.js";

/** Events read a page at a time while streaming NDJSON. */
const STREAM_PAGE = 500;

/**
 * GET /v1/events (secret key): the tenant's events oldest first. JSON pages with a `nextCursor`
 * (null at the end); with `Accept: application/x-ndjson`, one event a line, every matching
 * event streamed page by page from D1 (memory stays bounded whatever the volume).
 */
export function eventRoutes(router: AppRouter): void {
	router.get("/v1/events", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const url = new URL(req.url);
		const one = (k: string) => url.searchParams.get(k) ?? undefined;
		const q = parse(EventsQuerySchema, {
			since: one("since"),
			types: one("types"),
			limit: one("limit"),
			cursor: one("cursor"),
		});
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
					console.error("events: stream failed", e instanceof Error ? e.message : e);
					controller.error(e);
				}
			},
		});
		return new Response(stream, {
			headers: { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" },
		});
	});
}
