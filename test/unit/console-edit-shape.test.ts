/** Editing a stored store's shape (console/src/edit-shape.ts): fields from a feature and back, checked by the service's validator. */
import { describe, expect, it } from "vitest";
import { addCorner, featureOf, formOf, shapeOf, withShape } from "../../console/src/edit-shape.js";
import type { Feature } from "../../console/src/geojson.js";
import { validateFeatureCollection } from "../../src/geo/validate.js";

const square: Feature = {
	type: "Feature",
	geometry: {
		type: "Polygon",
		coordinates: [
			[
				[2.355, 48.857],
				[2.358, 48.857],
				[2.358, 48.859],
				[2.355, 48.859],
				[2.355, 48.857],
			],
		],
	},
	properties: { id: "marais", name: "Marais", tags: ["wine"], dwellSeconds: 120, metadata: { floor: 1 } },
};
const circle: Feature = {
	type: "Feature",
	geometry: { type: "Point", coordinates: [2.3413, 48.8612] },
	properties: { id: "louvre", name: "Louvre", radius: 80 },
};
const valid = (f: unknown) => validateFeatureCollection({ type: "FeatureCollection", features: [f] });

describe("edit form", () => {
	it("lists a polygon's corners without the closing one and writes the ring closed again, other properties kept", () => {
		const form = formOf(square);
		expect(form).toMatchObject({ name: "Marais", tags: "wine", shape: { kind: "polygon", holes: [] } });
		expect(form.shape.kind === "polygon" && form.shape.corners).toHaveLength(4);
		if (form.shape.kind !== "polygon") throw new Error("polygon expected");
		form.shape.corners[1] = { lng: "2,3585", lat: "48.857" };
		const f = featureOf(square, { ...form, name: " Le Marais ", tags: "wine, bio," });
		expect(f).toEqual({
			type: "Feature",
			geometry: {
				type: "Polygon",
				coordinates: [
					[
						[2.355, 48.857],
						[2.3585, 48.857],
						[2.358, 48.859],
						[2.355, 48.859],
						[2.355, 48.857],
					],
				],
			},
			properties: {
				id: "marais",
				name: "Le Marais",
				tags: ["wine", "bio"],
				dwellSeconds: 120,
				metadata: { floor: 1 },
			},
		});
		expect(valid(f).ok).toBe(true);
	});

	it("edits a circle's centre and radius; a field that is not a number reaches the validator as typed", () => {
		const form = formOf(circle);
		expect(form.shape).toEqual({ kind: "circle", lng: "2.3413", lat: "48.8612", radius: "80" });
		const moved = featureOf(circle, {
			...form,
			shape: { kind: "circle", lng: "2.34", lat: "48.86", radius: "120" },
		});
		expect(moved).toMatchObject({
			geometry: { type: "Point", coordinates: [2.34, 48.86] },
			properties: { radius: 120 },
		});
		expect(valid(moved).ok).toBe(true);
		const bad = featureOf(circle, {
			...form,
			shape: { kind: "circle", lng: "east", lat: "48.86", radius: "-5" },
		});
		const r = valid(bad);
		expect(r.ok).toBe(false);
		// Without a name or tags, they are dropped rather than sent empty.
		expect(featureOf(circle, { ...form, name: "", tags: "" })).toMatchObject({
			properties: { id: "louvre" },
		});
		expect((featureOf(circle, { ...form, name: "", tags: "" }) as Feature).properties).not.toHaveProperty(
			"name",
		);
	});

	it("turns fields into the map's shape and back; null while a field is not a number", () => {
		const form = formOf(square);
		const shape = shapeOf(form.shape);
		expect(shape).toEqual(square.geometry);
		expect(withShape(form, shape as NonNullable<typeof shape>)).toEqual(form);
		expect(shapeOf({ kind: "circle", lng: "2.3", lat: "", radius: "10" })).toBeNull();
		expect(
			shapeOf({
				kind: "polygon",
				corners: [
					{ lng: "1", lat: "1" },
					{ lng: "2", lat: "2" },
				],
				holes: [],
			}),
		).toBeNull();
		expect(
			withShape(formOf(circle), { type: "Point", coordinates: [2.35, 48.86], radius: 95 }).shape,
		).toEqual({
			kind: "circle",
			lng: "2.35",
			lat: "48.86",
			radius: "95",
		});
	});

	it("adds a corner halfway between the last and the first, and keeps holes and multi-polygons as they are", () => {
		expect(
			addCorner([
				{ lng: "0", lat: "0" },
				{ lng: "2", lat: "0" },
				{ lng: "2", lat: "2" },
			]),
		).toEqual([
			{ lng: "0", lat: "0" },
			{ lng: "2", lat: "0" },
			{ lng: "2", lat: "2" },
			{ lng: "1", lat: "1" },
		]);
		const hole = [
			[2.356, 48.8575],
			[2.357, 48.8575],
			[2.357, 48.858],
			[2.356, 48.8575],
		];
		const holed: Feature = {
			...square,
			geometry: { type: "Polygon", coordinates: [square.geometry.coordinates[0] as number[][], hole] },
		};
		const f = featureOf(holed, formOf(holed)) as Feature;
		expect(f.geometry).toEqual(holed.geometry);
		const multi: Feature = {
			...square,
			geometry: { type: "MultiPolygon", coordinates: [square.geometry.coordinates as number[][][]] },
		};
		const mf = formOf(multi);
		expect(mf.shape).toEqual({ kind: "multi" });
		expect((featureOf(multi, { ...mf, name: "M" }) as Feature).geometry).toBe(multi.geometry);
	});
});
