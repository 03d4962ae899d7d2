/**
 * Marketing pressure: how often, and when, one person may receive an offer. Caps and
 * the minimum interval count every offer sent to the person whatever the campaign;
 * quiet hours are read on the person's local wall clock. Pure: the clock is passed in,
 * and the history of sends is owned by the caller (the person's Durable Object).
 */
import { z } from "zod";
import { BoundedCache } from "../lib/cache.js";
import { type Settings, SettingsSchema } from "../schemas/settings.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const WEEK_MS = 7 * DAY_MS;

/**
 * Most sends {@link pruneHistory} keeps. The schemas cap `perWeek` at 500 (and `perDay`
 * lower), so the newest 500 sends are enough to decide every cap exactly: when more
 * than 500 fall in a window, the cap is reached either way. Transactional campaigns
 * send outside the caps and could otherwise grow the history without limit.
 */
export const HISTORY_LIMIT = 500;

/** The pressure rules in force for one person and one campaign. */
export interface PressurePolicy {
	/** Rolling 24 h and rolling 7 days; 0 blocks every offer. */
	caps: { perDay: number; perWeek: number };
	/** Between two offers to the person, whatever their campaigns. */
	minIntervalSeconds: number;
	/**
	 * Local wall-clock window, "HH:MM" each; may wrap midnight (21:00-09:00). `start`
	 * equal to `end` and `null` both mean no quiet hours.
	 */
	quietHours: { start: string; end: string } | null;
	/** IANA zone the quiet hours are read in. */
	timeZone: string;
}

/**
 * The campaign's optional `"pressure"` field: a campaign may tighten or loosen the
 * tenant's policy. Same bounds as the tenant settings; `quietHours: null` turns quiet
 * hours off for this campaign.
 */
export const PressureOverrideSchema = z.strictObject({
	caps: SettingsSchema.shape.caps.partial().optional(),
	minIntervalSeconds: SettingsSchema.shape.minIntervalSeconds.optional(),
	quietHours: SettingsSchema.shape.quietHours.optional(),
});

/** A campaign's pressure override, as parsed by {@link PressureOverrideSchema}. */
export type PressureOverride = z.infer<typeof PressureOverrideSchema>;

/** Why pressure forbids an offer now, in the order the checks run. */
export type PressureReason = "quiet_hours" | "daily_cap" | "weekly_cap" | "min_interval";

/**
 * The policy for one person and one campaign: tenant settings, then the campaign's
 * override field by field, read in the person's zone (the tenant's when the person's is
 * unknown, or is a name this runtime's ICU does not know, so that a stale zone name
 * never breaks decisions).
 */
export function resolvePolicy(
	settings: Pick<Settings, "caps" | "minIntervalSeconds" | "quietHours" | "timezone">,
	override: PressureOverride | undefined,
	personTimeZone: string | null | undefined,
): PressurePolicy {
	const timeZone =
		personTimeZone && formatterFor(personTimeZone) !== undefined ? personTimeZone : settings.timezone;
	return {
		caps: {
			perDay: override?.caps?.perDay ?? settings.caps.perDay,
			perWeek: override?.caps?.perWeek ?? settings.caps.perWeek,
		},
		minIntervalSeconds: override?.minIntervalSeconds ?? settings.minIntervalSeconds,
		// `null` is a value here (quiet hours off), only `undefined` falls back.
		quietHours: override?.quietHours !== undefined ? override.quietHours : settings.quietHours,
		timeZone,
	};
}

/**
 * The first reason an offer may not go out at `now`, or `null` when it may.
 *
 * `history` holds the epoch-ms times of offers already sent to this person by any
 * campaign, in any order. Windows are half-open, `(now - window, now]`: a send exactly
 * 24 h ago no longer counts towards the daily cap, one exactly `minIntervalSeconds` ago
 * no longer blocks. Sends after `now` are outside every window.
 *
 * `ignoreCaps` (transactional campaigns) skips every check here: caps, minimum interval
 * and quiet hours alike. Consent is not this module's business.
 */
