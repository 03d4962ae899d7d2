// The matcher benchmark's workload: a seeded synthetic region of cities with store geofences,
// and pings from the people who live there. Same seed and size, same fences and pings.
//
// Model (numbers chosen to look like a retail geofencing tenant, not tuned for any engine):
// - Cities: one per 2,000 fences, sized by a Zipf law (a few big ones, a long tail), their
//   centres spread over a square about 45 km x sqrt(cities) wide around 48.5 N, 2.5 E.
// - Fences in a city: a 2D Gaussian around its centre, at most ~30 fences per km² in the core
//   (so malls and high streets overlap, as they do) and fading out into the suburbs.
// - Shapes: 60 % circles of 50-300 m radius; 40 % polygons of 5-200 vertices (log-uniform, so
//   most are building outlines of 5-30 vertices and a few are big site outlines), 30-250 m
//   across the centre; 10 % of polygons have a hole (a courtyard), 2 % are two-part
//   MultiPolygons (a store and its car park).
// - Pings: 80 % residents (the city's Gaussian, three times wider: people live and move
//   around stores, mostly not in one), 12 % visitors near a store (uniform in a disc 1.3 times
//   its size), 8 % anywhere in the region (roads, countryside). Most are outside every fence.

import { prng } from "../../test/helpers/prng.ts";

const M_PER_DEG = (6371008.8 * Math.PI) / 180;
const D2R = Math.PI / 180;
const BASE_LAT = 48.5;
const BASE_LNG = 2.5;
const FENCES_PER_CITY = 2_000;
const CORE_DENSITY_PER_KM2 = 30;
const CITY_SPACING_KM = 45;

/**
 * Generates the fences (API-shaped GeoJSON Features, ids `f0000000`.. in order) and keeps what
 * the ping generator needs.
 *
 * @param {number} count number of fences
 * @param {number} seed PRNG seed
 */
export function makeCity(count, seed) {
	const rnd = prng(seed);
	const gauss = () => {
		// Box-Muller; one value per call is enough here.
		const u = 1 - rnd();
		return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
	};
	const logBetween = (lo, hi) => Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * rnd());

	const cityCount = Math.max(1, Math.round(count / FENCES_PER_CITY));
	const side = CITY_SPACING_KM * 1000 * Math.sqrt(cityCount);
	const weights = Array.from({ length: cityCount }, (_, i) => 1 / (i + 1) ** 0.8);
	const total = weights.reduce((s, w) => s + w, 0);
	const cities = weights.map((w) => {
		const lat = BASE_LAT + ((rnd() - 0.5) * side) / M_PER_DEG;
		const lng = BASE_LNG + ((rnd() - 0.5) * side) / (M_PER_DEG * Math.cos(lat * D2R));
		return { lat, lng, share: w / total, sigma: 0, fences: 0 };
	});
	// Whole fences per city, adding up to `count`.
	let assigned = 0;
	for (const c of cities) {
		c.fences = Math.floor(c.share * count);
		assigned += c.fences;
	}
	for (let i = 0; assigned < count; i = (i + 1) % cityCount, assigned++) cities[i].fences++;
	for (const c of cities)
		c.sigma = Math.sqrt(Math.max(1, c.fences) / (2 * Math.PI * CORE_DENSITY_PER_KM2)) * 1000;

	/** (lat, lng) `east` and `north` metres from (lat, lng). */
	const offset = (lat, lng, east, north) => [
		lat + north / M_PER_DEG,
		lng + east / (M_PER_DEG * Math.cos(lat * D2R)),
	];
	const ring = (lat, lng, n, rOf, phase = 0) => {
		const out = [];
		for (let i = 0; i < n; i++) {
			const a = phase + (2 * Math.PI * i) / n;
			const r = rOf(i);
			const [y, x] = offset(lat, lng, r * Math.cos(a), r * Math.sin(a));
			out.push([x, y]);
		}
		out.push([out[0][0], out[0][1]]);
		return out;
	};
	/** A star-shaped (hence simple) outline: vertices at even angles, radius jittered. */
	const outline = (lat, lng, size, n) =>
		ring(lat, lng, n, () => size * (0.6 + 0.4 * rnd()), rnd() * 2 * Math.PI);

	const features = new Array(count);
	/** Per fence: centre lat, lng, reach in metres (for visitors' pings). */
	const centres = new Float64Array(count * 3);
	let k = 0;
	let circles = 0;
	let polygons = 0;
	let withHoles = 0;
	let multi = 0;
	let vertices = 0;
	for (const c of cities) {
		for (let j = 0; j < c.fences; j++, k++) {
			const [lat, lng] = offset(c.lat, c.lng, gauss() * c.sigma, gauss() * c.sigma);
			const id = `f${String(k).padStart(7, "0")}`;
			let geometry;
			let properties;
			let reach;
			if (rnd() < 0.6) {
				const radius = Math.round(logBetween(50, 300) * 10) / 10;
				geometry = { type: "Point", coordinates: [lng, lat] };
				properties = { id, radius };
				reach = radius;
				circles++;
			} else {
				const size = logBetween(30, 250);
				const n = Math.round(logBetween(5, 200));
				const kind = rnd();
				if (kind < 0.02) {
					// Store and car park: two outlines side by side, each ~ half the size.
					const [bLat, bLng] = offset(lat, lng, size * 1.3, 0);
					const [aLat, aLng] = offset(lat, lng, -size * 0.3, 0);
					geometry = {
						type: "MultiPolygon",
						coordinates: [
							[outline(aLat, aLng, size * 0.5, n)],
							[outline(bLat, bLng, size * 0.6, Math.max(5, n >> 1))],
						],
					};
					vertices += n + Math.max(5, n >> 1);
					reach = size * 2;
					multi++;
				} else if (kind < 0.12) {
					// Courtyard: the shell never comes closer than 0.6 size to the centre, the hole
					// stays within 0.35 size of it.
					const shell = outline(lat, lng, size, n);
					const m = 4 + Math.floor(rnd() * 8);
					// Holes are clockwise in GeoJSON; turf and PostGIS do not care, the validator neither.
					const hole = ring(lat, lng, m, () => size * (0.2 + 0.15 * rnd())).reverse();
					geometry = { type: "Polygon", coordinates: [shell, hole] };
					vertices += n + m;
					reach = size;
					withHoles++;
				} else {
					geometry = { type: "Polygon", coordinates: [outline(lat, lng, size, n)] };
					vertices += n;
					reach = size;
				}
				properties = { id };
				polygons++;
			}
			features[k] = { type: "Feature", geometry, properties };
			centres[3 * k] = lat;
			centres[3 * k + 1] = lng;
			centres[3 * k + 2] = reach;
		}
	}
	const stats = { cities: cityCount, circles, polygons, polygonsWithHoles: withHoles, multiPolygons: multi };
	stats.avgPolygonVertices = polygons > 0 ? Number((vertices / polygons).toFixed(1)) : 0;
	stats.regionKm = Number((side / 1000).toFixed(0));
	return { features, cities, centres, side, stats };
}

