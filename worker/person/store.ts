/**
 * The person's state in their Durable Object's storage: one key per part of the state (in the
 * format src/person/state.ts describes), the neighbourhood under its own key, the events
 * outbox written in the same put, and the alarm. A save writes only the keys whose value
 * changed since they were read or written (SQLite-backed storage bills each key written as a
 * row), so a ping does not rewrite the cart.
 */
import {
	fingerprint,
	type PersonState,
	readState,
	STATE_KEYS,
	type StateKey,
	storedValue,
} from "../../src/person/state.js";
import type { PersonEvents } from "../events.js";
import { HOOD_KEY, type PersonNeighbourhood } from "./neighbourhood.js";

export class PersonStore {
	/** What storage holds, by key, as JSON, since the last load or save. */
	private stored = new Map<StateKey, string>();
	/** When the alarm is set to ring, as far as this instance knows (undefined: not read yet). */
	private alarmAt: number | null | undefined = undefined;

	/**
	 * @param storageOf the object's storage, read at each use (tests swap the object's `ctx`
	 *   for one whose storage counts writes)
	 */
	constructor(
		private readonly storageOf: () => DurableObjectStorage,
		private readonly hood: PersonNeighbourhood,
		private readonly events: PersonEvents,
	) {}

	/** Forgets what it knew of storage (the next load reads it again). */
	reset(): void {
		this.stored.clear();
		this.alarmAt = undefined;
	}

	/** The alarm that rang is no longer set (unless the handler sets it again). */
	alarmRang(): void {
		this.alarmAt = null;
	}

	/** Reads the state and the neighbourhood. */
	async load(): Promise<PersonState> {
		const m = await this.storageOf().get<unknown>([...STATE_KEYS, HOOD_KEY]);
		this.hood.read(m.get(HOOD_KEY));
		// Our own storage, written only by save() below.
		const state = readState((k) => m.get(k));
		this.stored.clear();
		for (const k of STATE_KEYS) this.stored.set(k, fingerprint(state, k));
		return state;
	}

	/**
	 * Writes the given keys that changed, a refreshed neighbourhood and the queued events in one
	 * call, drains the events, then sets the alarm when its time changed.
	 *
	 * @param wakeAt the core's next dwell or delivery retry (src/person/step.ts wakeAt)
	 */
	async save(s: PersonState, keys: Iterable<StateKey>, wakeAt: number | null): Promise<void> {
		const storage = this.storageOf();
		const changed: Record<string, unknown> = {};
		const json = new Map<StateKey, string>();
		for (const k of keys) {
			const j = fingerprint(s, k);
			if (this.stored.get(k) === j) continue;
			changed[k] = storedValue(s, k);
			json.set(k, j);
		}
		const hood = this.hood.take();
		if (hood && hood !== "delete") changed[HOOD_KEY] = hood;
		Object.assign(changed, this.events.take());
		if (Object.keys(changed).length > 0) await storage.put(changed);
		await this.events.flush();
		if (hood === "delete") await storage.delete(HOOD_KEY);
		for (const [k, j] of json) this.stored.set(k, j);
		// One alarm serves dwell, delivery retries and a failed events drain: the earliest wins.
		const times = [wakeAt, this.events.dueAt()].filter((t) => t !== null);
		const at = times.length === 0 ? null : Math.min(...times);
		if (this.alarmAt === undefined) this.alarmAt = await storage.getAlarm();
		if (at === this.alarmAt) return;
		if (at === null) await storage.deleteAlarm();
		else await storage.setAlarm(at);
		this.alarmAt = at;
	}
}
