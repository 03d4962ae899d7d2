/**
 * Walking traces for `edge-offers replay`: GPX (tracks, routes or waypoints, via
 * @tmcw/togeojson), GeoJSON (LineString or MultiLineString with `coordinateProperties.times` or
 * `times`, or Point features with a `time` property), or the demo trace format of
 * `npm run replay` (`{userId, pings: [{lat, lng, accuracy, offsetSeconds}]}`). Points without
 * times are spaced `intervalSeconds` apart.
 */
import { gpx } from "@tmcw/togeojson";
import { DOMParser } from "@xmldom/xmldom";
import type { TracePing } from "../scripts/lib/trace.mjs";

export interface Trace {
	userId?: string;
	pings: TracePing[];
}

export interface TraceOptions {
	accuracy: number;
	intervalSeconds: number;
}

type Point = { lng: number; lat: number; time: number | null };

function fromCoordinates(coords: unknown, times: unknown): Point[] {
	if (!Array.isArray(coords)) return [];
	return coords.map((c, i) => {
		const t = Array.isArray(times) ? Date.parse(String(times[i])) : Number.NaN;
		return {
			lng: Number((c as number[])[0]),
			lat: Number((c as number[])[1]),
			time: Number.isFinite(t) ? t : null,
		};
	});
}

/** Points of GeoJSON features, in order. */
function pointsOf(features: unknown[]): Point[] {
	const out: Point[] = [];
	for (const f of features) {
		const feature = f as {
			geometry?: { type?: string; coordinates?: unknown };
			properties?: Record<string, unknown>;
		};
		const g = feature.geometry;
		const p = feature.properties ?? {};
		const cp = p.coordinateProperties as { times?: unknown } | undefined;
		const times = cp?.times ?? p.times ?? p.coordTimes;
		if (g?.type === "LineString") out.push(...fromCoordinates(g.coordinates, times));
		else if (g?.type === "MultiLineString" && Array.isArray(g.coordinates))
			g.coordinates.forEach((line, i) => {
				out.push(...fromCoordinates(line, Array.isArray(times) ? times[i] : undefined));
			});
		else if (g?.type === "Point") out.push(...fromCoordinates([g.coordinates], [p.time ?? p.timestamp]));
	}
	return out;
}

/** Reads a trace; throws an Error saying what is wrong. */
export function parseTrace(file: string, text: string, opts: TraceOptions): Trace {
	let points: Point[];
	let userId: string | undefined;
	if (file.toLowerCase().endsWith(".gpx") || text.trimStart().startsWith("<")) {
		const doc = new DOMParser().parseFromString(text, "text/xml");
		points = pointsOf(gpx(doc).features);
	} else {
		const json = JSON.parse(text) as Record<string, unknown>;
		if (Array.isArray(json.pings)) {
			userId = typeof json.userId === "string" ? json.userId : undefined;
			const pings = json.pings as TracePing[];
			for (const [i, p] of pings.entries())
				for (const k of ["lat", "lng", "accuracy", "offsetSeconds"] as const)
					if (typeof p?.[k] !== "number" || !Number.isFinite(p[k]))
						throw new Error(`pings[${i}].${k} must be a number`);
			return { userId, pings };
		}
		const features =
			json.type === "FeatureCollection"
				? (json.features as unknown[])
				: json.type === "Feature"
					? [json]
					: [];
		points = pointsOf(Array.isArray(features) ? features : []);
	}
	points = points.filter((p) => Number.isFinite(p.lat) && Number.isFinite(p.lng));
	if (points.length === 0)
		throw new Error(
			"no track points found (expected a GPX track, route or waypoints, or GeoJSON lines or points)",
		);
	const first = points[0]?.time ?? null;
	const timed = first !== null && points.every((p) => p.time !== null);
	const pings: TracePing[] = points.map((p, i) => ({
		lat: p.lat,
		lng: p.lng,
		accuracy: opts.accuracy,
		offsetSeconds: timed ? ((p.time ?? 0) - (first ?? 0)) / 1000 : i * opts.intervalSeconds,
	}));
	for (let i = 1; i < pings.length; i++) {
		const prev = pings[i - 1];
		const cur = pings[i];
		if (prev && cur && cur.offsetSeconds <= prev.offsetSeconds)
			throw new Error(`point ${i + 1} is not later than point ${i}: times must increase`);
	}
	return { userId, pings };
}
