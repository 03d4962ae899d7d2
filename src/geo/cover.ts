/**
 * Cell covers of fences: H3 covers for the shard assignment (buffer = shard buffer) and for
 * fence-sized H3 covers (buffer 0, `chooseResolution`); and, at the end of this file, the planar
 * grid covers the fence index looks points up in (see "Planar grid covers" below for why the
 * index does not use H3 per ping).
 *
 * A cover is a breadth-first search over H3 neighbours from the cell of one vertex of each part
 * (the centre for a circle). Each visited cell is classified as
 *   - out:  no point of the cell lies within the buffer of the fence (proved with a margin),
 *   - full: every point of the cell is inside the fence (proved with a margin; buffer 0 only),
 *   - edge: anything else; a point there needs the exact test.
 * Search continues through full and edge cells only. Why this is a superset of the cells the
 * fence (or its buffer) touches: that set is connected under H3 adjacency, because the region is
 * connected and the cells met along any path inside it share an edge or a vertex (three cells meet
 * at every H3 vertex, all neighbours of each other); it contains the seeds; and "out" is only said
 * of cells proved disjoint. So the search reaches all of it.
 *
 * Cell geometry: an H3 cell is the spherical polygon whose corners `cellToBoundary` returns, with
 * great-circle edges (checked by the unit tests against `latLngToCell`). In lng/lat, where the
 * polygon test is defined, those edges bow away from the straight chords by about
 * L^2 tan(lat) / 8R. Every test on a cell therefore uses the straight-chord polygon widened by a
 * margin of 2% of the longest edge plus 4x that bow ({@link cellMarginMeters}); cells at more
 * than 88 degrees of latitude or around a pole only ever get coarse, conservative bounds.
 *
 * Polygon tests run in a plane scaled from lng/lat (x = lng * cos(lat0), y = lat), which is an
 * affine map: straight edges stay straight and inside stays inside, so the planar semantics of the
 * exact test are preserved; distances are scaled so margins are never under-estimated.
 * Circles are tested on the sphere: a spherical cap is convex, so a cell whose corners are all
 * inside the cap is inside it, and a cell lies within its circumradius of its centre.
 */
import {
	cellToBoundary,
	cellToLatLng,
	cellToParent,
	getHexagonEdgeLengthAvg,
	getResolution,
	gridDisk,
	latLngToCell,
} from "h3-js";
import {
	CIRCLE_LAT,
	CIRCLE_LNG,
	CIRCLE_RADIUS,
	circleALower,
	circleAUpper,
	DEG_TO_RAD,
	EARTH_RADIUS_METERS,
	haversineMeters,
	haversineTermAt,
	METERS_PER_DEGREE,
	POLYGON_PARTS,
	type PreparedCircle,
	type PreparedFence,
	type PreparedPolygon,
} from "./exact.js";

/** Finest resolution of a fence-sized H3 cover: 10.8 m average edge, well under GPS accuracy. */
export const MAX_INDEX_RESOLUTION = 12;
/** Upper bound on the cells of one fence-sized H3 cover; a fence that would need more gets a coarser resolution. */
export const MAX_CELLS_PER_FENCE = 4_096;
/** Cells with a corner beyond this latitude get conservative bounds only (the chord bow grows with tan(lat)). */
export const POLAR_LATITUDE = 88;

// The fence's larger side spans at least this many average cell edges, i.e. about 4 to 9 cells
// across (a cell is sqrt(3) edges wide; resolutions step by 2.65x): tens of cells per fence, a good
// share of the area in full cells, and a build cost of a fraction of a millisecond per fence.
const EDGES_ACROSS = 16;

const AVERAGE_EDGE_METERS: number[] = Array.from({ length: MAX_INDEX_RESOLUTION + 1 }, (_, res) =>
	getHexagonEdgeLengthAvg(res, "m"),
);

/** How a cell relates to a fence: out of its reach, on its edge (exact test needed), or wholly inside. */
export const CellClass = { Out: 0, Edge: 1, Full: 2 } as const;
/** One of the {@link CellClass} values. */
export type CellClass = (typeof CellClass)[keyof typeof CellClass];

/**
 * Metres by which a cell's true outline can differ from its straight-chord polygon in lng/lat,
 * with a wide safety factor.
 *
 * @param edgeMeters the cell's longest edge in metres
 * @param maxAbsLat the largest |latitude| of the cell's corners, in degrees
 * @returns the margin in metres
 */
export function cellMarginMeters(edgeMeters: number, maxAbsLat: number): number {
	const bow =
		(edgeMeters * edgeMeters * (1 + Math.tan(Math.min(maxAbsLat, 89.9) * DEG_TO_RAD))) /
		(8 * EARTH_RADIUS_METERS);
	return 0.02 * edgeMeters + 4 * bow + 0.01;
}

/**
 * The H3 resolution of a fence-sized cover: the finest (at most {@link MAX_INDEX_RESOLUTION}) whose
 * average edge is at least 1/16 of the fence's larger side (its diameter for a circle).
 *
 * @param p a prepared fence
 * @returns an H3 resolution
 */
