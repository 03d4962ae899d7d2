import { z } from "zod";
import { AppError } from "../../src/errors.js";
import { checkWebhookTarget } from "../../src/events/target.js";
import { CreateWebhookSchema, MAX_WEBHOOKS_PER_TENANT, ReplaySchema } from "../../src/events/webhook.js";
import { PageLimit } from "../../src/schemas/common.js";
import { isLocalDev } from "../config.js";
import { randomToken, sealSecret } from "../crypto.js";
import { outboxStub, parseTypes } from "../events.js";
import { body, iso, json, parse, readJson } from "../http.js";
import type { AppRouter } from "../router.js";
import { requireKey } from "../tenants.js";

const WebhookId = z.string().regex(/^wh_[A-Za-z0-9_-]{1,64}$/, "not a webhook id");

interface WebhookRow {
	id: string;
	url: string;
	events: string;
	description: string | null;
	created_at: string;
	disabled_at: string | null;
	disabled_reason: string | null;
}

function view(r: WebhookRow) {
	return {
		id: r.id,
		url: r.url,
		events: parseTypes(r.events),
		description: r.description,
		createdAt: r.created_at,
		status: r.disabled_at === null ? ("active" as const) : ("disabled" as const),
		disabledAt: r.disabled_at,
		disabledReason: r.disabled_reason,
	};
}

const COLUMNS = "id, url, events, description, created_at, disabled_at, disabled_reason";

/** The tenant's webhook, or 404 (another tenant's webhook is just as unknown). */
async function ownWebhook(env: Env, tenantId: string, rawId: string | undefined): Promise<WebhookRow> {
	const id = WebhookId.safeParse(rawId);
	const row = id.success
		? await env.DB.prepare(`SELECT ${COLUMNS} FROM webhooks WHERE id = ? AND tenant_id = ?`)
				.bind(id.data, tenantId)
				.first<WebhookRow>()
		: null;
	if (!row) throw new AppError("not_found", 404, "No webhook with this id.");
	return row;
}

/**
 * Outgoing webhooks (secret key): create (the signing secret shown once), list, read, delete,
 * the deliveries log, and replays. Delivery itself is the outbox object's (worker/webhooks-outbox.ts).
 */
export function webhookRoutes(router: AppRouter): void {
	router.post("/v1/webhooks", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const input = await body(req, CreateWebhookSchema, 8 * 1024);
		const target = checkWebhookTarget(input.url, { localDev: isLocalDev(env) });
		if (!target.ok)
			throw new AppError("validation_failed", 422, "The webhook URL is not allowed.", [
				{ path: ["url"], message: "not an allowed webhook target", code: target.code },
			]);
		const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM webhooks WHERE tenant_id = ?")
			.bind(tenant.id)
			.first<{ n: number }>();
		if ((count?.n ?? 0) >= MAX_WEBHOOKS_PER_TENANT)
			throw new AppError("too_many_webhooks", 409, `At most ${MAX_WEBHOOKS_PER_TENANT} webhooks per tenant.`);
		const id = randomToken("wh_", 12);
		const secret = randomToken("whsec_");
		const sealed = await sealSecret(env.KEY_PEPPER, secret);
		const now = iso(Date.now());
		// The outbox first: once the row exists, drains fan out to it.
		await outboxStub(env, id).configure({
			webhookId: id,
			tenantId: tenant.id,
			url: target.url,
			events: input.events,
			sealedSecret: sealed,
		});
		await env.DB.prepare(
			`INSERT INTO webhooks (id, tenant_id, url, events, description, secret_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		)
			.bind(id, tenant.id, target.url, JSON.stringify(input.events), input.description ?? null, sealed, now)
			.run();
		const row: WebhookRow = {
			id,
			url: target.url,
			events: JSON.stringify(input.events),
			description: input.description ?? null,
			created_at: now,
			disabled_at: null,
			disabled_reason: null,
		};
		return json({ ...view(row), secret }, 201, { "cache-control": "no-store" });
	});

	router.get("/v1/webhooks", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const { results } = await env.DB.prepare(
			`SELECT ${COLUMNS} FROM webhooks WHERE tenant_id = ? ORDER BY created_at, id`,
		)
			.bind(tenant.id)
			.all<WebhookRow>();
		return json({ webhooks: results.map(view) });
	});

	router.get("/v1/webhooks/:id", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		return json(view(await ownWebhook(env, tenant.id, req.params.id)));
	});

	router.delete("/v1/webhooks/:id", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const row = await ownWebhook(env, tenant.id, req.params.id);
		// The row first: drains stop fanning out to it, then the outbox forgets everything.
		await env.DB.prepare("DELETE FROM webhooks WHERE id = ? AND tenant_id = ?").bind(row.id, tenant.id).run();
		await outboxStub(env, row.id).destroy();
		return new Response(null, { status: 204 });
	});

	router.get("/v1/webhooks/:id/deliveries", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const row = await ownWebhook(env, tenant.id, req.params.id);
		const limit = parse(PageLimit, new URL(req.url).searchParams.get("limit") ?? "100");
		return json({ deliveries: await outboxStub(env, row.id).deliveries(limit) }, 200, {
			"cache-control": "no-store",
		});
	});

	router.post("/v1/webhooks/:id/replay", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const row = await ownWebhook(env, tenant.id, req.params.id);
		const { since } = parse(ReplaySchema, await readJson(req, 1024));
		if (row.disabled_at !== null)
			throw new AppError("webhook_disabled", 409, "This webhook is disabled: create a new one.");
		await outboxStub(env, row.id).replay(since);
		return json({ id: row.id, since: iso(since) }, 202);
	});
}
