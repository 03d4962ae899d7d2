/**
 * The exact geometric test that defines fence membership, and distances to a fence.
 *
 * Membership is, by definition: polygon = `@turf/boolean-point-in-polygon` with default options
 * (planar in lng/lat, boundary inside, a point in a hole outside, MultiPolygon = any part);
 * circle = `@turf/distance` (haversine, metres) from the centre to the point <= radius.
 * The H3 index only accelerates this test: it must give the same answer for every point.
 */
import { booleanPointInPolygon } from "@turf/boolean-point-in-polygon";
import { distance } from "@turf/distance";
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
	/** The centre as turf reads it: `[lng, lat]`. */
	centerPosition: Position;
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
			centerPosition: [lng, lat],
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
const METERS = { units: "meters" } as const;

/**
 * The exact membership test (see the module comment); the ground truth the index reproduces.
 *
 * @param p a prepared fence
 * @param lat latitude in degrees
 * @param lng longitude in degrees
 * @returns true when the point is in the fence
 */
export function fenceContains(p: PreparedFence, lat: number, lng: number): boolean {
	scratch[0] = lng;
	scratch[1] = lat;
	if (p.kind === "circle") return distance(p.centerPosition, scratch, METERS) <= p.radius;
	// Cheap rejection first; the bbox is exact, so it cannot change turf's answer.
	if (lng < p.minLng || lng > p.maxLng || lat < p.minLat || lat > p.maxLat) return false;
	return booleanPointInPolygon(scratch, p.geometry);
}

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

/**
 * Metres from the point to the fence's region: 0 when the exact test says inside; for a circle
 * the haversine distance minus the radius; for a polygon the distance to the nearest ring edge in
 * an equirectangular projection centred on the point (well within 1% at the scales of exit
 * hysteresis and shard buffers), measured across the antimeridian when that is shorter.
 *
 * @param p a prepared fence
 * @param lat latitude in degrees
 * @param lng longitude in degrees
 * @returns metres, >= 0
 */
export function fenceDistanceMeters(p: PreparedFence, lat: number, lng: number): number {
	if (p.kind === "circle") {
		scratch[0] = lng;
		scratch[1] = lat;
		return Math.max(0, distance(p.centerPosition, scratch, METERS) - p.radius);
	}
	if (fenceContains(p, lat, lng)) return 0;
	const kx = Math.cos(lat * DEG_TO_RAD) * METERS_PER_DEGREE;
	const ky = METERS_PER_DEGREE;
	const s = p.segments;
	let best = Number.POSITIVE_INFINITY;
	for (let i = 0; i < s.length; i += 4) {
		const lngA = s[i] ?? 0;
		// Wrap the segment as a whole: wrapping each end on its own could flip a long edge.
		const dA = wrapLongitudeDelta(lngA - lng);
		const ax = dA * kx;
		const ay = ((s[i + 1] ?? 0) - lat) * ky;
		const bx = (dA + (s[i + 2] ?? 0) - lngA) * kx;
		const by = ((s[i + 3] ?? 0) - lat) * ky;
		const d2 = originToSegmentDistanceSquared(ax, ay, bx, by);
		if (d2 < best) best = d2;
	}
	return Math.sqrt(best);
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
