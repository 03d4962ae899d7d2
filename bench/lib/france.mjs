// A national chain's stores over metropolitan France: seeded, so the same seed and count give the
// same stores (ids, centres, radii) run after run.
//
// Model (a retail network, not tuned for the service):
// - 80 % of stores in the 50 largest urban areas, by a Zipf law on their rank (weight 1/rank:
//   Paris gets about 22 % of the urban stores, Saint-Brieuc 0.4 %), each a 2D Gaussian around the
//   city centre whose width follows its size (about 25 stores per km² at the core of the largest,
//   so Paris spreads over a ~9 km standard deviation at 100,000 stores).
// - 20 % spread over the whole country (villages, roadsides, retail parks): uniform inside a
//   rough outline of the mainland and Corsica.
// - Every store is a circle (GeoJSON Point + `radius`) of 50 to 300 m, uniform; ids `s0000000`..
//   in generation order (a city's stores are therefore interleaved with the rest, as a real
//   export sorted by store number would be).
// Points that fall outside the outline (the sea next to Marseille, Nice, Brest) are drawn again.

import { prng } from "../../test/helpers/prng.ts";

const M_PER_DEG = (6371008.8 * Math.PI) / 180;
const D2R = Math.PI / 180;
export const URBAN_SHARE = 0.8;
/** Stores per km² at the centre of the largest city (the others: the same law, fewer stores). */
const CORE_DENSITY_PER_KM2 = 25;
export const MIN_RADIUS_M = 50;
export const MAX_RADIUS_M = 300;

/** The 50 largest urban areas of metropolitan France, largest first: name, lat, lng. */
export const CITIES = [
	["Paris", 48.8566, 2.3522],
	["Lyon", 45.764, 4.8357],
	["Marseille", 43.2965, 5.3698],
	["Toulouse", 43.6047, 1.4442],
	["Lille", 50.6292, 3.0573],
	["Bordeaux", 44.8378, -0.5792],
	["Nice", 43.7102, 7.262],
	["Nantes", 47.2184, -1.5536],
	["Strasbourg", 48.5734, 7.7521],
	["Montpellier", 43.6108, 3.8767],
	["Rennes", 48.1173, -1.6778],
	["Grenoble", 45.1885, 5.7245],
	["Rouen", 49.4432, 1.0999],
	["Toulon", 43.1242, 5.928],
	["Saint-Étienne", 45.4397, 4.3872],
	["Tours", 47.3941, 0.6848],
	["Nancy", 48.6921, 6.1844],
	["Clermont-Ferrand", 45.7772, 3.087],
	["Orléans", 47.903, 1.9093],
	["Avignon", 43.9493, 4.8055],
	["Caen", 49.1829, -0.3707],
	["Angers", 47.4784, -0.5632],
	["Metz", 49.1193, 6.1757],
	["Dijon", 47.322, 5.0415],
	["Reims", 49.2583, 4.0317],
	["Brest", 48.3904, -4.4861],
	["Le Mans", 48.0061, 0.1996],
	["Mulhouse", 47.7508, 7.3359],
	["Perpignan", 42.6887, 2.8948],
	["Limoges", 45.8336, 1.2611],
	["Amiens", 49.8941, 2.2958],
	["Besançon", 47.2378, 6.0241],
	["Pau", 43.2951, -0.3708],
	["Le Havre", 49.4944, 0.1079],
	["Bayonne", 43.4929, -1.4748],
	["Poitiers", 46.5802, 0.3404],
	["Annecy", 45.8992, 6.1294],
	["Nîmes", 43.8367, 4.3601],
	["La Rochelle", 46.1603, -1.1511],
	["Ajaccio", 41.9192, 8.7386],
	["Chambéry", 45.5646, 5.9178],
	["Valence", 44.9334, 4.8924],
	["Lorient", 47.7483, -3.37],
	["Troyes", 48.2973, 4.0744],
	["Bastia", 42.697, 9.4503],
	["Calais", 50.9513, 1.8587],
	["Dunkerque", 51.0344, 2.3768],
	["Béziers", 43.3442, 3.2158],
	["Quimper", 47.996, -4.102],
	["Saint-Brieuc", 48.5136, -2.7653],
];

