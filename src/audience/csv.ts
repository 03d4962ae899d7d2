/**
 * CRM attributes from a CSV file, for a bulk sync (`POST /v1/users/attributes`, 1,000 people
 * a call): what a command such as `edge-offers users import FILE.csv` reads. Pure: text in,
 * batches or line-numbered errors out.
 *
 * Format (RFC 4180: commas, double quotes, `""` inside quotes, CRLF or LF): a header row
 * whose first column is `userId` and whose other columns are attribute keys; one person a
 * row. A cell becomes a number when it is one (`34`, `-1.5`), `true`/`false` a boolean,
 * `null` removes the key, an empty cell leaves the key unchanged, anything else is a string.
 */
import { AttributeKey, MAX_CRM_KEYS } from "./attributes.js";
import type { Scalar } from "./condition.js";

/** People per `POST /v1/users/attributes`. */
export const CSV_BATCH_SIZE = 1000;

export interface CsvPerson {
	userId: string;
	attributes: Record<string, Scalar | null>;
	/** 1-based line of the file where the row starts. */
	line: number;
}

export interface CsvError {
	/** 1-based line of the file. */
	line: number;
	/** Header name of the cell, when the error is about one cell. */
	column?: string;
	message: string;
}

const USER_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** Splits CSV text into rows of cells, each with the line it starts on. */
function rows(text: string): { cells: string[]; line: number }[] | CsvError {
	const out: { cells: string[]; line: number }[] = [];
	let cells: string[] = [];
	let cell = "";
	let quoted = false;
	/** Just after a closing quote: only a comma or the end of the row may follow. */
	let closed = false;
	let line = 1;
	let rowLine = 1;
	let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
	const endRow = () => {
		cells.push(cell);
		if (!(cells.length === 1 && cells[0] === "")) out.push({ cells, line: rowLine });
		cells = [];
		cell = "";
	};
	for (; i < text.length; i++) {
		const c = text[i];
		if (closed && c !== "," && c !== "\n" && c !== "\r")
			return { line, message: "text after a quoted cell's closing quote" };
		closed = false;
		if (quoted) {
			if (c === '"') {
				if (text[i + 1] === '"') {
					cell += '"';
					i++;
				} else {
					quoted = false;
					closed = true;
				}
			} else {
				if (c === "\n") line++;
				cell += c;
			}
		} else if (c === '"') {
			if (cell !== "") return { line, message: "a quote inside an unquoted cell" };
			quoted = true;
		} else if (c === ",") {
			cells.push(cell);
			cell = "";
		} else if (c === "\n" || c === "\r") {
			if (c === "\r" && text[i + 1] === "\n") i++;
			endRow();
			line++;
			rowLine = line;
		} else cell += c;
	}
	if (quoted) return { line: rowLine, message: "a quoted cell is never closed" };
	if (cell !== "" || cells.length > 0) endRow();
	return out;
}

function value(cell: string): Scalar | null | undefined {
	if (cell === "") return undefined;
	if (cell === "null") return null;
	if (cell === "true") return true;
	if (cell === "false") return false;
	if (NUMBER.test(cell)) {
		const n = Number(cell);
		if (Number.isFinite(n)) return n;
	}
	return cell;
}

/**
 * Reads a CSV of CRM attributes: every person, or every error found (with its line), never
 * a partial result.
 */
export function parseAttributesCsv(
	text: string,
): { ok: true; people: CsvPerson[] } | { ok: false; errors: CsvError[] } {
	const parsed = rows(text);
	if (!Array.isArray(parsed)) return { ok: false, errors: [parsed] };
	const [header, ...body] = parsed;
	if (!header) return { ok: false, errors: [{ line: 1, message: "the file is empty" }] };
	const errors: CsvError[] = [];
	const [first, ...keys] = header.cells.map((h) => h.trim());
	if (first !== "userId") errors.push({ line: header.line, message: 'the first column must be "userId"' });
	keys.forEach((k) => {
		if (!AttributeKey.safeParse(k).success)
			errors.push({
				line: header.line,
				column: k,
				message: "not an attribute name (letters, digits, _; at most 64)",
			});
	});
	if (new Set(keys).size !== keys.length)
		errors.push({ line: header.line, message: "a column is named twice" });
	if (keys.length > MAX_CRM_KEYS)
		errors.push({ line: header.line, message: `more than ${MAX_CRM_KEYS} attribute columns` });
	if (errors.length > 0) return { ok: false, errors };
	const people: CsvPerson[] = [];
	const seen = new Map<string, number>();
	for (const row of body) {
		if (row.cells.length !== header.cells.length) {
			errors.push({
				line: row.line,
				message: `${row.cells.length} cells, the header has ${header.cells.length}`,
			});
			continue;
		}
		const userId = (row.cells[0] ?? "").trim();
		if (!USER_ID.test(userId)) {
			errors.push({
				line: row.line,
				column: "userId",
				message: "not a user id (1 to 128 of A-Z a-z 0-9 . _ : @ -)",
			});
			continue;
		}
		const before = seen.get(userId);
		if (before !== undefined) {
			errors.push({ line: row.line, column: "userId", message: `the same person as line ${before}` });
			continue;
		}
		seen.set(userId, row.line);
		const entries: [string, Scalar | null][] = [];
		keys.forEach((k, j) => {
			const cell = row.cells[j + 1] ?? "";
			const v = value(cell);
			if (typeof v === "string" && v.length > 256)
				errors.push({ line: row.line, column: k, message: "longer than 256 characters" });
			else if (v !== undefined) entries.push([k, v]);
		});
		people.push({ userId, attributes: Object.fromEntries(entries), line: row.line });
	}
	return errors.length > 0 ? { ok: false, errors } : { ok: true, people };
}

/** The bodies of `POST /v1/users/attributes` for these people, at most {@link CSV_BATCH_SIZE} each. */
export function attributeBatches(
	people: readonly CsvPerson[],
	size = CSV_BATCH_SIZE,
): { users: { userId: string; attributes: Record<string, Scalar | null> }[] }[] {
	const out: { users: { userId: string; attributes: Record<string, Scalar | null> }[] }[] = [];
	for (let i = 0; i < people.length; i += size)
		out.push({
			users: people.slice(i, i + size).map((p) => ({ userId: p.userId, attributes: p.attributes })),
		});
	return out;
}
