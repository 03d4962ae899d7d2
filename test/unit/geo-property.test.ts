import { booleanPointInPolygon } from "@turf/boolean-point-in-polygon";
import { distance } from "@turf/distance";
import { cellToBoundary, cellToLatLng, latLngToCell } from "h3-js";
import { describe, expect, it } from "vitest";
import {
	CellClass,
	cellMarginMeters,
	chooseResolution,
	coverFence,
	MAX_CELLS_PER_FENCE,
} from "../../src/geo/cover.js";
import { prepareFence } from "../../src/geo/exact.js";
import { createFenceIndex, loadFenceIndex, serializeFenceIndex } from "../../src/geo/index.js";
import type { Fence, FenceGeometry, Position } from "../../src/geo/types.js";
import { validateFeatureCollection } from "../../src/geo/validate.js";
import { prng } from "../helpers/prng.js";

// Seeded so a failure replays exactly; change SEED to explore other cases.
const SEED = 0x5eed_2024;
const R = 6371008.8;
const D2R = Math.PI / 180;
const M_PER_DEG = R * D2R;

type Rng = () => number;
const between = (rng: Rng, lo: number, hi: number): number => lo + (hi - lo) * rng();
const logBetween = (rng: Rng, lo: number, hi: number): number =>
	Math.exp(between(rng, Math.log(lo), Math.log(hi)));
const int = (rng: Rng, lo: number, hi: number): number => Math.floor(between(rng, lo, hi + 1));

function destination(lat: number, lng: number, bearing: number, meters: number): [lat: number, lng: number] {
	const d = meters / R;
	const t = bearing * D2R;
	const p1 = lat * D2R;
	const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(t));
	const l2 =
		lng * D2R +
		Math.atan2(Math.sin(t) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
	return [p2 / D2R, ((((l2 / D2R + 540) % 360) + 360) % 360) - 180];
}

function fence(id: string, geometry: FenceGeometry, radius: number | null = null): Fence {
	return { id, name: id, tags: [], dwellSeconds: null, metadata: {}, geometry, radius };
}

/** A closed ring of `n` vertices around (lat, lng): radii in metres from `radiusAt(angle index)`. */
function ring(lat: number, lng: number, angles: number[], radii: number[]): Position[] {
	const kx = M_PER_DEG * Math.cos(lat * D2R);
	const out: Position[] = angles.map((a, i) => {
		const r = radii[i] ?? 0;
		return [lng + (r * Math.cos(a)) / kx, lat + (r * Math.sin(a)) / M_PER_DEG];
	});
	const first = out[0];
	if (first !== undefined) out.push([first[0], first[1]]);
	return out;
}

function convexRing(rng: Rng, lat: number, lng: number, size: number): Position[] {
	const n = int(rng, 3, 12);
	const angles = Array.from({ length: n }, () => between(rng, 0, 2 * Math.PI)).sort((a, b) => a - b);
	// Same radius for all: vertices on a circle form a convex polygon.
	const r = size * between(rng, 0.5, 1);
	return ring(
		lat,
		lng,
		angles,
		angles.map(() => r),
	);
}

function starRing(rng: Rng, lat: number, lng: number, size: number, minFraction = 0.3): Position[] {
	const n = int(rng, 5, 40);
	const angles = Array.from({ length: n }, (_, i) => (2 * Math.PI * i) / n);
	return ring(
		lat,
		lng,
		angles,
		angles.map(() => size * between(rng, minFraction, 1)),
	);
}

/** A random fence of one of the supported kinds around (lat, lng), about `size` metres across. */
function randomFence(rng: Rng, id: string, lat: number, lng: number, size: number): Fence {
	const kind = int(rng, 0, 4);
	switch (kind) {
		case 0:
			return fence(id, { type: "Polygon", coordinates: [convexRing(rng, lat, lng, size)] });
		case 1:
			return fence(id, { type: "Polygon", coordinates: [starRing(rng, lat, lng, size)] });
		case 2: {
			// Star shell never closer than 0.4 size to its centre; the hole stays within 0.3 size.
			const shell = starRing(rng, lat, lng, size, 0.4);
			const hole = convexRing(rng, lat, lng, size * 0.3);
			return fence(id, { type: "Polygon", coordinates: [shell, hole] });
		}
		case 3: {
			const [aLat, aLng] = destination(lat, lng, between(rng, 0, 360), size * 1.2);
			const shell = starRing(rng, lat, lng, size * 0.5, 0.4);
			const hole = convexRing(rng, lat, lng, size * 0.15);
			return fence(id, {
				type: "MultiPolygon",
				coordinates: [[shell, hole], [starRing(rng, aLat, aLng, size * 0.5)]],
			});
		}
		default: {
			const radius = Math.min(10_000, Math.max(10, size * between(rng, 0.2, 1)));
			return fence(id, { type: "Point", coordinates: [lng, lat] }, radius);
		}
	}
}

