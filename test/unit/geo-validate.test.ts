import { kinks } from "@turf/kinks";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parseStoredFence } from "../../src/geo/fence-input.js";
import type { Position } from "../../src/geo/types.js";
import {
	type FeatureError,
	fenceContentHash,
	fenceToFeature,
	validateFeatureCollection,
} from "../../src/geo/validate.js";
import {
	GEOFENCE_ERROR_CODES,
	GeofenceFeatureCollectionSchema,
	GeofenceFeatureErrorSchema,
	StoredGeofenceFeatureSchema,
} from "../../src/schemas/geofence.js";

function rect(minLng: number, minLat: number, maxLng: number, maxLat: number): Position[] {
	return [
		[minLng, minLat],
		[maxLng, minLat],
		[maxLng, maxLat],
		[minLng, maxLat],
		[minLng, minLat],
	];
}

const SQUARE = rect(2.35, 48.85, 2.36, 48.86);

function polygonFeature(id: string, rings: unknown = [SQUARE], properties: Record<string, unknown> = {}) {
	return {
		type: "Feature",
		geometry: { type: "Polygon", coordinates: rings },
		properties: { id, ...properties },
	};
}

function pointFeature(
	id: string,
	coordinates: unknown = [2.3522, 48.8566],
	properties: Record<string, unknown> = {},
) {
	return {
		type: "Feature",
		geometry: { type: "Point", coordinates },
		properties: { id, radius: 150, ...properties },
	};
}

function collection(...features: unknown[]) {
	return { type: "FeatureCollection", features };
}

function errorsOf(input: unknown): FeatureError[] {
	const result = validateFeatureCollection(input);
	if (result.ok) throw new Error("expected the upload to be refused");
	for (const e of result.errors) {
		expect(GEOFENCE_ERROR_CODES).toContain(e.code);
		expect(GeofenceFeatureErrorSchema.safeParse(e).success).toBe(true);
	}
	return result.errors;
}

/** The one error of a single-feature upload, as {index, id, path, code}. */
function onlyError(feature: unknown) {
	const errors = errorsOf(collection(feature));
	expect(errors).toHaveLength(1);
	const [e] = errors;
	return { index: e?.index, id: e?.id, path: e?.path, code: e?.code };
}

