/**
 * Well-known text for the geometries a fence may have: POINT (with a radius column),
 * POLYGON and MULTIPOLYGON, with an optional `SRID=4326;` prefix (EWKT) and Z/M/ZM
 * dimensions (extra ordinates are dropped, as the service drops altitudes). Coordinates are
 * `longitude latitude`, as in every WKT writer (PostGIS, QGIS, shapely).
 */

export type WktGeometry =
	| { type: "Point"; coordinates: number[] }
	| { type: "Polygon"; coordinates: number[][][] }
	| { type: "MultiPolygon"; coordinates: number[][][][] };

export type WktResult = { ok: true; geometry: WktGeometry } | { ok: false; message: string };

type Nested = number[] | Nested[];

const DEPTH: Record<string, number> = { POINT: 1, POLYGON: 2, MULTIPOLYGON: 3 };

class WktError extends Error {}

/** Parses one WKT geometry; never throws. */
export function parseWkt(text: string): WktResult {
	try {
		return { ok: true, geometry: parse(text) };
	} catch (error) {
		if (error instanceof WktError) return { ok: false, message: error.message };
		throw error;
	}
}

function parse(text: string): WktGeometry {
	let src = text.trim();
	const srid = /^SRID=(\d+);/i.exec(src);
	if (srid) {
		if (srid[1] !== "4326") throw new WktError(`SRID ${srid[1]} is not supported: use WGS 84 (4326)`);
		src = src.slice(srid[0].length);
	}
	const head = /^([A-Za-z]+)\s*(ZM|Z|M)?\s*/.exec(src);
	if (!head?.[1]) throw new WktError("WKT must start with POINT, POLYGON or MULTIPOLYGON");
	const type = head[1].toUpperCase();
	const depth = DEPTH[type];
	if (depth === undefined)
		throw new WktError(`${type} is not a fence shape: use POINT, POLYGON or MULTIPOLYGON`);
	let pos = head[0].length;
	if (/^EMPTY\s*$/i.test(src.slice(pos))) throw new WktError(`${type} EMPTY has no coordinates`);

	const fail = (what: string): never => {
		throw new WktError(`${what} at character ${pos + 1} of the WKT`);
	};
	const skip = () => {
		while (pos < src.length && /\s/.test(src[pos] ?? "")) pos++;
	};
	const number = (): number => {
		const m = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(src.slice(pos));
		if (!m) fail("expected a number");
		pos += m?.[0].length ?? 0;
		return Number(m?.[0]);
	};
	// A "(" group: either positions separated by commas, or groups separated by commas.
	const group = (): Nested => {
		skip();
		if (src[pos] !== "(") fail('expected "("');
		pos++;
		skip();
		const items: Nested[] = [];
		const positions = src[pos] !== "(";
		for (;;) {
			if (positions) {
				const coords: number[] = [];
				do {
					coords.push(number());
					skip();
				} while (pos < src.length && src[pos] !== "," && src[pos] !== ")");
				if (coords.length < 2) fail("a position needs a longitude and a latitude");
				items.push(coords.slice(0, 2));
			} else items.push(group());
			skip();
			if (src[pos] === ",") {
				pos++;
				skip();
				continue;
			}
			if (src[pos] === ")") {
				pos++;
				break;
			}
			fail('expected "," or ")"');
		}
		return positions ? (items as number[][] as Nested) : items;
	};
	const body = group();
	skip();
	if (pos < src.length) fail("unexpected text after the geometry");
	const nesting = (n: Nested): number => (Array.isArray(n[0]) ? 1 + nesting(n[0] as Nested) : 0);
	if (nesting(body) !== depth) throw new WktError(`${type} has the wrong number of parentheses`);
	if (type === "POINT") {
		const only = body as number[][];
		if (only.length !== 1) throw new WktError("POINT takes exactly one position");
		return { type: "Point", coordinates: only[0] ?? [] };
	}
	if (type === "POLYGON") return { type: "Polygon", coordinates: body as number[][][] };
	return { type: "MultiPolygon", coordinates: body as number[][][][] };
}
