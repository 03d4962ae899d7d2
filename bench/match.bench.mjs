// The geofence matcher against the engines people would otherwise pick: a naive turf scan, an
// R-tree (flatbush) of boxes + turf, PostGIS with a GiST index (prepared per-ping query, and a
// batched set query), and ours, `createFenceIndex().match`, on a seeded synthetic city.
//
//   npm run bench:match                 1k, 10k, 100k and 1M fences, 1M pings (long: see README)
//   npm run bench:match -- --quick      1k and 10k fences, 100k pings (under 2 minutes)
//   options: --sizes=1000,100000 --pings=N --runs=N --no-postgis --out=FILE --profile[=DIR]
//
// Every engine's answers are checked equal to ours first (all pings; the naive scan on a
// sample); a mismatch aborts. Prints a table, writes bench/results/match.json (match-quick.json
// with --quick) and a PNG chart of throughput against fence count. Each fence count runs in its
// own Node process (fresh heap, --expose-gc for memory figures).
import { fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { drawChart } from "./lib/chart.mjs";
import { measuredCode } from "./lib/git-state.mjs";
import { findPostgis, startPostgis } from "./lib/postgis.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
	process.argv.slice(2).map((a) => {
		const [k, v] = a.replace(/^--/, "").split("=");
		return [k, v ?? true];
	}),
);
const quick = Boolean(args.quick);
const sizes = args.sizes
	? String(args.sizes).split(",").map(Number)
	: quick
		? [1_000, 10_000]
		: [1_000, 10_000, 100_000, 1_000_000];
const pings = Number(args.pings ?? (quick ? 100_000 : 1_000_000));
const runs = Number(args.runs ?? 5);
const name = quick ? "match-quick" : "match";
const outJson = args.out ? String(args.out) : join(here, "results", `${name}.json`);
const outPng = outJson.replace(/\.json$/, ".png");
const SEED = 0x5eed_0005;

const postgisFound = args["no-postgis"] ? { ok: false, reason: "--no-postgis" } : findPostgis();
let postgis;
if (postgisFound.ok) {
	try {
		postgis = await startPostgis(postgisFound.bin);
		console.log(`PostGIS: started on 127.0.0.1:${postgis.port} (${postgis.dir})`);
	} catch (e) {
		postgisFound.ok = false;
		postgisFound.reason = `could not start: ${e.message.split("\n")[0]}`;
	}
}
if (!postgisFound.ok) console.log(`PostGIS: skipped (${postgisFound.reason})`);
const stopPostgis = () => postgis?.stop();
for (const signal of ["SIGINT", "SIGTERM"]) {
	process.on(signal, () => {
		stopPostgis();
		process.exit(130);
	});
}

const cpu = os.cpus()[0]?.model?.trim() ?? "unknown";
const report = {
	benchmark:
		"geofence matcher: createFenceIndex().match vs naive turf scan, flatbush R-tree + turf, PostGIS GiST",
	command: `npm run bench:match${quick ? " -- --quick" : ""}`,
	date: new Date().toISOString(),
	// The matcher's code (src/geo and its dependencies' lock) and the benchmark's own.
	code: measuredCode(join(here, ".."), [
		"src/geo",
		"package-lock.json",
		"bench/lib",
		"bench/match.bench.mjs",
	]),
	environment: {
		node: process.version,
		platform: `${process.platform} ${process.arch}`,
		cpu,
		cpus: os.cpus().length,
		memoryGiB: Math.round(os.totalmem() / 2 ** 30),
		postgis: postgisFound.ok ? "local cluster on loopback" : `skipped: ${postgisFound.reason}`,
	},
	method: {
		seed: SEED,
		pings,
		runs,
		figure:
			"pings per CPU-second (per core): pings / CPU time of every process doing the work (for PostGIS the client and its backend); median of runs",
		ratio: "ours / peer in pings per CPU-second, measured in the same round, median over rounds",
		memory:
			"bytes per fence: JS heap + off-heap delta after GC across the build; engines that answer with turf also keep the GeoJSON Features (counted); PostGIS: pg_total_relation_size (table + GiST index)",
		snapshot:
			"ours only: serializeFenceIndex bytes per fence, and the CPU ms of one serialize and of one loadFenceIndex (plus a first match)",
	},
	results: [],
};

function writeOut() {
	mkdirSync(dirname(outJson), { recursive: true });
	writeFileSync(outJson, `${JSON.stringify(report, null, "\t")}\n`);
}

