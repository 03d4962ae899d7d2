/**
 * Store import in the browser: CSV, GeoJSON or KML turned into the FeatureCollection the API
 * takes, checked with the service's own validator (src/geo/validate.ts, bundled in) chunk by
 * chunk, every problem tied back to the line of the file, then uploaded through the staged
 * import API. Parsing and planning are pure (test/unit/console-import.test.ts).
 */
import { CSV_COLUMN_ALIASES, csvSeparator, csvRecords as readCsvRecords } from "../../cli/formats/csv.js";
import { parseWkt } from "../../cli/formats/wkt.js";
import { validateFeatureCollection } from "../../src/geo/validate.js";

/** A feature as read from a file, before validation (values as the file had them). */
export interface RawFeature {
	type: "Feature";
	geometry: unknown;
	properties: Record<string, unknown>;
}

export interface ParsedFile {
	features: RawFeature[];
	/** 1-based line in the file where each feature starts (null when unknown, e.g. KML). */
	lines: (number | null)[];
	/** Problems found before validation (unreadable file, a CSV row with a wrong column count). */
	problems: RowProblem[];
}

/** One problem shown to the user. */
export interface RowProblem {
	/** Index of the feature in the file, null for a whole-file problem. */
	index: number | null;
	line: number | null;
	id: string | null;
	/** Where in the feature, as the API would name it (`properties.radius`). */
	field: string;
	message: string;
}

/** Largest number of features in one request (the API takes at most 10,000). */
export const CHUNK_FEATURES = 2_000;
/** Largest JSON size of one chunk, well under the API's 16 MiB. */
export const CHUNK_BYTES = 8 * 1024 * 1024;

// ---------------------------------------------------------------------------
// CSV

/**
 * RFC 4180 CSV records with the line each starts on (the command line's reader,
 * cli/formats/csv.ts): quoted fields may hold commas, doubled quotes and line breaks; `;` is the
 * separator when the header has more `;` than `,` (what French spreadsheet software writes).
 */
export function csvRecords(text: string): { fields: string[]; line: number }[] {
	return readCsvRecords(text, csvSeparator(text)).records;
}

const COLUMN_ALIASES = CSV_COLUMN_ALIASES;

/** A number when the text is one; otherwise the text itself, so the validator names the field. */
function numeric(s: string): number | string {
	const v = s.trim().replace(",", ".");
	return v !== "" && Number.isFinite(Number(v)) ? Number(v) : s;
}

/**
 * Stores from CSV, in the command line's format: one store a row (`id, name, lat, lng, radius,
 * tags, dwellSeconds`; tags separated by `;` or `|`), or a `wkt` column (POLYGON, MULTIPOLYGON,
 * or POINT with `radius`) instead of lat/lng. Other columns go to `metadata` as text.
 */
export function parseCsv(text: string): ParsedFile {
	const { records, unclosedAt } = readCsvRecords(text, csvSeparator(text));
	const header = records.shift();
	const problems: RowProblem[] = [];
	if (!header) return { features: [], lines: [], problems: [fileProblem("The file is empty.")] };
	const columns = header.fields.map((h) => {
		const k = h.trim().toLowerCase();
		return COLUMN_ALIASES[k] ?? `meta:${h.trim()}`;
	});
	for (const need of ["id", ...(columns.includes("wkt") ? [] : ["lat", "lng"])])
		if (!columns.includes(need))
			problems.push({
				index: null,
				line: header.line,
				id: null,
				field: need,
				message: `missing column "${need}"`,
			});
	if (problems.length) return { features: [], lines: [], problems };
	const features: RawFeature[] = [];
	const lines: (number | null)[] = [];
	for (const r of records) {
		if (r.fields.length !== columns.length) {
			problems.push({
				index: features.length,
				line: r.line,
				id: r.fields[columns.indexOf("id")] ?? null,
				field: "",
				message: `expected ${columns.length} columns, found ${r.fields.length}`,
			});
		}
		const cell: Record<string, string> = {};
		const metadata: Record<string, string> = {};
		columns.forEach((c, i) => {
			const v = r.fields[i] ?? "";
			if (c.startsWith("meta:")) {
				if (v !== "") metadata[c.slice(5)] = v;
			} else cell[c] = v;
		});
		const properties: Record<string, unknown> = { id: (cell.id ?? "").trim() };
		if (cell.name?.trim()) properties.name = cell.name.trim();
		if (cell.radius?.trim()) properties.radius = numeric(cell.radius);
		if (cell.dwellSeconds?.trim()) properties.dwellSeconds = numeric(cell.dwellSeconds);
		if (cell.tags?.trim())
			properties.tags = cell.tags
				.split(/[;|]/)
				.map((s) => s.trim())
				.filter(Boolean);
		if (Object.keys(metadata).length) properties.metadata = metadata;
		let geometry: unknown = {
			type: "Point",
			coordinates: [numeric(cell.lng ?? ""), numeric(cell.lat ?? "")],
		};
		const wkt = cell.wkt?.trim();
		if (wkt) {
			// The same polygon column as the command line's CSV (cli/formats/csv.ts), read by its parser.
			const bad = (message: string) =>
				problems.push({
					index: features.length,
					line: r.line,
					id: String(properties.id),
					field: "wkt",
					message,
				});
			if (cell.lat?.trim() || cell.lng?.trim()) bad("give either wkt or lat/lng, not both");
			const parsed = parseWkt(wkt);
			if (parsed.ok) geometry = parsed.geometry;
			else bad(parsed.message);
		}
		features.push({ type: "Feature", geometry, properties });
		lines.push(r.line);
	}
	if (unclosedAt !== null)
		problems.push({
			index: null,
			line: unclosedAt,
			id: null,
			field: "",
			message: "a quoted field is never closed",
		});
	return { features, lines, problems };
}

