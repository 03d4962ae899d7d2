/**
 * The console's first load stays under 300 KB gzip: what the browser fetches before the
 * first screen (index.html, the entry chunk, the chunks it imports statically, its CSS).
 * MapLibre, the map's CSS and the KML converter must be dynamic imports, out of it.
 */
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import type { Rolldown } from "vite";
import { build } from "vite";
import { describe, expect, it } from "vitest";

const FIRST_LOAD_LIMIT = 300 * 1024;
const gz = (s: string | Uint8Array) =>
	gzipSync(typeof s === "string" ? Buffer.from(s) : s, { level: 9 }).byteLength;

describe("console bundle", () => {
	it("first load under 300 KB gzip, with the map loaded lazily", { timeout: 120_000 }, async () => {
		const out = (await build({
			configFile: path.join(import.meta.dirname, "..", "..", "console", "vite.config.ts"),
			logLevel: "silent",
			build: { write: false, emptyOutDir: false, outDir: path.join(os.tmpdir(), "console-size-test") },
		})) as Rolldown.RolldownOutput | Rolldown.RolldownOutput[];
		const output = (Array.isArray(out) ? out : [out]).flatMap((o) => o.output);
		const byName = new Map(output.map((o) => [o.fileName, o]));
		const entry = output.find((o): o is Rolldown.OutputChunk => o.type === "chunk" && o.isEntry);
		if (!entry) throw new Error("no entry chunk");
		// The entry and everything it imports statically, with their CSS.
		const first = new Set<string>();
		const visit = (name: string) => {
			if (first.has(name)) return;
			first.add(name);
			const c = byName.get(name);
			if (c?.type === "chunk") {
				for (const i of c.imports) visit(i);
				for (const css of c.viteMetadata?.importedCss ?? []) first.add(css);
			}
		};
		visit(entry.fileName);
		first.add("index.html");
		let total = 0;
		const sizes: Record<string, number> = {};
		for (const name of first) {
			const o = byName.get(name);
			if (!o) continue;
			const size = gz(o.type === "chunk" ? o.code : o.source);
			sizes[name] = size;
			total += size;
		}
		console.info(`console first load: ${(total / 1024).toFixed(1)} KB gzip`, sizes);
		expect(total).toBeLessThan(FIRST_LOAD_LIMIT);
		// MapLibre is in a chunk of its own, reached only by a dynamic import.
		const mapChunk = output.find(
			(o): o is Rolldown.OutputChunk =>
				o.type === "chunk" && Object.keys(o.modules).some((m) => m.includes("maplibre-gl")),
		);
		expect(mapChunk).toBeDefined();
		expect(first.has(mapChunk?.fileName ?? "")).toBe(false);
		expect(entry.dynamicImports).toContain(mapChunk?.fileName);
		// The service's validator and template engine are in the first load (checked before upload).
		expect(Object.keys(entry.modules).some((m) => m.endsWith("src/geo/validate.ts"))).toBe(true);
		expect(Object.keys(entry.modules).some((m) => m.endsWith("src/offers/template.ts"))).toBe(true);
	});
});
