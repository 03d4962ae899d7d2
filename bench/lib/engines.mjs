// The in-process engines of the matcher benchmark. Each is built from the same API-shaped
// Features and answers `match(lat, lng)` with the ids of the fences containing the point,
// sorted, under the same definition of membership as src/geo/exact.ts: a polygon by
// `@turf/boolean-point-in-polygon` (boundary inside), a circle by `@turf/distance` <= radius.
import { booleanPointInPolygon } from "@turf/boolean-point-in-polygon";
import { distance } from "@turf/distance";
import Flatbush from "flatbush";

const R = 6371008.8;
const M_PER_DEG = (R * Math.PI) / 180;
const D2R = Math.PI / 180;
const METERS = { units: "meters" };

/** The turf test of one feature, as a JavaScript engineer would write it. */
function contains(feature, pt) {
	const g = feature.geometry;
	if (g.type === "Point") return distance(g.coordinates, pt, METERS) <= feature.properties.radius;
	return booleanPointInPolygon(pt, g);
}

/**
 * A lng/lat box that holds the whole fence (for a circle: its cap, with a relative margin far
 * above rounding, so the box never loses a point turf calls inside).
 *
 * @returns [minLng, minLat, maxLng, maxLat]
 */
export function fenceBox(feature) {
	const g = feature.geometry;
	if (g.type === "Point") {
		const [lng, lat] = g.coordinates;
		const r = feature.properties.radius;
		const dLat = (r / M_PER_DEG) * 1.001 + 1e-9;
		const dLng =
			(Math.asin(Math.min(1, Math.sin(r / R) / Math.cos((Math.abs(lat) + dLat) * D2R))) / D2R) * 1.001 + 1e-9;
		return [lng - dLng, lat - dLat, lng + dLng, lat + dLat];
	}
	let minLng = Number.POSITIVE_INFINITY;
	let minLat = Number.POSITIVE_INFINITY;
	let maxLng = Number.NEGATIVE_INFINITY;
	let maxLat = Number.NEGATIVE_INFINITY;
	const polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
	for (const polygon of polygons) {
		for (const ring of polygon) {
			for (const [x, y] of ring) {
				if (x < minLng) minLng = x;
				if (x > maxLng) maxLng = x;
				if (y < minLat) minLat = y;
				if (y > maxLat) maxLat = y;
			}
		}
	}
	return [minLng, minLat, maxLng, maxLat];
}

/** Every fence tested with turf, no index: the baseline anyone can write in five minutes. */
export function naiveEngine(features) {
	return {
		match(lat, lng) {
			const pt = [lng, lat];
			const out = [];
			for (const f of features) if (contains(f, pt)) out.push(f.properties.id);
			return out;
		},
	};
}

/**
 * A packed Hilbert R-tree (flatbush) of fence bounding boxes, then the same turf test on each
 * box hit: what a JavaScript engineer would build.
 */
export function rtreeEngine(features) {
	const index = new Flatbush(features.length);
	for (const f of features) {
		const [a, b, c, d] = fenceBox(f);
		index.add(a, b, c, d);
	}
	index.finish();
	return {
		match(lat, lng) {
			const hits = index.search(lng, lat, lng, lat);
			if (hits.length === 0) return hits;
			const pt = [lng, lat];
			const out = [];
			for (const i of hits) {
				const f = features[i];
				if (contains(f, pt)) out.push(f.properties.id);
			}
			if (out.length > 1) out.sort();
			return out;
		},
	};
}
