/**
 * The command line's store-file readers: every problem is named by its line in the file, and
 * the features that pass are what the service's validator accepts (checkStores runs it).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkStores, chunkLimits, formatProblem } from "../../cli/check.js";
import { toCsv } from "../../cli/commands/fences.js";
import { csvRecords, parseCsv } from "../../cli/formats/csv.js";
import { featureLines, parseGeoJson } from "../../cli/formats/geojson.js";
import { detectFormat, parseStores } from "../../cli/formats/index.js";
import { parseKml, slugId } from "../../cli/formats/kml.js";
import { parseWkt } from "../../cli/formats/wkt.js";
import { csvCell, writeWkt } from "../../cli/formats/write.js";

/** Problems as `line field` pairs, sorted (what a retailer reads first). */
const where = (problems: { line: number | null; field: string }[]) =>
	problems.map((p) => `${p.line} ${p.field}`);

describe("CSV", () => {
	it("keeps the line each record starts on, across quoted line breaks, CRLF and blank lines", () => {
		const text = 'id,name\r\na,"two\nlines"\r\n\r\nb,"say ""hi"""\nc,x';
		const { records, unclosedAt } = csvRecords(text, ",");
		expect(unclosedAt).toBeNull();
		expect(records.map((r) => [r.line, ...r.fields])).toEqual([
			[1, "id", "name"],
			[2, "a", "two\nlines"],
			[5, "b", 'say "hi"'],
			[6, "c", "x"],
		]);
	});

	it("reads circles, tags split by ; or |, WKT polygons and extra columns as metadata", () => {
		const parsed = parseCsv(
			[
				"id,name,lat,lng,radius,tags,wkt,city",
				"s1,Rivoli,48.8566,2.3522,150,grocery;beer,,Paris",
				's2,Mall,,,,mall|food,"POLYGON((2.29 48.87, 2.30 48.87, 2.30 48.88, 2.29 48.87))",',
			].join("\n"),
		);
		expect(parsed.problems).toEqual([]);
		expect(parsed.features.map((f) => f.line)).toEqual([2, 3]);
		expect(parsed.features[0]?.feature).toEqual({
			type: "Feature",
			geometry: { type: "Point", coordinates: [2.3522, 48.8566] },
			properties: {
				id: "s1",
				name: "Rivoli",
				radius: 150,
				tags: ["grocery", "beer"],
				metadata: { city: "Paris" },
			},
		});
		expect(parsed.features[1]?.feature.geometry).toEqual({
			type: "Polygon",
			coordinates: [
				[
					[2.29, 48.87],
					[2.3, 48.87],
					[2.3, 48.88],
					[2.29, 48.87],
				],
			],
		});
		expect(parsed.features[1]?.feature.properties.tags).toEqual(["mall", "food"]);
		expect(checkStores(parsed).problems).toEqual([]);
	});

	it("names every bad row by its line in the file, with the service validator's reasons", () => {
		const text = [
			"id,name,lat,lng,radius,tags,wkt", // 1
			"ok-1,Fine,48.85,2.35,100,,", // 2
			"small,Too small,48.85,2.35,5,,", // 3
			'ml,"A name on', // 4
			'two lines",48.85,2.35,100,,', // 5 (same record, valid)
			"short,Short row", // 6
			"nan,Bad lat,abc,2.35,100,,", // 7
			"ok-1,Duplicate,48.1,2.1,100,,", // 8
			'self,Bow tie,,,,,"POLYGON((2.29 48.87, 2.30 48.88, 2.30 48.87, 2.29 48.88, 2.29 48.87))"', // 9
			"bad id!,Bad id,48.85,2.35,100,,", // 10
			"far,Off the map,95,2.35,100,,", // 11
			"both,Both,48.8,2.3,100,,POINT(2 48)", // 12
		].join("\n");
		const parsed = parseCsv(text);
		const checked = checkStores(parsed);
		expect(where(checked.problems)).toEqual([
			"3 radius",
			"6 ", // 2 fields where the header has 7
			"6 lat",
			"6 lng",
			"7 lat",
			"8 id",
			"9 wkt (coordinates.0)",
			"10 id",
			"11 lat",
			"12 wkt",
		]);
		expect(checked.chunks).toEqual([]);
		expect(parsed.features.find((f) => f.feature.properties.id === "ml")?.line).toBe(4);
		const dup = checked.problems.find((p) => p.line === 8);
		expect(dup?.message).toBe("id ok-1 is already used on line 2");
		expect(
			formatProblem("stores.csv", checked.problems[0] ?? { line: null, id: null, field: "", message: "" }),
		).toMatch(/^stores\.csv:3: radius: .*10.* \(id small\)$/);
	});

	it("reads ;-separated files with decimal commas (spreadsheets in French)", () => {
		const parsed = parseCsv("id;name;lat;lng;radius;tags\nfr-1;Épicerie;48,8566;2,3522;120;grocery|bio\n");
		expect(parsed.problems).toEqual([]);
		expect(parsed.features[0]?.feature.geometry).toEqual({ type: "Point", coordinates: [2.3522, 48.8566] });
		expect(parsed.features[0]?.feature.properties.tags).toEqual(["grocery", "bio"]);
	});

	it("reports a missing column on the header line and an unclosed quote on its record's line", () => {
		expect(where(parseCsv("id,name,lat\na,b,1\n").problems)).toEqual(["1 lng"]);
		const unclosed = parseCsv('id,lat,lng,radius\na,1,2,50\nb,"1,2,50\nc,1,2,50\n');
		expect(where(unclosed.problems)).toEqual(["3 "]);
		expect(unclosed.problems[0]?.message).toMatch(/never closed/);
	});

	it("the 500-store sample is valid", () => {
		const parsed = parseCsv(readFileSync("geofences/sample-stores.csv", "utf8"));
		const checked = checkStores(parsed);
		expect(checked.problems).toEqual([]);
		expect(checked.features).toBe(500);
	});
});

