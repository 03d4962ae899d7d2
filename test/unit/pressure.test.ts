import { describe, expect, it } from "vitest";
import {
	HISTORY_LIMIT,
	isQuietTime,
	PressureOverrideSchema,
	type PressurePolicy,
	pressureReason,
	pruneHistory,
	resolvePolicy,
} from "../../src/pressure/policy.js";
import { defaultSettings } from "../../src/schemas/settings.js";

const MS = 1;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

// Noon UTC on a Monday, 13:00 in Paris: outside the default quiet hours.
const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const NIGHT = { start: "21:00", end: "09:00" };

/** Caps and interval under test, no quiet hours unless asked for. */
const policy = (over: Partial<PressurePolicy> = {}): PressurePolicy => ({
	caps: { perDay: 2, perWeek: 5 },
	minIntervalSeconds: 3600,
	quietHours: null,
	timeZone: "Europe/Paris",
	...over,
});
const send = { ignoreCaps: false };
const transactional = { ignoreCaps: true };

describe("pressureReason: caps", () => {
	it("lets the first offer through", () => {
		expect(pressureReason(policy(), [], NOW, send)).toBeNull();
	});

	it("daily cap counts a send 24 h - 1 ms ago but not one exactly 24 h ago", () => {
		const p = policy({ minIntervalSeconds: 0 });
		const earlier = NOW - 2 * HOUR;
		expect(pressureReason(p, [earlier, NOW - DAY + MS], NOW, send)).toBe("daily_cap");
		expect(pressureReason(p, [earlier, NOW - DAY], NOW, send)).toBeNull();
		// The same send, seen 1 ms later, has just left the window.
		expect(pressureReason(p, [earlier, NOW - DAY + MS], NOW + MS, send)).toBeNull();
	});

	it("daily cap is reached at perDay sends, not before", () => {
		const p = policy({ caps: { perDay: 3, perWeek: 10 }, minIntervalSeconds: 0 });
		expect(pressureReason(p, [NOW - 3 * HOUR, NOW - 2 * HOUR], NOW, send)).toBeNull();
		expect(pressureReason(p, [NOW - 3 * HOUR, NOW - 2 * HOUR, NOW - HOUR], NOW, send)).toBe("daily_cap");
	});

	it("weekly cap counts a send 7 days - 1 ms ago but not one exactly 7 days ago", () => {
		const p = policy({ caps: { perDay: 2, perWeek: 3 }, minIntervalSeconds: 0 });
		const older = [NOW - 3 * DAY, NOW - 2 * DAY];
		expect(pressureReason(p, [...older, NOW - WEEK + MS], NOW, send)).toBe("weekly_cap");
		expect(pressureReason(p, [...older, NOW - WEEK], NOW, send)).toBeNull();
		expect(pressureReason(p, [...older, NOW - WEEK + MS], NOW + MS, send)).toBeNull();
	});

	it("perDay 0 blocks everything, even with no history", () => {
		const p = policy({ caps: { perDay: 0, perWeek: 5 } });
		expect(pressureReason(p, [], NOW, send)).toBe("daily_cap");
		expect(pressureReason(p, [], NOW + 3 * WEEK, send)).toBe("daily_cap");
	});

	it("perWeek 0 blocks everything", () => {
		expect(pressureReason(policy({ caps: { perDay: 2, perWeek: 0 } }), [], NOW, send)).toBe("weekly_cap");
	});

	it("caps apply across campaigns: the history is the person's, not the campaign's", () => {
		// Two sends today from two other campaigns leave no room for a third campaign.
		const history = [NOW - 5 * HOUR /* campaign A */, NOW - 3 * HOUR /* campaign B */];
		expect(pressureReason(policy(), history, NOW, send)).toBe("daily_cap");
	});

	it("reads the history in any order", () => {
		const p = policy({ caps: { perDay: 2, perWeek: 3 }, minIntervalSeconds: 0 });
		const history = [NOW - 2 * DAY, NOW - 10 * DAY, NOW - 5 * DAY, NOW - 9 * DAY];
		expect(pressureReason(p, history, NOW, send)).toBeNull();
		expect(pressureReason(p, [NOW - 4 * DAY, ...history], NOW, send)).toBe("weekly_cap");
	});

	it("ignores sends after now", () => {
		expect(pressureReason(policy(), [NOW + MS, NOW + HOUR], NOW, send)).toBeNull();
	});
});