describe("validateFeatureCollection: valid uploads", () => {
	it("normalizes a polygon: defaults, altitude dropped, repeated positions removed", () => {
		const ring = [
			[2.35, 48.85, 35],
			[2.36, 48.85, 35],
			[2.36, 48.85],
			[2.36, 48.86],
			[2.35, 48.86],
			[2.35, 48.85, 12],
		];
		const result = validateFeatureCollection(collection(polygonFeature("store-1", [ring])));
		expect(result).toEqual({
			ok: true,
			fences: [
				{
					id: "store-1",
					name: "store-1",
					tags: [],
					dwellSeconds: null,
					metadata: {},
					radius: null,
					geometry: {
						type: "Polygon",
						coordinates: [
							rect(2.35, 48.85, 2.36, 48.86)
								.slice(0, 4)
								.concat([[2.35, 48.85]]),
						],
					},
				},
			],
		});
	});

	it("accepts a MultiPolygon with holes", () => {
		const multi = {
			type: "Feature",
			geometry: {
				type: "MultiPolygon",
				coordinates: [
					[
						rect(2.35, 48.85, 2.36, 48.86),
						rect(2.352, 48.852, 2.354, 48.854),
						rect(2.355, 48.855, 2.358, 48.858),
					],
					[rect(2.4, 48.85, 2.41, 48.86)],
				],
			},
			properties: { id: "mall", name: "Mall", tags: ["fashion"], dwellSeconds: 600, metadata: { floor: 2 } },
		};
		const result = validateFeatureCollection(collection(multi));
		expect(result.ok).toBe(true);
		if (!result.ok) return;
		expect(result.fences[0]).toMatchObject({
			id: "mall",
			name: "Mall",
			tags: ["fashion"],
			dwellSeconds: 600,
			metadata: { floor: 2 },
		});
		expect(result.fences[0]?.geometry.type).toBe("MultiPolygon");
	});

	it("accepts a Point with a radius, the API example included", () => {
		const example = {
			type: "Feature",
			geometry: { type: "Point", coordinates: [2.3522, 48.8566] },
			properties: {
				id: "store-042",
				name: "Paris Rivoli",
				tags: ["grocery"],
				radius: 150,
				dwellSeconds: 300,
				metadata: {},
			},
		};
		const result = validateFeatureCollection(collection(example));
		expect(result).toEqual({
			ok: true,
			fences: [
				{
					id: "store-042",
					name: "Paris Rivoli",
					tags: ["grocery"],
					dwellSeconds: 300,
					metadata: {},
					radius: 150,
					geometry: { type: "Point", coordinates: [2.3522, 48.8566] },
				},
			],
		});
		expect(GeofenceFeatureCollectionSchema.safeParse(collection(example)).success).toBe(true);
	});

	it("accepts a hole touching its shell at one vertex and exactly 2,000 vertices", () => {
		const touching = [
			SQUARE,
			[
				[2.35, 48.85],
				[2.352, 48.851],
				[2.351, 48.852],
				[2.35, 48.85],
			],
		];
		expect(validateFeatureCollection(collection(polygonFeature("t", touching))).ok).toBe(true);
		const n = 2000;
		const circle: number[][] = Array.from({ length: n }, (_, i) => [
			2.35 + 0.01 * Math.cos((2 * Math.PI * i) / n),
			48.85 + 0.01 * Math.sin((2 * Math.PI * i) / n),
		]);
		circle.push([...(circle[0] ?? [])]);
		expect(validateFeatureCollection(collection(polygonFeature("big", [circle]))).ok).toBe(true);
	});

	it("round-trips through fenceToFeature with the same content hash", () => {
		const result = validateFeatureCollection(
			collection(
				pointFeature("p", [2.3522, 48.8566], { tags: ["a", "b"], metadata: { z: 1, a: [1, 2] } }),
				polygonFeature("q", [SQUARE], { dwellSeconds: 60 }),
			),
		);
		if (!result.ok) throw new Error("valid upload refused");
		const features = result.fences.map(fenceToFeature);
		for (const f of features) expect(StoredGeofenceFeatureSchema.safeParse(f).success).toBe(true);
		expect(features[1]?.properties).not.toHaveProperty("radius");
		const again = validateFeatureCollection(collection(...features));
		if (!again.ok) throw new Error("round trip refused");
		expect(again.fences).toEqual(result.fences);
		expect(again.fences.map(fenceContentHash)).toEqual(result.fences.map(fenceContentHash));
		// Stored fences read back without a cast.
		expect(result.fences.map((f) => parseStoredFence(JSON.parse(JSON.stringify(f))))).toEqual(result.fences);
	});

	it("hashes content, not key order, and changes with any field", () => {
		const parse = (feature: unknown) => {
			const r = validateFeatureCollection(collection(feature));
			if (!r.ok) throw new Error("refused");
			const [fence] = r.fences;
			if (fence === undefined) throw new Error("no fence");
			return fence;
		};
		const base = parse(pointFeature("p", [2.3522, 48.8566], { metadata: { a: 1, b: { c: 2, d: 3 } } }));
		const reordered = parse(pointFeature("p", [2.3522, 48.8566], { metadata: { b: { d: 3, c: 2 }, a: 1 } }));
		const hash = fenceContentHash(base);
		expect(hash).toMatch(/^[0-9a-f]{16}$/);
		expect(fenceContentHash(reordered)).toBe(hash);
		expect(fenceContentHash({ ...base, radius: 151 })).not.toBe(hash);
		expect(fenceContentHash({ ...base, name: "other" })).not.toBe(hash);
		expect(fenceContentHash({ ...base, tags: ["x"] })).not.toBe(hash);
		expect(fenceContentHash({ ...base, dwellSeconds: 5 })).not.toBe(hash);
		expect(
			fenceContentHash({ ...base, geometry: { type: "Point", coordinates: [2.3522, 48.8567] } }),
		).not.toBe(hash);
	});
});

