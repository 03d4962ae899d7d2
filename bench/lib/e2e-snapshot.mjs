// The service the end-to-end benchmark runs, frozen for the length of the run. `wrangler dev`
// rebuilds and restarts the Worker whenever a source file it bundled changes; on a machine where
// people (or other sessions) keep editing the repository, that restarts the service in the middle
// of a rate step (requests fail with "Your worker restarted mid-request") and mixes two versions
// of the code in one result. So the benchmark serves a snapshot: the files wrangler needs, taken
// from the working tree when the run starts (default: what the other benchmarks measure too; the
// result lists the service files that differ from the commit) or from the commit itself, with
// node_modules linked from the repository.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, symlink } from "node:fs/promises";
import path from "node:path";
import { measuredCode } from "./git-state.mjs";

/** What `wrangler dev` reads: its config, the Worker, the core it imports, the D1 migrations. */
const SERVICE_PATHS = ["wrangler.toml", "package.json", "tsconfig.json", "worker", "src", "migrations"];

/**
 * @param {string} root the repository
 * @param {string} dir an empty directory to fill
 * @param {"head" | "worktree"} from
 * @returns {{ dir: string, from: string, commit: string | null, uncommitted: string[] }}
 *   `uncommitted`: the service files that differ from the commit (measured only with "worktree")
 */
export async function snapshotService(root, dir, from) {
	await mkdir(dir, { recursive: true });
	const { commit, uncommitted } = measuredCode(root, SERVICE_PATHS);
	if (commit === null && from === "head")
		throw new Error("--service-from=head needs a git checkout; use --service-from=worktree");
	if (from === "head") {
		const tar = execFileSync("git", ["archive", "--format=tar", "HEAD", "--", ...SERVICE_PATHS], {
			cwd: root,
			maxBuffer: 256 << 20,
		});
		const untar = spawnSync("tar", ["-x", "-C", dir], { input: tar });
		if (untar.status !== 0) throw new Error(`tar -x failed: ${untar.stderr}`);
	} else {
		for (const p of SERVICE_PATHS) await cp(path.join(root, p), path.join(dir, p), { recursive: true });
	}
	await symlink(path.join(root, "node_modules"), path.join(dir, "node_modules"), "dir");
	// Static assets (SDK, console): the built ones when there are, else none (wrangler only needs
	// the directory; the benchmarks call the API).
	const assets = path.join(root, "dist", "assets");
	if (existsSync(assets)) await cp(assets, path.join(dir, "dist", "assets"), { recursive: true });
	else await mkdir(path.join(dir, "dist", "assets"), { recursive: true });
	return { dir, from, commit, uncommitted: from === "worktree" ? uncommitted : [] };
}

/**
 * The floor program (bench/floor: its wrangler.toml, its Worker), copied for the same reason:
 * `wrangler dev` must not restart it when the repository changes during a run.
 *
 * @param {string} root the repository
 * @param {string} dir an empty directory to fill
 * @returns {Promise<{ dir: string }>}
 */
export async function snapshotFloor(root, dir) {
	await cp(path.join(root, "bench", "floor"), dir, { recursive: true });
	await symlink(path.join(root, "node_modules"), path.join(dir, "node_modules"), "dir");
	return { dir };
}
