import { AppError } from "../../src/errors.js";
import { worstCasePayloads } from "../../src/offers/render.js";
import { MAX_PAYLOAD_BYTES } from "../../src/push/payload.js";
import {
	type Campaign,
	CreateCampaignSchema,
	PatchCampaignSchema,
	StoredCampaignSchema,
} from "../../src/schemas/campaign.js";
import { ExternalId } from "../../src/schemas/common.js";
import { audienceTestRoutes } from "../audience.js";
import { randomToken } from "../crypto.js";
import { body, iso, json, parse } from "../http.js";
import type { AppRouter } from "../router.js";
import { forgetCachedTenants, requireKey } from "../tenants.js";

/** Campaign CRUD (secret key). Stored whole as JSON; status, priority and trigger type are columns for lookups. */
export function campaignRoutes(router: AppRouter): void {
	router.post("/v1/campaigns", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const input = await body(req, CreateCampaignSchema);
		const campaign: Campaign = { ...input, id: input.id ?? randomToken("cmp_", 9) };
		checkPayloadSizes(campaign);
		const now = iso(Date.now());
		const res = await env.DB.prepare(
			`INSERT INTO campaigns (tenant_id, id, status, priority, trigger_type, body, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) DO NOTHING`,
		)
			.bind(
				tenant.id,
				campaign.id,
				campaign.status,
				campaign.priority,
				campaign.trigger.type,
				JSON.stringify(campaign),
				now,
				now,
			)
			.run();
		if (res.meta.changes === 0)
			throw new AppError("conflict", 409, "A campaign with this id exists; PATCH it instead.");
		await bumpVersion(env, tenant.id);
		return json(campaignOut(campaign), 201, { location: `/v1/campaigns/${encodeURIComponent(campaign.id)}` });
	});

	router.get("/v1/campaigns", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const { results } = await env.DB.prepare(
			"SELECT body FROM campaigns WHERE tenant_id = ? ORDER BY id LIMIT 1000",
		)
			.bind(tenant.id)
			.all<{ body: string }>();
		return json({ campaigns: results.map((r) => campaignOut(stored(r.body))) });
	});

	router.get("/v1/campaigns/:id", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		return json(campaignOut(await load(env, tenant.id, parse(ExternalId, req.params.id))));
	});

	router.patch("/v1/campaigns/:id", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const id = parse(ExternalId, req.params.id);
		const patch = await body(req, PatchCampaignSchema);
		const current = await load(env, tenant.id, id);
		// Re-validate the merged whole, so cross-field rules (startsAt < endsAt) still hold.
		const merged: Campaign = {
			...parse(CreateCampaignSchema, { ...campaignOut(current), ...definedOnly(patch), id }),
			id,
		};
		checkPayloadSizes(merged);
		await env.DB.prepare(
			"UPDATE campaigns SET status = ?, priority = ?, trigger_type = ?, body = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
		)
			.bind(
				merged.status,
				merged.priority,
				merged.trigger.type,
				JSON.stringify(merged),
				iso(Date.now()),
				tenant.id,
				id,
			)
			.run();
		await bumpVersion(env, tenant.id);
		return json(campaignOut(merged));
	});

	router.delete("/v1/campaigns/:id", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const id = parse(ExternalId, req.params.id);
		const res = await env.DB.prepare("DELETE FROM campaigns WHERE tenant_id = ? AND id = ?")
			.bind(tenant.id, id)
			.run();
		if (res.meta.changes === 0) throw new AppError("not_found", 404, "No campaign with this id.");
		await bumpVersion(env, tenant.id);
		return new Response(null, { status: 204 });
	});

	audienceTestRoutes(router);
}

/**
 * Refuses a campaign whose pushes could exceed the Web Push payload limit for some person,
 * in any of its variants' languages.
 */
function checkPayloadSizes(c: Campaign): void {
	const errors = c.variants.flatMap((v, i) =>
		worstCasePayloads(c.id, v)
			.filter(({ bytes }) => bytes > MAX_PAYLOAD_BYTES)
			.map(({ tag, bytes }) => ({
				path: tag === null ? ["variants", i] : ["variants", i, "localized", tag],
				code: "payload_too_large",
				message: `the push could reach ${bytes} bytes (limit ${MAX_PAYLOAD_BYTES}) with the longest values; shorten texts or links`,
			})),
	);
	if (errors.length > 0)
		throw new AppError("validation_failed", 422, "A variant's push could be too large.", errors);
}

/** Tells isolates that cache compiled campaigns (cart rule indexes) to rebuild. */
async function bumpVersion(env: Env, tenantId: string): Promise<void> {
	forgetCachedTenants();
	await env.DB.prepare("UPDATE tenants SET campaign_version = campaign_version + 1 WHERE id = ?")
		.bind(tenantId)
		.run();
}

async function load(env: Env, tenantId: string, id: string): Promise<Campaign> {
	const row = await env.DB.prepare("SELECT body FROM campaigns WHERE tenant_id = ? AND id = ?")
		.bind(tenantId, id)
		.first<{ body: string }>();
	if (!row) throw new AppError("not_found", 404, "No campaign with this id.");
	return stored(row.body);
}

function stored(text: string): Campaign {
	return StoredCampaignSchema.parse(JSON.parse(text));
}

function definedOnly<T extends object>(o: T): Partial<T> {
	return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The API shape: instants as ISO 8601. */
export function campaignOut(c: Campaign): Record<string, unknown> {
	return {
		...c,
		startsAt: c.startsAt === null ? null : iso(c.startsAt),
		endsAt: c.endsAt === null ? null : iso(c.endsAt),
	};
}
