// Where the CPU goes during a benchmark step: this process (load generator, push receiver,
// decryption), and every process it started (wrangler's Node and workerd), read from /proc,
// plus the whole machine's busy time so other load on the box shows up. Linux only; elsewhere
// the samples are empty and the report says so.
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
		// rest[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
		return { pid, comm, ppid: rest[1], ticks: rest[11] + rest[12] };
	} catch {
		return null;
	}
}

/** Every descendant of `root` (not root itself), with CPU ticks. */
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

/** A point-in-time reading; `cpuBetween(a, b)` turns two of them into shares of one core. */
export function sampleCpu() {
	/** "name:pid" -> ticks, so a process that restarts (workerd on reload) is not subtracted from another. */
	const byProcess = {};
	for (const s of descendants(process.pid)) {
		// Everything but workerd is wrangler's side: its Node process (named "MainThread") and esbuild.
		const name = s.comm === "workerd" ? "workerd" : "wrangler";
		byProcess[`${name}:${s.pid}`] = s.ticks;
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
 * Average CPU between two samples, in % of one core (200 % = both cores of a 2-core box).
 *
 * @returns {{ [process: string]: number, benchProcess: number, machineBusy: number | null, otherLoad: number | null }}
 */
export function cpuBetween(a, b) {
	const seconds = (b.at - a.at) / 1000;
	const pct = (ticks) => Math.round(((ticks / TICKS_PER_S) * 100) / seconds);
	const out = {};
	let ours = 0;
	const used = {};
	for (const [key, ticks] of Object.entries(b.children)) {
		const name = key.slice(0, key.lastIndexOf(":"));
		used[name] = (used[name] ?? 0) + ticks - (a.children[key] ?? 0);
	}
	for (const [name, ticks] of Object.entries(used)) {
		out[name] = pct(ticks);
		ours += ticks;
	}
	const selfTicks = ((b.selfMicros - a.selfMicros) / 1e6) * TICKS_PER_S;
	out.benchProcess = pct(selfTicks);
	ours += selfTicks;
	if (a.machine && b.machine) {
		out.machineBusy = pct(b.machine.busy - a.machine.busy);
		// Busy time on the machine that is neither this process nor what it started.
		out.otherLoad = Math.max(0, pct(b.machine.busy - a.machine.busy - ours));
	} else {
		out.machineBusy = null;
		out.otherLoad = null;
	}
	return out;
}