describe("pressureReason: minimum interval", () => {
	it("blocks a send interval - 1 ms ago, not one exactly interval ago", () => {
		const p = policy({ minIntervalSeconds: 3600 });
		expect(pressureReason(p, [NOW - HOUR + MS], NOW, send)).toBe("min_interval");
		expect(pressureReason(p, [NOW - HOUR], NOW, send)).toBeNull();
	});

	it("blocks a send at the very same instant", () => {
		expect(pressureReason(policy(), [NOW], NOW, send)).toBe("min_interval");
	});

	it("0 never blocks", () => {
		const p = policy({ minIntervalSeconds: 0 });
		expect(pressureReason(p, [NOW], NOW, send)).toBeNull();
	});
});

describe("pressureReason: order and transactional campaigns", () => {
	// 23:00 in Paris (+01:00), a full day and week, and a send a minute ago: all four fail.
	const night = Date.UTC(2026, 10, 23, 22, 0, 0);
	const everything = policy({ quietHours: NIGHT, caps: { perDay: 1, perWeek: 1 } });
	const lastMinute = [night - MIN];

	it("checks quiet hours, then daily cap, then weekly cap, then minimum interval", () => {
		expect(pressureReason(everything, lastMinute, night, send)).toBe("quiet_hours");
		const day = { ...everything, quietHours: null };
		expect(pressureReason(day, lastMinute, night, send)).toBe("daily_cap");
		const week = { ...day, caps: { perDay: 5, perWeek: 1 } };
		expect(pressureReason(week, lastMinute, night, send)).toBe("weekly_cap");
		const interval = { ...day, caps: { perDay: 5, perWeek: 5 } };
		expect(pressureReason(interval, lastMinute, night, send)).toBe("min_interval");
	});

	it("ignoreCaps bypasses all four", () => {
		expect(pressureReason(everything, lastMinute, night, transactional)).toBeNull();
		const zero = policy({ quietHours: NIGHT, caps: { perDay: 0, perWeek: 0 } });
		expect(pressureReason(zero, [night], night, transactional)).toBeNull();
	});
});

/** Expects each `[utc instant, quiet?]` pair under 21:00-09:00 in `zone`. */
function expectNight(zone: string, cases: [number, boolean][]): void {
	for (const [t, quiet] of cases) {
		expect({ at: new Date(t).toISOString(), quiet: isQuietTime(t, NIGHT, zone) }).toEqual({
			at: new Date(t).toISOString(),
			quiet,
		});
	}
}

describe("isQuietTime: 21:00-09:00, Europe/Paris", () => {
	it("on a winter day (CET, +01:00)", () => {
		expectNight("Europe/Paris", [
			[Date.UTC(2026, 0, 15, 7, 59), true], // 08:59
			[Date.UTC(2026, 0, 15, 7, 59, 59, 999), true], // 08:59:59.999
			[Date.UTC(2026, 0, 15, 8, 0), false], // 09:00
			[Date.UTC(2026, 0, 15, 19, 59), false], // 20:59
			[Date.UTC(2026, 0, 15, 20, 0), true], // 21:00
			[Date.UTC(2026, 0, 15, 23, 0), true], // 00:00 next day
		]);
	});

	it("on a summer day (CEST, +02:00)", () => {
		expectNight("Europe/Paris", [
			[Date.UTC(2026, 6, 15, 6, 59), true], // 08:59
			[Date.UTC(2026, 6, 15, 7, 0), false], // 09:00
			[Date.UTC(2026, 6, 15, 18, 59), false], // 20:59
			[Date.UTC(2026, 6, 15, 19, 0), true], // 21:00
		]);
	});

	it("on 2026-03-29, clocks 02:00 CET -> 03:00 CEST at 01:00 UTC", () => {
		expectNight("Europe/Paris", [
			[Date.UTC(2026, 2, 29, 0, 59, 59, 999), true], // 01:59:59.999 CET (+01:00)
			[Date.UTC(2026, 2, 29, 1, 0), true], // 03:00 CEST (+02:00)
			[Date.UTC(2026, 2, 29, 6, 59), true], // 08:59 CEST
			[Date.UTC(2026, 2, 29, 7, 0), false], // 09:00 CEST (a fixed +01:00 would say 08:00)
			[Date.UTC(2026, 2, 29, 18, 59), false], // 20:59 CEST
			[Date.UTC(2026, 2, 29, 19, 0), true], // 21:00 CEST (a fixed +01:00 would say 20:00)
		]);
	});

	it("on 2026-10-25, clocks 03:00 CEST -> 02:00 CET at 01:00 UTC", () => {
		expectNight("Europe/Paris", [
			[Date.UTC(2026, 9, 25, 0, 59), true], // 02:59 CEST (+02:00)
			[Date.UTC(2026, 9, 25, 1, 0), true], // 02:00 CET (+01:00), the second time
			[Date.UTC(2026, 9, 25, 7, 59), true], // 08:59 CET (a fixed +02:00 would say 09:59)
			[Date.UTC(2026, 9, 25, 8, 0), false], // 09:00 CET
			[Date.UTC(2026, 9, 25, 19, 59), false], // 20:59 CET
			[Date.UTC(2026, 9, 25, 20, 0), true], // 21:00 CET
		]);
	});
});