// ---------------------------------------------------------------------------
// GeoJSON

/**
 * The 1-based line where each element of the top-level `"features"` array starts, found by a
 * scan that skips strings; only used to point at lines, so a malformed file simply yields
 * fewer lines (JSON.parse reports it).
 */
export function featureLines(text: string): number[] {
	const out: number[] = [];
	let depth = 0;
	let line = 1;
	let inString = false;
	let lastKey = "";
	let keyStart = -1;
	let inFeatures = false;
	let expectValue = true;
	for (let i = 0; i < text.length; i++) {
		const c = text[i];
		if (c === "\n") line++;
		if (inString) {
			if (c === "\\") i++;
			else if (c === '"') {
				inString = false;
				if (depth === 1) lastKey = text.slice(keyStart + 1, i);
			}
			continue;
		}
		if (c === '"') {
			inString = true;
			keyStart = i;
			if (inFeatures && depth === 2 && expectValue) {
				out.push(line);
				expectValue = false;
			}
		} else if (c === "{" || c === "[") {
			if (inFeatures && depth === 2 && expectValue) {
				out.push(line);
				expectValue = false;
			}
			depth++;
			if (depth === 2 && c === "[" && lastKey === "features") {
				inFeatures = true;
				expectValue = true;
			}
		} else if (c === "}" || c === "]") {
			depth--;
			if (depth === 1) inFeatures = false;
		} else if (c === "," && inFeatures && depth === 2) expectValue = true;
		else if (inFeatures && depth === 2 && expectValue && !/\s/.test(c ?? "")) {
			out.push(line);
			expectValue = false;
		}
	}
	return out;
}

/** Stores from a GeoJSON FeatureCollection (or a single Feature). */
export function parseGeoJson(text: string): ParsedFile {
	let doc: unknown;
	try {
		doc = JSON.parse(text);
	} catch (e) {
		return { features: [], lines: [], problems: [fileProblem(`not JSON: ${(e as Error).message}`)] };
	}
	const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
	if (isObj(doc) && doc.type === "Feature")
		return { features: [doc as unknown as RawFeature], lines: [1], problems: [] };
	if (!isObj(doc) || doc.type !== "FeatureCollection" || !Array.isArray(doc.features))
		return { features: [], lines: [], problems: [fileProblem("expected a GeoJSON FeatureCollection")] };
	const lines = featureLines(text);
	const features = doc.features as RawFeature[];
	return { features, lines: features.map((_, i) => lines[i] ?? null), problems: [] };
}

// ---------------------------------------------------------------------------
// KML (converted with @tmcw/togeojson, loaded only when a KML file is chosen)

interface XmlDoc {
	getElementsByTagName(name: string): { length: number };
}

const KML_KEPT = ["id", "name", "tags", "radius", "dwellSeconds"];

