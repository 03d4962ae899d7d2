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
 * Fences packed into one flat Float64Array of records, for the index: one allocation instead of
 * a nested GeoJSON tree per fence, a record the exact test reads front to back, and a layout a
 * snapshot stores and maps back as is (snapshot.ts).
 *
 * Fence `f` (0-based) has its record at `geo[recordOf[f]..]`, at a multiple of
 * {@link RECORD_ALIGN} doubles (64 bytes, so a circle is one cache line):
 * - circle: `-1 - f, lat, lng, cos(lat) as turf computes it, sin(lat), radius, aIn, aOut`, where
 *   aIn and aOut bracket turf's haversine term at the radius (see circleContains);
 * - polygon: `f, minLng, minLat, maxLng, maxLat, parts, (rings, (n, (lng, lat) * n) * rings) * parts`,
 *   n positions per ring with the closing one (as in GeoJSON), then padding. The box is the
 *   vertices' bbox.
 */
export interface PackedFences {
	readonly count: number;
	readonly geo: Float64Array;
	readonly recordOf: Int32Array;
}

/** Records start at multiples of this many doubles. */
export const RECORD_ALIGN = 8;
/** Offsets in a circle record. */
export const CIRCLE_LAT = 1;
export const CIRCLE_LNG = 2;
const CIRCLE_COS = 3;
const CIRCLE_SIN = 4;
export const CIRCLE_RADIUS = 5;
const CIRCLE_A_IN = 6;
const CIRCLE_A_OUT = 7;
/** Offset of the box (minLng, minLat, maxLng, maxLat) and of the part count in a polygon record. */
export const POLYGON_BOX = 1;
export const POLYGON_PARTS = 5;

// turf's constants, spelled as turf spells them, so the replicated arithmetic is bit for bit its own.
const TURF_EARTH_RADIUS = 63710088e-1;
// robust-predicates' orient2d error bound for its floating-point fast path.
const ORIENT_EPSILON = 1.1102230246251565e-16;
const ORIENT_ERRBOUND = (3 + 16 * ORIENT_EPSILON) * ORIENT_EPSILON;
// A circle's box margin: far above the rounding of turf's haversine.
const CIRCLE_BOX_SLACK = 1.001;
const CIRCLE_BOX_SLACK_DEG = 1e-9;
// Points beyond this latitude (where cos φ2 nears 0 and rounding in its bound could matter relative
// to it) and points more than 180 degrees of longitude away get no cheap bound (see circleAUpper).
const CIRCLE_BOUNDS_MAX_LAT = 85;
// Relative margin around a haversine term threshold (see haversineTermAt).
const CIRCLE_A_SLACK = 1e-9;

/** turf's `degreesToRadians`, operation for operation. */
function turfRadians(degrees: number): number {
	return ((degrees % 360) * Math.PI) / 180;
}

/** `a` grown to hold at least `need` elements: doubled, or straight to `hint` when that is larger. */
function grownF64(a: Float64Array, need: number, hint: number): Float64Array {
	if (need <= a.length) return a;
	const next = new Float64Array(Math.max(need, 2 * a.length, hint));
	next.set(a);
	return next;
}

/** `a` grown to hold at least `need` elements (see grownF64). */
export function grownI32(a: Int32Array, need: number, hint: number): Int32Array {
	if (need <= a.length) return a;
	const next = new Int32Array(Math.max(need, 2 * a.length, hint));
	next.set(a);
	return next;
}

/** Doubles in the record of a circle. */
export const CIRCLE_RECORD_LENGTH = RECORD_ALIGN;

/**
 * Doubles in the record of a polygon whose parts take `body` doubles: per part 1 + per ring
 * (1 + 2 * positions).
 */
export function polygonRecordLength(body: number): number {
	return Math.ceil((POLYGON_PARTS + 1 + body) / RECORD_ALIGN) * RECORD_ALIGN;
}

/**
 * Writes fences straight into {@link PackedFences} arrays, one fence at a time and with no object
 * per fence or position: the build path reads its input into this (fence-input.ts), into arrays
 * allocated beforehand at the size measured by fenceRecordLength (see createFenceIndex for why).
 */