describe("isQuietTime: 21:00-09:00, America/New_York", () => {
	it("on a winter day (EST, -05:00) and a summer day (EDT, -04:00)", () => {
		expectNight("America/New_York", [
			[Date.UTC(2026, 0, 15, 13, 59), true], // 08:59 EST
			[Date.UTC(2026, 0, 15, 14, 0), false], // 09:00 EST
			[Date.UTC(2026, 0, 16, 1, 59), false], // 20:59 EST, Jan 15
			[Date.UTC(2026, 0, 16, 2, 0), true], // 21:00 EST, Jan 15
			[Date.UTC(2026, 6, 15, 12, 59), true], // 08:59 EDT
			[Date.UTC(2026, 6, 15, 13, 0), false], // 09:00 EDT
			[Date.UTC(2026, 6, 16, 0, 59), false], // 20:59 EDT, Jul 15
			[Date.UTC(2026, 6, 16, 1, 0), true], // 21:00 EDT, Jul 15
		]);
	});

	it("on 2026-03-08, clocks 02:00 EST -> 03:00 EDT at 07:00 UTC", () => {
		expectNight("America/New_York", [
			[Date.UTC(2026, 2, 8, 6, 59), true], // 01:59 EST (-05:00)
			[Date.UTC(2026, 2, 8, 7, 0), true], // 03:00 EDT (-04:00)
			[Date.UTC(2026, 2, 8, 12, 59), true], // 08:59 EDT
			[Date.UTC(2026, 2, 8, 13, 0), false], // 09:00 EDT (a fixed -05:00 would say 08:00)
			[Date.UTC(2026, 2, 9, 0, 59), false], // 20:59 EDT, Mar 8
			[Date.UTC(2026, 2, 9, 1, 0), true], // 21:00 EDT, Mar 8
		]);
	});

	it("on 2026-11-01, clocks 02:00 EDT -> 01:00 EST at 06:00 UTC", () => {
		expectNight("America/New_York", [
			[Date.UTC(2026, 10, 1, 5, 59), true], // 01:59 EDT (-04:00)
			[Date.UTC(2026, 10, 1, 6, 0), true], // 01:00 EST (-05:00), the second time
			[Date.UTC(2026, 10, 1, 13, 59), true], // 08:59 EST (a fixed -04:00 would say 09:59)
			[Date.UTC(2026, 10, 1, 14, 0), false], // 09:00 EST
			[Date.UTC(2026, 10, 2, 1, 59), false], // 20:59 EST, Nov 1
			[Date.UTC(2026, 10, 2, 2, 0), true], // 21:00 EST, Nov 1
		]);
	});
});

