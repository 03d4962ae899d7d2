/** Traces for `edge-offers replay`: GPX and GeoJSON with or without times, the demo format. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseTrace } from "../../cli/trace.js";
import { distanceMeters } from "../../scripts/lib/trace.mjs";

const opts = { accuracy: 12, intervalSeconds: 5 };

describe("replay traces", () => {
	it("reads the sample GPX walk: times from the track, into the store's fence and out", () => {
		const trace = parseTrace(
			"geofences/sample-walk.gpx",
			readFileSync("geofences/sample-walk.gpx", "utf8"),
			opts,
		);
		expect(trace.pings).toHaveLength(84);
		expect(trace.pings[0]).toMatchObject({ accuracy: 12, offsetSeconds: 0 });
		expect(trace.pings[1]?.offsetSeconds).toBe(10);
		// paris-003 of sample-stores.csv: 48.85604, 2.35135, radius 100 m.
		const store = { lat: 48.85604, lng: 2.35135 };
		const inside = trace.pings.map((p) => distanceMeters(p, store) < 100);
		expect(inside[0]).toBe(false);
		expect(inside.at(-1)).toBe(false);
		expect(inside.some(Boolean)).toBe(true);
	});

	it("spaces GeoJSON points without times by the interval, and uses times when every point has one", () => {
		const line = {
			type: "Feature",
			geometry: {
				type: "LineString",
				coordinates: [
					[2.35, 48.85],
					[2.351, 48.851],
					[2.352, 48.852],
				],
			},
			properties: {},
		};
		expect(parseTrace("w.geojson", JSON.stringify(line), opts).pings.map((p) => p.offsetSeconds)).toEqual([
			0, 5, 10,
		]);
		const timed = {
			type: "FeatureCollection",
			features: [
				{
					type: "Feature",
					geometry: { type: "Point", coordinates: [2.35, 48.85] },
					properties: { time: "2026-06-01T10:00:00Z" },
				},
				{
					type: "Feature",
					geometry: { type: "Point", coordinates: [2.351, 48.851] },
					properties: { time: "2026-06-01T10:00:30Z" },
				},
			],
		};
		expect(
			parseTrace("w.geojson", JSON.stringify(timed), opts).pings.map((p) => [p.lat, p.offsetSeconds]),
		).toEqual([
			[48.85, 0],
			[48.851, 30],
		]);
	});

	it("reads the demo trace format with its person", () => {
		const trace = parseTrace(
			"geofences/demo-walk.json",
			readFileSync("geofences/demo-walk.json", "utf8"),
			opts,
		);
		expect(trace.userId).toEqual(expect.any(String));
		expect(trace.pings.length).toBeGreaterThan(1);
	});

	it("refuses a trace with nothing to play or times going back", () => {
		expect(() => parseTrace("e.geojson", '{"type": "FeatureCollection", "features": []}', opts)).toThrow(
			/no track points/,
		);
		const back = {
			type: "Feature",
			geometry: {
				type: "LineString",
				coordinates: [
					[2.35, 48.85],
					[2.351, 48.851],
				],
			},
			properties: { coordinateProperties: { times: ["2026-06-01T10:00:30Z", "2026-06-01T10:00:00Z"] } },
		};
		expect(() => parseTrace("b.geojson", JSON.stringify(back), opts)).toThrow(/not later/);
	});
});
