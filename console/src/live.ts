/**
 * The Live page's state, from the live feed (`GET /v1/live`, Server-Sent Events): who is inside
 * each store, starting from the service's presence snapshot (the latest enter, dwell or exit of
 * each person and store in the last 12 hours), then folded event by event (an enter or dwell adds
 * the person, an exit removes them), and the latest events, newest first.
 * Pure (test/unit/console-live.test.ts). Counts are as good as the snapshot's window: a person
 * who entered before it and has not moved since is not counted until their next event.
 */
import type { OutEvent } from "../../src/events/types.js";
import type { PresenceSnapshot } from "../../src/live/stream.js";

export type LiveEvent = Pick<OutEvent, "id" | "type" | "createdAt" | "userId"> & {
	data: Record<string, unknown>;
};

export interface LiveState {
	/** Store id -> people inside, by the events read so far. */
	inside: Map<string, Set<string>>;
	/** Store id -> its name, as the events named it. */
	names: Map<string, string>;
	/** Newest first, at most {@link LATEST_MAX}. */
	latest: LiveEvent[];
	/** Ids already folded in (a resumed stream may repeat one), bounded. */
	seen: Set<string>;
	/** The newest `createdAt` seen (ISO). */
	newest: string | null;
	/** Store and person -> when their latest presence change happened, so a late older one is ignored. */
	changed: Map<string, string>;
}

export const LATEST_MAX = 50;
const SEEN_MAX = 20_000;

export function emptyLive(): LiveState {
	return {
		inside: new Map(),
		names: new Map(),
		latest: [],
		seen: new Set(),
		newest: null,
		changed: new Map(),
	};
}

/** Folds events (oldest first, as the feed sends them) into a new state; repeats are ignored. */
export function foldEvents(prev: LiveState, events: readonly LiveEvent[]): LiveState {
	const fresh = events.filter((e) => !prev.seen.has(e.id));
	if (fresh.length === 0) return prev;
	const inside = new Map([...prev.inside].map(([k, v]) => [k, new Set(v)]));
	const names = new Map(prev.names);
	let seen = new Set(prev.seen);
	let changed = new Map(prev.changed);
	let newest = prev.newest;
	// Presence is applied in the order things happened, whatever order they arrived in.
	const ordered = [...fresh].sort((a, b) => when(a).localeCompare(when(b)));
	for (const e of ordered) {
		seen.add(e.id);
		if (newest === null || e.createdAt > newest) newest = e.createdAt;
		const fence = typeof e.data.geofenceId === "string" ? e.data.geofenceId : null;
		if (!fence) continue;
		if (typeof e.data.geofenceName === "string") names.set(fence, e.data.geofenceName);
		let people = inside.get(fence);
		if (!people) {
			people = new Set();
			inside.set(fence, people);
		}
		const inOut =
			e.type === "geofence.entered" || e.type === "geofence.dwelled" || e.type === "geofence.exited";
		if (!inOut) continue;
		const key = `${fence}\u0000${e.userId}`;
		const last = changed.get(key);
		if (last !== undefined && when(e) < last) continue;
		changed.set(key, when(e));
		if (e.type === "geofence.exited") people.delete(e.userId);
		else people.add(e.userId);
	}
	if (seen.size > SEEN_MAX) seen = new Set([...seen].slice(-SEEN_MAX / 2));
	if (changed.size > SEEN_MAX) changed = new Map([...changed].slice(-SEEN_MAX / 2));
	const latest = [...fresh, ...prev.latest]
		.sort((a, b) => b.createdAt.localeCompare(a.createdAt))
		.slice(0, LATEST_MAX);
	return { inside, names, latest, seen, newest, changed };
}

function when(e: LiveEvent): string {
	return typeof e.data.occurredAt === "string" ? e.data.occurredAt : e.createdAt;
}

/** Stores with at least one person inside, most crowded first. */
export function crowd(state: LiveState): { id: string; name: string; people: number }[] {
	return [...state.inside]
		.filter(([, p]) => p.size > 0)
		.map(([id, p]) => ({ id, name: state.names.get(id) ?? id, people: p.size }))
		.sort((a, b) => b.people - a.people || a.id.localeCompare(b.id));
}

/**
 * The state a (re)connection starts from: the snapshot's people inside, each with the time their
 * presence last changed so an older event folded next does not undo it. The latest events list
 * starts empty: the feed sends the latest events right after the snapshot.
 */
export function fromPresence(snapshot: PresenceSnapshot): LiveState {
	const s = emptyLive();
	for (const store of snapshot.stores) {
		if (store.name !== null) s.names.set(store.id, store.name);
		s.inside.set(store.id, new Set(store.people.map((p) => p.userId)));
		for (const p of store.people) s.changed.set(`${store.id}\u0000${p.userId}`, p.at);
	}
	return s;
}