/**
 * Pings as [lat0, lng0, lat1, lng1, ...] (Float64Array), in random order.
 *
 * @param {ReturnType<typeof makeCity>} city
 * @param {number} count
 * @param {number} seed
 */
export function makePings(city, count, seed) {
	const rnd = prng(seed);
	const gauss = () => {
		const u = 1 - rnd();
		return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
	};
	const { cities, centres, side } = city;
	const fenceCount = centres.length / 3;
	const cumulative = [];
	let acc = 0;
	for (const c of cities) {
		acc += c.fences;
		cumulative.push(acc);
	}
	const out = new Float64Array(count * 2);
	const kinds = { resident: 0, visitor: 0, anywhere: 0 };
	for (let i = 0; i < count; i++) {
		const kind = rnd();
		let lat;
		let lng;
		if (kind < 0.8) {
			// A resident: pick a city by its number of fences (people live where the stores are).
			const t = rnd() * acc;
			let c = 0;
			while (cumulative[c] <= t) c++;
			const city0 = cities[c];
			lat = city0.lat + (3 * gauss() * city0.sigma) / M_PER_DEG;
			lng = city0.lng + (3 * gauss() * city0.sigma) / (M_PER_DEG * Math.cos(city0.lat * D2R));
			kinds.resident++;
		} else if (kind < 0.92) {
			const f = Math.floor(rnd() * fenceCount);
			const r = 1.3 * centres[3 * f + 2] * Math.sqrt(rnd());
			const a = rnd() * 2 * Math.PI;
			lat = centres[3 * f] + (r * Math.sin(a)) / M_PER_DEG;
			lng = centres[3 * f + 1] + (r * Math.cos(a)) / (M_PER_DEG * Math.cos(centres[3 * f] * D2R));
			kinds.visitor++;
		} else {
			lat = BASE_LAT + ((rnd() - 0.5) * side) / M_PER_DEG;
			lng = BASE_LNG + ((rnd() - 0.5) * side) / (M_PER_DEG * Math.cos(lat * D2R));
			kinds.anywhere++;
		}
		out[2 * i] = lat;
		out[2 * i + 1] = lng;
	}
	return { pings: out, kinds };
}
