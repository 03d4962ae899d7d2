/**
 * A campaign's funnel by calendar day, for `GET /v1/campaigns/{id}/stats?series=daily`.
 * Days are local days of a time zone (the tenant's `timezone` setting unless the query names
 * one), so a French retailer's Tuesday runs from 00:00 to 24:00 Paris time, 23 or 25 hours
 * long on the days the clocks change. The Worker sends the day windows to D1 as one JSON
 * parameter, groups the same rows as the totals per day, and each day's rows are folded by
 * {@link buildFunnel}, so a day's counters mean exactly what the totals mean.
 *
 * Pure: no I/O; the time zone arithmetic uses `Intl` only.
 */
import { z } from "zod";
import { BoundedCache } from "../lib/cache.js";
import { TimeZone } from "../schemas/common.js";
import type { DailyFunnel } from "../schemas/tracking.js";
import {
	buildFunnel,
	type ConversionRow,
	type DecisionCountRow,
	type EventCountRow,
	type OfferCountRow,
} from "./stats.js";

/** The most days one request may ask for (about a quarter). */
export const MAX_DAYS = 92;
/** Days answered when the query gives no `from`. */
export const DEFAULT_DAYS = 14;

const DAY_MS = 86_400_000;

/** A calendar day, `YYYY-MM-DD`, that exists. */
export const IsoDay = z
	.string()
	.regex(/^\d{4}-\d{2}-\d{2}$/, "a day as YYYY-MM-DD")
	.refine((d) => {
		const t = Date.parse(`${d}T00:00:00Z`);
		return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === d;
	}, "not a calendar day");

/** The query of the stats route: `series=daily` adds the daily series; `from`/`to` and `tz` shape it. */
export const StatsQuerySchema = z
	.strictObject({
		series: z.literal("daily").optional(),
		/** First day, inclusive (default: `DEFAULT_DAYS - 1` days before `to`). */
		from: IsoDay.optional(),
		/** Last day, inclusive (default: today in the time zone). */
		to: IsoDay.optional(),
		/** IANA time zone of the days (default: the tenant's `timezone` setting). */
		tz: TimeZone.optional(),
	})
	.refine((q) => q.series === "daily" || (q.from === undefined && q.to === undefined && q.tz === undefined), {
		path: ["series"],
		message: "from, to and tz need series=daily",
	})
	.refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, {
		path: ["from"],
		message: "from must not be after to",
	})
	.refine((q) => q.from === undefined || q.to === undefined || daySpan(q.from, q.to) <= MAX_DAYS, {
		path: ["to"],
		message: `at most ${MAX_DAYS} days`,
	});
export type StatsQuery = z.infer<typeof StatsQuerySchema>;

/** Days from `from` to `to`, both counted. */
export function daySpan(from: string, to: string): number {
	return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS) + 1;
}