export function pressureReason(
	policy: PressurePolicy,
	history: readonly number[],
	now: number,
	opts: { ignoreCaps: boolean },
): PressureReason | null {
	if (opts.ignoreCaps) return null;
	if (isQuietTime(now, policy.quietHours, policy.timeZone)) return "quiet_hours";
	const intervalMs = policy.minIntervalSeconds * 1000;
	let day = 0;
	let week = 0;
	let recent = false;
	// One pass, no sort: the history is small and may come unsorted.
	for (const t of history) {
		if (t > now) continue;
		const age = now - t;
		if (age < WEEK_MS) week++;
		if (age < DAY_MS) day++;
		if (age < intervalMs) recent = true;
	}
	if (day >= policy.caps.perDay) return "daily_cap";
	if (week >= policy.caps.perWeek) return "weekly_cap";
	if (recent) return "min_interval";
	return null;
}

/**
 * Whether `now` falls in the quiet hours on the local wall clock of `timeZone`. Local
 * time `t` is quiet when `start <= t < end`, or, for a window that wraps midnight, when
 * `t >= start || t < end`. `null` or `start === end` is never quiet.
 *
 * The wall clock is read from the zone's rules for that very instant, so daylight-saving
 * changes are handled: no fixed offset is ever added.
 *
 * @throws RangeError when `timeZone` is not a zone this runtime knows.
 */
export function isQuietTime(
	now: number,
	quietHours: { start: string; end: string } | null,
	timeZone: string,
): boolean {
	if (quietHours === null) return false;
	const start = clockMinutes(quietHours.start);
	const end = clockMinutes(quietHours.end);
	if (start === end) return false;
	const t = localMinutes(now, timeZone);
	// Stryker disable next-line EqualityOperator: start === end returned above, so < and <= agree.
	return start < end ? start <= t && t < end : t >= start || t < end;
}

/**
 * What the caps can still see, sorted oldest first: drops sends at or before
 * `now - 7 days` (outside every window from now on, since the clock only moves forward)
 * and keeps at most the newest {@link HISTORY_LIMIT}, so the stored array stays bounded.
 * Sends after `now` are kept: they will enter the windows later.
 */
export function pruneHistory(history: readonly number[], now: number): number[] {
	const kept = history.filter((t) => now - t < WEEK_MS).sort((a, b) => a - b);
	// Stryker disable next-line EqualityOperator: at exactly HISTORY_LIMIT the slice keeps everything.
	return kept.length > HISTORY_LIMIT ? kept.slice(kept.length - HISTORY_LIMIT) : kept;
}

/** "HH:MM" to minutes after midnight. The schemas have checked the format. */
function clockMinutes(hhmm: string): number {
	const m = /^(\d{2}):(\d{2})$/.exec(hhmm);
	if (!m) throw new RangeError(`expected HH:MM, got ${JSON.stringify(hhmm)}`);
	return Number(m[1]) * 60 + Number(m[2]);
}

/** Minutes after local midnight of the wall clock in `timeZone` at `now`. */
function localMinutes(now: number, timeZone: string): number {
	const fmt = formatterFor(timeZone);
	if (fmt === undefined) throw new RangeError(`unknown time zone ${JSON.stringify(timeZone)}`);
	const parts = Object.fromEntries(fmt.formatToParts(now).map((p) => [p.type, p.value]));
	return Number(parts.hour) * 60 + Number(parts.minute);
}

// Building an Intl.DateTimeFormat costs far more than using one, and this runs for every
// decision. Zone names come from validated settings, so the cache stays small; the
// bound only guards against a flood of distinct names (least recently used go first).
const FORMATTERS = new BoundedCache<string, Intl.DateTimeFormat>(1000);

/** The cached hour-and-minute formatter for a zone, or undefined when ICU does not know it. */
function formatterFor(timeZone: string): Intl.DateTimeFormat | undefined {
	const hit = FORMATTERS.get(timeZone);
	if (hit !== undefined) return hit;
	let fmt: Intl.DateTimeFormat;
	try {
		// h23: "00" at midnight, never "24" as some ICU versions give with hour12: false.
		fmt = new Intl.DateTimeFormat("en-US", {
			timeZone,
			hour: "2-digit",
			minute: "2-digit",
			hourCycle: "h23",
		});
	} catch /* Stryker disable next-line BlockStatement: an empty catch answers undefined too */ {
		return undefined;
	}
	FORMATTERS.set(timeZone, fmt);
	return fmt;
}
