// Audience evaluation per decision: a 50-condition audience (the most an audience may have)
// against seeded people, with the compiled evaluator of src/audience/evaluate.ts, against a
// plain tree-walking interpreter of the same grammar (also the oracle: both must agree on
// every person before anything is timed).
//
//   npm run bench:audience                 (node bench/audience.bench.mjs)
//   RUNS=9 PEOPLE=2000 node bench/audience.bench.mjs
//
// Rows (CPU time a call, mean over the people, median of RUNS runs; wall time beside it):
// evaluation alone (the campaign's audience compiled once when campaigns are loaded),
// facts + evaluation (what a decision pays: the person's attributes merged, interests as a
// set, then evaluation), and parse + compile (once per campaign load). Then each person's
// decision timed alone: median, p95 and max across people. Target: the median decision
// (facts + evaluation of the 50-condition audience) under 5 µs. Writes bench/results/audience.json.
import "./lib/ts-hooks.mjs";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const { parseAudience, MAX_AUDIENCE_CONDITIONS } = await import("../src/audience/condition.ts");
const { attributeOf, audienceFacts, compileCondition, evaluateAudience } = await import(
	"../src/audience/evaluate.ts"
);
const { recordVisit, countVisits } = await import("../src/audience/visits.ts");
const { languageMatches } = await import("../src/audience/locale.ts");
const { prng } = await import("../test/helpers/prng.ts");

const RUNS = Math.max(5, Number(process.env.RUNS ?? 7));
const PEOPLE = Math.max(200, Number(process.env.PEOPLE ?? 1000));
/** Evaluations per timed run (people cycled). */
const CALLS = Math.max(10_000, Number(process.env.CALLS ?? 200_000));
const TARGET_US = 5;
const SEED = 0x5eed_0016;
const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const DAY = 86_400_000;

const rnd = prng(SEED);
const int = (n) => Math.floor(rnd() * n);
const pick = (xs) => xs[int(xs.length)];

const TIERS = ["bronze", "silver", "gold", "platinum"];
const INTERESTS = Array.from({ length: 40 }, (_, i) => `interest-${i}`);
const LOCALES = ["fr", "fr-FR", "fr-CA", "de-CH", "de-DE", "en-GB", "it-IT", "es"];
const FENCES = Array.from({ length: 60 }, (_, i) => `store-${i}`);
const TAGS = ["grocery", "wine", "bakery", "pharmacy", "express"];
const SKUS = Array.from({ length: 300 }, (_, i) => `sku-${i}`);
const CATEGORIES = Array.from({ length: 30 }, (_, i) => `cat-${i}`);

/**
 * 50 nodes: all of 7 groups. Most people get far into it (the groups are broad), so most of
 * the tree is evaluated: the costly case, not the early-out.
 */
const audienceJson = {
	all: [
		{ attribute: "tier", in: ["silver", "gold", "platinum"] },
		{ attribute: "age", gte: 18 },
		{ attribute: "optIn", eq: true },
		{ attribute: "email", exists: true },
		{ attribute: "country", nin: ["XX", "YY"] },
		{ not: { attribute: "blocked", eq: true } },
		{
			any: [
				{ interest: "interest-1" },
				{ interest: "interest-2" },
				{ interest: "interest-3" },
				{ interest: "interest-4" },
				{ interest: "interest-5" },
				{ interest: "interest-6" },
				{ interest: "interest-7" },
				{ interest: "interest-8" },
				{ interest: "interest-9" },
				{ interest: "interest-0" },
			],
		},
		{ locale: ["fr", "de", "en", "it", "es"] },
		{
			any: [
				{ visits: { tags: ["grocery"] }, withinDays: 30, gte: 2 },
				{ visits: { geofenceIds: ["store-1", "store-2", "store-3"] }, withinDays: 60, gte: 1 },
				{ visits: { tags: ["wine"] }, withinDays: 90, gte: 1 },
				{ visits: {}, withinDays: 7, gte: 1 },
			],
		},
		{ not: { visits: { tags: ["pharmacy"] }, withinDays: 1, gte: 5 } },
		{
			any: [
				{ purchased: { categories: ["cat-1", "cat-2"] }, withinDays: 90 },
				{ purchased: { skus: ["sku-1", "sku-2", "sku-3"] }, withinDays: 30 },
				{ purchased: { categories: ["cat-3"] }, withinDays: 365 },
				{ not: { purchased: { categories: ["cat-29"] }, withinDays: 7 } },
			],
		},
		{
			any: [
				{
					all: [
						{ attribute: "score", gt: 10 },
						{ attribute: "score", lte: 1000 },
					],
				},
				{
					all: [
						{ attribute: "tier", eq: "platinum" },
						{ attribute: "age", lt: 70 },
					],
				},
				{ attribute: "vip", eq: true },
			],
		},
		{ attribute: "city", ne: "Nowhere" },
		{ attribute: "segment", in: ["a", "b", "c", "d", "e", "f", "g", "h"] },
		{ not: { interest: "interest-39" } },
		{ attribute: "lastOrderValue", gte: 0 },
		{ attribute: "score", lt: 100_000 },
		{ attribute: "segment", nin: ["z"] },
		{ not: { locale: ["pt"] } },
	],
};
const count = (c) =>
	1 +
	(c.all ? c.all.reduce((n, k) => n + count(k), 0) : 0) +
	(c.any ? c.any.reduce((n, k) => n + count(k), 0) : 0) +
	(c.not ? count(c.not) : 0);
