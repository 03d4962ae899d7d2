/**
 * PUT/GET/DELETE /v1/geofences: versioned idempotent uploads, all-or-nothing validation that
 * lists every bad feature, cursor pagination, and changes reaching the next ping.
 */
import { describe, expect, it } from "vitest";
import {
	call,
	callOk,
	circleFence,
	createTenant,
	eventsOf,
	expectProblem,
	type Feature,
	featureCollection,
	offset,
	polygonFence,
	postPings,
	putUser,
	type Ring,
	rectRing,
	squareFence,
	type Tenant,
	unique,
	uploadFences,
	walker,
} from "./helpers";

const LYON = { lat: 45.764, lng: 4.8357 };

interface FeatureCollectionPage {
	type: string;
	features: Feature[];
	nextCursor: string | null;
	version: number;
}

function multiPolygonWithHole(id: string): Feature {
	const second = offset(LYON, 0, 1000);
	return {
		type: "Feature",
		geometry: {
			type: "MultiPolygon",
			coordinates: [[rectRing(LYON, 200, 200), rectRing(LYON, 50, 50)], [rectRing(second, 100, 100)]],
		},
		properties: { id, name: "Lyon with a courtyard", tags: ["grocery", "city"] },
	};
}

/** A closed ring approximating a circle with `n` distinct vertices. */
function circleRing(center: { lat: number; lng: number }, radius: number, n: number): Ring {
	const ring: Ring = [];
	for (let i = 0; i < n; i++) {
		const a = (2 * Math.PI * i) / n;
		const p = offset(center, radius * Math.sin(a), radius * Math.cos(a));
		ring.push([p.lng, p.lat]);
	}
	const first = ring[0] as [number, number];
	ring.push([first[0], first[1]]);
	return ring;
}

async function listAll(t: Tenant): Promise<Feature[]> {
	return (await callOk<FeatureCollectionPage>("GET", "/v1/geofences?limit=1000", { key: t.secretKey }))
		.features;
}

