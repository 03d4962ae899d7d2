/** src/live/stream.ts: the SSE writer and reader agree, chunk boundaries anywhere, the query's bounds, the presence snapshot. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
	LiveQuerySchema,
	MAX_PRESENCE_PAIRS,
	presenceSnapshot,
	type SseMessage,
	SseReader,
	sseComment,
	sseMessage,
} from "../../src/live/stream.js";

describe("SSE text", () => {
	it("reads back what it writes, whatever the chunking, ids kept across messages", () => {
		fc.assert(
			fc.property(
				fc.array(
					fc.record({
						id: fc.option(fc.stringMatching(/^[A-Za-z0-9_-]{1,30}$/), { nil: undefined }),
						event: fc.option(fc.constantFrom("presence", "bye"), { nil: undefined }),
						data: fc.jsonValue(),
					}),
					{ maxLength: 8 },
				),
				fc.array(fc.nat(), { maxLength: 10 }),
				(msgs, cuts) => {
					const text = `retry: 1500\n${sseComment("hello\nthere")}${msgs.map(sseMessage).join("")}`;
					const r = new SseReader();
					const out: SseMessage[] = [];
					let at = 0;
					for (const c of [...cuts.map((c) => c % (text.length + 1))].sort((a, b) => a - b)) {
						out.push(...r.push(text.slice(at, c)));
						at = Math.max(at, c);
					}
					out.push(...r.push(text.slice(at)));
					let lastId: string | null = null;
					expect(out.length).toBe(msgs.length);
					msgs.forEach((m, i) => {
						if (m.id !== undefined) lastId = m.id;
						expect(out[i]).toEqual({ id: lastId, event: m.event ?? "message", data: JSON.stringify(m.data) });
					});
					expect(r.retry).toBe(1500);
				},
			),
		);
	});

	it("follows the WHATWG rules: CRLF and CR line ends, multi-line data, fields without a value", () => {
		const r = new SseReader();
		expect(r.push("data: a\r\ndata:b\r")).toEqual([]);
		expect(r.push("\nid\r\n\r\nevent: x\ndata\n\n: only a comment\n\nevent: y\n\n")).toEqual([
			{ id: "", event: "message", data: "a\nb" },
			{ id: "", event: "x", data: "" },
		]);
		// A message with no data is not dispatched, and its event name does not leak into the next one.
		expect(r.push("data: z\n\n")).toEqual([{ id: "", event: "message", data: "z" }]);
	});

	it("never lets an id or event name break out of its line", () => {
		expect(sseMessage({ id: "a\nb", event: "x\r\ny", data: { s: "line\nbreak" } })).toBe(
			'id: ab\nevent: xy\ndata: {"s":"line\\nbreak"}\n\n',
		);
	});
});

describe("LiveQuerySchema", () => {
	it("bounds the connection time and refuses unknown parameters (no key in the URL)", () => {
		expect(LiveQuerySchema.parse({ seconds: "60", types: "geofence.*" })).toEqual({
			seconds: 60,
			types: ["geofence.entered", "geofence.exited", "geofence.dwelled"],
		});
		for (const q of [{ seconds: "0" }, { seconds: "301" }, { key: "sk_x" }, { lastEventId: "a b" }])
			expect(LiveQuerySchema.safeParse(q).success, JSON.stringify(q)).toBe(false);
	});
});

describe("presenceSnapshot", () => {
	it("groups people by store, most crowded first, and says when it was cut", () => {
		const rows = [
			{ geofenceId: "b", geofenceName: null, userId: "u1", at: "t1" },
			{ geofenceId: "a", geofenceName: "A", userId: "u1", at: "t2" },
			{ geofenceId: "b", geofenceName: "B", userId: "u2", at: "t3" },
		];
		expect(presenceSnapshot(rows, "s")).toEqual({
			since: "s",
			stores: [
				{
					id: "b",
					name: "B",
					people: [
						{ userId: "u1", at: "t1" },
						{ userId: "u2", at: "t3" },
					],
				},
				{ id: "a", name: "A", people: [{ userId: "u1", at: "t2" }] },
			],
			truncated: false,
		});
		const many = Array.from({ length: MAX_PRESENCE_PAIRS + 1 }, (_, i) => ({
			geofenceId: "s",
			geofenceName: "S",
			userId: `u${i}`,
			at: "t",
		}));
		const cut = presenceSnapshot(many, "s");
		expect(cut.truncated).toBe(true);
		expect(cut.stores[0]?.people).toHaveLength(MAX_PRESENCE_PAIRS);
	});
});