const parsed = parseAudience(audienceJson);
if (!parsed.ok) throw new Error(`audience refused: ${JSON.stringify(parsed.issues)}`);
const nodes = count(audienceJson);
if (nodes !== MAX_AUDIENCE_CONDITIONS) throw new Error(`the audience has ${nodes} conditions, want 50`);
const audience = parsed.condition;

/** One person as the object stores them: app + CRM attributes, interests, locale, visits, purchases. */
function person() {
	const crm = {
		tier: rnd() < 0.1 ? "bronze" : pick(TIERS.slice(1)),
		age: rnd() < 0.1 ? 16 : 18 + int(60),
		optIn: rnd() < 0.95,
		country: rnd() < 0.03 ? "XX" : pick(["FR", "DE", "CH"]),
		score: int(2000),
		segment: pick(["a", "b", "c", "d", "e", "f", "g", "h", "z"]),
		city: pick(["Paris", "Lyon", "Geneva"]),
		lastOrderValue: int(300),
	};
	const app = { email: rnd() < 0.95 ? "x@example.com" : undefined, theme: "dark", nickname: "n" };
	for (let i = 0; i < 10; i++) app[`pref${i}`] = int(10);
	if (app.email === undefined) delete app.email;
	let visits = [];
	for (let i = 0, n = 1 + int(40); i < n; i++) {
		const id = pick(FENCES);
		const tags = [TAGS[FENCES.indexOf(id) % TAGS.length]];
		const at = NOW - int(90) * DAY;
		visits = recordVisit(visits, id, tags, at, NOW);
	}
	// As the cart keeps them: one mark per SKU and per category, sorted by kind then key.
	const marks = new Map();
	for (let i = 0, n = 10 + int(140); i < n; i++) {
		const m =
			rnd() < 0.7
				? { kind: "sku", key: pick(SKUS), at: NOW - int(365) * DAY }
				: { kind: "category", key: pick(CATEGORIES), at: NOW - int(365) * DAY };
		const k = `${m.kind}\u0000${m.key}`;
		if (!marks.has(k) || marks.get(k).at < m.at) marks.set(k, m);
	}
	const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
	const purchases = [...marks.values()].sort((a, b) => cmp(a.kind, b.kind) || cmp(a.key, b.key));
	return {
		appAttributes: app,
		crmAttributes: crm,
		interests: [
			...(rnd() < 0.8 ? [`interest-${int(10)}`] : []),
			...Array.from({ length: int(8) }, () => pick(INTERESTS)),
		],
		locale: pick(LOCALES),
		visits,
		purchases,
	};
}
const people = Array.from({ length: PEOPLE }, person);
/** A person in the audience through the last alternative of every `any`: all 50 conditions evaluated. */
const everyCondition = (() => {
	const p = person();
	p.crmAttributes = { ...p.crmAttributes, tier: "platinum", age: 40, optIn: true, country: "FR", score: 5 };
	p.crmAttributes.segment = "h";
	p.crmAttributes.vip = true;
	p.appAttributes.email = "x@example.com";
	p.interests = ["interest-0"];
	p.locale = "es";
	// No visit in the last 60 days but the last 7: the visit group is decided by its last alternative.
	p.visits = recordVisit([], "store-40", ["express"], NOW, NOW);
	p.purchases = [{ kind: "category", key: "cat-28", at: NOW - 400 * DAY }];
	return audienceFacts(p, NOW);
})();
const facts = people.map((p) => audienceFacts(p, NOW));

