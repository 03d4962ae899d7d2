import { describe, expect, it } from "vitest";
import {
	type CartKeys,
	type CartRule,
	createRuleIndex,
	type ItemMatch,
	matchLinear,
} from "../../src/rules/index.js";
import { prng } from "../helpers/prng.js";

const rule = (id: string, priority: number, whenCartHas: ItemMatch, unlessCartHas?: ItemMatch): CartRule => ({
	id,
	priority,
	whenCartHas,
	...(unlessCartHas ? { unlessCartHas } : {}),
});

describe("createRuleIndex", () => {
	const rules = [
		rule("beer-for-chips", 10, { skus: ["chips-1", "chips-2"] }),
		rule("soda-for-snacks", 5, { categories: ["snacks"] }),
		rule("salsa-for-chips", 5, { skus: ["chips-1"] }, { skus: ["salsa"] }),
		rule("no-beer-for-minors", 20, { categories: ["snacks"] }, { categories: ["baby"] }),
		rule("unrelated", 100, { skus: ["tv"] }),
	];
	const index = createRuleIndex(rules);

	it("matches by any listed SKU or category, by priority then id", () => {
		const cart = { skus: ["chips-1"], categories: ["snacks"] };
		expect(index.match(cart)).toEqual([
			"no-beer-for-minors",
			"beer-for-chips",
			"salsa-for-chips",
			"soda-for-snacks",
		]);
		expect(index.match(cart)).toEqual(matchLinear(rules, cart));
		expect(index.size).toBe(5);
	});

	it("unlessCartHas suppresses, by SKU or by category", () => {
		expect(index.match({ skus: ["chips-1", "salsa"], categories: ["snacks"] })).toEqual([
			"no-beer-for-minors",
			"beer-for-chips",
			"soda-for-snacks",
		]);
		expect(index.match({ skus: ["chips-1"], categories: ["snacks", "baby"] })).toEqual([
			"beer-for-chips",
			"salsa-for-chips",
			"soda-for-snacks",
		]);
	});

	it("a rule that names a key in both lists never matches on it", () => {
		const r = [rule("self", 1, { skus: ["a"] }, { skus: ["a"] })];
		expect(createRuleIndex(r).match({ skus: ["a"], categories: [] })).toEqual([]);
		expect(matchLinear(r, { skus: ["a"], categories: [] })).toEqual([]);
	});

	it("takes arrays or sets, with duplicates, and empty carts", () => {
		expect(index.match({ skus: new Set(["chips-2"]), categories: new Set<string>() })).toEqual([
			"beer-for-chips",
		]);
		expect(index.match({ skus: ["chips-2", "chips-2", "chips-1"], categories: [] })).toEqual([
			"beer-for-chips",
			"salsa-for-chips",
		]);
		expect(index.match({ skus: [], categories: [] })).toEqual([]);
	});

	it("keeps SKUs and categories apart: a SKU named like a category does not match it", () => {
		expect(index.match({ skus: ["snacks"], categories: ["chips-1"] })).toEqual([]);
	});

	it("orders ties by id in code-unit order, and equal ids by input order", () => {
		const r = [
			rule("b", 1, { skus: ["x"] }),
			rule("a", 1, { skus: ["x"] }),
			rule("B", 1, { skus: ["x"] }),
			rule("z", 2, { skus: ["x"] }),
			rule("a", 1, { categories: ["c"] }),
			rule("neg", -5, { skus: ["x"] }),
		];
		const cart = { skus: ["x"], categories: ["c"] };
		expect(createRuleIndex(r).match(cart)).toEqual(["z", "B", "a", "a", "b", "neg"]);
		expect(matchLinear(r, cart)).toEqual(["z", "B", "a", "a", "b", "neg"]);
	});

	it("a rule matched by several cart keys is listed once", () => {
		const r = [rule("multi", 1, { skus: ["a", "b", "a"], categories: ["c"] })];
		expect(createRuleIndex(r).match({ skus: ["a", "b"], categories: ["c"] })).toEqual(["multi"]);
	});

	it("does not see later changes to the rules it was built from", () => {
		const skus = ["a"];
		const r = [rule("r", 1, { skus })];
		const idx = createRuleIndex(r);
		skus.push("b");
		expect(idx.match({ skus: ["b"], categories: [] })).toEqual([]);
	});

	it("gives the same answers across many calls (stamps never leak between calls)", () => {
		const r = [rule("r1", 1, { skus: ["a"] }, { skus: ["b"] }), rule("r2", 2, { skus: ["b"] })];
		const idx = createRuleIndex(r);
		for (let i = 0; i < 1000; i++) {
			expect(idx.match({ skus: i % 2 ? ["a", "b"] : ["a"], categories: [] })).toEqual(
				i % 2 ? ["r2"] : ["r1"],
			);
		}
	});
});

describe("createRuleIndex agrees with matchLinear (seeded property)", () => {
	it("on thousands of random rule sets and carts", () => {
		const rnd = prng(20261123);
		const int = (n: number) => Math.floor(rnd() * n);
		const skuUniverse = Array.from({ length: 60 }, (_, i) => `sku-${i}`);
		const catUniverse = Array.from({ length: 12 }, (_, i) => `cat-${i}`);
		const some = (xs: readonly string[], max: number) =>
			Array.from({ length: int(max + 1) }, () => xs[int(xs.length)] as string);
		const itemMatch = (): ItemMatch => {
			const m: ItemMatch = {};
			const mode = int(4);
			// Absent lists, empty lists and both kinds all occur.
			if (mode !== 1) m.skus = some(skuUniverse, 4);
			if (mode !== 0) m.categories = some(catUniverse, 2);
			return m;
		};
		let cases = 0;
		let nonEmpty = 0;
		let suppressedSomething = 0;
		for (let set = 0; set < 250; set++) {
			const n = 1 + int(150);
			const rules: CartRule[] = Array.from({ length: n }, (_, i) =>
				rule(
					// Duplicate ids now and then, to pin down the tie order.
					rnd() < 0.05 ? "dup" : `r${int(1000)}-${i}`,
					int(7) - 3,
					itemMatch(),
					rnd() < 0.35 ? itemMatch() : undefined,
				),
			);
			const index = createRuleIndex(rules);
			for (let c = 0; c < 20; c++) {
				const skus = some(skuUniverse, 30);
				const categories = some(catUniverse, 5);
				const cart: CartKeys =
					rnd() < 0.5 ? { skus, categories } : { skus: new Set(skus), categories: new Set(categories) };
				const expected = matchLinear(rules, cart);
				expect(index.match(cart)).toEqual(expected);
				const withoutUnless = matchLinear(
					rules.map((r) => ({ ...r, unlessCartHas: undefined })),
					cart,
				);
				if (withoutUnless.length > expected.length) suppressedSomething++;
				if (expected.length > 0) nonEmpty++;
				cases++;
			}
		}
		expect(cases).toBe(5000);
		// The generator must exercise matches and suppressions, not just empty answers.
		expect(nonEmpty).toBeGreaterThan(cases / 2);
		expect(suppressedSomething).toBeGreaterThan(cases / 10);
	});
});
