import { describe, expect, it } from "vitest";
import {
	applyPings,
	dueDwells,
	dwellThresholds,
	emptyPresence,
	nextDwellAt,
	type Ping,
	type PingLookup,
	type PresenceState,
	readPresence,
	screenPings,
} from "../../src/presence/presence.js";

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const ping = (t: number, over: Partial<Ping> = {}): Ping => ({
	lat: 48.8566,
	lng: 2.3522,
	accuracy: 10,
	t,
	index: 0,
	...over,
});
/** A lookup: inside the named fences, at `dist` metres from the others. */
const at = (inside: string[], dist: Record<string, number> = {}): PingLookup => ({
	inside,
	distanceTo: (id) => (inside.includes(id) ? 0 : (dist[id] ?? Number.POSITIVE_INFINITY)),
});
const noDwell = () => [];

describe("screenPings", () => {
	const opts = { now: NOW, maxAccuracyMeters: 100 };

	it("rejects low accuracy, future, out of order and too fast, with their reasons", () => {
		const last = { lat: 48.8566, lng: 2.3522, t: NOW - 60_000 };
		const r = screenPings(
			last,
			[
				ping(NOW - 50_000, { index: 0, accuracy: 101 }),
				ping(NOW + 6 * 60_000, { index: 1 }),
				ping(NOW - 120_000, { index: 2 }),
				// ~11 km in 10 s
				ping(NOW - 50_000, { index: 3, lat: 48.95 }),
				ping(NOW - 40_000, { index: 4 }),
			],
			opts,
		);
		expect(r.rejected).toEqual([
			{ index: 0, reason: "low_accuracy" },
			{ index: 1, reason: "future" },
			{ index: 2, reason: "out_of_order" },
			{ index: 3, reason: "too_fast" },
		]);
		expect(r.usable.map((p) => p.index)).toEqual([4]);
		expect(r.last?.t).toBe(NOW - 40_000);
	});

	it("sorts a batch by timestamp and screens speed against the previous usable ping", () => {
		const r = screenPings(
			null,
			[ping(NOW - 10_000, { index: 0, lat: 48.857 }), ping(NOW - 20_000, { index: 1, lat: 48.8566 })],
			opts,
		);
		// 44 m in 10 s is fine; order follows timestamps, not the request.
		expect(r.usable.map((p) => p.index)).toEqual([1, 0]);
		expect(r.rejected).toEqual([]);
	});

	it("accepts exactly the limits: accuracy equal to the max, 5 minutes ahead, same timestamp without moving", () => {
		const last = { lat: 48.8566, lng: 2.3522, t: NOW };
		const r = screenPings(last, [ping(NOW, { accuracy: 100 }), ping(NOW + 5 * 60_000, { index: 1 })], opts);
		expect(r.rejected).toEqual([]);
	});

	it("changes nothing when every ping is unusable", () => {
		const last = { lat: 1, lng: 1, t: NOW };
		const r = screenPings(last, [ping(NOW - 1, { accuracy: 5 })], opts);
		expect(r.usable).toEqual([]);
		expect(r.last).toBe(last);
	});
});

describe("applyPings", () => {
	it("enters once, stays, then exits only beyond max(25 m, accuracy)", () => {
		let s: PresenceState = emptyPresence();
		let r = applyPings(s, [{ ping: ping(NOW - 3000), lookup: at(["a"]) }], noDwell, NOW);
		expect(r.events).toEqual([{ type: "enter", fenceId: "a", at: NOW - 3000, stale: false }]);
		s = r.state;
		r = applyPings(s, [{ ping: ping(NOW - 2000), lookup: at(["a"]) }], noDwell, NOW);
		expect(r.events).toEqual([]);
		// 20 m outside with 10 m accuracy: within the 25 m hysteresis.
		r = applyPings(r.state, [{ ping: ping(NOW - 1500), lookup: at([], { a: 20 }) }], noDwell, NOW);
		expect(r.events).toEqual([]);
		// 40 m outside but accuracy 50 m: still inside.
		r = applyPings(
			r.state,
			[{ ping: ping(NOW - 1200, { accuracy: 50 }), lookup: at([], { a: 40 }) }],
			noDwell,
			NOW,
		);
		expect(r.events).toEqual([]);
		r = applyPings(r.state, [{ ping: ping(NOW - 1000), lookup: at([], { a: 26 }) }], noDwell, NOW);
		expect(r.events).toEqual([{ type: "exit", fenceId: "a", at: NOW - 1000, stale: false }]);
		expect(r.state.inside).toEqual({});
	});

	it("marks events from pings older than 10 minutes stale", () => {
		const r = applyPings(
			emptyPresence(),
			[{ ping: ping(NOW - 10 * 60_000 - 1), lookup: at(["a"]) }],
			noDwell,
			NOW,
		);
		expect(r.events[0]?.stale).toBe(true);
		const fresh = applyPings(
			emptyPresence(),
			[{ ping: ping(NOW - 10 * 60_000), lookup: at(["a"]) }],
			noDwell,
			NOW,
		);
		expect(fresh.events[0]?.stale).toBe(false);
	});

	it("fires a dwell that fell due before a later ping, before that ping's exit", () => {
		const dwell = (id: string) => (id === "a" ? [60] : []);
		let r = applyPings(emptyPresence(), [{ ping: ping(NOW - 200_000), lookup: at(["a"]) }], dwell, NOW);
		expect(nextDwellAt(r.state)).toBe(NOW - 140_000);
		r = applyPings(r.state, [{ ping: ping(NOW - 100_000), lookup: at([], { a: 500 }) }], dwell, NOW);
		expect(r.events.map((e) => [e.type, e.at])).toEqual([
			["dwell", NOW - 140_000],
			["exit", NOW - 100_000],
		]);
	});

	it("never fires a dwell after an exit", () => {
		const dwell = () => [300];
		let r = applyPings(emptyPresence(), [{ ping: ping(NOW - 100_000), lookup: at(["a"]) }], dwell, NOW);
		r = applyPings(r.state, [{ ping: ping(NOW - 50_000), lookup: at([]) }], dwell, NOW);
		expect(r.events.map((e) => e.type)).toEqual(["exit"]);
		expect(nextDwellAt(r.state)).toBeNull();
		expect(dueDwells(r.state, NOW + 10 * 86_400_000).events).toEqual([]);
	});
});

