// Which code a benchmark measured: the commit checked out and the measured files that differ
// from it, so a committed result names the commit it belongs to (and says when it does not).
import { execFileSync } from "node:child_process";

/**
 * @param {string} root the repository
 * @param {string[]} paths the files and folders whose code the benchmark runs
 * @returns {{ commit: string | null, uncommitted: string[] }} `commit` is null outside a git checkout
 */
export function measuredCode(root, paths) {
	try {
		const git = (...args) => execFileSync("git", args, { cwd: root, encoding: "utf8", maxBuffer: 64 << 20 });
		const commit = git("rev-parse", "HEAD").trim();
		const uncommitted = git("status", "--porcelain", "--", ...paths)
			.split("\n")
			.filter((l) => l.trim() !== "")
			.map((l) => l.slice(3));
		return { commit, uncommitted };
	} catch {
		return { commit: null, uncommitted: [] };
	}
}