describe("PUT /v1/geofences", () => {
	it("accepts a Polygon, a MultiPolygon with a hole and a Point with radius", async () => {
		const t = await createTenant("geo-valid");
		const features = [
			squareFence("poly-1", offset(LYON, 3000, 0), 100, {
				name: "Square",
				tags: ["grocery"],
				dwellSeconds: 120,
			}),
			multiPolygonWithHole("multi-1"),
			circleFence("circle-1", offset(LYON, -3000, 0), 150, { metadata: { storeNo: 42 } }),
		];
		const r = await uploadFences(t, features);
		expect(r).toEqual({ created: 3, updated: 0, upserted: 3, unchanged: 0, version: 1 });

		const poly = await callOk<Feature>("GET", "/v1/geofences/poly-1", { key: t.secretKey });
		expect(poly.geometry.type).toBe("Polygon");
		expect(poly.properties).toMatchObject({
			id: "poly-1",
			name: "Square",
			tags: ["grocery"],
			dwellSeconds: 120,
		});
		expect(poly.properties.radius).toBeUndefined();
		const multi = await callOk<Feature>("GET", "/v1/geofences/multi-1", { key: t.secretKey });
		expect(multi.geometry.type).toBe("MultiPolygon");
		expect((multi.geometry.coordinates as unknown[][]).length).toBe(2);
		expect((multi.geometry.coordinates as unknown[][])[0]?.length).toBe(2);
		const circle = await callOk<Feature>("GET", "/v1/geofences/circle-1", { key: t.secretKey });
		expect(circle.geometry.type).toBe("Point");
		expect(circle.properties).toMatchObject({ id: "circle-1", name: "circle-1", tags: [], radius: 150 });
		expect(circle.properties.metadata).toEqual({ storeNo: 42 });
	});

	it("counts an identical re-upload as unchanged and keeps the version; a change bumps it", async () => {
		const t = await createTenant("geo-idempotent");
		const features = [
			squareFence("a", LYON, 100, { tags: ["x"] }),
			circleFence("b", offset(LYON, 2000, 0), 50),
			squareFence("c", offset(LYON, 4000, 0), 80),
		];
		expect(await uploadFences(t, features)).toEqual({
			created: 3,
			updated: 0,
			upserted: 3,
			unchanged: 0,
			version: 1,
		});
		expect(await uploadFences(t, features)).toEqual({
			created: 0,
			updated: 0,
			upserted: 0,
			unchanged: 3,
			version: 1,
		});

		const changed = [features[0], circleFence("b", offset(LYON, 2000, 0), 60), features[2]];
		expect(await uploadFences(t, changed)).toEqual({
			created: 0,
			updated: 1,
			upserted: 1,
			unchanged: 2,
			version: 2,
		});
		const b = await callOk<Feature>("GET", "/v1/geofences/b", { key: t.secretKey });
		expect(b.properties.radius).toBe(60);

		// A subset upload leaves the others alone.
		expect(await uploadFences(t, [squareFence("d", offset(LYON, 6000, 0), 80)])).toEqual({
			created: 1,
			updated: 0,
			upserted: 1,
			unchanged: 0,
			version: 3,
		});
		expect((await listAll(t)).map((f) => f.properties.id)).toEqual(["a", "b", "c", "d"]);
	});

	it("accepts the application/geo+json media type", async () => {
		const t = await createTenant("geo-geojson-type");
		const r = await callOk<{ upserted: number }>("PUT", "/v1/geofences", {
			key: t.secretKey,
			body: featureCollection([circleFence("g", LYON, 50)]),
			headers: { "content-type": "application/geo+json" },
		});
		expect(r.upserted).toBe(1);
	});

	it("accepts a fence of exactly 2,000 vertices", async () => {
		const t = await createTenant("geo-2000");
		const r = await uploadFences(t, [polygonFence("big", [circleRing(LYON, 500, 2000)])]);
		expect(r.upserted).toBe(1);
	});

	it("answers 422 listing every bad feature and stores nothing", async () => {
		const t = await createTenant("geo-invalid");
		const before = [squareFence("kept", LYON, 100, { tags: ["old"] })];
		await uploadFences(t, before);
		const versionBefore = (await callOk<FeatureCollectionPage>("GET", "/v1/geofences", { key: t.secretKey }))
			.version;

		const open = rectRing(LYON, 100, 100).slice(0, 4);
		// Asymmetric, so its signed area is not zero (that would be a degenerate ring instead).
		const bowtie: Ring = [
			[4.83, 45.76],
			[4.85, 45.77],
			[4.85, 45.76],
			[4.83, 45.775],
			[4.83, 45.76],
		];
		const tooFew: Ring = [
			[4.83, 45.76],
			[4.84, 45.77],
			[4.83, 45.76],
		];
		const features: unknown[] = [
			/* 0 */ squareFence("good-1", offset(LYON, 5000, 0), 100),
			/* 1 */ polygonFence("not-closed", [open]),
			/* 2 */ polygonFence("too-few", [tooFew]),
			/* 3 */ polygonFence("too-many", [circleRing(LYON, 500, 2001)]),
			/* 4 */ polygonFence("bowtie", [bowtie]),
			/* 5 */ circleFence("radius-small", LYON, 9),
			/* 6 */ circleFence("radius-big", LYON, 10_001),
			/* 7 */ circleFence("lat-range", { lat: 91, lng: 4.8 }, 100),
			/* 8 */ circleFence("lng-range", { lat: 45, lng: 181 }, 100),
			/* 9 */ squareFence("good-2", offset(LYON, 7000, 0), 100),
			/* 10 */ squareFence("good-2", offset(LYON, 9000, 0), 100),
			/* 11 */ {
				...squareFence("unknown-prop", LYON, 100),
				properties: { id: "unknown-prop", colour: "red" },
			},
			/* 12 */ squareFence("kept", LYON, 300, { tags: ["new"] }),
		];
		const res = await call("PUT", "/v1/geofences", { key: t.secretKey, body: featureCollection(features) });
		const problem = await expectProblem(res, 422);
		const errors = problem.errors ?? [];
		const expected: { index: number; id: string; code: string; path: (string | number)[] }[] = [
			{
				index: 1,
				id: "not-closed",
				code: "ring_not_closed",
				path: ["features", 1, "geometry", "coordinates", 0],
			},
			{
				index: 2,
				id: "too-few",
				code: "too_few_positions",
				path: ["features", 2, "geometry", "coordinates", 0],
			},
			{
				index: 3,
				id: "too-many",
				code: "too_many_vertices",
				path: ["features", 3, "geometry", "coordinates"],
			},
			{
				index: 4,
				id: "bowtie",
				code: "self_intersection",
				path: ["features", 4, "geometry", "coordinates", 0],
			},
			{
				index: 5,
				id: "radius-small",
				code: "radius_out_of_range",
				path: ["features", 5, "properties", "radius"],
			},
			{
				index: 6,
				id: "radius-big",
				code: "radius_out_of_range",
				path: ["features", 6, "properties", "radius"],
			},
			{
				index: 7,
				id: "lat-range",
				code: "coordinate_out_of_range",
				path: ["features", 7, "geometry", "coordinates", 1],
			},
			{
				index: 8,
				id: "lng-range",
				code: "coordinate_out_of_range",
				path: ["features", 8, "geometry", "coordinates", 0],
			},
			{ index: 10, id: "good-2", code: "duplicate_id", path: ["features", 10, "properties", "id"] },
			{
				index: 11,
				id: "unknown-prop",
				code: "unknown_property",
				path: ["features", 11, "properties", "colour"],
			},
		];
		for (const e of expected) expect(errors).toContainEqual(expect.objectContaining(e));
		// Exactly the bad features are named; the good ones are not.
		expect([...new Set(errors.map((e) => e.index))].sort((a, b) => Number(a) - Number(b))).toEqual(
			expected.map((e) => e.index),
		);
		for (const e of errors) {
			expect(Array.isArray(e.path)).toBe(true);
			expect(typeof e.message).toBe("string");
		}

		// Nothing was stored: no new fence, "kept" unchanged, same version.
		const after = await callOk<FeatureCollectionPage>("GET", "/v1/geofences", { key: t.secretKey });
		expect(after.features.map((f) => f.properties.id)).toEqual(["kept"]);
		expect(after.features[0]?.properties.tags).toEqual(["old"]);
		expect(after.version).toBe(versionBefore);
		await expectProblem(await call("GET", "/v1/geofences/good-1", { key: t.secretKey }), 404, "not_found");
	});

	it("takes back what GET returns as unchanged", async () => {
		const t = await createTenant("geo-roundtrip");
		await uploadFences(t, [
			squareFence("p", LYON, 100, {
				name: "P",
				tags: ["a", "b"],
				dwellSeconds: 30,
				metadata: { z: 1, a: [1, 2] },
			}),
			multiPolygonWithHole("m"),
			circleFence("c", offset(LYON, 3000, 0), 75),
		]);
		const page = await callOk<FeatureCollectionPage>("GET", "/v1/geofences", { key: t.secretKey });
		expect(await uploadFences(t, page.features)).toEqual({
			created: 0,
			updated: 0,
			upserted: 0,
			unchanged: 3,
			version: page.version,
		});
	});

	it("refuses more than 10,000 features", async () => {
		const t = await createTenant("geo-too-many");
		const features = Array.from({ length: 10_001 }, (_, i) =>
			circleFence(`s${i}`, { lat: 45 + (i % 100) * 0.01, lng: 4 + Math.floor(i / 100) * 0.01 }, 20),
		);
		const problem = await expectProblem(
			await call("PUT", "/v1/geofences", { key: t.secretKey, body: featureCollection(features) }),
			422,
		);
		expect(problem.errors).toContainEqual(
			expect.objectContaining({ path: ["features"], code: "too_many_features" }),
		);
		expect(await listAll(t)).toEqual([]);
	});

	it("answers 422 for a polygon with a radius and a point without one", async () => {
		const t = await createTenant("geo-radius-kind");
		const features = [
			{ ...squareFence("poly-radius", LYON, 100), properties: { id: "poly-radius", radius: 50 } },
			{
				type: "Feature",
				geometry: { type: "Point", coordinates: [LYON.lng, LYON.lat] },
				properties: { id: "pt" },
			},
		];
		const problem = await expectProblem(
			await call("PUT", "/v1/geofences", { key: t.secretKey, body: featureCollection(features) }),
			422,
		);
		expect(problem.errors).toContainEqual(expect.objectContaining({ index: 0, code: "radius_not_allowed" }));
		expect(problem.errors).toContainEqual(expect.objectContaining({ index: 1, code: "radius_required" }));
		expect(await listAll(t)).toEqual([]);
	});
});

