// A national chain through the public API: bulk upload at scale, truthfulness, cold start.
//
//   npm run bench:upload                  full run: 100,000 circle stores over France, chunks of 5,000
//   npm run bench:upload -- --quick       smoke run: 10,000 stores, 1 restart (about a minute on a
//                                         quiet machine, 25 s of it the upload)
//   npm run bench:upload -- --fences=30000 --chunk=2000 --service-from=head --server-log=/tmp/w.log
//
// 1. Upload: a fresh `wrangler dev` (temporary state directory), a tenant, and N seeded circle
//    stores (bench/lib/france.mjs: a Zipf mix of 50 cities plus a rural spread) sent in chunks
//    with `PUT /v1/geofences`; per chunk: time, status, `upserted`, wrangler's own timing, the
//    shard layout so far (split cells, shard objects) and workerd's open files and CPU.
// 2. Truthfulness: `GET /v1/geofences` paged to the end lists exactly the N ids; a seeded sample
//    of stores each answers `enter` to a ping at its centre (a fresh person with a user token,
//    and the exact set of fences the point is in, computed here by brute force); points outside
//    every store answer nothing; one chunk uploaded again unchanged answers `unchanged`; 10
//    stores of a chunk grown by 100 m answer `upserted: 10`, and a ping inside only their new
//    radius enters them.
// 3. Cold start: the server stops and starts again on the same state; the first ping (a person
//    walking into a store: two pings, outside then inside, one request) is timed in the densest
//    shard cell and in a sparse rural one (two restarts: each area gets the very first ping once;
//    the first restart's shard objects have not answered since the upload, the second's have),
//    then 50 warm walk-ins, alternating between the two.
// Writes bench/results/upload.json (upload-quick.json for --quick); a full run also regenerates
// the results block of bench/README-upload.md. Exit code 0 when every check held (targets missed
// are reported, not failures), 1 otherwise.
//
// The script stops itself: every loop is bounded, a watchdog ends a run that hangs, and the
// server and the temporary directory are removed on success, on error and on Ctrl-C.
import "./lib/ts-hooks.mjs";
import { appendFileSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { snapshotService } from "./lib/e2e-snapshot.mjs";
import { distanceMetres, inFrance, makeFrance, offsetMetres } from "./lib/france.mjs";
import { replaceBlock } from "./lib/readme-block.mjs";

const { PROJECT_ROOT, startDevServer } = await import("../scripts/lib/devserver.mjs");
const { prng } = await import("../test/helpers/prng.ts");

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SEED = 0xf4a_2026;
const PROFILES = {
	full: {
		fences: 100_000,
		chunk: 5_000,
		sample: 200,
		negatives: 50,
		warm: 50,
		restarts: 4,
		watchdogMinutes: 60,
	},
	quick: {
		fences: 10_000,
		chunk: 5_000,
		sample: 50,
		negatives: 20,
		warm: 50,
		restarts: 1,
		watchdogMinutes: 10,
	},
};
const TARGETS = { uploadSeconds: 30, firstPingMs: 300 };
/** People set up and checked at once. */
const CONCURRENCY = 8;
/** A point closer than this to a fence's edge is ambiguous (floating point, distance formulas): never used. */
const EDGE_MARGIN_M = 3;
/** An "outside" point keeps this far from every fence (exit hysteresis is max(25 m, accuracy)). */
const OUTSIDE_MARGIN_M = 30;
const ACCURACY_M = 5;
/** A walk-in: outside at t, inside at t + WALK_MS; the next walk-in starts WALK_MS after that. */
const WALK_MS = 5_000;
/** Farthest an outside point may be from the store's centre: 90 m/s over WALK_MS (the service refuses > 100 m/s). */
const WALK_MAX_M = 450;
/** How far in the past a cold-start person's first ping is: old enough for every walk-in, younger than "stale" (10 min). */
const TIMELINE_START_AGO_MS = 8 * 60_000;
const CHANGED_STORES = 10;
const GROW_M = 100;
const FD_SAMPLE_MS = 100;

const { values: args } = parseArgs({
	options: {
		quick: { type: "boolean", default: false },
		fences: { type: "string" },
		chunk: { type: "string" },
		sample: { type: "string" },
		restarts: { type: "string" },
		"service-from": { type: "string", default: "worktree" },
		"service-dir": { type: "string" },
		"server-log": { type: "string" },
		"no-write": { type: "boolean", default: false },
		"upload-only": { type: "boolean", default: false },
		"local-traces": { type: "boolean", default: false },
		import: { type: "boolean", default: false },
		"dump-layout": { type: "string" },
		var: { type: "string", multiple: true, default: [] },
		help: { type: "boolean", default: false },
	},
});
/** `--var NAME=VALUE`: Worker vars for the served copy (tuning runs); recorded in the result. */
const extraVars = Object.fromEntries(
	args.var.map((kv) => {
		const at = kv.indexOf("=");
		if (at < 1) {
			console.error(`--var wants NAME=VALUE, got ${JSON.stringify(kv)}`);
			process.exit(2);
		}
		return [kv.slice(0, at), kv.slice(at + 1)];
	}),
);
if (args.help) {
	console.log(
		"usage: node bench/upload.bench.mjs [--quick] [--fences=N] [--chunk=N] [--sample=N] [--restarts=1-6]\n         [--service-from=worktree|head] [--service-dir=DIR] [--server-log=FILE] [--dump-layout=FILE] [--upload-only] [--no-write] [--import]\n         [--var NAME=VALUE ...]   (a Worker var for the served copy, e.g. --var SHARD_MAX_FENCES=2000)\n         [--local-traces]   (keep wrangler's local trace store on: off by default)",
	);
	process.exit(0);
}
const mode = args.quick ? "quick" : "full";
const cfg = { ...PROFILES[mode] };
if (args.fences) cfg.fences = Number(args.fences);
if (args.chunk) cfg.chunk = Number(args.chunk);
if (args.sample) cfg.sample = Number(args.sample);
if (args.restarts) cfg.restarts = Number(args.restarts);
const serviceFrom = args["service-from"];
// wrangler's local trace store records a span per storage call of every object, on the same
// thread as the Worker: a development-tool cost production does not have, so it is off unless
// asked for (--local-traces) or set in the environment.
if (!args["local-traces"]) process.env.X_LOCAL_OBSERVABILITY ??= "false";
const serverLogFile = args["server-log"] ? path.resolve(args["server-log"]) : null;
if (
	!(Number.isInteger(cfg.fences) && cfg.fences >= 2 * CHANGED_STORES && cfg.fences <= 1_000_000) ||
	!(Number.isInteger(cfg.chunk) && cfg.chunk >= 2 * CHANGED_STORES && cfg.chunk <= 10_000) ||
	!(Number.isInteger(cfg.sample) && cfg.sample >= 1 && cfg.sample <= cfg.fences) ||
	!(Number.isInteger(cfg.restarts) && cfg.restarts >= 1 && cfg.restarts <= 6) ||
	(serviceFrom !== "head" && serviceFrom !== "worktree")
) {
	console.error(
		"--fences 20 to 1000000, --chunk 20 to 10000 (the API takes at most 10,000 features a request), --sample 1 to --fences, --restarts 1 to 6, --service-from head or worktree",
	);
	process.exit(2);
}

const t0 = performance.now();
const say = (line) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`);
const round = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x.toFixed(d)));

// ---------------------------------------------------------------- cleanup, Ctrl-C, watchdog
const stopping = new AbortController();
/** @type {{ server?: { stop(): Promise<void> }, dir?: string, sampler?: ReturnType<typeof setInterval> }} */
const owned = {};
let cleanupPromise;
function cleanup() {
	cleanupPromise ??= (async () => {
		if (owned.sampler) clearInterval(owned.sampler);
		await owned.server?.stop().catch((e) => console.error(`stopping wrangler: ${e}`));
		if (owned.dir) await rm(owned.dir, { recursive: true, force: true }).catch(() => undefined);
	})();
	return cleanupPromise;
}
function bail(why, code) {
	if (stopping.signal.aborted) return;
	console.error(`\n${why}: stopping and cleaning up…`);
	stopping.abort();
	cleanup().finally(() => process.exit(code));
}
process.once("SIGINT", () => bail("interrupted", 130));
process.once("SIGTERM", () => bail("terminated", 143));
const watchdog = setTimeout(
	() => bail(`watchdog: the run took over ${cfg.watchdogMinutes} minutes`, 124),
	cfg.watchdogMinutes * 60_000,
);
watchdog.unref();

/** Runs `fn` over `items`, `n` at a time. */
async function inPool(items, n, fn) {
	let next = 0;
	const worker = async () => {
		while (next < items.length && !stopping.signal.aborted) {
			const i = next++;
			await fn(items[i], i);
		}
	};
	await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
	if (stopping.signal.aborted) throw new Error("stopped");
}

function stats(values) {
	if (values.length === 0) return { n: 0, min: null, p50: null, p90: null, max: null, mean: null };
	const s = [...values].sort((a, b) => a - b);
	const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
	return {
		n: s.length,
		min: round(s[0]),
		p50: round(q(0.5)),
		p90: round(q(0.9)),
		max: round(s.at(-1)),
		mean: round(s.reduce((a, b) => a + b, 0) / s.length),
	};
}

// ---------------------------------------------------------------- /proc: workerd's files and CPU
const TICKS_PER_S = 100;

function procStat(pid) {
	try {
		const raw = readFileSync(`/proc/${pid}/stat`, "utf8");
		const close = raw.lastIndexOf(")");
		const comm = raw.slice(raw.indexOf("(") + 1, close);
		const rest = raw
			.slice(close + 2)
			.split(" ")
			.map(Number);
		return { pid, comm, ppid: rest[1], ticks: rest[11] + rest[12] };
	} catch {
		return null;
	}
}

/** This process's descendants (wrangler's Node, workerd, esbuild). */
function descendants() {
	let pids;
	try {
		pids = readdirSync("/proc").filter((n) => /^\d+$/.test(n));
	} catch {
		return [];
	}
	const all = pids.map((p) => procStat(Number(p))).filter((s) => s !== null);
	const kids = new Map();
	for (const s of all) {
		if (!kids.has(s.ppid)) kids.set(s.ppid, []);
		kids.get(s.ppid).push(s);
	}
	const out = [];
	const queue = [...(kids.get(process.pid) ?? [])];
	for (let guard = 0; queue.length > 0 && guard < 10_000; guard++) {
		const s = queue.shift();
		out.push(s);
		queue.push(...(kids.get(s.pid) ?? []));
	}
	return out;
}

function workerdPid() {
	return descendants().find((s) => s.comm === "workerd")?.pid ?? null;
}

function openFiles(pid) {
	try {
		return readdirSync(`/proc/${pid}/fd`).length;
	} catch {
		return null;
	}
}

function openFilesLimit(pid) {
	try {
		const line = readFileSync(`/proc/${pid}/limits`, "utf8")
			.split("\n")
			.find((l) => l.startsWith("Max open files"));
		const [soft, hard] = line.replace("Max open files", "").trim().split(/\s+/);
		return { soft: Number(soft), hard: Number(hard) };
	} catch {
		return null;
	}
}

function rssMb(pid) {
	try {
		const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
		return m ? Math.round(Number(m[1]) / 1024) : null;
	} catch {
		return null;
	}
}

/** CPU seconds so far of workerd and of wrangler's side (its Node, esbuild), and of this process. */
function cpuNow() {
	let workerd = 0;
	let wrangler = 0;
	for (const s of descendants()) {
		if (s.comm === "workerd") workerd += s.ticks;
		else wrangler += s.ticks;
	}
	const self = process.cpuUsage();
	return {
		at: performance.now(),
		workerd: workerd / TICKS_PER_S,
		wrangler: wrangler / TICKS_PER_S,
		bench: (self.user + self.system) / 1e6,
		machineBusy: machineBusySeconds(),
	};
}

/** CPU seconds the whole machine has been busy (all cores), from /proc/stat; null elsewhere. */
function machineBusySeconds() {
	try {
		const v = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
		const idle = (v[3] ?? 0) + (v[4] ?? 0);
		return (v.slice(0, 8).reduce((a, b) => a + b, 0) - idle) / TICKS_PER_S;
	} catch {
		return null;
	}
}

function cpuBetween(a, b) {
	return {
		wallSeconds: round((b.at - a.at) / 1000, 2),
		workerdSeconds: round(b.workerd - a.workerd, 2),
		wranglerSeconds: round(b.wrangler - a.wrangler, 2),
		benchSeconds: round(b.bench - a.bench, 2),
		// CPU the rest of the machine used meanwhile (other programs): it competes for the same cores.
		otherSeconds:
			a.machineBusy === null || b.machineBusy === null
				? null
				: round(
						Math.max(
							0,
							b.machineBusy -
								a.machineBusy -
								(b.workerd - a.workerd) -
								(b.wrangler - a.wrangler) -
								(b.bench - a.bench),
						),
						2,
					),
		loadAverage: round(os.loadavg()[0], 2),
	};
}

/** Samples workerd's open files (and memory) every FD_SAMPLE_MS. */
function startFdSampler() {
	const state = { pid: workerdPid(), peak: 0, peakRssMb: 0, window: 0, samples: 0 };
	owned.sampler = setInterval(() => {
		if (state.pid === null) state.pid = workerdPid();
		if (state.pid === null) return;
		const n = openFiles(state.pid);
		if (n === null) {
			state.pid = workerdPid();
			return;
		}
		state.samples++;
		state.peak = Math.max(state.peak, n);
		state.window = Math.max(state.window, n);
		const rss = rssMb(state.pid);
		if (rss !== null) state.peakRssMb = Math.max(state.peakRssMb, rss);
	}, FD_SAMPLE_MS);
	return {
		state,
		/** The peak since the last call. */
		takeWindow() {
			const n = state.pid === null ? null : openFiles(state.pid);
			const w = Math.max(state.window, n ?? 0);
			state.window = 0;
			return w;
		},
		stop() {
			clearInterval(owned.sampler);
			owned.sampler = undefined;
		},
	};
}

// ---------------------------------------------------------------- the state directory, read-only
/** What the state directory holds: shard objects on disk, the D1 file. */
function stateFiles(persistDir) {
	const v3 = path.join(persistDir, "v3");
	const list = (dir) => {
		try {
			return readdirSync(dir).filter((n) => n.endsWith(".sqlite") && n !== "metadata.sqlite");
		} catch {
			return [];
		}
	};
	const shardDir = path.join(v3, "do", "edge-offers-GeoShardDO");
	const d1Dir = path.join(v3, "d1", "miniflare-D1DatabaseObject");
	const d1 = list(d1Dir)[0];
	return {
		shardObjects: list(shardDir).length,
		shopperObjects: list(path.join(v3, "do", "edge-offers-ShopperDO")).length,
		d1File: d1 ? path.join(d1Dir, d1) : null,
	};
}

function dirBytes(dir) {
	let total = 0;
	const walk = (d) => {
		let entries;
		try {
			entries = readdirSync(d, { withFileTypes: true });
		} catch {
			return;
		}
		for (const e of entries) {
			const p = path.join(d, e.name);
			if (e.isDirectory()) walk(p);
			else if (e.isFile()) total += statSync(p).size;
		}
	};
	walk(dir);
	return total;
}

let DatabaseSync = null;
/** Runs a read-only query on the local D1 file (node:sqlite); null when it cannot. */
async function d1Query(persistDir, sql) {
	try {
		DatabaseSync ??= (await import("node:sqlite")).DatabaseSync;
		const file = stateFiles(persistDir).d1File;
		if (!file) return null;
		const db = new DatabaseSync(file, { readOnly: true });
		try {
			return db.prepare(sql).all();
		} finally {
			db.close();
		}
	} catch {
		return null;
	}
}

// ---------------------------------------------------------------- geometry checks, by brute force
/** A bucket grid over the stores (about 1.1 km cells), for exact "which stores contain this point". */
function storeGrid(stores) {
	const CELL = 0.01;
	const key = (lat, lng) => `${Math.floor(lat / CELL)}:${Math.floor(lng / (CELL * 1.5))}`;
	const cells = new Map();
	const add = (s) => {
		const k = key(s.lat, s.lng);
		const list = cells.get(k);
		if (list) list.push(s);
		else cells.set(k, [s]);
	};
	const remove = (s) => {
		const list = cells.get(key(s.lat, s.lng));
		const i = list?.indexOf(s) ?? -1;
		if (i >= 0) list.splice(i, 1);
	};
	for (const s of stores) add(s);
	/** Stores whose centre is within about 1.1 km (every store that can contain or be near the point). */
	const near = (lat, lng) => {
		const a = Math.floor(lat / CELL);
		const b = Math.floor(lng / (CELL * 1.5));
		const out = [];
		for (let i = -1; i <= 1; i++)
			for (let j = -1; j <= 1; j++) {
				const list = cells.get(`${a + i}:${b + j}`);
				if (list) out.push(...list);
			}
		return out;
	};
	/**
	 * The ids of the stores containing the point, or null when the point is within EDGE_MARGIN_M of
	 * some store's edge (too close to call).
	 */
	const inside = (lat, lng) => {
		const out = [];
		for (const s of near(lat, lng)) {
			const d = distanceMetres(lat, lng, s.lat, s.lng);
			if (Math.abs(d - s.radius) < EDGE_MARGIN_M) return null;
			if (d < s.radius) out.push(s.id);
		}
		return out.sort();
	};
	/** Whether the point is at least `margin` metres outside every store. */
	const clearOf = (lat, lng, margin) =>
		near(lat, lng).every((s) => distanceMetres(lat, lng, s.lat, s.lng) > s.radius + margin);
	/** Stores whose centre lies within `metres` (at most about 1 km). */
	const countWithin = (lat, lng, metres) =>
		near(lat, lng).filter((s) => distanceMetres(lat, lng, s.lat, s.lng) <= metres).length;
	return { add, remove, inside, clearOf, countWithin };
}

/** A point at most WALK_MAX_M from the store's centre and at least OUTSIDE_MARGIN_M outside every store. */
function outsidePointNear(grid, store) {
	for (let d = store.radius + OUTSIDE_MARGIN_M + 5; d <= WALK_MAX_M; d += 15) {
		for (let k = 0; k < 16; k++) {
			const a = (2 * Math.PI * k) / 16;
			const [lat, lng] = offsetMetres(store.lat, store.lng, d * Math.cos(a), d * Math.sin(a));
			if (grid.clearOf(lat, lng, OUTSIDE_MARGIN_M)) return [lat, lng];
		}
	}
	return null;
}

// ---------------------------------------------------------------- the run
async function main() {
	const failures = [];
	const check = (ok, what) => {
		if (!ok) {
			failures.push(what);
			say(`CHECK FAILED: ${what}`);
		}
		return ok;
	};
	say(
		`mode ${mode}: ${cfg.fences.toLocaleString("en")} circle stores over France in chunks of ${cfg.chunk.toLocaleString("en")}; targets: upload < ${TARGETS.uploadSeconds} s, first ping after a restart < ${TARGETS.firstPingMs} ms`,
	);
	say(
		`machine: ${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}, load average ${os
			.loadavg()
			.map((l) => l.toFixed(2))
			.join(" ")}`,
	);

	// The stores.
	let t = performance.now();
	const world = makeFrance(cfg.fences, SEED);
	const { features, stores } = world;
	const grid = storeGrid(stores);
	say(`stores: ${JSON.stringify(world.stats)} (${((performance.now() - t) / 1000).toFixed(1)} s)`);

	// The service, frozen (see bench/lib/e2e-snapshot.mjs), on a fresh state directory.
	owned.dir = await mkdtemp(path.join(os.tmpdir(), "edge-offers-bench-upload-"));
	// --service-dir: serve a prepared copy as it is (for profiling with timing logs added to a copy).
	const service = args["service-dir"]
		? {
				dir: path.resolve(args["service-dir"]),
				from: `dir ${path.resolve(args["service-dir"])}`,
				commit: null,
				uncommitted: [],
			}
		: await snapshotService(PROJECT_ROOT, path.join(owned.dir, "service"), serviceFrom);
	say(
		`serving a snapshot of ${serviceFrom === "head" ? `commit ${service.commit?.slice(0, 12)}` : `the working tree (commit ${service.commit?.slice(0, 12)}, ${service.uncommitted.length} service files changed: ${service.uncommitted.join(", ") || "none"})`}`,
	);
	const persistDir = path.join(owned.dir, "state");
	const serverLog = { reloads: 0, errorLines: [], traceStreamErrors: 0, timings: new Map() };
	/** wrangler's timing of the next `key` request line after `count` were seen (it may trail the answer). */
	const serverTiming = async (key, count) => {
		for (let waited = 0; waited < 1_000; waited += 20) {
			const list = serverLog.timings.get(key) ?? [];
			if (list.length > count) return list[count];
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
		return null;
	};
	const timingCount = (key) => serverLog.timings.get(key)?.length ?? 0;
	const onLog = (line, source) => {
		if (serverLogFile) appendFileSync(serverLogFile, `${new Date().toISOString()} ${source}: ${line}\n`);
		if (source === "devserver") say(`devserver: ${line}`);
		// "[wrangler:info] PUT /v1/geofences 200 OK (1234ms)": the time workerd took, as wrangler's proxy saw it.
		const timing = /\b(GET|PUT|POST|DELETE) (\/\S*) (\d{3})\b.*\((\d+)ms\)/.exec(line);
		if (timing) {
			const key = `${timing[1]} ${timing[2].split("?")[0]}`;
			if (!serverLog.timings.has(key)) serverLog.timings.set(key, []);
			serverLog.timings.get(key).push(Number(timing[4]));
			return;
		}
		if (/reload/i.test(line)) serverLog.reloads++;
		// wrangler's local observability (X_LOCAL_OBSERVABILITY) streams every invocation to a trace
		// store; when workerd drops an idle object mid-stream it logs this. Counted, not listed.
		if (/trace-stream\.c\+\+|tail session was canceled/.test(line)) {
			serverLog.traceStreamErrors++;
			return;
		}
		if (/^\s*stack: /.test(line)) return;
		if (/workers\.cloudflare\.com|getaddrinfo|GetAddrInfoReqWrap/.test(line)) return;
		if (/\b(error|uncaught|exception|failed)\b/i.test(line) && serverLog.errorLines.length < 40)
			serverLog.errorLines.push(line);
	};
	const start = async () => {
		const st = performance.now();
		const server = await startDevServer({
			port: 0,
			cwd: service.dir,
			persistDir,
			signal: stopping.signal,
			log: onLog,
			vars: extraVars,
		});
		owned.server = server;
		return { server, seconds: (performance.now() - st) / 1000 };
	};
	let { server, seconds: startSeconds } = await start();
	const firstStartSeconds = startSeconds;
	say(`service on ${server.origin} (${startSeconds.toFixed(1)} s, migrations included)`);

	const request = async (method, route, token, body, timeoutMs = 60_000) => {
		const headers = { accept: "application/json" };
		if (token) headers.authorization = `Bearer ${token}`;
		const text = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
		if (text !== undefined) headers["content-type"] = "application/json";
		const st = performance.now();
		const res = await fetch(`${server.origin}${route}`, {
			method,
			headers,
			body: text,
			signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(timeoutMs)]),
		});
		const raw = await res.text();
		const ms = performance.now() - st;
		let parsed = raw;
		try {
			parsed = raw === "" ? undefined : JSON.parse(raw);
		} catch {
			// Not JSON: kept as text for the report.
		}
		return { status: res.status, body: parsed, ms, serverTiming: res.headers.get("server-timing") };
	};
	const must = async (method, route, token, body, status = 200) => {
		const r = await request(method, route, token, body);
		if (r.status !== status)
			throw new Error(`${method} ${route} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 500)}`);
		return r.body;
	};

	const tenant = await must(
		"POST",
		"/v1/tenants",
		server.adminToken,
		{ name: "bench upload", timezone: "Europe/Paris" },
		201,
	);
	const sk = tenant.secretKey;
	say(`tenant ${tenant.id}`);

	// ------------------------------------------------------------ 1. the upload
	const fd = startFdSampler();
	const chunks = [];
	const chunkCount = Math.ceil(features.length / cfg.chunk);
	const cpuStart = cpuNow();
	const uploadStart = performance.now();
	// --import: the chunks go to a staged import, applied at once by a commit (the last row).
	const importId = args.import ? (await must("POST", "/v1/geofences/imports", sk, {}, 201)).id : null;
	for (let c = 0; c < chunkCount + (importId ? 1 : 0); c++) {
		if (stopping.signal.aborted) throw new Error("stopped");
		const committing = importId !== null && c === chunkCount;
		const part = committing ? features : features.slice(c * cfg.chunk, (c + 1) * cfg.chunk);
		const body = committing ? undefined : JSON.stringify({ type: "FeatureCollection", features: part });
		const cpuA = cpuNow();
		const route = committing
			? `/v1/geofences/imports/${importId}/commit`
			: importId
				? `/v1/geofences/imports/${importId}/chunks/${c}`
				: "/v1/geofences";
		const method = committing ? "POST" : "PUT";
		const seen = timingCount(`${method} ${route}`);
		const r = await request(method, route, sk, body, 600_000);
		// A staged chunk answers {chunk, features}; the commit and PUT /v1/geofences {upserted, ...}.
		if (importId && !committing && r.body) r.body.upserted = r.body.features;
		const cpu = cpuBetween(cpuA, cpuNow());
		const splits = await d1Query(
			persistDir,
			"SELECT count(*) AS n, max(length(cell)) AS x FROM geofence_splits",
		);
		const files = stateFiles(persistDir);
		const row = {
			chunk: c + 1,
			fences: part.length,
			bodyBytes: body?.length ?? 0,
			step: committing ? "commit" : importId ? "staged chunk" : "chunk",
			status: r.status,
			upserted: r.body?.upserted ?? null,
			unchanged: r.body?.unchanged ?? null,
			seconds: round(r.ms / 1000, 2),
			serverMs: await serverTiming(`${method} ${route}`, seen),
			// The service's own phases (Server-Timing: name;dur=ms).
			phases: Object.fromEntries(
				(r.serverTiming ?? "")
					.split(",")
					.map((p) => /^\s*([\w-]+);dur=(\d+)/.exec(p))
					.filter(Boolean)
					.map((m) => [m[1], Number(m[2])]),
			),
			splitCells: splits?.[0]?.n ?? null,
			shardObjectsOnDisk: files.shardObjects,
			openFilesPeak: fd.takeWindow(),
			cpu,
		};
		chunks.push(row);
		say(
			`${committing ? "commit   " : `chunk ${String(c + 1).padStart(2)}/${chunkCount}`}: ${r.status} upserted ${row.upserted} in ${row.seconds.toFixed(2)} s (workerd CPU ${cpu.workerdSeconds} s, other programs ${cpu.otherSeconds} s); ${row.splitCells ?? "?"} split cells, ${row.shardObjectsOnDisk} shard objects, ${row.openFilesPeak} open files; phases ms ${JSON.stringify(row.phases)}`,
		);
		if (
			!check(
				r.status === 200 && r.body?.upserted === part.length,
				`chunk ${c + 1} answered ${r.status} upserted ${r.body?.upserted} of ${part.length}`,
			)
		) {
			say(`answer: ${JSON.stringify(r.body).slice(0, 1000)}`);
			throw new Error(`chunk ${c + 1} was not stored whole; stopping`);
		}
	}
	const uploadSeconds = (performance.now() - uploadStart) / 1000;
	const uploadCpu = cpuBetween(cpuStart, cpuNow());
	const chunkSeconds = stats(chunks.map((c) => c.seconds));
	say(
		`UPLOAD: ${cfg.fences.toLocaleString("en")} stores in ${uploadSeconds.toFixed(1)} s (target < ${TARGETS.uploadSeconds} s: ${uploadSeconds < TARGETS.uploadSeconds ? "met" : "MISSED"}); chunk median ${chunkSeconds.p50} s, max ${chunkSeconds.max} s; workerd CPU ${uploadCpu.workerdSeconds} s of ${uploadCpu.wallSeconds} s wall`,
	);

	// The layout the upload produced, from D1's catalog (each fence's shard objects).
	const layoutInfo = await layoutFromD1(persistDir);
	const layout = layoutInfo?.summary ?? null;
	if (layout) say(`layout: ${JSON.stringify(layout)}`);
	if (args["dump-layout"]) {
		// For offline profiling of the pure parts (src/geo/shard.ts) under this layout.
		const cells = (await d1Query(persistDir, "SELECT cell FROM geofence_splits"))?.map((r) => r.cell) ?? [];
		// Each fence's shard objects as D1 records them (what the next upload compares against).
		const stored = Object.fromEntries(
			((await d1Query(persistDir, "SELECT id, shards FROM geofences")) ?? []).map((r) => [
				r.id,
				JSON.parse(r.shards),
			]),
		);
		await writeFile(
			path.resolve(args["dump-layout"]),
			JSON.stringify({ seed: SEED, fences: cfg.fences, splits: cells, stored }),
		);
	}

	if (args["upload-only"]) {
		// For profiling the upload: no checks, no cold start, nothing written.
		fd.stop();
		say(`--upload-only: stopping here (open files peak ${fd.state.peak})`);
		await server.stop();
		owned.server = undefined;
		return failures.length === 0 ? 0 : 1;
	}

	// ------------------------------------------------------------ 2. truthfulness
	// GET, paged to the end.
	t = performance.now();
	const listed = [];
	let pages = 0;
	for (let cursor = null; ; ) {
		const page = await must(
			"GET",
			`/v1/geofences?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
			sk,
		);
		pages++;
		for (const f of page.features) listed.push(f.properties.id);
		cursor = page.nextCursor;
		if (!cursor || pages > cfg.fences / 1000 + 10) break;
	}
	const listSeconds = (performance.now() - t) / 1000;
	const expectedIds = new Set(stores.map((s) => s.id));
	const listedSet = new Set(listed);
	const listing = {
		pages,
		listed: listed.length,
		distinct: listedSet.size,
		expected: expectedIds.size,
		missing: [...expectedIds].filter((id) => !listedSet.has(id)).length,
		unexpected: [...listedSet].filter((id) => !expectedIds.has(id)).length,
		seconds: round(listSeconds, 2),
	};
	listing.exact = listing.listed === listing.expected && listing.missing === 0 && listing.unexpected === 0;
	check(
		listing.exact,
		`GET /v1/geofences listed ${listing.listed} (${listing.missing} missing, ${listing.unexpected} unexpected) of ${listing.expected}`,
	);
	say(
		`GET /v1/geofences: ${listing.listed} ids in ${pages} pages (${listSeconds.toFixed(1)} s): ${listing.exact ? "exactly the uploaded ids" : "NOT the uploaded ids"}`,
	);

	// People: each check is a fresh person (token from the secret key, then consent with that token).
	let personSeq = 0;
	const newPerson = async (prefix) => {
		const userId = `${prefix}-${String(personSeq++).padStart(5, "0")}`;
		const { token } = await must("POST", `/v1/users/${userId}/tokens`, sk, {}, 201);
		await must("PUT", `/v1/users/${userId}`, token, {
			locale: "fr",
			consent: { location: true, push: false },
		});
		return { userId, token };
	};
	const ping = (person, points) =>
		request(
			"POST",
			"/v1/pings",
			person.token,
			JSON.stringify({
				userId: person.userId,
				pings: points.map(([lat, lng, at]) => ({
					lat,
					lng,
					accuracy: ACCURACY_M,
					timestamp: new Date(at).toISOString(),
				})),
			}),
		);
	const eventsOf = (answer, type) =>
		(answer?.events ?? [])
			.filter((e) => e.type === type)
			.map((e) => e.geofenceId)
			.sort();
	const sameSet = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

	// A seeded sample of stores: a ping at the centre enters exactly the stores containing it.
	const rnd = prng(SEED ^ 0x5a5a);
	const pick = (n, from) => {
		const order = Array.from({ length: from.length }, (_, i) => i);
		for (let i = order.length - 1; i > 0; i--) {
			const j = Math.floor(rnd() * (i + 1));
			[order[i], order[j]] = [order[j], order[i]];
		}
		return order.slice(0, n).map((i) => from[i]);
	};
	const sampleStores = pick(cfg.sample, stores);
	t = performance.now();
	const sample = { checked: 0, enteredOwnStore: 0, exact: 0, skippedAmbiguous: 0, failures: [] };
	await inPool(sampleStores, CONCURRENCY, async (s) => {
		const expected = grid.inside(s.lat, s.lng);
		const person = await newPerson("sample");
		const r = await ping(person, [[s.lat, s.lng, Date.now()]]);
		sample.checked++;
		const entered = eventsOf(r.body, "enter");
		const own = r.status === 200 && entered.includes(s.id);
		if (own) sample.enteredOwnStore++;
		if (expected === null) sample.skippedAmbiguous++;
		else if (r.status === 200 && sameSet(entered, expected) && (r.body.rejected ?? []).length === 0)
			sample.exact++;
		else if (sample.failures.length < 5)
			sample.failures.push({ store: s.id, status: r.status, entered, expected, rejected: r.body?.rejected });
		if (!own && sample.failures.length < 5 && !sample.failures.some((f) => f.store === s.id))
			sample.failures.push({ store: s.id, status: r.status, entered, expected });
	});
	sample.seconds = round((performance.now() - t) / 1000, 1);
	check(
		sample.enteredOwnStore === sample.checked,
		`${sample.checked - sample.enteredOwnStore} of ${sample.checked} sampled stores did not answer enter at their centre`,
	);
	check(
		sample.exact + sample.skippedAmbiguous === sample.checked,
		`${sample.checked - sample.exact - sample.skippedAmbiguous} sampled pings did not enter exactly the stores containing the point`,
	);
	say(
		`sample: ${sample.enteredOwnStore}/${sample.checked} stores entered at their centre, ${sample.exact} answers exactly the stores containing the point (${sample.skippedAmbiguous} too close to an edge to call) (${sample.seconds} s)`,
	);

	// Points outside every store (with a margin): nothing happens.
	const negatives = { checked: 0, quiet: 0, failures: [] };
	const outsidePoints = [];
	for (let guard = 0; outsidePoints.length < cfg.negatives && guard < 100_000; guard++) {
		// Near a random store (where a false positive would be), else anywhere in France.
		const s = stores[Math.floor(rnd() * stores.length)];
		const [lat, lng] =
			rnd() < 0.7
				? offsetMetres(s.lat, s.lng, (rnd() - 0.5) * 1500, (rnd() - 0.5) * 1500)
				: [41.4 + rnd() * 9.7, -4.8 + rnd() * 13];
		if (inFrance(lat, lng) && grid.clearOf(lat, lng, OUTSIDE_MARGIN_M)) outsidePoints.push([lat, lng]);
	}
	await inPool(outsidePoints, CONCURRENCY, async ([lat, lng]) => {
		const person = await newPerson("outside");
		const r = await ping(person, [[lat, lng, Date.now()]]);
		negatives.checked++;
		if (r.status === 200 && (r.body.events ?? []).length === 0 && (r.body.rejected ?? []).length === 0)
			negatives.quiet++;
		else if (negatives.failures.length < 5)
			negatives.failures.push({ lat, lng, status: r.status, body: r.body });
	});
	check(
		negatives.quiet === negatives.checked,
		`${negatives.checked - negatives.quiet} pings outside every store answered something`,
	);
	say(`outside every store: ${negatives.quiet}/${negatives.checked} pings answered nothing`);

	// The same chunk again, unchanged.
	const splitCount = async () =>
		(await d1Query(persistDir, "SELECT count(*) AS n FROM geofence_splits"))?.[0]?.n ?? null;
	const splitsBeforeReupload = await splitCount();
	const firstChunk = features.slice(0, cfg.chunk);
	let seenPut = timingCount("PUT /v1/geofences");
	let r = await request(
		"PUT",
		"/v1/geofences",
		sk,
		JSON.stringify({ type: "FeatureCollection", features: firstChunk }),
		600_000,
	);
	const reupload = {
		fences: firstChunk.length,
		status: r.status,
		upserted: r.body?.upserted ?? null,
		unchanged: r.body?.unchanged ?? null,
		seconds: round(r.ms / 1000, 2),
		serverMs: await serverTiming("PUT /v1/geofences", seenPut),
		splitCellsBefore: splitsBeforeReupload,
		splitCellsAfter: await splitCount(),
	};
	check(
		r.status === 200 && reupload.upserted === 0 && reupload.unchanged === firstChunk.length,
		`re-upload of chunk 1 answered ${r.status} upserted ${reupload.upserted} unchanged ${reupload.unchanged}`,
	);
	say(
		`chunk 1 again, unchanged: ${r.status} upserted ${reupload.upserted}, unchanged ${reupload.unchanged} in ${reupload.seconds} s; split cells ${reupload.splitCellsBefore} before, ${reupload.splitCellsAfter} after`,
	);

	// 10 stores of a chunk grow by 100 m: the chunk answers upserted 10, and pings see the new size.
	const changedChunk = chunkCount > 1 ? 1 : 0;
	const base = changedChunk * cfg.chunk;
	const chunkFeatures = features.slice(base, base + cfg.chunk).map((f) => structuredClone(f));
	const changed = pick(
		CHANGED_STORES,
		Array.from({ length: chunkFeatures.length }, (_, i) => i),
	);
	for (const i of changed)
		chunkFeatures[i].properties.radius = Math.round((chunkFeatures[i].properties.radius + GROW_M) * 10) / 10;
	const cpuC = cpuNow();
	seenPut = timingCount("PUT /v1/geofences");
	r = await request(
		"PUT",
		"/v1/geofences",
		sk,
		JSON.stringify({ type: "FeatureCollection", features: chunkFeatures }),
		600_000,
	);
	const change = {
		chunk: changedChunk + 1,
		fences: chunkFeatures.length,
		changedStores: CHANGED_STORES,
		status: r.status,
		upserted: r.body?.upserted ?? null,
		unchanged: r.body?.unchanged ?? null,
		seconds: round(r.ms / 1000, 2),
		serverMs: await serverTiming("PUT /v1/geofences", seenPut),
		cpu: cpuBetween(cpuC, cpuNow()),
		splitCellsBefore: reupload.splitCellsAfter,
		splitCellsAfter: await splitCount(),
	};
	check(
		r.status === 200 &&
			change.upserted === CHANGED_STORES &&
			change.unchanged === chunkFeatures.length - CHANGED_STORES,
		`changing ${CHANGED_STORES} stores of chunk ${change.chunk} answered ${r.status} upserted ${change.upserted} unchanged ${change.unchanged}`,
	);
	// Apply the change here too, then ping inside each grown store's new ring only.
	for (const i of changed) {
		const s = stores[base + i];
		grid.remove(s);
		s.radius = chunkFeatures[i].properties.radius;
		features[base + i] = chunkFeatures[i];
		grid.add(s);
	}
	change.pingsInNewRing = 0;
	change.pingsChecked = 0;
	change.failures = [];
	await inPool(changed, CONCURRENCY, async (i) => {
		const s = stores[base + i];
		// Between the old and the new radius, on a bearing not too close to another store's edge.
		let point = null;
		for (let k = 0; k < 16 && point === null; k++) {
			const a = (2 * Math.PI * k) / 16;
			const d = s.radius - GROW_M / 2;
			const [lat, lng] = offsetMetres(s.lat, s.lng, d * Math.cos(a), d * Math.sin(a));
			if (grid.inside(lat, lng) !== null) point = [lat, lng];
		}
		if (!point) return;
		const expected = grid.inside(point[0], point[1]);
		const person = await newPerson("changed");
		const ans = await ping(person, [[point[0], point[1], Date.now()]]);
		change.pingsChecked++;
		const entered = eventsOf(ans.body, "enter");
		if (ans.status === 200 && entered.includes(s.id) && sameSet(entered, expected)) change.pingsInNewRing++;
		else if (change.failures.length < 5)
			change.failures.push({ store: s.id, status: ans.status, entered, expected });
	});
	check(
		change.pingsInNewRing === change.pingsChecked && change.pingsChecked > 0,
		`${change.pingsChecked - change.pingsInNewRing} of ${change.pingsChecked} pings inside a grown store's new ring did not enter exactly as expected`,
	);
	say(
		`${CHANGED_STORES} stores of chunk ${change.chunk} grown by ${GROW_M} m: ${r.status} upserted ${change.upserted}, unchanged ${change.unchanged} in ${change.seconds} s (workerd CPU ${change.cpu.workerdSeconds} s, split cells ${change.splitCellsBefore} -> ${change.splitCellsAfter}); ${change.pingsInNewRing}/${change.pingsChecked} pings in the new ring entered`,
	);
	fd.stop();
	const openFilesUpload = {
		peak: fd.state.peak,
		samples: fd.state.samples,
		workerdPeakRssMb: fd.state.peakRssMb,
	};

	// ------------------------------------------------------------ 3. cold start
	// The two areas: the store whose ping lands in the fullest shard object (the most to load
	// cold), and the most isolated rural store.
	const candidatesDense = layoutInfo?.fullestLeafStores ?? [];
	const denseStores = (
		candidatesDense.length > 0 ? candidatesDense.map((id) => stores[Number(id.slice(1))]) : stores
	)
		.map((s) => ({ s, n: grid.countWithin(s.lat, s.lng, 1000) }))
		.sort((a, b) => b.n - a.n)
		.map((x) => x.s);
	const rural = stores.filter((s) => s.city === null);
	const sparseStores = pick(Math.min(400, rural.length), rural)
		.map((s) => ({ s, n: grid.countWithin(s.lat, s.lng, 1000) }))
		.sort((a, b) => a.n - b.n)
		.map((x) => x.s);
	const choose = (list, used) => {
		for (const s of list) {
			if (used.has(s.id)) continue;
			const enter = grid.inside(s.lat, s.lng);
			const out = enter === null ? null : outsidePointNear(grid, s);
			if (enter && out) {
				used.add(s.id);
				return { store: s, enter, out };
			}
		}
		throw new Error("no store with an unambiguous centre and a clear point outside nearby");
	};
	const used = new Set();
	const coldPeople = [];
	for (let k = 0; k < cfg.restarts; k++) {
		for (const area of ["dense", "sparse"]) {
			const target = choose(area === "dense" ? denseStores : sparseStores, used);
			const person = await newPerson(`cold-${area}`);
			coldPeople.push({
				restart: k + 1,
				area,
				...person,
				...target,
				neighboursWithin1km: grid.countWithin(target.store.lat, target.store.lng, 1000) - 1,
				leafFences: layoutInfo?.leafFences(target.store) ?? null,
				clock: null,
				walks: 0,
			});
		}
	}
	/** One walk-in request: outside, then WALK_MS later at the store's centre. */
	const walkIn = async (p) => {
		p.clock ??= Date.now() - TIMELINE_START_AGO_MS;
		const outAt = p.clock;
		const inAt = outAt + WALK_MS;
		p.clock = inAt + WALK_MS;
		const seenPing = timingCount("POST /v1/pings");
		const ans = await ping(p, [
			[p.out[0], p.out[1], outAt],
			[p.store.lat, p.store.lng, inAt],
		]);
		const entered = eventsOf(ans.body, "enter");
		const exited = eventsOf(ans.body, "exit");
		const right =
			ans.status === 200 &&
			(ans.body.rejected ?? []).length === 0 &&
			sameSet(entered, p.enter) &&
			sameSet(exited, p.walks > 0 ? p.enter : []);
		p.walks++;
		return {
			ms: round(ans.ms, 1),
			serverMs: await serverTiming("POST /v1/pings", seenPing),
			status: ans.status,
			right,
			entered: entered.length,
			...(right ? {} : { answer: ans.body, expectedEnter: p.enter }),
		};
	};

	const restarts = [];
	const fdCold = { peak: 0 };
	for (let k = 1; k <= cfg.restarts; k++) {
		// Odd restarts ping the dense area first, even ones the sparse area. In the second half of
		// the restarts, someone else pings at that restart's stores before it, so their shard objects
		// have answered since the upload wrote them (they may keep what they built); in the first
		// half they have not answered since the upload.
		const scouted = cfg.restarts >= 2 && k > Math.floor(cfg.restarts / 2);
		if (scouted) {
			for (const p of coldPeople.filter((x) => x.restart === k)) {
				const scout = await newPerson("scout");
				const ans = await ping(scout, [[p.store.lat, p.store.lng, Date.now()]]);
				check(
					ans.status === 200 && eventsOf(ans.body, "enter").includes(p.store.id),
					`scout ping at ${p.store.id} answered ${ans.status} ${JSON.stringify(ans.body).slice(0, 200)}`,
				);
			}
		}
		const stopAt = performance.now();
		await server.stop();
		owned.server = undefined;
		const stopSeconds = (performance.now() - stopAt) / 1000;
		({ server, seconds: startSeconds } = await start());
		const pid = workerdPid();
		const order = k % 2 === 1 ? ["dense", "sparse"] : ["sparse", "dense"];
		const entry = {
			restart: k,
			shardsPingedSinceUpload: scouted,
			stopSeconds: round(stopSeconds, 1),
			startSeconds: round(startSeconds, 1),
			openFilesAfterStart: openFiles(pid),
			pings: [],
		};
		for (const [i, area] of order.entries()) {
			const p = coldPeople.find((x) => x.restart === k && x.area === area);
			const res = await walkIn(p);
			entry.pings.push({
				area,
				firstAfterRestart: i === 0,
				shardPingedSinceUpload: scouted,
				store: p.store.id,
				city: p.store.city,
				neighboursWithin1km: p.neighboursWithin1km,
				leafFences: p.leafFences,
				walkM: Math.round(distanceMetres(p.out[0], p.out[1], p.store.lat, p.store.lng)),
				...res,
			});
			check(
				res.right,
				`cold ping (${area}, restart ${k}) was not answered right: ${JSON.stringify(res).slice(0, 400)}`,
			);
			say(
				`restart ${k}: ${i === 0 ? "first" : "second"} ping after the restart, ${area} (${p.store.id}, ${p.store.city ?? "rural"}, ${p.neighboursWithin1km} stores within 1 km, its shard object holds ${p.leafFences ?? "?"} fences, ${scouted ? "pinged" : "not pinged"} since the upload): ${res.ms} ms (workerd ${res.serverMs} ms), ${res.right ? `right (${res.entered} enter)` : "WRONG"}`,
			);
		}
		entry.openFilesAfterPings = openFiles(pid);
		fdCold.peak = Math.max(fdCold.peak, entry.openFilesAfterStart ?? 0, entry.openFilesAfterPings ?? 0);
		restarts.push(entry);
		say(
			`restart ${k}: stop ${stopSeconds.toFixed(1)} s, start ${startSeconds.toFixed(1)} s (migrations check included)`,
		);
	}

	// Warm: the last restart's two people walk in again and again, alternating.
	const warmPeople = coldPeople.filter((p) => p.restart === cfg.restarts);
	const warm = [];
	for (let i = 0; i < cfg.warm; i++) {
		const p = warmPeople[i % warmPeople.length];
		warm.push({ area: p.area, ...(await walkIn(p)) });
	}
	const warmRight = warm.filter((w) => w.right).length;
	check(
		warmRight === warm.length,
		`${warm.length - warmRight} of ${warm.length} warm pings were not answered right`,
	);
	const firsts = restarts.flatMap((x) => x.pings.filter((p) => p.firstAfterRestart));
	const coldByArea = (area) => restarts.flatMap((x) => x.pings.filter((p) => p.area === area));
	const coldStart = {
		restarts,
		firstPingMs: firsts.map((p) => ({ area: p.area, ms: p.ms, serverMs: p.serverMs, right: p.right })),
		firstPingMaxMs: Math.max(...firsts.map((p) => p.ms)),
		coldDenseMs: coldByArea("dense").map((p) => p.ms),
		coldSparseMs: coldByArea("sparse").map((p) => p.ms),
		warm: {
			requests: warm.length,
			right: warmRight,
			ms: stats(warm.map((w) => w.ms)),
			serverMs: stats(warm.map((w) => w.serverMs).filter((x) => x !== null)),
			denseMs: stats(warm.filter((w) => w.area === "dense").map((w) => w.ms)),
			sparseMs: stats(warm.filter((w) => w.area === "sparse").map((w) => w.ms)),
		},
		people: coldPeople.map((p) => ({
			restart: p.restart,
			area: p.area,
			store: p.store.id,
			city: p.store.city,
			radius: p.store.radius,
			storesAtCentre: p.enter.length,
			neighboursWithin1km: p.neighboursWithin1km,
			leafFences: p.leafFences,
		})),
	};
	coldStart.targetMet = coldStart.firstPingMaxMs < TARGETS.firstPingMs && firsts.every((p) => p.right);
	say(
		`COLD START: first ping ${firsts.map((p) => `${p.area} ${p.ms} ms`).join(", ")} (target < ${TARGETS.firstPingMs} ms: ${coldStart.targetMet ? "met" : "MISSED"}); warm median ${coldStart.warm.ms.p50} ms (dense ${coldStart.warm.denseMs.p50}, sparse ${coldStart.warm.sparseMs.p50}), p90 ${coldStart.warm.ms.p90}, max ${coldStart.warm.ms.max}; ${warmRight}/${warm.length} right`,
	);

	const pid = workerdPid();
	const openFilesLimitNow = pid === null ? null : openFilesLimit(pid);
	const persistBytes = dirBytes(persistDir);
	await server.stop();
	owned.server = undefined;

	// ------------------------------------------------------------ the result
	const result = {
		benchmark: "national chain: bulk upload, truthfulness, cold start",
		mode,
		generatedAt: new Date().toISOString(),
		service: {
			from: service.from,
			commit: service.commit,
			uncommittedFiles: service.uncommitted,
			vars: extraVars,
		},
		machine: {
			nproc: os.availableParallelism(),
			cpu: os.cpus()[0]?.model ?? null,
			memoryGb: Math.round(os.totalmem() / 2 ** 30),
			node: process.version,
			platform: `${os.platform()} ${os.release()}`,
			wrangler: wranglerVersion(),
			workerdOpenFilesLimit: openFilesLimitNow,
		},
		note: "wrangler dev on one machine (one workerd process runs the Worker and every Durable Object; D1 and object storage are SQLite files on local disk), not Cloudflare's network.",
		targets: TARGETS,
		config: {
			...cfg,
			seed: SEED,
			accuracyM: ACCURACY_M,
			walkMs: WALK_MS,
			changedStores: CHANGED_STORES,
			growM: GROW_M,
			// wrangler 4.164 streams every invocation and span to a local trace store unless this is "false".
			X_LOCAL_OBSERVABILITY: process.env.X_LOCAL_OBSERVABILITY ?? null,
		},
		world: world.stats,
		upload: {
			seconds: round(uploadSeconds, 1),
			targetMet: uploadSeconds < TARGETS.uploadSeconds,
			serverStartSeconds: round(firstStartSeconds, 1),
			chunkSeconds,
			chunkServerMs: stats(chunks.map((c) => c.serverMs).filter((x) => x !== null)),
			allChunksWhole: chunks.every((c) => c.status === 200 && c.upserted === c.fences),
			cpu: uploadCpu,
			chunks,
		},
		layout,
		openFiles: { ...openFilesUpload, afterRestarts: fdCold.peak, limit: openFilesLimitNow },
		persistBytes,
		truthfulness: { listing, sample, negatives, reupload, change },
		coldStart,
		server: {
			reloads: serverLog.reloads,
			traceStreamErrors: serverLog.traceStreamErrors,
			errorLines: serverLog.errorLines,
		},
		failures,
		pass: failures.length === 0,
	};
	if (!args["no-write"]) {
		await mkdir(path.join(HERE, "results"), { recursive: true });
		const out = path.join(HERE, "results", mode === "quick" ? "upload-quick.json" : "upload.json");
		await writeFile(out, `${JSON.stringify(result, null, "\t")}\n`);
		console.log(`wrote ${path.relative(process.cwd(), out)}`);
		if (mode === "full" && cfg.fences === PROFILES.full.fences) {
			replaceBlock(
				path.join(HERE, "README-upload.md"),
				"upload:results",
				`${measuredLine(result)}\n\n${table(result)}\n\nPer chunk (CPU in seconds; "other" is CPU used by other programs on the machine meanwhile):\n\n${chunkTable(result)}`,
			);
			console.log("bench/README-upload.md: results table regenerated");
		}
	}
	console.log(`\n${table(result)}\n`);
	if (serverLog.reloads > 0)
		console.log(`warning: wrangler reloaded the Worker ${serverLog.reloads} time(s)`);
	if (serverLog.errorLines.length > 0)
		console.log(
			`wrangler error lines (first ${serverLog.errorLines.length}):\n  ${serverLog.errorLines.join("\n  ")}`,
		);
	console.log(
		failures.length === 0
			? "every check held"
			: `${failures.length} check(s) FAILED:\n  ${failures.join("\n  ")}`,
	);
	return failures.length === 0 ? 0 : 1;
}

