/**
 * The exact geometric test that defines fence membership, and distances to a fence.
 *
 * Membership is, by definition: polygon = `@turf/boolean-point-in-polygon` with default options
 * (planar in lng/lat, boundary inside, a point in a hole outside, MultiPolygon = any part);
 * circle = `@turf/distance` (haversine, metres) from the centre to the point <= radius.
 * The fence index only accelerates this test: it must give the same answer for every point.
 */
import { booleanPointInPolygon } from "@turf/boolean-point-in-polygon";
import type { Fence, LatLng, MultiPolygonGeometry, PolygonGeometry, Position } from "./types.js";

/** Earth radius in metres, the one turf uses, so our distances agree with the exact test. */
export const EARTH_RADIUS_METERS = 6371008.8;
/** Degrees to radians. */
export const DEG_TO_RAD = Math.PI / 180;
/** Metres per degree of latitude (and of longitude at the equator). */
export const METERS_PER_DEGREE = EARTH_RADIUS_METERS * DEG_TO_RAD;

/** A circular fence ready for tests. */
export interface PreparedCircle {
	kind: "circle";
	id: string;
	center: LatLng;
	radius: number;
}

/** A polygonal fence ready for tests. */
export interface PreparedPolygon {
	kind: "polygon";
	id: string;
	/** Handed to turf as is; never carries a client-supplied bbox, which turf would trust. */
	geometry: PolygonGeometry | MultiPolygonGeometry;
	/** Every ring edge as `lng0, lat0, lng1, lat1` quadruples (raw degrees). */
	segments: Float64Array;
	minLng: number;
	minLat: number;
	maxLng: number;
	maxLat: number;
	/** One vertex of each part's shell: every part is reached from its seed cell. */
	seeds: LatLng[];
}

/** A fence in the form the index, the shards and the exact test use. */
export type PreparedFence = PreparedCircle | PreparedPolygon;

/** What preparation needs from a fence. */
export type FenceShape = Pick<Fence, "id" | "geometry" | "radius">;

/**
 * Precomputes what the exact test and the cell cover need from a fence.
 *
 * @param f a fence (validated: closed rings, radius for a Point)
 * @returns the prepared fence
 */
export function prepareFence(f: FenceShape): PreparedFence {
	const g = f.geometry;
	if (g.type === "Point") {
		const [lng, lat] = g.coordinates;
		return {
			kind: "circle",
			id: f.id,
			center: { lat, lng },
			radius: f.radius ?? 0,
		};
	}
	const polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
	let count = 0;
	for (const polygon of polygons) for (const ring of polygon) count += Math.max(0, ring.length - 1);
	const segments = new Float64Array(count * 4);
	let minLng = Number.POSITIVE_INFINITY;
	let minLat = Number.POSITIVE_INFINITY;
	let maxLng = Number.NEGATIVE_INFINITY;
	let maxLat = Number.NEGATIVE_INFINITY;
	const seeds: LatLng[] = [];
	let k = 0;
	for (const polygon of polygons) {
		const shellStart = polygon[0]?.[0];
		if (shellStart !== undefined) seeds.push({ lat: shellStart[1], lng: shellStart[0] });
		for (const ring of polygon) {
			for (let i = 0; i < ring.length; i++) {
				const a = ring[i];
				if (a === undefined) continue;
				if (a[0] < minLng) minLng = a[0];
				if (a[0] > maxLng) maxLng = a[0];
				if (a[1] < minLat) minLat = a[1];
				if (a[1] > maxLat) maxLat = a[1];
				const b = ring[i + 1];
				if (b === undefined) continue;
				segments[k++] = a[0];
				segments[k++] = a[1];
				segments[k++] = b[0];
				segments[k++] = b[1];
			}
		}
	}
	const geometry: PolygonGeometry | MultiPolygonGeometry =
		g.type === "Polygon"
			? { type: "Polygon", coordinates: g.coordinates }
			: { type: "MultiPolygon", coordinates: g.coordinates };
	return { kind: "polygon", id: f.id, geometry, segments, minLng, minLat, maxLng, maxLat, seeds };
}

