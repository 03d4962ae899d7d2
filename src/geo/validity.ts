/**
 * OGC Simple Features validity of polygonal fences, with JTS's `IsValidOp` as the reference: rings
 * simple (no crossing, no self-touch, no spike), holes inside their shell, holes neither
 * overlapping nor nested, rings of one polygon touching at single points only and never in a cycle
 * that cuts the interior apart, MultiPolygon parts with disjoint interiors touching at points only.
 *
 * Every decision is exact for the doubles given: touching versus crossing is decided with a robust
 * orientation predicate (a floating-point filter with Shewchuk's error bound, and an exact BigInt
 * evaluation when the filter cannot tell), so a hole that touches its shell at a vertex is never
 * confused with one that crosses it, however close the numbers. Intersection points of proper
 * crossings are never computed: every other contact happens at an input vertex, whose coordinates
 * are exact, so no rounding enters the topology.
 *
 * Cost: one sweep over all segments of a fence sorted by min x (only pairs whose boxes overlap are
 * tested), then one point location per hole and per nested candidate part. Pure: no I/O, no globals
 * beyond a scratch buffer.
 */
import type { Position } from "./types.js";

/** Stable codes of the validity problems {@link findValidityIssues} reports. */
export type ValidityCode =
	| "self_intersection"
	| "hole_outside_shell"
	| "holes_overlap"
	| "nested_holes"
	| "disconnected_interior"
	| "parts_overlap"
	| "shared_edge"
	| "duplicate_ring";

/** One validity problem, located on the ring that is at fault. */
export interface ValidityIssue {
	code: ValidityCode;
	/** Index of the polygon (0 for a Polygon, the part for a MultiPolygon). */
	part: number;
	/** Index of the ring in its polygon (0 is the shell). */
	ring: number;
	/** Index of the position in the ring as given, when the fault sits on a vertex of that ring. */
	position: number | null;
	/** Human-readable detail; not part of the contract. */
	message: string;
}

// ---------------------------------------------------------------------------------------------
// Robust orientation

// Shewchuk's ccwerrboundA: when |det| exceeds this times |detLeft| + |detRight|, the sign of the
// floating-point determinant is the sign of the exact one (barring underflow, handled below).
const EPSILON = 2 ** -53;
const ORIENT_ERROR_BOUND = (3 + 16 * EPSILON) * EPSILON;
// Below this the products may have lost bits to gradual underflow, and the bound no longer holds.
const ORIENT_TINY = 2 ** -900;

const scratch = new DataView(new ArrayBuffer(8));

/** x as an integer mantissa and a power-of-two exponent: x = mantissa * 2^exponent, exactly. */
function decompose(x: number): { mantissa: bigint; exponent: number } {
	scratch.setFloat64(0, x);
	const hi = scratch.getUint32(0);
	const lo = scratch.getUint32(4);
	const biased = (hi >>> 20) & 0x7ff;
	let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
	let exponent = -1074;
	if (biased !== 0) {
		mantissa |= 1n << 52n;
		exponent = biased - 1075;
	}
	return { mantissa: hi >>> 31 ? -mantissa : mantissa, exponent };
}

/**
 * The exact sign, in integers: every finite double is an integer times a power of two, so scaling
 * all six by the smallest power present makes the determinant an integer computation. Slow
 * (hundreds of bits) but only reached for (nearly) collinear points.
 */
function orientExact(ax: number, ay: number, bx: number, by: number, cx: number, cy: number): -1 | 0 | 1 {
	const parts = [ax, ay, bx, by, cx, cy].map(decompose);
	let minExponent = Number.POSITIVE_INFINITY;
	for (const p of parts) if (p.mantissa !== 0n && p.exponent < minExponent) minExponent = p.exponent;
	if (minExponent === Number.POSITIVE_INFINITY) return 0;
	const [iax, iay, ibx, iby, icx, icy] = parts.map((p) =>
		p.mantissa === 0n ? 0n : p.mantissa << BigInt(p.exponent - minExponent),
	) as [bigint, bigint, bigint, bigint, bigint, bigint];
	const det = (iax - icx) * (iby - icy) - (iay - icy) * (ibx - icx);
	return det > 0n ? 1 : det < 0n ? -1 : 0;
}

/**
 * The exact orientation of c relative to the directed line a→b: 1 when c is to the left
 * (a, b, c counterclockwise), -1 to the right, 0 when the three points are collinear.
 * Exact for any finite doubles.
 */
