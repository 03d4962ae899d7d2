/**
 * Audiences in the Worker (issue 16): the back office's CRM attribute routes, the audience
 * test route. The person's side (CRM attributes as stored, visit counters, the data handed to the
 * pure evaluator) is in src/person/audience.ts, re-exported here.
 */

import {
	AttributePatchSchema,
	AudienceTestSchema,
	BulkAttributesSchema,
} from "../src/audience/attributes.js";
import type { Scalar } from "../src/audience/condition.js";
import { evaluateAudience } from "../src/audience/evaluate.js";
import { AppError } from "../src/errors.js";
import { type AttributePatchAnswer, factsOf, type PersonAudienceData } from "../src/person/audience.js";
import { StoredCampaignSchema } from "../src/schemas/campaign.js";
import { ExternalId } from "../src/schemas/common.js";
import { UserId } from "../src/schemas/user.js";
import { body, json, parse } from "./http.js";
import type { AppRouter } from "./router.js";
import { shopper } from "./routes/users.js";
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
export function attributeRoutes(router: AppRouter): void {
	router.patch("/v1/users/:userId/attributes", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const userId = parse(UserId, req.params.userId);
		const patch = await body(req, AttributePatchSchema, 32 * 1024);
		const answer = await patchPerson(env, tenant.id, userId, patch, Date.now());
		if (answer.refused === "erased")
			throw new AppError("not_found", 404, "This user was erased; their app registers them again first.");
		if (answer.refused === "too_large") throw tooLarge([]);
		return json({ userId, attributes: answer.attributes });
	});

	router.post("/v1/users/attributes", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const { users } = await body(req, BulkAttributesSchema, 4 * 1024 * 1024);
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
		const answers = await eachLimited(users, (u) => patchPerson(env, tenant.id, u.userId, u.attributes, now));
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
	});
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
export function audienceTestRoutes(router: AppRouter): void {
	router.post("/v1/campaigns/:id/audience/test", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const id = parse(ExternalId, req.params.id);
		const { userIds } = await body(req, AudienceTestSchema, 16 * 1024);
		const row = await env.DB.prepare("SELECT body FROM campaigns WHERE tenant_id = ? AND id = ?")
			.bind(tenant.id, id)
			.first<{ body: string }>();
		if (!row) throw new AppError("not_found", 404, "No campaign with this id.");
		const campaign = StoredCampaignSchema.parse(JSON.parse(row.body));
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
	});
}

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
