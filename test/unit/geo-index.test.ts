import { booleanPointInPolygon } from "@turf/boolean-point-in-polygon";
import { distance } from "@turf/distance";
import fc from "fast-check";
import { cellToBoundary, latLngToCell } from "h3-js";
import { describe, expect, it } from "vitest";
import { GeoError } from "../../src/geo/errors.js";
import { readFenceShape } from "../../src/geo/fence-input.js";
import { createFenceIndex, type FenceFeatureLike, serializeFenceIndex } from "../../src/geo/index.js";
import type { Fence, FenceGeometry, Position } from "../../src/geo/types.js";

const R = 6371008.8;
const D2R = Math.PI / 180;

/** The point `meters` away from (lat, lng) along `bearing` degrees (spherical). */
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

function polygon(id: string, rings: Position[][]): FenceFeatureLike {
	return { type: "Feature", geometry: { type: "Polygon", coordinates: rings }, properties: { id } };
}

function circle(id: string, lat: number, lng: number, radius: number): FenceFeatureLike {
	return {
		type: "Feature",
		geometry: { type: "Point", coordinates: [lng, lat] },
		properties: { id, radius },
	};
}

/** Axis-aligned rectangle ring, counter-clockwise. */
function rect(minLng: number, minLat: number, maxLng: number, maxLat: number): Position[] {
	return [
		[minLng, minLat],
		[maxLng, minLat],
		[maxLng, maxLat],
		[minLng, maxLat],
		[minLng, minLat],
	];
}

/** Brute-force reference straight from turf. */
function reference(features: FenceFeatureLike[], lat: number, lng: number): string[] {
	const out: string[] = [];
	for (const f of features) {
		const g = f.geometry;
		if (g.type === "Point") {
			const c = g.coordinates as Position;
			if (distance(c, [lng, lat], { units: "meters" }) <= (f.properties.radius ?? 0))
				out.push(f.properties.id);
		} else if (
			booleanPointInPolygon([lng, lat], g as Extract<FenceGeometry, { type: "Polygon" | "MultiPolygon" }>)
		) {
			out.push(f.properties.id);
		}
	}
	return out.sort();
}

function expectSameAsReference(features: FenceFeatureLike[], points: Array<[number, number]>): void {
	const index = createFenceIndex(features);
	for (const [lat, lng] of points) {
		expect(index.match(lat, lng), `at ${lat}, ${lng}`).toEqual(reference(features, lat, lng));
	}
}

