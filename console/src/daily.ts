/**
 * A campaign's funnel by day, from the events feed (the stats endpoint answers totals only):
 * offers sent, suppressed, displayed, clicked and conversions per calendar day in the browser's
 * time zone. Pure (test/unit/console-daily.test.ts).
 */
import type { LiveEvent } from "./live.js";

export const DAILY_SERIES = [
	"offer.sent",
	"offer.suppressed",
	"offer.displayed",
	"offer.clicked",
	"cart.conversion",
] as const;
export type DailySeries = (typeof DAILY_SERIES)[number];

export interface DailyRow {
	/** `YYYY-MM-DD` in the time zone given. */
	day: string;
	counts: Record<DailySeries, number>;
}

/** `YYYY-MM-DD` of an instant in a time zone. */
export function dayOf(iso: string, timeZone: string): string {
	const d = new Date(iso);
	const parts = new Intl.DateTimeFormat("en-CA", {
		timeZone,
		year: "numeric",
		month: "2-digit",
		day: "2-digit",
	}).formatToParts(d);
	const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "";
	return `${get("year")}-${get("month")}-${get("day")}`;
}

/** Every day from `from` to `to` (inclusive, `YYYY-MM-DD`), so days with nothing show as 0. */
export function daysBetween(from: string, to: string): string[] {
	const out: string[] = [];
	const d = new Date(`${from}T12:00:00Z`);
	const end = new Date(`${to}T12:00:00Z`).getTime();
	while (d.getTime() <= end && out.length < 400) {
		out.push(d.toISOString().slice(0, 10));
		d.setUTCDate(d.getUTCDate() + 1);
	}
	return out;
}

/**
 * Counts this campaign's events by day. A conversion counts for the campaign it was credited
 * to (its `campaignId`); a repeated event id counts once.
 */
export function dailyFunnel(
	events: readonly LiveEvent[],
	campaignId: string,
	timeZone: string,
	from: string,
	to: string,
): DailyRow[] {
	const rows = new Map<string, DailyRow>();
	for (const day of daysBetween(from, to))
		rows.set(day, {
			day,
			counts: Object.fromEntries(DAILY_SERIES.map((s) => [s, 0])) as Record<DailySeries, number>,
		});
	const seen = new Set<string>();
	for (const e of events) {
		if (seen.has(e.id) || e.data.campaignId !== campaignId) continue;
		if (!(DAILY_SERIES as readonly string[]).includes(e.type)) continue;
		seen.add(e.id);
		const row = rows.get(dayOf(e.createdAt, timeZone));
		if (row) row.counts[e.type as DailySeries] += 1;
	}
	return [...rows.values()];
}