export function orient2d(ax: number, ay: number, bx: number, by: number, cx: number, cy: number): -1 | 0 | 1 {
	const acx = ax - cx;
	const bcx = bx - cx;
	const acy = ay - cy;
	const bcy = by - cy;
	const detLeft = acx * bcy;
	const detRight = acy * bcx;
	const det = detLeft - detRight;
	const detSum = Math.abs(detLeft) + Math.abs(detRight);
	// The common case. NaN (overflowing products) fails the test and goes the slow way.
	if (Math.abs(det) > ORIENT_ERROR_BOUND * detSum && detSum > ORIENT_TINY) return det > 0 ? 1 : -1;
	// A difference of doubles is zero only when they are equal and keeps its sign otherwise, so the
	// sign of each product is exact even when it underflowed: when they differ (or one is zero,
	// as on axis-aligned edges) it decides alone.
	const signLeft = Math.sign(acx) * Math.sign(bcy);
	const signRight = Math.sign(acy) * Math.sign(bcx);
	if (signLeft !== signRight || signLeft === 0) return Math.sign(signLeft - signRight) as -1 | 0 | 1;
	return orientExact(ax, ay, bx, by, cx, cy);
}

/**
 * {@link orient2d} on GeoJSON positions: 1 when a, b, c turn counterclockwise, -1 clockwise,
 * 0 when collinear, exactly.
 */
export function orientation(a: Position, b: Position, c: Position): -1 | 0 | 1 {
	return orient2d(a[0], a[1], b[0], b[1], c[0], c[1]);
}

// ---------------------------------------------------------------------------------------------
// Flattened rings

// Per-vertex arrays are views into buffers reused from call to call (the checks are synchronous,
// never re-entered): an upload of 100,000 fences would otherwise allocate over a million typed
// arrays. Fences past the pooled size, which the vertex budget rules out, get fresh arrays.
const POOLED_VERTICES = 4_096;
const floatPool: Float64Array[] = [];
const intPool: Int32Array[] = [];

function floats(slot: number, n: number): Float64Array {
	if (n > POOLED_VERTICES) return new Float64Array(n);
	let buffer = floatPool[slot];
	if (buffer === undefined) {
		buffer = new Float64Array(POOLED_VERTICES);
		floatPool[slot] = buffer;
	}
	return buffer.subarray(0, n);
}

function ints(slot: number, n: number): Int32Array {
	if (n > POOLED_VERTICES) return new Int32Array(n);
	let buffer = intPool[slot];
	if (buffer === undefined) {
		buffer = new Int32Array(POOLED_VERTICES);
		intPool[slot] = buffer;
	}
	return buffer.subarray(0, n);
}

/** All vertices of a fence in flat arrays; a segment is named by its start vertex. */
interface Topology {
	xs: Float64Array;
	ys: Float64Array;
	next: Int32Array;
	prev: Int32Array;
	/** Global ring of each vertex. */
	ringOf: Int32Array;
	ringStart: Int32Array;
	ringLength: Int32Array;
	ringPart: Int32Array;
	/** Index of each ring in its polygon (0 = shell). */
	ringLocal: Int32Array;
	/** First global ring of each part, plus a final sentinel. */
	partRing: Int32Array;
}

function flatten(polygons: Position[][][]): Topology {
	let vertexCount = 0;
	let ringCount = 0;
	for (const polygon of polygons) {
		ringCount += polygon.length;
		for (const ring of polygon) vertexCount += ring.length - 1;
	}
	const t: Topology = {
		xs: floats(0, vertexCount),
		ys: floats(1, vertexCount),
		next: ints(0, vertexCount),
		prev: ints(1, vertexCount),
		ringOf: ints(2, vertexCount),
		ringStart: new Int32Array(ringCount),
		ringLength: new Int32Array(ringCount),
		ringPart: new Int32Array(ringCount),
		ringLocal: new Int32Array(ringCount),
		partRing: new Int32Array(polygons.length + 1),
	};
	let v = 0;
	let r = 0;
	for (let p = 0; p < polygons.length; p++) {
		t.partRing[p] = r;
		const polygon = polygons[p] ?? [];
		for (let local = 0; local < polygon.length; local++, r++) {
			const ring = polygon[local] ?? [];
			const n = ring.length - 1;
			t.ringStart[r] = v;
			t.ringLength[r] = n;
			t.ringPart[r] = p;
			t.ringLocal[r] = local;
			for (let k = 0; k < n; k++, v++) {
				const position = ring[k] ?? [0, 0];
				t.xs[v] = position[0];
				t.ys[v] = position[1];
				t.ringOf[v] = r;
				t.next[v] = k + 1 < n ? v + 1 : v + 1 - n;
				t.prev[v] = k > 0 ? v - 1 : v + n - 1;
			}
		}
	}
	t.partRing[polygons.length] = r;
	return t;
}

