// The API reference page at /docs: renders /openapi.json in the browser. Self-written, no
// dependency and no CDN (the page's CSP allows scripts from this origin only). Every text from
// the document is inserted as text, never as HTML.

const METHODS = ["get", "put", "post", "patch", "delete", "head"];

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string | null | undefined)[]} [children]
 * @returns {HTMLElement}
 */
function el(tag, attrs = {}, children = []) {
	const node = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
	for (const c of children) if (c !== null && c !== undefined) node.append(c);
	return node;
}

/** @param {string} method @param {string} path */
function anchor(method, path) {
	return `op-${method}-${path.replace(/[^A-Za-z0-9]+/g, "-")}`;
}

/**
 * Resolves a local `$ref` (`#/components/...`) one level.
 * @param {any} doc
 * @param {any} node
 */
function deref(doc, node) {
	if (!node || typeof node !== "object" || typeof node.$ref !== "string" || !node.$ref.startsWith("#/"))
		return node;
	let at = doc;
	for (const part of node.$ref.slice(2).split("/"))
		at = at?.[part.replaceAll("~1", "/").replaceAll("~0", "~")];
	return at ?? node;
}

/**
 * A JSON schema as an indented outline: `name: type (constraints) — description`, nested objects
 * and arrays below, references named rather than expanded (recursive schemas stay finite).
 * @param {any} doc
 * @param {any} schema
 * @param {number} depth
 * @returns {string}
 */
function outline(doc, schema, depth = 0) {
	const pad = "  ".repeat(depth);
	if (!schema || typeof schema !== "object") return `${pad}any\n`;
	if (typeof schema.$ref === "string") return `${pad}→ ${schema.$ref.split("/").pop()}\n`;
	const variants = schema.oneOf ?? schema.anyOf;
	if (Array.isArray(variants))
		return `${pad}one of:\n${variants.map((v) => outline(doc, v, depth + 1)).join(`${pad}  ---\n`)}`;
	if (schema.type === "object" || schema.properties) {
		const required = new Set(schema.required ?? []);
		let out = "";
		for (const [name, prop] of Object.entries(schema.properties ?? {})) {
			const p = /** @type {any} */ (prop);
			const nested = p && (p.type === "object" || p.properties || p.type === "array" || p.oneOf || p.anyOf);
			out += `${pad}${name}${required.has(name) ? "" : "?"}: ${describe(p)}\n`;
			if (nested && depth < 6) out += outline(doc, p.type === "array" ? p.items : p, depth + 1);
		}
		return out || `${pad}object\n`;
	}
	if (schema.type === "array") return `${pad}array of:\n${outline(doc, schema.items, depth + 1)}`;
	return `${pad}${describe(schema)}\n`;
}

/** @param {any} s */
function describe(s) {
	if (!s || typeof s !== "object") return "any";
	if (s.$ref) return `→ ${String(s.$ref).split("/").pop()}`;
	const type = Array.isArray(s.type)
		? s.type.join(" | ")
		: (s.type ?? (s.oneOf || s.anyOf ? "one of" : "any"));
	const facts = [];
	if (s.enum) facts.push(s.enum.map((/** @type {unknown} */ v) => JSON.stringify(v)).join(" | "));
	if (s.format) facts.push(s.format);
	if (s.minimum !== undefined) facts.push(`≥ ${s.minimum}`);
	if (s.maximum !== undefined) facts.push(`≤ ${s.maximum}`);
	if (s.minLength !== undefined) facts.push(`length ≥ ${s.minLength}`);
	if (s.maxLength !== undefined) facts.push(`length ≤ ${s.maxLength}`);
	if (s.maxItems !== undefined) facts.push(`≤ ${s.maxItems} items`);
	if (s.pattern) facts.push(`/${s.pattern}/`);
	if (s.default !== undefined) facts.push(`default ${JSON.stringify(s.default)}`);
	const text = `${type === "array" ? `array of ${describe(s.items)}` : type}${facts.length ? ` (${facts.join(", ")})` : ""}`;
	return s.description ? `${text} — ${s.description}` : text;
}

/** @param {any} doc @param {string} title @param {any} schema */
function schemaBlock(doc, title, schema) {
	return el("details", {}, [el("summary", {}, [title]), el("pre", {}, [outline(doc, deref(doc, schema))])]);
}