export class FencePacker {
	count = 0;
	geo: Float64Array;
	recordOf: Int32Array;
	private length = 0;

	/**
	 * @param geo where records go, zero-filled, sized for them (grown when short)
	 * @param recordOf where record offsets go, sized for the fences (grown when short)
	 */
	constructor(geo: Float64Array, recordOf: Int32Array) {
		this.geo = geo;
		this.recordOf = recordOf;
	}

	/** Room for `more` doubles after the current end (only short when the measure was wrong). */
	private reserve(more: number): void {
		const need = this.length + more;
		if (need > this.geo.length) this.geo = grownF64(this.geo, need, 0);
	}

	private nextFence(): number {
		const f = this.count++;
		if (f === this.recordOf.length) this.recordOf = grownI32(this.recordOf, f + 1, 0);
		this.recordOf[f] = this.length;
		return f;
	}

	/** Writes a circle fence (validated: finite centre, radius > 0). */
	addCircle(lat: number, lng: number, radius: number): void {
		const f = this.nextFence();
		this.reserve(CIRCLE_RECORD_LENGTH);
		const geo = this.geo;
		const at = this.length;
		const phi = turfRadians(lat);
		geo[at] = -1 - f;
		geo[at + CIRCLE_LAT] = lat;
		geo[at + CIRCLE_LNG] = lng;
		geo[at + CIRCLE_COS] = Math.cos(phi);
		geo[at + CIRCLE_SIN] = Math.sin(phi);
		geo[at + CIRCLE_RADIUS] = radius;
		geo[at + CIRCLE_A_IN] = haversineTermAt(radius, -1);
		geo[at + CIRCLE_A_OUT] = haversineTermAt(radius, 1);
		this.length = at + CIRCLE_RECORD_LENGTH;
	}

	/** Starts a polygon fence of `parts` parts; then per part {@link beginPart}, per ring {@link ring}. */
	beginPolygon(parts: number): void {
		const f = this.nextFence();
		this.reserve(POLYGON_PARTS + 1);
		const at = this.length;
		const geo = this.geo;
		geo[at] = f;
		geo[at + POLYGON_BOX] = Number.POSITIVE_INFINITY;
		geo[at + POLYGON_BOX + 1] = Number.POSITIVE_INFINITY;
		geo[at + POLYGON_BOX + 2] = Number.NEGATIVE_INFINITY;
		geo[at + POLYGON_BOX + 3] = Number.NEGATIVE_INFINITY;
		geo[at + POLYGON_PARTS] = parts;
		this.length = at + POLYGON_PARTS + 1;
	}

	/** Starts a part (an outer ring and its holes) of `rings` rings. */
	beginPart(rings: number): void {
		this.reserve(1);
		this.geo[this.length++] = rings;
	}

	/** Appends a ring (validated positions: `[lng, lat, ...]`, closing position included). */
	ring(positions: ReadonlyArray<ArrayLike<number>>): void {
		const n = positions.length;
		this.reserve(1 + 2 * n);
		const geo = this.geo;
		let k = this.length;
		geo[k++] = n;
		// Locals, not fields: a double stored in a field per vertex costs V8 a box each time.
		const box = (this.recordOf[this.count - 1] ?? 0) + POLYGON_BOX;
		let minLng = geo[box] ?? 0;
		let minLat = geo[box + 1] ?? 0;
		let maxLng = geo[box + 2] ?? 0;
		let maxLat = geo[box + 3] ?? 0;
		for (let i = 0; i < n; i++) {
			const p = positions[i] as ArrayLike<number>;
			const lng = p[0] ?? 0;
			const lat = p[1] ?? 0;
			geo[k++] = lng;
			geo[k++] = lat;
			if (lng < minLng) minLng = lng;
			if (lng > maxLng) maxLng = lng;
			if (lat < minLat) minLat = lat;
			if (lat > maxLat) maxLat = lat;
		}
		geo[box] = minLng;
		geo[box + 1] = minLat;
		geo[box + 2] = maxLng;
		geo[box + 3] = maxLat;
		this.length = k;
	}