describe("createFenceIndex: polygons", () => {
	// A 100 m x 110 m store in Paris; coordinates chosen so edge midpoints are exact in binary.
	const store = polygon("store", [rect(2.35, 48.85, 2.3515, 48.851)]);

	it("counts vertices and edge points as inside, as turf does", () => {
		const index = createFenceIndex([store]);
		for (const [lat, lng] of [
			[48.85, 2.35],
			[48.851, 2.3515],
			[48.85, 2.35075],
			[48.8505, 2.35],
			[48.851, 2.3505],
			[48.8505, 2.3515],
		] as const) {
			expect(index.match(lat, lng)).toEqual(["store"]);
		}
	});

	it("separates points 1 cm inside and 1 cm outside every edge", () => {
		const cm = 1e-7; // degrees of latitude, about 1.1 cm
		const cmLng = 1e-7 / Math.cos(48.85 * D2R);
		const points: Array<[number, number]> = [];
		for (let t = 0.01; t < 1; t += 0.07) {
			const lng = 2.35 + 0.0015 * t;
			const lat = 48.85 + 0.001 * t;
			points.push([48.85 + cm, lng], [48.85 - cm, lng], [48.851 - cm, lng], [48.851 + cm, lng]);
			points.push([lat, 2.35 + cmLng], [lat, 2.35 - cmLng], [lat, 2.3515 - cmLng], [lat, 2.3515 + cmLng]);
		}
		const index = createFenceIndex([store]);
		for (const [lat, lng] of points) {
			const inside = lat > 48.85 && lat < 48.851 && lng > 2.35 && lng < 2.3515;
			expect(index.match(lat, lng), `at ${lat}, ${lng}`).toEqual(inside ? ["store"] : []);
		}
		expectSameAsReference([store], points);
	});

	it("treats a point in a hole as outside, and a hole's edge as inside", () => {
		const donut = polygon("donut", [rect(2.35, 48.85, 2.36, 48.86), rect(2.354, 48.854, 2.356, 48.856)]);
		const index = createFenceIndex([donut]);
		expect(index.match(48.855, 2.355)).toEqual([]);
		expect(index.match(48.854, 2.355)).toEqual(["donut"]);
		expect(index.match(48.8539999, 2.355)).toEqual(["donut"]);
		expect(index.match(48.8540001, 2.355)).toEqual([]);
		expect(index.match(48.852, 2.352)).toEqual(["donut"]);
	});

	it("matches any part of a MultiPolygon, holes included", () => {
		const multi: FenceFeatureLike = {
			type: "Feature",
			geometry: {
				type: "MultiPolygon",
				coordinates: [
					[rect(2.35, 48.85, 2.351, 48.851)],
					[rect(2.36, 48.85, 2.362, 48.852), rect(2.3605, 48.8505, 2.3615, 48.8515)],
				],
			},
			properties: { id: "multi" },
		};
		const index = createFenceIndex([multi]);
		expect(index.match(48.8505, 2.3505)).toEqual(["multi"]);
		expect(index.match(48.8502, 2.3602)).toEqual(["multi"]);
		expect(index.match(48.851, 2.361)).toEqual([]);
		expect(index.match(48.8505, 2.355)).toEqual([]);
	});

	it("finds a 5 m square polygon, smaller than any cell it lands on", () => {
		const d = 5 / (R * D2R);
		const tiny = polygon("tiny", [
			rect(-0.1278, 51.5074, -0.1278 + d / Math.cos(51.5074 * D2R), 51.5074 + d),
		]);
		const index = createFenceIndex([tiny]);
		expect(index.match(51.5074 + d / 2, -0.1278 + d / 4)).toEqual(["tiny"]);
		expect(index.match(51.5074 - 1e-7, -0.1278 + d / 4)).toEqual([]);
		expect(index.match(51.5074 + d + 1e-7, -0.1278 + d / 4)).toEqual([]);
	});

	it("answers a concave polygon exactly around its notch", () => {
		const u = polygon("u", [
			[
				[2.35, 48.85],
				[2.353, 48.85],
				[2.353, 48.853],
				[2.352, 48.853],
				[2.352, 48.851],
				[2.351, 48.851],
				[2.351, 48.853],
				[2.35, 48.853],
				[2.35, 48.85],
			],
		]);
		const points: Array<[number, number]> = [];
		for (let i = 0; i <= 60; i++)
			for (let j = 0; j <= 60; j++) points.push([48.8495 + i * 0.0001, 2.3495 + j * 0.0001]);
		expectSameAsReference([u], points);
		const index = createFenceIndex([u]);
		expect(index.match(48.852, 2.3515)).toEqual([]);
		expect(index.match(48.852, 2.3505)).toEqual(["u"]);
	});

	it("covers a fence straddling an H3 shard (resolution 5) border", () => {
		const cell = latLngToCell(48.85, 2.35, 5);
		const [a, b] = cellToBoundary(cell, false);
		if (a === undefined || b === undefined) throw new Error("no boundary");
		const mid: [number, number] = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
		const fence = polygon("straddle", [rect(mid[1] - 0.01, mid[0] - 0.01, mid[1] + 0.01, mid[0] + 0.01)]);
		const points: Array<[number, number]> = [];
		for (let i = 0; i <= 40; i++)
			for (let j = 0; j <= 40; j++) points.push([mid[0] - 0.012 + i * 0.0006, mid[1] - 0.012 + j * 0.0006]);
		const cells = new Set(points.map(([lat, lng]) => latLngToCell(lat, lng, 5)));
		expect(cells.size).toBeGreaterThan(1);
		expectSameAsReference([fence], points);
	});
});

