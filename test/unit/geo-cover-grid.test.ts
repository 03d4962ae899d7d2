import { distance } from "@turf/distance";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CellClass, classifySquares, GRID_SCALE, gridCoordinate, gridLevel } from "../../src/geo/cover.js";
import { circleALower, circleAUpper, packFences, recordBox } from "../../src/geo/exact.js";
import type { Fence, FenceGeometry, Position } from "../../src/geo/types.js";

// Seeded so a failure replays exactly; change SEED to explore other cases.
const SEED = 0x5eed_c0de;
const R = 6371008.8;
const D2R = Math.PI / 180;
const M_PER_DEG = R * D2R;
// The widening of a square against rounding (cover.ts).
const GRID_EPS = 1e-9;

function fence(geometry: FenceGeometry, radius: number | null = null): Fence {
	return { id: "f", name: "f", tags: [], dwellSeconds: null, metadata: {}, geometry, radius };
}

function starRing(lat: number, lng: number, size: number, fractions: number[], phase: number): Position[] {
	const kx = M_PER_DEG * Math.cos(lat * D2R);
	const ring: Position[] = fractions.map((f, i) => {
		const a = phase + (2 * Math.PI * i) / fractions.length;
		return [lng + (size * f * Math.cos(a)) / kx, lat + (size * f * Math.sin(a)) / M_PER_DEG];
	});
	const first = ring[0] as Position;
	ring.push([first[0], first[1]]);
	return ring;
}

/**
 * The classification the index used before it classified a fence's squares in one pass over its
 * edges: every edge against every square, one square at a time.
 */
function squareByBruteForce(rings: Position[][][], level: number, ix: number, iy: number): number {
	const size = 2 ** level / GRID_SCALE;
	const x0 = ix * size - 180 - GRID_EPS;
	const x1 = (ix + 1) * size - 180 + GRID_EPS;
	const y0 = iy * size - 90 - GRID_EPS;
	const y1 = (iy + 1) * size - 90 + GRID_EPS;
	const cx = (x0 + x1) / 2;
	const cy = (y0 + y1) / 2;
	let inside = false;
	for (const part of rings) {
		let odd = false;
		for (const ring of part) {
			for (let i = 0; i + 1 < ring.length; i++) {
				const [ax, ay] = ring[i] as Position;
				const [bx, by] = ring[i + 1] as Position;
				if (ay > cy !== by > cy && cx < ((bx - ax) * (cy - ay)) / (by - ay) + ax) odd = !odd;
				if ((ax < x0 && bx < x0) || (ax > x1 && bx > x1) || (ay < y0 && by < y0) || (ay > y1 && by > y1))
					continue;
				const dx = bx - ax;
				const dy = by - ay;
				const s00 = dx * (y0 - ay) - dy * (x0 - ax);
				const s10 = dx * (y0 - ay) - dy * (x1 - ax);
				const s01 = dx * (y1 - ay) - dy * (x0 - ax);
				const s11 = dx * (y1 - ay) - dy * (x1 - ax);
				if ((s00 > 0 && s10 > 0 && s01 > 0 && s11 > 0) || (s00 < 0 && s10 < 0 && s01 < 0 && s11 < 0))
					continue;
				return CellClass.Edge;
			}
		}
		if (odd) inside = true;
	}
	return inside ? CellClass.Full : CellClass.Out;
}

/** A packed fence's box: minLng, minLat, maxLng, maxLat. */
function boxOf(geo: Float64Array, at: number): [number, number, number, number] {
	const box = new Float64Array(4);
	recordBox(geo, at, box, 0);
	return [box[0] ?? 0, box[1] ?? 0, box[2] ?? 0, box[3] ?? 0];
}

const polygonCase = fc.record({
	lat: fc.double({ min: -80, max: 80, noNaN: true }),
	lng: fc.double({ min: -179, max: 179, noNaN: true }),
	size: fc.double({ min: Math.log(3), max: Math.log(20_000), noNaN: true }).map(Math.exp),
	shell: fc.array(fc.double({ min: 0.4, max: 1, noNaN: true }), { minLength: 3, maxLength: 40 }),
	phase: fc.double({ min: 0, max: 6.3, noNaN: true }),
	hole: fc.boolean(),
	second: fc.boolean(),
	finer: fc.integer({ min: 0, max: 3 }),
});

