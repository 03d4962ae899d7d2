/**
 * `events tail` (follows GET /v1/events like `tail -f`) and `webhooks add|list|deliveries|remove`.
 *
 * Tail polls with the cursor. The API gives a `nextCursor` only after a full page (null on the
 * last one), so the tail keeps the last cursor it was given and, on each poll, reads the partial
 * page after it again, printing only the events it has not printed yet (by id): every event once,
 * in the order the service stored them.
 */
import { writeFileSync } from "node:fs";
import { EVENT_TYPES } from "../../src/events/types.js";
import { CliError } from "../api.js";
import { maskKey } from "../config.js";
import type { Ctx } from "../context.js";
import { table } from "../table.js";

export interface EventRecord {
	id: string;
	type: string;
	createdAt: string;
	userId: string;
	data: Record<string, unknown>;
}

/** `30s`, `10m`, `2h`, `7d` before now, an ISO 8601 time, or epoch milliseconds; as ISO 8601. */
export function parseSince(value: string, now = Date.now()): string {
	const rel = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/i.exec(value.trim());
	if (rel) {
		const unit = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[
			(rel[2] ?? "s").toLowerCase() as "s" | "m" | "h" | "d"
		];
		return new Date(now - Number(rel[1]) * unit).toISOString();
	}
	if (/^\d+$/.test(value)) return new Date(Number(value)).toISOString();
	const t = Date.parse(value);
	if (!Number.isFinite(t))
		throw new CliError(`--since ${value}: expected 10m, 2h, 7d, an ISO 8601 time or epoch milliseconds`);
	return new Date(t).toISOString();
}

/** One event a line: time, type, person, then its data as key=value. */
export function formatEvent(e: EventRecord): string {
	const data = Object.entries(e.data ?? {})
		.map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
		.join(" ");
	return `${e.createdAt}  ${e.type.padEnd(17)} ${e.userId}  ${data}`.trimEnd();
}

export interface TailOptions {
	since?: string;
	types?: string;
	follow: boolean;
	interval: number;
	count?: number;
	json?: boolean;
}

const sleep = (ms: number, signal: AbortSignal) =>
	new Promise<void>((resolve) => {
		const t = setTimeout(resolve, ms);
		signal.addEventListener("abort", () => {
			clearTimeout(t);
			resolve();
		});
	});

/** `events tail`: resolves with how many events were printed. */
export async function tailCommand(
	ctx: Ctx,
	opts: TailOptions,
	signal = new AbortController().signal,
): Promise<number> {
	const since = parseSince(opts.since ?? "0s");
	if (opts.types)
		for (const t of opts.types.split(",")) {
			const family = t.endsWith(".*") ? t.slice(0, -1) : null;
			if (
				!(EVENT_TYPES as readonly string[]).includes(t) &&
				!(family && EVENT_TYPES.some((x) => x.startsWith(family)))
			)
				throw new CliError(
					`--types: unknown event type ${t} (one of ${EVENT_TYPES.join(", ")}, or a family like offer.*)`,
				);
		}
	const client = ctx.client();
	const limit = 1000;
	let cursor: string | undefined;
	// Ids printed since `cursor`: the partial page after it is read again at each poll.
	let printed = new Set<string>();
	let total = 0;
	const stopping = new AbortController();
	const stop = () => stopping.abort();
	signal.addEventListener("abort", stop);
	process.once("SIGINT", stop);
	try {
		if (!ctx.quiet && opts.follow) ctx.err(`following events since ${since} (Ctrl-C to stop)`);
		while (!stopping.signal.aborted) {
			const page = await client.get<{ events: EventRecord[]; nextCursor: string | null }>("/v1/events", {
				query: { since, types: opts.types, limit, cursor },
			});
			for (const e of page.events) {
				if (printed.has(e.id)) continue;
				printed.add(e.id);
				ctx.out(opts.json ? JSON.stringify(e) : formatEvent(e));
				total++;
				if (opts.count !== undefined && total >= opts.count) return total;
			}
			if (page.nextCursor) {
				cursor = page.nextCursor;
				printed = new Set();
				continue;
			}
			if (!opts.follow) return total;
			await sleep(opts.interval * 1000, stopping.signal);
		}
		return total;
	} finally {
		process.removeListener("SIGINT", stop);
		signal.removeEventListener("abort", stop);
	}
}

