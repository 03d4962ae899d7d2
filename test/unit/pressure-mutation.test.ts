/**
 * Pressure policy cases that the mutation run (npm run mutation) showed untested: quiet
 * hours on minutes other than :00, malformed clock strings, the history bound between half
 * and all of HISTORY_LIMIT, the zone formatter cache.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { HISTORY_LIMIT, isQuietTime, pruneHistory } from "../../src/pressure/policy.js";

const MIN = 60_000;
// 2026-01-12 is a winter Monday: Paris is UTC+01:00.
const parisWinter = (h: number, m: number) => Date.UTC(2026, 0, 12, h - 1, m);

describe("isQuietTime reads minutes, not only hours", () => {
	it("21:30-09:15: quiet from 21:30 up to 09:15 local, not at 21:29 nor at 09:15", () => {
		const w = { start: "21:30", end: "09:15" };
		expect(isQuietTime(parisWinter(21, 29), w, "Europe/Paris")).toBe(false);
		expect(isQuietTime(parisWinter(21, 30), w, "Europe/Paris")).toBe(true);
		expect(isQuietTime(parisWinter(9, 14), w, "Europe/Paris")).toBe(true);
		expect(isQuietTime(parisWinter(9, 15), w, "Europe/Paris")).toBe(false);
	});

	it("12:10-12:50 (no wrap): only inside the forty minutes", () => {
		const w = { start: "12:10", end: "12:50" };
		expect(isQuietTime(parisWinter(12, 9), w, "Europe/Paris")).toBe(false);
		expect(isQuietTime(parisWinter(12, 10), w, "Europe/Paris")).toBe(true);
		expect(isQuietTime(parisWinter(12, 49), w, "Europe/Paris")).toBe(true);
		expect(isQuietTime(parisWinter(12, 50), w, "Europe/Paris")).toBe(false);
		// An hour later at the same minutes is outside: minutes are added to hours, not subtracted.
		expect(isQuietTime(parisWinter(11, 30), w, "Europe/Paris")).toBe(false);
	});

	it("a zone a half hour off UTC (Asia/Kolkata, +05:30)", () => {
		const w = { start: "22:00", end: "06:00" };
		// 16:29 UTC is 21:59 in Kolkata, 16:30 UTC is 22:00.
		expect(isQuietTime(Date.UTC(2026, 0, 12, 16, 29), w, "Asia/Kolkata")).toBe(false);
		expect(isQuietTime(Date.UTC(2026, 0, 12, 16, 30), w, "Asia/Kolkata")).toBe(true);
		expect(isQuietTime(Date.UTC(2026, 0, 13, 0, 29), w, "Asia/Kolkata")).toBe(true);
		expect(isQuietTime(Date.UTC(2026, 0, 13, 0, 30), w, "Asia/Kolkata")).toBe(false);
	});
});

describe("isQuietTime refuses a clock that is not HH:MM", () => {
	for (const bad of ["9:00", "109:00", "09:000", "x09:00", "09:00x", "09h00", ""]) {
		it(JSON.stringify(bad), () => {
			expect(() => isQuietTime(0, { start: bad, end: "09:00" }, "UTC")).toThrow(RangeError);
			expect(() => isQuietTime(0, { start: "21:00", end: bad }, "UTC")).toThrow(
				`expected HH:MM, got ${JSON.stringify(bad)}`,
			);
		});
	}

	it("names the unknown zone", () => {
		expect(() => isQuietTime(0, { start: "21:00", end: "09:00" }, "Mars/Olympus")).toThrow(
			'unknown time zone "Mars/Olympus"',
		);
	});
});

describe("pruneHistory between half and all of HISTORY_LIMIT", () => {
	it("keeps every send when fewer than HISTORY_LIMIT remain", () => {
		const now = Date.UTC(2026, 0, 12);
		for (const n of [HISTORY_LIMIT / 2 + 1, HISTORY_LIMIT - 1, HISTORY_LIMIT]) {
			const history = Array.from({ length: n }, (_, i) => now - i * MIN);
			const kept = pruneHistory(history, now);
			expect(kept).toHaveLength(n);
			expect(kept[0]).toBe(now - (n - 1) * MIN);
		}
	});
});

describe("the zone formatter cache", () => {
	afterEach(() => {
		vi.restoreAllMocks();
	});

	it("builds a zone's formatter once, then reuses it", () => {
		const spy = vi.spyOn(Intl, "DateTimeFormat");
		const w = { start: "21:00", end: "09:00" };
		// A zone no other test of this file reads.
		expect(isQuietTime(Date.UTC(2026, 0, 12, 12), w, "Pacific/Chatham")).toBe(true);
		const built = spy.mock.calls.length;
		expect(built).toBe(1);
		expect(isQuietTime(Date.UTC(2026, 0, 12, 0), w, "Pacific/Chatham")).toBe(false);
		expect(spy.mock.calls.length).toBe(built);
	});
});
