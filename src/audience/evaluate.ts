/**
 * Audience evaluation: whether a person is in a campaign's audience and, when not, which
 * condition failed (its path and the condition itself), for the decision trace.
 *
 * A condition is compiled once into closures (value lists become sets, tags lower-cased, the
 * answer on failure built in advance), cached per condition object, so evaluating it for a
 * decision allocates nothing and takes well under a microsecond for 50 conditions
 * (bench/audience.bench.mjs).
 */
import type { Condition, Scalar } from "./condition.js";
import { languageMatches } from "./locale.js";
import { countVisits, DAY_MS, utcDay, type VisitCounters } from "./visits.js";

/**
 * What conditions can read about one person. Cheap to make for each decision: the person's
 * data is referenced, not copied, and what only some conditions need (the visit list, where
 * SKU marks start, the sort check of the marks) is worked out on first use.
 */
export interface AudienceFacts {
	/** Attributes the back office set: they win over the app's. */
	crm: Readonly<Record<string, unknown>>;
	/** Attributes the person's app sent. */
	app: Readonly<Record<string, unknown>>;
	interests: readonly string[];
	/** Lower-cased BCP 47 tag, or null when unknown. */
	locale: string | null;
	visits: VisitCounters;
	/** Purchase marks of the cart memory, sorted by kind then key (see {@link AudienceFactsInput}). */
	purchases: readonly PurchaseMark[];
	now: number;
	/** `utcDay(now)`. */
	today: number;
	/** Index of the first SKU mark in `purchases` (categories come first), found on first use. */
	firstSku: number | undefined;
}

/** A purchase mark as the cart keeps them: one per SKU and per category, the latest time. */
export interface PurchaseMark {
	kind: "sku" | "category";
	key: string;
	at: number;
}

/** The raw person data facts are made of. */
export interface AudienceFactsInput {
	appAttributes?: Readonly<Record<string, unknown>> | null | undefined;
	crmAttributes?: Readonly<Record<string, unknown>> | null | undefined;
	interests?: readonly string[] | null | undefined;
	locale?: string | null | undefined;
	visits?: VisitCounters | null | undefined;
	/**
	 * Sorted by kind (categories first), then key, one mark per key: as src/rules/cart.ts keeps
	 * them (looked up by binary search; test/unit/audience.test.ts holds the cart to it).
	 */
	purchases?: readonly PurchaseMark[] | null | undefined;
}

/** A key the back office set wins over the same key sent by the person's app. */
export function effectiveAttributes(
	app: Readonly<Record<string, unknown>> | null | undefined,
	crm: Readonly<Record<string, unknown>> | null | undefined,
): Record<string, unknown> {
	return { ...(app ?? {}), ...(crm ?? {}) };
}

const NONE: Readonly<Record<string, unknown>> = Object.freeze({});

export function audienceFacts(input: AudienceFactsInput, now: number): AudienceFacts {
	return {
		crm: input.crmAttributes ?? NONE,
		app: input.appAttributes ?? NONE,
		interests: input.interests ?? [],
		locale: input.locale ? input.locale.toLowerCase() : null,
		visits: Array.isArray(input.visits) ? input.visits : [],
		firstSku: undefined,
		purchases: input.purchases ?? [],
		now,
		today: utcDay(now),
	};
}

/** The value of an attribute in force: the back office's, else the app's (own keys only). */
export function attributeOf(f: AudienceFacts, name: string): unknown {
	if (Object.hasOwn(f.crm, name)) return f.crm[name];
	return Object.hasOwn(f.app, name) ? f.app[name] : undefined;
}

/** The latest purchase of a SKU or category (binary search over the sorted marks). */
function latestPurchase(f: AudienceFacts, kind: "sku" | "category", key: string): number | undefined {
	const marks = f.purchases;
	// Categories sort before SKUs: where the SKUs start, found once per decision.
	if (f.firstSku === undefined) {
		let i = 0;
		while (i < marks.length && (marks[i] as PurchaseMark).kind === "category") i++;
		f.firstSku = i;
	}
	let lo = kind === "sku" ? f.firstSku : 0;
	let hi = kind === "sku" ? marks.length : f.firstSku;
	const end = hi;
	while (lo < hi) {
		const mid = (lo + hi) >>> 1;
		if ((marks[mid] as PurchaseMark).key < key) lo = mid + 1;
		else hi = mid;
	}
	let at: number | undefined;
	for (let i = lo; i < end; i++) {
		const m = marks[i] as PurchaseMark;
		if (m.key !== key) break;
		if (at === undefined || m.at > at) at = m.at;
	}
	return at;
}

/** The condition that kept a person out, at its path from the audience's root. */
export interface AudienceFailure {
	path: (string | number)[];
	condition: Condition;
}

export type AudienceVerdict = { in: true } | { in: false; failed: AudienceFailure };

/** A compiled condition: null when it holds, else the failure to report. */
type Node = (f: AudienceFacts) => AudienceFailure | null;

const IN: AudienceVerdict = { in: true };
const cache = new WeakMap<Condition, Node>();