function runSize(fences) {
	const config = {
		fences,
		pings,
		runs,
		builds: fences >= 1_000_000 ? 1 : 3,
		seed: SEED + fences,
		postgisPort: postgis?.port ?? null,
		naiveBudget: quick ? 2e6 : 4e6,
		pgSample: quick ? 10_000 : 20_000,
		pgBatchSample: quick ? 100_000 : 200_000,
	};
	const execArgv = [
		"--expose-gc",
		"--max-old-space-size=16384",
		"--import",
		join(here, "lib", "ts-hooks.mjs"),
	];
	if (args.profile) {
		const dir = args.profile === true ? join(os.tmpdir(), "bench-match-profiles") : String(args.profile);
		execArgv.push("--cpu-prof", `--cpu-prof-dir=${dir}`);
		console.log(`CPU profiles: ${dir}`);
	}
	return new Promise((resolve, reject) => {
		const child = fork(join(here, "lib", "match-size.mjs"), [JSON.stringify(config)], { execArgv });
		let result;
		child.on("message", (m) => {
			result = m;
		});
		child.on("exit", (code) =>
			code === 0 && result ? resolve(result) : reject(new Error(`${fences} fences: exit code ${code}`)),
		);
	});
}

const label = {
	ours: "ours (grid index)",
	rtree: "R-tree + turf",
	naive: "naive turf scan",
	postgis: "PostGIS (prepared)",
	"postgis-batch": "PostGIS (batched)",
};
const chartLabel = {
	ours: "ours",
	rtree: "R-tree + turf",
	naive: "naive turf",
	postgis: "PostGIS prep.",
	"postgis-batch": "PostGIS batch",
};
const fmt = (x, d = 0) => x.toLocaleString("en", { maximumFractionDigits: d, minimumFractionDigits: d });
try {
	for (const fences of sizes) {
		const t0 = performance.now();
		console.log(`\n== ${fmt(fences)} fences, ${fmt(pings)} pings ==`);
		const result = await runSize(fences);
		report.results.push(result);
		writeOut();
		console.log(`(${fmt((performance.now() - t0) / 1000, 0)} s)`);
	}
} catch (e) {
	stopPostgis();
	console.error(`\nbench:match FAILED: ${e.message}`);
	process.exit(1);
}
stopPostgis();

// Targets of the issue, read at 100,000 fences when that size ran.
const at100k = report.results.find((r) => r.fences === 100_000);
if (at100k) {
	const e = Object.fromEntries(at100k.engines.map((x) => [x.engine, x]));
	report.targetsAt100k = {
		"ours >= 2x R-tree": { value: e.rtree.oursOverPeer, met: e.rtree.oursOverPeer >= 2 },
		...(e.postgis
			? {
					"ours >= 10x PostGIS per query": {
						value: e.postgis.oursOverPeer,
						met: e.postgis.oursOverPeer >= 10,
					},
				}
			: {}),
		"build < 10 s on one core": { value: e.ours.buildMs / 1000, met: e.ours.buildMs < 10_000 },
		"memory per fence <= R-tree's": {
			value: `${e.ours.bytesPerFence} vs ${e.rtree.bytesPerFence}`,
			met: e.ours.bytesPerFence <= e.rtree.bytesPerFence,
		},
	};
}
writeOut();

console.log(
	`\n${report.environment.node}, ${cpu}, ${report.environment.cpus} CPUs; medians of ${runs} runs; PostGIS ${report.environment.postgis}`,
);
const rows = {};
for (const r of report.results) {
	for (const e of r.engines) {
		rows[`${fmt(r.fences)} ${label[e.engine]}`] = {
			"pings/s/core": fmt(e.pingsPerSecPerCore),
			"ours ÷ peer": e.engine === "ours" ? "1" : `${fmt(e.oursOverPeer, 1)}×`,
			"timed pings": fmt(e.timedPings),
			"build ms": fmt(e.buildMs),
			"B/fence": fmt(e.bytesPerFence),
			"snapshot B/fence": e.snapshotBytesPerFence === undefined ? "" : fmt(e.snapshotBytesPerFence),
		};
	}
}
console.table(rows);
if (report.targetsAt100k) {
	for (const [k, v] of Object.entries(report.targetsAt100k))
		console.log(`target ${k}: ${v.value} — ${v.met ? "met" : "NOT met"}`);
}

const engineNames = [...new Set(report.results.flatMap((r) => r.engines.map((e) => e.engine)))];
drawChart(outPng, {
	title: `GEOFENCE MATCHING: PINGS/S PER CORE VS FENCES (${quick ? "QUICK" : "FULL"} RUN)`,
	xLabel: "FENCES",
	yLabel: "PINGS/S PER CORE",
	series: engineNames.map((n) => ({
		name: chartLabel[n],
		points: report.results.flatMap((r) =>
			r.engines.filter((e) => e.engine === n).map((e) => [r.fences, e.pingsPerSecPerCore]),
		),
	})),
});
console.log(`written: bench/results/${basename(outJson)}, bench/results/${basename(outPng)}`);
