// PostGIS for the matcher benchmark: a throwaway PostgreSQL cluster in a temp directory, on
// loopback, started and stopped by the benchmark. When PostgreSQL or PostGIS is not installed
// (as in CI), `findPostgis` says why and the benchmark runs without this peer.
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { join } from "node:path";

/** Where PostgreSQL's server binaries and a PostGIS extension are, or why they are not usable. */
export function findPostgis() {
	const candidates = [];
	for (const root of ["/usr/lib/postgresql", "/usr/local/lib/postgresql"]) {
		if (!existsSync(root)) continue;
		for (const v of readdirSync(root).sort((a, b) => Number(b) - Number(a)))
			candidates.push(join(root, v, "bin"));
	}
	candidates.push("/usr/local/pgsql/bin");
	for (const bin of candidates) {
		if (!existsSync(join(bin, "pg_ctl")) || !existsSync(join(bin, "initdb"))) continue;
		let share = "";
		try {
			share = execFileSync(join(bin, "pg_config"), ["--sharedir"], { encoding: "utf8" }).trim();
		} catch {
			share = bin.replace(/\/lib\/postgresql\/(\d+)\/bin$/, "/share/postgresql/$1");
		}
		if (existsSync(join(share, "extension", "postgis.control"))) return { ok: true, bin };
		return { ok: false, reason: `PostgreSQL found in ${bin} but not the PostGIS extension` };
	}
	return { ok: false, reason: "PostgreSQL server binaries (initdb, pg_ctl) not found" };
}

function freePort() {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.on("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const { port } = server.address();
			server.close(() => resolve(port));
		});
	});
}

/**
 * Starts a cluster: initdb (trust auth, C locale, user `bench`) in a temp dir, pg_ctl start on
 * 127.0.0.1. As root, PostgreSQL refuses to run, so the cluster belongs to the `postgres` user.
 *
 * @returns {{ port: number, dir: string, stop: () => void }}
 */
export async function startPostgis(bin) {
	const dir = mkdtempSync(join(os.tmpdir(), "bench-postgis-"));
	const data = join(dir, "data");
	let as = [];
	if (process.getuid?.() === 0) {
		const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
		const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
		chownSync(dir, uid, gid);
		as = ["runuser", "-u", "postgres", "--"];
	}
	const run = (cmd, args) => {
		const full = [...as, cmd, ...args];
		const r = spawnSync(full[0], full.slice(1), { encoding: "utf8" });
		if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr || r.stdout}`);
	};
	const port = await freePort();
	run(join(bin, "initdb"), ["-D", data, "-U", "bench", "--auth=trust", "--no-locale", "-E", "UTF8"]);
	const options = [
		"-c listen_addresses=127.0.0.1",
		`-p ${port}`,
		`-k ${dir}`,
		// A benchmark cluster: durability off, memory for the index.
		"-c fsync=off",
		"-c synchronous_commit=off",
		"-c full_page_writes=off",
		"-c shared_buffers=2GB",
		"-c work_mem=64MB",
		"-c maintenance_work_mem=1GB",
		"-c max_wal_size=8GB",
		"-c jit=off",
	].join(" ");
	run(join(bin, "pg_ctl"), ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "120", "start"]);
	let stopped = false;
	const stop = () => {
		if (stopped) return;
		stopped = true;
		try {
			run(join(bin, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "stop"]);
		} catch (e) {
			console.error(`PostGIS: stop failed: ${e.message}`);
		}
		rmSync(dir, { recursive: true, force: true });
	};
	return { port, dir, stop };
}

let ticks = 100;
try {
	ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {
	// Linux's usual USER_HZ.
}

/** CPU seconds (user + system) a process has used, from /proc (Linux; clock ticks, usually 10 ms). */
export function processCpuSeconds(pid) {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
		// Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the command name.
		return (Number(fields[11]) + Number(fields[12])) / ticks;
	} catch {
		return Number.NaN;
	}
}
