import { defineConfig } from "vitest/config";

// Tests StrykerJS runs against each mutant (`npm run mutation`, stryker.config.mjs).
// Only the Node `unit` project: the workerd project cannot run inside Stryker's sandbox.
// The bundle-size tests (console, SDK) build bundles and test no code under src/: left out.
// MUTATION_TESTS narrows the files for a scoped run (comma-separated globs), e.g.
//   MUTATION_TESTS="test/unit/pressure*.test.ts" npx stryker run --mutate src/pressure/policy.ts
const scoped = process.env.MUTATION_TESTS?.split(",")
	.map((glob) => glob.trim())
	.filter(Boolean);

export default defineConfig({
	test: {
		include: scoped?.length ? scoped : ["test/unit/**/*.test.ts", "test/security/**/*.node.test.ts"],
		exclude: ["test/unit/console-size.test.ts", "test/unit/sdk.test.ts", "**/node_modules/**"],
		environment: "node",
	},
});
