import { booleanPointInPolygon } from "@turf/boolean-point-in-polygon";
import { distance } from "@turf/distance";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
	buildMemory,
	createFenceIndex,
	type FenceFeatureLike,
	type FenceIndex,
	FenceSnapshotError,
	loadFenceIndex,
	SHARED_MEMORY_FROM_BYTES,
	SNAPSHOT_VERSION,
	serializeFenceIndex,
} from "../../src/geo/index.js";
import type { Position } from "../../src/geo/types.js";

// Seeded so a failure replays exactly; change SEED to explore other cases.
const SEED = 0x5eed_5a95;
const R = 6371008.8;
const D2R = Math.PI / 180;
const M_PER_DEG = R * D2R;

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

/** A closed star-shaped ring around (lat, lng): vertex i at angle 2πi/n, radius size * fractions[i]. */
function starRing(lat: number, lng: number, size: number, fractions: number[]): Position[] {
	const kx = M_PER_DEG * Math.cos(lat * D2R);
	const ring: Position[] = fractions.map((f, i) => {
		const a = (2 * Math.PI * i) / fractions.length;
		return [lng + (size * f * Math.cos(a)) / kx, lat + (size * f * Math.sin(a)) / M_PER_DEG];
	});
	const first = ring[0] as Position;
	ring.push([first[0], first[1]]);
	return ring;
}

interface FenceSpec {
	kind: number;
	bearing: number;
	offset: number;
	size: number;
	fractions: number[];
}

const fenceSpec = fc.record({
	kind: fc.integer({ min: 0, max: 3 }),
	bearing: fc.double({ min: 0, max: 360, noNaN: true }),
	offset: fc.double({ min: 0, max: 1, noNaN: true }),
	size: fc.double({ min: 0.3, max: 1.5, noNaN: true }),
	fractions: fc.array(fc.double({ min: 0.45, max: 1, noNaN: true }), { minLength: 3, maxLength: 24 }),
});

const scene = fc.record({
	lat: fc.oneof(fc.double({ min: -70, max: 70, noNaN: true }), fc.double({ min: 70, max: 84, noNaN: true })),
	lng: fc.oneof(fc.double({ min: -179, max: 179, noNaN: true }), fc.constantFrom(179.999, -179.999)),
	size: fc.double({ min: Math.log(5), max: Math.log(12_000), noNaN: true }).map(Math.exp),
	fences: fc.array(fenceSpec, { minLength: 1, maxLength: 6 }),
	ids: fc.array(fc.string({ minLength: 1, maxLength: 6, unit: "binary" }), { minLength: 6, maxLength: 6 }),
	probes: fc.array(
		fc.record({
			fence: fc.nat(),
			vertex: fc.nat(),
			t: fc.double({ min: 0, max: 1, noNaN: true }),
			// Signed log of the step off the edge, as a fraction of the edge: from 1e-12 to 1.
			step: fc.double({ min: -12, max: 0, noNaN: true }),
			out: fc.boolean(),
		}),
		{ minLength: 20, maxLength: 80 },
	),
});

type Scene = typeof scene extends fc.Arbitrary<infer T> ? T : never;

/** The API-shaped Features of a scene (ids: the generated strings, made distinct). */
function featuresOf(s: Scene): FenceFeatureLike[] {
	return s.fences.map((f: FenceSpec, i: number) => {
		const [lat, lng] = destination(s.lat, s.lng, f.bearing, f.offset * s.size);
		const size = s.size * f.size;
		const id = `${s.ids[i] ?? ""}#${i}`;
		if (f.kind === 0) {
			const radius = Math.min(10_000, Math.max(10, size));
			return {
				type: "Feature",
				geometry: { type: "Point", coordinates: [lng, lat] },
				properties: { id, radius },
			};
		}
		const shell = starRing(lat, lng, size, f.fractions);
		if (f.kind === 1)
			return { type: "Feature", geometry: { type: "Polygon", coordinates: [shell] }, properties: { id } };
		const hole = starRing(lat, lng, size * 0.3, [0.9, 1, 0.8, 1]);
		if (f.kind === 2) {
			return {
				type: "Feature",
				geometry: { type: "Polygon", coordinates: [shell, hole] },
				properties: { id },
			};
		}
		const [bLat, bLng] = destination(lat, lng, f.bearing + 90, size * 2.5);
		return {
			type: "Feature",
			geometry: {
				type: "MultiPolygon",
				coordinates: [[shell, hole], [starRing(bLat, bLng, size, f.fractions)]],
			},
			properties: { id },
		};
	});
}