/** @param {any} doc @param {string} method @param {string} path @param {any} op */
function operation(doc, method, path, op) {
	const section = el("section", { class: "op", id: anchor(method, path) });
	section.append(el("h3", {}, [el("span", { class: `method ${method}` }, [method]), " ", path]));
	section.append(el("p", { class: "summary" }, [op.summary ?? ""]));
	if (op.description) section.append(el("p", {}, [op.description]));
	const security = (op.security ?? []).flatMap((/** @type {object} */ s) => Object.keys(s));
	section.append(
		el("p", { class: "meta" }, [
			`operationId ${op.operationId ?? "—"} · `,
			security.length ? `auth: ${security.join(" or ")}` : "no authentication",
		]),
	);
	const params = (op.parameters ?? []).map((/** @type {any} */ p) => deref(doc, p));
	if (params.length) {
		const rows = params.map((/** @type {any} */ p) =>
			el("tr", {}, [
				el("td", {}, [el("code", {}, [p.name])]),
				el("td", {}, [p.in]),
				el("td", {}, [p.required ? "yes" : "no"]),
				el("td", {}, [
					describe(p.schema ?? {}),
					p.description && p.description !== p.schema?.description ? ` — ${p.description}` : "",
				]),
			]),
		);
		section.append(el("h4", {}, ["Parameters"]));
		section.append(
			el("table", {}, [
				el("thead", {}, [
					el(
						"tr",
						{},
						["Name", "In", "Required", "Schema"].map((h) => el("th", {}, [h])),
					),
				]),
				el("tbody", {}, rows),
			]),
		);
	}
	const body = deref(doc, op.requestBody);
	if (body?.content) {
		section.append(el("h4", {}, [`Request body${body.required ? "" : " (optional)"}`]));
		for (const [type, media] of Object.entries(body.content)) {
			const m = /** @type {any} */ (media);
			section.append(schemaBlock(doc, `${type} schema`, m.schema));
			if (m.example !== undefined)
				section.append(
					el("details", { open: "" }, [
						el("summary", {}, ["Example"]),
						el("pre", {}, [JSON.stringify(m.example, null, 2)]),
					]),
				);
		}
	}
	section.append(el("h4", {}, ["Responses"]));
	const rows = Object.entries(op.responses ?? {}).map(([status, r]) => {
		const resp = /** @type {any} */ (deref(doc, r));
		const cell = el("td", {}, [resp.description ?? ""]);
		for (const [type, media] of Object.entries(resp.content ?? {}))
			cell.append(schemaBlock(doc, type, /** @type {any} */ (media).schema));
		return el("tr", {}, [el("td", {}, [el("code", {}, [status])]), cell]);
	});
	section.append(el("table", {}, [el("tbody", {}, rows)]));
	return section;
}

async function main() {
	const status = /** @type {HTMLElement} */ (document.getElementById("status"));
	const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
	const main = /** @type {HTMLElement} */ (document.getElementById("main"));
	let doc;
	try {
		const res = await fetch("/openapi.json", { headers: { accept: "application/json" } });
		if (!res.ok) throw new Error(`HTTP ${res.status}`);
		doc = await res.json();
	} catch (e) {
		status.textContent = `The document could not be loaded (${e instanceof Error ? e.message : e}).`;
		return;
	}
	status.remove();
	document.title = `${doc.info?.title ?? "API"} ${doc.info?.version ?? ""} reference`;
	if (doc.info?.description) main.append(el("p", {}, [doc.info.description]));
	/** @type {Map<string, [string, string, any][]>} */
	const byTag = new Map();
	for (const [path, item] of Object.entries(doc.paths ?? {}))
		for (const method of METHODS) {
			const op = /** @type {any} */ (item)[method];
			if (!op) continue;
			const tag = op.tags?.[0] ?? "other";
			if (!byTag.has(tag)) byTag.set(tag, []);
			byTag.get(tag)?.push([method, path, op]);
		}
	for (const [tag, ops] of byTag) {
		nav.append(el("h2", {}, [tag]));
		main.append(el("h2", { id: `tag-${tag}` }, [tag]));
		for (const [method, path, op] of ops) {
			nav.append(el("a", { href: `#${anchor(method, path)}` }, [`${method.toUpperCase()} ${path}`]));
			main.append(operation(doc, method, path, op));
		}
	}
	const schemes = doc.components?.securitySchemes ?? {};
	main.append(el("h2", { id: "auth" }, ["Authentication"]));
	main.append(
		el(
			"table",
			{},
			Object.entries(schemes).map(([name, s]) =>
				el("tr", {}, [
					el("td", {}, [el("code", {}, [name])]),
					el("td", {}, [/** @type {any} */ (s).description ?? ""]),
				]),
			),
		),
	);
	if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}

main();