describe("createFenceIndex: circles", () => {
	it("finds a 10 m circle and draws its edge at 10 m", () => {
		const index = createFenceIndex([circle("kiosk", 40.4168, -3.7038, 10)]);
		for (let bearing = 0; bearing < 360; bearing += 15) {
			const [inLat, inLng] = destination(40.4168, -3.7038, bearing, 9.99);
			const [outLat, outLng] = destination(40.4168, -3.7038, bearing, 10.01);
			expect(index.match(inLat, inLng)).toEqual(["kiosk"]);
			expect(index.match(outLat, outLng)).toEqual([]);
		}
		expect(index.match(40.4168, -3.7038)).toEqual(["kiosk"]);
	});

	it("draws the edge of a 10 km circle to the centimetre", () => {
		const index = createFenceIndex([circle("city", 35.6762, 139.6503, 10_000)]);
		for (let bearing = 0; bearing < 360; bearing += 7.5) {
			const [inLat, inLng] = destination(35.6762, 139.6503, bearing, 9_999.99);
			const [outLat, outLng] = destination(35.6762, 139.6503, bearing, 10_000.01);
			expect(index.match(inLat, inLng)).toEqual(["city"]);
			expect(index.match(outLat, outLng)).toEqual([]);
		}
		const [lat, lng] = destination(35.6762, 139.6503, 33, 5_000);
		expect(index.match(lat, lng)).toEqual(["city"]);
	});

	it("keeps the planar answer at the antimeridian: lng 180 is inside, -180 is not", () => {
		const east = polygon("east", [rect(179.9, -16.6, 180, -16.4)]);
		const index = createFenceIndex([east]);
		expect(index.match(-16.5, 180)).toEqual(["east"]);
		expect(index.match(-16.5, 179.95)).toEqual(["east"]);
		expect(index.match(-16.5, -180)).toEqual([]);
		expect(index.match(-16.5, -179.99)).toEqual([]);
		const points: Array<[number, number]> = [];
		for (let i = 0; i <= 50; i++)
			for (let j = 0; j <= 50; j++) points.push([-16.65 + i * 0.006, 179.85 + j * 0.006]);
		for (let i = 0; i <= 50; i++) points.push([-16.65 + i * 0.006, -180], [-16.65 + i * 0.006, -179.999]);
		expectSameAsReference(
			[east],
			points.map(([lat, lng]) => [lat, lng > 180 ? lng - 360 : lng]),
		);
	});

	it("answers exactly for polygons beyond 88 degrees, where cells get only coarse bounds", () => {
		const features = [
			polygon("arctic", [rect(-30, 88.5, 40, 89.5)]),
			polygon("small", [rect(10, 89.9, 10.01, 89.91)]),
		];
		const points: Array<[number, number]> = [];
		for (let i = 0; i <= 40; i++) for (let j = 0; j <= 40; j++) points.push([88.4 + i * 0.03, -40 + j * 2]);
		for (let i = 0; i <= 30; i++)
			for (let j = 0; j <= 30; j++) points.push([89.895 + i * 0.0005, 9.995 + j * 0.0007]);
		expectSameAsReference(features, points);
	});

	it("works across the antimeridian and near a pole", () => {
		const features = [circle("fiji", -16.5, 179.999, 2_000), circle("north", 89.99, 10, 3_000)];
		const points: Array<[number, number]> = [];
		for (let bearing = 0; bearing < 360; bearing += 10) {
			for (const d of [0, 1_000, 1_999.9, 2_000.1, 3_000])
				points.push(destination(-16.5, 179.999, bearing, d));
			for (const d of [0, 1_000, 2_999.9, 3_000.1, 4_000]) points.push(destination(89.99, 10, bearing, d));
		}
		expectSameAsReference(features, points);
	});
});