/** The grammar read straight from the JSON, no compilation: the baseline and the oracle. */
function interpret(c, f) {
	if (c.all) return c.all.every((k) => interpret(k, f));
	if (c.any) return c.any.some((k) => interpret(k, f));
	if (c.not) return !interpret(c.not, f);
	if (c.attribute !== undefined) {
		const v = attributeOf(f, c.attribute);
		if (c.in) return v !== undefined && c.in.includes(v);
		if (c.nin) return !c.nin.includes(v);
		if (c.eq !== undefined) return v === c.eq;
		if (c.ne !== undefined) return v !== c.ne;
		if (c.exists !== undefined) return (v !== undefined && v !== null) === c.exists;
		const [op, x] = Object.entries(c).find(([k]) => k !== "attribute");
		if (typeof v !== typeof x) return false;
		return op === "gt" ? v > x : op === "gte" ? v >= x : op === "lt" ? v < x : v <= x;
	}
	if (c.interest !== undefined) return f.interests.includes(c.interest);
	if (c.locale) return f.locale !== null && c.locale.some((t) => languageMatches(t.toLowerCase(), f.locale));
	if (c.visits) {
		const n = countVisits(
			f.visits,
			{
				geofenceIds: c.visits.geofenceIds && new Set(c.visits.geofenceIds),
				tags: c.visits.tags && new Set(c.visits.tags),
			},
			c.withinDays,
			f.today,
		);
		return c.gte !== undefined ? n >= c.gte : n < c.lt;
	}
	return f.purchases.some(
		(m) =>
			(m.kind === "sku" ? c.purchased.skus?.includes(m.key) : c.purchased.categories?.includes(m.key)) &&
			f.now - m.at < c.withinDays * DAY,
	);
}

// Oracle: the compiled evaluator agrees with the interpreter on every person.
let inAudience = 0;
for (const f of facts) {
	const got = evaluateAudience(audience, f).in;
	if (got !== interpret(audience, f)) throw new Error("compiled evaluator and interpreter disagree");
	if (got) inAudience += 1;
}
// How far into the audience evaluation goes: nodes visited, on average.
let visited = 0;
const probe = (c, f) => {
	visited += 1;
	if (c.all) return c.all.every((k) => probe(k, f));
	if (c.any) return c.any.some((k) => probe(k, f));
	if (c.not) return !probe(c.not, f);
	return interpret(c, f);
};
for (const f of facts) probe(audience, f);
const avgVisited = visited / facts.length;

const median = (xs) => {
	const s = [...xs].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
let checksum = 0;
/**
 * Microseconds per call of `fn(i)` over CALLS calls. CPU time of this process (user +
 * system), not wall time: the machine may be shared, and time spent descheduled is not the
 * evaluator's; wall time is kept alongside (`wallUs`).
 */
const wallUs = {};
function perCallUs(fn, calls = CALLS, label = null) {
	const c0 = process.cpuUsage();
	const t0 = process.hrtime.bigint();
	for (let i = 0; i < calls; i++) checksum += fn(i % PEOPLE) ? 1 : 0;
	const wall = Number(process.hrtime.bigint() - t0) / 1000 / calls;
	const c = process.cpuUsage(c0);
	if (label) {
		wallUs[label] ??= [];
		wallUs[label].push(wall);
	}
	return (c.user + c.system) / calls;
}

/**
 * One decision's cost for each person (facts made, audience evaluated): the fastest of 5
 * batches of 20 (the fastest filters out the moments the process was descheduled).
 */
function perPersonUs() {
	const out = [];
	for (let i = 0; i < PEOPLE; i++) {
		let best = Number.POSITIVE_INFINITY;
		for (let b = 0; b < 5; b++) {
			const t0 = process.hrtime.bigint();
			for (let r = 0; r < 20; r++)
				checksum += evaluateAudience(audience, audienceFacts(people[i], NOW)).in ? 1 : 0;
			best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000 / 20);
		}
		out.push(best);
	}
	return out.sort((a, b) => a - b);
}

