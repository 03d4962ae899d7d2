/**
 * Presence state machine for one person: which fences they are in, and the enter,
 * exit and dwell events that pings and the clock produce. Pure: the clock is passed
 * in and the fence lookup is done by the caller between {@link screenPings} and
 * {@link applyPings}, so the Durable Object can batch shard calls.
 */
import { haversineMeters } from "../geo/exact.js";

/** A location ping, with its position in the request for error reporting. */
export interface Ping {
	lat: number;
	lng: number;
	accuracy: number;
	/** Epoch milliseconds. */
	t: number;
	/** Index in the request's `pings` array. */
	index: number;
}

export interface InsideFence {
	enteredAt: number;
	/**
	 * Dwell thresholds (seconds after `enteredAt`) not fired yet, ascending: the fence's own
	 * `dwellSeconds` and those of dwell campaigns that name their own. Each fires once a visit.
	 */
	dwells: number[];
}

export interface PresenceState {
	/** The last usable ping; later pings are screened against it. */
	last: { lat: number; lng: number; t: number } | null;
	inside: Record<string, InsideFence>;
}

export type RejectReason = "low_accuracy" | "out_of_order" | "future" | "too_fast";

export interface PresenceEvent {
	type: "enter" | "exit" | "dwell";
	fenceId: string;
	at: number;
	/** For a dwell: the threshold that fell due (seconds inside). */
	dwellSeconds?: number;
	/** Older than {@link STALE_AFTER_MS} when processed: updates presence, fires no offer. */
	stale: boolean;
}

/** What the fence index says about one usable ping. */
export interface PingLookup {
	/** Ids of the fences that contain the ping. */
	inside: readonly string[];
	/** Metres from the ping to a fence the person is in (Infinity when unknown). */
	distanceTo(fenceId: string): number;
}

export const FUTURE_TOLERANCE_MS = 5 * 60_000;
export const MAX_SPEED_MPS = 100;
export const STALE_AFTER_MS = 10 * 60_000;
export const EXIT_MARGIN_MIN_M = 25;

/** A state for someone never seen. */
export function emptyPresence(): PresenceState {
	return { last: null, inside: {} };
}

/**
 * Reads a stored presence state, including one written before dwell thresholds became a list
 * (`dwellAt` and `dwellFired` per fence): its pending dwell is kept.
 */
export function readPresence(stored: unknown): PresenceState {
	if (typeof stored !== "object" || stored === null) return emptyPresence();
	const { last = null, inside = {} } = stored as {
		last?: PresenceState["last"];
		inside?: Record<string, Partial<InsideFence> & { dwellAt?: number | null; dwellFired?: boolean }>;
	};
	const out: Record<string, InsideFence> = {};
	for (const [id, f] of Object.entries(inside)) {
		const enteredAt = f.enteredAt ?? 0;
		const legacy =
			f.dwellAt !== undefined && f.dwellAt !== null && !f.dwellFired ? [(f.dwellAt - enteredAt) / 1000] : [];
		out[id] = { enteredAt, dwells: f.dwells ?? legacy };
	}
	return { last, inside: out };
}

/**
 * The dwell thresholds of one fence, sorted and without repeats.
 *
 * @param own the fence's `dwellSeconds` (null when it has none)
 * @param campaigns the `dwellSeconds` of dwell campaigns that apply to the fence and name one
 */
export function dwellThresholds(own: number | null, campaigns: Iterable<number>): number[] {
	const all = new Set<number>(campaigns);
	if (own !== null) all.add(own);
	return [...all].filter((s) => s > 0).sort((a, b) => a - b);
}

/**
 * Sorts a batch by timestamp and keeps the usable pings: accurate enough, not older
 * than the last usable one, not too far in the future, and not implying a speed above
 * 100 m/s. Each usable ping becomes the reference for the next. Unusable pings change
 * nothing.
 */
export function screenPings(
	last: PresenceState["last"],
	pings: readonly Ping[],
	opts: { now: number; maxAccuracyMeters: number },
): { usable: Ping[]; rejected: { index: number; reason: RejectReason }[]; last: PresenceState["last"] } {
	const sorted = [...pings].sort((a, b) => a.t - b.t || a.index - b.index);
	const usable: Ping[] = [];
	const rejected: { index: number; reason: RejectReason }[] = [];
	let ref = last;
	for (const p of sorted) {
		const reason = rejectReason(ref, p, opts);
		if (reason) {
			rejected.push({ index: p.index, reason });
			continue;
		}
		usable.push(p);
		ref = { lat: p.lat, lng: p.lng, t: p.t };
	}
	rejected.sort((a, b) => a.index - b.index);
	return { usable, rejected, last: ref };
}

