import { defineConfig } from "vitest/config";

/**
 * Browser tests (`npm run test:browser`, run by .ci/run after `npm test`): headless Chromium
 * (test/browser/chromium.ts installs it when missing) against the real dev server. Slow, so
 * kept out of `npm test`; one file at a time, since each starts its own `wrangler dev`.
 */
export default defineConfig({
	test: {
		name: "browser",
		include: ["test/browser/**/*.test.ts"],
		environment: "node",
		globalSetup: ["./scripts/build.mjs", "./test/browser/chromium.ts"],
		fileParallelism: false,
		testTimeout: 120_000,
		hookTimeout: 240_000,
	},
});
