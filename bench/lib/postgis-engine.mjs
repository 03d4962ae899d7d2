// The PostGIS peer: the fences in a table with a GiST index on their boxes, queried with the
// same membership semantics as the other engines.
//
// - Polygons: `ST_Intersects(poly, point)`: planar in lng/lat, boundary inside, holes out, any
//   part of a MultiPolygon, as turf's booleanPointInPolygon.
// - Circles: turf's haversine on a sphere of 6371008.8 m <= radius. PostGIS's spherical
//   `ST_Distance(geography, geography, false)` uses the WGS 84 mean radius, (2a + b) / 3 =
//   6371008.7714 m, so the radius is scaled by the ratio of the two spheres: the same test.
//   (The default, spheroidal distance differs from turf's by up to 0.5 %, metres at the edge.)
// - Index: GiST on a box column (the polygon's envelope; the circle's cap box as the R-tree
//   peer computes it), which the planner uses for `box && point`.
import pg from "pg";
import { fenceBox } from "./engines.mjs";

const WGS84_A = 6378137;
const WGS84_B = WGS84_A * (1 - 1 / 298.257223563);
/** turf radius over PostGIS's sphere radius, applied to radii. */
export const SPHERE_RATIO = (2 * WGS84_A + WGS84_B) / 3 / 6371008.8;

const POINT = "ST_SetSRID(ST_MakePoint($1, $2), 4326)";
const QUERY = `SELECT id FROM fences WHERE box && ${POINT} AND (CASE WHEN radius IS NULL THEN ST_Intersects(poly, ${POINT}) ELSE ST_Distance(center, ${POINT}::geography, false) <= radius * ${SPHERE_RATIO} END) ORDER BY id`;
const BATCH = `SELECT p.i::int AS i, f.id FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY AS p(lng, lat, i) JOIN fences f ON f.box && ST_SetSRID(ST_MakePoint(p.lng, p.lat), 4326) AND (CASE WHEN f.radius IS NULL THEN ST_Intersects(f.poly, ST_SetSRID(ST_MakePoint(p.lng, p.lat), 4326)) ELSE ST_Distance(f.center, ST_SetSRID(ST_MakePoint(p.lng, p.lat), 4326)::geography, false) <= f.radius * ${SPHERE_RATIO} END) ORDER BY p.i, f.id`;

/** Pings per batched query. */
export const BATCH_SIZE = 10_000;

/**
 * Connects, loads the fences and indexes them.
 *
 * @returns the engine: `match(lat, lng)` (prepared statement, one round trip per ping),
 *   `matchBatch(pings, from, to)` (one set query per BATCH_SIZE pings, answers per ping),
 *   `backendPid`, `loadMs`, `indexMs`, `tableBytes`, `close()`.
 */
export async function postgisEngine(port, features, log) {
	const client = new pg.Client({ host: "127.0.0.1", port, user: "bench", database: "postgres" });
	await client.connect();
	await client.query("CREATE EXTENSION IF NOT EXISTS postgis");
	await client.query("DROP TABLE IF EXISTS fences");
	await client.query(
		"CREATE TABLE fences (n int PRIMARY KEY, id text NOT NULL, poly geometry, center geography(Point, 4326), radius float8, box geometry(Polygon, 4326) NOT NULL)",
	);
	const t0 = performance.now();
	const CHUNK = 5_000;
	for (let start = 0; start < features.length; start += CHUNK) {
		const cols = Array.from({ length: 10 }, () => []);
		for (let n = start; n < Math.min(features.length, start + CHUNK); n++) {
			const f = features[n];
			const g = f.geometry;
			const [x0, y0, x1, y1] = fenceBox(f);
			const circle = g.type === "Point";
			const row = [
				n,
				f.properties.id,
				circle ? null : JSON.stringify(g),
				circle ? g.coordinates[0] : null,
				circle ? g.coordinates[1] : null,
				circle ? f.properties.radius : null,
				x0,
				y0,
				x1,
				y1,
			];
			for (let c = 0; c < 10; c++) cols[c].push(row[c]);
		}
		await client.query(
			`INSERT INTO fences SELECT n, id, ST_SetSRID(ST_GeomFromGeoJSON(gj), 4326),
			   CASE WHEN r IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(clng, clat), 4326)::geography END,
			   r, ST_MakeEnvelope(x0, y0, x1, y1, 4326)
			 FROM unnest($1::int[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[],
			   $7::float8[], $8::float8[], $9::float8[], $10::float8[]) AS t(n, id, gj, clng, clat, r, x0, y0, x1, y1)`,
			cols,
		);
		if (start > 0 && start % 100_000 === 0) log(`PostGIS: loaded ${start} fences`);
	}
	const loadMs = performance.now() - t0;
	const t1 = performance.now();
	await client.query("CREATE INDEX fences_box ON fences USING gist (box)");
	await client.query("VACUUM ANALYZE fences");
	const indexMs = performance.now() - t1;
	const size = await client.query("SELECT pg_total_relation_size('fences')::float8 AS bytes");
	const tableBytes = Number(size.rows[0].bytes);
	const pid = (await client.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
	const plan = await client.query({
		text: `EXPLAIN ${BATCH}`,
		values: [
			[2.35, 2.36],
			[48.85, 48.86],
		],
	});
	const usesIndex = plan.rows.some((r) => /fences_box/.test(r["QUERY PLAN"]));
	if (!usesIndex) log(`PostGIS: warning, the batched plan does not use the GiST index`);

	return {
		backendPid: pid,
		loadMs,
		indexMs,
		tableBytes,
		async match(lat, lng) {
			const r = await client.query({ name: "match", text: QUERY, values: [lng, lat], rowMode: "array" });
			return r.rows.map((row) => row[0]);
		},
		/** Answers for pings[from, to) as arrays of ids (index 0 = ping `from`). */
		async matchBatch(pings, from, to) {
			const out = Array.from({ length: to - from }, () => []);
			for (let s = from; s < to; s += BATCH_SIZE) {
				const e = Math.min(to, s + BATCH_SIZE);
				const lngs = new Array(e - s);
				const lats = new Array(e - s);
				for (let i = s; i < e; i++) {
					lats[i - s] = pings[2 * i];
					lngs[i - s] = pings[2 * i + 1];
				}
				const r = await client.query({ name: "batch", text: BATCH, values: [lngs, lats], rowMode: "array" });
				for (const [i, id] of r.rows) out[s - from + i - 1].push(id);
			}
			return out;
		},
		async close() {
			await client.end();
		},
	};
}