function rejectReason(
	ref: PresenceState["last"],
	p: Ping,
	opts: { now: number; maxAccuracyMeters: number },
): RejectReason | null {
	if (!(p.accuracy <= opts.maxAccuracyMeters)) return "low_accuracy";
	if (p.t > opts.now + FUTURE_TOLERANCE_MS) return "future";
	if (!ref) return null;
	if (p.t < ref.t) return "out_of_order";
	const metres = haversineMeters(ref.lat, ref.lng, p.lat, p.lng);
	const seconds = (p.t - ref.t) / 1000;
	// Same instant: only a negligible move (GPS jitter) is believable.
	if (seconds === 0) return metres > 1 ? "too_fast" : null;
	return metres / seconds > MAX_SPEED_MPS ? "too_fast" : null;
}

/**
 * Applies usable pings (in time order) with their fence lookups. Per ping: dwells that
 * fell due before it fire first (the person was inside until then), then exits beyond
 * the hysteresis margin `max(25 m, accuracy)`, then enters.
 */
export function applyPings(
	state: PresenceState,
	pings: readonly { ping: Ping; lookup: PingLookup }[],
	dwellThresholdsOf: (fenceId: string) => readonly number[],
	now: number,
): { state: PresenceState; events: PresenceEvent[] } {
	const inside: Record<string, InsideFence> = structuredClone(state.inside);
	const events: PresenceEvent[] = [];
	let last = state.last;
	for (const { ping, lookup } of pings) {
		events.push(...fireDueDwells(inside, ping.t, now));
		const stale = now - ping.t > STALE_AFTER_MS;
		const here = new Set(lookup.inside);
		const margin = Math.max(EXIT_MARGIN_MIN_M, ping.accuracy);
		for (const fenceId of Object.keys(inside).sort()) {
			if (here.has(fenceId)) continue;
			if (lookup.distanceTo(fenceId) > margin) {
				delete inside[fenceId];
				events.push({ type: "exit", fenceId, at: ping.t, stale });
			}
		}
		for (const fenceId of lookup.inside) {
			if (inside[fenceId]) continue;
			inside[fenceId] = { enteredAt: ping.t, dwells: [...dwellThresholdsOf(fenceId)] };
			events.push({ type: "enter", fenceId, at: ping.t, stale });
		}
		last = { lat: ping.lat, lng: ping.lng, t: ping.t };
	}
	return { state: { last, inside }, events };
}

/** Fires every dwell due by `now` (the Durable Object alarm, or after a batch). */
export function dueDwells(
	state: PresenceState,
	now: number,
): { state: PresenceState; events: PresenceEvent[] } {
	const inside = structuredClone(state.inside);
	const events = fireDueDwells(inside, now, now);
	return { state: { last: state.last, inside }, events };
}

function fireDueDwells(inside: Record<string, InsideFence>, upTo: number, now: number): PresenceEvent[] {
	const events: PresenceEvent[] = [];
	for (const [fenceId, f] of Object.entries(inside)) {
		const due = f.dwells.filter((s) => f.enteredAt + s * 1000 <= upTo);
		if (due.length === 0) continue;
		f.dwells = f.dwells.filter((s) => f.enteredAt + s * 1000 > upTo);
		for (const dwellSeconds of due) {
			const at = f.enteredAt + dwellSeconds * 1000;
			events.push({ type: "dwell", fenceId, at, dwellSeconds, stale: now - at > STALE_AFTER_MS });
		}
	}
	return events.sort((x, y) => x.at - y.at || x.fenceId.localeCompare(y.fenceId));
}

/** When the next dwell falls due, for the Durable Object alarm; null when none. */
export function nextDwellAt(state: PresenceState): number | null {
	let next: number | null = null;
	for (const f of Object.values(state.inside)) {
		const first = f.dwells[0];
		if (first === undefined) continue;
		const at = f.enteredAt + first * 1000;
		if (next === null || at < next) next = at;
	}
	return next;
}

/** Great-circle distance in metres: the geometry core's (same formula and radius as Turf). */
export type { haversineMeters };