describe("createFenceIndex: several fences", () => {
	const features = [
		polygon("b-mall", [rect(2.35, 48.85, 2.36, 48.86)]),
		circle("a-kiosk", 48.855, 2.355, 50),
		polygon("c-shop", [rect(2.354, 48.854, 2.356, 48.856)]),
		circle("d-far", 48.9, 2.4, 100),
	];

	it("returns every containing fence, sorted by id", () => {
		const index = createFenceIndex(features);
		expect(index.size).toBe(4);
		expect(index.match(48.855, 2.355)).toEqual(["a-kiosk", "b-mall", "c-shop"]);
		expect(index.match(48.8545, 2.3545)).toEqual(["b-mall", "c-shop"]);
		expect(index.match(48.851, 2.351)).toEqual(["b-mall"]);
		expect(index.match(48.9, 2.4)).toEqual(["d-far"]);
		expect(index.match(0, 0)).toEqual([]);
	});

	it("accepts stored Fence objects as well as Features", () => {
		const fence: Fence = {
			id: "f",
			name: "F",
			tags: [],
			dwellSeconds: null,
			metadata: {},
			geometry: { type: "Point", coordinates: [2.355, 48.855] },
			radius: 20,
		};
		const index = createFenceIndex([fence]);
		expect(index.match(48.855, 2.355)).toEqual(["f"]);
	});

	it("keeps the later of two fences with the same id", () => {
		const index = createFenceIndex([circle("x", 48.855, 2.355, 50), circle("x", 10, 10, 50)]);
		expect(index.size).toBe(1);
		expect(index.match(48.855, 2.355)).toEqual([]);
		expect(index.match(10, 10)).toEqual(["x"]);
	});

	it("matches nothing for invalid coordinates", () => {
		const index = createFenceIndex(features);
		expect(index.match(Number.NaN, 2.355)).toEqual([]);
		expect(index.match(48.855, 200)).toEqual([]);
		expect(index.match(91, 0)).toEqual([]);
	});

	it("rejects input that is not a fence with code invalid_fence", () => {
		const bad: unknown[] = [
			{ type: "Feature", geometry: { type: "Point", coordinates: [0, 0] }, properties: { id: "no-radius" } },
			{
				type: "Feature",
				geometry: {
					type: "Polygon",
					coordinates: [
						[
							[0, 0],
							[1, 0],
							[1, 1],
							[0, 1],
						],
					],
				},
				properties: { id: "open" },
			},
			{ id: "x" },
			null,
		];
		for (const value of bad) {
			// biome-ignore lint/suspicious/noExplicitAny: deliberately feeding garbage past the types
			const attempt = () => createFenceIndex([value as any]);
			expect(attempt).toThrow(GeoError);
			try {
				attempt();
			} catch (error) {
				expect(error instanceof GeoError && error.code).toBe("invalid_fence");
			}
		}
	});
});

