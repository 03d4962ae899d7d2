/**
 * Stores from CSV. Header (any order, case-insensitive): `id,name,lat,lng,radius,tags`, plus
 * optional `wkt` (a POLYGON or MULTIPOLYGON, or a POINT with `radius`, instead of lat/lng) and
 * `dwellSeconds`; every other column goes to the fence's `metadata` as text. Tags are separated
 * by `;` or `|`. The field separator is `,`, or `;` when the header has more `;` than `,` (what
 * spreadsheets set to French and other decimal-comma locales write); numbers may then use a
 * decimal comma. Fields follow RFC 4180 (quotes, doubled quotes, line breaks inside quotes), and
 * each record keeps the line it starts on.
 */
import {
	dottedPath,
	type LineProblem,
	type ParsedStores,
	type RawFeature,
	type SourceFeature,
} from "./types.js";
import { parseWkt } from "./wkt.js";

/** One CSV record and the 1-based line of the file where it starts. */
export interface CsvRecord {
	fields: string[];
	line: number;
}

/** RFC 4180 records; blank lines are skipped. An unclosed quote is reported on its record's line. */
export function csvRecords(
	text: string,
	separator: string,
): { records: CsvRecord[]; unclosedAt: number | null } {
	const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
	const records: CsvRecord[] = [];
	let fields: string[] = [];
	let field = "";
	let quoted = false;
	let line = 1;
	let start = 1;
	let blank = true;
	const end = () => {
		fields.push(field);
		if (!(blank && fields.length === 1 && fields[0] === "")) records.push({ fields, line: start });
		fields = [];
		field = "";
		blank = true;
	};
	for (let i = 0; i < src.length; i++) {
		const c = src[i];
		if (quoted) {
			if (c === '"') {
				if (src[i + 1] === '"') {
					field += '"';
					i++;
				} else quoted = false;
			} else {
				if (c === "\n") line++;
				field += c;
			}
		} else if (c === '"' && field === "") {
			quoted = true;
			blank = false;
		} else if (c === separator) {
			fields.push(field);
			field = "";
			blank = false;
		} else if (c === "\n" || c === "\r") {
			if (c === "\r" && src[i + 1] === "\n") i++;
			end();
			line++;
			start = line;
		} else {
			field += c;
			blank = false;
		}
	}
	if (quoted) return { records, unclosedAt: start };
	if (field !== "" || fields.length > 0) end();
	return { records, unclosedAt: null };
}

/** Column names accepted for each field (lower case); the console's importer reads the same. */
export const CSV_COLUMN_ALIASES: Readonly<Record<string, string>> = {
	id: "id",
	store_id: "id",
	name: "name",
	lat: "lat",
	latitude: "lat",
	lng: "lng",
	lon: "lng",
	long: "lng",
	longitude: "lng",
	radius: "radius",
	radius_m: "radius",
	tags: "tags",
	wkt: "wkt",
	geometry: "wkt",
	dwellseconds: "dwellSeconds",
	dwell_seconds: "dwellSeconds",
};

/** A number cell: `48.85`, or `48,85` where `;` separates fields. */
function numberCell(value: string, decimalComma: boolean): number | null {
	const v = (decimalComma ? value.replace(",", ".") : value).trim();
	if (v === "" || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) return null;
	return Number(v);
}

/**
 * The field separator of a CSV file: `;` when its header has more `;` than `,` (what spreadsheets
 * set to French and other decimal-comma locales write), else `,`.
 */
export function csvSeparator(text: string): ";" | "," {
	const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
	const firstLine = src.slice(0, Math.max(0, src.search(/\r?\n|$/)));
	return (firstLine.match(/;/g)?.length ?? 0) > (firstLine.match(/,/g)?.length ?? 0) ? ";" : ",";
}