/**
 * The layout from D1's catalog (each fence's shard objects): split cells, shard objects holding
 * fences, copies per fence, fences per object. Also, not serialized: the stores of the fullest
 * object, and for a store the number of fences of the object a ping at its centre reads (the
 * fence's object whose cell contains the centre).
 */
async function layoutFromD1(persistDir) {
	const rows = await d1Query(persistDir, "SELECT id, shards FROM geofences");
	const splits = await d1Query(persistDir, "SELECT cell FROM geofence_splits");
	if (!rows || !splits) return null;
	const { getResolution, latLngToCell } = await import("h3-js");
	const perKey = new Map();
	const copies = [];
	const keysOf = new Map();
	for (const r of rows) {
		const keys = JSON.parse(r.shards);
		keysOf.set(r.id, keys);
		copies.push(keys.length);
		for (const k of keys) perKey.set(k, (perKey.get(k) ?? 0) + 1);
	}
	const sizes = [...perKey.values()];
	const splitsByResolution = {};
	for (const { cell } of splits) {
		const res = getResolution(cell);
		splitsByResolution[res] = (splitsByResolution[res] ?? 0) + 1;
	}
	const objectsByResolution = {};
	for (const k of perKey.keys()) {
		const res = getResolution(k.split("/")[0]);
		objectsByResolution[res] = (objectsByResolution[res] ?? 0) + 1;
	}
	const [fullestKey, fullestCount] = [...perKey].sort((a, b) => b[1] - a[1])[0] ?? [null, 0];
	const fullestLeafStores = rows.filter((r) => keysOf.get(r.id).includes(fullestKey)).map((r) => r.id);
	return {
		summary: {
			splitCells: splits.length,
			splitsByResolution,
			shardObjectsWithFences: perKey.size,
			objectsByResolution,
			copiesPerFence: stats(copies),
			fencesPerObject: stats(sizes),
			storedCopies: copies.reduce((a, b) => a + b, 0),
			objectsOver500: sizes.filter((n) => n > 500).length,
			fullestObject: {
				key: fullestKey,
				fences: fullestCount,
				resolution: fullestKey ? getResolution(fullestKey.split("/")[0]) : null,
			},
		},
		fullestLeafStores,
		/** Fences held by the object a ping at the store's centre reads. */
		leafFences(store) {
			for (const k of keysOf.get(store.id) ?? []) {
				const cell = k.split("/")[0];
				if (latLngToCell(store.lat, store.lng, getResolution(cell)) === cell) return perKey.get(k) ?? null;
			}
			return null;
		},
	};
}

