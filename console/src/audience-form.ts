/**
 * The audience builder's tree: a campaign's `audience` condition (API v1.2, docs/audiences.md)
 * as editable nodes, back to condition JSON, and the operations the builder offers (add,
 * remove, move, nest, change kind). Pure (test/unit/console-audience.test.ts).
 *
 * Values are edited as text (lists comma-separated, numbers as typed) and converted when the
 * condition is built: a half-typed value is sent as it is, for the service's own parser
 * (src/audience/condition.ts, bundled in) to name at its path. A condition the builder cannot
 * show field by field (a list value containing a comma, an unknown shape) is kept as a `raw`
 * node, edited as JSON, so every audience round-trips unchanged.
 */
import { type AudienceIssue, parseAudience } from "../../src/audience/condition.js";

export const ATTRIBUTE_OPS = ["in", "nin", "eq", "ne", "gt", "gte", "lt", "lte", "exists"] as const;
export type AttributeOp = (typeof ATTRIBUTE_OPS)[number];
export type ValueType = "string" | "number" | "boolean";
export const GROUP_KINDS = ["all", "any", "not"] as const;
export type GroupKind = (typeof GROUP_KINDS)[number];
export const LEAF_KINDS = ["attribute", "interest", "locale", "visits", "purchased"] as const;
export type LeafKind = (typeof LEAF_KINDS)[number];
export type NodeKind = GroupKind | LeafKind | "raw";

interface Base {
	/** Stable within the page (keys, focus, error placement); never sent. */
	id: string;
}
export interface GroupNode extends Base {
	kind: GroupKind;
	/** A `not` has at most one child. */
	children: AudienceNode[];
}
export interface AttributeNode extends Base {
	kind: "attribute";
	attribute: string;
	op: AttributeOp;
	/** Text; a comma-separated list for in/nin; "true"/"false" for exists. */
	value: string;
	valueType: ValueType;
}
export interface InterestNode extends Base {
	kind: "interest";
	interest: string;
}
export interface LocaleNode extends Base {
	kind: "locale";
	/** Comma-separated language tags. */
	locales: string;
}
export interface VisitsNode extends Base {
	kind: "visits";
	geofenceIds: string;
	tags: string;
	withinDays: string;
	cmp: "gte" | "lt";
	count: string;
}
export interface PurchasedNode extends Base {
	kind: "purchased";
	skus: string;
	categories: string;
	withinDays: string;
}
/** A condition kept as JSON text (not shown field by field). */
export interface RawNode extends Base {
	kind: "raw";
	json: string;
}
export type AudienceNode =
	| GroupNode
	| AttributeNode
	| InterestNode
	| LocaleNode
	| VisitsNode
	| PurchasedNode
	| RawNode;

let seq = 0;
const nextId = () => `an${++seq}`;

/** A fresh node of a kind, with the values a retailer most often starts from. */
export function newNode(kind: GroupKind | LeafKind): AudienceNode {
	const id = nextId();
	switch (kind) {
		case "all":
		case "any":
		case "not":
			return { id, kind, children: [] };
		case "attribute":
			return { id, kind, attribute: "", op: "in", value: "", valueType: "string" };
		case "interest":
			return { id, kind, interest: "" };
		case "locale":
			return { id, kind, locales: "" };
		case "visits":
			return { id, kind, geofenceIds: "", tags: "", withinDays: "30", cmp: "gte", count: "2" };
		case "purchased":
			return { id, kind, skus: "", categories: "", withinDays: "90" };
	}
}

const list = (s: string) =>
	s
		.split(",")
		.map((x) => x.trim())
		.filter(Boolean);
/** A number when the text is one, else the text (the parser then names the field). */
const num = (s: string): number | string => {
	const v = s.trim();
	return v !== "" && Number.isFinite(Number(v)) ? Number(v) : v;
};
function scalar(s: string, type: ValueType): string | number | boolean {
	if (type === "number") return num(s);
	if (type === "boolean") {
		const v = s.trim().toLowerCase();
		return v === "true" ? true : v === "false" ? false : s.trim();
	}
	return s;
}