describe("WKT", () => {
	it("reads POINT, POLYGON with holes, MULTIPOLYGON, EWKT and Z ordinates", () => {
		expect(parseWkt("POINT (2.35 48.85)")).toEqual({
			ok: true,
			geometry: { type: "Point", coordinates: [2.35, 48.85] },
		});
		const poly = parseWkt("SRID=4326;POLYGON Z ((0 0 1, 4 0 1, 4 4 1, 0 0 1), (1 1 0, 2 1 0, 2 2 0, 1 1 0))");
		expect(poly.ok && poly.geometry.type === "Polygon" && poly.geometry.coordinates[1]?.[2]).toEqual([2, 2]);
		const multi = parseWkt("multipolygon(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))");
		expect(multi.ok && multi.geometry.type === "MultiPolygon" && multi.geometry.coordinates.length).toBe(2);
	});

	it("explains what is wrong and where", () => {
		expect(parseWkt("LINESTRING(0 0, 1 1)")).toMatchObject({
			ok: false,
			message: expect.stringMatching(/not a fence shape/),
		});
		expect(parseWkt("POLYGON((0 0, 1 x))")).toMatchObject({
			ok: false,
			message: expect.stringMatching(/character 17/),
		});
		expect(parseWkt("POLYGON(0 0, 1 1)")).toMatchObject({
			ok: false,
			message: expect.stringMatching(/parentheses/),
		});
		expect(parseWkt("POLYGON EMPTY")).toMatchObject({ ok: false });
		expect(parseWkt("SRID=3857;POINT(1 2)")).toMatchObject({
			ok: false,
			message: expect.stringMatching(/4326/),
		});
	});

	it("round-trips through the export writer", () => {
		const geometry = {
			type: "MultiPolygon",
			coordinates: [
				[
					[
						[0, 0],
						[1, 0],
						[1, 1],
						[0, 0],
					],
				],
				[
					[
						[5, 5],
						[6, 5],
						[6, 6],
						[5, 5],
					],
				],
			],
		};
		expect(parseWkt(writeWkt(geometry))).toEqual({ ok: true, geometry });
	});
});