/** A rough outline of mainland France, [lng, lat], clockwise from Dunkerque (about 10 km accurate). */
const MAINLAND = [
	[2.37, 51.06],
	[2.55, 51.09],
	[3.15, 50.79],
	[3.7, 50.33],
	[4.2, 50.05],
	[4.85, 50.15],
	[5.0, 49.8],
	[5.8, 49.55],
	[6.35, 49.47],
	[7.0, 49.15],
	[8.2, 48.97],
	[7.8, 48.6],
	[7.55, 47.6],
	[7.0, 47.45],
	[6.1, 46.6],
	[6.0, 46.15],
	[6.6, 46.4],
	[6.86, 45.83],
	[7.1, 45.5],
	[6.6, 45.1],
	[7.0, 44.7],
	[6.9, 44.4],
	[7.5, 43.78],
	[7.25, 43.69],
	[6.65, 43.17],
	[5.93, 43.08],
	[5.35, 43.21],
	[4.8, 43.38],
	[4.0, 43.5],
	[3.1, 43.1],
	[3.05, 42.5],
	[2.0, 42.4],
	[1.4, 42.6],
	[0.7, 42.8],
	[-0.3, 42.8],
	[-1.4, 43.25],
	[-1.78, 43.37],
	[-1.5, 43.55],
	[-1.25, 44.6],
	[-1.2, 45.7],
	[-1.15, 46.15],
	[-1.8, 46.5],
	[-2.2, 47.1],
	[-2.5, 47.3],
	[-3.4, 47.7],
	[-4.4, 47.8],
	[-4.75, 48.3],
	[-4.4, 48.65],
	[-3.5, 48.8],
	[-2.0, 48.65],
	[-1.55, 48.65],
	[-1.6, 49.2],
	[-1.95, 49.7],
	[-1.25, 49.7],
	[-1.1, 49.35],
	[-0.2, 49.3],
	[0.0, 49.42],
	[0.08, 49.48],
	[0.12, 49.6],
	[0.37, 49.77],
	[1.4, 50.1],
	[1.6, 50.7],
	[1.85, 50.95],
	[2.37, 51.06],
];
const CORSICA = [
	[9.4, 43.0],
	[9.55, 42.6],
	[9.55, 42.1],
	[9.2, 41.37],
	[8.8, 41.7],
	[8.6, 42.2],
	[8.75, 42.55],
	[9.3, 42.7],
	[9.4, 43.0],
];
const OUTLINES = [MAINLAND, CORSICA];
/** Share of the rural stores in Corsica (its share of the country's area). */
const CORSICA_SHARE = 0.016;

/** Ray casting: whether [lng, lat] lies inside the closed ring. */
function inRing(ring, lng, lat) {
	let inside = false;
	for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
		const [xi, yi] = ring[i];
		const [xj, yj] = ring[j];
		if (yi > lat !== yj > lat && lng < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
	}
	return inside;
}

/** Whether a point is on land in the outline (mainland or Corsica). */
export function inFrance(lat, lng) {
	return OUTLINES.some((ring) => inRing(ring, lng, lat));
}

function bbox(ring) {
	const lngs = ring.map((p) => p[0]);
	const lats = ring.map((p) => p[1]);
	return {
		minLng: Math.min(...lngs),
		maxLng: Math.max(...lngs),
		minLat: Math.min(...lats),
		maxLat: Math.max(...lats),
	};
}

/**
 * Generates the stores.
 *
 * @param {number} count number of stores
 * @param {number} seed PRNG seed
 * @returns {{ features: object[], stores: { id: string, lat: number, lng: number, radius: number, city: string | null }[], cities: { name: string, lat: number, lng: number, stores: number, sigmaKm: number }[], stats: object }}
 */
