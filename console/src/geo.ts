/**
 * Geometry for drawing: circles (Point + radius) become polygons, since MapLibre draws a
 * circle layer in pixels, not metres. Pure.
 */
import type { Feature, FeatureCollection, Polygon, Position } from "./geojson.js";

const EARTH_RADIUS_METERS = 6371008.8;

/** A geodesic circle as a closed ring of `steps` + 1 positions, `[lng, lat]`. */
export function circleRing(lng: number, lat: number, radiusMeters: number, steps = 64): Position[] {
	const d = radiusMeters / EARTH_RADIUS_METERS;
	const φ1 = (lat * Math.PI) / 180;
	const λ1 = (lng * Math.PI) / 180;
	const ring: Position[] = [];
	for (let i = 0; i < steps; i++) {
		const θ = (2 * Math.PI * i) / steps;
		const φ2 = Math.asin(Math.sin(φ1) * Math.cos(d) + Math.cos(φ1) * Math.sin(d) * Math.cos(θ));
		const λ2 =
			λ1 + Math.atan2(Math.sin(θ) * Math.sin(d) * Math.cos(φ1), Math.cos(d) - Math.sin(φ1) * Math.sin(φ2));
		ring.push([(((λ2 * 180) / Math.PI + 540) % 360) - 180, (φ2 * 180) / Math.PI]);
	}
	const first = ring[0];
	if (first) ring.push([...first]);
	return ring;
}

/** The fences as drawable polygons: circles converted, polygons as they are. */
export function drawableFences(fc: FeatureCollection): FeatureCollection {
	const features: Feature[] = [];
	for (const f of fc.features) {
		const g = f.geometry;
		if (g.type === "Point") {
			const radius = Number(f.properties.radius ?? 0);
			const [lng, lat] = g.coordinates;
			if (lng === undefined || lat === undefined || !(radius > 0)) continue;
			const polygon: Polygon = { type: "Polygon", coordinates: [circleRing(lng, lat, radius)] };
			features.push({ ...f, geometry: polygon });
		} else features.push(f);
	}
	return { type: "FeatureCollection", features };
}

/** `[west, south, east, north]` of every position, or null when there is none. */
export function bounds(fc: FeatureCollection): [number, number, number, number] | null {
	let w = Number.POSITIVE_INFINITY;
	let s = Number.POSITIVE_INFINITY;
	let e = Number.NEGATIVE_INFINITY;
	let n = Number.NEGATIVE_INFINITY;
	const visit = (p: Position) => {
		const [x, y] = p;
		if (x === undefined || y === undefined) return;
		w = Math.min(w, x);
		e = Math.max(e, x);
		s = Math.min(s, y);
		n = Math.max(n, y);
	};
	for (const f of fc.features) {
		const g = f.geometry;
		if (g.type === "Point") visit(g.coordinates);
		else if (g.type === "Polygon") for (const r of g.coordinates) r.forEach(visit);
		else if (g.type === "MultiPolygon") for (const p of g.coordinates) for (const r of p) r.forEach(visit);
	}
	return Number.isFinite(w) ? [w, s, e, n] : null;
}