describe("FenceIndex.distanceTo", () => {
	/** Geodesic distance from a point to the polygon's edges, by dense sampling with turf. */
	function referenceDistance(ring: Position[], lat: number, lng: number): number {
		let best = Number.POSITIVE_INFINITY;
		for (let i = 0; i + 1 < ring.length; i++) {
			const a = ring[i] as Position;
			const b = ring[i + 1] as Position;
			for (let k = 0; k <= 2000; k++) {
				const t = k / 2000;
				const d = distance([lng, lat], [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t], {
					units: "meters",
				});
				if (d < best) best = d;
			}
		}
		return best;
	}

	it("is 0 inside, the haversine minus the radius outside a circle, Infinity for an unknown id", () => {
		const index = createFenceIndex([circle("c", 48.855, 2.355, 100)]);
		expect(index.distanceTo("c", 48.855, 2.355)).toBe(0);
		const [lat, lng] = destination(48.855, 2.355, 70, 350);
		expect(index.distanceTo("c", lat, lng)).toBeCloseTo(250, 3);
		expect(index.distanceTo("nope", lat, lng)).toBe(Number.POSITIVE_INFINITY);
	});

	it("is within 1% of the geodesic distance to a polygon's edges", () => {
		const ring: Position[] = [
			[2.35, 48.85],
			[2.36, 48.851],
			[2.358, 48.86],
			[2.351, 48.858],
			[2.35, 48.85],
		];
		const index = createFenceIndex([polygon("p", [ring])]);
		expect(index.distanceTo("p", 48.855, 2.355)).toBe(0);
		for (const [bearing, meters] of [
			[0, 30],
			[90, 200],
			[180, 1_000],
			[225, 5_000],
			[300, 20_000],
		] as const) {
			const [lat, lng] = destination(48.855, 2.355, bearing, 700 + meters);
			const expected = referenceDistance(ring, lat, lng);
			const got = index.distanceTo("p", lat, lng);
			expect(Math.abs(got - expected) / expected, `bearing ${bearing}`).toBeLessThan(0.01);
		}
	});

	it("measures across the antimeridian", () => {
		const index = createFenceIndex([polygon("east", [rect(179.99, -16.51, 180, -16.49)])]);
		const got = index.distanceTo("east", -16.5, -179.99);
		const expected = distance([180, -16.5], [-179.99, -16.5], { units: "meters" });
		expect(Math.abs(got - expected) / expected).toBeLessThan(0.01);
	});
});

describe("createFenceIndex: reading its input", () => {
	const square: Position[] = [
		[2.35, 48.85],
		[2.352, 48.85],
		[2.352, 48.852],
		[2.35, 48.852],
		[2.35, 48.85],
	];
	const hole: Position[] = [
		[2.3505, 48.8505],
		[2.3505, 48.8515],
		[2.3515, 48.8515],
		[2.3515, 48.8505],
		[2.3505, 48.8505],
	];
	const valid: unknown[] = [
		{
			type: "Feature",
			geometry: { type: "Point", coordinates: [2.351, 48.851] },
			properties: { id: "c", radius: 80 },
		},
		{ type: "Feature", geometry: { type: "Polygon", coordinates: [square, hole] }, properties: { id: "p" } },
		{
			type: "Feature",
			geometry: { type: "MultiPolygon", coordinates: [[square], [hole]] },
			properties: { id: "m", name: "x" },
		},
		{ id: "s", geometry: { type: "Point", coordinates: [2.351, 48.851, 35] }, radius: 40, name: "S" },
		{ id: "t", geometry: { type: "Polygon", coordinates: [square] }, radius: null },
	];
	const junk = fc.constantFrom<unknown>(
		undefined,
		null,
		0,
		-1,
		Number.NaN,
		Number.POSITIVE_INFINITY,
		"",
		"x",
		"Point",
		"Feature",
		[],
		[1],
		[1, "2"],
		[Number.NaN, 1],
		[[1, 2]],
		{},
		true,
	);
	/** A copy of `value` with the thing at `path` (clamped to what exists) replaced or removed. */
	function mutate(value: unknown, steps: number[], replacement: unknown, remove: boolean): unknown {
		const copy: unknown = structuredClone(value);
		let parent: unknown = null;
		let key: string | number | null = null;
		let at: unknown = copy;
		for (const step of steps) {
			if (typeof at !== "object" || at === null) break;
			const keys = Object.keys(at);
			if (keys.length === 0) break;
			parent = at;
			key = Array.isArray(at) ? step % at.length : (keys[step % keys.length] as string);
			at = (at as Record<string | number, unknown>)[key];
		}
		if (parent === null || key === null) return remove ? undefined : replacement;
		if (remove && !Array.isArray(parent)) delete (parent as Record<string, unknown>)[key as string];
		else if (remove) (parent as unknown[]).splice(key as number, 1);
		else (parent as Record<string | number, unknown>)[key] = replacement;
		return copy;
	}
	const probes: Array<[number, number]> = [
		[48.851, 2.351],
		[48.8508, 2.3508],
		[48.85, 2.35],
		[48.8519, 2.3519],
		[48.8525, 2.3525],
	];

	it("accepts exactly what the zod reader accepts, reads the same fence, and refuses with invalid_fence", () => {
		let accepted = 0;
		let refused = 0;
		fc.assert(
			fc.property(
				fc.nat({ max: valid.length - 1 }),
				fc.array(fc.nat(), { minLength: 1, maxLength: 7 }),
				junk,
				fc.boolean(),
				(which, steps, replacement, remove) => {
					const value = mutate(valid[which], steps, replacement, remove);
					let shape: ReturnType<typeof readFenceShape> | null = null;
					try {
						shape = readFenceShape(value, 0);
					} catch (e) {
						expect(e instanceof GeoError && e.code).toBe("invalid_fence");
					}
					let ours: ReturnType<typeof createFenceIndex> | null = null;
					try {
						// biome-ignore lint/suspicious/noExplicitAny: deliberately feeding anything past the types
						ours = createFenceIndex([value as any]);
					} catch (e) {
						expect(e instanceof GeoError && e.code).toBe("invalid_fence");
					}
					expect(ours === null, JSON.stringify(value)).toBe(shape === null);
					if (ours === null || shape === null) {
						refused++;
						return;
					}
					accepted++;
					const fence: Fence = { ...shape, name: shape.id, tags: [], dwellSeconds: null, metadata: {} };
					const theirs = createFenceIndex([fence]);
					for (const [lat, lng] of probes) expect(ours.match(lat, lng)).toEqual(theirs.match(lat, lng));
					expect(serializeFenceIndex(ours)).toEqual(serializeFenceIndex(theirs));
				},
			),
			{ seed: 0x5eed_0a11, numRuns: 1000 },
		);
		expect(accepted).toBeGreaterThan(100);
		expect(refused).toBeGreaterThan(300);
	});
});