export function chooseResolution(p: PreparedFence): number {
	let size: number;
	if (p.kind === "circle") size = 2 * p.radius;
	else {
		const midLat = (p.minLat + p.maxLat) / 2;
		size = Math.max(
			(p.maxLng - p.minLng) * Math.cos(midLat * DEG_TO_RAD) * METERS_PER_DEGREE,
			(p.maxLat - p.minLat) * METERS_PER_DEGREE,
		);
	}
	const target = size / EDGES_ACROSS;
	for (let res = MAX_INDEX_RESOLUTION; res > 0; res--) {
		if ((AVERAGE_EDGE_METERS[res] ?? 0) >= target) return res;
	}
	return 0;
}

/**
 * The cells at `res` that come within `bufferMeters` of the fence (a guaranteed superset), each
 * flagged `true` when it is wholly inside the fence (only meaningful with buffer 0).
 *
 * @param p a prepared fence
 * @param res H3 resolution
 * @param bufferMeters extra distance around the fence, >= 0
 * @param maxCells give up beyond this many cells
 * @returns cell -> wholly inside, or null when the cover would exceed `maxCells`
 */
export function coverFence(
	p: PreparedFence,
	res: number,
	bufferMeters: number,
	maxCells: number,
): Map<string, boolean> | null {
	const classify =
		p.kind === "circle" ? circleClassifier(p, bufferMeters) : polygonClassifier(p, bufferMeters);
	const seeds = p.kind === "circle" ? [p.center] : p.seeds;
	const seedCells = new Set(seeds.map((s) => latLngToCell(s.lat, s.lng, res)));
	const visited = new Set(seedCells);
	const queue = [...seedCells];
	const cover = new Map<string, boolean>();
	for (let head = 0; head < queue.length; head++) {
		const cell = queue[head];
		if (cell === undefined) break;
		let cls = classify(cell);
		// A seed holds a fence point by construction; never let a rounding slip lose the fence.
		if (cls === CellClass.Out && seedCells.has(cell)) cls = CellClass.Edge;
		if (cls === CellClass.Out) continue;
		cover.set(cell, cls === CellClass.Full);
		if (cover.size > maxCells) return null;
		for (const next of cellNeighbours(cell)) {
			if (!visited.has(next)) {
				visited.add(next);
				queue.push(next);
			}
		}
	}
	return cover;
}

function circleClassifier(c: PreparedCircle, buffer: number): (cell: string) => CellClass {
	const { lat, lng } = c.center;
	return (cell) => {
		const g = cellGeometry(cell);
		const toCentre = haversineMeters(lat, lng, g.lat, g.lng);
		// Every point of the cell is within its circumradius of the cell centre (triangle inequality).
		if (toCentre > (c.radius + buffer + g.circumradius) * (1 + 1e-9) + 0.001) return CellClass.Out;
		if (buffer !== 0) return CellClass.Edge;
		let farthestCorner = 0;
		for (const v of g.boundary)
			farthestCorner = Math.max(farthestCorner, haversineMeters(lat, lng, v[0], v[1]));
		// The cap is convex and holds every corner, hence the whole cell.
		if (farthestCorner <= c.radius - (0.02 * g.maxEdge + 0.01)) return CellClass.Full;
		return CellClass.Edge;
	};
}

/** What the classifiers need of a cell, all fixed by the cell alone. */
interface CellGeometry {
	/** Corners, [lat, lng] (as `cellToBoundary` returns them; never modified). */
	boundary: readonly (readonly [number, number])[];
	lat: number;
	lng: number;
	/** Largest distance from the centre to a corner, metres. */
	circumradius: number;
	/** Longest edge, metres. */
	maxEdge: number;
}

/**
 * Cells whose geometry and neighbours are kept per isolate. The shard covers of an upload visit
 * the same cells again and again (neighbouring stores, every resolution from the root down), and
 * each h3-js call costs microseconds: 123,610 visits for 38,845 distinct cells for 5,000 stores.
 * Bounded (about 300 bytes an entry); emptied when full.
 */
const CELL_CACHE_MAX = 65_536;
const geometryCache = new Map<string, CellGeometry>();
const neighbourCache = new Map<string, readonly string[]>();

function cellGeometry(cell: string): CellGeometry {
	const hit = geometryCache.get(cell);
	if (hit) return hit;
	const boundary = cellToBoundary(cell, false) as [number, number][];
	const [lat, lng] = cellToLatLng(cell);
	let circumradius = 0;
	let maxEdge = 0;
	for (let i = 0; i < boundary.length; i++) {
		const v = boundary[i];
		const w = boundary[(i + 1) % boundary.length];
		if (v === undefined || w === undefined) continue;
		circumradius = Math.max(circumradius, haversineMeters(lat, lng, v[0], v[1]));
		maxEdge = Math.max(maxEdge, haversineMeters(v[0], v[1], w[0], w[1]));
	}
	const g = { boundary, lat, lng, circumradius, maxEdge };
	if (geometryCache.size >= CELL_CACHE_MAX) geometryCache.clear();
	geometryCache.set(cell, g);
	return g;
}

const parentCache = new Map<string, string>();

const overlapCache = new Map<string, readonly string[]>();

/**
 * The cells one resolution coarser that this cell may overlap (among its parent and the parent's
 * neighbours: a cell's points lie there), cached like {@link cellGeometry}.
 */
