// Where the CPU goes during a benchmark step, per process, read from /proc: this process (load
// generator, push receiver, decryption), and every process it started, attributed to the
// `wrangler dev` server it belongs to and to its role there, plus the whole machine's busy time
// so other load on the box shows up. Linux only; elsewhere the samples are empty and the report
// says so.
//
// `wrangler dev` runs two workerd processes: one for the Worker under test (its Worker, its
// Durable Objects, local D1, the rate-limit bindings: everything the service itself does) and
// one for wrangler's development proxy in front of it (the public port, request logging, the
// inspector proxy). Their roles:
// - "workerd": the Worker's own workerd (launched with `--socket-addr=entry=127.0.0.1:0`);
// - "proxy":   the proxy's workerd, listening on the server's public port;
// - "wrangler": wrangler's Node process and esbuild.
// The service's own CPU per ping is its "workerd" alone.

import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_S = 100; // USER_HZ on Linux

function readStat(pid) {
	try {
		const raw = readFileSync(`/proc/${pid}/stat`, "utf8");
		// comm may hold spaces and parentheses: split after the last ')'.
		const close = raw.lastIndexOf(")");
		const comm = raw.slice(raw.indexOf("(") + 1, close);
		const rest = raw
			.slice(close + 2)
			.split(" ")
			.map(Number);
		// rest[0] is field 3 (state); ppid is field 4, utime 14, stime 15 (all threads).
		return { pid, comm, ppid: rest[1], ticks: rest[11] + rest[12] };
	} catch {
		return null;
	}
}

/** Command lines do not change: read once per process. */
const cmdlines = new Map();
function cmdline(pid) {
	let c = cmdlines.get(pid);
	if (c === undefined) {
		try {
			c = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
		} catch {
			c = [];
		}
		if (cmdlines.size > 10_000) cmdlines.clear();
		cmdlines.set(pid, c);
	}
	return c;
}

/** Every descendant of `root` (not root itself), with CPU ticks, parents before children. */
function descendants(root) {
	let pids;
	try {
		pids = readdirSync("/proc").filter((n) => /^\d+$/.test(n));
	} catch {
		return [];
	}
	const stats = pids.map((p) => readStat(Number(p))).filter((s) => s !== null);
	const children = new Map();
	for (const s of stats) {
		if (!children.has(s.ppid)) children.set(s.ppid, []);
		children.get(s.ppid).push(s);
	}
	const out = [];
	const queue = [...(children.get(root) ?? [])];
	for (let guard = 0; queue.length > 0 && guard < 10_000; guard++) {
		const s = queue.shift();
		out.push(s);
		queue.push(...(children.get(s.pid) ?? []));
	}
	return out;
}

/** The `--port` of a `wrangler dev` command line, or null. */
function devPort(args) {
	if (!args.includes("dev")) return null;
	const i = args.indexOf("--port");
	return i >= 0 ? Number(args[i + 1]) : null;
}

function machineTicks() {
	try {
		const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
		const v = line.trim().split(/\s+/).slice(1).map(Number);
		const idle = (v[3] ?? 0) + (v[4] ?? 0);
		const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
		return { busy: total - idle, total };
	} catch {
		return null;
	}
}

/**
 * A point-in-time reading; `cpuBetween(a, b)` turns two of them into CPU time per process group.
 *
 * @param {Record<number, string>} servers public port -> server name ("service", "floor")
 */
export function sampleCpu(servers = {}) {
	/** "group:pid" -> ticks, so a process that restarts is never subtracted from another. */
	const byProcess = {};
	const serverOf = new Map(); // pid -> { name, port } of the `wrangler dev` it belongs to
	for (const s of descendants(process.pid)) {
		const args = s.comm === "workerd" || s.comm === "esbuild" ? [] : cmdline(s.pid);
		const port = devPort(args);
		const server =
			port !== null
				? { name: servers[port] ?? `port-${port}`, port }
				: (serverOf.get(s.ppid) ?? { name: "setup", port: null });
		serverOf.set(s.pid, server);
		let role = "wrangler";
		if (s.comm === "workerd") {
			const entry = cmdline(s.pid).find((a) => a.startsWith("--socket-addr=entry="));
			role = server.port !== null && entry?.endsWith(`:${server.port}`) ? "proxy" : "workerd";
		}
		byProcess[`${server.name}.${role}:${s.pid}`] = s.ticks;
	}
	const self = process.cpuUsage();
	return {
		at: performance.now(),
		children: byProcess,
		selfMicros: self.user + self.system,
		machine: machineTicks(),
	};
}

/**
 * CPU used between two samples, per group ("service.workerd", "service.proxy",
 * "service.wrangler", "floor.workerd", ..., "benchProcess", and "otherLoad": busy time on the
 * machine that is neither this process nor anything it started).
 *
 * @returns {{ seconds: number, ms: Record<string, number>, percent: Record<string, number>, machineBusyPercent: number | null }}
 *   `ms`: CPU milliseconds; `percent`: % of one core on average (200 % = both cores of a 2-core box)
 */
export function cpuBetween(a, b) {
	const seconds = (b.at - a.at) / 1000;
	const ms = {};
	let ours = 0;
	for (const [key, ticks] of Object.entries(b.children)) {
		const name = key.slice(0, key.lastIndexOf(":"));
		const used = ticks - (a.children[key] ?? 0);
		ms[name] = (ms[name] ?? 0) + (used * 1000) / TICKS_PER_S;
		ours += used;
	}
	const selfTicks = ((b.selfMicros - a.selfMicros) / 1e6) * TICKS_PER_S;
	ms.benchProcess = (selfTicks * 1000) / TICKS_PER_S;
	ours += selfTicks;
	let machineBusyPercent = null;
	if (a.machine && b.machine) {
		const busy = b.machine.busy - a.machine.busy;
		machineBusyPercent = Math.round(((busy / TICKS_PER_S) * 100) / seconds);
		ms.otherLoad = Math.max(0, ((busy - ours) * 1000) / TICKS_PER_S);
	}
	const percent = {};
	for (const [name, v] of Object.entries(ms)) percent[name] = Math.round(v / 10 / seconds);
	for (const name of Object.keys(ms)) ms[name] = Math.round(ms[name]);
	return { seconds: Number(seconds.toFixed(2)), ms, percent, machineBusyPercent };
}
