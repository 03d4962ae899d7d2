/**
 * src/offers/daily.ts: local day windows in zones with DST, skipped midnights and
 * half-hour offsets, range defaults and bounds, and the per-day fold.
 */
import { describe, expect, it } from "vitest";
import {
	buildDaily,
	dayStart,
	dayWindows,
	localDay,
	MAX_DAYS,
	resolveRange,
	StatsQuerySchema,
} from "../../src/offers/daily.js";

const iso = (t: number) => new Date(t).toISOString();

describe("dayStart and dayWindows", () => {
	it("finds local midnight in UTC, Paris (both clock changes), Kolkata and Kiritimati", () => {
		expect(iso(dayStart("2026-03-28", "UTC"))).toBe("2026-03-28T00:00:00.000Z");
		expect(iso(dayStart("2026-03-29", "Europe/Paris"))).toBe("2026-03-28T23:00:00.000Z");
		expect(iso(dayStart("2026-03-30", "Europe/Paris"))).toBe("2026-03-29T22:00:00.000Z");
		expect(iso(dayStart("2026-10-25", "Europe/Paris"))).toBe("2026-10-24T22:00:00.000Z");
		expect(iso(dayStart("2026-10-26", "Europe/Paris"))).toBe("2026-10-25T23:00:00.000Z");
		expect(iso(dayStart("2026-01-15", "Asia/Kolkata"))).toBe("2026-01-14T18:30:00.000Z");
		expect(iso(dayStart("2026-01-15", "Pacific/Kiritimati"))).toBe("2026-01-14T10:00:00.000Z");
		expect(iso(dayStart("2026-01-15", "Pacific/Pago_Pago"))).toBe("2026-01-15T11:00:00.000Z");
	});

	it("starts a day whose midnight the zone skips at its first instant (Santiago, September)", () => {
		// Chile moves from 24:00 to 01:00 on the first Saturday night of September.
		const start = dayStart("2025-09-07", "America/Santiago");
		expect(localDay(start, "America/Santiago")).toBe("2025-09-07");
		expect(localDay(start - 1000, "America/Santiago")).toBe("2025-09-06");
		expect(iso(start)).toBe("2025-09-07T04:00:00.000Z");
	});

	it("tiles the range with no gap: 23 and 25 hour days where Paris changes clocks", () => {
		const w = dayWindows("2026-03-28", "2026-10-26", "Europe/Paris");
		expect(w).toHaveLength(MAX_DAYS); // capped
		for (let i = 1; i < w.length; i++) expect(w[i]?.start).toBe(w[i - 1]?.end);
		const hours = (d: { start: string; end: string }) =>
			(Date.parse(d.end) - Date.parse(d.start)) / 3_600_000;
		expect(w.map(hours).slice(0, 3)).toEqual([24, 23, 24]);
		const autumn = dayWindows("2026-10-24", "2026-10-26", "Europe/Paris");
		expect(autumn.map(hours)).toEqual([24, 25, 24]);
	});
});

describe("StatsQuerySchema and resolveRange", () => {
	it("accepts up to MAX_DAYS and refuses more, reversed ranges, impossible days, unknown zones", () => {
		expect(
			StatsQuerySchema.safeParse({ series: "daily", from: "2026-01-01", to: "2026-04-02" }).success,
		).toBe(true);
		for (const q of [
			{ series: "daily", from: "2026-01-01", to: "2026-04-03" },
			{ series: "daily", from: "2026-03-02", to: "2026-03-01" },
			{ series: "daily", from: "2026-02-29" },
			{ series: "daily", tz: "Nowhere/Else" },
			{ from: "2026-03-01" },
			{ series: "hourly" },
		])
			expect(StatsQuerySchema.safeParse(q).success, JSON.stringify(q)).toBe(false);
		expect(StatsQuerySchema.safeParse({}).success).toBe(true);
	});

	it("fills the range in: 14 days to today, from alone runs to today but at most MAX_DAYS", () => {
		const now = Date.parse("2026-03-29T23:30:00Z"); // Monday 01:30 in Paris
		expect(resolveRange({ series: "daily" }, "Europe/Paris", now)).toEqual({
			from: "2026-03-17",
			to: "2026-03-30",
		});
		expect(resolveRange({ series: "daily" }, "UTC", now)).toEqual({ from: "2026-03-16", to: "2026-03-29" });
		expect(resolveRange({ series: "daily", from: "2026-03-01" }, "UTC", now)).toEqual({
			from: "2026-03-01",
			to: "2026-03-29",
		});
		expect(resolveRange({ series: "daily", from: "2025-01-01" }, "UTC", now).to).toBe("2025-04-02");
		expect(resolveRange({ series: "daily", from: "2027-01-01" }, "UTC", now).to).toBe("2027-01-01");
		expect(resolveRange({ series: "daily", to: "2026-01-14" }, "UTC", now).from).toBe("2026-01-01");
	});
});

describe("buildDaily", () => {
	it("folds each day's rows into its own funnel and lists empty days", () => {
		const windows = dayWindows("2026-03-01", "2026-03-03", "UTC");
		const days = buildDaily({
			campaignId: "c",
			variantIds: ["a"],
			windows,
			decisions: [
				{ day: "2026-03-01", variant_id: "a", decision: "sent", reason: null, n: 2 },
				{ day: "2026-03-03", variant_id: "a", decision: "holdout", reason: null, n: 1 },
				{ day: "2026-02-01", variant_id: "a", decision: "sent", reason: null, n: 9 },
			],
			offers: [],
			eventTotals: [{ day: "2026-03-01", variant_id: "a", type: "clicked", n: 1 }],
			clicksByAction: [{ day: "2026-03-01", variant_id: "a", type: "clicked", action: "buy", n: 1 }],
			conversions: [{ day: "2026-03-03", variant_id: "a", holdout: 1, n: 1, revenue: 4.2 }],
		});
		expect(days.map((d) => d.day)).toEqual(["2026-03-01", "2026-03-02", "2026-03-03"]);
		expect(days[0]?.totals).toMatchObject({
			triggered: 2,
			sent: 2,
			clicked: { total: 1, byAction: { buy: 1 } },
		});
		expect(days[1]?.totals).toMatchObject({ triggered: 0, sent: 0, converted: 0 });
		expect(days[2]?.variants.find((v) => v.group === "holdout")).toMatchObject({
			triggered: 1,
			holdout: 1,
			converted: 1,
			revenue: 4.2,
		});
	});
});