/**
 * Whether the person is in the audience; a campaign without one is for everyone. The first
 * failing condition is reported: the child of an `all` that failed first, an `any` whose
 * children all failed, a `not` whose condition held.
 *
 * @param audience the campaign's audience, already parsed (src/audience/condition.ts)
 * @param facts the person (see {@link audienceFacts})
 * @param root the path of the audience itself in reports
 */
export function evaluateAudience(
	audience: Condition | null | undefined,
	facts: AudienceFacts,
	root: (string | number)[] = ["audience"],
): AudienceVerdict {
	if (!audience) return IN;
	let node = cache.get(audience);
	if (!node) {
		node = compileCondition(audience, root);
		cache.set(audience, node);
	}
	const failed = node(facts);
	return failed ? { in: false, failed } : IN;
}

/** Compiles a parsed condition; `path` is where it sits (reported on failure). */
export function compileCondition(c: Condition, path: (string | number)[]): Node {
	const fail: AudienceFailure = { path, condition: c };
	if ("all" in c) {
		const kids = c.all.map((k, i) => compileCondition(k, [...path, "all", i]));
		return (f) => {
			for (const k of kids) {
				const r = k(f);
				if (r) return r;
			}
			return null;
		};
	}
	if ("any" in c) {
		const kids = c.any.map((k, i) => compileCondition(k, [...path, "any", i]));
		return (f) => {
			for (const k of kids) if (k(f) === null) return null;
			return fail;
		};
	}
	if ("not" in c) {
		const inner = compileCondition(c.not, [...path, "not"]);
		return (f) => (inner(f) === null ? fail : null);
	}
	if ("attribute" in c) return test(attributeTest(c), fail);
	if ("interest" in c) {
		const interest = c.interest;
		return (f) => (f.interests.includes(interest) ? null : fail);
	}
	if ("locale" in c) {
		const tags = c.locale.map((t) => t.toLowerCase());
		return (f) => {
			const loc = f.locale;
			if (loc !== null) for (const t of tags) if (languageMatches(t, loc)) return null;
			return fail;
		};
	}
	if ("visits" in c) {
		const filter = {
			geofenceIds: c.visits.geofenceIds ? new Set(c.visits.geofenceIds) : undefined,
			tags: c.visits.tags ? new Set(c.visits.tags) : undefined,
		};
		const { withinDays, gte, lt } = c;
		return (f) => {
			const n = countVisits(f.visits, filter, withinDays, f.today);
			return (gte !== undefined ? n >= gte : n < (lt as number)) ? null : fail;
		};
	}
	const keys: ["sku" | "category", string][] = [
		...(c.purchased.skus ?? []).map((k): ["sku", string] => ["sku", k]),
		...(c.purchased.categories ?? []).map((k): ["category", string] => ["category", k]),
	];
	const windowMs = c.withinDays * DAY_MS;
	return (f) => {
		for (const [kind, key] of keys) {
			const at = latestPurchase(f, kind, key);
			// A purchase stamped after now (the cart platform's clock ahead of ours) is recent.
			if (at !== undefined && f.now - at < windowMs) return null;
		}
		return fail;
	};
}

function test(t: (f: AudienceFacts) => boolean, fail: AudienceFailure): Node {
	return (f) => (t(f) ? null : fail);
}

/**
 * Attribute comparisons. A missing attribute fails every comparison except `nin`, `ne` and
 * `exists: false` (it is not among the values, nor equal to one). Order comparisons hold only
 * between two numbers or two strings.
 */
function attributeTest(c: Extract<Condition, { attribute: string }>): (f: AudienceFacts) => boolean {
	const name = c.attribute;
	const get = (f: AudienceFacts): unknown => attributeOf(f, name);
	if (c.in !== undefined) {
		const set = new Set<unknown>(c.in);
		return (f) => {
			const v = get(f);
			return v !== undefined && set.has(v);
		};
	}
	if (c.nin !== undefined) {
		const set = new Set<unknown>(c.nin);
		return (f) => !set.has(get(f));
	}
	if (c.eq !== undefined) {
		const x: Scalar = c.eq;
		return (f) => get(f) === x;
	}
	if (c.ne !== undefined) {
		const x: Scalar = c.ne;
		return (f) => get(f) !== x;
	}
	if (c.exists !== undefined) {
		const want = c.exists;
		return (f) => (get(f) !== undefined && get(f) !== null) === want;
	}
	const order = (x: number | string, holds: (a: number | string, b: number | string) => boolean) => {
		const kind = typeof x;
		return (f: AudienceFacts) => {
			const v = get(f);
			return typeof v === kind && holds(v as number | string, x);
		};
	};
	if (c.gt !== undefined) return order(c.gt, (a, b) => a > b);
	if (c.gte !== undefined) return order(c.gte, (a, b) => a >= b);
	if (c.lt !== undefined) return order(c.lt, (a, b) => a < b);
	if (c.lte !== undefined) return order(c.lte, (a, b) => a <= b);
	// parseAudience guarantees one operator.
	return () => false;
}
