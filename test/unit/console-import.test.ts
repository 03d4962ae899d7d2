/**
 * Store import in the console (console/src/importer.ts): CSV and GeoJSON read with their
 * lines, checked by the service's own validator, every problem tied to its line.
 */
import { describe, expect, it } from "vitest";
import {
	checkFile,
	csvRecords,
	featureLines,
	parseCsv,
	parseGeoJson,
	parseStoreFile,
	planChunks,
} from "../../console/src/importer.js";
import { validateFeatureCollection } from "../../src/geo/validate.js";

const GOOD_CSV = `id,name,lat,lng,radius,tags,dwellSeconds
paris-rivoli,Paris Rivoli,48.8606,2.3376,150,grocery;city,300
lyon-1,"Lyon, Part-Dieu",45.7606,4.8590,200,grocery,
`;

describe("CSV", () => {
	it("reads quoted fields, doubled quotes, line breaks inside quotes and CRLF, with each record's line", () => {
		const recs = csvRecords('a,b\r\n"x, y","say ""hi"""\r\n"multi\nline",z\r\n\r\nlast,1');
		expect(recs).toEqual([
			{ fields: ["a", "b"], line: 1 },
			{ fields: ["x, y", 'say "hi"'], line: 2 },
			{ fields: ["multi\nline", "z"], line: 3 },
			{ fields: ["last", "1"], line: 6 },
		]);
	});

	it("takes ; as the separator when the header uses it (French spreadsheets), with decimal commas", () => {
		const parsed = parseCsv("id;name;lat;lng;radius\ns1;Un;48,85;2,35;100\n");
		expect(parsed.problems).toEqual([]);
		expect(parsed.features[0]?.geometry).toEqual({ type: "Point", coordinates: [2.35, 48.85] });
	});

	it("turns rows into circle features the service's validator accepts", () => {
		const parsed = parseCsv(GOOD_CSV);
		expect(parsed.lines).toEqual([2, 3]);
		expect(parsed.features[0]).toEqual({
			type: "Feature",
			geometry: { type: "Point", coordinates: [2.3376, 48.8606] },
			properties: {
				id: "paris-rivoli",
				name: "Paris Rivoli",
				radius: 150,
				dwellSeconds: 300,
				tags: ["grocery", "city"],
			},
		});
		expect(validateFeatureCollection({ type: "FeatureCollection", features: parsed.features }).ok).toBe(true);
		expect(checkFile(parsed).problems).toEqual([]);
	});

	it("reports every bad row with its line and the field, as the service would name it", () => {
		const csv = `id,name,lat,lng,radius
ok-1,Fine,48.86,2.33,100
bad radius,Bad id,48.86,2.33,100
r2,Too big,48.86,2.33,50000
r3,No number,abc,2.33,100
r4,Far north,95,2.33,100
ok-1,Duplicate,48.87,2.34,100
`;
		const checked = checkFile(parseCsv(csv));
		const byLine = new Map<number | null, string[]>();
		for (const p of checked.problems) byLine.set(p.line, [...(byLine.get(p.line) ?? []), p.field]);
		expect([...byLine.keys()].sort()).toEqual([3, 4, 5, 6, 7]);
		expect(byLine.get(3)).toContain("properties.id");
		expect(byLine.get(4)).toContain("properties.radius");
		expect(byLine.get(5)?.some((f) => f.startsWith("geometry.coordinates"))).toBe(true);
		expect(byLine.get(6)?.some((f) => f.startsWith("geometry.coordinates"))).toBe(true);
		expect(byLine.get(7)).toEqual(["properties.id"]);
		// Line 2 is fine: no problem names it.
		expect(checked.problems.every((p) => p.line !== 2)).toBe(true);
	});

	it("reads polygons from a wkt column, as the command line does, and names a bad one", () => {
		const csv = [
			"id,name,wkt,tags",
			'sq,Square,"POLYGON ((2.35 48.85, 2.36 48.85, 2.36 48.86, 2.35 48.86, 2.35 48.85))",grocery',
			"broken,Broken,POLYGON ((2.35 48.85,grocery",
		].join("\n");
		const parsed = parseCsv(csv);
		expect(parsed.features[0]?.geometry).toEqual({
			type: "Polygon",
			coordinates: [
				[
					[2.35, 48.85],
					[2.36, 48.85],
					[2.36, 48.86],
					[2.35, 48.86],
					[2.35, 48.85],
				],
			],
		});
		const problems = checkFile(parsed).problems;
		expect(problems.filter((p) => p.line === 2)).toEqual([]);
		expect(problems.some((p) => p.line === 3 && p.field === "wkt")).toBe(true);
	});

	it("reports missing columns and ragged rows", () => {
		expect(parseCsv("name,lat\nx,1\n").problems.map((p) => p.field)).toEqual(["id", "lng"]);
		const ragged = parseCsv("id,lat,lng,radius\na,48,2,100,extra\n");
		expect(ragged.problems).toEqual([expect.objectContaining({ line: 2, index: 0 })]);
		expect(checkFile(parseCsv("id,lat,lng\n")).problems[0]?.message).toMatch(/no stores/);
	});
});