describe("dueDwells", () => {
	it("fires each due dwell once, at its due time, and schedules the next", () => {
		const dwell = (id: string) => (id === "a" ? [60] : [120]);
		const r = applyPings(emptyPresence(), [{ ping: ping(NOW), lookup: at(["a", "b"]) }], dwell, NOW);
		expect(dueDwells(r.state, NOW + 59_999).events).toEqual([]);
		const first = dueDwells(r.state, NOW + 60_000);
		expect(first.events).toEqual([
			{ type: "dwell", fenceId: "a", at: NOW + 60_000, dwellSeconds: 60, stale: false },
		]);
		expect(nextDwellAt(first.state)).toBe(NOW + 120_000);
		expect(dueDwells(first.state, NOW + 60_001).events).toEqual([]);
		// A very late alarm still fires, but stale.
		const late = dueDwells(first.state, NOW + 120_000 + 11 * 60_000);
		expect(late.events).toEqual([
			{ type: "dwell", fenceId: "b", at: NOW + 120_000, dwellSeconds: 120, stale: true },
		]);
	});
});

describe("several dwell thresholds per fence", () => {
	it("fires each threshold once, in time order, each naming its seconds", () => {
		const r = applyPings(emptyPresence(), [{ ping: ping(NOW), lookup: at(["a"]) }], () => [60, 300], NOW);
		expect(nextDwellAt(r.state)).toBe(NOW + 60_000);
		const first = dueDwells(r.state, NOW + 60_000);
		expect(first.events.map((e) => [e.type, e.at, e.dwellSeconds])).toEqual([["dwell", NOW + 60_000, 60]]);
		expect(nextDwellAt(first.state)).toBe(NOW + 300_000);
		expect(dueDwells(first.state, NOW + 299_999).events).toEqual([]);
		const second = dueDwells(first.state, NOW + 300_000);
		expect(second.events.map((e) => e.dwellSeconds)).toEqual([300]);
		expect(nextDwellAt(second.state)).toBeNull();
	});

	it("fires every threshold that fell due within one batch, before the exit", () => {
		let r = applyPings(
			emptyPresence(),
			[{ ping: ping(NOW - 900_000), lookup: at(["a"]) }],
			() => [60, 300],
			NOW,
		);
		r = applyPings(
			r.state,
			[{ ping: ping(NOW - 100_000), lookup: at([], { a: 500 }) }],
			() => [60, 300],
			NOW,
		);
		expect(r.events.map((e) => [e.type, e.at])).toEqual([
			["dwell", NOW - 840_000],
			["dwell", NOW - 600_000],
			["exit", NOW - 100_000],
		]);
	});

	it("merges the fence's own threshold with the campaigns', sorted and without repeats", () => {
		expect(dwellThresholds(300, [600, 300, 60])).toEqual([60, 300, 600]);
		expect(dwellThresholds(null, [120])).toEqual([120]);
		expect(dwellThresholds(null, [])).toEqual([]);
	});
});

describe("readPresence", () => {
	it("keeps a pending dwell of a state stored before thresholds were a list", () => {
		const stored = {
			last: { lat: 1, lng: 2, t: NOW },
			inside: {
				a: { enteredAt: NOW, dwellAt: NOW + 60_000, dwellFired: false },
				b: { enteredAt: NOW, dwellAt: NOW + 60_000, dwellFired: true },
				c: { enteredAt: NOW, dwellAt: null, dwellFired: false },
			},
		};
		const s = readPresence(stored);
		expect(s.last).toEqual({ lat: 1, lng: 2, t: NOW });
		expect(s.inside).toEqual({
			a: { enteredAt: NOW, dwells: [60] },
			b: { enteredAt: NOW, dwells: [] },
			c: { enteredAt: NOW, dwells: [] },
		});
		expect(readPresence(undefined)).toEqual(emptyPresence());
	});
});