function wranglerVersion() {
	try {
		return JSON.parse(readFileSync(path.join(HERE, "..", "node_modules", "wrangler", "package.json"), "utf8"))
			.version;
	} catch {
		return null;
	}
}

/** Which code and setup a result measured, for the README block. */
function measuredLine(result) {
	const sv = result.service;
	const code = sv.commit
		? `commit \`${sv.commit.slice(0, 7)}\`${sv.uncommittedFiles.length > 0 ? ` plus uncommitted changes to ${sv.uncommittedFiles.join(", ")}` : ""}`
		: "a checkout outside git";
	const m = result.machine;
	return `Measured ${result.generatedAt.slice(0, 10)} at ${code} with \`npm run bench:upload\` (wrangler dev on one ${m.nproc}-core machine with ${m.memoryGb} GB, Node ${m.node}, wrangler ${m.wrangler}; not Cloudflare's network). Checks: ${result.pass ? "every one held" : `**${result.failures.length} failed**`}.`;
}

/** The results as a Markdown table. */
function table(result) {
	const u = result.upload;
	const tr = result.truthfulness;
	const cs = result.coldStart;
	const fmt = (n) => (typeof n === "number" ? n.toLocaleString("en") : String(n));
	const ping = (p) =>
		`${p.area} **${p.ms} ms** (workerd ${p.serverMs ?? "?"} ms, object of ${fmt(p.leafFences ?? "?")} fences)${p.right ? "" : " **wrong**"}`;
	const rows = [
		[
			"stores uploaded (circles, 50-300 m)",
			`${fmt(result.config.fences)} in ${u.chunks.length} chunks of ${fmt(result.config.chunk)}`,
		],
		[
			`upload total (target < ${result.targets.uploadSeconds} s)`,
			`**${u.seconds} s** (${u.targetMet ? "met" : "missed"})`,
		],
		["chunk time median / max", `${u.chunkSeconds.p50} s / ${u.chunkSeconds.max} s`],
		["chunk time first / last", `${u.chunks[0]?.seconds} s / ${u.chunks.at(-1)?.seconds} s`],
		[
			"workerd CPU during the upload",
			`${u.cpu.workerdSeconds} s (${Math.round((u.cpu.workerdSeconds / u.cpu.wallSeconds) * 100)} % of one core)`,
		],
		["every chunk 200 with upserted = chunk size", u.allChunksWhole ? "yes" : "**no**"],
		[
			"layout after the upload",
			result.layout
				? `${fmt(result.layout.splitCells)} split cells, ${fmt(result.layout.shardObjectsWithFences)} shard objects, ${result.layout.copiesPerFence.mean} copies a fence (max ${result.layout.copiesPerFence.max}), fullest object ${fmt(result.layout.fullestObject.fences)} fences (res ${result.layout.fullestObject.resolution})`
				: "n/a",
		],
		[
			"GET /v1/geofences paged to the end",
			`${fmt(tr.listing.listed)} ids, ${tr.listing.exact ? "exactly the uploaded ones" : "**not** the uploaded ones"} (${tr.listing.pages} pages, ${tr.listing.seconds} s)`,
		],
		[
			"sampled stores entered by a ping at their centre",
			`${tr.sample.enteredOwnStore} / ${tr.sample.checked} (exact set of stores: ${tr.sample.exact}, ${tr.sample.skippedAmbiguous} too close to an edge to call)`,
		],
		["pings outside every store answered nothing", `${tr.negatives.quiet} / ${tr.negatives.checked}`],
		[
			"one chunk again, unchanged",
			`upserted ${tr.reupload.upserted}, unchanged ${fmt(tr.reupload.unchanged)} in ${tr.reupload.seconds} s`,
		],
		[
			`${tr.change.changedStores} stores of a chunk grown by ${result.config.growM} m`,
			`upserted ${tr.change.upserted}, unchanged ${fmt(tr.change.unchanged)} in ${tr.change.seconds} s; ${tr.change.pingsInNewRing} / ${tr.change.pingsChecked} pings in the new ring entered`,
		],
		[
			"workerd open files, peak during the upload",
			`${fmt(result.openFiles.peak)} (limit ${result.openFiles.limit ? fmt(result.openFiles.limit.soft) : "?"})`,
		],
		...cs.restarts.map((x) => [
			`restart ${x.restart}, shards ${x.shardsPingedSinceUpload ? "pinged" : "not pinged"} since the upload: first ping, then second`,
			x.pings.map(ping).join("; "),
		]),
		[
			`warm pings (${cs.warm.requests}), median / p90 / max`,
			`**${cs.warm.ms.p50} ms** / ${cs.warm.ms.p90} ms / ${cs.warm.ms.max} ms (dense ${cs.warm.denseMs.p50}, sparse ${cs.warm.sparseMs.p50}); ${cs.warm.right} / ${cs.warm.requests} right`,
		],
		[
			`first ping after a restart (target < ${result.targets.firstPingMs} ms)`,
			`${cs.firstPingMaxMs} ms at worst (${cs.targetMet ? "met" : "missed"})`,
		],
	];
	return alignedTable(["quantity", "value"], rows);
}