describe("createFenceIndex: many fences", () => {
	/** Circles on a lattice, `step` degrees apart, `count` of them. */
	function lattice(count: number, step: number, radius: number): FenceFeatureLike[] {
		const side = Math.ceil(Math.sqrt(count));
		return Array.from({ length: count }, (_, i) =>
			circle(
				`l${String(i).padStart(5, "0")}`,
				10 + step * Math.floor(i / side),
				20 + step * (i % side),
				radius,
			),
		);
	}

	// The base squares go to the directory, start there and move to the hash table when its
	// blocks outgrow their budget, or go to the hash table from the start.
	for (const [name, step, directory] of [
		["packed close together", 0.0005, true],
		["spread out, one directory block each", 0.002, false],
		["spread across a continent", 0.5, false],
	] as const) {
		it(`answers exactly for small circles ${name}`, () => {
			const features = lattice(2_500, step, 30);
			const index = createFenceIndex(features);
			const header = new Int32Array(serializeFenceIndex(index).buffer, 12, 13);
			expect(header[10] !== 0, "directory width in the snapshot header").toBe(directory);
			const points: Array<[number, number]> = [];
			for (let i = 0; i < features.length; i += 13) {
				const [lng, lat] = (features[i] as FenceFeatureLike).geometry.coordinates as Position;
				for (const d of [0, 29.99, 30.01, 45]) points.push(destination(lat, lng, (i * 37) % 360, d));
			}
			for (const [lat, lng] of points) {
				const near = features.filter((f) => {
					const [fLng, fLat] = f.geometry.coordinates as Position;
					return Math.abs(fLat - lat) < 0.01 && Math.abs(fLng - lng) < 0.01;
				});
				expect(index.match(lat, lng), `at ${lat}, ${lng}`).toEqual(reference(near, lat, lng));
			}
		});
	}
});