const orientV = (t: Topology, a: number, b: number, c: number): -1 | 0 | 1 =>
	orient2d(t.xs[a] ?? 0, t.ys[a] ?? 0, t.xs[b] ?? 0, t.ys[b] ?? 0, t.xs[c] ?? 0, t.ys[c] ?? 0);

const sameXY = (t: Topology, a: number, b: number): boolean => t.xs[a] === t.xs[b] && t.ys[a] === t.ys[b];

const local = (t: Topology, v: number): number => v - (t.ringStart[t.ringOf[v] ?? 0] ?? 0);

// ---------------------------------------------------------------------------------------------
// Segment intersection, exact

const NONE = 0;
const PROPER = 1;
const OVERLAP = 2;
const TOUCH = 3;

/**
 * Classifies segments i and j (named by their start vertex): no contact, a proper crossing (one
 * point inside both), a collinear overlap of positive length, or a touch at a single point, which
 * is then always an input vertex, returned in `at`.
 */
function intersect(t: Topology, i: number, j: number, at: { vertex: number }): number {
	const i1 = t.next[i] ?? i;
	const j1 = t.next[j] ?? j;
	const o1 = orientV(t, i, i1, j);
	const o2 = orientV(t, i, i1, j1);
	if (o1 === o2 && o1 !== 0) return NONE;
	const o3 = orientV(t, j, j1, i);
	const o4 = orientV(t, j, j1, i1);
	if (o3 === o4 && o3 !== 0) return NONE;
	if (o1 === 0 && o2 === 0) return collinear(t, i, i1, j, j1, at);
	if (o1 !== 0 && o2 !== 0 && o3 !== 0 && o4 !== 0) return PROPER;
	// Exactly one line passes through the contact, so the endpoint on the other segment's line is it.
	at.vertex = o1 === 0 ? j : o2 === 0 ? j1 : o3 === 0 ? i : i1;
	return TOUCH;
}

/** Contact of two segments on one line, compared along x (or y for a vertical line): exact. */
function collinear(
	t: Topology,
	i: number,
	i1: number,
	j: number,
	j1: number,
	at: { vertex: number },
): number {
	const c = t.xs[i] !== t.xs[i1] ? t.xs : t.ys;
	const ci = c[i] ?? 0;
	const ci1 = c[i1] ?? 0;
	const cj = c[j] ?? 0;
	const cj1 = c[j1] ?? 0;
	const lo = Math.max(Math.min(ci, ci1), Math.min(cj, cj1));
	const hi = Math.min(Math.max(ci, ci1), Math.max(cj, cj1));
	if (lo < hi) return OVERLAP;
	if (lo > hi) return NONE;
	at.vertex = cj === lo ? j : j1;
	return TOUCH;
}

/** Does the ring turn back at the end of segment s, its next segment running along s? */
function isSpike(t: Topology, s: number): boolean {
	const b = t.next[s] ?? s;
	const c = t.next[b] ?? b;
	if (orientV(t, s, b, c) !== 0) return false;
	// Collinear: it folds back when c lies on the same side of b as s, on either axis.
	const bx = t.xs[b] ?? 0;
	const by = t.ys[b] ?? 0;
	return (
		Math.sign((t.xs[s] ?? 0) - bx) === Math.sign((t.xs[c] ?? 0) - bx) &&
		Math.sign((t.ys[s] ?? 0) - by) === Math.sign((t.ys[c] ?? 0) - by)
	);
}

// ---------------------------------------------------------------------------------------------
// Node topology: the directions of the rings around a contact point

