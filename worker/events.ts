/**
 * Events: storage in D1 and fan-out to the webhook outboxes.
 *
 * {@link PersonEvents} is the person's object's outbox. Events built while a request runs are
 * written to the object's storage in the same `put` as the state they come from (keys
 * `ev:<id>`, ids increasing), so an event exists if and only if its state change was saved.
 * Right after that put, still inside the person's queue, a drain copies them oldest first to
 * D1 (`INSERT OR IGNORE` by id) and to the outbox object of every webhook that wants them
 * (a quick SQLite insert there: delivery itself runs in the outbox's alarm, so no endpoint
 * ever delays a ping), then deletes them. A drain that fails leaves them stored and sets the
 * person's alarm to try again with backoff; a new instance drains what an old one left
 * behind at its first save. So every event leaves at least once, a person's in their order.
 */
import type { EventDraft } from "../src/events/build.js";
import { eventIdGenerator } from "../src/events/id.js";
import { typeSelected } from "../src/events/query.js";
import { type EventType, EventTypeSchema, type OutEvent, type StoredEvent } from "../src/events/types.js";
import { iso } from "./http.js";
import { logError } from "./log.js";
import {
	deleteEventsBefore,
	deleteUserEventsAndReadHooks,
	type EventRow,
	eventPage,
	eventsOfUser,
	insertEventsAndReadHooks,
} from "./store/events.js";

const PREFIX = "ev:";
/** Events a drain moves at once (one D1 batch, one call per outbox). */
const DRAIN_BATCH = 100;
/** Backoff of failed drains: 5 s doubling up to 10 minutes. */
const drainBackoff = (failures: number) => Math.min(600_000, 5_000 * 2 ** Math.max(0, failures - 1));

/** The outbox object of a webhook (worker/webhooks-outbox.ts), named by the webhook's id. */
export function outboxStub(env: Env, webhookId: string) {
	return env.WEBHOOK_OUTBOX.get(env.WEBHOOK_OUTBOX.idFromName(webhookId));
}

/**
 * The person's event outbox, owned by their ShopperDO: `add` while deciding, `take` inside the
 * save's `put`, `flush` right after it; `dueAt` joins the object's alarm times; the alarm
 * calls `drain`.
 */
export class PersonEvents {
	private fresh: StoredEvent[] = [];
	private readonly nextId = eventIdGenerator();
	/**
	 * Storage may hold events not yet drained. True in a new instance: an instance that died
	 * between a save and its drain left them there.
	 */
	private pending = true;
	private retryAt: number | null = null;
	private failures = 0;
	private draining: Promise<void> | null = null;
	private again = false;

	/**
	 * @param storage the person's object's storage
	 * @param env bindings (D1, the outbox namespace)
	 */
	constructor(
		private readonly storage: DurableObjectStorage,
		private readonly env: Env,
	) {}

	/** Queues events of this person; they are stored with the next save and leave after it. */
	add(tenantId: string, userId: string, drafts: readonly (EventDraft | null)[], now: number): void {
		for (const d of drafts) {
			if (!d) continue;
			this.fresh.push({
				id: this.nextId(now),
				type: d.type,
				createdAt: iso(now),
				userId,
				tenantId,
				data: d.data,
			});
		}
	}

	/** The storage entries of the queued events, to write in the save's `put`. */
	take(): Record<string, StoredEvent> {
		const out: Record<string, StoredEvent> = {};
		for (const e of this.fresh) out[PREFIX + e.id] = e;
		if (this.fresh.length > 0) this.pending = true;
		this.fresh = [];
		return out;
	}

	/** When the person's alarm must ring for the outbox: after a failed drain only. */
	dueAt(): number | null {
		return this.pending ? this.retryAt : null;
	}

	/** Drops events built but not saved (the request failed, or the person was erased). */
	reset(): void {
		this.fresh = [];
	}

	/** Waits for a drain in flight (before erasing the person, so it cannot write after the erasure). */
	async idle(): Promise<void> {
		await this.draining?.catch(() => undefined);
	}

	/** After a save: drains what is stored, when anything may be. Never throws. */
	async flush(): Promise<void> {
		if (this.pending) await this.drain();
	}

