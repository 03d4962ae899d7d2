// Index snapshots: what a GeoShard that wakes up pays to answer its first ping, loading the
// snapshot stored next to its fences (`loadFenceIndex`) against rebuilding from the fences
// (`createFenceIndex`), on the matcher benchmark's seeded city.
//
//   node --import ./bench/lib/ts-hooks.mjs --expose-gc bench/snapshot.bench.mjs
//   options: --sizes=10000,100000 --runs=N --out=FILE
//
// Per size: build the index and answer a first ping (median CPU time of `runs` builds), serialize
// it, then load it back `runs` times from a copy at an odd byte offset (as storage may hand bytes
// back: the load then copies them once) and from an aligned copy (views, no copy), and time the
// first ping after each load apart. Checks that the loaded index answers every ping of a sample as
// the built one does. Writes bench/results/snapshot.json.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createFenceIndex, loadFenceIndex, serializeFenceIndex } from "../src/geo/index.ts";
import { makeCity, makePings } from "./lib/city.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
	process.argv.slice(2).map((a) => {
		const [k, v] = a.replace(/^--/, "").split("=");
		return [k, v ?? true];
	}),
);
const sizes = String(args.sizes ?? "10000,100000")
	.split(",")
	.map(Number);
const runs = Number(args.runs ?? 5);
const outJson = args.out ? String(args.out) : join(here, "results", "snapshot.json");
const SEED = 0x5eed_0005;

const gc = typeof globalThis.gc === "function" ? globalThis.gc : () => {};
const cpuMs = () => {
	const u = process.cpuUsage();
	return (u.user + u.system) / 1000;
};
const median = (xs) => {
	const s = [...xs].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, digits = 3) => Number(x.toPrecision(digits));

/** CPU ms of `f()`, after a full GC so one run's garbage is not charged to the next. */
function timed(f) {
	gc();
	const c0 = cpuMs();
	const value = f();
	return { ms: cpuMs() - c0, value };
}

const results = [];
for (const fences of sizes) {
	const city = makeCity(fences, SEED + fences);
	const { pings } = makePings(city, 100_000, SEED + fences + 1);
	createFenceIndex(city.features.slice(0, 100));
	const builds = [];
	let index;
	for (let r = 0; r < runs; r++) {
		index = undefined;
		const b = timed(() => {
			const built = createFenceIndex(city.features);
			built.match(pings[0], pings[1]);
			return built;
		});
		builds.push(b.ms);
		index = b.value;
	}
	const bytes = serializeFenceIndex(index);
	const serializeMs = timed(() => serializeFenceIndex(index)).ms;
	// As stored and read back: at an odd offset of some larger buffer, and aligned.
	const stored = new Uint8Array(bytes.length + 1);
	stored.set(bytes, 1);
	const misaligned = stored.subarray(1);
	const aligned = bytes.slice();
	const loads = { copied: [], views: [] };
	const firstPings = [];
	let loaded;
	for (let r = 0; r < runs; r++) {
		for (const [kind, input] of [
			["copied", misaligned],
			["views", aligned],
		]) {
			const l = timed(() => loadFenceIndex(input));
			loads[kind].push(l.ms);
			loaded = l.value;
			const c0 = cpuMs();
			loaded.match(pings[0], pings[1]);
			firstPings.push(cpuMs() - c0);
		}
	}
	for (let i = 0; i < 100_000; i++) {
		const a = index.match(pings[2 * i], pings[2 * i + 1]).join();
		const b = loaded.match(pings[2 * i], pings[2 * i + 1]).join();
		if (a !== b) throw new Error(`MISMATCH at ping ${i}: built [${a}], loaded [${b}]`);
	}
	const buildMs = median(builds);
	const row = {
		fences,
		snapshotBytes: bytes.length,
		snapshotBytesPerFence: round(bytes.length / fences, 4),
		buildMs: round(buildMs, 4),
		serializeMs: round(serializeMs, 4),
		loadCopiedMs: round(median(loads.copied), 4),
		loadViewsMs: round(median(loads.views), 4),
		buildOverLoadCopied: round(buildMs / Math.max(median(loads.copied), 0.001), 4),
		buildOverLoadViews: round(buildMs / Math.max(median(loads.views), 0.001), 4),
		firstPingAfterLoadMs: round(median(firstPings), 4),
		buildRunsMs: builds.map((x) => round(x, 4)),
		loadCopiedRunsMs: loads.copied.map((x) => round(x, 4)),
		loadViewsRunsMs: loads.views.map((x) => round(x, 4)),
	};
	results.push(row);
	console.log(
		`${fences.toLocaleString("en")} fences: snapshot ${row.snapshotBytesPerFence} B/fence; build ${row.buildMs} ms, ` +
			`load ${row.loadCopiedMs} ms copied (${row.buildOverLoadCopied}x cheaper), ${row.loadViewsMs} ms as views ` +
			`(${row.buildOverLoadViews}x); first ping after a load ${row.firstPingAfterLoadMs} ms; serialize ${row.serializeMs} ms; ` +
			"loaded == built on 100,000 pings",
	);
}

mkdirSync(dirname(outJson), { recursive: true });
writeFileSync(
	outJson,
	`${JSON.stringify(
		{
			benchmark: "fence index snapshot: loadFenceIndex vs createFenceIndex",
			command: "node --import ./bench/lib/ts-hooks.mjs --expose-gc bench/snapshot.bench.mjs",
			date: new Date().toISOString(),
			environment: {
				node: process.version,
				cpu: os.cpus()[0]?.model?.trim() ?? "unknown",
				cpus: os.cpus().length,
			},
			method: {
				seed: SEED,
				runs,
				figure: "CPU ms, median of runs, after a full GC each; build includes its first ping, load does not",
			},
			results,
		},
		null,
		"\t",
	)}\n`,
);
console.log(`written: ${outJson}`);