describe("GeoJSON", () => {
	it("finds the line of each feature, whatever the layout and strings hold", () => {
		const text = `{
  "type": "FeatureCollection",
  "name": "features [with] {brackets}",
  "features": [
    {"type": "Feature", "properties": {"id": "a", "features": [1, 2]}, "geometry": null},

    {
      "type": "Feature", "properties": {"id": "b\\"}"}
    }, null,
    {"type": "Feature"}
  ]
}`;
		expect(featureLines(text)).toEqual([5, 7, 9, 10]);
	});

	it("names every bad feature by its line, and passes good ones", () => {
		const lines = [
			'{"type": "FeatureCollection", "features": [',
			'{"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.35, 48.85]}, "properties": {"id": "ok", "radius": 100}},',
			'{"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.35, 48.85]}, "properties": {"id": "no-radius"}},',
			'{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}, "properties": {"id": "open"}},',
			'{"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.35, 48.85]}, "properties": {"id": "ok", "radius": 50}}',
			"]}",
		];
		const checked = checkStores(parseGeoJson(lines.join("\n")));
		expect(where(checked.problems)).toEqual([
			"3 properties.radius",
			"4 geometry.coordinates.0",
			"5 properties.id",
		]);
	});

	it("reports JSON syntax errors with their line", () => {
		const parsed = parseGeoJson('{"type": "FeatureCollection",\n"features": [\n{"type": "Feature",,}\n]}');
		expect(parsed.problems).toHaveLength(1);
		expect(parsed.problems[0]?.line).toBe(3);
	});
});