/** Is direction x→d strictly inside the sector swept counterclockwise from x→u to x→w? */
function inSector(t: Topology, x: number, d: number, u: number, w: number): boolean {
	const uw = orientV(t, x, u, w);
	if (uw > 0) return orientV(t, x, u, d) > 0 && orientV(t, x, d, w) > 0;
	// A reflex sector is what the closed convex sector from w to u leaves.
	if (uw < 0) return !(orientV(t, x, w, d) >= 0 && orientV(t, x, d, u) >= 0);
	const xx = t.xs[x] ?? 0;
	const xy = t.ys[x] ?? 0;
	const sameRay =
		Math.sign((t.xs[u] ?? 0) - xx) === Math.sign((t.xs[w] ?? 0) - xx) &&
		Math.sign((t.ys[u] ?? 0) - xy) === Math.sign((t.ys[w] ?? 0) - xy);
	// Same ray: a spike, reported on its own; opposite rays: a half-plane.
	return !sameRay && orientV(t, x, u, d) > 0;
}

/**
 * Do the two rings through x cross there? Ring A arrives from a0 and leaves to a1, ring B likewise;
 * they cross when B's two directions fall on different sides of A's. A direction along one of A's
 * is a shared edge, reported on its own, so it counts as no crossing here.
 */
function crossesAt(t: Topology, x: number, a0: number, a1: number, b0: number, b1: number): boolean {
	const b0Left = inSector(t, x, b0, a0, a1);
	const b0Right = inSector(t, x, b0, a1, a0);
	const b1Left = inSector(t, x, b1, a0, a1);
	const b1Right = inSector(t, x, b1, a1, a0);
	if ((!b0Left && !b0Right) || (!b1Left && !b1Right)) return false;
	return b0Left !== b1Left;
}

/** The neighbours of point x along segment s of a ring: its vertex's neighbours, or s's ends. */
function around(t: Topology, s: number, x: number): [number, number] {
	const s1 = t.next[s] ?? s;
	if (sameXY(t, s, x)) return [t.prev[s] ?? s, s1];
	if (sameXY(t, s1, x)) return [s, t.next[s1] ?? s1];
	return [s, s1];
}

// ---------------------------------------------------------------------------------------------
// Point in ring, exact

const EXTERIOR = 0;
const INTERIOR = 1;
const BOUNDARY = 2;

/** Location of point v in ring r: crossing number with exact orientation, as JTS's RayCrossingCounter. */
function locate(t: Topology, v: number, r: number): number {
	const px = t.xs[v] ?? 0;
	const py = t.ys[v] ?? 0;
	const start = t.ringStart[r] ?? 0;
	const n = t.ringLength[r] ?? 0;
	let crossings = 0;
	for (let k = 0; k < n; k++) {
		const a = start + k;
		const b = k + 1 < n ? a + 1 : start;
		const ax = t.xs[a] ?? 0;
		const ay = t.ys[a] ?? 0;
		const bx = t.xs[b] ?? 0;
		const by = t.ys[b] ?? 0;
		if (ax < px && bx < px) continue;
		if (px === bx && py === by) return BOUNDARY;
		if (ay === py && by === py) {
			if (px >= Math.min(ax, bx) && px <= Math.max(ax, bx)) return BOUNDARY;
			continue;
		}
		if ((ay > py && by <= py) || (by > py && ay <= py)) {
			let side = orient2d(ax, ay, bx, by, px, py);
			if (side === 0) return BOUNDARY;
			if (by < ay) side = -side as -1 | 1;
			if (side > 0) crossings++;
		}
	}
	return crossings % 2 === 1 ? INTERIOR : EXTERIOR;
}

/** Counterclockwise ring? Decided at the lowest-leftmost vertex, where a simple ring turns strictly. */
function isCounterClockwise(t: Topology, r: number): boolean {
	const start = t.ringStart[r] ?? 0;
	const n = t.ringLength[r] ?? 0;
	let low = start;
	for (let v = start + 1; v < start + n; v++) {
		const y = t.ys[v] ?? 0;
		const lowY = t.ys[low] ?? 0;
		if (y < lowY || (y === lowY && (t.xs[v] ?? 0) < (t.xs[low] ?? 0))) low = v;
	}
	return orientV(t, t.prev[low] ?? low, low, t.next[low] ?? low) > 0;
}

/**
 * Does ring `inner` lie inside ring `outer`? Only meaningful once the rings are known not to cross
 * nor share an edge: then any vertex off `outer` decides, and when all of them are on it, the
 * direction of the first edge at its start does.
 */