// ---------------------------------------------------------------------------
// Webhooks

interface Webhook {
	id: string;
	url: string;
	events: string[];
	description?: string | null;
	status?: string;
	disabledReason?: string | null;
	createdAt?: string;
	secret?: string;
}

/** `webhooks add URL` */
export async function addWebhookCommand(
	ctx: Ctx,
	url: string,
	opts: { events?: string; description?: string; secretFile?: string },
): Promise<void> {
	const events = (opts.events ?? EVENT_TYPES.join(","))
		.split(",")
		.map((s) => s.trim())
		.filter(Boolean)
		.flatMap((t) => (t.endsWith(".*") ? EVENT_TYPES.filter((x) => x.startsWith(t.slice(0, -1))) : [t]));
	const created = await ctx.client().send<Webhook>("POST", "/v1/webhooks", {
		url,
		events,
		...(opts.description ? { description: opts.description } : {}),
	});
	const file = opts.secretFile ?? `webhook-${created.id}.secret`;
	if (created.secret) writeFileSync(file, `${created.secret}\n`, { mode: 0o600 });
	ctx.out(`webhook ${created.id} → ${created.url} (${created.events.join(", ")})`);
	ctx.out(
		`signing secret ${maskKey(created.secret)} written to ${file} (mode 600); it is shown only this once`,
	);
}

/** `webhooks list` */
export async function listWebhooksCommand(ctx: Ctx, opts: { json?: boolean }): Promise<void> {
	const { webhooks } = await ctx.client().get<{ webhooks: Webhook[] }>("/v1/webhooks");
	if (opts.json) return ctx.out(JSON.stringify(webhooks, null, 2));
	if (webhooks.length === 0) return ctx.out("no webhooks");
	ctx.out(
		table(
			["id", "url", "status", "events", "description"],
			webhooks.map((w) => [
				w.id,
				w.url,
				`${w.status ?? ""}${w.disabledReason ? ` (${w.disabledReason})` : ""}`,
				w.events.length === EVENT_TYPES.length ? "all" : w.events.join(","),
				w.description ?? "",
			]),
		),
	);
}

interface Delivery {
	eventId: string;
	eventType?: string;
	userId?: string;
	status: number | null;
	attempt: number;
	at?: string | null;
	outcome: string;
	nextRetryAt?: string | null;
	error?: string | null;
}

/** `webhooks deliveries ID` */
export async function deliveriesCommand(
	ctx: Ctx,
	id: string,
	opts: { limit?: number; json?: boolean },
): Promise<void> {
	const { deliveries } = await ctx
		.client()
		.get<{ deliveries: Delivery[] }>(`/v1/webhooks/${encodeURIComponent(id)}/deliveries`, {
			query: { limit: opts.limit },
		});
	if (opts.json) return ctx.out(JSON.stringify(deliveries, null, 2));
	if (deliveries.length === 0) return ctx.out("no deliveries yet");
	ctx.out(
		table(
			["at", "event", "type", "user", "attempt", "status", "outcome", "next retry", "error"],
			deliveries.map((d) => [
				d.at ?? "",
				d.eventId,
				d.eventType ?? "",
				d.userId ?? "",
				d.attempt,
				d.status === null ? "-" : String(d.status),
				d.outcome,
				d.nextRetryAt ?? "",
				d.error ?? "",
			]),
		),
	);
}

/** `webhooks remove ID` */
export async function removeWebhookCommand(ctx: Ctx, id: string): Promise<void> {
	await ctx.client().request("DELETE", `/v1/webhooks/${encodeURIComponent(id)}`);
	ctx.out(`webhook ${id} removed`);
}

/** `webhooks replay ID --since` */
export async function replayWebhookCommand(ctx: Ctx, id: string, since: string): Promise<void> {
	const answer = await ctx
		.client()
		.send<{ since: string }>("POST", `/v1/webhooks/${encodeURIComponent(id)}/replay`, {
			since: parseSince(since),
		});
	ctx.out(`webhook ${id}: events since ${answer.since} will be delivered again`);
}
