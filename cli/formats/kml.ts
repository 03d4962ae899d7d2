/**
 * Stores from KML, converted by @tmcw/togeojson over @xmldom/xmldom's DOM (which records the
 * line of every element), so each Placemark keeps its line in the file.
 *
 * A Placemark's store id is its `id` attribute, else an ExtendedData `<Data name="id">` (or a
 * SchemaData `id`), else a slug of its `<name>` (two placemarks with one name are then reported
 * as a duplicate id). `radius`, `dwellSeconds` and `tags` (separated by `;`, `|` or `,`) come from
 * ExtendedData too; a Point needs a radius. Other ExtendedData goes to `metadata` as text.
 */
import { kmlGen } from "@tmcw/togeojson";
import { DOMParser } from "@xmldom/xmldom";
import { dottedPath, type LineProblem, type ParsedStores, type RawFeature } from "./types.js";

const NUMERIC = ["radius", "dwellSeconds"] as const;
// Written by togeojson from styles and descriptions: not store data.
const DROPPED = new Set([
	"styleUrl",
	"styleHash",
	"styleMapHash",
	"stroke",
	"stroke-opacity",
	"stroke-width",
	"fill",
	"fill-opacity",
	"icon",
	"icon-scale",
	"icon-color",
	"icon-opacity",
	"icon-offset",
	"icon-offset-units",
	"label-scale",
	"label-color",
	"label-opacity",
	"description",
	"visibility",
	"timespan",
	"timestamp",
	"@geometry-type",
]);

/** A store id derived from a placemark's name: what an id may hold (A-Za-z0-9._:-), lower case. */
export function slugId(name: string): string {
	return name
		.normalize("NFKD")
		.replace(/[\u0300-\u036f]/g, "")
		.toLowerCase()
		.replace(/[^a-z0-9._:-]+/g, "-")
		.replace(/^-+|-+$/g, "")
		.slice(0, 128);
}

/** The line an xmldom message names (`@#[line:3,col:5]`), else null. */
function lineOf(message: string): number | null {
	const m = /line:?\s*(\d+)/i.exec(message);
	return m ? Number(m[1]) : null;
}

/** Reads a KML store file. */
export function parseKml(text: string): ParsedStores {
	const result: ParsedStores = { format: "kml", features: [], problems: [], fieldName: dottedPath };
	const xmlProblems: LineProblem[] = [];
	const xmlProblem = (message: string, line: number | null) =>
		xmlProblems.push({
			line,
			id: null,
			field: "",
			message: `not well-formed XML: ${message.split("\n")[0]}`,
		});
	let doc: ReturnType<DOMParser["parseFromString"]> | undefined;
	try {
		doc = new DOMParser({
			onError: (level, message, context) => {
				const at = (context as { locator?: { lineNumber?: number } } | undefined)?.locator?.lineNumber;
				if (level !== "warning") xmlProblem(message, at ?? lineOf(message));
			},
		}).parseFromString(text, "text/xml");
	} catch (error) {
		// A fatal error throws a ParseError that knows where it stopped.
		const locator = (error as { locator?: { lineNumber?: number } }).locator;
		const message = (error as Error).message ?? String(error);
		if (xmlProblems.length === 0) xmlProblem(message, locator?.lineNumber ?? lineOf(message));
	}
	if (xmlProblems.length > 0 || !doc?.documentElement) {
		result.problems.push(
			...(xmlProblems.length > 0
				? xmlProblems
				: [{ line: null, id: null, field: "", message: "not a KML document" }]),
		);
		return result;
	}
	const placemarks = doc.getElementsByTagName("Placemark");
	if (placemarks.length === 0) {
		result.problems.push({ line: null, id: null, field: "", message: "the KML holds no Placemark" });
		return result;
	}
	// kmlGen yields one feature per Placemark first, in document order (null geometry kept),
	// then ground overlays and network links, which are not stores.
	let i = 0;
	for (const converted of kmlGen(doc, { skipNullGeometry: false })) {
		if (i >= placemarks.length) break;
		const element = placemarks[i];
		const line = (element as unknown as { lineNumber?: number }).lineNumber ?? 1;
		i++;
		const p = (converted.properties ?? {}) as Record<string, unknown>;
		const properties: Record<string, unknown> = {};
		const problems: LineProblem[] = [];
		const attrId = element?.getAttribute("id");
		const name = typeof p.name === "string" ? p.name.trim() : "";
		const rawId = attrId || (typeof p.id === "string" || typeof p.id === "number" ? String(p.id).trim() : "");
		const id = rawId || (name ? slugId(name) : "");
		properties.id = id;
		if (name) properties.name = name;
		for (const key of NUMERIC) {
			const v = p[key];
			if (v === undefined || v === "") continue;
			const n = typeof v === "number" ? v : Number(String(v).trim());
			if (Number.isFinite(n) && String(v).trim() !== "") properties[key] = n;
			else
				problems.push({ line, id: id || null, field: key, message: `${key} "${String(v)}" is not a number` });
		}
		if (p.tags !== undefined && p.tags !== "")
			properties.tags = String(p.tags)
				.split(/[;|,]/)
				.map((s) => s.trim())
				.filter(Boolean);
		const metadata: Record<string, string> = {};
		for (const [k, v] of Object.entries(p)) {
			if (["id", "name", "tags", ...NUMERIC].includes(k) || DROPPED.has(k) || v === undefined || v === null)
				continue;
			if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") metadata[k] = String(v);
		}
		if (Object.keys(metadata).length > 0) properties.metadata = metadata;
		if (!id)
			problems.push({
				line,
				id: null,
				field: "id",
				message: 'the Placemark has no id: add id="..." or <Data name="id">, or a <name>',
			});
		if (problems.length > 0) {
			result.problems.push(...problems);
			continue;
		}
		const feature: RawFeature = { type: "Feature", geometry: converted.geometry, properties };
		result.features.push({ feature, line });
	}
	return result;
}