/** `day` moved by `n` calendar days. */
export function addDays(day: string, n: number): string {
	return new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

const FORMATTERS = new BoundedCache<string, Intl.DateTimeFormat>(64);
function formatter(timeZone: string): Intl.DateTimeFormat {
	return FORMATTERS.getOrCreate(
		timeZone,
		() =>
			new Intl.DateTimeFormat("en-US", {
				timeZone,
				hourCycle: "h23",
				year: "numeric",
				month: "2-digit",
				day: "2-digit",
				hour: "2-digit",
				minute: "2-digit",
				second: "2-digit",
			}),
	);
}

/** The wall clock of `timeZone` at `t` (epoch ms), read as if it were UTC. */
function wallClock(t: number, timeZone: string): number {
	const parts = formatter(timeZone).formatToParts(new Date(t));
	const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
	return Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
}

/** The local day (`YYYY-MM-DD`) of `t` in `timeZone`. */
export function localDay(t: number, timeZone: string): string {
	return new Date(wallClock(t, timeZone)).toISOString().slice(0, 10);
}

/**
 * The instant (epoch ms) the local `day` starts in `timeZone`: its first local midnight, or
 * where a zone skips midnight (a clock change at 00:00), the first instant of that day.
 */
export function dayStart(day: string, timeZone: string): number {
	const midnight = Date.parse(`${day}T00:00:00Z`);
	const starts = (t: number) => localDay(t, timeZone) >= day && localDay(t - 1000, timeZone) < day;
	// The offset at a guess, then at the corrected instant (a clock change may sit between).
	let t = midnight - (wallClock(midnight, timeZone) - midnight);
	t = midnight - (wallClock(t, timeZone) - t);
	if (starts(t)) return t;
	// A zone that skips or repeats its midnight: the first second of the day, by bisection over
	// every offset a zone may have (-12 h to +14 h), a second apart.
	let lo = midnight - 15 * 3_600_000;
	let hi = midnight + 13 * 3_600_000;
	while (hi - lo > 1000) {
		const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
		if (localDay(mid, timeZone) >= day) hi = mid;
		else lo = mid;
	}
	return hi;
}

/** One day's window: `[start, end)` as ISO 8601 UTC strings, comparable with stored `created_at`. */
export interface DayWindow {
	day: string;
	start: string;
	end: string;
}

/** The windows of every day from `from` to `to` (inclusive) in `timeZone`. */
export function dayWindows(from: string, to: string, timeZone: string): DayWindow[] {
	const out: DayWindow[] = [];
	const n = Math.min(daySpan(from, to), MAX_DAYS);
	let start = dayStart(from, timeZone);
	for (let i = 0; i < n; i++) {
		const day = addDays(from, i);
		const end = dayStart(addDays(day, 1), timeZone);
		out.push({ day, start: new Date(start).toISOString(), end: new Date(end).toISOString() });
		start = end;
	}
	return out;
}

/** The days asked for, with the defaults filled in: today in `timeZone` at `now` ends them. */
export function resolveRange(q: StatsQuery, timeZone: string, now: number): { from: string; to: string } {
	if (q.from !== undefined && q.to !== undefined) return { from: q.from, to: q.to };
	if (q.from !== undefined) {
		const last = addDays(q.from, MAX_DAYS - 1);
		const today = localDay(now, timeZone);
		// Days are YYYY-MM-DD, so text order is time order: the earlier of today and the last day allowed.
		const end = [today, last].sort()[0] ?? last;
		return { from: q.from, to: [q.from, end].sort()[1] ?? end };
	}
	const to = q.to ?? localDay(now, timeZone);
	return { from: addDays(to, -(DEFAULT_DAYS - 1)), to };
}

type Dayed<T> = T & { day: string };

export interface DailyInput {
	campaignId: string;
	variantIds: readonly string[];
	windows: readonly DayWindow[];
	decisions: readonly Dayed<DecisionCountRow>[];
	offers: readonly Dayed<OfferCountRow>[];
	eventTotals: readonly Dayed<EventCountRow>[];
	clicksByAction: readonly Dayed<EventCountRow>[];
	conversions: readonly Dayed<ConversionRow>[];
}

/** One day of the series. */
export type { DailyFunnel };

/**
 * Folds rows grouped by (day, …) into one funnel a day, every day of `windows` listed (a day
 * with nothing has zero counters). Rows of a day outside the windows are ignored.
 */
export function buildDaily(input: DailyInput): DailyFunnel[] {
	const byDay = <T extends { day: string }>(rows: readonly T[]) => {
		const m = new Map<string, T[]>();
		for (const r of rows) {
			const list = m.get(r.day);
			if (list) list.push(r);
			else m.set(r.day, [r]);
		}
		return m;
	};
	const decisions = byDay(input.decisions);
	const offers = byDay(input.offers);
	const eventTotals = byDay(input.eventTotals);
	const clicksByAction = byDay(input.clicksByAction);
	const conversions = byDay(input.conversions);
	return input.windows.map((w) => {
		const f = buildFunnel({
			campaignId: input.campaignId,
			variantIds: input.variantIds,
			decisions: decisions.get(w.day) ?? [],
			offers: offers.get(w.day) ?? [],
			eventTotals: eventTotals.get(w.day) ?? [],
			clicksByAction: clicksByAction.get(w.day) ?? [],
			conversions: conversions.get(w.day) ?? [],
			optIn: { people: 0, pushConsent: 0 },
		});
		return { day: w.day, start: w.start, end: w.end, variants: f.variants, totals: f.totals };
	});
}
