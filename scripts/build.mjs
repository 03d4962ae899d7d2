// `npm run build`: everything the Worker serves from Workers Static Assets, written to
// dist/assets/ (wrangler.toml [assets]). Run by `npm start` and, through vitest's globalSetup,
// by the test projects that start the Worker, so a fresh clone needs no manual step.
//
// The build is a list of steps; add one by appending to STEPS. A step gets the context below
// and writes under `ctx.outDir`. `node scripts/build.mjs sdk demo` runs only those steps.

import { execFile } from "node:child_process";
import { cp, mkdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** What wrangler.toml's [assets] directory points at. */
export const OUT_DIR = path.join(ROOT, "dist", "assets");
/** The web SDK's sources. */
export const SDK_DIR = path.join(ROOT, "sdk", "web");

/**
 * @typedef {object} BuildContext
 * @property {string} root the repository root
 * @property {string} outDir dist/assets (served at the Worker's root)
 * @property {(line: string) => void} log
 */

/**
 * @typedef {object} BuildStep
 * @property {string} name used on the command line
 * @property {string} description
 * @property {(ctx: BuildContext) => Promise<void>} run
 */

/**
 * esbuild options of the browser SDK bundle, served at /sdk/edge-offers.js (idb bundled in).
 * Exported so the size test measures exactly what is served.
 *
 * @returns {import("esbuild").BuildOptions}
 */
export function sdkBundleOptions() {
	return {
		entryPoints: [path.join(SDK_DIR, "src", "index.ts")],
		bundle: true,
		format: "esm",
		platform: "browser",
		target: "es2020",
		minify: true,
		legalComments: "none",
		logLevel: "silent",
	};
}

/**
 * esbuild options of the service worker, served at /sdk/edge-offers-sw.js (and /sw.js). Not
 * minified: sites copy it to their own origin and should be able to read it. It has no
 * import or export, so it runs registered as a module or as a classic script.
 *
 * @returns {import("esbuild").BuildOptions}
 */
export function serviceWorkerBundleOptions() {
	return {
		entryPoints: [path.join(SDK_DIR, "src", "sw.ts")],
		bundle: true,
		format: "esm",
		platform: "browser",
		target: "es2020",
		minify: false,
		legalComments: "none",
		banner: {
			js: "// Edge offers service worker (sdk/web/src/sw.ts; docs/web-sdk.md). Serve it from your site's origin and\n// register it with ?key=<publishable key>&api=<the service's origin>, or let the SDK's enablePush() do it.",
		},
		logLevel: "silent",
	};
}

/**
 * Bundles in memory.
 *
 * @param {import("esbuild").BuildOptions} options
 * @returns {Promise<string>} the JavaScript
 */
export async function bundleText(options) {
	const result = await esbuild.build({ ...options, write: false, outdir: undefined, outfile: "out.js" });
	const file = result.outputFiles?.find((f) => f.path.endsWith(".js"));
	if (!file) throw new Error("esbuild produced no JavaScript");
	return file.text;
}

/** @param {string} text */
export function gzipSize(text) {
	return gzipSync(Buffer.from(text), { level: 9 }).byteLength;
}

/** @type {BuildStep[]} */
export const STEPS = [
	{
		name: "sdk",
		description: "web SDK -> /sdk/edge-offers.js",
		run: async ({ outDir, log }) => {
			const js = await bundleText(sdkBundleOptions());
			await writeAsset(path.join(outDir, "sdk", "edge-offers.js"), js);
			log(`sdk/edge-offers.js ${js.length} bytes, ${gzipSize(js)} gzip`);
		},
	},
	{
		name: "service-worker",
		description: "service worker -> /sdk/edge-offers-sw.js",
		run: async ({ outDir, log }) => {
			const js = await bundleText(serviceWorkerBundleOptions());
			await writeAsset(path.join(outDir, "sdk", "edge-offers-sw.js"), js);
			log(`sdk/edge-offers-sw.js ${js.length} bytes, ${gzipSize(js)} gzip`);
		},
	},
	{
		name: "demo",
		description: "demo shop -> /demo/ (served only when LOCAL_DEV is true)",
		run: async ({ root, outDir, log }) => {
			const dir = path.join(outDir, "demo");
			await rm(dir, { recursive: true, force: true });
			await cp(path.join(root, "sdk", "demo"), dir, {
				recursive: true,
				filter: (src) => !src.endsWith(".ts") || src.endsWith(".d.ts"),
			});
			await esbuild.build({
				entryPoints: [path.join(root, "sdk", "demo", "demo.ts")],
				bundle: true,
				format: "esm",
				platform: "browser",
				target: "es2020",
				// The demo loads the SDK the way a site does: from the service, at run time.
				external: ["/sdk/edge-offers.js"],
				outfile: path.join(dir, "demo.js"),
				logLevel: "silent",
			});
			await cp(path.join(root, "geofences", "paris-stores.geojson"), path.join(dir, "stores.json"));
			log("demo/ index.html, demo.js, stores.json");
		},
	},
	{
		name: "api-docs",
		description: "API reference page -> /docs/ (apidocs/: renders /openapi.json in the browser)",
		run: async ({ root, outDir, log }) => {
			const dir = path.join(outDir, "docs");
			await rm(dir, { recursive: true, force: true });
			await mkdir(dir, { recursive: true });
			for (const file of ["index.html", "reference.js", "reference.css"])
				await cp(path.join(root, "apidocs", file), path.join(dir, file));
			log("docs/ index.html, reference.js, reference.css");
		},
	},
	{
		name: "console",
		description: "retailer console -> /console/ (Vite + Preact, console/vite.config.ts)",
		run: async ({ root, outDir, log }) => {
			// In a child process: Vite loads its config through dynamic imports that vitest's
			// globalSetup (which runs this build) cannot serve.
			const vite = path.join(root, "node_modules", "vite", "bin", "vite.js");
			const out = path.join(outDir, "console");
			const args = [vite, "build", "--config", path.join(root, "console", "vite.config.ts")];
			await promisify(execFile)(process.execPath, [...args, "--outDir", out, "--logLevel", "warn"], {
				cwd: root,
			});
			log("console/ index.html and assets");
		},
	},
];

/** @param {string} file @param {string} text */
async function writeAsset(file, text) {
	await mkdir(path.dirname(file), { recursive: true });
	await writeFile(file, text);
}

/**
 * Runs the build steps in order.
 *
 * @param {{ only?: string[], log?: (line: string) => void }} [options]
 */
export async function build(options = {}) {
	const log = options.log ?? ((line) => console.log(`› build: ${line}`));
	const only = options.only && options.only.length > 0 ? options.only : undefined;
	const unknown = (only ?? []).filter((n) => !STEPS.some((s) => s.name === n));
	if (unknown.length > 0)
		throw new Error(
			`unknown build step ${unknown.join(", ")}; steps: ${STEPS.map((s) => s.name).join(", ")}`,
		);
	await mkdir(OUT_DIR, { recursive: true });
	await withBuildLock(log, async () => {
		for (const step of STEPS) {
			if (only && !only.includes(step.name)) continue;
			const started = performance.now();
			await step.run({ root: ROOT, outDir: OUT_DIR, log });
			log(`${step.name} done in ${Math.round(performance.now() - started)} ms`);
		}
	});
}

const LOCK_DIR = path.join(ROOT, "dist", ".build-lock");
/** A lock older than this was left by a build that died. */
const STALE_LOCK_MS = 5 * 60_000;
const LOCK_WAIT_MS = 10 * 60_000;

/**
 * Runs `fn` holding a lock on dist/ (a directory: mkdir is atomic), so builds started at the
 * same time in one checkout (two test runs, npm start during a test run) take turns instead of
 * writing the same files at once (Vite refuses a second concurrent build of a project).
 *
 * @param {(line: string) => void} log
 * @param {() => Promise<void>} fn
 */
async function withBuildLock(log, fn) {
	const until = Date.now() + LOCK_WAIT_MS;
	let told = false;
	for (;;) {
		try {
			await mkdir(LOCK_DIR);
			break;
		} catch (error) {
			if (/** @type {NodeJS.ErrnoException} */ (error).code !== "EEXIST") throw error;
			const since = await stat(LOCK_DIR).then(
				(s) => Date.now() - s.mtimeMs,
				() => 0,
			);
			if (since > STALE_LOCK_MS) await rm(LOCK_DIR, { recursive: true, force: true });
			else if (Date.now() > until) throw new Error(`another build holds ${LOCK_DIR}; remove it if none runs`);
			else {
				if (!told) log("waiting for another build of this checkout to finish…");
				told = true;
				await new Promise((resolve) => setTimeout(resolve, 250));
			}
		}
	}
	try {
		await fn();
	} finally {
		await rm(LOCK_DIR, { recursive: true, force: true });
	}
}

/**
 * vitest globalSetup (vitest.config.ts): the Worker's static assets are built before workerd
 * starts, once per test run however many projects ask for it.
 */
export async function setup() {
	if (process.env.EDGE_OFFERS_ASSETS_BUILT === "1") return;
	await build({ log: () => {} });
	process.env.EDGE_OFFERS_ASSETS_BUILT = "1";
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
	try {
		await build({ only: process.argv.slice(2) });
	} catch (error) {
		console.error(`✘ build failed: ${error instanceof Error ? error.message : error}`);
		process.exit(1);
	}
}