export function coarserOverlaps(cell: string): readonly string[] {
	const hit = overlapCache.get(cell);
	if (hit) return hit;
	const out = cellNeighbours(parentCell(cell)).filter((near) => cellsMayIntersect(cell, near));
	if (overlapCache.size >= CELL_CACHE_MAX) overlapCache.clear();
	overlapCache.set(cell, out);
	return out;
}

/**
 * Whether two cells may share a point: false only when proved disjoint. Both outlines are taken
 * as their straight-chord polygons in a local plane (metres, equirectangular at their mean
 * latitude), each widened by {@link cellMarginMeters} plus 1 % of its longest edge (the chord
 * bow and the plane's distortion over a cell); a line separating the widened polygons (an edge
 * normal of either, projecting all corners: sound for any shape) proves them disjoint. Cells near
 * a pole or across the antimeridian are always "may".
 */
export function cellsMayIntersect(a: string, b: string): boolean {
	const ga = cellGeometry(a);
	const gb = cellGeometry(b);
	const lat0 = (ga.lat + gb.lat) / 2;
	let maxAbsLat = 0;
	for (const [lat, lng] of [...ga.boundary, ...gb.boundary]) {
		maxAbsLat = Math.max(maxAbsLat, Math.abs(lat));
		if (Math.abs(lng - ga.lng) > 90) return true;
	}
	if (maxAbsLat > POLAR_LATITUDE - 8) return true;
	const kx = Math.cos(lat0 * DEG_TO_RAD) * METERS_PER_DEGREE;
	const project = (g: CellGeometry) =>
		g.boundary.map(([lat, lng]) => [(lng - ga.lng) * kx, (lat - lat0) * METERS_PER_DEGREE]);
	const pa = project(ga);
	const pb = project(gb);
	const gap =
		cellMarginMeters(ga.maxEdge, maxAbsLat) +
		cellMarginMeters(gb.maxEdge, maxAbsLat) +
		0.01 * (ga.maxEdge + gb.maxEdge);
	for (const poly of [pa, pb])
		for (let i = 0; i < poly.length; i++) {
			const [x1 = 0, y1 = 0] = poly[i] ?? [];
			const [x2 = 0, y2 = 0] = poly[(i + 1) % poly.length] ?? [];
			const nx = y2 - y1;
			const ny = x1 - x2;
			const len = Math.hypot(nx, ny);
			if (len === 0) continue;
			let minA = Number.POSITIVE_INFINITY;
			let maxA = Number.NEGATIVE_INFINITY;
			for (const [x = 0, y = 0] of pa) {
				const d = (x * nx + y * ny) / len;
				minA = Math.min(minA, d);
				maxA = Math.max(maxA, d);
			}
			let minB = Number.POSITIVE_INFINITY;
			let maxB = Number.NEGATIVE_INFINITY;
			for (const [x = 0, y = 0] of pb) {
				const d = (x * nx + y * ny) / len;
				minB = Math.min(minB, d);
				maxB = Math.max(maxB, d);
			}
			if (minB > maxA + gap || minA > maxB + gap) return false;
		}
	return true;
}

/**
 * The resolution of an H3 cell index as h3-js writes it (15 lowercase hex digits, the first 8
 * for cell mode, the second the resolution), read from the string without a call into h3-js;
 * anything else goes through `getResolution`.
 */
export function cellResolution(cell: string): number {
	if (cell.length === 15 && cell.charCodeAt(0) === 56 /* "8" */) {
		const d = cell.charCodeAt(1);
		if (d >= 48 && d <= 57) return d - 48;
		if (d >= 97 && d <= 102) return d - 87;
	}
	return getResolution(cell);
}

/** The cell's parent one resolution coarser (`cellToParent`), cached like {@link cellGeometry}. */
export function parentCell(cell: string): string {
	const hit = parentCache.get(cell);
	if (hit) return hit;
	const parent = cellToParent(cell, cellResolution(cell) - 1);
	if (parentCache.size >= CELL_CACHE_MAX) parentCache.clear();
	parentCache.set(cell, parent);
	return parent;
}

/** The cell and its neighbours (`gridDisk(cell, 1)`), cached like {@link cellGeometry}. */
export function cellNeighbours(cell: string): readonly string[] {
	const hit = neighbourCache.get(cell);
	if (hit) return hit;
	const disk = gridDisk(cell, 1);
	if (neighbourCache.size >= CELL_CACHE_MAX) neighbourCache.clear();
	neighbourCache.set(cell, disk);
	return disk;
}

/** A polygon in the scaled plane of its cover. */
interface PolygonFrame {
	lng0: number;
	lat0: number;
	kx: number;
	ky: number;
	cosLat0: number;
	/** Projected edges: ax, ay, bx, by per edge. */
	seg: Float64Array;
	/** Projected edge bounding boxes: minX, minY, maxX, maxY per edge. */
	box: Float64Array;
	/** First vertex (x, y) of every ring. */
	ringStarts: Float64Array;
	/** Projected closed rings (x, y interleaved) grouped by part, for the planar inside test. */
	parts: Float64Array[][];
}

