/**
 * Audiences in the Worker (issue 16): the back office's CRM attribute routes, the audience
 * test route. The person's side (CRM attributes as stored, visit counters, the data handed to the
 * pure evaluator) is in src/person/audience.ts, re-exported here.
 */

import { z } from "zod";
import {
	AttributePatchSchema,
	AudienceTestSchema,
	BulkAttributesSchema,
} from "../src/audience/attributes.js";
import type { Scalar } from "../src/audience/condition.js";
import { evaluateAudience } from "../src/audience/evaluate.js";
import { AppError } from "../src/errors.js";
import { type AttributePatchAnswer, factsOf, type PersonAudienceData } from "../src/person/audience.js";
import { ExternalId } from "../src/schemas/common.js";
import { UserId } from "../src/schemas/user.js";
import { endpoint } from "./api.js";
import { json } from "./http.js";
import type { ApiRouter } from "./router.js";
import { shopper } from "./routes/users.js";
import { campaignById } from "./store/campaigns.js";
import { requireKey } from "./tenants.js";

export {
	type AttributePatchAnswer,
	attributesInForce,
	type CrmAttributes,
	countEnters,
	factsOf,
	type PersonAudienceData,
	patchCrm,
	personAudienceData,
} from "../src/person/audience.js";

/** Fan-out to people's objects, a few at a time (each call is a subrequest). */
const CONCURRENCY = 16;

async function eachLimited<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
	const out: R[] = new Array(items.length);
	let next = 0;
	const worker = async () => {
		while (next < items.length) {
			const i = next++;
			out[i] = await fn(items[i] as T);
		}
	};
	await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
	return out;
}

/**
 * `PATCH /v1/users/{userId}/attributes` and `POST /v1/users/attributes` (secret key): the back
 * office's CRM attributes, merged (`null` removes). An erased person is not written to.
 */
export function attributeRoutes(api: ApiRouter): void {
	api.patch(
		"/v1/users/:userId/attributes",
		endpoint(
			{
				operationId: "patchUserAttributes",
				summary: "Set a person's CRM attributes (scalars; null removes)",
				description:
					"A key set here wins over the same key sent by the person's app, which can neither change nor remove it. At most 100 keys and 8 KiB of CRM attributes a person.",
				tags: ["audiences"],
				auth: "secret",
				params: z.object({ userId: UserId.meta({ description: "the person's id", example: "alice" }) }),
				body: {
					schema: AttributePatchSchema,
					maxBytes: 32 * 1024,
					example: { tier: "gold", lifetimeValue: 1250.5, newsletter: null },
				},
				responses: {
					200: {
						description: "the attributes in force (the app's, with the back office's winning)",
						schema: z.object({ userId: z.string(), attributes: z.record(z.string(), z.unknown()) }),
					},
				},
				problems: [404],
			},
			async ({ req, env, params, body }) => {
				const tenant = await requireKey(req, env, "secret");
				const { userId } = params();
				const patch = await body();
				const answer = await patchPerson(env, tenant.id, userId, patch, Date.now());
				if (answer.refused === "erased")
					throw new AppError("not_found", 404, "This user was erased; their app registers them again first.");
				if (answer.refused === "too_large") throw tooLarge([]);
				return json({ userId, attributes: answer.attributes });
			},
		),
	);

	api.post(
		"/v1/users/attributes",
		endpoint(
			{
				operationId: "syncUserAttributes",
				summary: "Bulk CRM sync: 1 to 1,000 people a call",
				description:
					"Each person is patched as with PATCH /v1/users/{userId}/attributes. A 422 names the people whose attributes would pass the limits; the others were applied, so retrying the whole call is safe.",
				tags: ["audiences"],
				auth: "secret",
				body: {
					schema: BulkAttributesSchema,
					maxBytes: 4 * 1024 * 1024,
					example: { users: [{ userId: "alice", attributes: { tier: "gold" } }] },
				},
				responses: {
					200: {
						description: "how many people were updated (erased people are skipped)",
						schema: z.object({ updated: z.number().int(), skippedErased: z.number().int().optional() }),
					},
				},
				problems: [],
			},
			async ({ req, env, body }) => {
				const tenant = await requireKey(req, env, "secret");
				const { users } = await body();
				const ids = users.map((u) => u.userId);
				if (new Set(ids).size !== ids.length)
					throw new AppError("validation_failed", 422, "A user is listed twice.", [
						{
							path: ["users", ids.findIndex((id, i) => ids.indexOf(id) !== i), "userId"],
							message: "listed twice",
							code: "duplicate",
						},
					]);
				const now = Date.now();
				const answers = await eachLimited(users, (u) =>
					patchPerson(env, tenant.id, u.userId, u.attributes, now),
				);
				const errors = answers.flatMap((a, i) =>
					a.refused === "too_large"
						? [
								{
									path: ["users", i, "attributes"],
									message: "too many or too large attributes",
									code: "too_large",
								},
							]
						: [],
				);
				const updated = answers.filter((a) => a.refused === null).length;
				const erased = answers.filter((a) => a.refused === "erased").length;
				// The others were applied: a retry of the whole call is safe (a patch is idempotent).
				if (errors.length > 0)
					throw new AppError(
						"validation_failed",
						422,
						`${errors.length} people's attributes would pass the limits; the other ${updated} were updated.`,
						errors,
					);
				return json({ updated, ...(erased > 0 ? { skippedErased: erased } : {}) });
			},
		),
	);
}