/** Brute force with turf: the definition of membership. */
function reference(fences: Fence[], lat: number, lng: number): string[] {
	const out: string[] = [];
	for (const f of fences) {
		const g = f.geometry;
		const inside =
			g.type === "Point"
				? distance(g.coordinates, [lng, lat], { units: "meters" }) <= (f.radius ?? 0)
				: booleanPointInPolygon([lng, lat], g);
		if (inside) out.push(f.id);
	}
	return out.sort();
}

/** A random scene centre: anywhere up to 84 degrees, sometimes hugging the antimeridian. */
function sceneCentre(rng: Rng, size: number): [number, number] {
	const lat = rng() < 0.1 ? between(rng, 70, 84) * (rng() < 0.5 ? -1 : 1) : between(rng, -70, 70);
	const spanDeg = (4 * size) / (M_PER_DEG * Math.cos(lat * D2R));
	const lng = rng() < 0.1 ? (180 - spanDeg) * (rng() < 0.5 ? -1 : 1) : between(rng, -175, 175);
	return [lat, lng];
}

/** Points that probe a fence: on and next to its edges and vertices, or on and next to its circle. */
function probePoints(rng: Rng, f: Fence, count: number): Array<[number, number]> {
	const g = f.geometry;
	const out: Array<[number, number]> = [];
	if (g.type === "Point") {
		const [lng, lat] = g.coordinates;
		const radius = f.radius ?? 0;
		for (let i = 0; i < count; i++) {
			const d = radius * (1 + (rng() < 0.5 ? -1 : 1) * logBetween(rng, 1e-9, 0.1));
			out.push(destination(lat, lng, between(rng, 0, 360), Math.max(0, d)));
		}
		return out;
	}
	const rings = g.type === "Polygon" ? g.coordinates : g.coordinates.flat();
	for (let i = 0; i < count; i++) {
		const r = rings[int(rng, 0, rings.length - 1)] ?? [];
		const k = int(rng, 0, r.length - 2);
		const a = r[k];
		const b = r[k + 1];
		if (a === undefined || b === undefined) continue;
		const mode = rng();
		const t = mode < 0.15 ? 0 : rng();
		const lng = a[0] + (b[0] - a[0]) * t;
		const lat = a[1] + (b[1] - a[1]) * t;
		if (mode < 0.3) {
			out.push([lat, lng]);
			continue;
		}
		// Step perpendicular to the edge, in or out, by a tiny to moderate fraction of its length.
		const step = (rng() < 0.5 ? -1 : 1) * logBetween(rng, 1e-10, 0.2);
		out.push([lat + (a[0] - b[0]) * step, lng + (b[1] - a[1]) * step]);
	}
	return out;
}