function polygonFrame(p: PreparedPolygon): PolygonFrame {
	const lng0 = (p.minLng + p.maxLng) / 2;
	const lat0 = (p.minLat + p.maxLat) / 2;
	const cosLat0 = Math.cos(lat0 * DEG_TO_RAD);
	const kx = cosLat0 * METERS_PER_DEGREE;
	const ky = METERS_PER_DEGREE;
	const n = p.segments.length / 4;
	const seg = new Float64Array(n * 4);
	const box = new Float64Array(n * 4);
	for (let i = 0; i < n * 4; i += 4) {
		const ax = ((p.segments[i] ?? 0) - lng0) * kx;
		const ay = ((p.segments[i + 1] ?? 0) - lat0) * ky;
		const bx = ((p.segments[i + 2] ?? 0) - lng0) * kx;
		const by = ((p.segments[i + 3] ?? 0) - lat0) * ky;
		seg[i] = ax;
		seg[i + 1] = ay;
		seg[i + 2] = bx;
		seg[i + 3] = by;
		box[i] = Math.min(ax, bx);
		box[i + 1] = Math.min(ay, by);
		box[i + 2] = Math.max(ax, bx);
		box[i + 3] = Math.max(ay, by);
	}
	const polygons = p.geometry.type === "Polygon" ? [p.geometry.coordinates] : p.geometry.coordinates;
	const starts: number[] = [];
	const parts = polygons.map((polygon) =>
		polygon.map((ring) => {
			const xy = new Float64Array(ring.length * 2);
			ring.forEach(([lng, lat], i) => {
				xy[2 * i] = (lng - lng0) * kx;
				xy[2 * i + 1] = (lat - lat0) * ky;
			});
			starts.push(xy[0] ?? 0, xy[1] ?? 0);
			return xy;
		}),
	);
	return { lng0, lat0, kx, ky, cosLat0, seg, box, ringStarts: Float64Array.from(starts), parts };
}

function polygonClassifier(p: PreparedPolygon, buffer: number): (cell: string) => CellClass {
	const frame = polygonFrame(p);
	return (cell) => classifyPolygonCell(p, frame, cell, buffer);
}

/** `lng` moved by whole turns to within 180 degrees of `ref`. */
function wrapNear(lng: number, ref: number): number {
	let x = lng;
	while (x - ref > 180) x -= 360;
	while (x - ref < -180) x += 360;
	return x;
}

function classifyPolygonCell(p: PreparedPolygon, fr: PolygonFrame, cell: string, buffer: number): CellClass {
	const boundary = cellGeometry(cell).boundary;
	const n = boundary.length;
	const lats = new Float64Array(n);
	const lngs = new Float64Array(n);
	let wrapped = false;
	let minLat = 90;
	let maxLat = -90;
	let maxAbsLat = 0;
	let minU = Number.POSITIVE_INFINITY;
	let maxU = Number.NEGATIVE_INFINITY;
	let previous = fr.lng0;
	for (let i = 0; i < n; i++) {
		const v = boundary[i];
		if (v === undefined) return CellClass.Edge;
		const u = wrapNear(v[1], previous);
		if (u !== v[1]) wrapped = true;
		lats[i] = v[0];
		lngs[i] = u;
		previous = u;
		minLat = Math.min(minLat, v[0]);
		maxLat = Math.max(maxLat, v[0]);
		maxAbsLat = Math.max(maxAbsLat, Math.abs(v[0]));
		minU = Math.min(minU, u);
		maxU = Math.max(maxU, u);
	}
	// Unwrapped corner by corner, a ring around a pole does not close: it gains a whole turn.
	const first = boundary[0];
	const containsPole = first !== undefined && Math.abs(wrapNear(first[1], previous) - (lngs[0] ?? 0)) > 180;
	if (containsPole || maxAbsLat > POLAR_LATITUDE) {
		return classifyPolarCell(p, minLat, maxLat, maxAbsLat, minU, maxU, containsPole, buffer);
	}

	let edge = 0;
	for (let i = 0; i < n; i++) {
		const j = (i + 1) % n;
		edge = Math.max(edge, haversineMeters(lats[i] ?? 0, lngs[i] ?? 0, lats[j] ?? 0, lngs[j] ?? 0));
	}
	const reach = cellMarginMeters(edge, maxAbsLat) + buffer;
	// x shrinks with cos(lat): where |lat| exceeds |lat0|, scaled distances are too long by up to
	// this factor, so the margin grows with it (y is exact).
	const farLat = Math.min(89.9, maxAbsLat + reach / METERS_PER_DEGREE);
	const stretch = Math.max(1, fr.cosLat0 / Math.cos(farLat * DEG_TO_RAD));
	const margin = reach * stretch * (1 + 1e-9) + 1e-6;
	const marginLng = margin / fr.kx;

	// A cell that wraps or reaches the antimeridian holds points on both sides of it; the planar
	// test sees those as far apart, so such a cell is tested as every shifted copy that meets the
	// [-180, 180] strip, and never answers "inside" without the exact test.
	const fullable = !wrapped && maxU + marginLng < 180 && minU - marginLng > -180;
	const px = new Float64Array(n);
	const py = new Float64Array(n);
	let inside = false;
	for (const shift of [0, -360, 360]) {
		if (minU + shift - marginLng > 180 || maxU + shift + marginLng < -180) continue;
		for (let i = 0; i < n; i++) {
			px[i] = ((lngs[i] ?? 0) + shift - fr.lng0) * fr.kx;
			py[i] = ((lats[i] ?? 0) - fr.lat0) * fr.ky;
		}
		const cls = classifyProjected(fr, px, py, margin);
		if (cls === CellClass.Edge) return CellClass.Edge;
		if (cls === CellClass.Full) inside = true;
	}
	if (!inside) return CellClass.Out;
	return fullable && buffer === 0 ? CellClass.Full : CellClass.Edge;
}