describe("GeoJSON", () => {
	const text = `{
  "type": "FeatureCollection",
  "features": [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
     "properties": {"id": "a", "radius": 100}},
    {
      "type": "Feature",
      "geometry": {"type": "Polygon", "coordinates": [[[2.3, 48.8], [2.4, 48.8], [2.3, 48.9], [2.4, 48.9], [2.3, 48.8]]]},
      "properties": {"id": "bowtie", "name": "a \\"}{[ string"}
    }
  ]
}`;

	it("finds the line where each feature starts, ignoring brackets inside strings", () => {
		expect(featureLines(text)).toEqual([4, 6]);
	});

	it("reports a self-intersecting polygon at its line with the validator's reason", () => {
		const checked = checkFile(parseGeoJson(text));
		expect(checked.problems.length).toBeGreaterThan(0);
		expect(checked.problems.every((p) => p.line === 6 && p.id === "bowtie")).toBe(true);
	});

	it("refuses what is not JSON or not a FeatureCollection before validating", () => {
		expect(parseGeoJson("{nope").problems[0]?.message).toMatch(/not JSON/);
		expect(parseGeoJson('{"type":"Point"}').problems[0]?.message).toMatch(/FeatureCollection/);
	});

	it("picks the parser by extension, then by content", async () => {
		expect((await parseStoreFile("stores.geojson", text)).features).toHaveLength(2);
		expect((await parseStoreFile("stores.csv", GOOD_CSV)).features).toHaveLength(2);
		expect((await parseStoreFile("stores", GOOD_CSV)).features).toHaveLength(2);
		expect((await parseStoreFile("stores", text)).features).toHaveLength(2);
	});
});

describe("chunks", () => {
	it("cuts by feature count and by bytes, covering every feature once in order", () => {
		const features = Array.from({ length: 25 }, (_, i) => ({
			id: i,
			pad: "x".repeat(i % 3 === 0 ? 100 : 10),
		}));
		const byCount = planChunks(features, 10, 1e9);
		expect(byCount).toEqual([
			[0, 10],
			[10, 20],
			[20, 25],
		]);
		const byBytes = planChunks(features, 1000, 300);
		expect(byBytes[0]?.[0]).toBe(0);
		expect(byBytes.at(-1)?.[1]).toBe(25);
		for (let i = 1; i < byBytes.length; i++) expect(byBytes[i]?.[0]).toBe(byBytes[i - 1]?.[1]);
		for (const [s, e] of byBytes) {
			const size = features.slice(s, e).reduce((n, f) => n + JSON.stringify(f).length + 1, 0);
			expect(e - s === 1 || size <= 300).toBe(true);
		}
		expect(planChunks([])).toEqual([]);
	});

	it("validates each chunk as the API will receive it: indexes mapped back to the whole file", () => {
		const rows = Array.from(
			{ length: 2_500 },
			(_, i) => `s${i},Store ${i},48.8,2.3,${i === 2_100 ? 5 : 100}`,
		);
		const checked = checkFile(parseCsv(`id,name,lat,lng,radius\n${rows.join("\n")}\n`));
		expect(checked.chunks).toEqual([
			[0, 2000],
			[2000, 2500],
		]);
		expect(checked.problems).toEqual([
			expect.objectContaining({ index: 2_100, line: 2_102, id: "s2100", field: "properties.radius" }),
		]);
	});
});

describe("KML", () => {
	it("reads placemarks (the browser's DOMParser, here @xmldom/xmldom's) and checks them like any file", async () => {
		const { DOMParser } = await import("@xmldom/xmldom");
		const g = globalThis as { DOMParser?: unknown };
		const before = g.DOMParser;
		g.DOMParser = DOMParser;
		try {
			const kml = `<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
  <Placemark id="sq"><name>Square</name>
    <Polygon><outerBoundaryIs><LinearRing><coordinates>
      2.35,48.85 2.36,48.85 2.36,48.86 2.35,48.86 2.35,48.85
    </coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
  <Placemark><name>Pin without radius</name><Point><coordinates>2.35,48.85</coordinates></Point></Placemark>
</Document></kml>`;
			const parsed = await parseStoreFile("stores.kml", kml);
			expect(parsed.features.map((f) => f.properties.id)).toEqual(["sq", "placemark-2"]);
			expect(parsed.features[0]?.properties.name).toBe("Square");
			const problems = checkFile(parsed).problems;
			// The point has no radius: the validator says so, for the second placemark only.
			expect(problems.length).toBeGreaterThan(0);
			expect(problems.every((p) => p.index === 1 && p.line === null)).toBe(true);
			expect((await parseStoreFile("bad.kml", "<kml><oops")).problems[0]?.message).toMatch(/XML/);
		} finally {
			g.DOMParser = before;
		}
	});
});

describe("CSV with an unclosed quote", () => {
	it("reports the line where the quoted field opens, keeping the rows before it", () => {
		const parsed = parseCsv(
			'id,name,lat,lng,radius\nok,Fine,48.86,2.33,100\nbad,"Never closed,48.86,2.33,100\n',
		);
		expect(parsed.lines).toEqual([2]);
		expect(parsed.problems).toEqual([
			expect.objectContaining({ line: 3, message: "a quoted field is never closed" }),
		]);
	});
});
