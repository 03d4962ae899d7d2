import { z } from "zod";
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
import { endpoint } from "../api.js";
import { audienceTestRoutes } from "../audience.js";
import { randomToken } from "../crypto.js";
import { iso, json, parse } from "../http.js";
import type { ApiRouter } from "../router.js";
import {
	campaignById,
	deleteCampaign,
	insertCampaign,
	listCampaigns,
	updateCampaign,
} from "../store/campaigns.js";
import { bumpCampaignVersion } from "../store/tenants.js";
import { forgetCachedTenants, requireKey } from "../tenants.js";

/** The campaign as the API shows it: instants as ISO 8601. */
const CampaignView = z
	.object({
		...StoredCampaignSchema.shape,
		startsAt: z.string().nullable().meta({ format: "date-time" }),
		endsAt: z.string().nullable().meta({ format: "date-time" }),
	})
	.meta({ description: "a campaign (instants as ISO 8601)" });

const CampaignParams = z.object({
	id: ExternalId.meta({ description: "the campaign's id", example: "beer-promo" }),
});

const EXAMPLE: z.input<typeof CreateCampaignSchema> = {
	id: "beer-promo",
	name: "Beer at the door",
	trigger: { type: "geofence", on: "enter", tags: ["paris"] },
	variants: [
		{
			id: "a",
			title: "Cold beer inside",
			body: "2 for 1 today, at the store you just walked into",
			url: "https://shop.example/beer",
		},
	],
	holdoutPercent: 10,
};

/** Campaign CRUD (secret key). Stored whole as JSON; status, priority and trigger type are columns for lookups. */
export function campaignRoutes(api: ApiRouter): void {
	api.post(
		"/v1/campaigns",
		endpoint(
			{
				operationId: "createCampaign",
				summary: "Create a campaign",
				description:
					"Every variant's push must fit the Web Push payload limit in every language, with the longest values.",
				tags: ["campaigns"],
				auth: "secret",
				body: { schema: CreateCampaignSchema, maxBytes: 64 * 1024, example: EXAMPLE },
				responses: {
					201: {
						description: "the campaign",
						schema: CampaignView,
						headers: { Location: { description: "the campaign's URL", schema: { type: "string" } } },
					},
				},
				problems: [409, 429],
			},
			async ({ req, env, body }) => {
				const tenant = await requireKey(req, env, "secret");
				const input = await body();
				const campaign: Campaign = { ...input, id: input.id ?? randomToken("cmp_", 9) };
				checkPayloadSizes(campaign);
				if (!(await insertCampaign(env.DB, tenant.id, campaign, iso(Date.now()))))
					throw new AppError("conflict", 409, "A campaign with this id exists; PATCH it instead.");
				await bumpVersion(env, tenant.id);
				return json(campaignOut(campaign), 201, {
					location: `/v1/campaigns/${encodeURIComponent(campaign.id)}`,
				});
			},
		),
	);

	api.get(
		"/v1/campaigns",
		endpoint(
			{
				operationId: "listCampaigns",
				summary: "List campaigns (by id, at most 1,000)",
				tags: ["campaigns"],
				auth: "secret",
				responses: {
					200: { description: "the campaigns", schema: z.object({ campaigns: z.array(CampaignView) }) },
				},
				problems: [429],
			},
			async ({ req, env }) => {
				const tenant = await requireKey(req, env, "secret");
				return json({ campaigns: (await listCampaigns(env.DB, tenant.id)).map(campaignOut) });
			},
		),
	);

	api.get(
		"/v1/campaigns/:id",
		endpoint(
			{
				operationId: "getCampaign",
				summary: "One campaign",
				tags: ["campaigns"],
				auth: "secret",
				params: CampaignParams,
				responses: { 200: { description: "the campaign", schema: CampaignView } },
				problems: [404, 429],
			},
			async ({ req, env, params }) => {
				const tenant = await requireKey(req, env, "secret");
				return json(campaignOut(await load(env, tenant.id, params().id)));
			},
		),
	);

	api.patch(
		"/v1/campaigns/:id",
		endpoint(
			{
				operationId: "patchCampaign",
				summary: "Change a campaign (top-level fields given replace the stored ones)",
				tags: ["campaigns"],
				auth: "secret",
				params: CampaignParams,
				body: {
					schema: PatchCampaignSchema,
					maxBytes: 64 * 1024,
					example: { status: "paused", priority: 5 },
				},
				responses: { 200: { description: "the campaign", schema: CampaignView } },
				problems: [404, 429],
			},
			async ({ req, env, params, body }) => {
				const tenant = await requireKey(req, env, "secret");
				const { id } = params();
				const patch = await body();
				const current = await load(env, tenant.id, id);
				// Re-validate the merged whole, so cross-field rules (startsAt < endsAt) still hold.
				const merged: Campaign = {
					...parse(CreateCampaignSchema, { ...campaignOut(current), ...definedOnly(patch), id }),
					id,
				};
				checkPayloadSizes(merged);
				await updateCampaign(env.DB, tenant.id, merged, iso(Date.now()));
				await bumpVersion(env, tenant.id);
				return json(campaignOut(merged));
			},
		),
	);

	api.delete(
		"/v1/campaigns/:id",
		endpoint(
			{
				operationId: "deleteCampaign",
				summary: "Delete a campaign",
				tags: ["campaigns"],
				auth: "secret",
				params: CampaignParams,
				responses: { 204: { description: "deleted" } },
				problems: [404, 429],
			},
			async ({ req, env, params }) => {
				const tenant = await requireKey(req, env, "secret");
				const { id } = params();
				if (!(await deleteCampaign(env.DB, tenant.id, id)))
					throw new AppError("not_found", 404, "No campaign with this id.");
				await bumpVersion(env, tenant.id);
				return new Response(null, { status: 204 });
			},
		),
	);

	// worker/audience.ts (not declared with `endpoint` yet: documented in src/schemas/openapi.ts).
	audienceTestRoutes(api);
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
	await bumpCampaignVersion(env.DB, tenantId);
}

async function load(env: Env, tenantId: string, id: string): Promise<Campaign> {
	const c = await campaignById(env.DB, tenantId, id);
	if (!c) throw new AppError("not_found", 404, "No campaign with this id.");
	return c;
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