/** Reads a CSV store file. */
export function parseCsv(text: string): ParsedStores {
	const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
	const separator = csvSeparator(src);
	const decimalComma = separator === ";";
	const { records, unclosedAt } = csvRecords(src, separator);
	const problems: LineProblem[] = [];
	const features: SourceFeature[] = [];
	const header = records.shift();
	const columns = (header?.fields ?? []).map(
		(h) => CSV_COLUMN_ALIASES[h.trim().toLowerCase()] ?? `meta:${h.trim()}`,
	);
	const result: ParsedStores = { format: "csv", features, problems, fieldName: csvFieldName };
	if (!header) {
		problems.push({ line: null, id: null, field: "", message: "the file is empty (expected a header line)" });
		return result;
	}
	const missing = ["id", ...(columns.includes("wkt") ? [] : ["lat", "lng"])].filter(
		(c) => !columns.includes(c),
	);
	for (const c of missing)
		problems.push({
			line: header.line,
			id: null,
			field: c,
			message: `missing column "${c}" (the header must name id, lat, lng or wkt, and optionally name, radius, tags, dwellSeconds)`,
		});
	for (const c of new Set(columns))
		if (columns.filter((x) => x === c).length > 1)
			problems.push({ line: header.line, id: null, field: c, message: `column "${c}" appears twice` });
	if (problems.length > 0) return result;

	for (const record of records) {
		const cell: Record<string, string> = {};
		const metadata: Record<string, string> = {};
		columns.forEach((c, i) => {
			const v = record.fields[i] ?? "";
			if (c.startsWith("meta:")) {
				if (v.trim() !== "") metadata[c.slice(5)] = v.trim();
			} else cell[c] = v;
		});
		const id = (cell.id ?? "").trim();
		const rowProblems: LineProblem[] = [];
		const bad = (field: string, message: string) =>
			rowProblems.push({ line: record.line, id: id || null, field, message });
		if (record.fields.length !== columns.length)
			bad("", `expected ${columns.length} fields like the header, found ${record.fields.length}`);

		const properties: Record<string, unknown> = { id };
		if (cell.name?.trim()) properties.name = cell.name.trim();
		for (const key of ["radius", "dwellSeconds"] as const) {
			const raw = cell[key]?.trim();
			if (!raw) continue;
			const n = numberCell(raw, decimalComma);
			if (n === null) bad(key, `${key} "${raw}" is not a number`);
			else properties[key] = n;
		}
		if (cell.tags?.trim())
			properties.tags = cell.tags
				.split(/[;|]/)
				.map((s) => s.trim())
				.filter(Boolean);
		if (Object.keys(metadata).length > 0) properties.metadata = metadata;

		let geometry: unknown = null;
		const wkt = cell.wkt?.trim();
		if (wkt) {
			if (cell.lat?.trim() || cell.lng?.trim()) bad("wkt", "give either wkt or lat/lng, not both");
			const parsed = parseWkt(wkt);
			if (parsed.ok) geometry = parsed.geometry;
			else bad("wkt", parsed.message);
		} else {
			const lat = cell.lat?.trim() ?? "";
			const lng = cell.lng?.trim() ?? "";
			const latN = numberCell(lat, decimalComma);
			const lngN = numberCell(lng, decimalComma);
			if (latN === null) bad("lat", lat === "" ? "lat is empty" : `lat "${lat}" is not a number`);
			if (lngN === null) bad("lng", lng === "" ? "lng is empty" : `lng "${lng}" is not a number`);
			if (latN !== null && lngN !== null) geometry = { type: "Point", coordinates: [lngN, latN] };
		}
		if (rowProblems.length > 0) {
			problems.push(...rowProblems);
			continue;
		}
		const feature: RawFeature = { type: "Feature", geometry, properties };
		features.push({ feature, line: record.line });
	}
	if (unclosedAt !== null)
		problems.push({ line: unclosedAt, id: null, field: "", message: "a quoted field is never closed" });
	return result;
}

/** Names a validator path by the CSV column it came from. */
function csvFieldName(path: readonly (string | number)[], feature: RawFeature): string {
	const [root, key, sub] = path;
	if (root === "geometry") {
		const geometry = feature.geometry as { type?: unknown } | null;
		// A circle from lat/lng: coordinates are [lng, lat].
		if (geometry?.type === "Point" && !("wkt" in feature.properties) && path[1] === "coordinates") {
			if (path[2] === 0) return "lng";
			if (path[2] === 1) return "lat";
		}
		return path.length > 1 ? `wkt (${dottedPath(path.slice(1))})` : "wkt";
	}
	if (root === "properties") {
		if (key === "metadata") return sub === undefined ? "extra columns" : String(sub);
		if (key === "tags") return "tags";
		if (key !== undefined) return String(key);
	}
	return dottedPath(path);
}