describe("validateFeatureCollection: collection-level errors", () => {
	it.each([[null], ["x"], [42], [[]], [true], [undefined]])("refuses %j as a body", (input) => {
		expect(errorsOf(input)).toEqual([
			expect.objectContaining({ index: null, id: null, path: [], code: "invalid_shape" }),
		]);
	});

	it("refuses a wrong type, a missing features array, an empty one and too many features", () => {
		expect(errorsOf({ type: "Feature", features: [pointFeature("a")] })).toEqual([
			expect.objectContaining({ index: null, path: ["type"], code: "invalid_shape" }),
		]);
		expect(errorsOf({ type: "FeatureCollection" })).toEqual([
			expect.objectContaining({ index: null, path: ["features"], code: "invalid_shape" }),
		]);
		expect(errorsOf(collection())).toEqual([
			expect.objectContaining({ index: null, path: ["features"], code: "empty_collection" }),
		]);
		const many = Array.from({ length: 10_001 }, (_, i) => pointFeature(`p${i}`));
		expect(errorsOf(collection(...many))).toEqual([
			expect.objectContaining({ index: null, path: ["features"], code: "too_many_features" }),
		]);
	});
});

describe("validateFeatureCollection: one code per rule, with its path", () => {
	const P = ["features", 0, "properties"];
	const C = ["features", 0, "geometry", "coordinates"];

	it("invalid_shape for a non-object feature or a feature of the wrong type", () => {
		expect(onlyError("nope")).toEqual({ index: 0, id: null, path: ["features", 0], code: "invalid_shape" });
		expect(onlyError({ ...pointFeature("a"), type: "Point" })).toEqual({
			index: 0,
			id: "a",
			path: ["features", 0, "type"],
			code: "invalid_shape",
		});
		expect(onlyError({ type: "Feature", geometry: { type: "Point", coordinates: [0, 0] } })).toMatchObject({
			path: ["features", 0, "properties"],
			code: "invalid_shape",
		});
	});

	it("invalid_id for a bad, missing or too long id", () => {
		expect(onlyError(pointFeature("store 42!"))).toEqual({
			index: 0,
			id: null,
			path: [...P, "id"],
			code: "invalid_id",
		});
		expect(onlyError(pointFeature("x".repeat(129)))).toMatchObject({
			path: [...P, "id"],
			code: "invalid_id",
		});
		expect(onlyError(pointFeature(""))).toMatchObject({ path: [...P, "id"], code: "invalid_id" });
		const noId = {
			type: "Feature",
			geometry: { type: "Point", coordinates: [0, 0] },
			properties: { radius: 50 },
		};
		expect(onlyError(noId)).toMatchObject({ path: [...P, "id"], code: "invalid_id" });
	});

	it("unknown_property for a typo such as dwelSeconds", () => {
		expect(onlyError(pointFeature("a", undefined, { dwelSeconds: 300 }))).toEqual({
			index: 0,
			id: "a",
			path: [...P, "dwelSeconds"],
			code: "unknown_property",
		});
	});

	it("invalid_property for out-of-contract names, tags and dwell times", () => {
		expect(onlyError(pointFeature("a", undefined, { name: "" }))).toMatchObject({
			path: [...P, "name"],
			code: "invalid_property",
		});
		const tags = Array.from({ length: 33 }, (_, i) => `t${i}`);
		expect(onlyError(pointFeature("a", undefined, { tags }))).toMatchObject({
			path: [...P, "tags"],
			code: "invalid_property",
		});
		expect(onlyError(pointFeature("a", undefined, { tags: ["ok", ""] }))).toMatchObject({
			path: [...P, "tags", 1],
			code: "invalid_property",
		});
		expect(onlyError(pointFeature("a", undefined, { dwellSeconds: 1.5 }))).toMatchObject({
			path: [...P, "dwellSeconds"],
			code: "invalid_property",
		});
		expect(onlyError(pointFeature("a", undefined, { dwellSeconds: 86_401 }))).toMatchObject({
			code: "invalid_property",
		});
		expect(onlyError(pointFeature("a", undefined, { metadata: [1] }))).toMatchObject({
			path: [...P, "metadata"],
			code: "invalid_property",
		});
	});

	it("metadata_too_large past 4 KB of JSON", () => {
		expect(onlyError(pointFeature("a", undefined, { metadata: { blob: "x".repeat(4_100) } }))).toMatchObject({
			path: [...P, "metadata"],
			code: "metadata_too_large",
		});
		expect(
			validateFeatureCollection(
				collection(pointFeature("a", undefined, { metadata: { blob: "x".repeat(4_000) } })),
			).ok,
		).toBe(true);
	});

	it("unsupported_geometry for other GeoJSON types", () => {
		const line = {
			type: "Feature",
			geometry: {
				type: "LineString",
				coordinates: [
					[0, 0],
					[1, 1],
				],
			},
			properties: { id: "l" },
		};
		expect(onlyError(line)).toEqual({
			index: 0,
			id: "l",
			path: ["features", 0, "geometry", "type"],
			code: "unsupported_geometry",
		});
	});

	it("invalid_coordinate for non-numbers and non-finite numbers", () => {
		const ring = [
			[2.35, 48.85],
			[2.36, Number.NaN],
			[2.36, 48.86],
			[2.35, 48.85],
		];
		expect(onlyError(polygonFeature("a", [ring]))).toEqual({
			index: 0,
			id: "a",
			path: [...C, 0, 1, 1],
			code: "invalid_coordinate",
		});
		expect(onlyError(pointFeature("a", ["2.3", 48.8]))).toMatchObject({
			path: [...C, 0],
			code: "invalid_coordinate",
		});
		expect(onlyError(pointFeature("a", [Number.POSITIVE_INFINITY, 48.8]))).toMatchObject({
			code: "invalid_coordinate",
		});
	});

	it("coordinate_out_of_range for a longitude or latitude off the globe ([lat, lng] swapped)", () => {
		const ring = [
			[48.85, 2.35],
			[48.86, 2.35],
			[48.86, 200.36],
			[48.85, 2.35],
		];
		expect(onlyError(polygonFeature("a", [ring]))).toEqual({
			index: 0,
			id: "a",
			path: [...C, 0, 2, 1],
			code: "coordinate_out_of_range",
		});
		expect(onlyError(pointFeature("a", [-181, 0]))).toMatchObject({
			path: [...C, 0],
			code: "coordinate_out_of_range",
		});
		expect(onlyError(pointFeature("a", [0, 90.5]))).toMatchObject({
			path: [...C, 1],
			code: "coordinate_out_of_range",
		});
	});

	it("invalid_shape for a position of the wrong length", () => {
		expect(onlyError(pointFeature("a", [1]))).toMatchObject({ path: C, code: "invalid_shape" });
		expect(onlyError(pointFeature("a", [1, 2, 3, 4]))).toMatchObject({ path: C, code: "invalid_shape" });
	});

	it("ring_not_closed", () => {
		const ring = [
			[2.35, 48.85],
			[2.36, 48.85],
			[2.36, 48.86],
			[2.35, 48.86],
		];
		expect(onlyError(polygonFeature("a", [ring]))).toEqual({
			index: 0,
			id: "a",
			path: [...C, 0],
			code: "ring_not_closed",
		});
	});

	it("too_few_positions", () => {
		const ring = [
			[2.35, 48.85],
			[2.36, 48.85],
			[2.35, 48.85],
		];
		expect(onlyError(polygonFeature("a", [SQUARE, ring]))).toEqual({
			index: 0,
			id: "a",
			path: [...C, 1],
			code: "too_few_positions",
		});
	});

	it("degenerate_ring for a ring without area", () => {
		const flat = [
			[2.35, 48.85],
			[2.36, 48.85],
			[2.37, 48.85],
			[2.35, 48.85],
		];
		expect(onlyError(polygonFeature("a", [flat]))).toMatchObject({
			path: [...C, 0],
			code: "degenerate_ring",
		});
		const repeated = [
			[2.35, 48.85],
			[2.36, 48.85],
			[2.36, 48.85],
			[2.35, 48.85],
		];
		expect(onlyError(polygonFeature("a", [repeated]))).toMatchObject({
			path: [...C, 0],
			code: "degenerate_ring",
		});
	});

	it("too_many_vertices past 2,000 over all rings and parts", () => {
		const n = 1_001;
		const ring = (dx: number) => {
			const r: number[][] = Array.from({ length: n }, (_, i) => [
				dx + 0.01 * Math.cos((2 * Math.PI * i) / n),
				48.85 + 0.01 * Math.sin((2 * Math.PI * i) / n),
			]);
			r.push([...(r[0] ?? [])]);
			return r;
		};
		const multi = {
			type: "Feature",
			geometry: { type: "MultiPolygon", coordinates: [[ring(2.3)], [ring(2.4)]] },
			properties: { id: "m" },
		};
		expect(onlyError(multi)).toEqual({ index: 0, id: "m", path: C, code: "too_many_vertices" });
	});

	it("self_intersection for a bow-tie", () => {
		const bowtie = [
			[2.35, 48.85],
			[2.36, 48.86],
			[2.36, 48.85],
			[2.35, 48.86],
			[2.35, 48.85],
		];
		expect(onlyError(polygonFeature("a", [bowtie]))).toEqual({
			index: 0,
			id: "a",
			path: [...C, 0],
			code: "self_intersection",
		});
	});

	it("self_intersection exactly when @turf/kinks finds one, on random rings", () => {
		let seed = 42;
		const rng = () => {
			seed = (seed * 1103515245 + 12345) % 2147483648;
			return seed / 2147483648;
		};
		let intersecting = 0;
		for (let r = 0; r < 300; r++) {
			const n = 3 + Math.floor(rng() * 60);
			const tangled = r % 3 === 0;
			const ring: Position[] = Array.from({ length: n }, (_, i) => {
				const angle = tangled ? rng() * 2 * Math.PI : (2 * Math.PI * i) / n;
				const radius = 0.001 + 0.01 * rng();
				return [2.35 + radius * Math.cos(angle), 48.85 + radius * Math.sin(angle)];
			});
			ring.push([...(ring[0] ?? [0, 0])]);
			const expected = kinks({ type: "LineString", coordinates: ring }).features.length > 0;
			if (expected) intersecting++;
			const result = validateFeatureCollection(collection(polygonFeature("r", [ring])));
			const codes = result.ok ? [] : result.errors.map((e) => e.code);
			expect(codes.includes("self_intersection"), `ring ${r}`).toBe(expected);
		}
		expect(intersecting).toBeGreaterThan(50);
	});

	it("hole_outside_shell for a hole outside or across its shell", () => {
		expect(onlyError(polygonFeature("a", [SQUARE, rect(2.37, 48.85, 2.38, 48.86)]))).toEqual({
			index: 0,
			id: "a",
			path: [...C, 1],
			code: "hole_outside_shell",
		});
		expect(onlyError(polygonFeature("a", [SQUARE, rect(2.355, 48.855, 2.365, 48.858)]))).toMatchObject({
			path: [...C, 1],
			code: "hole_outside_shell",
		});
	});

	it("self_intersection at the vertex a ring passes twice, at its position as uploaded", () => {
		// Two squares joined at a corner, drawn as one ring; position 1 is repeated, which the
		// validator drops but must still count when it names the position.
		const eight = [
			[2.35, 48.85],
			[2.354, 48.85],
			[2.354, 48.85],
			[2.354, 48.854],
			[2.358, 48.854],
			[2.358, 48.858],
			[2.354, 48.858],
			[2.354, 48.854],
			[2.35, 48.854],
			[2.35, 48.85],
		];
		const error = onlyError(polygonFeature("a", [eight]));
		expect(error).toMatchObject({ index: 0, id: "a", code: "self_intersection" });
		expect(error.path?.slice(0, 5)).toEqual([...C, 0]);
		expect([3, 7]).toContain(error.path?.[5]);
		const at = eight[Number(error.path?.[5])];
		expect(at).toEqual([2.354, 48.854]);
	});

	it("self_intersection for a spike, at its base or tip", () => {
		const spike = [
			[2.35, 48.85],
			[2.36, 48.85],
			[2.36, 48.86],
			[2.355, 48.86],
			[2.355, 48.87],
			[2.355, 48.86],
			[2.35, 48.86],
			[2.35, 48.85],
		];
		// The ring runs out to the tip (position 4) and back through its base twice (3 and 5).
		const error = onlyError(polygonFeature("a", [spike]));
		expect(error).toMatchObject({ index: 0, id: "a", code: "self_intersection" });
		expect(error.path?.slice(0, 5)).toEqual([...C, 0]);
		expect([3, 4, 5]).toContain(error.path?.[5]);
	});

	it("the OGC topology codes name the offending ring (one test per finding in test/security)", () => {
		const inner = rect(2.352, 48.852, 2.354, 48.854);
		expect(onlyError(polygonFeature("a", [SQUARE, rect(2.351, 48.851, 2.358, 48.858), inner]))).toEqual({
			index: 0,
			id: "a",
			path: [...C, 2],
			code: "nested_holes",
		});
		expect(onlyError(polygonFeature("a", [SQUARE, inner, rect(2.353, 48.853, 2.356, 48.856)]))).toEqual({
			index: 0,
			id: "a",
			path: [...C, 2],
			code: "holes_overlap",
		});
		expect(onlyError(polygonFeature("a", [SQUARE, SQUARE]))).toEqual({
			index: 0,
			id: "a",
			path: [...C, 1],
			code: "duplicate_ring",
		});
	});

	it("antimeridian for a ring spanning more than 180° of longitude", () => {
		const ring = [
			[170, -16],
			[-170, -16],
			[-170, -17],
			[170, -17],
			[170, -16],
		];
		expect(onlyError(polygonFeature("fiji", [ring]))).toEqual({
			index: 0,
			id: "fiji",
			path: [...C, 0],
			code: "antimeridian",
		});
	});

	it("radius_required, radius_not_allowed and radius_out_of_range", () => {
		const noRadius = {
			type: "Feature",
			geometry: { type: "Point", coordinates: [0, 0] },
			properties: { id: "p" },
		};
		expect(onlyError(noRadius)).toEqual({
			index: 0,
			id: "p",
			path: [...P, "radius"],
			code: "radius_required",
		});
		expect(onlyError(polygonFeature("q", [SQUARE], { radius: 50 }))).toEqual({
			index: 0,
			id: "q",
			path: [...P, "radius"],
			code: "radius_not_allowed",
		});
		expect(onlyError(polygonFeature("q", [SQUARE], { radius: 5 }))).toMatchObject({
			code: "radius_not_allowed",
		});
		expect(onlyError(pointFeature("p", undefined, { radius: 9.9 }))).toEqual({
			index: 0,
			id: "p",
			path: [...P, "radius"],
			code: "radius_out_of_range",
		});
		expect(onlyError(pointFeature("p", undefined, { radius: 10_001 }))).toMatchObject({
			code: "radius_out_of_range",
		});
	});

	it("duplicate_id on the later features only", () => {
		const errors = errorsOf(
			collection(pointFeature("a"), pointFeature("b"), pointFeature("a"), pointFeature("a")),
		);
		expect(errors.map(({ index, id, path, code }) => ({ index, id, path, code }))).toEqual([
			{ index: 2, id: "a", path: ["features", 2, "properties", "id"], code: "duplicate_id" },
			{ index: 3, id: "a", path: ["features", 3, "properties", "id"], code: "duplicate_id" },
		]);
	});
});

