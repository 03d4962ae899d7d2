// One fence count of the matcher benchmark, in its own process (fresh heap, --expose-gc), forked
// by bench/match.bench.mjs with the TypeScript resolve hooks: builds every engine, checks their
// answers equal, times them, and sends the figures back.
import { createFenceIndex, loadFenceIndex, serializeFenceIndex } from "../../src/geo/index.ts";
import { makeCity, makePings } from "./city.mjs";
import { naiveEngine, rtreeEngine } from "./engines.mjs";
import { processCpuSeconds } from "./postgis.mjs";
import { postgisEngine } from "./postgis-engine.mjs";

const config = JSON.parse(process.argv[2]);
const {
	fences,
	pings: pingCount,
	runs,
	builds,
	seed,
	postgisPort,
	naiveBudget,
	pgSample,
	pgBatchSample,
} = config;
const log = (msg) => process.stderr.write(`[${fences.toLocaleString("en")} fences] ${msg}\n`);

if (typeof globalThis.gc !== "function") throw new Error("run with --expose-gc");
const gc = globalThis.gc;
/**
 * Memory in use after a full GC: JS heap, `external` (ArrayBuffers and a few KB of other items)
 * and `arrayBuffers` (ArrayBuffers and SharedArrayBuffers: Node leaves the latter out of
 * `external`, and a large index lives in one, see buildMemory in src/geo/index.ts).
 */