/** Points on, just inside and just outside the fences' edges and circles. */
function probesOf(s: Scene, features: FenceFeatureLike[]): Array<[number, number]> {
	const out: Array<[number, number]> = [];
	for (const p of s.probes) {
		const f = features[p.fence % features.length] as FenceFeatureLike;
		const sign = p.out ? 1 : -1;
		const step = sign * 10 ** p.step;
		if (f.geometry.type === "Point") {
			const [lng, lat] = f.geometry.coordinates as Position;
			out.push(destination(lat, lng, p.t * 360, (f.properties.radius ?? 0) * (1 + step)));
			continue;
		}
		const rings = (
			f.geometry.type === "Polygon"
				? f.geometry.coordinates
				: (f.geometry.coordinates as Position[][][]).flat()
		) as Position[][];
		const ring = rings[p.vertex % rings.length] as Position[];
		const k = p.vertex % (ring.length - 1);
		const a = ring[k] as Position;
		const b = ring[k + 1] as Position;
		const lng = a[0] + (b[0] - a[0]) * p.t;
		const lat = a[1] + (b[1] - a[1]) * p.t;
		out.push(p.step < -11.5 ? [lat, lng] : [lat + (a[0] - b[0]) * step, lng + (b[1] - a[1]) * step]);
	}
	return out.filter(([lat, lng]) => lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180);
}

/** Brute force with turf: the definition of membership. */
function reference(features: FenceFeatureLike[], lat: number, lng: number): string[] {
	const ids: string[] = [];
	for (const f of features) {
		const g = f.geometry;
		const inside =
			g.type === "Point"
				? distance(g.coordinates as Position, [lng, lat], { units: "meters" }) <= (f.properties.radius ?? 0)
				: booleanPointInPolygon([lng, lat], g as Parameters<typeof booleanPointInPolygon>[1]);
		if (inside) ids.push(f.properties.id);
	}
	return ids.sort();
}

/** The same bytes at an odd offset of a larger buffer, as storage may hand them back. */
function misaligned(bytes: Uint8Array): Uint8Array {
	const copy = new Uint8Array(bytes.length + 3);
	copy.set(bytes, 3);
	return copy.subarray(3);
}

function expectSameIndex(a: FenceIndex, b: FenceIndex, ids: string[], points: Array<[number, number]>): void {
	expect(b.size).toBe(a.size);
	for (const [lat, lng] of points) {
		expect(b.match(lat, lng)).toEqual(a.match(lat, lng));
		for (const id of ids)
			expect(Object.is(b.distanceTo(id, lat, lng), a.distanceTo(id, lat, lng))).toBe(true);
	}
}