function ringInside(t: Topology, inner: number, outer: number): boolean {
	const start = t.ringStart[inner] ?? 0;
	const n = t.ringLength[inner] ?? 0;
	for (let v = start; v < start + n; v++) {
		const where = locate(t, v, outer);
		if (where !== BOUNDARY) return where === INTERIOR;
	}
	const p0 = start;
	const p1 = t.next[p0] ?? p0;
	const outerStart = t.ringStart[outer] ?? 0;
	const outerLength = t.ringLength[outer] ?? 0;
	for (let s = outerStart; s < outerStart + outerLength; s++) {
		const s1 = t.next[s] ?? s;
		const onSegment =
			orientV(t, s, s1, p0) === 0 &&
			(t.xs[p0] ?? 0) >= Math.min(t.xs[s] ?? 0, t.xs[s1] ?? 0) &&
			(t.xs[p0] ?? 0) <= Math.max(t.xs[s] ?? 0, t.xs[s1] ?? 0) &&
			(t.ys[p0] ?? 0) >= Math.min(t.ys[s] ?? 0, t.ys[s1] ?? 0) &&
			(t.ys[p0] ?? 0) <= Math.max(t.ys[s] ?? 0, t.ys[s1] ?? 0);
		if (!onSegment) continue;
		const [before, after] = around(t, s, p0);
		// The interior is to the left of travel on a counterclockwise ring.
		return isCounterClockwise(t, outer)
			? inSector(t, p0, p1, after, before)
			: inSector(t, p0, p1, before, after);
	}
	return false;
}

/** Same vertices in the same cyclic order, in either direction? */
function isDuplicate(t: Topology, a: number, b: number): boolean {
	const n = t.ringLength[a] ?? 0;
	if (n !== t.ringLength[b]) return false;
	const aStart = t.ringStart[a] ?? 0;
	const bStart = t.ringStart[b] ?? 0;
	for (let k = 0; k < n; k++) {
		if (!sameXY(t, aStart + k, bStart)) continue;
		let forward = true;
		let backward = true;
		for (let m = 1; m < n && (forward || backward); m++) {
			if (!sameXY(t, aStart + ((k + m) % n), bStart + m)) forward = false;
			if (!sameXY(t, aStart + ((k - m + n) % n), bStart + m)) backward = false;
		}
		if (forward || backward) return true;
	}
	return false;
}

// ---------------------------------------------------------------------------------------------
// The checks

/** A point contact between two rings of one polygon, kept for the connectivity check. */
interface Touch {
	/** Global rings, `lo` earlier in the polygon than `hi`. */
	lo: number;
	hi: number;
	/** A vertex at the contact point. */
	vertex: number;
	/** Where the contact falls along `hi` (a vertex index, or a segment index + 0.5), for a stable order. */
	order: number;
	/** Index of the contact on `hi` when it is a vertex of `hi`. */
	position: number | null;
}

class IssueList {
	readonly issues: ValidityIssue[] = [];
	/** Rings with an issue already: the sweep stops testing them (a tangled ring has ~n² crossings). */
	readonly settled: Uint8Array;
	settledCount = 0;
	private readonly seen = new Set<string>();

	constructor(
		private readonly t: Topology,
		private readonly limit: number,
	) {
		this.settled = new Uint8Array(t.ringStart.length);
	}

	get full(): boolean {
		return this.issues.length >= this.limit;
	}

	/** One issue per ring and code: a few are enough to fix the ring, and the reply stays small. */
	add(code: ValidityCode, ring: number, position: number | null, message: string): void {
		if (this.full) return;
		const key = `${ring}:${code}`;
		if (this.seen.has(key)) return;
		this.seen.add(key);
		if (this.settled[ring] === 0) this.settledCount++;
		this.settled[ring] = 1;
		this.issues.push({
			code,
			part: this.t.ringPart[ring] ?? 0,
			ring: this.t.ringLocal[ring] ?? 0,
			position,
			message,
		});
	}
}

const describeRing = (t: Topology, r: number): string =>
	t.partRing.length > 2 ? `ring ${t.ringLocal[r]} of part ${t.ringPart[r]}` : `ring ${t.ringLocal[r]}`;

const pointText = (t: Topology, v: number): string => `[${t.xs[v]}, ${t.ys[v]}]`;

/** The code for a crossing between two rings; `hi` is the later one. */
function crossingCode(t: Topology, lo: number, hi: number): ValidityCode {
	if (t.ringPart[lo] !== t.ringPart[hi]) return "parts_overlap";
	return t.ringLocal[lo] === 0 ? "hole_outside_shell" : "holes_overlap";
}

/** Orders two global rings so the one reported (later part, or later ring in a polygon) is `hi`. */
const ordered = (a: number, b: number): [number, number] => (a < b ? [a, b] : [b, a]);

