// Regenerates the matcher tables of bench/README.md from bench/results/match.json (and
// match-quick.json): the text between `<!-- match:results:start -->` and
// `<!-- match:results:end -->` is replaced; and the full run's main table in the top-level
// README.md, between the same markers (not with `--bench-only`). Run after `npm run bench:match`:
//
//   node bench/match-readme.mjs [--bench-only]
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { replaceBlock } from "./lib/readme-block.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const label = {
	ours: "**ours** (grid index)",
	rtree: "R-tree (flatbush) + turf",
	naive: "naive turf scan",
	postgis: "PostGIS, prepared query",
	"postgis-batch": "PostGIS, batched set query",
};
const n = (x, d = 0) => x.toLocaleString("en", { maximumFractionDigits: d, minimumFractionDigits: d });
const ratio = (x) => (x >= 100 ? `${n(x)}×` : `${n(x, 1)}×`);

function measuredAt(report) {
	const code = report.code;
	if (!code?.commit) return "";
	const dirty =
		code.uncommitted.length > 0 ? ` plus uncommitted changes to ${code.uncommitted.join(", ")}` : "";
	return ` at commit \`${code.commit.slice(0, 7)}\`${dirty}`;
}

function tables(report, { mainOnly = false } = {}) {
	const lines = [];
	const env = report.environment;
	lines.push(
		`Measured ${report.date.slice(0, 10)}${measuredAt(report)} with \`${report.command}\`: Node ${env.node}, ${env.cpu}, ${env.cpus} vCPUs, ${env.memoryGiB} GiB; PostGIS ${env.postgis}; ${n(report.method.pings)} pings, medians of ${report.method.runs} runs.`,
		"",
		"| fences | engine | pings/s per core | ours ÷ engine | pings timed | build | bytes / fence |",
		"| -----: | ------ | ---------------: | ------------: | ----------: | ----: | ------------: |",
	);
	for (const r of report.results) {
		for (const e of r.engines) {
			const build =
				e.engine === "naive" ? "–" : e.buildMs >= 1000 ? `${n(e.buildMs / 1000, 1)} s` : `${n(e.buildMs)} ms`;
			lines.push(
				`| ${n(r.fences)} | ${label[e.engine]} | ${n(e.pingsPerSecPerCore)} | ${e.engine === "ours" ? "1" : ratio(e.oursOverPeer)} | ${n(e.timedPings)} | ${build} | ${n(e.bytesPerFence)} |`,
			);
		}
	}
	if (mainOnly) return lines.join("\n");
	lines.push(
		"",
		"| fences | pings inside a fence | in several | answers checked equal to ours |",
		"| -----: | ---: | ---: | --- |",
	);
	for (const r of report.results) {
		const checked = Object.entries(r.checked)
			.map(([k, v]) => `${k} ${v === r.pings ? "all" : n(v)}`)
			.join(", ");
		lines.push(
			`| ${n(r.fences)} | ${n((100 * r.pingsInside) / r.pings, 1)} % | ${n((100 * r.pingsInSeveral) / r.pings, 1)} % | ${checked} |`,
		);
	}
	if (report.targetsAt100k) {
		lines.push("", "Targets at 100,000 fences:", "");
		for (const [k, v] of Object.entries(report.targetsAt100k)) {
			const value = typeof v.value === "number" ? n(v.value, 1) : v.value;
			lines.push(`- ${k}: ${value} — **${v.met ? "met" : "not met"}**`);
		}
	}
	return lines.join("\n");
}

const parts = [];
for (const [file, title] of [
	["match.json", "Full run"],
	["match-quick.json", "Quick run (`--quick`, what CI runs)"],
]) {
	const path = join(here, "results", file);
	if (existsSync(path)) parts.push(`#### ${title}\n\n${tables(JSON.parse(readFileSync(path, "utf8")))}`);
}
replaceBlock(join(here, "README.md"), "match:results", parts.join("\n\n"));
console.log("bench/README.md: matcher tables regenerated");
const full = join(here, "results", "match.json");
if (existsSync(full) && !process.argv.includes("--bench-only")) {
	replaceBlock(
		join(here, "..", "README.md"),
		"match:results",
		tables(JSON.parse(readFileSync(full, "utf8")), { mainOnly: true }),
	);
	console.log("README.md: matcher table regenerated");
}