// Reused for every test: turf copies its input, and JS is single-threaded, so sharing is safe
// and spares one allocation per test.
const scratch: Position = [0, 0];

/**
 * Great-circle distance in metres, the same haversine formula and radius as `@turf/distance`.
 *
 * @returns metres between (lat1, lng1) and (lat2, lng2)
 */
export function haversineMeters(lat1: number, lng1: number, lat2: number, lng2: number): number {
	const dLat = (lat2 - lat1) * DEG_TO_RAD;
	const dLng = (lng2 - lng1) * DEG_TO_RAD;
	const a =
		Math.sin(dLat / 2) ** 2 +
		Math.sin(dLng / 2) ** 2 * Math.cos(lat1 * DEG_TO_RAD) * Math.cos(lat2 * DEG_TO_RAD);
	return EARTH_RADIUS_METERS * 2 * Math.atan2(Math.sqrt(a), Math.sqrt(1 - a));
}

/** `d` moved by whole turns into (-180, 180]. */
export function wrapLongitudeDelta(d: number): number {
	let x = d;
	while (x > 180) x -= 360;
	while (x <= -180) x += 360;
	return x;
}

function originToSegmentDistanceSquared(ax: number, ay: number, bx: number, by: number): number {
	const dx = bx - ax;
	const dy = by - ay;
	const len2 = dx * dx + dy * dy;
	let t = len2 > 0 ? -(ax * dx + ay * dy) / len2 : 0;
	if (t < 0) t = 0;
	else if (t > 1) t = 1;
	const x = ax + t * dx;
	const y = ay + t * dy;
	return x * x + y * y;
}

/**
 * Fences packed into a few flat typed arrays, for the index: one allocation per array instead of
 * a nested GeoJSON tree per fence, and an exact test that walks plain numbers.
 *
 * Fence `f` (0-based) has its box at `box[4f..4f+3]` (minLng, minLat, maxLng, maxLat). A polygon
 * box is its vertices' bbox. A circle box holds its whole cap with a wide margin; when the cap
 * crosses the antimeridian `minLng > maxLng` (the box wraps), and when it reaches a pole the box
 * spans every longitude. `shape[f]` is `-1 - c` for a circle with data at `circles[4c..4c+3]`
 * (lat, lng, cos(lat) as turf computes it, radius), or the offset in `layout` of a polygon:
 * `parts, (rings, (start, end)*rings)*parts`, where start/end index `coords` (lng, lat pairs;
 * end exclusive, closing vertex included, as in GeoJSON).
 */
export interface PackedFences {
	readonly count: number;
	readonly box: Float64Array;
	readonly shape: Int32Array;
	readonly circles: Float64Array;
	readonly layout: Int32Array;
	readonly coords: Float64Array;
}

// turf's constants, spelled as turf spells them, so the replicated arithmetic is bit for bit its own.
const TURF_EARTH_RADIUS = 63710088e-1;
// robust-predicates' orient2d error bound for its floating-point fast path.
const ORIENT_EPSILON = 1.1102230246251565e-16;
const ORIENT_ERRBOUND = (3 + 16 * ORIENT_EPSILON) * ORIENT_EPSILON;
// A circle's box margin: far above the rounding of turf's haversine.
const CIRCLE_BOX_SLACK = 1.001;
const CIRCLE_BOX_SLACK_DEG = 1e-9;

/** turf's `degreesToRadians`, operation for operation. */
function turfRadians(degrees: number): number {
	return ((degrees % 360) * Math.PI) / 180;
}

/**
 * Packs prepared-to-be fences (validated shapes) in the given order.
 *
 * @param shapes fences; the position in this array is the fence number
 * @returns the packed fences
 */
