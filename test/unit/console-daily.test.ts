/** The Results page's funnel by day (console/src/daily.ts), from the events feed. */
import { describe, expect, it } from "vitest";
import { dailyFunnel, dayOf, daysBetween } from "../../console/src/daily.js";
import type { LiveEvent } from "../../console/src/live.js";

const ev = (id: string, type: LiveEvent["type"], createdAt: string, campaignId = "beer"): LiveEvent => ({
	id,
	type,
	createdAt,
	userId: "u",
	data: { campaignId },
});

describe("daily funnel", () => {
	it("names days in the given time zone", () => {
		// 23:30 UTC on 1 December is already 2 December in Paris.
		expect(dayOf("2026-12-01T23:30:00Z", "Europe/Paris")).toBe("2026-12-02");
		expect(dayOf("2026-12-01T23:30:00Z", "UTC")).toBe("2026-12-01");
		expect(dayOf("2026-12-02T03:00:00Z", "America/New_York")).toBe("2026-12-01");
	});

	it("lists every day of the range, across months", () => {
		expect(daysBetween("2026-11-29", "2026-12-02")).toEqual([
			"2026-11-29",
			"2026-11-30",
			"2026-12-01",
			"2026-12-02",
		]);
		expect(daysBetween("2026-12-02", "2026-12-01")).toEqual([]);
	});

	it("counts this campaign's events by day and type, once per event id, with empty days at 0", () => {
		const rows = dailyFunnel(
			[
				ev("e1", "offer.sent", "2026-12-01T08:00:00Z"),
				ev("e2", "offer.sent", "2026-12-01T09:00:00Z"),
				ev("e2", "offer.sent", "2026-12-01T09:00:00Z"),
				ev("e3", "offer.displayed", "2026-12-01T09:01:00Z"),
				ev("e4", "offer.clicked", "2026-12-03T10:00:00Z"),
				ev("e5", "cart.conversion", "2026-12-03T11:00:00Z"),
				ev("e6", "offer.suppressed", "2026-12-03T12:00:00Z"),
				ev("e7", "offer.sent", "2026-12-03T12:00:00Z", "other"),
				ev("e8", "geofence.entered", "2026-12-03T12:00:00Z"),
				ev("e9", "offer.sent", "2026-11-20T12:00:00Z"),
			],
			"beer",
			"UTC",
			"2026-12-01",
			"2026-12-03",
		);
		expect(rows.map((r) => r.day)).toEqual(["2026-12-01", "2026-12-02", "2026-12-03"]);
		expect(rows[0]?.counts).toEqual({
			"offer.sent": 2,
			"offer.suppressed": 0,
			"offer.displayed": 1,
			"offer.clicked": 0,
			"cart.conversion": 0,
		});
		expect(Object.values(rows[1]?.counts ?? {}).every((n) => n === 0)).toBe(true);
		expect(rows[2]?.counts).toEqual({
			"offer.sent": 0,
			"offer.suppressed": 1,
			"offer.displayed": 0,
			"offer.clicked": 1,
			"cart.conversion": 1,
		});
	});
});