/** The condition JSON of a tree (null: no audience, everyone). */
export function toCondition(node: AudienceNode | null): unknown {
	if (!node) return null;
	switch (node.kind) {
		case "all":
		case "any":
			return { [node.kind]: node.children.map(toCondition) };
		case "not":
			return { not: node.children[0] ? toCondition(node.children[0]) : null };
		case "attribute": {
			const value =
				node.op === "exists"
					? node.value.trim() !== "false"
					: node.op === "in" || node.op === "nin"
						? list(node.value).map((x) => scalar(x, node.valueType))
						: scalar(node.valueType === "string" ? node.value : node.value.trim(), node.valueType);
			return { attribute: node.attribute.trim(), [node.op]: value };
		}
		case "interest":
			return { interest: node.interest.trim() };
		case "locale":
			return { locale: list(node.locales) };
		case "visits": {
			const where: Record<string, string[]> = {};
			if (list(node.geofenceIds).length) where.geofenceIds = list(node.geofenceIds);
			if (list(node.tags).length) where.tags = list(node.tags);
			return { visits: where, withinDays: num(node.withinDays), [node.cmp]: num(node.count) };
		}
		case "purchased": {
			const what: Record<string, string[]> = {};
			if (list(node.skus).length) what.skus = list(node.skus);
			if (list(node.categories).length) what.categories = list(node.categories);
			return { purchased: what, withinDays: num(node.withinDays) };
		}
		case "raw":
			try {
				return JSON.parse(node.json);
			} catch {
				return node.json;
			}
	}
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
	v !== null && typeof v === "object" && !Array.isArray(v);
const keysAre = (o: Record<string, unknown>, allowed: string[]) =>
	Object.keys(o).every((k) => allowed.includes(k));
const strings = (v: unknown): v is string[] =>
	Array.isArray(v) && v.every((x) => typeof x === "string" && x.trim() === x && x !== "" && !x.includes(","));
const numText = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? String(v) : null);

/** A tree for a condition (any JSON): field by field where it can be shown so, else `raw`. */
export function fromCondition(c: unknown): AudienceNode | null {
	if (c === null || c === undefined) return null;
	return node(c);
}

function raw(c: unknown): RawNode {
	return { id: nextId(), kind: "raw", json: JSON.stringify(c, null, 2) ?? "" };
}

function node(c: unknown): AudienceNode {
	if (!isRecord(c)) return raw(c);
	const id = nextId();
	if (keysAre(c, ["all"]) && Array.isArray(c.all)) return { id, kind: "all", children: c.all.map(node) };
	if (keysAre(c, ["any"]) && Array.isArray(c.any)) return { id, kind: "any", children: c.any.map(node) };
	if (keysAre(c, ["not"]) && "not" in c && isRecord(c.not))
		return { id, kind: "not", children: [node(c.not)] };
	if (typeof c.attribute === "string" && c.attribute.trim() === c.attribute) {
		const ops = ATTRIBUTE_OPS.filter((op) => c[op] !== undefined);
		const op = ops[0];
		if (ops.length === 1 && op && keysAre(c, ["attribute", op])) {
			const v = c[op];
			if (op === "exists") {
				if (typeof v === "boolean")
					return {
						id,
						kind: "attribute",
						attribute: c.attribute,
						op,
						value: String(v),
						valueType: "boolean",
					};
			} else if (op === "in" || op === "nin") {
				const values = Array.isArray(v) ? v : [];
				const type = typeof values[0];
				const same = values.length > 0 && values.every((x) => typeof x === type);
				const fits =
					type === "string"
						? strings(values) && values.every((x) => (x as string).trim() !== "")
						: (type === "number" || type === "boolean") &&
							values.every((x) => String(x) === String(scalar(String(x), type as ValueType)));
				if (same && fits)
					return {
						id,
						kind: "attribute",
						attribute: c.attribute,
						op,
						value: values.join(", "),
						valueType: type as ValueType,
					};
			} else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
				const type = typeof v as ValueType;
				// A string that would read back as something else (padded) stays raw.
				if (type !== "string" || typeof v !== "string" || v.length > 0)
					return { id, kind: "attribute", attribute: c.attribute, op, value: String(v), valueType: type };
			}
		}
		return raw(c);
	}
	if (
		keysAre(c, ["interest"]) &&
		typeof c.interest === "string" &&
		c.interest.trim() === c.interest &&
		c.interest
	)
		return { id, kind: "interest", interest: c.interest };
	if (keysAre(c, ["locale"]) && strings(c.locale) && c.locale.length > 0)
		return { id, kind: "locale", locales: c.locale.join(", ") };
	if (isRecord(c.visits) && keysAre(c.visits, ["geofenceIds", "tags"])) {
		const cmp = c.gte !== undefined ? "gte" : "lt";
		const w = c.visits;
		const days = numText(c.withinDays);
		const count = numText(c[cmp]);
		if (
			keysAre(c, ["visits", "withinDays", cmp]) &&
			days !== null &&
			count !== null &&
			(w.geofenceIds === undefined || (strings(w.geofenceIds) && w.geofenceIds.length > 0)) &&
			(w.tags === undefined || (strings(w.tags) && w.tags.length > 0))
		)
			return {
				id,
				kind: "visits",
				geofenceIds: ((w.geofenceIds as string[] | undefined) ?? []).join(", "),
				tags: ((w.tags as string[] | undefined) ?? []).join(", "),
				withinDays: days,
				cmp,
				count,
			};
		return raw(c);
	}
	if (isRecord(c.purchased) && keysAre(c.purchased, ["skus", "categories"])) {
		const p = c.purchased;
		const days = numText(c.withinDays);
		if (
			keysAre(c, ["purchased", "withinDays"]) &&
			days !== null &&
			(p.skus === undefined || (strings(p.skus) && p.skus.length > 0)) &&
			(p.categories === undefined || (strings(p.categories) && p.categories.length > 0))
		)
			return {
				id,
				kind: "purchased",
				skus: ((p.skus as string[] | undefined) ?? []).join(", "),
				categories: ((p.categories as string[] | undefined) ?? []).join(", "),
				withinDays: days,
			};
	}
	return raw(c);
}

