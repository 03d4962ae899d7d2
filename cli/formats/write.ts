/** Writers for `fences export --format csv`: CSV cells and WKT polygons. */

/** One RFC 4180 cell: quoted when it holds a comma, quote, `;` or a line break. */
export function csvCell(value: string): string {
	return /[",;\r\n]/.test(value) || value !== value.trim() ? `"${value.replaceAll('"', '""')}"` : value;
}

const ring = (r: number[][]) => `(${r.map((p) => `${p[0]} ${p[1]}`).join(", ")})`;

/** WKT of a Polygon or MultiPolygon (longitude latitude, as WKT has it). */
export function writeWkt(geometry: { type: string; coordinates: unknown }): string {
	if (geometry.type === "Polygon")
		return `POLYGON (${(geometry.coordinates as number[][][]).map(ring).join(", ")})`;
	if (geometry.type === "MultiPolygon")
		return `MULTIPOLYGON (${(geometry.coordinates as number[][][][]).map((poly) => `(${poly.map(ring).join(", ")})`).join(", ")})`;
	if (geometry.type === "Point") {
		const [lng, lat] = geometry.coordinates as number[];
		return `POINT (${lng} ${lat})`;
	}
	throw new Error(`no WKT for ${geometry.type}`);
}