/** Phase 1: every pair of segments whose boxes overlap, found by a sweep over min x. */
function sweep(t: Topology, out: IssueList, touches: Touch[]): void {
	const n = t.xs.length;
	const minX = floats(2, n);
	const maxX = floats(3, n);
	const minY = floats(4, n);
	const maxY = floats(5, n);
	for (let v = 0; v < n; v++) {
		const w = t.next[v] ?? v;
		const ax = t.xs[v] ?? 0;
		const bx = t.xs[w] ?? 0;
		const ay = t.ys[v] ?? 0;
		const by = t.ys[w] ?? 0;
		minX[v] = Math.min(ax, bx);
		maxX[v] = Math.max(ax, bx);
		minY[v] = Math.min(ay, by);
		maxY[v] = Math.max(ay, by);
	}
	// Sorting numbers without a comparator is several times faster than sorting indices with one,
	// so each segment's key is its min x quantized to 2^20 steps, times n, plus its index. The sweep
	// stops on the quantized value (monotone, so never too early) and tests exact boxes inside.
	let low = Number.POSITIVE_INFINITY;
	let high = Number.NEGATIVE_INFINITY;
	for (let v = 0; v < n; v++) {
		low = Math.min(low, minX[v] ?? 0);
		high = Math.max(high, maxX[v] ?? 0);
	}
	// A span so small that the scale overflows gets one bucket: slower, still exact.
	const spread = 2 ** 20 / (high - low);
	const scale = Number.isFinite(spread) ? spread : 0;
	const quantMin = floats(6, n);
	const keys = floats(7, n);
	for (let v = 0; v < n; v++) {
		const quant = Math.floor(((minX[v] ?? 0) - low) * scale);
		quantMin[v] = quant;
		keys[v] = quant * n + v;
	}
	keys.sort();
	const order = ints(3, n);
	for (let p = 0; p < n; p++) order[p] = (keys[p] ?? 0) % n;
	const overlaps = new Map<number, number>();
	const ringCount = t.ringStart.length;
	const at = { vertex: 0 };
	for (let p = 0; p < n && !out.full && out.settledCount < ringCount; p++) {
		const i = order[p] ?? 0;
		const reach = maxX[i] ?? 0;
		const quantReach = Math.floor((reach - low) * scale);
		const iLow = minY[i] ?? 0;
		const iHigh = maxY[i] ?? 0;
		for (let q = p + 1; q < n; q++) {
			const j = order[q] ?? 0;
			if ((quantMin[j] ?? 0) > quantReach) break;
			if ((minX[j] ?? 0) > reach || (minY[j] ?? 0) > iHigh || (maxY[j] ?? 0) < iLow) continue;
			const ri = t.ringOf[i] ?? 0;
			const rj = t.ringOf[j] ?? 0;
			// Issues are reported on the later ring of a pair (global ring order is part, then ring).
			if (out.settled[Math.max(ri, rj)] === 1) continue;
			// Consecutive segments always share a vertex; they only go wrong by folding back (a spike).
			if (t.next[i] === j || t.next[j] === i) {
				const first = t.next[i] === j ? i : j;
				if (isSpike(t, first)) {
					const ring = t.ringOf[first] ?? 0;
					const tip = t.next[first] ?? first;
					out.add(
						"self_intersection",
						ring,
						local(t, tip),
						`${describeRing(t, ring)} folds back on itself at ${pointText(t, tip)} (a spike)`,
					);
				}
				continue;
			}
			const kind = intersect(t, i, j, at);
			if (kind === NONE) continue;
			if (ri === rj) {
				if (kind === TOUCH && (sameXY(t, at.vertex, t.next[i] ?? i) || sameXY(t, at.vertex, t.next[j] ?? j)))
					continue; // seen again from the segment that starts there
				const position = kind === TOUCH ? local(t, sameXY(t, at.vertex, j) ? j : i) : null;
				const what =
					kind === OVERLAP
						? "runs along itself"
						: kind === PROPER
							? "crosses itself"
							: `touches itself at ${pointText(t, at.vertex)}`;
				out.add("self_intersection", ri, position, `${describeRing(t, ri)} ${what}`);
				continue;
			}
			const [lo, hi] = ordered(ri, rj);
			if (kind === OVERLAP) {
				const key = lo * ringCount + hi;
				if (!overlaps.has(key)) overlaps.set(key, local(t, ri === hi ? i : j));
				continue;
			}
			if (kind === PROPER) {
				out.add(crossingCode(t, lo, hi), hi, null, `${describeRing(t, hi)} crosses ${describeRing(t, lo)}`);
				continue;
			}
			const x = at.vertex;
			// Each contact is analysed once, from the segments that start at it or pass through it.
			if (sameXY(t, x, t.next[i] ?? i) || sameXY(t, x, t.next[j] ?? j)) continue;
			const [a0, a1] = around(t, i, x);
			const [b0, b1] = around(t, j, x);
			const hiSegment = ri === hi ? i : j;
			const hiIsVertex = sameXY(t, hiSegment, x);
			const position = hiIsVertex ? local(t, hiSegment) : null;
			if (crossesAt(t, x, a0, a1, b0, b1)) {
				out.add(
					crossingCode(t, lo, hi),
					hi,
					position,
					`${describeRing(t, hi)} crosses ${describeRing(t, lo)} at ${pointText(t, x)}`,
				);
				continue;
			}
			if (t.ringPart[lo] === t.ringPart[hi]) {
				const order = local(t, hiSegment) + (hiIsVertex ? 0 : 0.5);
				touches.push({ lo, hi, vertex: x, order, position });
			}
		}
	}
	for (const [key, position] of overlaps) {
		const lo = Math.floor(key / ringCount);
		const hi = key % ringCount;
		if (isDuplicate(t, lo, hi))
			out.add("duplicate_ring", hi, null, `${describeRing(t, hi)} repeats ${describeRing(t, lo)}`);
		else
			out.add(
				"shared_edge",
				hi,
				position,
				`${describeRing(t, hi)} runs along ${describeRing(t, lo)}: rings may touch at single points only`,
			);
	}
}

