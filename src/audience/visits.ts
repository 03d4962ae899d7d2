/**
 * Visit counters kept in the person's object: per geofence, enters per UTC day, with the
 * fence's tags as last seen. No trail of times or places: a day number and a count, at most
 * {@link MAX_VISIT_DAYS} days back and {@link MAX_VISIT_FENCES} fences (the least recently
 * visited go first), so `visits` conditions can count over a window by id or tag. Kept as a
 * list, most recently visited first: the shape evaluation walks, stored as it is.
 */
import { MAX_VISIT_DAYS } from "./condition.js";

export const DAY_MS = 86_400_000;
/** Fences whose counters are kept; past it the least recently visited is dropped. */
export const MAX_VISIT_FENCES = 200;

export interface FenceVisits {
	/** The geofence id. */
	id: string;
	/** The fence's tags at its last visit (a `tags` condition matches on these). */
	tags: string[];
	/** `[utcDay, enters]`, oldest first; `utcDay` is `floor(ms / 86_400_000)`. */
	days: [number, number][];
}

/** Visit counters, the most recently visited fence first. */
export type VisitCounters = FenceVisits[];

export function utcDay(ms: number): number {
	return Math.floor(ms / DAY_MS);
}

/** The last day a fence was visited. */
function lastDay(v: FenceVisits): number {
	return v.days[v.days.length - 1]?.[0] ?? Number.NEGATIVE_INFINITY;
}

/**
 * Counts one enter of `fenceId` at `at`, drops days past the window and fences left with
 * none, and past {@link MAX_VISIT_FENCES} the fences visited least recently. Returns new
 * counters; a value that is not a list (nothing stored yet) counts as none.
 */
export function recordVisit(
	counters: VisitCounters | null | undefined,
	fenceId: string,
	tags: readonly string[],
	at: number,
	now: number,
): VisitCounters {
	const today = utcDay(now);
	const day = Math.min(utcDay(at), today);
	const oldest = today - MAX_VISIT_DAYS + 1;
	const list = Array.isArray(counters) ? counters : [];
	let mine: FenceVisits | null = null;
	const others: FenceVisits[] = [];
	for (const v of list) {
		const days = v.days.filter(([d]) => d >= oldest);
		if (v.id === fenceId) mine = { id: v.id, tags: v.tags, days };
		else if (days.length > 0) others.push({ id: v.id, tags: v.tags, days });
	}
	if (day >= oldest) {
		const days = mine ? mine.days.map(([d, n]): [number, number] => [d, n]) : [];
		const hit = days.find(([d]) => d === day);
		if (hit) hit[1] += 1;
		else {
			days.push([day, 1]);
			days.sort((a, b) => a[0] - b[0]);
		}
		mine = { id: fenceId, tags: [...tags], days };
	}
	const out = mine && mine.days.length > 0 ? [mine, ...others] : others;
	out.sort((a, b) => lastDay(b) - lastDay(a));
	return out.slice(0, MAX_VISIT_FENCES);
}

/**
 * Enters within the last `withinDays` UTC days (today included) at fences named by id and by
 * tag (both filters apply when both are given; none means every fence).
 */
export function countVisits(
	counters: VisitCounters,
	filter: { geofenceIds?: ReadonlySet<string> | undefined; tags?: ReadonlySet<string> | undefined },
	withinDays: number,
	today: number,
): number {
	const oldest = today - withinDays + 1;
	let n = 0;
	// Most recently visited first: the first fence not visited within the window ends the walk.
	for (let i = 0; i < counters.length; i++) {
		const v = counters[i] as FenceVisits;
		const days = v.days;
		const last = days[days.length - 1];
		if (last === undefined || last[0] < oldest) break;
		if (filter.geofenceIds && !filter.geofenceIds.has(v.id)) continue;
		if (filter.tags) {
			const tags = v.tags;
			let tagged = false;
			for (let t = 0; t < tags.length && !tagged; t++) tagged = filter.tags.has(tags[t] as string);
			if (!tagged) continue;
		}
		for (let d = days.length - 1; d >= 0; d--) {
			const e = days[d] as [number, number];
			if (e[0] < oldest) break;
			if (e[0] <= today) n += e[1];
		}
	}
	return n;
}
