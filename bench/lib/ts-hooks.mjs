// Lets Node (>= 22.15 / 23.5, with type stripping) import the TypeScript sources directly: the
// sources import each other as `./x.js` (what tsc and bundlers expect), so a `.js` specifier
// that does not exist is retried as `.ts`.
import { existsSync } from "node:fs";
import { registerHooks } from "node:module";
import { fileURLToPath } from "node:url";

registerHooks({
	resolve(specifier, context, nextResolve) {
		if (
			(specifier.startsWith(".") || specifier.startsWith("/")) &&
			specifier.endsWith(".js") &&
			context.parentURL?.endsWith(".ts")
		) {
			const ts = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL);
			if (existsSync(fileURLToPath(ts))) return nextResolve(ts.href, context);
		}
		return nextResolve(specifier, context);
	},
});