if (process.env.PROFILE_CHILDREN) {
	for (const [i, child] of audience.all.entries()) {
		const node = compileCondition(child, ["x"]);
		for (const f of facts) node(f);
		const t0 = process.hrtime.bigint();
		for (let r = 0; r < 50; r++) for (const f of facts) node(f);
		const t1 = process.hrtime.bigint();
		const one = facts[0];
		for (let r = 0; r < 50_000; r++) node(one);
		console.log(
			i,
			JSON.stringify(child).slice(0, 60),
			(Number(t1 - t0) / 50 / facts.length).toFixed(0),
			"ns;",
			(Number(process.hrtime.bigint() - t1) / 50_000).toFixed(0),
			"ns one person",
		);
	}
}
if (!evaluateAudience(audience, everyCondition).in) throw new Error("the worst-case person should be in");
const contenders = {
	"evaluate (compiled)": (i) => evaluateAudience(audience, facts[i]).in,
	"evaluate, all 50 conditions": () => evaluateAudience(audience, everyCondition).in,
	"facts + evaluate": (i) => evaluateAudience(audience, audienceFacts(people[i], NOW)).in,
	"interpreter (baseline)": (i) => interpret(audience, facts[i]),
};
const compileCalls = Math.max(2_000, CALLS / 50);
const compileOnce = () => {
	const r = parseAudience(audienceJson);
	return r.ok && compileCondition(r.condition, ["audience"]) !== null;
};

// Warm-up, then RUNS timed runs with the contenders alternating within each run.
for (const fn of Object.values(contenders)) perCallUs(fn);
perCallUs(compileOnce, compileCalls);
const runs = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
const compileRuns = [];
for (let r = 0; r < RUNS; r++) {
	for (const [k, fn] of Object.entries(contenders)) runs[k].push(perCallUs(fn, CALLS, k));
	compileRuns.push(perCallUs(compileOnce, compileCalls));
}
const round = (x, d = 3) => Number(x.toFixed(d));
const medians = Object.fromEntries(Object.entries(runs).map(([k, xs]) => [k, median(xs)]));
const results = Object.entries(runs).map(([k, xs]) => ({
	what: k,
	medianUs: round(medians[k]),
	ratioToCompiled: round(medians[k] / medians["evaluate (compiled)"], 2),
	runsUs: xs.map((x) => round(x)),
}));
const compileMedianUs = median(compileRuns);
const people_ = perPersonUs();
const quantile = (q) => people_[Math.min(people_.length - 1, Math.floor(q * people_.length))];
const perPerson = {
	medianUs: round(quantile(0.5)),
	p95Us: round(quantile(0.95)),
	maxUs: round(people_[people_.length - 1]),
};
const decisionUs = perPerson.medianUs;
for (const r of results) r.wallMedianUs = round(median(wallUs[r.what]));

const report = {
	benchmark: "audience: evaluation of a 50-condition audience per decision",
	command: "npm run bench:audience",
	date: new Date().toISOString(),
	environment: {
		node: process.version,
		platform: `${process.platform} ${process.arch}`,
		cpu: os.cpus()[0]?.model ?? "unknown",
		cpus: os.cpus().length,
		loadAverage1m: round(os.loadavg()[0], 2),
	},
	workload: {
		conditions: nodes,
		people: PEOPLE,
		callsPerRun: CALLS,
		runs: RUNS,
		seed: SEED,
		inAudiencePercent: round((100 * inAudience) / PEOPLE, 1),
		avgConditionsEvaluated: round(avgVisited, 1),
	},
	results,
	perDecisionAcrossPeople: perPerson,
	parseAndCompileMedianUs: round(compileMedianUs, 2),
	targetUs: TARGET_US,
	targetMet: decisionUs < TARGET_US,
	checksum,
};

const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, "results"), { recursive: true });
writeFileSync(join(here, "results", "audience.json"), `${JSON.stringify(report, null, "\t")}\n`);

console.log(
	`${nodes}-condition audience, ${PEOPLE} people (${report.workload.inAudiencePercent}% in, ${report.workload.avgConditionsEvaluated} conditions evaluated on average); ${CALLS} calls a run, median of ${RUNS} runs; ${report.environment.node}, ${report.environment.cpu}`,
);
console.table(
	Object.fromEntries(
		results.map((r) => [
			r.what,
			{ "CPU µs/decision (median)": r.medianUs, "wall µs": r.wallMedianUs, "x compiled": r.ratioToCompiled },
		]),
	),
);
console.log(`parse + compile (once per campaign load): ${report.parseAndCompileMedianUs} µs (median)`);
console.log(
	`one decision (facts + evaluate) across people: median ${perPerson.medianUs} µs, p95 ${perPerson.p95Us} µs, max ${perPerson.maxUs} µs (load average ${report.environment.loadAverage1m})`,
);
console.log(
	`target: median decision < ${TARGET_US} µs: ${report.targetMet ? "met" : "MISSED"} (${round(decisionUs)} µs)`,
);
console.log("written: bench/results/audience.json");
if (!report.targetMet) process.exitCode = 1;
