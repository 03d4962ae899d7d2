// Regenerated blocks in Markdown files: the text between `<!-- NAME:start -->` and
// `<!-- NAME:end -->` is replaced, so README tables always come from the committed JSON.
import { readFileSync, writeFileSync } from "node:fs";

/**
 * @param {string} file a Markdown file holding the block
 * @param {string} name the block's name, e.g. "match:results"
 * @param {string} body Markdown to put between the markers
 * @throws Error when the file has no such block
 */
export function replaceBlock(file, name, body) {
	const start = `<!-- ${name}:start -->`;
	const end = `<!-- ${name}:end -->`;
	const text = readFileSync(file, "utf8");
	const a = text.indexOf(start);
	const b = text.indexOf(end);
	if (a < 0 || b < a) throw new Error(`${file} has no ${start} ... ${end} block`);
	writeFileSync(file, `${text.slice(0, a + start.length)}\n\n${body}\n\n${text.slice(b)}`);
}
