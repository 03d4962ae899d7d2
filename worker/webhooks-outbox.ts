import { DurableObject } from "cloudflare:workers";
import { nextAttemptAt, verdictOf } from "../src/events/retry.js";
import { checkWebhookTarget } from "../src/events/target.js";
import type { EventType, OutEvent } from "../src/events/types.js";
import { type Delivery, deliveryHeaders } from "../src/events/webhook.js";
import { isLocalDev } from "./config.js";
import { openSecret } from "./crypto.js";
import { listEvents, parseTypes } from "./events.js";
import { iso } from "./http.js";
import { logError } from "./log.js";
import { disableWebhook } from "./store/webhooks.js";

/** What the outbox needs to deliver: the endpoint, its sealed secret, its filter. */
export interface OutboxConfig {
	webhookId: string;
	tenantId: string;
	url: string;
	events: EventType[];
	sealedSecret: string;
}

/** Deliveries tried at once (one per person: a person's events go one after the other). */
const PARALLEL = 16;
/** A delivery that takes longer is abandoned and retried. */
const TIMEOUT_MS = 10_000;
/** One alarm run delivers for at most this long, then sets the alarm again. */
const RUN_MS = 20_000;
/** Attempts kept for GET /v1/webhooks/{id}/deliveries. */
const LOG_MAX = 500;
/** Event ids delivered recently: a drain retried after a crash does not send them again. */
const SEEN_MS = 3_600_000;
/** Events a replay moves from D1 into the outbox per alarm run. */
const REPLAY_PAGE = 200;

interface OutboxRow {
	seq: number;
	event_id: string;
	user_id: string;
	type: string;
	body: string;
	attempt: number;
	first_at: number | null;
	next_at: number;
	last_status: number | null;
	last_error: string | null;
	[k: string]: SqlStorageValue;
}

/**
 * WebhookOutboxDO: the deliveries of one webhook endpoint (named by the webhook's id).
 *
 * Responsibilities:
 * - keeps the endpoint's events in arrival order (SQLite), each person's in their order;
 * - delivers them signed, one at a time per person and up to {@link PARALLEL} people at once,
 *   from its alarm, so a slow or failing endpoint delays nothing but itself;
 * - retries with backoff and jitter for 24 h (src/events/retry.ts); a 410 disables the webhook;
 * - keeps the recent attempts for the deliveries log, and replays events from D1 on request.
 *
 * The person's object enqueues here after its state is saved; an event enqueued twice (a drain
 * retried) is stored once while pending and skipped for an hour after delivery.
 */