describe("isQuietTime: other windows", () => {
	const lunch = { start: "12:00", end: "14:00" };

	it("a window that does not wrap midnight is quiet from start, up to but not at end", () => {
		// Paris in January is +01:00.
		expect(isQuietTime(Date.UTC(2026, 0, 15, 10, 59), lunch, "Europe/Paris")).toBe(false); // 11:59
		expect(isQuietTime(Date.UTC(2026, 0, 15, 11, 0), lunch, "Europe/Paris")).toBe(true); // 12:00
		expect(isQuietTime(Date.UTC(2026, 0, 15, 12, 59), lunch, "Europe/Paris")).toBe(true); // 13:59
		expect(isQuietTime(Date.UTC(2026, 0, 15, 13, 0), lunch, "Europe/Paris")).toBe(false); // 14:00
		expect(isQuietTime(Date.UTC(2026, 0, 15, 23, 30), lunch, "Europe/Paris")).toBe(false); // 00:30
	});

	it("the skipped and the repeated hour of a DST change", () => {
		const twoToThree = { start: "02:00", end: "03:00" };
		// 2026-03-29 Paris: 02:00-03:00 local never happens.
		expect(isQuietTime(Date.UTC(2026, 2, 29, 0, 59), twoToThree, "Europe/Paris")).toBe(false); // 01:59 +01
		expect(isQuietTime(Date.UTC(2026, 2, 29, 1, 0), twoToThree, "Europe/Paris")).toBe(false); // 03:00 +02
		// 2026-10-25 Paris: 02:00-03:00 local happens twice, and both are quiet.
		expect(isQuietTime(Date.UTC(2026, 9, 25, 0, 30), twoToThree, "Europe/Paris")).toBe(true); // 02:30 +02
		expect(isQuietTime(Date.UTC(2026, 9, 25, 1, 30), twoToThree, "Europe/Paris")).toBe(true); // 02:30 +01
		expect(isQuietTime(Date.UTC(2026, 9, 25, 2, 0), twoToThree, "Europe/Paris")).toBe(false); // 03:00 +01
	});

	it("midnight is 00:00, inside a window that starts there", () => {
		const early = { start: "00:00", end: "06:00" };
		expect(isQuietTime(Date.UTC(2026, 0, 15, 0, 0), early, "UTC")).toBe(true);
		expect(isQuietTime(Date.UTC(2026, 0, 14, 23, 59), early, "UTC")).toBe(false);
	});

	it("null and start == end are never quiet", () => {
		for (let h = 0; h < 24; h++) {
			const t = Date.UTC(2026, 0, 15, h, 30);
			expect(isQuietTime(t, null, "Europe/Paris")).toBe(false);
			expect(isQuietTime(t, { start: "21:00", end: "21:00" }, "Europe/Paris")).toBe(false);
		}
	});

	it("throws RangeError for a zone the runtime does not know", () => {
		expect(() => isQuietTime(NOW, NIGHT, "Mars/Olympus_Mons")).toThrow(RangeError);
	});
});

describe("resolvePolicy", () => {
	const tenant = defaultSettings("Europe/Paris");

	it("takes the tenant's settings and zone when the person's zone is unknown", () => {
		expect(resolvePolicy(tenant, undefined, null)).toEqual({
			caps: { perDay: 2, perWeek: 5 },
			minIntervalSeconds: 3600,
			quietHours: { start: "21:00", end: "09:00" },
			timeZone: "Europe/Paris",
		});
	});

	it("the person's zone wins over the tenant's", () => {
		expect(resolvePolicy(tenant, undefined, "America/New_York").timeZone).toBe("America/New_York");
	});

	it("falls back to the tenant's zone when the person's is not one the runtime knows", () => {
		expect(resolvePolicy(tenant, undefined, "Mars/Olympus_Mons").timeZone).toBe("Europe/Paris");
	});

	it("override fields win, field by field", () => {
		const p = resolvePolicy(
			tenant,
			{ caps: { perWeek: 10 }, minIntervalSeconds: 60, quietHours: { start: "22:00", end: "07:00" } },
			null,
		);
		expect(p).toEqual({
			caps: { perDay: 2, perWeek: 10 },
			minIntervalSeconds: 60,
			quietHours: { start: "22:00", end: "07:00" },
			timeZone: "Europe/Paris",
		});
		expect(resolvePolicy(tenant, { caps: { perDay: 0 } }, null).caps).toEqual({ perDay: 0, perWeek: 5 });
		expect(resolvePolicy(tenant, { minIntervalSeconds: 0 }, null).minIntervalSeconds).toBe(0);
	});

	it("override quietHours null turns quiet hours off; absent keeps the tenant's", () => {
		expect(resolvePolicy(tenant, { quietHours: null }, null).quietHours).toBeNull();
		expect(resolvePolicy(tenant, {}, null).quietHours).toEqual(NIGHT);
		const off = resolvePolicy({ ...tenant, quietHours: null }, {}, null);
		expect(off.quietHours).toBeNull();
	});

	it("reads quiet hours in the person's zone", () => {
		// 23:00 UTC: midnight in Paris (quiet), 18:00 in New York (not quiet).
		const at = Date.UTC(2026, 0, 15, 23, 0);
		expect(pressureReason(resolvePolicy(tenant, undefined, null), [], at, send)).toBe("quiet_hours");
		expect(pressureReason(resolvePolicy(tenant, undefined, "America/New_York"), [], at, send)).toBeNull();
	});
});