/*
 * The person's object is ours and answers plain JSON, but the RPC stub's generated types cannot
 * express `unknown` attribute values (they come out as never): these two name the answers.
 */
async function patchPerson(
	env: Env,
	tenantId: string,
	userId: string,
	patch: Record<string, Scalar | null>,
	now: number,
): Promise<AttributePatchAnswer> {
	const answer: unknown = await shopper(env, tenantId, userId).patchAttributes(tenantId, userId, patch, now);
	return answer as AttributePatchAnswer;
}

async function personData(env: Env, tenantId: string, userId: string): Promise<PersonAudienceData | null> {
	const answer: unknown = await shopper(env, tenantId, userId).audienceData();
	return answer as PersonAudienceData | null;
}

function tooLarge(path: (string | number)[]): AppError {
	return new AppError("validation_failed", 422, "The person's attributes would pass the limits.", [
		{ path, message: "at most 100 keys and 8 KiB of CRM attributes a person", code: "too_large" },
	]);
}

/**
 * `POST /v1/campaigns/{id}/audience/test` (secret key): for each listed person, whether they
 * are in the campaign's audience now and, when not, which condition failed.
 */
export function audienceTestRoutes(api: ApiRouter): void {
	api.post(
		"/v1/campaigns/:id/audience/test",
		endpoint(
			{
				operationId: "testCampaignAudience",
				summary: "Whether each listed person (1 to 100) is in the campaign's audience now",
				description:
					"For a person not in it, the first condition that failed (its path in the audience and the condition).",
				tags: ["audiences"],
				auth: "secret",
				params: z.object({
					id: ExternalId.meta({ description: "the campaign's id", example: "cold-beer-nearby" }),
				}),
				body: { schema: AudienceTestSchema, maxBytes: 16 * 1024, example: { userIds: ["alice", "bob"] } },
				responses: {
					200: { description: "one result per person, in the order asked", schema: AudienceTestAnswer },
				},
				problems: [404],
			},
			async ({ req, env, params, body }) => {
				const tenant = await requireKey(req, env, "secret");
				const { id } = params();
				const { userIds } = await body();
				const campaign = await campaignById(env.DB, tenant.id, id);
				if (!campaign) throw new AppError("not_found", 404, "No campaign with this id.");
				const now = Date.now();
				const people = await eachLimited(userIds, (userId) => personData(env, tenant.id, userId));
				const results = userIds.map((userId, i) => {
					const data = people[i] ?? null;
					const verdict = evaluateAudience(campaign.audience, factsOf(data ?? emptyData(), now));
					return {
						userId,
						known: data !== null,
						inAudience: verdict.in,
						...(verdict.in ? {} : { failed: verdict.failed }),
					};
				});
				return json({ campaignId: id, results });
			},
		),
	);
}

const AudienceTestAnswer = z.object({
	campaignId: z.string(),
	results: z.array(
		z.object({
			userId: z.string(),
			known: z.boolean(),
			inAudience: z.boolean(),
			failed: z
				.object({
					path: z.array(z.union([z.string(), z.number()])),
					condition: z.unknown().meta({ $ref: "#/components/schemas/AudienceCondition" }),
				})
				.optional(),
		}),
	),
});

function emptyData(): PersonAudienceData {
	return {
		appAttributes: null,
		crmAttributes: null,
		interests: null,
		locale: null,
		visits: null,
		purchases: null,
	};
}
