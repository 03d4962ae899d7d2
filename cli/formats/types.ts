/**
 * What every store-file reader produces: GeoJSON features as the API takes them, each with the
 * line of the file it came from, and the problems found before validation (a CSV cell that is
 * not a number, a WKT that does not parse, a file that is not JSON), each with its line.
 */

/** A feature as read from a file, before the service's validator has seen it. */
export interface RawFeature {
	type: "Feature";
	geometry: unknown;
	properties: Record<string, unknown>;
}

/** One feature of the file and the 1-based line where it starts. */
export interface SourceFeature {
	feature: RawFeature;
	line: number;
}

/** One problem, tied to a line of the file (null for a problem of the whole file). */
export interface LineProblem {
	line: number | null;
	/** The store's id when known. */
	id: string | null;
	/** Where in the record: a CSV column, or a path such as `properties.radius`; "" for the record. */
	field: string;
	message: string;
}

export type StoreFormat = "csv" | "geojson" | "kml";

/** A store file read and converted. `fieldName` names a validator path the way the file does. */
export interface ParsedStores {
	format: StoreFormat;
	features: SourceFeature[];
	problems: LineProblem[];
	/** Turns a validator path inside a feature (`["properties", "radius"]`) into the file's own name for it. */
	fieldName(path: readonly (string | number)[], feature: RawFeature): string;
}

/** `properties.radius`, `geometry.coordinates.0.3`: the default way to name a path. */
export function dottedPath(path: readonly (string | number)[]): string {
	return path.join(".");
}