describe("PressureOverrideSchema", () => {
	it("accepts a partial override and null quiet hours", () => {
		expect(PressureOverrideSchema.parse({})).toEqual({});
		expect(PressureOverrideSchema.parse({ caps: { perDay: 1 }, quietHours: null })).toEqual({
			caps: { perDay: 1 },
			quietHours: null,
		});
		expect(
			PressureOverrideSchema.safeParse({
				caps: { perDay: 100, perWeek: 500 },
				minIntervalSeconds: 7 * 86400,
				quietHours: { start: "00:00", end: "23:59" },
			}).success,
		).toBe(true);
	});

	it.each([
		["perDay above 100", { caps: { perDay: 101 } }, ["caps", "perDay"]],
		["negative perWeek", { caps: { perWeek: -1 } }, ["caps", "perWeek"]],
		["perWeek above 500", { caps: { perWeek: 501 } }, ["caps", "perWeek"]],
		["fractional perDay", { caps: { perDay: 1.5 } }, ["caps", "perDay"]],
		["interval above a week", { minIntervalSeconds: 7 * 86400 + 1 }, ["minIntervalSeconds"]],
		["bad clock time", { quietHours: { start: "24:00", end: "09:00" } }, ["quietHours", "start"]],
		["unknown cap", { caps: { perMonth: 3 } }, ["caps"]],
		["unknown field", { cooldownSeconds: 3 }, []],
	])("rejects %s", (_name, input, path) => {
		const r = PressureOverrideSchema.safeParse(input);
		expect(r.success).toBe(false);
		expect(r.error?.issues[0]?.path).toEqual(path);
	});
});

describe("pruneHistory", () => {
	it("drops sends at or before now - 7 days and sorts the rest", () => {
		const history = [NOW - HOUR, NOW - WEEK, NOW - 3 * DAY, NOW - WEEK + MS, NOW - 30 * DAY, NOW];
		expect(pruneHistory(history, NOW)).toEqual([NOW - WEEK + MS, NOW - 3 * DAY, NOW - HOUR, NOW]);
	});

	it("does not change what the caps decide", () => {
		const p = policy({ caps: { perDay: 3, perWeek: 4 }, minIntervalSeconds: 0 });
		const history = [NOW - 8 * DAY, NOW - 6 * DAY, NOW - 2 * DAY, NOW - 9 * DAY, NOW - DAY + MS, NOW - HOUR];
		for (const later of [NOW, NOW + HOUR, NOW + DAY, NOW + WEEK]) {
			expect(pressureReason(p, pruneHistory(history, NOW), later, send)).toBe(
				pressureReason(p, history, later, send),
			);
		}
	});

	it("keeps at most the newest HISTORY_LIMIT sends", () => {
		// One send every 16 minutes, newest first: 600 in the last 6.7 days, 90 a day.
		const history = Array.from({ length: 600 }, (_, i) => NOW - i * 16 * MIN);
		const kept = pruneHistory(history, NOW);
		expect(kept).toHaveLength(HISTORY_LIMIT);
		expect(kept[0]).toBe(NOW - (HISTORY_LIMIT - 1) * 16 * MIN);
		expect(kept.at(-1)).toBe(NOW);
		// The largest caps the schemas allow decide the same on what is kept.
		const max = policy({ caps: { perDay: 100, perWeek: 500 }, minIntervalSeconds: 0 });
		expect(pressureReason(max, history, NOW, send)).toBe("weekly_cap");
		expect(pressureReason(max, kept, NOW, send)).toBe("weekly_cap");
	});

	it("leaves its input alone", () => {
		const history = [NOW, NOW - HOUR];
		pruneHistory(history, NOW);
		expect(history).toEqual([NOW, NOW - HOUR]);
	});
});