describe("GET /v1/geofences", () => {
	it("pages with limit and cursor, returning every id exactly once", async () => {
		const t = await createTenant("geo-page");
		const ids = Array.from({ length: 25 }, (_, i) => `store-${String(i).padStart(3, "0")}`);
		await uploadFences(
			t,
			ids.map((id, i) => circleFence(id, offset(LYON, i * 500, 0), 50)),
		);
		const seen: string[] = [];
		let cursor: string | null = null;
		let pages = 0;
		do {
			const q: string = cursor ? `?limit=7&cursor=${encodeURIComponent(cursor)}` : "?limit=7";
			const page: FeatureCollectionPage = await callOk<FeatureCollectionPage>("GET", `/v1/geofences${q}`, {
				key: t.secretKey,
			});
			expect(page.type).toBe("FeatureCollection");
			expect(page.features.length).toBeLessThanOrEqual(7);
			seen.push(...page.features.map((f) => f.properties.id));
			cursor = page.nextCursor;
			pages += 1;
			expect(pages).toBeLessThan(10);
		} while (cursor);
		expect(pages).toBe(4);
		expect(seen.length).toBe(25);
		expect(new Set(seen).size).toBe(25);
		expect([...seen].sort()).toEqual(ids);
	});

	it("refuses a bad limit or a cursor it did not issue with 4xx", async () => {
		const t = await createTenant("geo-page-bad");
		for (const q of [
			"?limit=0",
			"?limit=-1",
			"?limit=abc",
			"?limit=100000",
			"?cursor=%%%",
			"?cursor=bm90IGFuIGlkIQ",
		]) {
			const res = await call("GET", `/v1/geofences${q}`, { key: t.secretKey });
			expect(res.status, q).toBeGreaterThanOrEqual(400);
			expect(res.status, q).toBeLessThan(500);
			await expectProblem(res, res.status);
		}
	});
});

