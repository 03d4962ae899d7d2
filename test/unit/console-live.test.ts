/** The Live page's state from the live feed's presence snapshot and events (console/src/live.ts). */
import { describe, expect, it } from "vitest";
import {
	crowd,
	emptyLive,
	foldEvents,
	fromPresence,
	LATEST_MAX,
	type LiveEvent,
} from "../../console/src/live.js";

let n = 0;
function ev(
	type: LiveEvent["type"],
	userId: string,
	geofenceId: string | null,
	at: number,
	extra = {},
): LiveEvent {
	n += 1;
	return {
		id: `evt_${String(n).padStart(6, "0")}`,
		type,
		userId,
		createdAt: new Date(at).toISOString(),
		data: geofenceId ? { geofenceId, geofenceName: geofenceId.toUpperCase(), ...extra } : { ...extra },
	};
}

const T = Date.parse("2026-12-02T10:00:00Z");

describe("live fold", () => {
	it("counts people inside each store from enters and exits", () => {
		const s = foldEvents(emptyLive(), [
			ev("geofence.entered", "u1", "a", T),
			ev("geofence.entered", "u2", "a", T + 1),
			ev("geofence.entered", "u3", "b", T + 2),
			ev("geofence.exited", "u1", "a", T + 3),
			ev("offer.sent", "u2", "a", T + 4, { campaignId: "c" }),
			ev("geofence.exited", "u3", "b", T + 5),
		]);
		expect(crowd(s)).toEqual([{ id: "a", name: "A", people: 1 }]);
		expect(s.latest[0]?.type).toBe("geofence.exited");
		expect(s.newest).toBe(new Date(T + 5).toISOString());
	});

	it("ignores events already folded (polls overlap) and applies late ones in the order they happened", () => {
		const enter = ev("geofence.entered", "u1", "a", T + 10, { occurredAt: new Date(T + 10).toISOString() });
		const exit = ev("geofence.exited", "u1", "a", T + 20, { occurredAt: new Date(T + 20).toISOString() });
		const once = foldEvents(emptyLive(), [exit]);
		// The enter arrives in a later poll, after its exit: the person is still outside.
		const twice = foldEvents(once, [exit, enter]);
		expect(crowd(twice)).toEqual([]);
		expect(twice.latest.map((e) => e.id)).toEqual([exit.id, enter.id].sort().reverse());
		expect(foldEvents(twice, [exit, enter])).toBe(twice);
	});

	it("keeps the latest events bounded, newest first", () => {
		const many = Array.from({ length: 120 }, (_, i) => ev("offer.sent", `u${i}`, null, T + i));
		const s = foldEvents(emptyLive(), many);
		expect(s.latest).toHaveLength(LATEST_MAX);
		expect(s.latest[0]?.userId).toBe("u119");
	});

	it("starts from the presence snapshot; an older event does not undo it, a newer exit does", () => {
		const at = new Date(T + 100).toISOString();
		const s = fromPresence({
			since: new Date(T - 12 * 3600_000).toISOString(),
			stores: [
				{
					id: "a",
					name: "Store A",
					people: [
						{ userId: "u1", at },
						{ userId: "u2", at },
					],
				},
				{ id: "b", name: null, people: [{ userId: "u3", at }] },
			],
			truncated: false,
		});
		expect(crowd(s)).toEqual([
			{ id: "a", name: "Store A", people: 2 },
			{ id: "b", name: "b", people: 1 },
		]);
		expect(s.latest).toEqual([]);
		const next = foldEvents(s, [
			// The backlog repeats an exit older than the snapshot's state: ignored.
			ev("geofence.exited", "u1", "a", T + 50, { occurredAt: new Date(T + 50).toISOString() }),
			ev("geofence.exited", "u2", "a", T + 200, { occurredAt: new Date(T + 200).toISOString() }),
			ev("geofence.entered", "u4", "b", T + 300),
		]);
		expect(crowd(next)).toEqual([
			{ id: "b", name: "B", people: 2 },
			// Names follow the latest event that named the store.
			{ id: "a", name: "A", people: 1 },
		]);
		expect(next.latest).toHaveLength(3);
	});
});
