/**
 * CRM attributes: what the back office says about a person (tier, age, home store, ...),
 * kept apart from what the person's app sends, so an app can neither change nor remove a
 * key the back office set (the back office's value wins, src/audience/evaluate.ts).
 */
import { z } from "zod";
import { ExternalId } from "../schemas/common.js";
import { type Scalar, ScalarSchema } from "./condition.js";

/** Most CRM keys one person may have. */
export const MAX_CRM_KEYS = 100;
/** Most bytes (as JSON) a person's CRM attributes may take. */
export const MAX_CRM_BYTES = 8192;

/** A CRM attribute key: usable in templates (`{{ attributes.tier }}`) and conditions. */
export const AttributeKey = z
	.string()
	.regex(
		/^(?!__)[A-Za-z_][A-Za-z0-9_]{0,63}$/,
		"expected a name of letters, digits and _ (at most 64, not starting with __)",
	);

/** Body of `PATCH /v1/users/{userId}/attributes`: scalars set a key, `null` removes it. */
export const AttributePatchSchema = z
	.record(AttributeKey, z.union([ScalarSchema, z.null()]))
	.refine((o) => Object.keys(o).length <= MAX_CRM_KEYS, { message: `at most ${MAX_CRM_KEYS} keys` });
export type AttributePatch = z.infer<typeof AttributePatchSchema>;

/** Body of `POST /v1/users/attributes` (bulk CRM sync). */
export const BulkAttributesSchema = z.strictObject({
	users: z
		.array(z.strictObject({ userId: ExternalId, attributes: AttributePatchSchema }))
		.min(1)
		.max(1000),
});

/** Body of `POST /v1/campaigns/{id}/audience/test`. */
export const AudienceTestSchema = z.strictObject({ userIds: z.array(ExternalId).min(1).max(100) });

/**
 * Applies a patch: merged, `null` removes. Null when the result would pass
 * {@link MAX_CRM_KEYS} or {@link MAX_CRM_BYTES}.
 */
export function applyAttributePatch(
	current: Readonly<Record<string, Scalar>>,
	patch: Readonly<Record<string, Scalar | null>>,
): Record<string, Scalar> | null {
	const merged = new Map<string, Scalar>(Object.entries(current));
	for (const [k, v] of Object.entries(patch)) {
		if (v === null) merged.delete(k);
		else merged.set(k, v);
	}
	if (merged.size > MAX_CRM_KEYS) return null;
	// fromEntries defines own properties: "__proto__" stays an ordinary key.
	const out = Object.fromEntries(merged);
	return JSON.stringify(out).length > MAX_CRM_BYTES ? null : out;
}