describe("GET/DELETE /v1/geofences/{id}", () => {
	it("reads one fence, deletes it, then answers 404", async () => {
		const t = await createTenant("geo-delete");
		await uploadFences(t, [squareFence("x1", LYON, 100), squareFence("x2", offset(LYON, 1000, 0), 100)]);
		const f = await callOk<Feature>("GET", "/v1/geofences/x1", { key: t.secretKey });
		expect(f.type).toBe("Feature");
		expect(f.properties.id).toBe("x1");
		await callOk("DELETE", "/v1/geofences/x1", { key: t.secretKey }, 204);
		await expectProblem(await call("GET", "/v1/geofences/x1", { key: t.secretKey }), 404, "not_found");
		await expectProblem(await call("DELETE", "/v1/geofences/x1", { key: t.secretKey }), 404, "not_found");
		expect((await listAll(t)).map((g) => g.properties.id)).toEqual(["x2"]);
	});

	it("addresses ids using every allowed character", async () => {
		const t = await createTenant("geo-id-chars");
		const id = "Store_42.rivoli:B-1";
		await uploadFences(t, [circleFence(id, LYON, 50)]);
		expect((await callOk<Feature>("GET", `/v1/geofences/${id}`, { key: t.secretKey })).properties.id).toBe(
			id,
		);
		await callOk("DELETE", `/v1/geofences/${id}`, { key: t.secretKey }, 204);
		expect(await listAll(t)).toEqual([]);
	});

	it("answers 404 for an id never uploaded", async () => {
		const t = await createTenant("geo-404");
		await expectProblem(await call("GET", "/v1/geofences/nope", { key: t.secretKey }), 404, "not_found");
	});
});

describe("fence changes reach the next ping", () => {
	it("moving a fence away exits the people inside and no longer enters anyone at the old place", async () => {
		const t = await createTenant("geo-move");
		const id = "moving-store";
		const far = offset(LYON, 50_000, 0);
		await uploadFences(t, [squareFence(id, LYON, 100)]);

		const inside = unique("inside");
		await putUser(t, inside);
		const w = walker();
		expect(eventsOf(await postPings(t, inside, [w.at(LYON)]))).toEqual([`enter:${id}`]);

		await uploadFences(t, [squareFence(id, far, 100)]);
		// Inside the old shape: the person is no longer in the fence.
		expect(eventsOf(await postPings(t, inside, [w.at(offset(LYON, 10, 0))]))).toEqual([`exit:${id}`]);

		const passer = unique("passer");
		await putUser(t, passer);
		expect((await postPings(t, passer, [walker().at(LYON)])).events).toEqual([]);

		const there = unique("there");
		await putUser(t, there);
		const w3 = walker();
		expect(eventsOf(await postPings(t, there, [w3.at(far)]))).toEqual([`enter:${id}`]);

		// Deleting it takes effect too.
		await callOk("DELETE", `/v1/geofences/${id}`, { key: t.secretKey }, 204);
		expect(eventsOf(await postPings(t, there, [w3.at(far)]))).toEqual([`exit:${id}`]);
		const late = unique("late");
		await putUser(t, late);
		expect((await postPings(t, late, [walker().at(far)])).events).toEqual([]);
	});

	it("shrinking a fence in place exits a person now outside it", async () => {
		const t = await createTenant("geo-shrink");
		await uploadFences(t, [circleFence("shrinking", LYON, 500)]);
		const u = unique("u");
		await putUser(t, u);
		const w = walker();
		const spot = offset(LYON, 300, 0);
		expect(eventsOf(await postPings(t, u, [w.at(spot)]))).toEqual(["enter:shrinking"]);
		await uploadFences(t, [circleFence("shrinking", LYON, 100)]);
		// 200 m outside the new circle: beyond the 25 m hysteresis.
		expect(eventsOf(await postPings(t, u, [w.at(spot)]))).toEqual(["exit:shrinking"]);
	});
});
