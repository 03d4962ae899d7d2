/**
 * The `events` table (migration 0008): written by the person's drain (worker/events.ts), paged by
 * GET /v1/events, exported and erased with a person, swept by retention. The live feed's reads are
 * in worker/store/live.ts. Webhook ids come along where a write needs them in the same round trip.
 */

/** An event as stored (data as JSON text). */
export interface EventRow {
	seq: number;
	id: string;
	type: string;
	user_id: string;
	created_at: string;
	data: string;
}

/** An event to insert. */
export interface NewEvent {
	id: string;
	userId: string;
	type: string;
	createdAt: string;
	data: unknown;
}

/**
 * Inserts events (a retried batch stores nothing twice: ids are unique) and reads the tenant's
 * active webhooks with the event types each takes, in one batch (one D1 round trip).
 */
export async function insertEventsAndReadHooks(
	db: D1Database,
	tenantId: string,
	events: readonly NewEvent[],
): Promise<{ id: string; events: string }[]> {
	const inserts = events.map((e) =>
		db
			.prepare(
				"INSERT OR IGNORE INTO events (id, tenant_id, user_id, type, created_at, data) VALUES (?, ?, ?, ?, ?, ?)",
			)
			.bind(e.id, tenantId, e.userId, e.type, e.createdAt, JSON.stringify(e.data)),
	);
	const hooks = db
		.prepare("SELECT id, events FROM webhooks WHERE tenant_id = ? AND disabled_at IS NULL ORDER BY id")
		.bind(tenantId);
	const results = await db.batch([...inserts, hooks]);
	return (results.at(-1)?.results ?? []) as { id: string; events: string }[];
}

/** One page of a tenant's events in D1 order (oldest first) after `afterSeq`, optionally filtered. */
export async function eventPage(
	db: D1Database,
	tenantId: string,
	q: {
		afterSeq: number;
		sinceIso?: string | undefined;
		types?: readonly string[] | undefined;
		limit: number;
	},
): Promise<EventRow[]> {
	const where = ["tenant_id = ?", "seq > ?"];
	const args: (string | number)[] = [tenantId, q.afterSeq];
	if (q.sinceIso !== undefined) {
		where.push("created_at >= ?");
		args.push(q.sinceIso);
	}
	if (q.types && q.types.length > 0) {
		where.push(`type IN (${q.types.map(() => "?").join(", ")})`);
		args.push(...q.types);
	}
	const { results } = await db
		.prepare(
			`SELECT seq, id, type, user_id, created_at, data FROM events WHERE ${where.join(" AND ")} ORDER BY seq LIMIT ?`,
		)
		.bind(...args, q.limit)
		.all<EventRow>();
	return results;
}

/** Every event about one person, oldest first. */
export async function eventsOfUser(db: D1Database, tenantId: string, userId: string): Promise<EventRow[]> {
	const { results } = await db
		.prepare(
			"SELECT seq, id, type, user_id, created_at, data FROM events WHERE tenant_id = ? AND user_id = ? ORDER BY seq",
		)
		.bind(tenantId, userId)
		.all<EventRow>();
	return results;
}

/** Deletes a person's events and returns the ids of every webhook of the tenant (disabled ones too), in one batch. */
export async function deleteUserEventsAndReadHooks(
	db: D1Database,
	tenantId: string,
	userId: string,
): Promise<string[]> {
	const [, hooks] = await db.batch([
		db.prepare("DELETE FROM events WHERE tenant_id = ? AND user_id = ?").bind(tenantId, userId),
		db.prepare("SELECT id FROM webhooks WHERE tenant_id = ?").bind(tenantId),
	]);
	return ((hooks?.results ?? []) as { id: string }[]).map((h) => h.id);
}

/** Deletes up to `batch` of a tenant's events created before `cutoffIso`; how many went. */
export async function deleteEventsBefore(
	db: D1Database,
	tenantId: string,
	cutoffIso: string,
	batch: number,
): Promise<number> {
	const r = await db
		.prepare(
			"DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE tenant_id = ? AND created_at < ? LIMIT ?)",
		)
		.bind(tenantId, cutoffIso, batch)
		.run();
	return r.meta.changes ?? 0;
}
