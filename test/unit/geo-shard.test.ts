import { cellToBoundary, getResolution, latLngToCell } from "h3-js";
import { describe, expect, it } from "vitest";
import { GeoError } from "../../src/geo/errors.js";
import { createFenceIndex } from "../../src/geo/index.js";
import {
	layoutFor,
	MAX_SHARD_RESOLUTION,
	planSplits,
	ROOT_SHARD_RESOLUTION,
	SHARD_BUFFER_METERS,
	shardOfPoint,
	shardsOfFence,
} from "../../src/geo/shard.js";
import type { Fence, FenceGeometry, Position } from "../../src/geo/types.js";
import { prng } from "../helpers/prng.js";

// Seeded so a failure replays exactly.
const SEED = 0xc0ffee;
const R = 6371008.8;
const D2R = Math.PI / 180;
const M_PER_DEG = R * D2R;

type Rng = () => number;
const between = (rng: Rng, lo: number, hi: number): number => lo + (hi - lo) * rng();
const logBetween = (rng: Rng, lo: number, hi: number): number =>
	Math.exp(between(rng, Math.log(lo), Math.log(hi)));

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

/** A star-shaped (often concave) polygon of about `size` metres radius around (lat, lng). */
function star(rng: Rng, lat: number, lng: number, size: number): Position[] {
	const n = Math.floor(between(rng, 3, 25));
	const kx = M_PER_DEG * Math.cos(lat * D2R);
	const ring: Position[] = Array.from({ length: n }, (_, i) => {
		const a = (2 * Math.PI * i) / n;
		const r = size * between(rng, 0.3, 1);
		return [lng + (r * Math.cos(a)) / kx, lat + (r * Math.sin(a)) / M_PER_DEG];
	});
	const first = ring[0];
	if (first !== undefined) ring.push([first[0], first[1]]);
	return ring;
}

function randomFence(rng: Rng, id: string, lat: number, lng: number): Fence {
	const size = logBetween(rng, 5, 15_000);
	const kind = rng();
	if (kind < 0.35)
		return fence(id, { type: "Point", coordinates: [lng, lat] }, Math.min(10_000, Math.max(10, size)));
	if (kind < 0.8) return fence(id, { type: "Polygon", coordinates: [star(rng, lat, lng, size)] });
	const [oLat, oLng] = destination(lat, lng, between(rng, 0, 360), size * 2);
	return fence(id, {
		type: "MultiPolygon",
		coordinates: [[star(rng, lat, lng, size / 2)], [star(rng, oLat, oLng, size / 2)]],
	});
}

/** A place to put a fence: anywhere, near a shard corner, near the antimeridian or far north. */
function randomPlace(rng: Rng): [number, number] {
	const kind = rng();
	if (kind < 0.4) return [between(rng, -70, 70), between(rng, -170, 170)];
	if (kind < 0.7) {
		const cell = latLngToCell(between(rng, -70, 70), between(rng, -170, 170), ROOT_SHARD_RESOLUTION);
		const corner = cellToBoundary(cell, false)[0] ?? [0, 0];
		return destination(corner[0], corner[1], between(rng, 0, 360), between(rng, 0, 2_000));
	}
	if (kind < 0.85) return [between(rng, -60, 60), (rng() < 0.5 ? -1 : 1) * between(rng, 179.3, 179.7)];
	return [between(rng, 70, 84), between(rng, -170, 170)];
}

/** Points around a fence: on its outline, then pushed out by up to 1.3 buffers in any direction. */
function pointsNear(rng: Rng, f: Fence, buffer: number, count: number): Array<[number, number]> {
	const g = f.geometry;
	const out: Array<[number, number]> = [];
	for (let i = 0; i < count; i++) {
		let lat: number;
		let lng: number;
		if (g.type === "Point") {
			[lat, lng] = destination(
				g.coordinates[1],
				g.coordinates[0],
				between(rng, 0, 360),
				(f.radius ?? 0) * rng(),
			);
		} else {
			const rings = g.type === "Polygon" ? g.coordinates : g.coordinates.flat();
			const ring = rings[Math.floor(rng() * rings.length)] ?? [];
			const k = Math.floor(rng() * (ring.length - 1));
			const a = ring[k] ?? [0, 0];
			const b = ring[k + 1] ?? a;
			const t = rng();
			lng = a[0] + (b[0] - a[0]) * t;
			lat = a[1] + (b[1] - a[1]) * t;
		}
		const far = rng() < 0.5 ? buffer * between(rng, 0.97, 1.03) : buffer * 1.3 * rng();
		out.push(destination(lat, lng, between(rng, 0, 360), far));
	}
	return out;
}

