#!/usr/bin/env node
// `edge-offers` (package.json "bin"): runs cli/main.ts. The command imports the service's own
// TypeScript (the geofence validator and limits), which Node cannot run as is, so the first run
// bundles it with esbuild (about 0.1 s; npm packages stay external) into
// node_modules/.cache/edge-offers-cli/<checkout>/, and later runs reuse that bundle until one of its source
// files changes. `npx edge-offers` in the repository runs this file with the project's Node.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
// One bundle per checkout: copies of the repository may share a node_modules.
const checkout = createHash("sha256").update(root).digest("hex").slice(0, 12);
const cacheDir = path.join(root, "node_modules", ".cache", "edge-offers-cli", checkout);
const out = path.join(cacheDir, "main.mjs");
const meta = path.join(cacheDir, "inputs.json");

/** True when the bundle exists and no source it was built from is newer. */
function fresh() {
	try {
		const built = statSync(out).mtimeMs;
		const inputs = JSON.parse(readFileSync(meta, "utf8"));
		return inputs.every((file) => statSync(path.join(root, file)).mtimeMs <= built);
	} catch {
		return false;
	}
}

if (!fresh()) {
	const { build } = await import("esbuild");
	mkdirSync(cacheDir, { recursive: true });
	const result = await build({
		entryPoints: [path.join(root, "cli", "main.ts")],
		outfile: out,
		bundle: true,
		platform: "node",
		format: "esm",
		target: "node22",
		packages: "external",
		metafile: true,
		sourcemap: "inline",
		logLevel: "error",
		absWorkingDir: root,
		write: false,
	});
	// Written aside then renamed: two runs building at once never read half a file.
	const tmp = `${out}.${process.pid}.tmp`;
	writeFileSync(tmp, result.outputFiles[0].contents);
	renameSync(tmp, out);
	writeFileSync(`${meta}.${process.pid}.tmp`, JSON.stringify(Object.keys(result.metafile.inputs)));
	renameSync(`${meta}.${process.pid}.tmp`, meta);
}

const { main } = await import(pathToFileURL(out).href);
process.exitCode = await main(process.argv);
