// Regenerated blocks in Markdown files: the text between `<!-- NAME:start -->` and
// `<!-- NAME:end -->` is replaced, so README tables always come from the committed JSON.
import { readFileSync, writeFileSync } from "node:fs";

/**
 * Pads the cells of one Markdown table (its lines, `| a | b |`) to their column's width, aligned
 * as its delimiter row says, so the table reads as a table in a plain-text view too.
 *
 * @param {string[]} rows the table's lines, the delimiter row second
 * @returns {string[]} the same rows, padded
 */
function alignTable(rows) {
	const cells = rows.map((row) =>
		row
			.trim()
			.replace(/^\|/, "")
			.replace(/\|$/, "")
			.split("|")
			.map((c) => c.trim()),
	);
	const delimiter = cells[1] ?? [];
	// Left as it is when it is not a plain table (a `|` inside a cell would shift its row).
	if (!delimiter.every((c) => /^:?-+:?$/.test(c)) || cells.some((r) => r.length !== delimiter.length))
		return rows;
	const columns = delimiter.length;
	const widths = Array.from({ length: columns }, (_, i) =>
		Math.max(3, ...cells.filter((_, r) => r !== 1).map((r) => (r[i] ?? "").length)),
	);
	const align = widths.map((_, i) => {
		const d = delimiter[i] ?? "-";
		return d.startsWith(":") && d.endsWith(":") ? "center" : d.endsWith(":") ? "right" : "left";
	});
	return cells.map((r, ri) => {
		const padded = widths.map((w, i) => {
			if (ri === 1) {
				if (align[i] === "right") return `${"-".repeat(w - 1)}:`;
				if (align[i] === "center") return `:${"-".repeat(w - 2)}:`;
				return "-".repeat(w);
			}
			const c = r[i] ?? "";
			if (align[i] === "right") return c.padStart(w);
			if (align[i] === "center") return c.padStart(Math.floor((w + c.length) / 2)).padEnd(w);
			return c.padEnd(w);
		});
		return `| ${padded.join(" | ")} |`;
	});
}

/**
 * Markdown with every table's columns padded (see alignTable); other lines unchanged.
 *
 * @param {string} markdown
 * @returns {string}
 */
export function alignTables(markdown) {
	const lines = markdown.split("\n");
	const out = [];
	for (let i = 0; i < lines.length; ) {
		if (!lines[i].trimStart().startsWith("|")) {
			out.push(lines[i++]);
			continue;
		}
		const start = i;
		while (i < lines.length && lines[i].trimStart().startsWith("|")) i++;
		const table = lines.slice(start, i);
		out.push(...(table.length >= 2 ? alignTable(table) : table));
	}
	return out.join("\n");
}

/**
 * @param {string} file a Markdown file holding the block
 * @param {string} name the block's name, e.g. "match:results"
 * @param {string} body Markdown to put between the markers (its tables are aligned, see alignTables)
 * @throws Error when the file has no such block
 */
export function replaceBlock(file, name, body) {
	const start = `<!-- ${name}:start -->`;
	const end = `<!-- ${name}:end -->`;
	const text = readFileSync(file, "utf8");
	const a = text.indexOf(start);
	const b = text.indexOf(end);
	if (a < 0 || b < a) throw new Error(`${file} has no ${start} ... ${end} block`);
	writeFileSync(file, `${text.slice(0, a + start.length)}\n\n${alignTables(body)}\n\n${text.slice(b)}`);
}