	/** Ends the polygon: pads its record (the padding stays 0 from the allocation). */
	endPolygon(): void {
		const end = Math.ceil(this.length / RECORD_ALIGN) * RECORD_ALIGN;
		this.reserve(end - this.length);
		this.length = end;
	}

	/**
	 * The packed fences, fence i being the one written `order[i]`-th (every fence in written order
	 * when `order` is null). Records stay where they were written, renumbered in place: a fence
	 * left out keeps a record nothing points to.
	 */
	finish(order: Int32Array | null): PackedFences {
		const geo = this.geo.length === this.length ? this.geo : this.geo.subarray(0, this.length);
		if (order === null) {
			const recordOf =
				this.recordOf.length === this.count ? this.recordOf : this.recordOf.subarray(0, this.count);
			return { count: this.count, geo, recordOf };
		}
		const recordOf = new Int32Array(order.length);
		for (let i = 0; i < order.length; i++) {
			const at = this.recordOf[order[i] ?? 0] ?? 0;
			recordOf[i] = at;
			geo[at] = (geo[at] ?? 0) < 0 ? -1 - i : i;
		}
		return { count: order.length, geo, recordOf };
	}
}

/**
 * Packs fences (validated shapes) in the given order.
 *
 * @param shapes fences; the position in this array is the fence number
 * @returns the packed fences
 */
export function packFences(shapes: ReadonlyArray<FenceShape>): PackedFences {
	const packer = new FencePacker(new Float64Array(RECORD_ALIGN), new Int32Array(Math.max(1, shapes.length)));
	for (const s of shapes) {
		const g = s.geometry;
		if (g.type === "Point") {
			packer.addCircle(g.coordinates[1], g.coordinates[0], s.radius ?? 0);
			continue;
		}
		const polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
		packer.beginPolygon(polygons.length);
		for (const polygon of polygons) {
			packer.beginPart(polygon.length);
			for (const ring of polygon) packer.ring(ring);
		}
		packer.endPolygon();
	}
	return packer.finish(null);
}

/**
 * The lng/lat box of a circle's cap, written at `out[at..at+3]` (minLng, minLat, maxLng, maxLat):
 * it holds the whole cap with a wide margin; when the cap crosses the antimeridian
 * `minLng > maxLng` (the box wraps), and when it reaches a pole the box spans every longitude.
 */
