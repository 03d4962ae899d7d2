import path from "node:path";
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

/**
 * The retailer console: built into dist/assets/console/, which the Worker serves at /console/
 * (Workers Static Assets). The service's own validator and template engine (src/) are bundled
 * in, so the browser checks exactly what the API will check.
 */
export default defineConfig({
	root: import.meta.dirname,
	base: "/console/",
	plugins: [preact()],
	build: {
		outDir: path.join(import.meta.dirname, "..", "dist", "assets", "console"),
		emptyOutDir: true,
		target: "es2022",
		// Source maps stay out of the served bundle.
		sourcemap: false,
		chunkSizeWarningLimit: 1200,
	},
	server: { fs: { allow: [path.join(import.meta.dirname, "..")] } },
});