interface Box {
	ring: number;
	minX: number;
	minY: number;
	maxX: number;
	maxY: number;
}

function ringBox(t: Topology, r: number): Box {
	const start = t.ringStart[r] ?? 0;
	const end = start + (t.ringLength[r] ?? 0);
	const box = {
		ring: r,
		minX: Number.POSITIVE_INFINITY,
		minY: Number.POSITIVE_INFINITY,
		maxX: Number.NEGATIVE_INFINITY,
		maxY: Number.NEGATIVE_INFINITY,
	};
	for (let v = start; v < end; v++) {
		const x = t.xs[v] ?? 0;
		const y = t.ys[v] ?? 0;
		if (x < box.minX) box.minX = x;
		if (x > box.maxX) box.maxX = x;
		if (y < box.minY) box.minY = y;
		if (y > box.maxY) box.maxY = y;
	}
	return box;
}

const covers = (outer: Box, inner: Box): boolean =>
	outer.minX <= inner.minX &&
	outer.maxX >= inner.maxX &&
	outer.minY <= inner.minY &&
	outer.maxY >= inner.maxY;

/** Calls `visit` for every pair of boxes that overlap in x, by a sweep over min x. */
function forOverlappingPairs(boxes: Box[], visit: (a: Box, b: Box) => void): void {
	const sorted = [...boxes].sort((a, b) => a.minX - b.minX);
	for (let p = 0; p < sorted.length; p++) {
		const a = sorted[p];
		if (a === undefined) continue;
		for (let q = p + 1; q < sorted.length; q++) {
			const b = sorted[q];
			if (b === undefined || b.minX > a.maxX) break;
			visit(a, b);
		}
	}
}

/** Phase 2, once no rings cross or share edges: holes in their shell, not nested; parts not nested. */
function checkNesting(t: Topology, out: IssueList): void {
	const parts = t.partRing.length - 1;
	const shells: Box[] = [];
	const holesOf: Box[][] = [];
	for (let p = 0; p < parts; p++) {
		const first = t.partRing[p] ?? 0;
		const end = t.partRing[p + 1] ?? first;
		const shell = ringBox(t, first);
		shells.push(shell);
		const holes: Box[] = [];
		for (let r = first + 1; r < end; r++) {
			const hole = ringBox(t, r);
			holes.push(hole);
			if (!covers(shell, hole) || !ringInside(t, r, first))
				out.add("hole_outside_shell", r, null, `${describeRing(t, r)} is not inside its shell`);
		}
		holesOf.push(holes);
		forOverlappingPairs(holes, (a, b) => {
			for (const [outer, inner] of [
				[a, b],
				[b, a],
			] as const) {
				if (covers(outer, inner) && ringInside(t, inner.ring, outer.ring))
					out.add(
						"nested_holes",
						inner.ring,
						null,
						`${describeRing(t, inner.ring)} lies inside ${describeRing(t, outer.ring)}`,
					);
			}
		});
	}
	if (parts < 2) return;
	const inPart = (shell: Box, p: number): boolean => {
		const outer = shells[p];
		if (outer === undefined || !covers(outer, shell) || !ringInside(t, shell.ring, outer.ring)) return false;
		// Inside the other part's shell is fine when it is inside one of its holes: an island in a lake.
		return !(holesOf[p] ?? []).some((hole) => covers(hole, shell) && ringInside(t, shell.ring, hole.ring));
	};
	forOverlappingPairs(shells, (a, b) => {
		for (const [inner, outer] of [
			[a, b],
			[b, a],
		] as const) {
			const p = t.ringPart[outer.ring] ?? 0;
			if (inPart(inner, p))
				out.add(
					"parts_overlap",
					inner.ring,
					null,
					`part ${t.ringPart[inner.ring]} lies inside part ${p}: MultiPolygon parts must not overlap`,
				);
		}
	});
}