describe("KML", () => {
	const kml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
${body}
</Document></kml>`;

	it("reads placemarks with their line, id, radius, tags and polygons", () => {
		const parsed = parseKml(readFileSync("geofences/sample-stores.kml", "utf8"));
		expect(parsed.problems).toEqual([]);
		expect(parsed.features.map((f) => [f.line, f.feature.properties.id])).toEqual([
			[5, "kml-paris-rivoli"],
			[14, "kml-lyon-bellecour"],
			[24, "kml-marseille-centre-bourse"],
		]);
		expect(parsed.features[0]?.feature.properties).toMatchObject({
			radius: 120,
			tags: ["grocery", "beer"],
			metadata: { city: "Paris" },
		});
		expect(parsed.features[1]?.feature.properties).toMatchObject({ radius: 80, dwellSeconds: 300 });
		expect(parsed.features[2]?.feature.geometry).toMatchObject({ type: "Polygon" });
		expect(checkStores(parsed).problems).toEqual([]);
	});

	it("names every bad Placemark by its line", () => {
		const text =
			kml(`<Placemark id="ok"><ExtendedData><Data name="radius"><value>50</value></Data></ExtendedData><Point><coordinates>2.35,48.85</coordinates></Point></Placemark>
<Placemark id="no-radius"><Point><coordinates>2.35,48.85</coordinates></Point></Placemark>
<Placemark id="line"><LineString><coordinates>2.35,48.85 2.36,48.86</coordinates></LineString></Placemark>
<Placemark><ExtendedData><Data name="radius"><value>1o0</value></Data></ExtendedData><Point><coordinates>2.35,48.85</coordinates></Point></Placemark>
<Placemark><name>Café Crème</name><ExtendedData><Data name="radius"><value>60</value></Data></ExtendedData><Point><coordinates>2.35,48.85</coordinates></Point></Placemark>`);
		const parsed = parseKml(text);
		const checked = checkStores(parsed);
		expect(where(checked.problems)).toEqual(["4 properties.radius", "5 geometry.type", "6 radius", "6 id"]);
		expect(parsed.features.at(-1)?.feature.properties.id).toBe("cafe-creme");
	});

	it("reports XML that is not well-formed with its line", () => {
		const parsed = parseKml("<kml><Document><Placemark>\n<name>x</Document></kml>");
		expect(parsed.problems).toHaveLength(1);
		expect(parsed.problems[0]?.line).toBe(2);
	});

	it("slugs names into valid ids", () => {
		expect(slugId("  Boulangerie Saint-Honoré #2 ")).toBe("boulangerie-saint-honore-2");
	});
});

describe("chunks", () => {
	const stores = (n: number) =>
		parseCsv(
			[
				"id,name,lat,lng,radius",
				...Array.from({ length: n }, (_, i) => `s${i},${"x".repeat(100)},48.85,2.35,100`),
			].join("\n"),
		);

	it("cuts by bytes as well as by count, every body under the limit and holding every store once", () => {
		const parsed = stores(1000);
		const byCount = checkStores(parsed, chunkLimits({ chunkFeatures: 300 }));
		expect(byCount.chunks.map((c) => c.end - c.start)).toEqual([300, 300, 300, 100]);
		const byBytes = checkStores(parsed, chunkLimits({ chunkBytes: 50_000 }));
		expect(byBytes.chunks.length).toBeGreaterThan(4);
		for (const c of byBytes.chunks) {
			expect(c.bytes).toBeLessThanOrEqual(50_000);
			expect(Buffer.byteLength(c.body)).toBe(c.bytes);
			expect(JSON.parse(c.body).features).toHaveLength(c.end - c.start);
		}
		expect(byBytes.chunks.flatMap((c) => [c.start, c.end])).toEqual([
			0,
			...byBytes.chunks.slice(0, -1).flatMap((c) => [c.end, c.end]),
			1000,
		]);
	});

	it("never goes past the service's own limits, whatever is asked", () => {
		expect(chunkLimits({ chunkFeatures: 50_000, chunkBytes: 1e9 })).toEqual({
			maxFeatures: 10_000,
			maxBytes: 16 * 1024 * 1024,
			maxContainers: 500_000,
		});
	});

	it("finds a duplicate id in different chunks by both lines", () => {
		const parsed = parseCsv("id,lat,lng,radius\na,48,2,50\nb,48,2,50\na,48,2,50\n");
		const checked = checkStores(parsed, chunkLimits({ chunkFeatures: 1 }));
		expect(checked.problems.map((p) => `${p.line} ${p.message}`)).toEqual([
			"4 id a is already used on line 2",
		]);
	});

	it("refuses a store too large for any request, by its line", () => {
		const parsed = parseCsv(`id,lat,lng,radius,tags\na,48,2,50,x\nb,48,2,50,${"y".repeat(60)}\n`);
		const checked = checkStores(parsed, chunkLimits({ chunkBytes: 200 }));
		expect(where(checked.problems)).toContain("3 geometry");
	});
});

describe("formats and export", () => {
	it("picks the reader by extension, then by content", () => {
		expect(detectFormat("a.KML", "")).toBe("kml");
		expect(detectFormat("a.geojson", "")).toBe("geojson");
		expect(detectFormat("stores", ' {"type"')).toBe("geojson");
		expect(detectFormat("stores", "<?xml")).toBe("kml");
		expect(detectFormat("stores", "id,lat")).toBe("csv");
	});

	it("exports CSV that reads back to the same features", () => {
		const features = [
			{
				type: "Feature" as const,
				geometry: { type: "Point", coordinates: [2.35, 48.85] },
				properties: {
					id: "a",
					name: 'Say "hi", then',
					tags: ["x", "y"],
					radius: 80,
					dwellSeconds: 60,
					metadata: { city: "Paris" },
				},
			},
			{
				type: "Feature" as const,
				geometry: {
					type: "Polygon",
					coordinates: [
						[
							[0, 0],
							[1, 0],
							[1, 1],
							[0, 0],
						],
					],
				},
				properties: { id: "b", name: "Poly", tags: [], metadata: {} },
			},
		];
		const back = parseStores("csv", toCsv(features));
		expect(back.problems).toEqual([]);
		expect(back.features.map((f) => f.feature.properties)).toEqual([
			{
				id: "a",
				name: 'Say "hi", then',
				tags: ["x", "y"],
				radius: 80,
				dwellSeconds: 60,
				metadata: { city: "Paris" },
			},
			{ id: "b", name: "Poly" },
		]);
		expect(back.features[1]?.feature.geometry).toEqual(features[1]?.geometry);
		expect(csvCell(" padded")).toBe('" padded"');
	});
});