/**
 * Edge when the polygon's boundary comes within `margin` of the cell chord polygon or has a ring
 * inside it; otherwise the two boundaries are apart, so the cell is wholly inside or wholly out.
 */
function classifyProjected(fr: PolygonFrame, px: Float64Array, py: Float64Array, margin: number): CellClass {
	const n = px.length;
	let minX = Number.POSITIVE_INFINITY;
	let minY = Number.POSITIVE_INFINITY;
	let maxX = Number.NEGATIVE_INFINITY;
	let maxY = Number.NEGATIVE_INFINITY;
	for (let i = 0; i < n; i++) {
		const x = px[i] ?? 0;
		const y = py[i] ?? 0;
		if (x < minX) minX = x;
		if (x > maxX) maxX = x;
		if (y < minY) minY = y;
		if (y > maxY) maxY = y;
	}
	const loX = minX - margin;
	const loY = minY - margin;
	const hiX = maxX + margin;
	const hiY = maxY + margin;
	const margin2 = margin * margin;
	const { seg, box } = fr;
	for (let s = 0; s < seg.length; s += 4) {
		if ((box[s + 2] ?? 0) < loX || (box[s] ?? 0) > hiX || (box[s + 3] ?? 0) < loY || (box[s + 1] ?? 0) > hiY)
			continue;
		const ax = seg[s] ?? 0;
		const ay = seg[s + 1] ?? 0;
		const bx = seg[s + 2] ?? 0;
		const by = seg[s + 3] ?? 0;
		for (let i = 0; i < n; i++) {
			const j = i + 1 === n ? 0 : i + 1;
			if (segmentDistanceSquared(ax, ay, bx, by, px[i] ?? 0, py[i] ?? 0, px[j] ?? 0, py[j] ?? 0) <= margin2) {
				return CellClass.Edge;
			}
		}
	}
	const starts = fr.ringStarts;
	for (let r = 0; r < starts.length; r += 2) {
		const x = starts[r] ?? 0;
		const y = starts[r + 1] ?? 0;
		if (x >= minX && x <= maxX && y >= minY && y <= maxY && insideRing(px, py, x, y)) return CellClass.Edge;
	}
	return insideFrame(fr, px[0] ?? 0, py[0] ?? 0) ? CellClass.Full : CellClass.Out;
}

/** Even-odd test of (x, y) against the closed-by-wrap ring (px, py). */
function insideRing(px: Float64Array, py: Float64Array, x: number, y: number): boolean {
	let inside = false;
	const n = px.length;
	for (let i = 0, j = n - 1; i < n; j = i++) {
		const xi = px[i] ?? 0;
		const yi = py[i] ?? 0;
		const xj = px[j] ?? 0;
		const yj = py[j] ?? 0;
		if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
	}
	return inside;
}

/** Planar inside test of a point far from every edge: even-odd per part, any part. */
function insideFrame(fr: PolygonFrame, x: number, y: number): boolean {
	for (const part of fr.parts) {
		let inside = false;
		for (const ring of part) {
			for (let i = 0; i + 3 < ring.length; i += 2) {
				const xi = ring[i] ?? 0;
				const yi = ring[i + 1] ?? 0;
				const xj = ring[i + 2] ?? 0;
				const yj = ring[i + 3] ?? 0;
				if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
			}
		}
		if (inside) return true;
	}
	return false;
}

