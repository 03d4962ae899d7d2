/**
 * The audience condition grammar (API v1.2) and its parser: which people a campaign is for.
 *
 * A condition is one of `{all: [c]}`, `{any: [c]}`, `{not: c}`, an attribute comparison,
 * `{interest}`, `{locale}`, `{visits}` or `{purchased}`. Parsing walks the tree by hand (not a
 * zod union) so a bad node is reported at its own path (`audience.all.2.in`), and so depth and
 * size are bounded before anything deeper is looked at.
 */
import { z } from "zod";

/** Nesting limit: the root is at depth 1, each `all`/`any`/`not` adds one. */
export const MAX_AUDIENCE_DEPTH = 5;
/** Most nodes (combinators included) an audience may have. */
export const MAX_AUDIENCE_CONDITIONS = 50;
/** Longest window of a `visits` condition: per-day visit counters are kept this long. */
export const MAX_VISIT_DAYS = 90;
/** Longest window of a `purchased` condition: the cart's purchase memory (src/rules/cart.ts). */
export const MAX_PURCHASE_DAYS = 365;

export type Scalar = string | number | boolean;

export interface AllCondition {
	all: Condition[];
}
export interface AnyCondition {
	any: Condition[];
}
export interface NotCondition {
	not: Condition;
}
/** Exactly one operator is present (checked when parsed). */
export interface AttributeCondition {
	attribute: string;
	in?: Scalar[] | undefined;
	nin?: Scalar[] | undefined;
	eq?: Scalar | undefined;
	ne?: Scalar | undefined;
	gt?: number | string | undefined;
	gte?: number | string | undefined;
	lt?: number | string | undefined;
	lte?: number | string | undefined;
	exists?: boolean | undefined;
}
export interface InterestCondition {
	interest: string;
}
export interface LocaleCondition {
	locale: string[];
}
/** Exactly one of `gte` and `lt` is present. */
export interface VisitsCondition {
	visits: { geofenceIds?: string[] | undefined; tags?: string[] | undefined };
	withinDays: number;
	gte?: number | undefined;
	lt?: number | undefined;
}
export interface PurchasedCondition {
	purchased: { skus?: string[] | undefined; categories?: string[] | undefined };
	withinDays: number;
}

export type Condition =
	| AllCondition
	| AnyCondition
	| NotCondition
	| AttributeCondition
	| InterestCondition
	| LocaleCondition
	| VisitsCondition
	| PurchasedCondition;

/** A BCP 47 language tag such as `fr` or `de-CH` (the same shape `PUT /v1/users` accepts). */
export const LocaleTag = z
	.string()
	.max(35)
	.regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, "expected a BCP 47 tag like fr or de-CH");

export const ScalarSchema = z.union([z.string().max(256), z.number().finite(), z.boolean()]);
const Ordered = z.union([z.string().max(256), z.number().finite()]);
const GeofenceIdSchema = z
	.string()
	.min(1)
	.max(128)
	.regex(/^[A-Za-z0-9._:-]+$/, "only A-Z a-z 0-9 . _ : - are allowed");
const Tag = z.string().min(1).max(64);
const ItemKey = z.string().min(1).max(128);

const ATTRIBUTE_OPS = ["in", "nin", "eq", "ne", "gt", "gte", "lt", "lte", "exists"] as const;

const AttributeConditionSchema = z
	.strictObject({
		attribute: z.string().min(1).max(128),
		in: z.array(ScalarSchema).min(1).max(100).optional(),
		nin: z.array(ScalarSchema).min(1).max(100).optional(),
		eq: ScalarSchema.optional(),
		ne: ScalarSchema.optional(),
		gt: Ordered.optional(),
		gte: Ordered.optional(),
		lt: Ordered.optional(),
		lte: Ordered.optional(),
		exists: z.boolean().optional(),
	})
	.refine((c) => ATTRIBUTE_OPS.filter((op) => c[op] !== undefined).length === 1, {
		message: `exactly one operator of ${ATTRIBUTE_OPS.join(", ")}`,
	});

const InterestConditionSchema = z.strictObject({ interest: z.string().trim().min(1).max(64) });

const LocaleConditionSchema = z.strictObject({ locale: z.array(LocaleTag).min(1).max(50) });

const VisitsConditionSchema = z
	.strictObject({
		visits: z.strictObject({
			geofenceIds: z.array(GeofenceIdSchema).min(1).max(100).optional(),
			tags: z.array(Tag).min(1).max(32).optional(),
		}),
		withinDays: z.number().int().min(1).max(MAX_VISIT_DAYS),
		gte: z.number().int().min(0).max(100_000).optional(),
		lt: z.number().int().min(1).max(100_000).optional(),
	})
	.refine((c) => (c.gte === undefined) !== (c.lt === undefined), { message: "exactly one of gte and lt" });

const PurchasedConditionSchema = z.strictObject({
	purchased: z
		.strictObject({
			skus: z.array(ItemKey).max(100).optional(),
			categories: z.array(ItemKey).max(100).optional(),
		})
		.refine((m) => (m.skus?.length ?? 0) + (m.categories?.length ?? 0) > 0, {
			message: "name at least one sku or category",
		}),
	withinDays: z.number().int().min(1).max(MAX_PURCHASE_DAYS),
});

/** The key that names a condition's kind, with the schema of a leaf of that kind. */
const LEAVES = {
	attribute: AttributeConditionSchema,
	interest: InterestConditionSchema,
	locale: LocaleConditionSchema,
	visits: VisitsConditionSchema,
	purchased: PurchasedConditionSchema,
} as const;
type LeafKind = keyof typeof LEAVES;
const KINDS = ["all", "any", "not", "attribute", "interest", "locale", "visits", "purchased"] as const;

