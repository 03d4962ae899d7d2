/**
 * A small, eval-free subset of Liquid for push titles and bodies: `{{ path }}` and
 * `{{ path | filter: "arg" | ... }}`. Workers forbid eval, and offers need nothing
 * more than variable lookup with a few filters, so this stays tiny and total: a
 * template that parses always renders, and a missing value renders as "".
 *
 * Filters: `default: "x"` (when empty or missing), `upcase`, `downcase`, `capitalize`.
 *
 * Every expression renders at most {@link MAX_VALUE_CHARS} characters, control characters
 * removed: a person's attributes cannot blow a push past its size limit, and the worst
 * case is known when the campaign is saved ({@link renderWorstCase}).
 */

import { AppError } from "../errors.js";

/** The most characters one `{{ expression }}` renders. */
export const MAX_VALUE_CHARS = 64;

type Filter = { name: string; arg: string | null };
type Part = { kind: "text"; text: string } | { kind: "expr"; path: string[]; filters: Filter[] };

/** A parsed template, reusable across renders. */
export interface Template {
	readonly source: string;
	readonly parts: readonly Part[];
}

/** Stable codes of {@link TemplateError}. */
export type TemplateErrorCode = "unclosed_tag" | "bad_expression" | "unknown_filter";

/**
 * Thrown by {@link parseTemplate}; `code` is stable. Status 422: a template is part of a
 * campaign body (the campaign schema turns it into a field problem of `validation_failed`).
 */
export class TemplateError extends AppError {
	declare readonly code: TemplateErrorCode;
	override readonly name = "TemplateError";
	constructor(code: TemplateErrorCode, message: string) {
		super(code, 422, message);
	}
}

const FILTERS = new Set(["default", "upcase", "downcase", "capitalize"]);
const PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const FILTER = /^([a-z_]+)(?:\s*:\s*"((?:[^"\\]|\\.)*)")?$/;

/** Parses a template once; throws {@link TemplateError} on bad syntax. */
export function parseTemplate(source: string): Template {
	const parts: Part[] = [];
	let i = 0;
	while (i < source.length) {
		const open = source.indexOf("{{", i);
		if (open < 0) {
			parts.push({ kind: "text", text: source.slice(i) });
			break;
		}
		if (open > i) parts.push({ kind: "text", text: source.slice(i, open) });
		const close = source.indexOf("}}", open + 2);
		if (close < 0) throw new TemplateError("unclosed_tag", `"{{" at ${open} is never closed`);
		parts.push(parseExpression(source.slice(open + 2, close)));
		i = close + 2;
	}
	return { source, parts };
}

function parseExpression(inner: string): Part {
	const [head, ...rest] = splitPipes(inner);
	const path = (head ?? "").trim();
	if (!PATH.test(path)) throw new TemplateError("bad_expression", `"${path}" is not a variable path`);
	const filters = rest.map((raw) => {
		const m = FILTER.exec(raw.trim());
		if (!m?.[1]) throw new TemplateError("bad_expression", `"${raw.trim()}" is not a filter`);
		if (!FILTERS.has(m[1])) throw new TemplateError("unknown_filter", `unknown filter "${m[1]}"`);
		return { name: m[1], arg: m[2] === undefined ? null : m[2].replace(/\\(.)/g, "$1") };
	});
	return { kind: "expr", path: path.split("."), filters };
}

/** Splits on `|` outside double-quoted strings. */
function splitPipes(s: string): string[] {
	const out: string[] = [];
	let cur = "";
	let quoted = false;
	for (let i = 0; i < s.length; i++) {
		const c = s[i];
		if (c === "\\" && quoted) {
			cur += c + (s[i + 1] ?? "");
			i++;
		} else if (c === '"') {
			quoted = !quoted;
			cur += c;
		} else if (c === "|" && !quoted) {
			out.push(cur);
			cur = "";
		} else cur += c;
	}
	out.push(cur);
	return out;
}

/** Renders a parsed template over `vars`; only own, plain data properties are read. */
export function renderTemplate(t: Template, vars: Record<string, unknown>): string {
	let out = "";
	for (const p of t.parts) {
		if (p.kind === "text") out += p.text;
		else out += bound(applyFilters(lookup(vars, p.path), p.filters));
	}
	return out;
}

/**
 * The longest UTF-8 rendering possible: every expression at its maximum length in a
 * 3-byte character (no UTF-16 code unit takes more, and none needs JSON escaping).
 */
export function renderWorstCase(t: Template): string {
	let out = "";
	for (const p of t.parts) out += p.kind === "text" ? p.text : "\u20ac".repeat(MAX_VALUE_CHARS);
	return out;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point.
const CONTROL = /[\u0000-\u001f\u007f]/g;

function bound(v: string): string {
	// Values stored before strings were checked at the boundary may hold lone surrogates,
	// which no push payload may carry: each becomes U+FFFD.
	const clean = v.toWellFormed().replace(CONTROL, "");
	if (clean.length <= MAX_VALUE_CHARS) return clean;
	// Do not cut a surrogate pair in half.
	const end = /[\ud800-\udbff]/.test(clean.charAt(MAX_VALUE_CHARS - 1))
		? MAX_VALUE_CHARS - 1
		: MAX_VALUE_CHARS;
	return clean.slice(0, end);
}

function lookup(vars: unknown, path: readonly string[]): string {
	let cur: unknown = vars;
	for (const key of path) {
		if (cur === null || typeof cur !== "object" || !Object.hasOwn(cur, key)) return "";
		cur = (cur as Record<string, unknown>)[key];
	}
	if (typeof cur === "string") return cur;
	if (typeof cur === "number" || typeof cur === "boolean") return String(cur);
	return "";
}

function applyFilters(value: string, filters: readonly Filter[]): string {
	let v = value;
	for (const f of filters) {
		if (f.name === "default") v = v === "" ? (f.arg ?? "") : v;
		else if (f.name === "upcase") v = v.toUpperCase();
		else if (f.name === "downcase") v = v.toLowerCase();
		else if (f.name === "capitalize") v = v.charAt(0).toUpperCase() + v.slice(1);
	}
	return v;
}
