import { parseCsv } from "./csv.js";
import { parseGeoJson } from "./geojson.js";
import { parseKml } from "./kml.js";
import type { ParsedStores, StoreFormat } from "./types.js";

export type { LineProblem, ParsedStores, RawFeature, SourceFeature, StoreFormat } from "./types.js";

/** The format of a store file: by extension, else by its first character. */
export function detectFormat(file: string, text: string): StoreFormat {
	const lower = file.toLowerCase();
	if (lower.endsWith(".kml")) return "kml";
	if (lower.endsWith(".csv") || lower.endsWith(".txt")) return "csv";
	if (lower.endsWith(".json") || lower.endsWith(".geojson")) return "geojson";
	const head = text.trimStart();
	if (head.startsWith("{")) return "geojson";
	if (head.startsWith("<")) return "kml";
	return "csv";
}

/** Reads a store file of any supported format. */
export function parseStores(format: StoreFormat, text: string): ParsedStores {
	if (format === "csv") return parseCsv(text);
	if (format === "kml") return parseKml(text);
	return parseGeoJson(text);
}