/** One problem found in an audience, at a path relative to the audience itself. */
export interface AudienceIssue {
	path: (string | number)[];
	message: string;
	code: string;
}

/**
 * Parses an audience: the condition, or every problem found (each at its path), with nesting
 * past {@link MAX_AUDIENCE_DEPTH} or more than {@link MAX_AUDIENCE_CONDITIONS} nodes refused.
 */
export function parseAudience(
	value: unknown,
): { ok: true; condition: Condition } | { ok: false; issues: AudienceIssue[] } {
	const issues: AudienceIssue[] = [];
	const count = { n: 0, reported: false };
	const condition = walk(value, [], 1, count, issues);
	return condition && issues.length === 0 ? { ok: true, condition } : { ok: false, issues };
}

function walk(
	value: unknown,
	path: (string | number)[],
	depth: number,
	count: { n: number; reported: boolean },
	issues: AudienceIssue[],
): Condition | null {
	count.n += 1;
	if (count.n > MAX_AUDIENCE_CONDITIONS) {
		if (!count.reported)
			issues.push({
				path,
				code: "audience_too_large",
				message: `more than ${MAX_AUDIENCE_CONDITIONS} conditions`,
			});
		count.reported = true;
		return null;
	}
	if (depth > MAX_AUDIENCE_DEPTH) {
		issues.push({ path, code: "audience_too_deep", message: `nested deeper than ${MAX_AUDIENCE_DEPTH}` });
		return null;
	}
	if (value === null || typeof value !== "object" || Array.isArray(value)) {
		issues.push({ path, code: "invalid_condition", message: "expected a condition object" });
		return null;
	}
	const kinds = KINDS.filter((k) => Object.hasOwn(value, k));
	if (kinds.length !== 1) {
		issues.push({
			path,
			code: "invalid_condition",
			message:
				kinds.length === 0
					? `expected one of ${KINDS.join(", ")}`
					: `one kind a condition, found ${kinds.join(" and ")}`,
		});
		return null;
	}
	const kind = kinds[0] as (typeof KINDS)[number];
	const record = value as Record<string, unknown>;
	if (kind === "all" || kind === "any" || kind === "not") {
		const extra = Object.keys(record).filter((k) => k !== kind);
		if (extra.length > 0) {
			issues.push({ path: [...path, extra[0] as string], code: "unrecognized_keys", message: "unknown key" });
			return null;
		}
		if (kind === "not") {
			const inner = walk(record.not, [...path, "not"], depth + 1, count, issues);
			return inner ? { not: inner } : null;
		}
		const list = record[kind];
		if (!Array.isArray(list)) {
			issues.push({
				path: [...path, kind],
				code: "invalid_type",
				message: "expected an array of conditions",
			});
			return null;
		}
		const children: Condition[] = [];
		for (let i = 0; i < list.length; i++) {
			const c = walk(list[i], [...path, kind, i], depth + 1, count, issues);
			if (c) children.push(c);
			if (count.reported) return null;
		}
		return children.length === list.length ? (kind === "all" ? { all: children } : { any: children }) : null;
	}
	const parsed = LEAVES[kind satisfies LeafKind].safeParse(value);
	if (!parsed.success) {
		for (const issue of parsed.error.issues)
			issues.push({
				path: [...path, ...issue.path.map((p: PropertyKey) => (typeof p === "symbol" ? String(p) : p))],
				code: issue.code,
				message: issue.message,
			});
		return null;
	}
	return parsed.data as Condition;
}

/** The documented shape of a condition (the OpenAPI document's `AudienceCondition`). */
export const AudienceConditionDoc: z.ZodType = z
	.lazy(() =>
		z.union([
			z.strictObject({ all: z.array(AudienceConditionDoc).max(MAX_AUDIENCE_CONDITIONS) }),
			z.strictObject({ any: z.array(AudienceConditionDoc).max(MAX_AUDIENCE_CONDITIONS) }),
			z.strictObject({ not: AudienceConditionDoc }),
			AttributeConditionSchema,
			InterestConditionSchema,
			LocaleConditionSchema,
			VisitsConditionSchema,
			PurchasedConditionSchema,
		]),
	)
	.meta({
		id: "AudienceCondition",
		description: `Who a campaign is for. all/any/not combine conditions; at most ${MAX_AUDIENCE_DEPTH} deep and ${MAX_AUDIENCE_CONDITIONS} conditions in all. Attributes are the person's (back-office keys win over app-sent ones); a missing attribute fails every comparison but nin, ne and exists: false. A locale condition's language matches its regional forms (fr matches fr-CA). visits counts enters (the current one included) over the last withinDays UTC days, per geofence id and/or tag; purchased looks at cart purchases.`,
		examples: [
			{
				all: [{ attribute: "tier", in: ["gold", "platinum"] }, { interest: "wine" }, { locale: ["fr"] }],
			},
			{ visits: { tags: ["grocery"] }, withinDays: 30, gte: 2 },
			{ not: { purchased: { categories: ["beer"] }, withinDays: 90 } },
			{
				any: [
					{ attribute: "age", gte: 18 },
					{ attribute: "verified", exists: true },
				],
			},
		],
	});

/**
 * An audience at the API boundary: parsed by {@link parseAudience}, its problems reported at
 * their own paths below the field (e.g. `audience.all.1.in`).
 */
export const AudienceSchema = z
	.unknown()
	.transform((value, ctx): Condition => {
		const r = parseAudience(value);
		if (r.ok) return r.condition;
		for (const issue of r.issues)
			ctx.addIssue({
				code: "custom",
				path: issue.path,
				message: issue.message,
				params: { code: issue.code },
			});
		return z.NEVER;
	})
	.meta({ $ref: "#/components/schemas/AudienceCondition" });