describe("shardOfPoint", () => {
	it("is the root-resolution H3 cell of the point when nothing is split", () => {
		expect(ROOT_SHARD_RESOLUTION).toBe(3);
		expect(SHARD_BUFFER_METERS).toBe(1000);
		const cell = shardOfPoint(48.8566, 2.3522);
		expect(cell).toBe(latLngToCell(48.8566, 2.3522, 3));
		expect(getResolution(cell)).toBe(3);
	});

	it("descends through split cells, one resolution at a time, to the finest leaves", () => {
		const splits = new Set<string>();
		for (let res = ROOT_SHARD_RESOLUTION; res < MAX_SHARD_RESOLUTION; res++) {
			splits.add(latLngToCell(48.8566, 2.3522, res));
			expect(shardOfPoint(48.8566, 2.3522, splits)).toBe(latLngToCell(48.8566, 2.3522, res + 1));
		}
		// The finest leaves are never split, whatever the set says.
		splits.add(latLngToCell(48.8566, 2.3522, MAX_SHARD_RESOLUTION));
		expect(getResolution(shardOfPoint(48.8566, 2.3522, splits))).toBe(MAX_SHARD_RESOLUTION);
		// A point elsewhere is untouched by Paris's splits.
		expect(shardOfPoint(43.2965, 5.3698, splits)).toBe(latLngToCell(43.2965, 5.3698, 3));
	});

	it("throws invalid_coordinate for a point off the globe", () => {
		for (const [lat, lng] of [
			[Number.NaN, 0],
			[0, Number.POSITIVE_INFINITY],
			[91, 0],
			[0, -181],
		] as const) {
			expect(() => shardOfPoint(lat, lng)).toThrow(GeoError);
			try {
				shardOfPoint(lat, lng);
			} catch (error) {
				expect(error instanceof GeoError && error.code).toBe("invalid_coordinate");
			}
		}
	});
});

describe("shardsOfFence", () => {
	it("returns sorted, distinct root-resolution cells including the fence's own", () => {
		const f = fence("c", { type: "Point", coordinates: [2.3522, 48.8566] }, 150);
		const shards = shardsOfFence(f);
		expect(shards).toEqual([...new Set(shards)].sort());
		expect(shards).toContain(shardOfPoint(48.8566, 2.3522));
		for (const s of shards) expect(getResolution(s)).toBe(ROOT_SHARD_RESOLUTION);
	});

	it("lists all three shards meeting at a corner next to the fence", () => {
		const cell = latLngToCell(48.85, 2.35, ROOT_SHARD_RESOLUTION);
		const corner = cellToBoundary(cell, false)[0] ?? [0, 0];
		const [lat, lng] = destination(corner[0], corner[1], 45, 600);
		const shards = shardsOfFence(fence("near-corner", { type: "Point", coordinates: [lng, lat] }, 10));
		for (let bearing = 0; bearing < 360; bearing += 30) {
			const [pLat, pLng] = destination(corner[0], corner[1], bearing, 50);
			expect(shards).toContain(shardOfPoint(pLat, pLng));
		}
	});

	it("honours a custom buffer, including 0", () => {
		const f = fence("c", { type: "Point", coordinates: [2.3522, 48.8566] }, 10);
		expect(shardsOfFence(f, 0)).toEqual([shardOfPoint(48.8566, 2.3522)]);
		expect(shardsOfFence(f, 150_000).length).toBeGreaterThan(4);
		expect(() => shardsOfFence(f, -1)).toThrow(GeoError);
		expect(() => shardsOfFence(f, Number.NaN)).toThrow(GeoError);
	});

	it("contains the shard of every point within the buffer of random fences", () => {
		const rng = prng(SEED);
		const missing: string[] = [];
		let within = 0;
		let edgeOfBuffer = 0;
		for (let i = 0; i < 250; i++) {
			const [lat, lng] = randomPlace(rng);
			const f = randomFence(rng, `f${i}`, lat, lng);
			const buffer = i % 5 === 0 ? ([0, 25, 250, 5_000][i % 4] ?? 0) : SHARD_BUFFER_METERS;
			const shards = new Set(shardsOfFence(f, buffer));
			const index = createFenceIndex([f]);
			for (const [pLat, pLng] of pointsNear(rng, f, buffer, 80)) {
				const d = index.distanceTo(f.id, pLat, pLng);
				if (d > buffer) continue;
				within++;
				if (d > buffer * 0.97) edgeOfBuffer++;
				if (!shards.has(shardOfPoint(pLat, pLng)))
					missing.push(`fence ${i} buffer ${buffer}: (${pLat}, ${pLng}) at ${d} m`);
			}
		}
		expect(missing.slice(0, 10)).toEqual([]);
		expect(within).toBeGreaterThan(10_000);
		expect(edgeOfBuffer).toBeGreaterThan(1_000);
	});

	it("contains the leaf of every point within the buffer when cells around the fence are split", () => {
		const rng = prng(SEED + 1);
		const missing: string[] = [];
		let within = 0;
		let deep = 0;
		for (let i = 0; i < 150; i++) {
			const [lat, lng] = randomPlace(rng);
			const f = randomFence(rng, `f${i}`, lat, lng);
			// Split the cells on the way down to random depths at points around the fence, as
			// density would: some near it, some a few kilometres away.
			const splits = new Set<string>();
			for (let k = 0; k < 12; k++) {
				const [sLat, sLng] = destination(lat, lng, between(rng, 0, 360), logBetween(rng, 10, 30_000));
				const depth = Math.floor(rng() * (MAX_SHARD_RESOLUTION - ROOT_SHARD_RESOLUTION + 1));
				for (let res = ROOT_SHARD_RESOLUTION; res < ROOT_SHARD_RESOLUTION + depth; res++)
					splits.add(latLngToCell(sLat, sLng, res));
			}
			const shards = new Set(shardsOfFence(f, SHARD_BUFFER_METERS, splits));
			for (const s of shards) expect(splits.has(s)).toBe(false);
			const index = createFenceIndex([f]);
			for (const [pLat, pLng] of pointsNear(rng, f, SHARD_BUFFER_METERS, 60)) {
				const d = index.distanceTo(f.id, pLat, pLng);
				if (d > SHARD_BUFFER_METERS) continue;
				within++;
				const leaf = shardOfPoint(pLat, pLng, splits);
				if (getResolution(leaf) > ROOT_SHARD_RESOLUTION + 1) deep++;
				if (!shards.has(leaf)) missing.push(`fence ${i}: (${pLat}, ${pLng}) at ${d} m, leaf ${leaf}`);
			}
		}
		expect(missing.slice(0, 10)).toEqual([]);
		expect(within).toBeGreaterThan(4_000);
		expect(deep).toBeGreaterThan(500);
	});
});