describe("validateFeatureCollection: many problems at once", () => {
	it("lists every bad feature, not just the first", () => {
		const errors = errorsOf(
			collection(
				pointFeature("ok-1"),
				pointFeature("bad id"),
				polygonFeature("ok-2"),
				polygonFeature("open", [
					[
						[0, 0],
						[1, 0],
						[1, 1],
						[0, 1],
					],
				]),
				pointFeature("far", [0, 100]),
				polygonFeature("r", [SQUARE], { radius: 10, colour: "red" }),
			),
		);
		expect(errors.map((e) => [e.index, e.code])).toEqual([
			[1, "invalid_id"],
			[3, "ring_not_closed"],
			[4, "coordinate_out_of_range"],
			[5, "unknown_property"],
			[5, "radius_not_allowed"],
		]);
	});

	it("reports a bad feature among 10,000 good ones", () => {
		const features: unknown[] = Array.from({ length: 10_000 }, (_, i) => pointFeature(`p${i}`));
		features[9_999] = pointFeature("p9999", [0, -91]);
		expect(errorsOf(collection(...features)).map((e) => e.index)).toEqual([9_999]);
	});

	it("caps repeated errors per feature but still reports every feature", () => {
		const garbageRing = Array.from({ length: 500 }, () => ["x", "y"]);
		const features = Array.from({ length: 300 }, (_, i) => polygonFeature(`g${i}`, [garbageRing]));
		const errors = errorsOf(collection(...features));
		expect(new Set(errors.map((e) => e.index)).size).toBe(300);
		for (let i = 0; i < 300; i++) expect(errors.filter((e) => e.index === i).length).toBeLessThanOrEqual(10);
		expect(errors.length).toBeLessThan(1_400);
	});
});

