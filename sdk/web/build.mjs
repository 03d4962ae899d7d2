// Builds the npm package into dist/: the SDK as an ES module with `idb` left as a dependency
// (bundlers dedupe it), the service worker fully bundled (it is copied to a site as one file),
// and the type declarations. The service itself serves its own bundle (idb included) from
// scripts/build.mjs at the repository root.
import { execFileSync } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, "dist");
await rm(dist, { recursive: true, force: true });
const common = { bundle: true, format: "esm", platform: "browser", target: "es2020", logLevel: "info" };
await esbuild.build({
	...common,
	entryPoints: [path.join(here, "src", "index.ts")],
	external: ["idb"],
	minify: true,
	outfile: path.join(dist, "edge-offers.js"),
});
await esbuild.build({
	...common,
	entryPoints: [path.join(here, "src", "sw.ts")],
	outfile: path.join(dist, "edge-offers-sw.js"),
});
execFileSync(
	"tsc",
	[
		"-p",
		path.join(here, "tsconfig.json"),
		"--noEmit",
		"false",
		"--declaration",
		"--emitDeclarationOnly",
		"--outDir",
		dist,
		"--rootDir",
		path.join(here, "src"),
	],
	{ stdio: "inherit" },
);