/** The tree of the editor's audience JSON text ("" is everyone; text that is not JSON is raw). */
export function treeFromText(text: string): AudienceNode | null {
	if (!text.trim()) return null;
	try {
		return fromCondition(JSON.parse(text));
	} catch {
		return { id: nextId(), kind: "raw", json: text };
	}
}

/** The editor's audience JSON text of a tree. */
export function treeToText(tree: AudienceNode | null): string {
	return tree ? JSON.stringify(toCondition(tree), null, 2) : "";
}

// ---- operations (each returns a new tree; the input is never changed) ----

/** `f` over every node, children first (so what `f` puts in is not visited again). */
function mapTree(tree: AudienceNode, f: (n: AudienceNode) => AudienceNode): AudienceNode {
	return f("children" in tree ? { ...tree, children: tree.children.map((c) => mapTree(c, f)) } : tree);
}

/** Whether a group can take another child (`not` takes one). */
export function canAdd(group: AudienceNode): group is GroupNode {
	return "children" in group && (group.kind !== "not" || group.children.length === 0);
}

/** Adds `child` at the end of group `parentId` (a `not` takes one child). */
export function addChild(tree: AudienceNode, parentId: string, child: AudienceNode): AudienceNode {
	return mapTree(tree, (n) =>
		n.id === parentId && canAdd(n) ? { ...n, children: [...n.children, child] } : n,
	);
}

/** Removes node `id` and what is under it; removing the root leaves no audience (null). */
export function removeNode(tree: AudienceNode, id: string): AudienceNode | null {
	if (tree.id === id) return null;
	return mapTree(tree, (n) =>
		"children" in n ? { ...n, children: n.children.filter((c) => c.id !== id) } : n,
	);
}

/** Moves node `id` one place up (-1) or down (+1) among its siblings; unchanged at an end. */
export function moveNode(tree: AudienceNode, id: string, delta: -1 | 1): AudienceNode {
	return mapTree(tree, (n) => {
		if (!("children" in n)) return n;
		const i = n.children.findIndex((c) => c.id === id);
		const j = i + delta;
		if (i < 0 || j < 0 || j >= n.children.length) return n;
		const children = [...n.children];
		[children[i], children[j]] = [children[j] as AudienceNode, children[i] as AudienceNode];
		return { ...n, children };
	});
}

/** Puts node `id` inside a new group of `kind` (nesting), where the node was. */
export function wrapNode(tree: AudienceNode, id: string, kind: GroupKind): AudienceNode {
	const wrap = (n: AudienceNode): AudienceNode => ({ id: nextId(), kind, children: [n] });
	if (tree.id === id) return wrap(tree);
	return mapTree(tree, (n) =>
		"children" in n ? { ...n, children: n.children.map((c) => (c.id === id ? wrap(c) : c)) } : n,
	);
}