/** The upload, chunk by chunk. */
function chunkTable(result) {
	const head = [
		"chunk",
		"s",
		"wrangler ms",
		"workerd CPU",
		"other CPU",
		"split cells",
		"shard objects",
		"open files",
	];
	const rows = result.upload.chunks.map((c) => [
		c.chunk,
		c.seconds,
		c.serverMs ?? "?",
		c.cpu.workerdSeconds,
		c.cpu.otherSeconds ?? "?",
		c.splitCells ?? "?",
		c.shardObjectsOnDisk,
		c.openFilesPeak,
	]);
	return alignedTable(head, rows);
}

/** A Markdown table with padded columns (as Biome formats it). */
function alignedTable(head, rows) {
	const all = [head, ...rows].map((r) => r.map(String));
	const width = head.map((_, i) => Math.max(3, ...all.map((r) => [...r[i]].length)));
	const line = (r) => `| ${r.map((c, i) => c + " ".repeat(width[i] - [...c].length)).join(" | ")} |`;
	return [line(all[0]), `| ${width.map((w) => "-".repeat(w)).join(" | ")} |`, ...all.slice(1).map(line)].join(
		"\n",
	);
}

let code = 1;
try {
	code = await main();
} catch (error) {
	if (!stopping.signal.aborted)
		console.error(
			`\nbench:upload failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`,
		);
} finally {
	clearTimeout(watchdog);
	if (!stopping.signal.aborted) {
		await cleanup();
		process.exit(code);
	}
}