describe("planSplits", () => {
	// A dense city (1,200 stores within ~3 km) and a sparse region around it (300 within ~60 km).
	function cluster(): Fence[] {
		const rng = prng(SEED + 7);
		const out: Fence[] = [];
		for (let i = 0; i < 1500; i++) {
			const dense = i < 1200;
			const [lat, lng] = destination(
				48.8566,
				2.3522,
				between(rng, 0, 360),
				dense ? 3000 * Math.sqrt(rng()) : 60_000 * Math.sqrt(rng()),
			);
			out.push(fence(`s${i}`, { type: "Point", coordinates: [lng, lat] }, between(rng, 50, 300)));
		}
		return out;
	}

	it("plans, from the root, the layout sizing reaches, and every fence's cells under it", () => {
		const fences = cluster();
		const budget = 200;
		const rootCounts = new Map<string, number>();
		for (const f of fences)
			for (const cell of shardsOfFence(f)) rootCounts.set(cell, (rootCounts.get(cell) ?? 0) + 1);
		const dense = [...rootCounts].filter(([, n]) => n > budget).map(([cell]) => cell);
		expect(dense.length).toBeGreaterThan(0);
		const items = fences.map((fence) => ({ fence, bytes: 100 }));
		const plan = planSplits(items, new Set(), dense, budget);
		expect(plan.splits).toEqual(layoutFor(fences, budget));
		// Every fence of the dense leaves gets exactly the cells shardsOfFence gives under the plan.
		let planned = 0;
		for (const item of items) {
			const cells = plan.cells.get(item);
			if (!cells) continue;
			planned++;
			expect(cells).toEqual(shardsOfFence(item.fence, SHARD_BUFFER_METERS, plan.splits));
		}
		expect(planned).toBeGreaterThan(1200);
		// And no leaf reached by a point of the city holds more than the budget.
		const perLeaf = new Map<string, number>();
		for (const f of fences)
			for (const cell of shardsOfFence(f, SHARD_BUFFER_METERS, plan.splits))
				perLeaf.set(cell, (perLeaf.get(cell) ?? 0) + 1);
		const reached = new Set<string>();
		for (const f of fences) {
			const [lng, lat] = f.geometry.coordinates as Position;
			reached.add(shardOfPoint(lat, lng, plan.splits));
		}
		for (const cell of reached)
			if (getResolution(cell) < MAX_SHARD_RESOLUTION)
				expect(perLeaf.get(cell) ?? 0).toBeLessThanOrEqual(budget);
	});

	it("splits a leaf by its bytes too", () => {
		const fences = cluster().slice(0, 300);
		const [first] = fences;
		if (!first) throw new Error("no fence");
		const root = shardsOfFence(first).find((cell) => cell === shardOfPoint(48.8566, 2.3522));
		if (!root) throw new Error("the city's root cell is not among the first fence's cells");
		const items = fences.map((fence) => ({ fence, bytes: 10_000 }));
		expect(planSplits(items, new Set(), [root], 10_000, 1_000_000).splits.size).toBeGreaterThan(1);
		expect(planSplits(items, new Set(), [root], 10_000).splits).toEqual(new Set([root]));
	});
});
