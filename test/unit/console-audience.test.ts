/** The console's audience builder tree <-> condition JSON and its operations (console/src/audience-form.ts). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
	type AttributeNode,
	type AudienceNode,
	addChild,
	audienceProblems,
	changeKind,
	checkTree,
	countNodes,
	fromCondition,
	moveNode,
	newNode,
	nodePaths,
	parseUserIds,
	problemsByNode,
	removeNode,
	toCondition,
	treeFromText,
	treeToText,
	updateNode,
	wrapNode,
} from "../../console/src/audience-form.js";
import { parseAudience } from "../../src/audience/condition.js";

const GOLD_WINE_FR = {
	all: [
		{ attribute: "tier", in: ["gold", "platinum"] },
		{ interest: "wine" },
		{ locale: ["fr", "de-CH"] },
		{
			any: [
				{ attribute: "age", gte: 18 },
				{ attribute: "verified", exists: true },
			],
		},
		{ not: { purchased: { categories: ["beer"] }, withinDays: 90 } },
		{ visits: { tags: ["grocery"], geofenceIds: ["store-1"] }, withinDays: 30, gte: 2 },
		{ visits: { tags: ["grocery"] }, withinDays: 7, lt: 1 },
		{ attribute: "score", nin: [1, 2.5] },
		{ attribute: "vip", eq: false },
		{ attribute: "city", ne: " Paris " },
		{ purchased: { skus: ["sku-1"], categories: ["wine"] }, withinDays: 365 },
	],
};

describe("console audience builder", () => {
	it("shows each kind field by field and builds the same condition back", () => {
		const tree = fromCondition(GOLD_WINE_FR);
		expect(toCondition(tree)).toEqual(GOLD_WINE_FR);
		expect(JSON.parse(treeToText(tree))).toEqual(GOLD_WINE_FR);
		// Nothing fell back to raw JSON.
		const kinds = new Set<string>();
		const visit = (n: AudienceNode) => {
			kinds.add(n.kind);
			if ("children" in n) n.children.forEach(visit);
		};
		if (tree) visit(tree);
		expect(kinds.has("raw")).toBe(false);
		expect(kinds).toEqual(
			new Set(["all", "any", "not", "attribute", "interest", "locale", "visits", "purchased"]),
		);
		const first = tree && "children" in tree ? (tree.children[0] as AttributeNode) : null;
		expect(first).toMatchObject({ kind: "attribute", attribute: "tier", op: "in", value: "gold, platinum" });
	});

	it("keeps what it cannot show field by field as raw JSON, unchanged", () => {
		const odd = { all: [{ attribute: "tag", in: ["a,b", "c"] }, { interest: "x", extra: 1 }, 42] };
		const tree = fromCondition(odd);
		expect(tree && "children" in tree && tree.children.map((c) => c.kind)).toEqual(["raw", "raw", "raw"]);
		expect(toCondition(tree)).toEqual(odd);
		expect(treeFromText("")).toBeNull();
		expect(toCondition(treeFromText("{nope"))).toBe("{nope");
		expect(treeToText(null)).toBe("");
	});

	it("round-trips any valid audience (property)", () => {
		const word = fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/);
		const leaf = fc.oneof(
			fc.record({ attribute: word, in: fc.array(word, { minLength: 1, maxLength: 3 }) }),
			fc.record({ attribute: word, gte: fc.integer({ min: -1000, max: 1000 }) }),
			fc.record({ attribute: word, eq: fc.boolean() }),
			fc.record({ attribute: word, exists: fc.boolean() }),
			fc.record({ interest: word }),
			fc.record({ locale: fc.constantFrom(["fr"], ["fr", "de-CH"], ["en-GB"]) }),
			fc.record({
				visits: fc.record({ tags: fc.array(word, { minLength: 1, maxLength: 2 }) }),
				withinDays: fc.integer({ min: 1, max: 90 }),
				lt: fc.integer({ min: 1, max: 10 }),
			}),
			fc.record({
				purchased: fc.record({ skus: fc.array(word, { minLength: 1, maxLength: 2 }) }),
				withinDays: fc.integer({ min: 1, max: 365 }),
			}),
		);
		const { cond } = fc.letrec((tie) => ({
			cond: fc.oneof(
				{ depthSize: "small", maxDepth: 3 },
				leaf,
				fc.record({ all: fc.array(tie("cond"), { maxLength: 3 }) }),
				fc.record({ any: fc.array(tie("cond"), { maxLength: 3 }) }),
				fc.record({ not: tie("cond") }),
			),
		}));
		fc.assert(
			fc.property(cond, (c) => {
				expect(parseAudience(c).ok).toBe(true);
				const tree = fromCondition(c);
				expect(toCondition(tree)).toEqual(c);
				expect(checkTree(tree)).toEqual([]);
				expect(countNodes(tree)).toBeGreaterThanOrEqual(1);
			}),
			{ numRuns: 300 },
		);
	});

	it("adds, nests, moves, changes kind and removes", () => {
		let tree: AudienceNode | null = newNode("all");
		const root = tree.id;
		const a = newNode("attribute");
		const b = newNode("interest");
		tree = addChild(tree, root, a);
		tree = addChild(tree, root, b);
		tree = updateNode(tree, a.id, { attribute: "tier", value: "gold" });
		tree = updateNode(tree, b.id, { interest: "wine" });
		expect(toCondition(tree)).toEqual({ all: [{ attribute: "tier", in: ["gold"] }, { interest: "wine" }] });

		tree = moveNode(tree, b.id, -1);
		expect(toCondition(tree)).toEqual({ all: [{ interest: "wine" }, { attribute: "tier", in: ["gold"] }] });
		// At an end: unchanged.
		expect(toCondition(moveNode(tree, b.id, -1))).toEqual(toCondition(tree));

		tree = wrapNode(tree, b.id, "not");
		expect(toCondition(tree)).toEqual({
			all: [{ not: { interest: "wine" } }, { attribute: "tier", in: ["gold"] }],
		});
		// A not takes one child only.
		const notId = tree && "children" in tree ? (tree.children[0]?.id ?? "") : "";
		expect(toCondition(addChild(tree, notId, newNode("interest")))).toEqual(toCondition(tree));

		// all -> any keeps the children; a leaf changed to another kind starts afresh.
		tree = changeKind(tree, root, "any");
		expect(toCondition(tree)).toEqual({
			any: [{ not: { interest: "wine" } }, { attribute: "tier", in: ["gold"] }],
		});
		tree = changeKind(tree, a.id, "locale");
		tree = updateNode(tree, a.id, { locales: "fr, de-CH" });
		expect(toCondition(tree)).toEqual({ any: [{ not: { interest: "wine" } }, { locale: ["fr", "de-CH"] }] });

		tree = removeNode(tree, b.id);
		expect(toCondition(tree)).toEqual({ any: [{ not: null }, { locale: ["fr", "de-CH"] }] });
		// The parser names the emptied not at its path.
		expect(checkTree(tree).map((i) => i.path)).toEqual([["any", 0, "not"]]);
		expect(tree && removeNode(tree, root)).toBeNull();
	});

	it("converts typed values: numbers, booleans, lists, exists", () => {
		const n = newNode("attribute");
		const v = (patch: Partial<AttributeNode>) => toCondition(updateNode(n, n.id, patch));
		expect(v({ attribute: " age ", op: "gte", value: " 18 ", valueType: "number" })).toEqual({
			attribute: "age",
			gte: 18,
		});
		expect(v({ attribute: "age", op: "gte", value: "18x", valueType: "number" })).toEqual({
			attribute: "age",
			gte: "18x",
		});
		expect(v({ attribute: "vip", op: "eq", value: "true", valueType: "boolean" })).toEqual({
			attribute: "vip",
			eq: true,
		});
		expect(v({ attribute: "n", op: "in", value: "1, 2,,3", valueType: "number" })).toEqual({
			attribute: "n",
			in: [1, 2, 3],
		});
		expect(v({ attribute: "x", op: "exists", value: "false" })).toEqual({ attribute: "x", exists: false });
		expect(v({ attribute: "x", op: "exists", value: "" })).toEqual({ attribute: "x", exists: true });
		const visits = newNode("visits");
		expect(
			toCondition(
				updateNode(visits, visits.id, { tags: "grocery", cmp: "lt", count: "3", withinDays: "14" }),
			),
		).toEqual({
			visits: { tags: ["grocery"] },
			withinDays: 14,
			lt: 3,
		});
	});

	it("places the parser's and the API's problems at the node their path names", () => {
		const tree = fromCondition({
			all: [{ attribute: "tier", in: [] }, { not: { visits: {}, withinDays: 500, gte: 1 } }],
		});
		const paths = nodePaths(tree);
		const idAt = (p: string) => [...paths].find(([, v]) => v.path.join(".") === p)?.[0];
		const issues = checkTree(tree);
		expect(issues.length).toBeGreaterThan(0);
		const byNode = problemsByNode(tree, issues);
		// The empty `in` list: at the attribute node, its field named.
		expect(byNode.get(idAt("all.0") ?? "")?.some((m) => m.startsWith("in: "))).toBe(true);
		// The visit window: at the visits node under the not.
		expect(byNode.get(idAt("all.1.not") ?? "")?.some((m) => m.startsWith("withinDays: "))).toBe(true);
		expect(paths.get(idAt("all.1.not") ?? "")?.depth).toBe(3);

		// The API's 422 paths start with `audience.`.
		const api = audienceProblems(
			new Map([
				["audience.all.0.in", "Too small"],
				["audience", "whole"],
				["name", "not mine"],
			]),
		);
		expect(api).toEqual([
			{ path: ["all", "0", "in"], message: "Too small" },
			{ path: [], message: "whole" },
		]);
		const placed = problemsByNode(tree, api);
		expect(placed.get(idAt("all.0") ?? "")).toEqual(["in: Too small"]);
		expect(placed.get(tree?.id ?? "")).toEqual(["whole"]);
	});

	it("reports the size and depth bounds as the service does", () => {
		let deep: AudienceNode = newNode("interest");
		for (let i = 0; i < 5; i++) deep = wrapNode(deep, deep.id, "not");
		expect(checkTree(deep).map((i) => i.code)).toContain("audience_too_deep");
		let wide: AudienceNode = newNode("any");
		for (let i = 0; i < 50; i++) {
			const leaf = newNode("interest");
			wide = updateNode(addChild(wide, wide.id, leaf), leaf.id, { interest: `i${i}` });
		}
		expect(countNodes(wide)).toBe(51);
		expect(checkTree(wide).map((i) => i.code)).toEqual(["audience_too_large"]);
	});

	it("reads the test panel's user ids", () => {
		expect(parseUserIds(" u1\nu2, u3\n\nu1 ")).toEqual(["u1", "u2", "u3"]);
		expect(parseUserIds("  ")).toEqual([]);
	});
});