export function packFences(shapes: ReadonlyArray<FenceShape>): PackedFences {
	let circleCount = 0;
	let layoutLength = 0;
	let coordLength = 0;
	for (const s of shapes) {
		const g = s.geometry;
		if (g.type === "Point") {
			circleCount++;
			continue;
		}
		const polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
		layoutLength += 1;
		for (const polygon of polygons) {
			layoutLength += 1 + 2 * polygon.length;
			for (const ring of polygon) coordLength += 2 * ring.length;
		}
	}
	const count = shapes.length;
	const box = new Float64Array(count * 4);
	const shape = new Int32Array(count);
	const circles = new Float64Array(circleCount * 4);
	const layout = new Int32Array(layoutLength);
	const coords = new Float64Array(coordLength);
	let c = 0;
	let l = 0;
	let k = 0;
	shapes.forEach((s, f) => {
		const g = s.geometry;
		if (g.type === "Point") {
			const [lng, lat] = g.coordinates;
			const radius = s.radius ?? 0;
			circles[4 * c] = lat;
			circles[4 * c + 1] = lng;
			circles[4 * c + 2] = Math.cos(turfRadians(lat));
			circles[4 * c + 3] = radius;
			shape[f] = -1 - c;
			c++;
			circleBox(lat, lng, radius, box, 4 * f);
			return;
		}
		shape[f] = l;
		const polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
		let minLng = Number.POSITIVE_INFINITY;
		let minLat = Number.POSITIVE_INFINITY;
		let maxLng = Number.NEGATIVE_INFINITY;
		let maxLat = Number.NEGATIVE_INFINITY;
		layout[l++] = polygons.length;
		for (const polygon of polygons) {
			layout[l++] = polygon.length;
			for (const ring of polygon) {
				layout[l++] = k;
				for (const [lng, lat] of ring) {
					coords[k++] = lng;
					coords[k++] = lat;
					if (lng < minLng) minLng = lng;
					if (lng > maxLng) maxLng = lng;
					if (lat < minLat) minLat = lat;
					if (lat > maxLat) maxLat = lat;
				}
				layout[l++] = k;
			}
		}
		box[4 * f] = minLng;
		box[4 * f + 1] = minLat;
		box[4 * f + 2] = maxLng;
		box[4 * f + 3] = maxLat;
	});
	return { count, box, shape, circles, layout, coords };
}

/** Writes the lng/lat box of a circle's cap (see {@link PackedFences}) at `out[at..at+3]`. */
function circleBox(lat: number, lng: number, radius: number, out: Float64Array, at: number): void {
	const angle = radius / EARTH_RADIUS_METERS;
	const dLat = (angle / DEG_TO_RAD) * CIRCLE_BOX_SLACK + CIRCLE_BOX_SLACK_DEG;
	const minLat = Math.max(-90, lat - dLat);
	const maxLat = Math.min(90, lat + dLat);
	// Widest longitude of a cap of angular radius `angle` centred at `lat`: asin(sin a / cos lat).
	const s = Math.sin(angle) / Math.cos(Math.min(90, Math.abs(lat) + dLat) * DEG_TO_RAD);
	let minLng = -180;
	let maxLng = 180;
	if (minLat > -90 && maxLat < 90 && s < 1) {
		const dLng = (Math.asin(s) / DEG_TO_RAD) * CIRCLE_BOX_SLACK + CIRCLE_BOX_SLACK_DEG;
		if (dLng < 90) {
			minLng = lng - dLng;
			maxLng = lng + dLng;
			if (minLng < -180) minLng += 360;
			if (maxLng > 180) maxLng -= 360;
		}
	}
	out[at] = minLng;
	out[at + 1] = minLat;
	out[at + 2] = maxLng;
	out[at + 3] = maxLat;
}

/**
 * `@turf/distance` in metres from a packed circle's centre to (lat, lng), operation for operation
 * (same formula, same order, same constants), so it returns the very same number.
 */