function memory() {
	gc();
	gc();
	const m = process.memoryUsage();
	return { heap: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}
/** Bytes taken since `before`: the heap's growth plus off-heap growth, shared memory included. */
function grownSince(before) {
	const now = memory();
	return (
		now.heap - before.heap + Math.max(now.external - before.external, now.arrayBuffers - before.arrayBuffers)
	);
}
const median = (xs) => {
	const s = [...xs].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const cpuNow = () => {
	const u = process.cpuUsage();
	return (u.user + u.system) / 1e6;
};
const round = (x, digits = 3) => Number(x.toPrecision(digits));

// Workload. The memory of the GeoJSON input is measured: engines that answer with turf keep it.
const m0 = memory();
const city = makeCity(fences, seed);
const featuresBytes = grownSince(m0);
const { pings, kinds } = makePings(city, pingCount, seed + 1);
const { features } = city;
log(`city: ${JSON.stringify(city.stats)}`);

const engines = [];
/** Builds `builds` times (median time), measuring the memory of the first build. */
function build(name, make, retainsGeoJson) {
	const times = [];
	let engine;
	let bytes = 0;
	for (let b = 0; b < builds; b++) {
		engine = undefined;
		const before = memory();
		const t0 = performance.now();
		const c0 = cpuNow();
		engine = make();
		const c1 = cpuNow();
		times.push({ wall: performance.now() - t0, cpu: (c1 - c0) * 1000 });
		if (b === 0) bytes = grownSince(before);
	}
	const buildMs = median(times.map((t) => t.cpu));
	log(`${name}: built in ${buildMs.toFixed(0)} ms (cpu), ${(bytes / fences).toFixed(0)} B/fence`);
	return {
		name,
		engine,
		buildMs,
		buildRunsMs: times.map((t) => round(t.cpu, 4)),
		ownBytesPerFence: bytes / fences,
		bytesPerFence: (bytes + (retainsGeoJson ? featuresBytes : 0)) / fences,
	};
}

// One small build of each first, so one-time costs (compiled code, lazily built schemas) are not
// counted as the memory or build time of the measured one.
createFenceIndex(features.slice(0, 100));
rtreeEngine(features.slice(0, 100));
const ours = build("ours", () => createFenceIndex(features), false);
// Its snapshot (what a GeoShard stores next to its fences), and what loading it back costs:
// bench/snapshot.bench.mjs measures that in detail.
{
	const c0 = cpuNow();
	const bytes = serializeFenceIndex(ours.engine);
	const c1 = cpuNow();
	loadFenceIndex(bytes).match(0, 0);
	const c2 = cpuNow();
	ours.snapshotBytesPerFence = bytes.length / fences;
	ours.serializeMs = (c1 - c0) * 1000;
	ours.loadMs = (c2 - c1) * 1000;
	log(
		`ours: snapshot ${ours.snapshotBytesPerFence.toFixed(0)} B/fence, serialized in ${ours.serializeMs.toFixed(0)} ms, loaded in ${ours.loadMs.toFixed(1)} ms (cpu)`,
	);
}
const rtree = build("rtree", () => rtreeEngine(features), true);
const naive = {
	name: "naive",
	engine: naiveEngine(features),
	buildMs: 0,
	buildRunsMs: [],
	ownBytesPerFence: 0,
};
naive.bytesPerFence = featuresBytes / fences;
engines.push(ours, rtree, naive);

// Reference answers: ours, on every ping.
const key = (ids) => ids.join(",");
const want = new Array(pingCount);
let inside = 0;
let multiple = 0;
for (let i = 0; i < pingCount; i++) {
	const ids = ours.engine.match(pings[2 * i], pings[2 * i + 1]);
	want[i] = key(ids);
	if (ids.length > 0) inside++;
	if (ids.length > 1) multiple++;
}
function mismatch(engine, i, got) {
	throw new Error(
		`MISMATCH: ${engine} disagrees with ours at ping ${i} (lat ${pings[2 * i]}, lng ${pings[2 * i + 1]}): ${engine} [${got}], ours [${want[i]}]`,
	);
}
for (let i = 0; i < pingCount; i++) {
	const got = key(rtree.engine.match(pings[2 * i], pings[2 * i + 1]));
	if (got !== want[i]) mismatch("rtree", i, got);
}
log(`rtree == ours on all ${pingCount} pings (${inside} inside a fence, ${multiple} in several)`);
// The naive scan costs fences x pings: a sample (a prefix of the i.i.d. pings) sized to a budget.
const naiveCount = Math.min(pingCount, Math.max(20, Math.round(naiveBudget / fences)));
// Checked on that prefix, plus the first 20 pings after it that are inside a fence (so the check
// sees inside answers even when the prefix is short).
const naiveChecked = Array.from({ length: naiveCount }, (_, i) => i);
for (let i = naiveCount, extra = 0; i < pingCount && extra < 20; i++) {
	if (want[i] !== "") {
		naiveChecked.push(i);
		extra++;
	}
}
for (const i of naiveChecked) {
	const got = key(naive.engine.match(pings[2 * i], pings[2 * i + 1]));
	if (got !== want[i]) mismatch("naive", i, got);
}
log(`naive == ours on a sample of ${naiveChecked.length} pings`);

let postgis;
const pgPrepared = { name: "postgis", buildMs: 0, buildRunsMs: [] };
const pgBatch = { name: "postgis-batch", buildMs: 0, buildRunsMs: [] };
if (postgisPort) {
	postgis = await postgisEngine(postgisPort, features, log);
	for (const e of [pgPrepared, pgBatch]) {
		e.buildMs = postgis.loadMs + postgis.indexMs;
		e.loadMs = postgis.loadMs;
		e.indexMs = postgis.indexMs;
		e.ownBytesPerFence = postgis.tableBytes / fences;
		e.bytesPerFence = postgis.tableBytes / fences;
	}
	log(
		`PostGIS: loaded in ${(postgis.loadMs / 1000).toFixed(1)} s, indexed in ${(postgis.indexMs / 1000).toFixed(1)} s, table + index ${(postgis.tableBytes / fences).toFixed(0)} B/fence`,
	);
	const answers = await postgis.matchBatch(pings, 0, pingCount);
	for (let i = 0; i < pingCount; i++) {
		const got = key(answers[i]);
		if (got !== want[i]) mismatch("postgis-batch", i, got);
	}
	log(`postgis-batch == ours on all ${pingCount} pings`);
	for (let i = 0; i < pingCount; i++) {
		const got = key(await postgis.match(pings[2 * i], pings[2 * i + 1]));
		if (got !== want[i]) mismatch("postgis", i, got);
		if (i > 0 && i % 200_000 === 0) log(`postgis: ${i} pings checked`);
	}
	log(`postgis (prepared) == ours on all ${pingCount} pings`);
	engines.push(pgPrepared, pgBatch);
}

// Timing: `runs` rounds; in each, every engine in turn (order rotated) over its pings. The figure
// per engine is pings per CPU-second (all processes doing the work: this one, and for PostGIS its
// backend too); ratios are taken within a round, then the median over rounds.
let checksum = 0;
const samples = {
	ours: pingCount,
	rtree: pingCount,
	naive: naiveCount,
	postgis: Math.min(pingCount, pgSample),
	"postgis-batch": Math.min(pingCount, pgBatchSample),
};
async function timeOnce(e) {
	const count = samples[e.name];
	const backend0 = postgis ? processCpuSeconds(postgis.backendPid) : 0;
	const c0 = cpuNow();
	const t0 = performance.now();
	if (e.name === "postgis") {
		for (let i = 0; i < count; i++) checksum += (await postgis.match(pings[2 * i], pings[2 * i + 1])).length;
	} else if (e.name === "postgis-batch") {
		for (const ids of await postgis.matchBatch(pings, 0, count)) checksum += ids.length;
	} else {
		const m = e.engine;
		for (let i = 0; i < count; i++) checksum += m.match(pings[2 * i], pings[2 * i + 1]).length;
	}
	const wall = (performance.now() - t0) / 1000;
	let cpu = cpuNow() - c0;
	if (e.name.startsWith("postgis")) cpu += processCpuSeconds(postgis.backendPid) - backend0;
	return { perCore: count / cpu, wall: count / wall };
}
const timed = engines;
for (const e of timed) {
	e.runs = [];
	e.ratioRuns = [];
}
// Warm-up: every engine once on a slice.
for (const e of timed) {
	const keep = samples[e.name];
	samples[e.name] = Math.max(1, Math.min(keep, Math.round(keep / 10)));
	await timeOnce(e);
	samples[e.name] = keep;
}
for (let r = 0; r < runs; r++) {
	const order = timed.map((_, i) => timed[(i + r) % timed.length]);
	for (const e of order) e.runs.push(await timeOnce(e));
	const oursRun = ours.runs[r];
	for (const e of timed) e.ratioRuns.push(oursRun.perCore / e.runs[r].perCore);
	log(`run ${r + 1}/${runs}: ${timed.map((e) => `${e.name} ${Math.round(e.runs[r].perCore)}/s`).join(", ")}`);
}
if (postgis) await postgis.close();

const result = {
	fences,
	pings: pingCount,
	city: city.stats,
	pingKinds: kinds,
	pingsInside: inside,
	pingsInSeveral: multiple,
	geojsonBytesPerFence: round(featuresBytes / fences, 4),
	checked: {
		rtree: pingCount,
		naive: naiveChecked.length,
		...(postgis ? { postgis: pingCount, "postgis-batch": pingCount } : {}),
	},
	engines: timed.map((e) => ({
		engine: e.name,
		timedPings: samples[e.name],
		pingsPerSecPerCore: round(median(e.runs.map((x) => x.perCore)), 4),
		pingsPerSecWall: round(median(e.runs.map((x) => x.wall)), 4),
		oursOverPeer: round(median(e.ratioRuns), 4),
		runsPerCore: e.runs.map((x) => round(x.perCore, 4)),
		buildMs: round(e.buildMs, 4),
		buildRunsMs: e.buildRunsMs,
		...(e.indexMs !== undefined ? { loadMs: round(e.loadMs, 4), indexMs: round(e.indexMs, 4) } : {}),
		...(e.snapshotBytesPerFence !== undefined
			? {
					snapshotBytesPerFence: round(e.snapshotBytesPerFence, 4),
					snapshotSerializeMs: round(e.serializeMs, 4),
					snapshotLoadMs: round(e.loadMs, 4),
				}
			: {}),
		bytesPerFence: round(e.bytesPerFence, 4),
		ownBytesPerFence: round(e.ownBytesPerFence, 4),
	})),
	checksum,
};
process.send(result);