/** Stores from KML placemarks: `id` from the placemark's id or data, else its name. */
export async function parseKml(text: string): Promise<ParsedFile> {
	// Reached through globalThis: this module is also type-checked (and unit-tested) without DOM types.
	const Parser = (
		globalThis as { DOMParser?: new () => { parseFromString(t: string, type: string): XmlDoc } }
	).DOMParser;
	if (!Parser) return { features: [], lines: [], problems: [fileProblem("KML needs a browser")] };
	let doc: XmlDoc;
	try {
		doc = new Parser().parseFromString(text, "application/xml");
	} catch {
		// Browsers answer a parsererror document; other parsers throw.
		return { features: [], lines: [], problems: [fileProblem("not well-formed XML")] };
	}
	if (doc.getElementsByTagName("parsererror").length)
		return { features: [], lines: [], problems: [fileProblem("not well-formed XML")] };
	const { kml } = await import("@tmcw/togeojson");
	const fc = kml(doc as unknown as Parameters<typeof kml>[0]);
	const features: RawFeature[] = fc.features.map((f, i) => {
		const p = (f.properties ?? {}) as Record<string, unknown>;
		const properties: Record<string, unknown> = {};
		for (const k of KML_KEPT) if (p[k] !== undefined && p[k] !== "") properties[k] = p[k];
		properties.id ??= typeof f.id === "string" ? f.id : `placemark-${i + 1}`;
		for (const k of ["radius", "dwellSeconds"])
			if (typeof properties[k] === "string") properties[k] = numeric(properties[k] as string);
		if (typeof properties.tags === "string") properties.tags = (properties.tags as string).split(/[;|,]/);
		return { type: "Feature", geometry: f.geometry, properties };
	});
	return { features, lines: features.map(() => null), problems: [] };
}

function fileProblem(message: string): RowProblem {
	return { index: null, line: null, id: null, field: "", message };
}

/** Picks the parser by file name, then content. */
export async function parseStoreFile(name: string, text: string): Promise<ParsedFile> {
	const lower = name.toLowerCase();
	if (lower.endsWith(".kml")) return parseKml(text);
	if (lower.endsWith(".csv") || lower.endsWith(".txt")) return parseCsv(text);
	if (lower.endsWith(".json") || lower.endsWith(".geojson")) return parseGeoJson(text);
	const head = text.trimStart();
	if (head.startsWith("{")) return parseGeoJson(text);
	if (head.startsWith("<")) return parseKml(text);
	return parseCsv(text);
}

// ---------------------------------------------------------------------------
// Validation and chunks

/** Feature index ranges `[start, end)`, each within both chunk limits. */
export function planChunks(
	features: readonly unknown[],
	maxFeatures = CHUNK_FEATURES,
	maxBytes = CHUNK_BYTES,
) {
	const chunks: [number, number][] = [];
	let start = 0;
	let bytes = 0;
	for (let i = 0; i < features.length; i++) {
		const size = JSON.stringify(features[i])?.length ?? 0;
		if (i > start && (i - start >= maxFeatures || bytes + size > maxBytes)) {
			chunks.push([start, i]);
			start = i;
			bytes = 0;
		}
		bytes += size + 1;
	}
	if (start < features.length) chunks.push([start, features.length]);
	return chunks;
}

export interface CheckedFile {
	features: RawFeature[];
	chunks: [number, number][];
	problems: RowProblem[];
}

/**
 * Runs the service's validator over each chunk as the API will receive it, and turns every
 * error into a row problem with the feature's line in the file. Also catches an id used twice
 * in the file (the staged import refuses it at commit time).
 */
export function checkFile(parsed: ParsedFile): CheckedFile {
	const problems = [...parsed.problems];
	const chunks = planChunks(parsed.features);
	if (parsed.features.length === 0 && problems.length === 0)
		problems.push(fileProblem("The file holds no stores."));
	for (const [start, end] of chunks) {
		const result = validateFeatureCollection({
			type: "FeatureCollection",
			features: parsed.features.slice(start, end),
		});
		if (result.ok) continue;
		for (const e of result.errors) {
			const index = e.index === null ? null : start + e.index;
			problems.push({
				index,
				line: index === null ? null : (parsed.lines[index] ?? null),
				// The validator names only valid ids; show what the file had, to find the row.
				id: e.id ?? (index === null ? null : rawId(parsed.features[index])),
				field: e.path.slice(e.index === null ? 0 : 2).join("."),
				message: e.message,
			});
		}
	}
	const seen = new Map<string, number>();
	parsed.features.forEach((f, i) => {
		const id = f?.properties?.id;
		if (typeof id !== "string" || id === "") return;
		const first = seen.get(id);
		if (first === undefined) seen.set(id, i);
		// Within one chunk the validator already reports it; across chunks only this check can.
		else if (!problems.some((p) => p.index === i && p.field === "properties.id"))
			problems.push({
				index: i,
				line: parsed.lines[i] ?? null,
				id,
				field: "properties.id",
				message: `id also used by the store at ${parsed.lines[first] ? `line ${parsed.lines[first]}` : `feature ${first + 1}`}`,
			});
	});
	problems.sort((a, b) => (a.index ?? -1) - (b.index ?? -1));
	return { features: parsed.features, chunks, problems };
}

function rawId(f: RawFeature | undefined): string | null {
	const id = f?.properties?.id;
	return typeof id === "string" || typeof id === "number" ? String(id).slice(0, 128) : null;
}