function cross(ax: number, ay: number, bx: number, by: number, cx: number, cy: number): number {
	return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

function pointSegmentDistanceSquared(
	x: number,
	y: number,
	ax: number,
	ay: number,
	bx: number,
	by: number,
): number {
	const dx = bx - ax;
	const dy = by - ay;
	const len2 = dx * dx + dy * dy;
	let t = len2 > 0 ? ((x - ax) * dx + (y - ay) * dy) / len2 : 0;
	if (t < 0) t = 0;
	else if (t > 1) t = 1;
	const ex = ax + t * dx - x;
	const ey = ay + t * dy - y;
	return ex * ex + ey * ey;
}

/** Squared distance between segments AB and CD (0 when they cross). */
function segmentDistanceSquared(
	ax: number,
	ay: number,
	bx: number,
	by: number,
	cx: number,
	cy: number,
	dx: number,
	dy: number,
): number {
	const o1 = cross(ax, ay, bx, by, cx, cy);
	const o2 = cross(ax, ay, bx, by, dx, dy);
	const o3 = cross(cx, cy, dx, dy, ax, ay);
	const o4 = cross(cx, cy, dx, dy, bx, by);
	if (((o1 > 0 && o2 < 0) || (o1 < 0 && o2 > 0)) && ((o3 > 0 && o4 < 0) || (o3 < 0 && o4 > 0))) return 0;
	return Math.min(
		pointSegmentDistanceSquared(ax, ay, cx, cy, dx, dy),
		pointSegmentDistanceSquared(bx, by, cx, cy, dx, dy),
		pointSegmentDistanceSquared(cx, cy, ax, ay, bx, by),
		pointSegmentDistanceSquared(dx, dy, ax, ay, bx, by),
	);
}

/**
 * Cells touching a pole or beyond {@link POLAR_LATITUDE}: straight chords say little there, so
 * only a widened bounding box is compared and the cell is never "full".
 */
function classifyPolarCell(
	p: PreparedPolygon,
	minLat: number,
	maxLat: number,
	maxAbsLat: number,
	minU: number,
	maxU: number,
	containsPole: boolean,
	buffer: number,
): CellClass {
	let lo = minLat;
	let hi = maxLat;
	if (containsPole) {
		if (maxLat > 0) hi = 90;
		else lo = -90;
	}
	const extLat = hi - lo + (buffer + 1) / METERS_PER_DEGREE;
	if (p.maxLat < lo - extLat || p.minLat > hi + extLat) return CellClass.Out;
	if (containsPole) return CellClass.Edge;
	// Great-circle edges between corners less than 180 degrees apart stay within the corners'
	// longitude range; widen it anyway by its own width and by the buffer at the cell's highest latitude.
	const cosFar = Math.cos(Math.min(89.999, maxAbsLat + extLat) * DEG_TO_RAD);
	const extLng = maxU - minU + (buffer + 1) / (METERS_PER_DEGREE * cosFar);
	for (const shift of [0, -360, 360]) {
		if (p.maxLng >= minU + shift - extLng && p.minLng <= maxU + shift + extLng) return CellClass.Edge;
	}
	return CellClass.Out;
}

/*
 * Planar grid covers, for the fence index.
 *
 * The index does not look H3 cells up per ping: h3-js's latLngToCell costs about 1.5 µs (wasm-
 * free asm.js, two mallocs and a hex string per call), more than a whole R-tree query, and a
 * point's cell at one resolution says nothing exact about its cell at another. Instead the
 * index uses a quadtree-like grid of lng/lat squares: level L has squares of 2^L / GRID_SCALE
 * degrees, and a point's square at every level follows from one pair of integers,
 * `floor((lng + 180) * GRID_SCALE) >> L` and `floor((lat + 90) * GRID_SCALE) >> L`: scaling by a
 * power of two is exact in floating point, so the levels nest exactly. The squares are
 * rectangles in the very plane where turf's polygon test is defined, so a "full" square needs no
 * chord-bow margin for polygons, only one for rounding.
 */

/** Points per degree at level 0 (cells of 1/2^18 degree, about 0.4 m). */
export const GRID_SCALE = 2 ** 18;
/** Coarsest grid level: cells of 256 degrees. */
export const GRID_MAX_LEVEL = 26;
// A fence spans at most this many cells (+1) across its larger side at its level.
const GRID_CELLS_ACROSS = 2;
// Degrees by which a cell is widened before it is called edge-free: rounding of the cell bounds
// and of the point's (lng + 180) is below 1e-13 degrees; 1e-9 (0.1 mm) is far above it.
const GRID_EPS = 1e-9;
// Circle cells are only called "out" or "full" when small and away from the poles, where the
// bounds below hold with room to spare.
const GRID_CIRCLE_MAX_CELL_DEG = 0.5;
const GRID_CIRCLE_MAX_LAT = 85;
const GRID_CIRCLE_MAX_FULL_RADIUS = 5_000_000;

/**
 * The grid level of a fence: the finest at which its box, `extent` degrees across its larger
 * side, spans at most {@link GRID_CELLS_ACROSS} + 1 cells per axis.
 *
 * @param extent the larger side of the fence's lng/lat box, in degrees
 * @returns a level in [0, GRID_MAX_LEVEL]
 */
export function gridLevel(extent: number): number {
	let level = 0;
	while (level < GRID_MAX_LEVEL && extent > (GRID_CELLS_ACROSS * 2 ** level) / GRID_SCALE) level++;
	return level;
}

/**
 * The grid coordinate of a shifted coordinate at a level, exactly as the index computes a ping's.
 *
 * @param shifted lng + 180 or lat + 90
 * @param level grid level
 */
export function gridCoordinate(shifted: number, level: number): number {
	return Math.floor(shifted * GRID_SCALE) >> level;
}

// Scratch for classifySquares, grown on demand: JS is single-threaded and it does not re-enter.
let edgeOf = new Uint8Array(64);
let oddOf = new Uint8Array(64);
let insideOf = new Uint8Array(64);
let openOf = new Int32Array(64);
let columnX = new Float64Array(3 * 8);
let rowY = new Float64Array(3 * 8);

/**
 * How each grid square (ix, iy), ix0 <= ix <= ix1 and iy0 <= iy <= iy1, of a level relates to the
 * packed fence whose record is at `at`: Out (no point of the square is in the fence), Full (every
 * point is, by the exact test) or Edge. Written row by row, `out[(iy - iy0) * (ix1 - ix0 + 1) + ix - ix0]`.
 *
 * @param geo packed records
 * @param at the fence's record offset
 * @param level grid level
 * @param ix0 first column, {@link gridCoordinate} of lng + 180
 * @param ix1 last column
 * @param iy0 first row, {@link gridCoordinate} of lat + 90
 * @param iy1 last row
 * @param out where the classes go (at least (ix1 - ix0 + 1) * (iy1 - iy0 + 1) long)
 */
export function classifySquares(
	geo: Float64Array,
	at: number,
	level: number,
	ix0: number,
	ix1: number,
	iy0: number,
	iy1: number,
	out: Uint8Array,
): void {
	const nx = ix1 - ix0 + 1;
	const ny = iy1 - iy0 + 1;
	const size = 2 ** level / GRID_SCALE;
	// Each square widened by GRID_EPS: x0, x1 and the centre per column, the same per row.
	if (3 * Math.max(nx, ny) > columnX.length) {
		columnX = new Float64Array(6 * Math.max(nx, ny));
		rowY = new Float64Array(6 * Math.max(nx, ny));
	}
	for (let i = 0; i < nx; i++) {
		const x0 = (ix0 + i) * size - 180 - GRID_EPS;
		const x1 = (ix0 + i + 1) * size - 180 + GRID_EPS;
		columnX[3 * i] = x0;
		columnX[3 * i + 1] = x1;
		columnX[3 * i + 2] = (x0 + x1) / 2;
	}
	for (let j = 0; j < ny; j++) {
		const y0 = (iy0 + j) * size - 90 - GRID_EPS;
		const y1 = (iy0 + j + 1) * size - 90 + GRID_EPS;
		rowY[3 * j] = y0;
		rowY[3 * j + 1] = y1;
		rowY[3 * j + 2] = (y0 + y1) / 2;
	}
	if ((geo[at] ?? 0) < 0) circleSquares(geo, at, size, nx, ny, out);
	else polygonSquares(geo, at, ix0, iy0, size, nx, ny, out);
}

/**
 * A polygon against widened squares: Edge when any ring edge meets the square (separating-axis
 * test: the two boxes, then the edge's normal), else the inside-ness of the whole square is that
 * of its centre, a point more than GRID_EPS / 2 from every edge, where floating-point even-odd
 * answers (turf's and this one) agree with the true geometry. Two passes: each edge against the
 * squares its box may meet (a superset: the test decides), stopping as soon as every square is an
 * edge square (most small fences: their outline crosses all their squares); then the even-odd rule
 * at the centres of the few squares left. The answers are those of testing every edge against
 * every square.
 */
function polygonSquares(
	geo: Float64Array,
	at: number,
	ix0: number,
	iy0: number,
	size: number,
	nx: number,
	ny: number,
	out: Uint8Array,
): void {
	const cells = nx * ny;
	if (cells > edgeOf.length) {
		edgeOf = new Uint8Array(2 * cells);
		oddOf = new Uint8Array(2 * cells);
		insideOf = new Uint8Array(2 * cells);
		openOf = new Int32Array(2 * cells);
	}
	const edge = edgeOf;
	const xs = columnX;
	const ys = rowY;
	edge.fill(0, 0, cells);
	let edges = 0;
	// A power of two: exact, and so are the products below up to the final rounding.
	const inv = 1 / size;
	const widen = 2 * GRID_EPS;
	const lastRow = ny - 1;
	const lastColumn = nx - 1;
	const body = at + POLYGON_PARTS;
	let q = body;
	const parts = (geo[q++] ?? 0) | 0;
	scan: for (let part = 0; part < parts; part++) {
		const rings = (geo[q++] ?? 0) | 0;
		for (let r = 0; r < rings; r++) {
			const start = q + 1;
			const end = start + 2 * ((geo[q] ?? 0) | 0);
			q = end;
			for (let i = start; i + 2 < end; i += 2) {
				const ax = geo[i] ?? 0;
				const ay = geo[i + 1] ?? 0;
				const bx = geo[i + 2] ?? 0;
				const by = geo[i + 3] ?? 0;
				const minY = Math.min(ay, by);
				const maxY = Math.max(ay, by);
				const minX = Math.min(ax, bx);
				const maxX = Math.max(ax, bx);
				// Squares the edge's box may meet (as int32: the loops below then stay on integers).
				const j0 = Math.max(0, (Math.floor((minY - widen + 90) * inv) | 0) - iy0);
				const j1 = Math.min(lastRow, (Math.floor((maxY + widen + 90) * inv) | 0) - iy0);
				const k0 = Math.max(0, (Math.floor((minX - widen + 180) * inv) | 0) - ix0);
				const k1 = Math.min(lastColumn, (Math.floor((maxX + widen + 180) * inv) | 0) - ix0);
				if (j0 > j1 || k0 > k1) continue;
				const dx = bx - ax;
				const dy = by - ay;
				for (let j = j0; j <= j1; j++) {
					const y0 = ys[3 * j] ?? 0;
					const y1 = ys[3 * j + 1] ?? 0;
					if (maxY < y0 || minY > y1) continue;
					for (let k = k0; k <= k1; k++) {
						const c = j * nx + k;
						if (edge[c] === 1) continue;
						const x0 = xs[3 * k] ?? 0;
						const x1 = xs[3 * k + 1] ?? 0;
						if (maxX < x0 || minX > x1) continue;
						const s00 = dx * (y0 - ay) - dy * (x0 - ax);
						const s10 = dx * (y0 - ay) - dy * (x1 - ax);
						const s01 = dx * (y1 - ay) - dy * (x0 - ax);
						const s11 = dx * (y1 - ay) - dy * (x1 - ax);
						if ((s00 > 0 && s10 > 0 && s01 > 0 && s11 > 0) || (s00 < 0 && s10 < 0 && s01 < 0 && s11 < 0))
							continue;
						edge[c] = 1;
						if (++edges === cells) break scan;
					}
				}
			}
		}
	}
	if (edges === cells) {
		out.fill(CellClass.Edge, 0, cells);
		return;
	}
	// The squares left, and the even-odd rule at their centres, part by part (a point is in the
	// fence when it is in any part).
	const open = openOf;
	const odd = oddOf;
	const inside = insideOf;
	let m = 0;
	for (let c = 0; c < cells; c++) {
		if (edge[c] === 0) {
			open[m++] = c;
			inside[c] = 0;
		}
	}
	q = body + 1;
	for (let part = 0; part < parts; part++) {
		for (let n = 0; n < m; n++) odd[open[n] ?? 0] = 0;
		const rings = (geo[q++] ?? 0) | 0;
		for (let r = 0; r < rings; r++) {
			const start = q + 1;
			const end = start + 2 * ((geo[q] ?? 0) | 0);
			q = end;
			for (let i = start; i + 2 < end; i += 2) {
				const ax = geo[i] ?? 0;
				const ay = geo[i + 1] ?? 0;
				const bx = geo[i + 2] ?? 0;
				const by = geo[i + 3] ?? 0;
				for (let n = 0; n < m; n++) {
					const c = open[n] ?? 0;
					const j = (c / nx) | 0;
					const cy = ys[3 * j + 2] ?? 0;
					if (ay > cy !== by > cy) {
						const crossing = ((bx - ax) * (cy - ay)) / (by - ay) + ax;
						if ((xs[3 * (c - j * nx) + 2] ?? 0) < crossing) odd[c] = (odd[c] ?? 0) ^ 1;
					}
				}
			}
		}
		for (let n = 0; n < m; n++) {
			const c = open[n] ?? 0;
			inside[c] = (inside[c] ?? 0) | (odd[c] ?? 0);
		}
	}
	for (let c = 0; c < cells; c++) {
		out[c] = edge[c] === 1 ? CellClass.Edge : inside[c] === 1 ? CellClass.Full : CellClass.Out;
	}
}

/**
 * A circle against widened squares. Out: the square's nearest point to the centre (clamped
 * lng/lat, which for squares this small is within a fraction of a percent of the true spherical
 * nearest point) is farther than 1.05 radius + 1 m. Full: the four corners are within the radius
 * less a margin: meridian sides are great-circle arcs, inside the (convex) cap with their ends;
 * parallel sides bow from the great circle through their ends by at most W² tan(lat) / 8R; and a
 * region whose whole outline is in the cap is in it. Both by the bounds of turf's haversine term
 * (exact.ts), which never claim more than turf's arithmetic would.
 */
function circleSquares(
	geo: Float64Array,
	at: number,
	size: number,
	nx: number,
	ny: number,
	out: Uint8Array,
): void {
	const lat = geo[at + CIRCLE_LAT] ?? 0;
	const lng = geo[at + CIRCLE_LNG] ?? 0;
	const radius = geo[at + CIRCLE_RADIUS] ?? 0;
	const maxAbsLat = Math.max(Math.abs(rowY[0] ?? 0), Math.abs(rowY[3 * ny - 2] ?? 0));
	if (size > GRID_CIRCLE_MAX_CELL_DEG || maxAbsLat > GRID_CIRCLE_MAX_LAT) {
		out.fill(CellClass.Edge, 0, nx * ny);
		return;
	}
	const width = size * METERS_PER_DEGREE;
	const margin = (2 * width * width * Math.tan(maxAbsLat * DEG_TO_RAD)) / (8 * EARTH_RADIUS_METERS) + 0.001;
	// Only a cap well within a hemisphere is convex enough for its corners to vouch for a square.
	const fullBelow = radius < GRID_CIRCLE_MAX_FULL_RADIUS ? haversineTermAt(radius - margin, -1) : -1;
	const outAbove = haversineTermAt(radius * 1.05 + 1, 1);
	for (let j = 0; j < ny; j++) {
		const y0 = rowY[3 * j] ?? 0;
		const y1 = rowY[3 * j + 1] ?? 0;
		const nearLat = Math.min(y1, Math.max(y0, lat));
		for (let k = 0, c = j * nx; k < nx; k++, c++) {
			const x0 = columnX[3 * k] ?? 0;
			const x1 = columnX[3 * k + 1] ?? 0;
			// Nearest longitude offset from the centre to [x0, x1], across the antimeridian if shorter.
			let lo = x0 - lng;
			while (lo > 180) lo -= 360;
			while (lo < -180) lo += 360;
			const hi = lo + (x1 - x0);
			const dLng = lo > 0 ? Math.min(lo, 360 - hi) : hi < 0 ? Math.min(-hi, 360 + lo) : 0;
			if (circleALower(geo, at, nearLat, lng + dLng) >= outAbove) out[c] = CellClass.Out;
			else if (
				circleAUpper(geo, at, y0, x0) <= fullBelow &&
				circleAUpper(geo, at, y0, x1) <= fullBelow &&
				circleAUpper(geo, at, y1, x0) <= fullBelow &&
				circleAUpper(geo, at, y1, x1) <= fullBelow
			) {
				out[c] = CellClass.Full;
			} else out[c] = CellClass.Edge;
		}
	}
}