function toVectorOnSphere(lat: number, lng: number): [number, number, number] {
	const a = lat * D2R;
	const b = lng * D2R;
	return [Math.cos(a) * Math.cos(b), Math.cos(a) * Math.sin(b), Math.sin(a)];
}
function toLatLngOnSphere(v: [number, number, number]): [number, number] {
	const n = Math.hypot(v[0], v[1], v[2]);
	return [Math.asin(v[2] / n) / D2R, Math.atan2(v[1], v[0]) / D2R];
}
function lerpVector(
	a: [number, number, number],
	b: [number, number, number],
	t: number,
): [number, number, number] {
	return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

describe("FenceIndex.match equals the brute-force turf answer", () => {
	it("on thousands of points around random fences of many sizes and shapes", () => {
		const rng = prng(SEED);
		const mismatches: string[] = [];
		let checked = 0;
		let inside = 0;
		for (let scene = 0; scene < 120; scene++) {
			const size = logBetween(rng, 5, 12_000);
			const [lat, lng] = sceneCentre(rng, size);
			const fences: Fence[] = [];
			const count = int(rng, 2, 7);
			for (let i = 0; i < count; i++) {
				const [fLat, fLng] = destination(lat, lng, between(rng, 0, 360), between(rng, 0, size));
				fences.push(randomFence(rng, `s${scene}-f${i}`, fLat, fLng, size * logBetween(rng, 0.3, 1.5)));
			}
			const index = createFenceIndex(fences);
			// And the same index through a snapshot.
			const loaded = loadFenceIndex(serializeFenceIndex(index));
			const points: Array<[number, number]> = [];
			for (const f of fences) points.push(...probePoints(rng, f, 60));
			for (let i = 0; i < 100; i++)
				points.push(destination(lat, lng, between(rng, 0, 360), between(rng, 0, 3 * size)));
			for (const [pLat, pLng] of points) {
				if (!(pLat >= -90 && pLat <= 90 && pLng >= -180 && pLng <= 180)) continue;
				const expected = reference(fences, pLat, pLng);
				const got = index.match(pLat, pLng);
				checked++;
				if (expected.length > 0) inside++;
				if (got.join() !== expected.join()) {
					mismatches.push(`scene ${scene} (${pLat}, ${pLng}): got [${got}] expected [${expected}]`);
				}
				const fromSnapshot = loaded.match(pLat, pLng);
				if (fromSnapshot.join() !== expected.join()) {
					mismatches.push(
						`scene ${scene} (${pLat}, ${pLng}): snapshot [${fromSnapshot}] expected [${expected}]`,
					);
				}
				const f = fences[checked % fences.length] as Fence;
				if (!Object.is(loaded.distanceTo(f.id, pLat, pLng), index.distanceTo(f.id, pLat, pLng))) {
					mismatches.push(`scene ${scene} (${pLat}, ${pLng}): snapshot distance to ${f.id} differs`);
				}
			}
		}
		expect(mismatches.slice(0, 10)).toEqual([]);
		expect(checked).toBeGreaterThan(30_000);
		// The probes must exercise both answers, or the test proves little.
		expect(inside).toBeGreaterThan(checked / 5);
		expect(checked - inside).toBeGreaterThan(checked / 5);
	});

	it("draws circles where turf does, a hair inside and outside the radius, anywhere on the globe", () => {
		const rng = prng(SEED + 5);
		const mismatches: string[] = [];
		let inside = 0;
		let checked = 0;
		for (let c = 0; c < 300; c++) {
			const lat = c % 10 === 0 ? between(rng, -89.99, 89.99) : between(rng, -84, 84);
			const lng = c % 7 === 0 ? (rng() < 0.5 ? -179.999 : 179.999) : between(rng, -180, 180);
			// Shop-sized to beyond what uploads allow (10 km): the index takes any positive radius.
			const radius = logBetween(rng, 1, 3_000_000);
			const f = fence(`c${c}`, { type: "Point", coordinates: [lng, lat] }, radius);
			const index = createFenceIndex([f]);
			const loaded = loadFenceIndex(serializeFenceIndex(index));
			for (let k = 0; k < 40; k++) {
				// From 1e-15 to 1e-2 of the radius off the circle, in or out.
				const off = (rng() < 0.5 ? -1 : 1) * 10 ** between(rng, -15, -2);
				const [pLat, pLng] = destination(lat, lng, between(rng, 0, 360), radius * (1 + off));
				if (!(pLat >= -90 && pLat <= 90 && pLng >= -180 && pLng <= 180)) continue;
				const expected = reference([f], pLat, pLng);
				checked++;
				if (expected.length > 0) inside++;
				for (const got of [index.match(pLat, pLng), loaded.match(pLat, pLng)]) {
					if (got.join() !== expected.join()) mismatches.push(`circle ${c} (${pLat}, ${pLng}): [${got}]`);
				}
			}
		}
		expect(mismatches.slice(0, 10)).toEqual([]);
		expect(inside).toBeGreaterThan(checked / 4);
		expect(checked - inside).toBeGreaterThan(checked / 4);
	});

	it("generates fences the upload validator accepts", () => {
		const rng = prng(SEED + 1);
		const features = Array.from({ length: 200 }, (_, i) => {
			const size = logBetween(rng, 5, 12_000);
			const f = randomFence(rng, `v${i}`, between(rng, -70, 70), between(rng, -170, 170), size);
			return {
				type: "Feature",
				geometry: f.geometry,
				properties: f.radius === null ? { id: f.id } : { id: f.id, radius: f.radius },
			};
		});
		const result = validateFeatureCollection({ type: "FeatureCollection", features });
		expect(result.ok ? [] : result.errors.slice(0, 5)).toEqual([]);
	});
});

describe("coverFence", () => {
	it("is a superset of the fence's cells, and its full cells hold only inside points", () => {
		const rng = prng(SEED + 2);
		let fullHits = 0;
		let fullCells = 0;
		const problems: string[] = [];
		for (let i = 0; i < 150; i++) {
			const size = logBetween(rng, 5, 12_000);
			const [lat, lng] = sceneCentre(rng, size);
			const f = randomFence(rng, `c${i}`, lat, lng, size);
			const p = prepareFence(f);
			const res = chooseResolution(p);
			const cover = coverFence(p, res, 0, MAX_CELLS_PER_FENCE);
			if (cover === null) {
				problems.push(`fence ${i}: cover overflow at res ${res}`);
				continue;
			}
			expect(cover.size).toBeLessThanOrEqual(MAX_CELLS_PER_FENCE);
			const full = [...cover].filter(([, isFull]) => isFull).map(([cell]) => cell);
			fullCells += full.length;
			// Random points inside each full cell (convex combinations of centre and two corners).
			for (const cell of full.slice(0, 20)) {
				const corners = cellToBoundary(cell, false);
				const [cLat, cLng] = cellToLatLng(cell);
				for (let k = 0; k < 10; k++) {
					const j = int(rng, 0, corners.length - 1);
					const a = corners[j];
					const b = corners[(j + 1) % corners.length];
					if (a === undefined || b === undefined) continue;
					let u = rng();
					let v = rng();
					if (u + v > 1) {
						u = 1 - u;
						v = 1 - v;
					}
					const pLat = cLat + (a[0] - cLat) * u + (b[0] - cLat) * v;
					const pLng = cLng + (a[1] - cLng) * u + (b[1] - cLng) * v;
					if (latLngToCell(pLat, pLng, res) !== cell) continue;
					fullHits++;
					if (reference([f], pLat, pLng).length !== 1)
						problems.push(`fence ${i}: full cell ${cell} holds outside point`);
				}
			}
			// Every probe point that is inside must land on a covered cell.
			for (const [pLat, pLng] of probePoints(rng, f, 80)) {
				if (!(pLat >= -90 && pLat <= 90 && pLng >= -180 && pLng <= 180)) continue;
				if (reference([f], pLat, pLng).length === 1 && !cover.has(latLngToCell(pLat, pLng, res))) {
					problems.push(`fence ${i}: inside point (${pLat}, ${pLng}) on an uncovered cell`);
				}
			}
		}
		expect(problems.slice(0, 10)).toEqual([]);
		expect(fullCells).toBeGreaterThan(500);
		expect(fullHits).toBeGreaterThan(500);
	});

	it("never calls 'full' a cell whose great-circle edges bow out of a fence hugging its chords", () => {
		// At 70°N a res-7 cell edge bows ~10 cm poleward of its straight lng/lat chord. A fence
		// 2 cm larger than the chord polygon contains the chords but not the bulges.
		const res = 7;
		const cell = latLngToCell(70.2, 25.1, res);
		const [cLat, cLng] = cellToLatLng(cell);
		const corners = cellToBoundary(cell, false);
		const grow = (lat: number, lng: number): Position => {
			const d = distance([cLng, cLat], [lng, lat], { units: "meters" });
			const k = 1 + 0.02 / d;
			return [cLng + (lng - cLng) * k, cLat + (lat - cLat) * k];
		};
		const shell = corners.map(([lat, lng]) => grow(lat, lng));
		const first = shell[0];
		if (first === undefined) throw new Error("no corners");
		shell.push([first[0], first[1]]);
		const f = fence("hug", { type: "Polygon", coordinates: [shell] });
		const cover = coverFence(prepareFence(f), res, 0, MAX_CELLS_PER_FENCE);
		expect(cover?.get(cell)).toBe(false);

		// The bulge exists: the middle of the northernmost edge's arc is in the cell, outside the fence.
		let best = -1;
		let mid: [number, number] = [cLat, cLng];
		for (let j = 0; j < corners.length; j++) {
			const a = corners[j];
			const b = corners[(j + 1) % corners.length];
			if (a === undefined || b === undefined || a[0] + b[0] <= best) continue;
			best = a[0] + b[0];
			mid = toLatLngOnSphere(lerpVector(toVectorOnSphere(a[0], a[1]), toVectorOnSphere(b[0], b[1]), 0.5));
		}
		const [mLat, mLng] = toLatLngOnSphere(
			lerpVector(toVectorOnSphere(...mid), toVectorOnSphere(cLat, cLng), 1e-6),
		);
		expect(latLngToCell(mLat, mLng, res)).toBe(cell);
		expect(reference([f], mLat, mLng)).toEqual([]);
		expect(createFenceIndex([f]).match(mLat, mLng)).toEqual([]);
	});

	it("classifies cells with the CellClass codes", () => {
		expect(CellClass).toEqual({ Out: 0, Edge: 1, Full: 2 });
	});
});

describe("H3 cell geometry assumptions", () => {
	it("a cell is the spherical polygon of its corners with great-circle edges", () => {
		const rng = prng(SEED + 3);
		const wrong: string[] = [];
		for (let i = 0; i < 4_000; i++) {
			const res = i % 16;
			const cell = latLngToCell(between(rng, -89.9, 89.9), between(rng, -180, 180), res);
			const corners = cellToBoundary(cell, false);
			const centre = toVectorOnSphere(...cellToLatLng(cell));
			const j = int(rng, 0, corners.length - 1);
			const a = corners[j];
			const b = corners[(j + 1) % corners.length];
			if (a === undefined || b === undefined) continue;
			const onEdge = lerpVector(toVectorOnSphere(a[0], a[1]), toVectorOnSphere(b[0], b[1]), rng());
			for (const towardCentre of [1e-4, -1e-4]) {
				const [lat, lng] = toLatLngOnSphere(lerpVector(onEdge, centre, towardCentre));
				if ((latLngToCell(lat, lng, res) === cell) !== towardCentre > 0)
					wrong.push(`${cell} ${towardCentre}`);
			}
		}
		expect(wrong).toEqual([]);
	});

	it("cellMarginMeters exceeds how far a cell edge bows from its lng/lat chord", () => {
		const rng = prng(SEED + 4);
		const failures: string[] = [];
		for (let i = 0; i < 2_600; i++) {
			const res = i % 13;
			const cell = latLngToCell(between(rng, -88, 88), between(rng, -180, 180), res);
			const corners = cellToBoundary(cell, false);
			const maxAbsLat = Math.max(...corners.map(([lat]) => Math.abs(lat)));
			if (maxAbsLat > 88) continue;
			const [cLat] = cellToLatLng(cell);
			const kx = Math.cos(cLat * D2R) * M_PER_DEG;
			let longest = 0;
			let bow = 0;
			for (let j = 0; j < corners.length; j++) {
				const a = corners[j];
				const b = corners[(j + 1) % corners.length];
				if (a === undefined || b === undefined) continue;
				longest = Math.max(longest, distance([a[1], a[0]], [b[1], b[0]], { units: "meters" }));
				let bLng = b[1];
				while (bLng - a[1] > 180) bLng -= 360;
				while (bLng - a[1] < -180) bLng += 360;
				const ax = a[1] * kx;
				const ay = a[0] * M_PER_DEG;
				const dx = bLng * kx - ax;
				const dy = b[0] * M_PER_DEG - ay;
				for (let s = 1; s < 16; s++) {
					const [pLat, pLngRaw] = toLatLngOnSphere(
						lerpVector(toVectorOnSphere(a[0], a[1]), toVectorOnSphere(b[0], b[1]), s / 16),
					);
					let pLng = pLngRaw;
					while (pLng - a[1] > 180) pLng -= 360;
					while (pLng - a[1] < -180) pLng += 360;
					const px = pLng * kx - ax;
					const py = pLat * M_PER_DEG - ay;
					const t = Math.max(0, Math.min(1, (px * dx + py * dy) / (dx * dx + dy * dy)));
					bow = Math.max(bow, Math.hypot(px - t * dx, py - t * dy));
				}
			}
			const margin = cellMarginMeters(longest, maxAbsLat);
			if (!(bow < margin)) failures.push(`res ${res} cell ${cell}: bow ${bow} >= margin ${margin}`);
		}
		expect(failures).toEqual([]);
	});
});