export function circleBox(lat: number, lng: number, radius: number, out: Float64Array, at: number): void {
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
 * The box of the fence whose record is at `at` (see {@link circleBox} for a circle's), written at
 * `out[to..to+3]`.
 */
export function recordBox(geo: Float64Array, at: number, out: Float64Array, to: number): void {
	if ((geo[at] ?? 0) < 0) {
		circleBox(geo[at + CIRCLE_LAT] ?? 0, geo[at + CIRCLE_LNG] ?? 0, geo[at + CIRCLE_RADIUS] ?? 0, out, to);
		return;
	}
	for (let i = 0; i < 4; i++) out[to + i] = geo[at + POLYGON_BOX + i] ?? 0;
}

/**
 * `@turf/distance` in metres from the centre of the circle whose record is at `at` to (lat, lng),
 * operation for operation (same formula, same order, same constants), so it returns the very
 * same number.
 */
export function packedCircleDistance(geo: Float64Array, at: number, lat: number, lng: number): number {
	const cLat = geo[at + CIRCLE_LAT] ?? 0;
	const cLng = geo[at + CIRCLE_LNG] ?? 0;
	const cosLat1 = geo[at + CIRCLE_COS] ?? 0;
	const dLat = turfRadians(lat - cLat);
	const dLon = turfRadians(lng - cLng);
	const lat2 = turfRadians(lat);
	// Math.pow as turf writes it: the same operation gives the same bits.
	// biome-ignore lint/style/useExponentiationOperator: replicates turf's expression exactly
	const a = Math.pow(Math.sin(dLat / 2), 2) + Math.pow(Math.sin(dLon / 2), 2) * cosLat1 * Math.cos(lat2);
	return 2 * Math.atan2(Math.sqrt(a), Math.sqrt(1 - a)) * TURF_EARTH_RADIUS;
}

/**
 * An upper bound of turf's haversine term `a` between the centre of the circle whose record is at
 * `at` and (lat, lng); its distance is 2R asin(sqrt(a)), increasing in a. With h = dφ/2 and
 * l = dλ/2 (|l| <= π/2): sin²x <= x², and cos φ2 <= cos φ1 - sin φ1 dφ + dφ²/2 (Taylor).
 *
 * @returns the bound, or +Infinity where it is not computed (more than 180 degrees of longitude
 *   apart, or the point beyond 85 degrees of latitude, where rounding could matter)
 */
export function circleAUpper(geo: Float64Array, at: number, lat: number, lng: number): number {
	const dLng = lng - (geo[at + CIRCLE_LNG] ?? 0);
	if (!(dLng >= -180 && dLng <= 180 && lat >= -CIRCLE_BOUNDS_MAX_LAT && lat <= CIRCLE_BOUNDS_MAX_LAT)) {
		return Number.POSITIVE_INFINITY;
	}
	const h = (lat - (geo[at + CIRCLE_LAT] ?? 0)) * (DEG_TO_RAD / 2);
	const l = dLng * (DEG_TO_RAD / 2);
	const cos1 = geo[at + CIRCLE_COS] ?? 0;
	const cos2 = cos1 - (geo[at + CIRCLE_SIN] ?? 0) * 2 * h + 2 * h * h;
	return h * h + l * l * cos1 * Math.max(cos2, 0);
}

/**
 * A lower bound of the same term (see {@link circleAUpper}): x²(1 - x²/3) <= sin²x for |x| <= √6,
 * and cos φ2 >= cos φ1 - sin φ1 dφ - dφ²/2.
 *
 * @returns the bound, or 0 where it is not computed
 */
export function circleALower(geo: Float64Array, at: number, lat: number, lng: number): number {
	const dLng = lng - (geo[at + CIRCLE_LNG] ?? 0);
	if (!(dLng >= -180 && dLng <= 180 && lat >= -CIRCLE_BOUNDS_MAX_LAT && lat <= CIRCLE_BOUNDS_MAX_LAT))
		return 0;
	const h = (lat - (geo[at + CIRCLE_LAT] ?? 0)) * (DEG_TO_RAD / 2);
	const l = dLng * (DEG_TO_RAD / 2);
	const cos1 = geo[at + CIRCLE_COS] ?? 0;
	const cos2 = cos1 - (geo[at + CIRCLE_SIN] ?? 0) * 2 * h - 2 * h * h;
	const h2 = h * h;
	const l2 = l * l;
	return h2 * (1 - h2 / 3) + l2 * (1 - l2 / 3) * cos1 * Math.max(cos2, 0);
}

/**
 * The haversine term `a` at which turf's distance is `meters`, less (side -1) or more (side 1) a
 * relative margin far above the rounding of either (about 1e-14 relative away from the poles):
 * a point whose {@link circleAUpper} is at most the lower one is within `meters` by turf's
 * arithmetic, one whose {@link circleALower} is at least the upper one is beyond.
 *
 * @returns the threshold; -1 (side -1) or +Infinity (side 1) when `meters` is not below a quarter turn
 */
export function haversineTermAt(meters: number, side: -1 | 1): number {
	const half = meters / (2 * TURF_EARTH_RADIUS);
	if (!(half >= 0 && half < 1.5)) return side < 0 ? -1 : Number.POSITIVE_INFINITY;
	return Math.sin(half) ** 2 * (1 + side * CIRCLE_A_SLACK);
}

/**
 * Whether (lat, lng) is in the circle whose record is at `at`, as turf's haversine <= radius says.
 * The record's aIn and aOut are {@link haversineTermAt} the radius: only when the bounds of
 * {@link circleAUpper} and {@link circleALower} straddle them (a shell of relative width about
 * 1e-9 of the radius, and near the poles) does the answer come from turf's own arithmetic, so it is
 * always turf's answer, at a fraction of the cost.
 */
function circleContains(geo: Float64Array, at: number, lat: number, lng: number): boolean {
	if (circleAUpper(geo, at, lat, lng) <= (geo[at + CIRCLE_A_IN] ?? -1)) return true;
	if (circleALower(geo, at, lat, lng) >= (geo[at + CIRCLE_A_OUT] ?? Number.POSITIVE_INFINITY)) return false;
	return packedCircleDistance(geo, at, lat, lng) <= (geo[at + CIRCLE_RADIUS] ?? 0);
}

const PIP_OUTSIDE = 0;
const PIP_INSIDE = 1;
const PIP_UNSURE = 2;
// Where the part pipPart last read to the end of lies: JS is single-threaded and pipPart does not re-enter.
let partEnd = 0;

/**
 * point-in-polygon-hao (what turf's booleanPointInPolygon runs) on one packed polygon part,
 * statement for statement, except that its robust orientation test is replaced by the same
 * floating-point fast path robust-predicates takes first: when that path would defer to exact
 * arithmetic, this says "unsure" and the caller asks turf itself.
 *
 * @returns PIP_INSIDE (inside or on the boundary), PIP_OUTSIDE (then `partEnd` is the offset after
 *   the part) or PIP_UNSURE
 */
function pipPart(geo: Float64Array, at: number, x: number, y: number): number {
	const rings = geo[at] ?? 0;
	let q = at + 1;
	let k = 0;
	for (let r = 0; r < rings; r++) {
		const start = q + 1;
		// The count as an int32 (`| 0`: exact, counts are small integers): read as a double it made
		// q and i doubles in V8's optimized code, each read converting its index back, and a
		// polygon test took 1.4 times as long (232 ns against 163 ns on the matcher benchmark's
		// tests at 1,000 fences).
		const end = start + 2 * ((geo[q] ?? 0) | 0);
		q = end;
		let v1 = (geo[start + 1] ?? 0) - y;
		for (let i = start + 2; i < end; i += 2) {
			const v2 = (geo[i + 1] ?? 0) - y;
			// Both ends strictly on one side of the point's parallel (a product that neither
			// underflows nor is NaN): neither branch below would fire. Most edges, one test each.
			if (v1 * v2 > 0) {
				v1 = v2;
				continue;
			}
			const u1 = (geo[i - 2] ?? 0) - x;
			const u2 = (geo[i] ?? 0) - x;
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
			v1 = v2;
		}
	}
	partEnd = q;
	return k % 2 === 0 ? PIP_OUTSIDE : PIP_INSIDE;
}

/** The GeoJSON of a packed polygon, for turf (rare: only when the fast path is unsure). */
function packedPolygonGeometry(geo: Float64Array, at: number): MultiPolygonGeometry {
	let q = at + POLYGON_PARTS;
	const parts = (geo[q++] ?? 0) | 0;
	const coordinates: Position[][][] = [];
	for (let part = 0; part < parts; part++) {
		const rings = (geo[q++] ?? 0) | 0;
		const polygon: Position[][] = [];
		for (let r = 0; r < rings; r++) {
			const n = geo[q++] ?? 0;
			const ring: Position[] = [];
			for (let i = 0; i < n; i++, q += 2) ring.push([geo[q] ?? 0, geo[q + 1] ?? 0]);
			polygon.push(ring);
		}
		coordinates.push(polygon);
	}
	return { type: "MultiPolygon", coordinates };
}

/** Whether (lat, lng) is in the polygon whose record is at `at` (turf's answer). */
function polygonContains(geo: Float64Array, at: number, lat: number, lng: number): boolean {
	if (
		lng < (geo[at + POLYGON_BOX] ?? 0) ||
		lat < (geo[at + POLYGON_BOX + 1] ?? 0) ||
		lng > (geo[at + POLYGON_BOX + 2] ?? 0) ||
		lat > (geo[at + POLYGON_BOX + 3] ?? 0)
	) {
		return false;
	}
	const parts = geo[at + POLYGON_PARTS] ?? 0;
	let q = at + POLYGON_PARTS + 1;
	for (let part = 0; part < parts; part++) {
		const answer = pipPart(geo, q, lng, lat);
		if (answer === PIP_INSIDE) return true;
		if (answer === PIP_UNSURE) {
			scratch[0] = lng;
			scratch[1] = lat;
			return booleanPointInPolygon(scratch, packedPolygonGeometry(geo, at));
		}
		q = partEnd;
	}
	return false;
}

/**
 * The exact membership test (see the module comment) on the fence whose record is at `at`:
 * turf's answer for every point.
 *
 * @param geo packed records
 * @param at the record's offset
 * @param lat latitude in degrees
 * @param lng longitude in degrees
 * @returns true when the point is in the fence
 */
export function recordContains(geo: Float64Array, at: number, lat: number, lng: number): boolean {
	return (geo[at] ?? 0) < 0 ? circleContains(geo, at, lat, lng) : polygonContains(geo, at, lat, lng);
}

/**
 * The exact membership test on packed fence `f`.
 *
 * @param p packed fences
 * @param f fence number
 * @param lat latitude in degrees
 * @param lng longitude in degrees
 * @returns true when the point is in the fence
 */
export function packedContains(p: PackedFences, f: number, lat: number, lng: number): boolean {
	return recordContains(p.geo, p.recordOf[f] ?? 0, lat, lng);
}

/**
 * Metres from the point to a packed fence's region: 0 when the exact test says inside; for a
 * circle the haversine distance minus the radius; for a polygon the distance to the nearest ring
 * edge in an equirectangular projection centred on the point (well within 1% at the scales of
 * exit hysteresis and shard buffers), measured across the antimeridian when that is shorter.
 *
 * @param geo packed records
 * @param at the fence's record offset
 * @param lat latitude in degrees
 * @param lng longitude in degrees
 * @returns metres, >= 0
 */
export function recordDistanceMeters(geo: Float64Array, at: number, lat: number, lng: number): number {
	if ((geo[at] ?? 0) < 0) {
		return Math.max(0, packedCircleDistance(geo, at, lat, lng) - (geo[at + CIRCLE_RADIUS] ?? 0));
	}
	if (polygonContains(geo, at, lat, lng)) return 0;
	const kx = Math.cos(lat * DEG_TO_RAD) * METERS_PER_DEGREE;
	const ky = METERS_PER_DEGREE;
	let best = Number.POSITIVE_INFINITY;
	let q = at + POLYGON_PARTS;
	const parts = (geo[q++] ?? 0) | 0;
	for (let part = 0; part < parts; part++) {
		const rings = (geo[q++] ?? 0) | 0;
		for (let r = 0; r < rings; r++) {
			const start = q + 1;
			const end = start + 2 * ((geo[q] ?? 0) | 0);
			q = end;
			for (let i = start; i + 2 < end; i += 2) {
				const lngA = geo[i] ?? 0;
				// Wrap the segment as a whole: wrapping each end on its own could flip a long edge.
				const dA = wrapLongitudeDelta(lngA - lng);
				const ax = dA * kx;
				const ay = ((geo[i + 1] ?? 0) - lat) * ky;
				const bx = (dA + (geo[i + 2] ?? 0) - lngA) * kx;
				const by = ((geo[i + 3] ?? 0) - lat) * ky;
				const d2 = originToSegmentDistanceSquared(ax, ay, bx, by);
				if (d2 < best) best = d2;
			}
		}
	}
	return Math.sqrt(best);
}

/**
 * {@link recordDistanceMeters} of packed fence `f`.
 *
 * @returns metres, >= 0
 */
export function packedDistanceMeters(p: PackedFences, f: number, lat: number, lng: number): number {
	return recordDistanceMeters(p.geo, p.recordOf[f] ?? 0, lat, lng);
}