export function packedCircleDistance(p: PackedFences, c: number, lat: number, lng: number): number {
	const circles = p.circles;
	const cLat = circles[4 * c] ?? 0;
	const cLng = circles[4 * c + 1] ?? 0;
	const cosLat1 = circles[4 * c + 2] ?? 0;
	const dLat = turfRadians(lat - cLat);
	const dLon = turfRadians(lng - cLng);
	const lat2 = turfRadians(lat);
	// Math.pow as turf writes it: the same operation gives the same bits.
	// biome-ignore lint/style/useExponentiationOperator: replicates turf's expression exactly
	const a = Math.pow(Math.sin(dLat / 2), 2) + Math.pow(Math.sin(dLon / 2), 2) * cosLat1 * Math.cos(lat2);
	return 2 * Math.atan2(Math.sqrt(a), Math.sqrt(1 - a)) * TURF_EARTH_RADIUS;
}

/** Whether (lat, lng) lies in fence `f`'s box (wrapping boxes included). */
export function inPackedBox(p: PackedFences, f: number, lat: number, lng: number): boolean {
	const b = p.box;
	const minLng = b[4 * f] ?? 0;
	const maxLng = b[4 * f + 2] ?? 0;
	if (lat < (b[4 * f + 1] ?? 0) || lat > (b[4 * f + 3] ?? 0)) return false;
	return minLng <= maxLng ? lng >= minLng && lng <= maxLng : lng >= minLng || lng <= maxLng;
}

const PIP_OUTSIDE = 0;
const PIP_INSIDE = 1;
const PIP_UNSURE = 2;

/**
 * point-in-polygon-hao (what turf's booleanPointInPolygon runs) on one packed polygon part,
 * statement for statement, except that its robust orientation test is replaced by the same
 * floating-point fast path robust-predicates takes first: when that path would defer to exact
 * arithmetic, this says "unsure" and the caller asks turf itself.
 *
 * @returns PIP_INSIDE (inside or on the boundary), PIP_OUTSIDE or PIP_UNSURE; and the next layout offset
 */
function pipPart(p: PackedFences, at: number, x: number, y: number): number {
	const layout = p.layout;
	const coords = p.coords;
	const rings = layout[at] ?? 0;
	let k = 0;
	for (let r = 0; r < rings; r++) {
		const start = layout[at + 1 + 2 * r] ?? 0;
		const end = layout[at + 2 + 2 * r] ?? 0;
		let u1 = (coords[start] ?? 0) - x;
		let v1 = (coords[start + 1] ?? 0) - y;
		for (let i = start + 2; i < end; i += 2) {
			const u2 = (coords[i] ?? 0) - x;
			const v2 = (coords[i + 1] ?? 0) - y;
			if (v1 === 0 && v2 === 0) {
				if ((u2 <= 0 && u1 >= 0) || (u1 <= 0 && u2 >= 0)) return PIP_INSIDE;
			} else if ((v2 >= 0 && v1 <= 0) || (v2 <= 0 && v1 >= 0)) {
				// orient2d(u1, u2, v1, v2, 0, 0), fast path.
				const detLeft = u2 * v1;
				const detRight = u1 * v2;
				const f = detLeft - detRight;
				if (!(Math.abs(f) >= ORIENT_ERRBOUND * Math.abs(detLeft + detRight))) return PIP_UNSURE;
				if (f === 0) return PIP_INSIDE;
				if ((f > 0 && v2 > 0 && v1 <= 0) || (f < 0 && v2 <= 0 && v1 > 0)) k++;
			}
			u1 = u2;
			v1 = v2;
		}
	}
	return k % 2 === 0 ? PIP_OUTSIDE : PIP_INSIDE;
}

