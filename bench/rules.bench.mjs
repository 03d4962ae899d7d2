// Complementary-product rules: the SKU/category index (`createRuleIndex().match`) against a
// plain scan of every rule (`matchLinear`), on a synthetic but retailer-shaped workload.
//
//   node bench/rules.bench.mjs            (Node >= 23.6 / 22.18: loads the TS source directly)
//   RUNS=9 CARTS=1000 node bench/rules.bench.mjs
//
// Prints a table and writes bench/results/rules.json. Everything is seeded, so two runs on
// the same machine time the same carts against the same rules.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRuleIndex, matchLinear } from "../src/rules/index.ts";
import { prng } from "../test/helpers/prng.ts";

const SKUS = 50_000;
const CATEGORIES = 300;
const RULES = 10_000;
const RUNS = Math.max(5, Number(process.env.RUNS ?? 7));
const CARTS = Math.max(100, Number(process.env.CARTS ?? 500));
const SEED = 0x5eed_2026;

const rnd = prng(SEED);
const int = (n) => Math.floor(rnd() * n);
const between = (lo, hi) => lo + int(hi - lo + 1);

// Catalogue: every SKU in one category. Demand is skewed (a few SKUs are in many carts and
// many rules, the long tail in few), which is what makes popular keys' rule lists long.
const skuName = (i) => `sku-${String(i).padStart(5, "0")}`;
const categoryName = (i) => `cat-${String(i).padStart(3, "0")}`;
const categoryOfSku = Array.from({ length: SKUS }, () => int(CATEGORIES));
/** Power-law pick in [0, n): exponent > 1 favours low (popular) indices. */
const popular = (n, exponent) => Math.min(n - 1, Math.floor(n * rnd() ** exponent));

/**
 * Most complementary rules name products (85 %: "these chips → beer"); some name a
 * category (10 %) or both (5 %). Category rules are what make big carts match many rules.
 */
function itemMatch() {
	const kind = rnd();
	const m = {};
	if (kind < 0.9) m.skus = Array.from({ length: between(1, 5) }, () => skuName(popular(SKUS, 1.5)));
	if (kind >= 0.85)
		m.categories = Array.from({ length: between(1, 2) }, () => categoryName(popular(CATEGORIES, 1.2)));
	return m;
}

const rules = Array.from({ length: RULES }, (_, i) => ({
	id: `campaign-${String(i).padStart(5, "0")}`,
	priority: int(100),
	whenCartHas: itemMatch(),
	...(rnd() < 0.2 ? { unlessCartHas: itemMatch() } : {}),
}));

function cart(size) {
	const skus = new Set();
	while (skus.size < size) skus.add(popular(SKUS, 2.5));
	return {
		skus: [...skus].map(skuName),
		categories: [...new Set([...skus].map((s) => categoryName(categoryOfSku[s])))],
	};
}
const buckets = [
	{ label: "1-5", lo: 1, hi: 5 },
	{ label: "6-15", lo: 6, hi: 15 },
	{ label: "16-30", lo: 16, hi: 30 },
	{ label: "1-30 (mixed)", lo: 1, hi: 30 },
].map((b) => ({ ...b, carts: Array.from({ length: CARTS }, () => cart(between(b.lo, b.hi))) }));

const median = (xs) => {
	const s = [...xs].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Microseconds per call of `fn` over `carts`; the checksum keeps the work observable. */
let checksum = 0;
function perCartUs(carts, fn) {
	const t0 = process.hrtime.bigint();
	for (const c of carts) checksum += fn(c).length;
	return Number(process.hrtime.bigint() - t0) / 1000 / carts.length;
}

// Build cost, paid once per rule-set version, not per cart event.
const buildMs = [];
let index;
for (let r = 0; r < RUNS; r++) {
	const t0 = process.hrtime.bigint();
	index = createRuleIndex(rules);
	buildMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
const linear = (c) => matchLinear(rules, c);
const indexed = (c) => index.match(c);

// The index must give the linear scan's answer on every benchmarked cart.
let matchesTotal = 0;
for (const b of buckets) {
	for (const c of b.carts) {
		const want = linear(c);
		const got = indexed(c);
		if (want.length !== got.length || want.some((id, i) => id !== got[i])) {
			throw new Error(`index and linear scan disagree on a ${b.label} cart`);
		}
		matchesTotal += want.length;
	}
	b.avgMatches = b.carts.reduce((s, c) => s + indexed(c).length, 0) / b.carts.length;
	b.avgItems = b.carts.reduce((s, c) => s + c.skus.length, 0) / b.carts.length;
}

// Warm-up, then RUNS timed runs; the two contenders alternate within each run.
for (const b of buckets) {
	perCartUs(b.carts, indexed);
	perCartUs(b.carts, linear);
}
const results = buckets.map((b) => {
	const indexUs = [];
	const linearUs = [];
	for (let r = 0; r < RUNS; r++) {
		indexUs.push(perCartUs(b.carts, indexed));
		linearUs.push(perCartUs(b.carts, linear));
	}
	const indexMedianUs = median(indexUs);
	const linearMedianUs = median(linearUs);
	return {
		cartItems: b.label,
		carts: b.carts.length,
		avgItems: Number(b.avgItems.toFixed(1)),
		avgMatches: Number(b.avgMatches.toFixed(1)),
		indexMedianUs: Number(indexMedianUs.toFixed(2)),
		linearMedianUs: Number(linearMedianUs.toFixed(2)),
		ratio: Number((linearMedianUs / indexMedianUs).toFixed(1)),
		indexRunsUs: indexUs.map((x) => Number(x.toFixed(2))),
		linearRunsUs: linearUs.map((x) => Number(x.toFixed(2))),
	};
});

const report = {
	benchmark: "rules: createRuleIndex().match vs matchLinear, cost per cart event",
	command: "node bench/rules.bench.mjs",
	date: new Date().toISOString(),
	environment: {
		node: process.version,
		platform: `${process.platform} ${process.arch}`,
		cpu: os.cpus()[0]?.model ?? "unknown",
		cpus: os.cpus().length,
	},
	workload: {
		skus: SKUS,
		categories: CATEGORIES,
		rules: RULES,
		rulesWithUnless: rules.filter((r) => r.unlessCartHas).length,
		cartsPerBucket: CARTS,
		runs: RUNS,
		seed: SEED,
	},
	indexBuildMs: {
		median: Number(median(buildMs).toFixed(2)),
		runs: buildMs.map((x) => Number(x.toFixed(2))),
	},
	results,
	checksum,
	matchesTotal,
};

const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, "results"), { recursive: true });
writeFileSync(join(here, "results", "rules.json"), `${JSON.stringify(report, null, "\t")}\n`);

console.log(
	`${RULES} rules over ${SKUS} SKUs / ${CATEGORIES} categories; ${CARTS} carts per row; median of ${RUNS} runs; ${report.environment.node}, ${report.environment.cpu}`,
);
console.log(`index build: ${report.indexBuildMs.median} ms (median)\n`);
console.table(
	Object.fromEntries(
		results.map((r) => [
			r.cartItems,
			{
				"avg items": r.avgItems,
				"avg matches": r.avgMatches,
				"match µs/cart": r.indexMedianUs,
				"matchLinear µs/cart": r.linearMedianUs,
				"linear / index": r.ratio,
			},
		]),
	),
);
console.log("written: bench/results/rules.json");