	/** Moves every stored event to D1 and the outboxes; one drain at a time. Never throws. */
	drain(): Promise<void> {
		if (this.draining) {
			this.again = true;
			return this.draining;
		}
		this.draining = (async () => {
			try {
				do {
					this.again = false;
					await this.drainStored();
				} while (this.again);
				this.pending = false;
				this.retryAt = null;
				this.failures = 0;
			} catch (e) {
				this.failures += 1;
				this.pending = true;
				this.retryAt = Date.now() + drainBackoff(this.failures);
				logError("events_drain_failed", e, { failures: this.failures });
			} finally {
				this.draining = null;
			}
		})();
		return this.draining;
	}

	private async drainStored(): Promise<void> {
		for (;;) {
			const batch = await this.storage.list<StoredEvent>({ prefix: PREFIX, limit: DRAIN_BATCH });
			const events = [...batch.values()];
			const first = events[0];
			if (!first) return;
			const hooks = await storeEvents(this.env, first.tenantId, events);
			// Each outbox gets the batch in order in one call; outboxes are independent of each other.
			await Promise.all(
				hooks.map((hook) => {
					const wanted = events.filter((e) => typeSelected(e.type, hook.events));
					return wanted.length > 0 ? outboxStub(this.env, hook.id).enqueue(wanted.map(publicEvent)) : 0;
				}),
			);
			await this.storage.delete([...batch.keys()]);
			if (batch.size < DRAIN_BATCH) return;
		}
	}
}

/** An event without its tenant, as the API shows it. */
export function publicEvent(e: StoredEvent): OutEvent {
	return { id: e.id, type: e.type, createdAt: e.createdAt, userId: e.userId, data: e.data };
}

/**
 * Inserts events (a retried batch stores nothing twice) and reads the tenant's active webhooks,
 * in one D1 round trip.
 */
async function storeEvents(
	env: Env,
	tenantId: string,
	events: readonly StoredEvent[],
): Promise<{ id: string; events: EventType[] }[]> {
	const rows = await insertEventsAndReadHooks(env.DB, tenantId, events);
	return rows.map((r) => ({ id: r.id, events: parseTypes(r.events) }));
}

/** A stored JSON list of event types (unknown names dropped). */
export function parseTypes(json: string): EventType[] {
	const raw: unknown = JSON.parse(json);
	if (!Array.isArray(raw)) return [];
	return raw.flatMap((t) => {
		const r = EventTypeSchema.safeParse(t);
		return r.success ? [r.data] : [];
	});
}

function rowToEvent(r: EventRow): OutEvent {
	return {
		id: r.id,
		type: EventTypeSchema.parse(r.type),
		createdAt: r.created_at,
		userId: r.user_id,
		data: JSON.parse(r.data) as OutEvent["data"],
	};
}

/** One page of a tenant's events in D1 order (oldest first), after `afterSeq`. */
export async function listEvents(
	env: Env,
	tenantId: string,
	q: {
		afterSeq: number;
		since?: number | undefined;
		types?: readonly EventType[] | undefined;
		limit: number;
	},
): Promise<{ events: OutEvent[]; lastSeq: number | null }> {
	const results = await eventPage(env.DB, tenantId, {
		afterSeq: q.afterSeq,
		sinceIso: q.since !== undefined ? iso(q.since) : undefined,
		types: q.types,
		limit: q.limit,
	});
	return { events: results.map(rowToEvent), lastSeq: results.at(-1)?.seq ?? null };
}

/** Every event about one person, oldest first, for GET /v1/users/{userId}/export. */
export async function userEvents(env: Env, tenantId: string, userId: string): Promise<OutEvent[]> {
	return (await eventsOfUser(env.DB, tenantId, userId)).map(rowToEvent);
}

/**
 * Erasure: the person's events in D1 and their deliveries waiting in every webhook outbox of
 * the tenant (a disabled webhook's too: its log names them).
 */
export async function eraseUserEvents(env: Env, tenantId: string, userId: string): Promise<void> {
	for (const hook of await deleteUserEventsAndReadHooks(env.DB, tenantId, userId))
		await outboxStub(env, hook).forgetUser(userId);
}

/** Retention: a tenant's events older than `cutoffMs`, in bounded batches; the number deleted. */
export async function deleteEventsOlderThan(env: Env, tenantId: string, cutoffMs: number): Promise<number> {
	let deleted = 0;
	for (;;) {
		const n = await deleteEventsBefore(env.DB, tenantId, iso(cutoffMs), 1000);
		deleted += n;
		if (n < 1000) return deleted;
	}
}