/** The GeoJSON of a packed polygon, for turf (rare: only when the fast path is unsure). */
function packedPolygonGeometry(p: PackedFences, f: number): MultiPolygonGeometry {
	const layout = p.layout;
	let at = p.shape[f] ?? 0;
	const parts = layout[at++] ?? 0;
	const coordinates: Position[][][] = [];
	for (let part = 0; part < parts; part++) {
		const rings = layout[at++] ?? 0;
		const polygon: Position[][] = [];
		for (let r = 0; r < rings; r++) {
			const start = layout[at++] ?? 0;
			const end = layout[at++] ?? 0;
			const ring: Position[] = [];
			for (let i = start; i < end; i += 2) ring.push([p.coords[i] ?? 0, p.coords[i + 1] ?? 0]);
			polygon.push(ring);
		}
		coordinates.push(polygon);
	}
	return { type: "MultiPolygon", coordinates };
}

/**
 * The exact membership test on a packed fence (see the module comment): turf's answer for
 * every point.
 *
 * @param p packed fences
 * @param f fence number
 * @param lat latitude in degrees
 * @param lng longitude in degrees
 * @returns true when the point is in the fence
 */
export function packedContains(p: PackedFences, f: number, lat: number, lng: number): boolean {
	if (!inPackedBox(p, f, lat, lng)) return false;
	const s = p.shape[f] ?? 0;
	if (s < 0) {
		const c = -1 - s;
		return packedCircleDistance(p, c, lat, lng) <= (p.circles[4 * c + 3] ?? 0);
	}
	const layout = p.layout;
	const parts = layout[s] ?? 0;
	let at = s + 1;
	for (let part = 0; part < parts; part++) {
		const answer = pipPart(p, at, lng, lat);
		if (answer === PIP_INSIDE) return true;
		if (answer === PIP_UNSURE) {
			scratch[0] = lng;
			scratch[1] = lat;
			return booleanPointInPolygon(scratch, packedPolygonGeometry(p, f));
		}
		at += 1 + 2 * (layout[at] ?? 0);
	}
	return false;
}

/**
 * Metres from the point to a packed fence's region: 0 when the exact test says inside; for a
 * circle the haversine distance minus the radius; for a polygon the distance to the nearest ring
 * edge in an equirectangular projection centred on the point (well within 1% at the scales of
 * exit hysteresis and shard buffers), measured across the antimeridian when that is shorter.
 *
 * @param p packed fences
 * @param f fence number
 * @param lat latitude in degrees
 * @param lng longitude in degrees
 * @returns metres, >= 0
 */
export function packedDistanceMeters(p: PackedFences, f: number, lat: number, lng: number): number {
	const s = p.shape[f] ?? 0;
	if (s < 0) {
		const c = -1 - s;
		return Math.max(0, packedCircleDistance(p, c, lat, lng) - (p.circles[4 * c + 3] ?? 0));
	}
	if (packedContains(p, f, lat, lng)) return 0;
	const kx = Math.cos(lat * DEG_TO_RAD) * METERS_PER_DEGREE;
	const ky = METERS_PER_DEGREE;
	const layout = p.layout;
	const coords = p.coords;
	let best = Number.POSITIVE_INFINITY;
	let at = s;
	const parts = layout[at++] ?? 0;
	for (let part = 0; part < parts; part++) {
		const rings = layout[at++] ?? 0;
		for (let r = 0; r < rings; r++) {
			const start = layout[at++] ?? 0;
			const end = layout[at++] ?? 0;
			for (let i = start; i + 2 < end; i += 2) {
				const lngA = coords[i] ?? 0;
				// Wrap the segment as a whole: wrapping each end on its own could flip a long edge.
				const dA = wrapLongitudeDelta(lngA - lng);
				const ax = dA * kx;
				const ay = ((coords[i + 1] ?? 0) - lat) * ky;
				const bx = (dA + (coords[i + 2] ?? 0) - lngA) * kx;
				const by = ((coords[i + 3] ?? 0) - lat) * ky;
				const d2 = originToSegmentDistanceSquared(ax, ay, bx, by);
				if (d2 < best) best = d2;
			}
		}
	}
	return Math.sqrt(best);
}
