/**
 * Editing a stored store's shape: the form's fields (a circle's centre and radius, a polygon's
 * corners) from a feature, back to the feature `PUT /v1/geofences` takes, and to and from the
 * shape the map edits. Pure (test/unit/console-edit-shape.test.ts). The store's other
 * properties (dwell, metadata, …) are kept as they are; a polygon's holes are kept unchanged;
 * a multi-polygon's shape is not editable here (its name and tags are).
 */
import type { Feature, Position } from "./geojson.js";

/** A shape as the map draws and edits it (same as map.ts `DrawnShape`). */
export type EditableShape =
	| { type: "Polygon"; coordinates: number[][][] }
	| { type: "Point"; coordinates: number[]; radius: number };

export interface Corner {
	lng: string;
	lat: string;
}

export type ShapeForm =
	| { kind: "circle"; lng: string; lat: string; radius: string }
	| { kind: "polygon"; corners: Corner[]; holes: Position[][] }
	| { kind: "multi" };

export interface EditForm {
	name: string;
	tags: string;
	shape: ShapeForm;
}

const num = (x: number | undefined) => (x === undefined ? "" : String(x));

/** The form of a stored feature. A polygon's outer ring is listed without its closing corner. */
export function formOf(f: Feature): EditForm {
	const base = { name: f.properties.name ?? "", tags: (f.properties.tags ?? []).join(", ") };
	const g = f.geometry;
	if (g.type === "Point")
		return {
			...base,
			shape: {
				kind: "circle",
				lng: num(g.coordinates[0]),
				lat: num(g.coordinates[1]),
				radius: num(f.properties.radius),
			},
		};
	if (g.type === "Polygon") {
		const [outer = [], ...holes] = g.coordinates;
		return { ...base, shape: { kind: "polygon", corners: openRing(outer).map(corner), holes } };
	}
	return { ...base, shape: { kind: "multi" } };
}

function corner(p: Position): Corner {
	return { lng: num(p[0]), lat: num(p[1]) };
}

function openRing(ring: readonly Position[]): Position[] {
	const first = ring[0];
	const last = ring[ring.length - 1];
	return ring.length > 1 && first && last && first[0] === last[0] && first[1] === last[1]
		? ring.slice(0, -1)
		: [...ring];
}

/** A number typed in a field, or NaN when it is not one (the validator then names the field). */
function parseNum(s: string): number {
	const t = s.trim().replace(",", ".");
	return t === "" ? Number.NaN : Number(t);
}

/** The shape the form describes, for the map; null while a field is not a number. */
export function shapeOf(form: ShapeForm): EditableShape | null {
	if (form.kind === "circle") {
		const lng = parseNum(form.lng);
		const lat = parseNum(form.lat);
		const radius = parseNum(form.radius);
		return [lng, lat, radius].every(Number.isFinite)
			? { type: "Point", coordinates: [lng, lat], radius }
			: null;
	}
	if (form.kind === "polygon") {
		const ring = form.corners.map((c) => [parseNum(c.lng), parseNum(c.lat)]);
		if (ring.length < 3 || !ring.every((p) => p.every(Number.isFinite))) return null;
		const first = ring[0] as number[];
		return { type: "Polygon", coordinates: [[...ring, [...first]], ...form.holes] };
	}
	return null;
}

/** The form after the map changed the shape (name and tags untouched). */
export function withShape(form: EditForm, shape: EditableShape): EditForm {
	if (shape.type === "Point")
		return {
			...form,
			shape: {
				kind: "circle",
				lng: num(shape.coordinates[0]),
				lat: num(shape.coordinates[1]),
				radius: num(shape.radius),
			},
		};
	const [outer = [], ...holes] = shape.coordinates;
	return { ...form, shape: { kind: "polygon", corners: openRing(outer).map(corner), holes } };
}

/** A corner added halfway between the last corner and the first one. */
export function addCorner(corners: readonly Corner[]): Corner[] {
	const a = corners[corners.length - 1];
	const b = corners[0];
	if (!a || !b) return [...corners, { lng: "", lat: "" }];
	const mid = (x: string, y: string) => {
		const v = (parseNum(x) + parseNum(y)) / 2;
		return Number.isFinite(v) ? String(Math.round(v * 1e7) / 1e7) : "";
	};
	return [...corners, { lng: mid(a.lng, b.lng), lat: mid(a.lat, b.lat) }];
}

/**
 * The feature to upload: the original's properties with the form's name, tags and (for a
 * circle) radius, and the form's geometry. Fields that are not numbers stay as typed so the
 * service's validator names them.
 */
export function featureOf(original: Feature, form: EditForm): unknown {
	const properties: Record<string, unknown> = { ...original.properties };
	const name = form.name.trim();
	if (name) properties.name = name;
	else delete properties.name;
	const tags = form.tags
		.split(",")
		.map((x) => x.trim())
		.filter(Boolean);
	if (tags.length) properties.tags = tags;
	else delete properties.tags;
	const s = form.shape;
	let geometry: unknown = original.geometry;
	if (s.kind === "circle") {
		const r = parseNum(s.radius);
		properties.radius = Number.isFinite(r) ? r : s.radius;
		geometry = {
			type: "Point",
			coordinates: [s.lng, s.lat].map((x) => (Number.isFinite(parseNum(x)) ? parseNum(x) : x)),
		};
	} else if (s.kind === "polygon") {
		const ring = s.corners.map((c) =>
			[c.lng, c.lat].map((x) => (Number.isFinite(parseNum(x)) ? parseNum(x) : x)),
		);
		const first = ring[0];
		geometry = { type: "Polygon", coordinates: [first ? [...ring, [...first]] : ring, ...s.holes] };
	}
	return { type: "Feature", geometry, properties };
}