/**
 * Phase 3: the interior of a polygon is connected when the graph of its rings and their contact
 * points has no cycle (two rings touching twice, or a chain of holes closing on itself). Rings
 * meeting at one common point form a star, not a cycle, so contacts are nodes of their own.
 */
function checkConnected(t: Topology, out: IssueList, touches: Touch[]): void {
	touches.sort(
		(a, b) =>
			(t.ringPart[a.hi] ?? 0) - (t.ringPart[b.hi] ?? 0) || a.hi - b.hi || a.order - b.order || a.lo - b.lo,
	);
	const parent: number[] = Array.from({ length: t.ringStart.length }, (_, r) => r);
	const find = (x: number): number => {
		let root = x;
		while (parent[root] !== root) root = parent[root] ?? root;
		while (parent[x] !== root) {
			const up = parent[x] ?? root;
			parent[x] = root;
			x = up;
		}
		return root;
	};
	const pointNode = new Map<string, number>();
	const linked = new Set<string>();
	const brokenParts = new Set<number>();
	for (const touch of touches) {
		const part = t.ringPart[touch.hi] ?? 0;
		if (brokenParts.has(part)) continue;
		// Points of different parts never share a node: each part is its own graph.
		const key = `${part}:${t.xs[touch.vertex]},${t.ys[touch.vertex]}`;
		let node = pointNode.get(key);
		if (node === undefined) {
			node = parent.length;
			parent.push(node);
			pointNode.set(key, node);
		}
		for (const ring of [touch.lo, touch.hi]) {
			const link = `${ring}:${node}`;
			if (linked.has(link)) continue;
			linked.add(link);
			const a = find(ring);
			const b = find(node);
			if (a === b) {
				brokenParts.add(part);
				out.add(
					"disconnected_interior",
					touch.hi,
					touch.position,
					`${describeRing(t, touch.hi)} touches ${describeRing(t, touch.lo)} at ${pointText(t, touch.vertex)}, closing a loop of contacts that cuts the interior apart`,
				);
				break;
			}
			parent[a] = b;
		}
	}
}

/**
 * Finds the OGC validity problems of a Polygon's or MultiPolygon's rings.
 *
 * Preconditions, which the upload validator checks first with codes of its own: every ring is
 * closed, has no two equal consecutive positions, at least 3 distinct vertices and finite
 * coordinates. Rings may be in either orientation.
 *
 * Crossings, self-touches, spikes and shared edges are looked for first; containment (holes in
 * their shell, nested holes, nested parts) only when there are none, and connectivity only when
 * containment is sound, as the later checks rely on the earlier ones.
 *
 * @param polygons the rings of each polygon (a Polygon is one polygon), shell first
 * @param limit at most this many issues are returned, at most one per ring and code
 * @returns the issues, ordered by part, ring and position; empty when the geometry is valid
 */
export function findValidityIssues(polygons: Position[][][], limit = 10): ValidityIssue[] {
	const t = flatten(polygons);
	const out = new IssueList(t, limit);
	const touches: Touch[] = [];
	sweep(t, out, touches);
	if (out.issues.length === 0) checkNesting(t, out);
	if (out.issues.length === 0 && touches.length > 1) checkConnected(t, out, touches);
	return out.issues.sort(
		(a, b) => a.part - b.part || a.ring - b.ring || (a.position ?? -1) - (b.position ?? -1),
	);
}