describe("classifySquares", () => {
	it("classifies a polygon's squares as testing every edge against every square would", () => {
		let full = 0;
		let edge = 0;
		fc.assert(
			fc.property(polygonCase, (c) => {
				const parts: Position[][][] = [[starRing(c.lat, c.lng, c.size, c.shell, c.phase)]];
				if (c.hole)
					(parts[0] as Position[][]).push(starRing(c.lat, c.lng, c.size * 0.3, [1, 0.8, 1, 0.9], c.phase));
				if (c.second) parts.push([starRing(c.lat + (c.size * 2.2) / M_PER_DEG, c.lng, c.size, c.shell, 0)]);
				const packed = packFences([fence({ type: "MultiPolygon", coordinates: parts })]);
				const at = packed.recordOf[0] ?? 0;
				const [minLng, minLat, maxLng, maxLat] = boxOf(packed.geo, at);
				const level = Math.max(0, gridLevel(Math.max(maxLng - minLng, maxLat - minLat)) - c.finer);
				const ix0 = gridCoordinate(minLng + 180, level);
				const ix1 = gridCoordinate(maxLng + 180, level);
				const iy0 = gridCoordinate(minLat + 90, level);
				const iy1 = gridCoordinate(maxLat + 90, level);
				const out = new Uint8Array((ix1 - ix0 + 1) * (iy1 - iy0 + 1));
				classifySquares(packed.geo, at, level, ix0, ix1, iy0, iy1, out);
				for (let iy = iy0; iy <= iy1; iy++) {
					for (let ix = ix0; ix <= ix1; ix++) {
						const got = out[(iy - iy0) * (ix1 - ix0 + 1) + ix - ix0];
						expect(got, `square ${ix}, ${iy} at level ${level}`).toBe(
							squareByBruteForce(parts, level, ix, iy),
						);
						if (got === CellClass.Full) full++;
						if (got === CellClass.Edge) edge++;
					}
				}
			}),
			{ seed: SEED, numRuns: 300 },
		);
		expect(full).toBeGreaterThan(100);
		expect(edge).toBeGreaterThan(1000);
	});

	it("never calls a circle's square full or out when turf disagrees at a point of it", () => {
		let full = 0;
		let out = 0;
		fc.assert(
			fc.property(
				fc.record({
					lat: fc.oneof(fc.double({ min: -84, max: 84, noNaN: true }), fc.constantFrom(84.9, -84.9, 0)),
					lng: fc.oneof(
						fc.double({ min: -180, max: 180, noNaN: true }),
						fc.constantFrom(179.9999, -179.9999),
					),
					radius: fc.double({ min: Math.log(10), max: Math.log(10_000), noNaN: true }).map(Math.exp),
					finer: fc.integer({ min: 0, max: 3 }),
					points: fc.array(
						fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
						{
							minLength: 4,
							maxLength: 4,
						},
					),
				}),
				(c) => {
					const packed = packFences([fence({ type: "Point", coordinates: [c.lng, c.lat] }, c.radius)]);
					const at = packed.recordOf[0] ?? 0;
					const [minLng, minLat, maxLng, maxLat] = boxOf(packed.geo, at);
					const width = minLng > maxLng ? maxLng + 360 - minLng : maxLng - minLng;
					const level = Math.max(0, gridLevel(Math.max(width, maxLat - minLat)) - c.finer);
					const iy0 = gridCoordinate(minLat + 90, level);
					const iy1 = gridCoordinate(maxLat + 90, level);
					const ranges: Array<[number, number]> =
						minLng <= maxLng
							? [[gridCoordinate(minLng + 180, level), gridCoordinate(maxLng + 180, level)]]
							: [
									[gridCoordinate(minLng + 180, level), gridCoordinate(360, level)],
									[0, gridCoordinate(maxLng + 180, level)],
								];
					const size = 2 ** level / GRID_SCALE;
					for (const [ix0, ix1] of ranges) {
						const classes = new Uint8Array((ix1 - ix0 + 1) * (iy1 - iy0 + 1));
						classifySquares(packed.geo, at, level, ix0, ix1, iy0, iy1, classes);
						for (let iy = iy0; iy <= iy1; iy++) {
							for (let ix = ix0; ix <= ix1; ix++) {
								const cls = classes[(iy - iy0) * (ix1 - ix0 + 1) + ix - ix0];
								if (cls === CellClass.Edge) continue;
								if (cls === CellClass.Full) full++;
								else out++;
								// Corners and random points of the square.
								const probes = [[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5], ...c.points];
								for (const [u, v] of probes) {
									const lng = Math.min(180, ix * size - 180 + (u as number) * size);
									const lat = Math.min(90, iy * size - 90 + (v as number) * size);
									const inside = distance([c.lng, c.lat], [lng, lat], { units: "meters" }) <= c.radius;
									expect(inside, `${cls === CellClass.Full ? "full" : "out"} square at ${lat}, ${lng}`).toBe(
										cls === CellClass.Full,
									);
								}
							}
						}
					}
				},
			),
			{ seed: SEED + 1, numRuns: 300 },
		);
		expect(full).toBeGreaterThan(200);
		expect(out).toBeGreaterThan(200);
	});
});

describe("the bounds of turf's haversine term", () => {
	it("bracket the term turf computes, down to its last bits", () => {
		fc.assert(
			fc.property(
				fc.double({ min: -89.999, max: 89.999, noNaN: true }),
				fc.double({ min: -180, max: 180, noNaN: true }),
				fc.double({ min: -12, max: 0.5, noNaN: true }),
				fc.double({ min: 0, max: 360, noNaN: true }),
				(lat, lng, logAngle, bearing) => {
					const packed = packFences([fence({ type: "Point", coordinates: [lng, lat] }, 1)]);
					const at = packed.recordOf[0] ?? 0;
					// A point at 10^logAngle radians (micrometres to 3,000 km) in any direction.
					const d = 10 ** logAngle;
					const t = bearing * D2R;
					const p1 = lat * D2R;
					const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(t));
					const l2 =
						lng * D2R +
						Math.atan2(Math.sin(t) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
					const pLat = p2 / D2R;
					const pLng = ((((l2 / D2R + 540) % 360) + 360) % 360) - 180;
					const meters = distance([lng, lat], [pLng, pLat], { units: "meters" });
					// turf's term, back from its distance (2R asin(sqrt(a))).
					const a = Math.sin(meters / (2 * 6371008.8)) ** 2;
					const lower = circleALower(packed.geo, at, pLat, pLng);
					const upper = circleAUpper(packed.geo, at, pLat, pLng);
					expect(lower).toBeLessThanOrEqual(a * (1 + 1e-12) + 1e-300);
					expect(upper).toBeGreaterThanOrEqual(a * (1 - 1e-12));
				},
			),
			{ seed: SEED + 2, numRuns: 3000 },
		);
	});
});
