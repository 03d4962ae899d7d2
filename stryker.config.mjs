// StrykerJS mutation testing: `npm run mutation` (not part of `npm test` or .ci/run: too slow).
// See docs/testing.md ("Mutation testing") for scoped runs and the current scores.
/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
	testRunner: "vitest",
	vitest: { configFile: "vitest.mutation.config.ts" },
	// Each mutant runs only the tests that cover it.
	coverageAnalysis: "perTest",
	mutate: ["src/**/*.ts"],
	// The machine is shared: one test runner process.
	concurrency: 1,
	// Results of mutants whose code and tests did not change are reused between runs.
	// The file is local (git-ignored under reports/): every run rewrites it.
	incremental: true,
	incrementalFile: "reports/stryker-incremental.json",
	reporters: ["clear-text", "progress", "html", "json"],
	htmlReporter: { fileName: "reports/mutation/mutation.html" },
	jsonReporter: { fileName: "reports/mutation/mutation.json" },
	// The sandbox needs the sources and the unit tests, not the build output, benchmarks or docs.
	ignorePatterns: ["dist", "bench", "docs", "geofences", ".wrangler", "reports", "coverage"],
	// Stryker rewrites tsconfig.json paths with the TypeScript JS API, which TypeScript 7
	// (native) no longer has; the sandbox sits inside the project, so no rewrite is needed.
	tsconfigFile: "stryker-no-tsconfig-rewrite.json",
	tempDirName: ".stryker-tmp",
	cleanTempDir: "always",
	timeoutMS: 20000,
};