export function makeFrance(count, seed) {
	for (const [name, lat, lng] of CITIES)
		if (!inFrance(lat, lng)) throw new Error(`france.mjs: ${name} lies outside the outline`);
	const rnd = prng(seed);
	const gauss = () => {
		const u = 1 - rnd();
		return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
	};
	const urban = Math.round(count * URBAN_SHARE);
	const weights = CITIES.map((_, i) => 1 / (i + 1));
	const total = weights.reduce((s, w) => s + w, 0);
	const cities = CITIES.map(([name, lat, lng], i) => ({
		name,
		lat,
		lng,
		stores: Math.floor((weights[i] / total) * urban),
		sigmaKm: 0,
	}));
	let assigned = cities.reduce((s, c) => s + c.stores, 0);
	for (let i = 0; assigned < urban; i = (i + 1) % cities.length, assigned++) cities[i].stores++;
	for (const c of cities) c.sigmaKm = Math.sqrt(Math.max(1, c.stores) / (2 * Math.PI * CORE_DENSITY_PER_KM2));

	// Which city (or none: rural) each store belongs to, shuffled so ids interleave.
	const owner = new Int16Array(count).fill(-1);
	let k = 0;
	cities.forEach((c, ci) => {
		for (let j = 0; j < c.stores; j++) owner[k++] = ci;
	});
	for (let i = count - 1; i > 0; i--) {
		const j = Math.floor(rnd() * (i + 1));
		const t = owner[i];
		owner[i] = owner[j];
		owner[j] = t;
	}

	const mainBox = bbox(MAINLAND);
	const corsicaBox = bbox(CORSICA);
	const stores = new Array(count);
	const features = new Array(count);
	let redrawn = 0;
	for (let i = 0; i < count; i++) {
		const ci = owner[i];
		let lat;
		let lng;
		for (;;) {
			if (ci >= 0) {
				const c = cities[ci];
				const s = c.sigmaKm * 1000;
				lat = c.lat + (gauss() * s) / M_PER_DEG;
				lng = c.lng + (gauss() * s) / (M_PER_DEG * Math.cos(c.lat * D2R));
			} else {
				const box = rnd() < CORSICA_SHARE ? corsicaBox : mainBox;
				lat = box.minLat + rnd() * (box.maxLat - box.minLat);
				lng = box.minLng + rnd() * (box.maxLng - box.minLng);
			}
			if (inFrance(lat, lng)) break;
			if (++redrawn > 100 * (count + 1000))
				throw new Error("france.mjs: the outline misses a city (points keep falling outside)");
		}
		// 1e-6 degrees is about 10 cm: what a store database holds.
		lat = Math.round(lat * 1e6) / 1e6;
		lng = Math.round(lng * 1e6) / 1e6;
		const radius = Math.round((MIN_RADIUS_M + rnd() * (MAX_RADIUS_M - MIN_RADIUS_M)) * 10) / 10;
		const id = `s${String(i).padStart(7, "0")}`;
		stores[i] = { id, lat, lng, radius, city: ci >= 0 ? cities[ci].name : null };
		features[i] = {
			type: "Feature",
			geometry: { type: "Point", coordinates: [lng, lat] },
			properties: { id, radius, name: `Store ${i}` },
		};
	}
	const stats = {
		stores: count,
		urban,
		rural: count - urban,
		cities: cities.length,
		largestCity: {
			name: cities[0].name,
			stores: cities[0].stores,
			sigmaKm: Number(cities[0].sigmaKm.toFixed(1)),
		},
		smallestCity: {
			name: cities.at(-1).name,
			stores: cities.at(-1).stores,
			sigmaKm: Number(cities.at(-1).sigmaKm.toFixed(1)),
		},
		radiusM: [MIN_RADIUS_M, MAX_RADIUS_M],
		redrawnOffshore: redrawn,
	};
	return { features, stores, cities, stats };
}

/**
 * A point `east` and `north` metres from (lat, lng).
 *
 * @returns {[number, number]} [lat, lng]
 */
export function offsetMetres(lat, lng, east, north) {
	return [lat + north / M_PER_DEG, lng + east / (M_PER_DEG * Math.cos(lat * D2R))];
}

/** Great-circle distance in metres (haversine). */
export function distanceMetres(lat1, lng1, lat2, lng2) {
	const dLat = (lat2 - lat1) * D2R;
	const dLng = (lng2 - lng1) * D2R;
	const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * D2R) * Math.cos(lat2 * D2R) * Math.sin(dLng / 2) ** 2;
	return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(a)));
}