export class WebhookOutboxDO extends DurableObject<Env> {
	private readonly sql: SqlStorage;
	private secret: { sealed: string; plain: string } | null = null;
	private pumping: Promise<void> | null = null;
	private pumpAgain = false;
	/** Resolves the promise a delivery run waits on when new events arrive. */
	private nudge: (() => void) | null = null;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		this.init();
	}

	/** The tables (again after {@link destroy}, so a late call finds an empty, unconfigured outbox). */
	private init(): void {
		this.sql.exec(`
			CREATE TABLE IF NOT EXISTS config (k INTEGER PRIMARY KEY CHECK (k = 1), webhook_id TEXT NOT NULL,
				tenant_id TEXT NOT NULL, url TEXT NOT NULL, events TEXT NOT NULL, sealed TEXT NOT NULL,
				disabled_at INTEGER, replay_since INTEGER, replay_after INTEGER);
			CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
				user_id TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
				first_at INTEGER, next_at INTEGER NOT NULL, last_status INTEGER, last_error TEXT);
			CREATE INDEX IF NOT EXISTS outbox_by_user ON outbox (user_id, seq);
			CREATE TABLE IF NOT EXISTS attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
				type TEXT NOT NULL, user_id TEXT NOT NULL, status INTEGER, attempt INTEGER NOT NULL, at INTEGER NOT NULL,
				outcome TEXT NOT NULL, next_at INTEGER, error TEXT);
			CREATE INDEX IF NOT EXISTS attempts_by_user ON attempts (user_id);
			CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
		`);
	}

	private config():
		| (OutboxConfig & { disabled: boolean; replaySince: number | null; replayAfter: number })
		| null {
		const r = this.sql
			.exec<{
				webhook_id: string;
				tenant_id: string;
				url: string;
				events: string;
				sealed: string;
				disabled_at: number | null;
				replay_since: number | null;
				replay_after: number | null;
			}>("SELECT * FROM config WHERE k = 1")
			.toArray()[0];
		if (!r) return null;
		return {
			webhookId: r.webhook_id,
			tenantId: r.tenant_id,
			url: r.url,
			events: parseTypes(r.events),
			sealedSecret: r.sealed,
			disabled: r.disabled_at !== null,
			replaySince: r.replay_since,
			replayAfter: r.replay_after ?? 0,
		};
	}

	/** Sets up the outbox when its webhook is created. */
	async configure(c: OutboxConfig): Promise<void> {
		this.sql.exec(
			`INSERT OR REPLACE INTO config (k, webhook_id, tenant_id, url, events, sealed) VALUES (1, ?, ?, ?, ?, ?)`,
			c.webhookId,
			c.tenantId,
			c.url,
			JSON.stringify(c.events),
			c.sealedSecret,
		);
	}

	/**
	 * Takes events to deliver, in the order given (a person's order); the number accepted. An
	 * event already waiting or delivered within the hour is skipped; nothing is accepted once
	 * the webhook is disabled or deleted.
	 */
	async enqueue(events: OutEvent[], replay = false): Promise<number> {
		const c = this.config();
		if (!c || c.disabled) return 0;
		const now = Date.now();
		let accepted = 0;
		for (const e of events) {
			if (!c.events.includes(e.type)) continue;
			if (!replay && this.sql.exec("SELECT 1 FROM seen WHERE event_id = ?", e.id).toArray().length > 0)
				continue;
			const r = this.sql.exec(
				`INSERT OR IGNORE INTO outbox (event_id, user_id, type, body, next_at) VALUES (?, ?, ?, ?, ?)`,
				e.id,
				e.userId,
				e.type,
				JSON.stringify(e),
				now,
			);
			accepted += r.rowsWritten > 0 ? 1 : 0;
		}
		if (accepted > 0) {
			await this.wake(now);
			this.nudge?.();
			// The alarm set with the event retries the run.
			this.pump().catch((e) => logError("webhooks_delivery_run_failed", e));
		}
		return accepted;
	}

	/** Rings the alarm now unless it already rings sooner. */
	private async wake(at: number): Promise<void> {
		const cur = await this.ctx.storage.getAlarm();
		if (cur === null || cur > at) await this.ctx.storage.setAlarm(at);
	}

	/** POST /v1/webhooks/{id}/replay: the webhook's events since `sinceMs` are delivered again, read from D1 page by page. */
	async replay(sinceMs: number): Promise<boolean> {
		const c = this.config();
		if (!c || c.disabled) return false;
		this.sql.exec("UPDATE config SET replay_since = ?, replay_after = 0 WHERE k = 1", sinceMs);
		await this.wake(Date.now());
		return true;
	}

	/** Erasure of one person: their waiting events and their attempts are forgotten. */
	async forgetUser(userId: string): Promise<void> {
		this.sql.exec("DELETE FROM outbox WHERE user_id = ?", userId);
		this.sql.exec("DELETE FROM attempts WHERE user_id = ?", userId);
	}

	/** The webhook was deleted: nothing is kept. */
	async destroy(): Promise<void> {
		await this.ctx.storage.deleteAlarm();
		await this.ctx.storage.deleteAll();
		this.init();
	}

	/** GET /v1/webhooks/{id}/deliveries: events waiting for their first attempt, then attempts, newest first. */
	async deliveries(limit: number): Promise<Delivery[]> {
		const waiting = this.sql
			.exec<OutboxRow>("SELECT * FROM outbox WHERE attempt = 0 ORDER BY seq LIMIT ?", limit)
			.toArray()
			.map(
				(r): Delivery => ({
					eventId: r.event_id,
					eventType: r.type as EventType,
					userId: r.user_id,
					status: null,
					attempt: 0,
					at: null,
					outcome: "pending",
					nextRetryAt: iso(r.next_at),
					error: null,
				}),
			);
		const tried = this.sql
			.exec<{
				event_id: string;
				type: string;
				user_id: string;
				status: number | null;
				attempt: number;
				at: number;
				outcome: string;
				next_at: number | null;
				error: string | null;
			}>("SELECT * FROM attempts ORDER BY id DESC LIMIT ?", limit)
			.toArray()
			.map(
				(r): Delivery => ({
					eventId: r.event_id,
					eventType: r.type as EventType,
					userId: r.user_id,
					status: r.status,
					attempt: r.attempt,
					at: iso(r.at),
					outcome: r.outcome as Delivery["outcome"],
					nextRetryAt: r.next_at === null ? null : iso(r.next_at),
					error: r.error,
				}),
			);
		return [...waiting, ...tried].slice(0, limit);
	}

	/**
	 * Delivers what is due, one run at a time: a call during a run makes it go round once more.
	 * Started by `enqueue` at once (no wait for the alarm to be scheduled) and by the alarm,
	 * which stays set while anything waits, so an instance that dies mid-run loses nothing.
	 */
	private pump(): Promise<void> {
		if (this.pumping) {
			this.pumpAgain = true;
			return this.pumping;
		}
		this.pumping = (async () => {
			try {
				do {
					this.pumpAgain = false;
					await this.run();
				} while (this.pumpAgain);
			} finally {
				this.pumping = null;
			}
		})();
		return this.pumping;
	}

	/** A promise resolved by the next `enqueue` that accepts something. */
	private enqueued(): Promise<void> {
		return new Promise<void>((resolve) => {
			this.nudge = () => {
				this.nudge = null;
				resolve();
			};
		});
	}

	override async alarm(): Promise<void> {
		await this.pump();
	}

	private async run(): Promise<void> {
		const c = this.config();
		if (!c || c.disabled) return;
		const started = Date.now();
		await this.refillFromReplay(c);
		const secret = await this.secretOf(c.sealedSecret);
		// A pool of deliveries, one per person: a person whose delivery ends has their next event
		// started at once, and newly enqueued people start without waiting for a slow request.
		const inflight = new Map<string, Promise<void>>();
		let disabled = false;
		for (;;) {
			if (disabled) return;
			const free = PARALLEL - inflight.size;
			if (free > 0 && Date.now() - started <= RUN_MS) {
				const heads = this.sql
					.exec<OutboxRow>(
						`SELECT * FROM outbox WHERE seq IN (SELECT MIN(seq) FROM outbox GROUP BY user_id) AND next_at <= ?
						   AND user_id NOT IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?`,
						Date.now(),
						JSON.stringify([...inflight.keys()]),
						free,
					)
					.toArray();
				for (const h of heads) {
					const delivery = this.deliver(c, secret, h)
						.then((gone) => {
							if (gone) disabled = true;
						})
						.finally(() => inflight.delete(h.user_id));
					inflight.set(h.user_id, delivery);
				}
			}
			if (inflight.size === 0) break;
			await Promise.race([...inflight.values(), this.enqueued()]);
		}
		this.prune();
		const next = this.sql
			.exec<{ at: number | null }>(
				"SELECT MIN(next_at) AS at FROM outbox WHERE seq IN (SELECT MIN(seq) FROM outbox GROUP BY user_id)",
			)
			.one().at;
		const after = this.config();
		if (!after || after.disabled) return;
		const at = after.replaySince !== null ? Date.now() : next;
		if (at !== null) await this.ctx.storage.setAlarm(Math.max(at, Date.now()));
		else await this.ctx.storage.deleteAlarm();
	}

	/** Moves the next page of a replay from D1 into the outbox; ends the replay when D1 has no more. */
	private async refillFromReplay(c: NonNullable<ReturnType<WebhookOutboxDO["config"]>>): Promise<void> {
		if (c.replaySince === null) return;
		const page = await listEvents(this.env, c.tenantId, {
			afterSeq: c.replayAfter,
			since: c.replaySince,
			types: c.events,
			limit: REPLAY_PAGE,
		});
		await this.enqueue(page.events, true);
		if (page.lastSeq === null || page.events.length < REPLAY_PAGE)
			this.sql.exec("UPDATE config SET replay_since = NULL, replay_after = NULL WHERE k = 1");
		else this.sql.exec("UPDATE config SET replay_after = ? WHERE k = 1", page.lastSeq);
	}

	private async secretOf(sealed: string): Promise<string> {
		if (this.secret?.sealed !== sealed)
			this.secret = { sealed, plain: await openSecret(this.env.KEY_PEPPER, sealed) };
		return this.secret.plain;
	}

	/** One attempt at the head event of one person; true when the endpoint answered 410 (webhook disabled). */
	private async deliver(c: OutboxConfig, secret: string, row: OutboxRow): Promise<boolean> {
		const now = Date.now();
		const attempt = row.attempt + 1;
		let status: number | null = null;
		let error: string | null = null;
		let retryAfterMs: number | null = null;
		// Checked again at every delivery: the rules may have tightened since the webhook was made.
		const target = checkWebhookTarget(c.url, { localDev: isLocalDev(this.env) });
		if (!target.ok) error = `target refused: ${target.code}`;
		else {
			try {
				const res = await fetch(target.url, {
					method: "POST",
					headers: await deliveryHeaders(secret, row.body, row.event_id, Math.floor(now / 1000)),
					body: row.body,
					redirect: "manual",
					signal: AbortSignal.timeout(TIMEOUT_MS),
				});
				status = res.status;
				const ra = Number(res.headers.get("retry-after"));
				if (Number.isFinite(ra) && ra > 0) retryAfterMs = ra * 1000;
				if (status >= 300 && status < 400) error = "redirect not followed";
				else if (status >= 400) error = `HTTP ${status}`;
				await res.body?.cancel().catch(() => undefined);
			} catch (e) {
				error = e instanceof Error && e.name === "TimeoutError" ? "timeout" : "unreachable";
			}
		}
		// Erased, deleted or disabled while the request was out: nothing more is written about it.
		if (this.sql.exec("SELECT 1 FROM outbox WHERE seq = ?", row.seq).toArray().length === 0) return false;
		const verdict = status === null ? "retry" : verdictOf(status);
		const log = (outcome: Delivery["outcome"], nextAt: number | null) => {
			this.sql.exec(
				`INSERT INTO attempts (event_id, type, user_id, status, attempt, at, outcome, next_at, error)
				 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				row.event_id,
				row.type,
				row.user_id,
				status,
				attempt,
				now,
				outcome,
				nextAt,
				error,
			);
		};
		if (verdict === "delivered") {
			this.sql.exec("DELETE FROM outbox WHERE seq = ?", row.seq);
			this.sql.exec("INSERT OR REPLACE INTO seen (event_id, at) VALUES (?, ?)", row.event_id, now);
			log("delivered", null);
			return false;
		}
		if (verdict === "disable") {
			log("disabled", null);
			this.sql.exec("UPDATE config SET disabled_at = ?, replay_since = NULL WHERE k = 1", now);
			this.sql.exec("DELETE FROM outbox");
			await this.ctx.storage.deleteAlarm();
			await disableWebhook(this.env.DB, c.webhookId, iso(now), "endpoint answered 410 Gone");
			return true;
		}
		const nextAt = nextAttemptAt(attempt, row.first_at ?? now, now, Math.random(), retryAfterMs);
		if (nextAt === null) {
			this.sql.exec("DELETE FROM outbox WHERE seq = ?", row.seq);
			log("gave_up", null);
			return false;
		}
		this.sql.exec(
			"UPDATE outbox SET attempt = ?, first_at = ?, next_at = ?, last_status = ?, last_error = ? WHERE seq = ?",
			attempt,
			row.first_at ?? now,
			nextAt,
			status,
			error,
			row.seq,
		);
		log("retrying", nextAt);
		return false;
	}

	private prune(): void {
		this.sql.exec("DELETE FROM seen WHERE at < ?", Date.now() - SEEN_MS);
		this.sql.exec("DELETE FROM attempts WHERE id <= (SELECT MAX(id) FROM attempts) - ?", LOG_MAX);
	}
}