describe("serializeFenceIndex / loadFenceIndex", () => {
	it("a loaded snapshot answers as the index and as turf, at any byte offset", () => {
		let checked = 0;
		let inside = 0;
		fc.assert(
			fc.property(scene, (s) => {
				const features = featuresOf(s);
				const index = createFenceIndex(features);
				const bytes = serializeFenceIndex(index);
				const loaded = loadFenceIndex(bytes);
				const points = probesOf(s, features);
				const ids = features.map((f) => f.properties.id);
				for (const [lat, lng] of points) {
					const expected = reference(features, lat, lng);
					expect(index.match(lat, lng), `at ${lat}, ${lng}`).toEqual(expected);
					checked++;
					if (expected.length > 0) inside++;
				}
				expectSameIndex(index, loaded, [...ids, "unknown"], points);
				expectSameIndex(index, loadFenceIndex(misaligned(bytes)), ids, points.slice(0, 5));
				expectSameIndex(index, loadFenceIndex(bytes.slice().buffer), ids, points.slice(0, 5));
				// A loaded index snapshots to the very same bytes.
				expect(serializeFenceIndex(loaded)).toEqual(bytes);
			}),
			{ seed: SEED, numRuns: 60 },
		);
		// The probes must exercise both answers, or the test proves little.
		expect(inside).toBeGreaterThan(checked / 5);
		expect(checked - inside).toBeGreaterThan(checked / 5);
	});

	it("keeps unsorted input, replaced ids and non-Latin-1 ids through the round trip", () => {
		const at = (id: string, lat: number, lng: number, radius: number): FenceFeatureLike => ({
			type: "Feature",
			geometry: { type: "Point", coordinates: [lng, lat] },
			properties: { id, radius },
		});
		const features = [
			at("zeta", 48.85, 2.35, 100),
			at("\u00e9t\u00e9", 48.851, 2.351, 100),
			at("\u{1f6d2}cart", 48.852, 2.352, 100),
			at("lone\ud800", 48.853, 2.353, 100),
			at("zeta", 10, 10, 100),
			at("alpha", 48.85, 2.35, 50),
		];
		const index = createFenceIndex(features);
		const loaded = loadFenceIndex(serializeFenceIndex(index));
		expect(index.size).toBe(5);
		expect(loaded.match(48.85, 2.35)).toEqual(["alpha"]);
		expect(loaded.match(10, 10)).toEqual(["zeta"]);
		expect(loaded.match(48.851, 2.351)).toEqual(["\u00e9t\u00e9"]);
		expect(loaded.match(48.852, 2.352)).toEqual(["\u{1f6d2}cart"]);
		expect(loaded.match(48.853, 2.353)).toEqual(["lone\ud800"]);
		for (const id of ["alpha", "zeta", "\u00e9t\u00e9", "\u{1f6d2}cart", "lone\ud800", "lone", "\u00e9"]) {
			expect(loaded.distanceTo(id, 48.86, 2.36)).toBe(index.distanceTo(id, 48.86, 2.36));
		}
		// Latin-1 ids take one byte a code unit.
		const latin = serializeFenceIndex(createFenceIndex([at("\u00e9t\u00e9", 1, 1, 10)]));
		const wide = serializeFenceIndex(createFenceIndex([at("\u0101t\u0101", 1, 1, 10)]));
		expect(latin[5]).toBe(1);
		expect(wide[5]).toBe(2);
	});

	it("an index built in shared memory answers and snapshots as one built in an ArrayBuffer", () => {
		let inside = 0;
		fc.assert(
			fc.property(scene, (s) => {
				const features = featuresOf(s);
				const plain = createFenceIndex(features, { sharedMemoryFromBytes: Number.POSITIVE_INFINITY });
				const shared = createFenceIndex(features, { sharedMemoryFromBytes: 0 });
				const points = probesOf(s, features);
				const ids = features.map((f) => f.properties.id);
				expectSameIndex(plain, shared, [...ids, "unknown"], points);
				for (const [lat, lng] of points) if (shared.match(lat, lng).length > 0) inside++;
				const bytes = serializeFenceIndex(shared);
				// The snapshot is an ordinary byte array, whatever memory the index was built in.
				expect(bytes.buffer).toBeInstanceOf(ArrayBuffer);
				expect(bytes).toEqual(serializeFenceIndex(plain));
				expectSameIndex(plain, loadFenceIndex(bytes), ids, points.slice(0, 5));
			}),
			{ seed: SEED, numRuns: 20 },
		);
		expect(inside).toBeGreaterThan(0);
	});

	it("builds in a SharedArrayBuffer from the threshold on, in an ArrayBuffer below it", () => {
		expect(SHARED_MEMORY_FROM_BYTES).toBe(64 * 2 ** 20);
		const below = buildMemory(1024, 2048);
		const at = buildMemory(2048, 2048);
		expect(below).toBeInstanceOf(ArrayBuffer);
		expect(below.byteLength).toBe(1024);
		expect(at).toBeInstanceOf(SharedArrayBuffer);
		expect(at.byteLength).toBe(2048);
		expect(new Uint8Array(at).every((b) => b === 0)).toBe(true);
		expect(buildMemory(4096, Number.POSITIVE_INFINITY)).toBeInstanceOf(ArrayBuffer);
	});

	it("round-trips an empty index", () => {
		const loaded = loadFenceIndex(serializeFenceIndex(createFenceIndex([])));
		expect(loaded.size).toBe(0);
		expect(loaded.match(48.85, 2.35)).toEqual([]);
		expect(loaded.distanceTo("x", 48.85, 2.35)).toBe(Number.POSITIVE_INFINITY);
	});

	it("refuses other versions and damaged bytes with typed errors", () => {
		const bytes = serializeFenceIndex(
			createFenceIndex([
				{
					type: "Feature",
					geometry: { type: "Point", coordinates: [2.35, 48.85] },
					properties: { id: "a", radius: 50 },
				},
			]),
		);
		const codeOf = (b: Uint8Array): string | undefined => {
			try {
				loadFenceIndex(b);
			} catch (e) {
				return e instanceof FenceSnapshotError ? e.code : "other";
			}
			return undefined;
		};
		expect(bytes[4]).toBe(SNAPSHOT_VERSION);
		const next = bytes.slice();
		next[4] = SNAPSHOT_VERSION + 1;
		expect(codeOf(next)).toBe("unsupported_snapshot_version");
		const magic = bytes.slice();
		magic[0] = 0;
		expect(codeOf(magic)).toBe("invalid_snapshot");
		expect(codeOf(bytes.slice(0, bytes.length - 64))).toBe("invalid_snapshot");
		expect(codeOf(bytes.slice(0, 10))).toBe("invalid_snapshot");
		const order = bytes.slice();
		order.set([1, 2, 3, 4], 8);
		expect(codeOf(order)).toBe("invalid_snapshot");
		const header = bytes.slice();
		new Int32Array(header.buffer, 12, 8)[5] = 3; // hash capacity not a power of two
		expect(codeOf(header)).toBe("invalid_snapshot");
		expect(codeOf(bytes)).toBeUndefined();
	});

	it("serializes only indexes it made", () => {
		const foreign: FenceIndex = { size: 0, match: () => [], distanceTo: () => Number.POSITIVE_INFINITY };
		expect(() => serializeFenceIndex(foreign)).toThrow(TypeError);
	});
});