/** Replaces the fields of node `id` (not its kind: see {@link changeKind}). */
export function updateNode<N extends AudienceNode>(
	tree: AudienceNode,
	id: string,
	patch: Partial<Omit<N, "id" | "kind">>,
): AudienceNode {
	return mapTree(tree, (n) => (n.id === id ? ({ ...n, ...patch } as AudienceNode) : n));
}

/**
 * Changes node `id` to another kind: between groups the children are kept (a `not` keeps the
 * first); a leaf starts afresh.
 */
export function changeKind(tree: AudienceNode, id: string, kind: GroupKind | LeafKind): AudienceNode {
	return mapTree(tree, (n) => {
		if (n.id !== id || n.kind === kind) return n;
		const fresh = newNode(kind);
		if ("children" in fresh && "children" in n)
			return { ...fresh, id, children: kind === "not" ? n.children.slice(0, 1) : n.children };
		return { ...fresh, id };
	});
}

/** Nodes in the tree (combinators included), as the service counts them. */
export function countNodes(tree: AudienceNode | null): number {
	if (!tree) return 0;
	return 1 + ("children" in tree ? tree.children.reduce((s, c) => s + countNodes(c), 0) : 0);
}

/** Each node with its path in the condition JSON (`["all", 1, "not"]`) and its depth (root 1). */
export function nodePaths(
	tree: AudienceNode | null,
): Map<string, { path: (string | number)[]; depth: number }> {
	const out = new Map<string, { path: (string | number)[]; depth: number }>();
	const visit = (n: AudienceNode, path: (string | number)[], depth: number) => {
		out.set(n.id, { path, depth });
		if (n.kind === "all" || n.kind === "any")
			n.children.forEach((c, i) => {
				visit(c, [...path, n.kind, i], depth + 1);
			});
		else if (n.kind === "not" && n.children[0]) visit(n.children[0], [...path, "not"], depth + 1);
	};
	if (tree) visit(tree, [], 1);
	return out;
}

/**
 * Problems by node: each `path` (relative to the audience, as the parser and the API's 422
 * name them, the API's with `audience.` in front) goes to the deepest node it is under, with
 * the rest of the path in front of the message (`in: Too small…`). Problems no node holds (a
 * path into a missing `not`) go to the nearest node above.
 */
export function problemsByNode(
	tree: AudienceNode | null,
	problems: { path: (string | number)[]; message: string }[],
): Map<string, string[]> {
	const out = new Map<string, string[]>();
	if (!tree) return out;
	const paths = [...nodePaths(tree)];
	for (const p of problems) {
		let best: { id: string; len: number } | null = null;
		for (const [id, { path }] of paths)
			if (path.length <= p.path.length && path.every((seg, i) => String(seg) === String(p.path[i])))
				if (!best || path.length > best.len) best = { id, len: path.length };
		if (!best) continue;
		const rest = p.path.slice(best.len).join(".");
		const list = out.get(best.id) ?? [];
		list.push(rest ? `${rest}: ${p.message}` : p.message);
		out.set(best.id, list);
	}
	return out;
}

/** The service's own parser over the tree: its problems (paths relative to the audience). */
export function checkTree(tree: AudienceNode | null): AudienceIssue[] {
	if (!tree) return [];
	const r = parseAudience(toCondition(tree));
	return r.ok ? [] : r.issues;
}

/** The API's 422 problems under `audience` (paths like `audience.all.0.in`), made relative. */
export function audienceProblems(errors: Map<string, string>): { path: string[]; message: string }[] {
	const out: { path: string[]; message: string }[] = [];
	for (const [k, message] of errors) {
		if (k === "audience") out.push({ path: [], message });
		else if (k.startsWith("audience.")) out.push({ path: k.slice("audience.".length).split("."), message });
	}
	return out;
}

/** User ids typed one a line or comma-separated: trimmed, blank and repeated ones dropped. */
export function parseUserIds(text: string): string[] {
	return [
		...new Set(
			text
				.split(/[\n,]/)
				.map((s) => s.trim())
				.filter(Boolean),
		),
	];
}
