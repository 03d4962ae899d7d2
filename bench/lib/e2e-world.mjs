// The end-to-end benchmark's people: each one lives just outside one store fence of the
// synthetic city (bench/lib/city.mjs) and, once in the run, walks into it.
//
// Every point is checked against an index of all the fences, so the expectation is exact:
// - home: outside every fence, and so are points around it (plain pings jitter a few metres);
// - entry point: inside the person's fence and no other, a short walk from home (40 to 200 m),
//   so the entering ping is a plausible walk (well under 100 m/s) a couple of seconds after the
//   person's last ping from home.
// A person's fence is theirs alone: each enter is a fresh person/fence pair, so no cooldown,
// cap or earlier visit can suppress it, and exactly one push is expected per enter.

const M_PER_DEG = (6371008.8 * Math.PI) / 180;
const D2R = Math.PI / 180;

/** (lat, lng) `east` and `north` metres from (lat, lng). */
export function offsetPoint(lat, lng, east, north) {
	return [lat + north / M_PER_DEG, lng + east / (M_PER_DEG * Math.cos(lat * D2R))];
}

/** Haversine metres. */
export function metresBetween(lat1, lng1, lat2, lng2) {
	const dLat = (lat2 - lat1) * D2R;
	const dLng = (lng2 - lng1) * D2R;
	const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * D2R) * Math.cos(lat2 * D2R) * Math.sin(dLng / 2) ** 2;
	return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Radius of the ring of points around home that must be outside every fence too. */
export const JITTER_CHECK_M = 8;
/** Plain pings land within this distance of home. */
export const JITTER_M = 5;
const ATTEMPTS_PER_FENCE = 24;

/**
 * Picks `count` people, each with a distinct fence, a home and an entry point.
 *
 * @param {object} opts
 * @param {ReturnType<typeof import("./city.mjs").makeCity>} opts.city
 * @param {{ match(lat: number, lng: number): string[] }} opts.index every fence of the city
 * @param {number} opts.count people wanted
 * @param {() => number} opts.rnd seeded draws in [0, 1)
 * @returns {{ people: Array<{ userId: string, deviceId: string, fenceId: string, home: [number, number], inside: [number, number], walkM: number }>, fencesTried: number }}
 */
export function placePeople({ city, index, count, rnd }) {
	const { features, centres } = city;
	const order = Array.from({ length: features.length }, (_, i) => i);
	for (let i = order.length - 1; i > 0; i--) {
		const j = Math.floor(rnd() * (i + 1));
		[order[i], order[j]] = [order[j], order[i]];
	}
	const outside = (lat, lng) => index.match(lat, lng).length === 0;
	const people = [];
	let tried = 0;
	for (const f of order) {
		if (people.length === count) break;
		tried++;
		const fenceId = features[f].properties.id;
		const only = (lat, lng) => {
			const m = index.match(lat, lng);
			return m.length === 1 && m[0] === fenceId;
		};
		const [cLat, cLng] = [centres[3 * f], centres[3 * f + 1]];
		const reach = centres[3 * f + 2];
		for (let attempt = 0; attempt < ATTEMPTS_PER_FENCE; attempt++) {
			const bearing = rnd() * 2 * Math.PI;
			const ux = Math.cos(bearing);
			const uy = Math.sin(bearing);
			const homeDist = reach + 40 + 80 * rnd();
			const home = offsetPoint(cLat, cLng, ux * homeDist, uy * homeDist);
			let clear = outside(home[0], home[1]);
			for (let k = 0; clear && k < 8; k++) {
				const a = (k * Math.PI) / 4;
				const p = offsetPoint(home[0], home[1], JITTER_CHECK_M * Math.cos(a), JITTER_CHECK_M * Math.sin(a));
				clear = outside(p[0], p[1]);
			}
			if (!clear) continue;
			// Walk from home towards the centre until inside this fence only, then 10 m further in.
			let inside = null;
			for (let d = homeDist - 5; d >= 0; d -= 5) {
				const p = offsetPoint(cLat, cLng, ux * d, uy * d);
				if (!only(p[0], p[1])) continue;
				const q = offsetPoint(cLat, cLng, ux * Math.max(0, d - 10), uy * Math.max(0, d - 10));
				inside = only(q[0], q[1]) ? q : p;
				break;
			}
			if (!inside) continue;
			const walkM = metresBetween(home[0], home[1], inside[0], inside[1]);
			if (walkM > 250) continue;
			const n = people.length;
			people.push({
				userId: `bench-${String(n).padStart(5, "0")}`,
				deviceId: "web",
				fenceId,
				home,
				inside,
				walkM,
			});
			break;
		}
	}
	if (people.length < count) {
		throw new Error(`placed only ${people.length} of ${count} people after trying every fence`);
	}
	return { people, fencesTried: tried };
}
