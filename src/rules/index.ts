/**
 * Complementary-product rules ("chips in the cart → offer beer"): which cart-triggered
 * campaigns a cart matches. A tenant may have thousands of rules while a cart holds a
 * handful of items, so {@link createRuleIndex} inverts the rules into maps from SKU and
 * from category to the rules that mention them: a lookup costs one map probe per cart key
 * plus the candidate rules it finds, whatever the number of rules. {@link matchLinear} is
 * the same semantics by a plain scan, kept as the test oracle and the benchmark baseline.
 *
 * Self-contained on purpose (no imports), so `node bench/rules.bench.mjs` can load it
 * straight from source with Node's type stripping.
 */

/** SKUs and categories a rule looks for; an empty or absent list names nothing. */
export interface ItemMatch {
	skus?: readonly string[] | undefined;
	categories?: readonly string[] | undefined;
}

/** One rule: a cart trigger's `whenCartHas` / `unlessCartHas` with its campaign's id and priority. */
export interface CartRule {
	id: string;
	whenCartHas: ItemMatch;
	unlessCartHas?: ItemMatch | undefined;
	priority: number;
}

/** What a rule is matched against: the cart's SKUs and their categories (duplicates allowed). */
export interface CartKeys {
	skus: ReadonlySet<string> | readonly string[];
	categories: ReadonlySet<string> | readonly string[];
}

/** Rules inverted by SKU and by category, built once per rule set and reused for every cart. */
export interface RuleIndex {
	/** Number of rules indexed. */
	readonly size: number;
	/**
	 * Ids of the rules whose `whenCartHas` names any SKU or category of the cart and whose
	 * `unlessCartHas` names none, by priority (highest first), then id (code-unit order).
	 */
	match(cart: CartKeys): string[];
}

/**
 * Rule order: priority descending, then id in code-unit order (locale-independent, so
 * every runtime ranks alike), then the caller's order for rules sharing an id.
 */
function compareRules(a: { rule: CartRule; at: number }, b: { rule: CartRule; at: number }): number {
	if (a.rule.priority !== b.rule.priority) return b.rule.priority - a.rule.priority;
	if (a.rule.id !== b.rule.id) return a.rule.id < b.rule.id ? -1 : 1;
	return a.at - b.at;
}

function rankRules(rules: readonly CartRule[]): CartRule[] {
	return rules
		.map((rule, at) => ({ rule, at }))
		.sort(compareRules)
		.map((r) => r.rule);
}

/** Appends `rank` under each distinct key; a key listed twice by one rule is indexed once. */
function addKeys(map: Map<string, number[]>, keys: readonly string[] | undefined, rank: number): void {
	if (keys === undefined) return;
	for (const key of keys) {
		const list = map.get(key);
		if (list === undefined) map.set(key, [rank]);
		else if (list[list.length - 1] !== rank) list.push(rank);
	}
}

/**
 * Builds the index. Rules are ranked once here (priority, then id), so a match only sorts
 * small integers. The rules are read, not kept: later changes to them are not seen.
 *
 * Cost per {@link RuleIndex.match}: O(cart keys + candidate rules · log), independent of
 * how many rules never mention anything in the cart.
 */
export function createRuleIndex(rules: readonly CartRule[]): RuleIndex {
	const ranked = rankRules(rules);
	const ids = ranked.map((r) => r.id);
	const whenBySku = new Map<string, number[]>();
	const whenByCategory = new Map<string, number[]>();
	const unlessBySku = new Map<string, number[]>();
	const unlessByCategory = new Map<string, number[]>();
	ranked.forEach((rule, rank) => {
		addKeys(whenBySku, rule.whenCartHas.skus, rank);
		addKeys(whenByCategory, rule.whenCartHas.categories, rank);
		addKeys(unlessBySku, rule.unlessCartHas?.skus, rank);
		addKeys(unlessByCategory, rule.unlessCartHas?.categories, rank);
	});

	// Per-rule stamps instead of a fresh Set per call: a match touches only the slots of
	// the rules it finds. Each call owns two stamp values never used before (2e-1 marks a
	// candidate, 2e a suppressed rule), so the array needs no clearing between calls.
	const stamps = new Uint32Array(ranked.length);
	let epoch = 0;

	return {
		size: ranked.length,
		match(cart: CartKeys): string[] {
			if (epoch >= 0x7fff_fffe) {
				stamps.fill(0);
				epoch = 0;
			}
			epoch++;
			const candidate = 2 * epoch - 1;
			const suppressed = 2 * epoch;
			// Suppressions first, so a suppressed rule is never collected as a candidate.
			for (const sku of cart.skus) stamp(unlessBySku.get(sku), suppressed);
			for (const category of cart.categories) stamp(unlessByCategory.get(category), suppressed);
			const found: number[] = [];
			for (const sku of cart.skus) collect(whenBySku.get(sku), candidate, suppressed, found);
			for (const category of cart.categories)
				collect(whenByCategory.get(category), candidate, suppressed, found);
			// Ranks are small non-negative integers: a typed array sorts them natively,
			// without a comparator call per comparison.
			const ranks = Uint32Array.from(found).sort();
			const out: string[] = [];
			for (const rank of ranks) {
				const id = ids[rank];
				if (id !== undefined) out.push(id);
			}
			return out;
		},
	};

	function stamp(list: readonly number[] | undefined, value: number): void {
		if (list === undefined) return;
		for (const rank of list) stamps[rank] = value;
	}

	function collect(
		list: readonly number[] | undefined,
		candidate: number,
		suppressed: number,
		found: number[],
	): void {
		if (list === undefined) return;
		for (const rank of list) {
			const s = stamps[rank];
			if (s === suppressed || s === candidate) continue;
			stamps[rank] = candidate;
			found.push(rank);
		}
	}
}

function toSet(keys: ReadonlySet<string> | readonly string[]): ReadonlySet<string> {
	return keys instanceof Set ? keys : new Set(keys);
}

function namesAny(
	match: ItemMatch | undefined,
	skus: ReadonlySet<string>,
	categories: ReadonlySet<string>,
): boolean {
	if (match === undefined) return false;
	return (
		(match.skus?.some((s) => skus.has(s)) ?? false) ||
		(match.categories?.some((c) => categories.has(c)) ?? false)
	);
}

/**
 * The same answer as {@link RuleIndex.match}, by checking every rule: O(rules) per cart.
 * The oracle for the index's tests and the baseline of its benchmark.
 */
export function matchLinear(rules: readonly CartRule[], cart: CartKeys): string[] {
	const skus = toSet(cart.skus);
	const categories = toSet(cart.categories);
	const hits: { rule: CartRule; at: number }[] = [];
	rules.forEach((rule, at) => {
		if (namesAny(rule.whenCartHas, skus, categories) && !namesAny(rule.unlessCartHas, skus, categories)) {
			hits.push({ rule, at });
		}
	});
	return hits.sort(compareRules).map((h) => h.rule.id);
}