describe("validateFeatureCollection: garbage never throws", () => {
	const deepArray = (depth: number): unknown => {
		let v: unknown = [0, 0];
		for (let i = 0; i < depth; i++) v = [v];
		return v;
	};
	const deepObject = (depth: number): unknown => {
		let v: unknown = {};
		for (let i = 0; i < depth; i++) v = { v };
		return v;
	};
	const cyclic: Record<string, unknown> = {};
	cyclic.self = cyclic;
	const throwing = new Proxy(
		{},
		{
			get() {
				throw new Error("boom");
			},
			ownKeys() {
				throw new Error("boom");
			},
		},
	);
	const big = Array.from({ length: 100_000 }, (_, i) => i);

	const cases: Array<[string, unknown]> = [
		["NaN", Number.NaN],
		["a feature array of NaN", collection(Number.NaN, Number.NaN)],
		["NaN coordinates", collection(pointFeature("a", [Number.NaN, Number.NaN]))],
		["a 100k-element ring", collection(polygonFeature("a", [big.map((i) => [i, i])]))],
		[
			"100k rings",
			collection(
				polygonFeature(
					"a",
					big.map(() => []),
				),
			),
		],
		["100k numbers as coordinates", collection(polygonFeature("a", big))],
		["100k garbage features", collection(...big)],
		["a 100k-deep coordinate array", collection(polygonFeature("a", deepArray(100_000)))],
		["100k-deep metadata", collection(pointFeature("a", undefined, { metadata: deepObject(100_000) }))],
		["cyclic metadata", collection(pointFeature("a", undefined, { metadata: cyclic }))],
		["a throwing proxy", throwing],
		["a throwing proxy as a feature", collection(throwing)],
		[
			"a throwing proxy as properties",
			collection({ type: "Feature", geometry: { type: "Point", coordinates: [0, 0] }, properties: throwing }),
		],
		[
			"unknown fields everywhere",
			{
				type: "FeatureCollection",
				x: 1,
				features: [{ ...pointFeature("a"), y: 2, properties: { id: "a", radius: 50, z: 3 } }],
			},
		],
		[
			"geometry as a string",
			collection({ type: "Feature", geometry: "POINT(0 0)", properties: { id: "a" } }),
		],
		["a null geometry", collection({ type: "Feature", geometry: null, properties: { id: "a" } })],
		["a BigInt", collection(pointFeature("a", [1n, 2n]))],
	];

	it.each(cases)("%s", (_, input) => {
		const result = validateFeatureCollection(input);
		expect(result.ok).toBe(false);
		if (!result.ok) expect(result.errors.length).toBeGreaterThan(0);
	});

	it("rejects unknown property keys but ignores foreign members of the Feature", () => {
		const result = validateFeatureCollection({
			type: "FeatureCollection",
			features: [{ ...pointFeature("a"), foreign: 2, properties: { id: "a", radius: 50, z: 3 } }],
		});
		expect(result.ok ? [] : result.errors.map((e) => [e.path, e.code])).toEqual([
			[["features", 0, "properties", "z"], "unknown_property"],
		]);
	});
});

describe("geofence schemas", () => {
	it("convert to JSON Schema for the OpenAPI document", () => {
		expect(() => z.toJSONSchema(GeofenceFeatureCollectionSchema)).not.toThrow();
		expect(() => z.toJSONSchema(StoredGeofenceFeatureSchema)).not.toThrow();
		expect(() => z.toJSONSchema(GeofenceFeatureErrorSchema)).not.toThrow();
	});
});
