/**
 * Stores from a GeoJSON FeatureCollection (or a single Feature), each with the line its feature
 * starts on, found by scanning the text alongside `JSON.parse`.
 */
import { dottedPath, type ParsedStores, type RawFeature } from "./types.js";

/**
 * The 1-based line where each element of the top-level object's `"features"` array starts.
 * Strings (and their escapes) are skipped, so brackets or `"features"` inside names do not
 * count. Meant for valid JSON; on malformed text it returns what it found.
 */
export function featureLines(text: string): number[] {
	const out: number[] = [];
	// Each open container: its bracket, and whether it is the top-level "features" array.
	const stack: { bracket: "{" | "["; features: boolean }[] = [];
	let line = 1;
	let lastString: string | null = null;
	let key: string | null = null;
	let expectElement = false;
	for (let i = 0; i < text.length; i++) {
		const c = text[i];
		if (c === "\n") {
			line++;
			continue;
		}
		if (c === " " || c === "\t" || c === "\r") continue;
		const top = stack.at(-1);
		const inFeatures = top?.features === true;
		if (inFeatures && expectElement && c !== "]") {
			out.push(line);
			expectElement = false;
		}
		if (c === '"') {
			let j = i + 1;
			while (j < text.length && text[j] !== '"') {
				if (text[j] === "\\") j++;
				j++;
			}
			lastString = text.slice(i + 1, j);
			i = j;
			continue;
		}
		if (c === ":") {
			key = lastString;
			continue;
		}
		if (c === "{" || c === "[") {
			const features = c === "[" && stack.length === 1 && stack[0]?.bracket === "{" && key === "features";
			stack.push({ bracket: c, features });
			if (features) expectElement = true;
			key = null;
			continue;
		}
		if (c === "}" || c === "]") {
			stack.pop();
			key = null;
			continue;
		}
		if (c === ",") {
			if (inFeatures) expectElement = true;
			key = null;
		}
	}
	return out;
}

/** Reads a GeoJSON store file. */
export function parseGeoJson(text: string): ParsedStores {
	const result: ParsedStores = { format: "geojson", features: [], problems: [], fieldName: dottedPath };
	let doc: unknown;
	try {
		doc = JSON.parse(text);
	} catch (error) {
		result.problems.push({
			line: jsonErrorLine(text, error),
			id: null,
			field: "",
			message: `not valid JSON: ${(error as Error).message}`,
		});
		return result;
	}
	const isObject = (v: unknown): v is Record<string, unknown> =>
		typeof v === "object" && v !== null && !Array.isArray(v);
	if (isObject(doc) && doc.type === "Feature") {
		const start = text.search(/\S/);
		result.features.push({ feature: doc as unknown as RawFeature, line: lineAt(text, Math.max(0, start)) });
		return result;
	}
	if (!isObject(doc) || doc.type !== "FeatureCollection" || !Array.isArray(doc.features)) {
		result.problems.push({
			line: null,
			id: null,
			field: "",
			message: 'expected a GeoJSON FeatureCollection ({"type": "FeatureCollection", "features": [...]})',
		});
		return result;
	}
	const lines = featureLines(text);
	doc.features.forEach((feature, i) => {
		result.features.push({ feature: feature as RawFeature, line: lines[i] ?? 1 });
	});
	return result;
}

/** 1-based line of a character offset. */
function lineAt(text: string, offset: number): number {
	let line = 1;
	for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
	return line;
}

/** The line a JSON.parse error points at (V8 names a position), else null. */
function jsonErrorLine(text: string, error: unknown): number | null {
	const m = /position (\d+)/.exec(String((error as Error)?.message));
	if (m) return lineAt(text, Number(m[1]));
	const lc = /line (\d+)/.exec(String((error as Error)?.message));
	return lc ? Number(lc[1]) : null;
}
