import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import webpush from "web-push";
import { generateTestServiceAccount } from "./test/helpers/fake-fcm.js";

// Fresh keys per run: tests must not depend on a committed key.
const vapid = webpush.generateVAPIDKeys();
// A generated FCM service account; the workerd tests' fake FCM verifies its JWTs with
// the public half, passed as a JWK binding.
const FAKE_FCM = "http://127.0.0.1:9";
const fcmAccount = await generateTestServiceAccount();
const fcmPublicJwk = JSON.stringify(await crypto.subtle.exportKey("jwk", fcmAccount.publicKey));

// Two projects: the pure core runs in plain Node; integration tests run in workerd
// with real Durable Objects, alarms and D1 (migrations applied in test/worker/setup.ts).
export default defineConfig({
	test: {
		projects: [
			{
				test: {
					name: "unit",
					// test/security/*.node.test.ts: security findings that need no Worker (geometry validity).
					include: ["test/unit/**/*.test.ts", "test/security/**/*.node.test.ts", "test/cli/**/*.test.ts"],
					environment: "node",
				},
			},
			{
				test: {
					name: "e2e",
					include: ["test/e2e/**/*.test.ts"],
					environment: "node",
					// The Worker serves dist/assets (wrangler.toml [assets]): built before wrangler starts.
					globalSetup: ["./scripts/build.mjs"],
					// Starts `wrangler dev` and a local push receiver: slower than unit tests.
					testTimeout: 120_000,
					hookTimeout: 180_000,
				},
			},
			{
				plugins: [
					cloudflareTest(async () => ({
						wrangler: { configPath: "./wrangler.toml" },
						miniflare: {
							bindings: {
								TEST_MIGRATIONS: await readD1Migrations(path.join(import.meta.dirname, "migrations")),
								ADMIN_TOKEN: "test-admin-token",
								KEY_PEPPER: "test-pepper",
								ALLOW_INSECURE_LOOPBACK_PUSH: "true",
								// Click links are signed for this origin only (never the request's Host).
								PUBLIC_BASE_URL: "https://api.test",
								VAPID_PUBLIC_KEY: vapid.publicKey,
								VAPID_PRIVATE_KEY: vapid.privateKey,
								FCM_SERVICE_ACCOUNT: fcmAccount.json,
								FCM_API_BASE_URL: `${FAKE_FCM}/fcm`,
								FCM_TOKEN_URL: `${FAKE_FCM}/fcm-token`,
								TEST_FCM_PUBLIC_JWK: fcmPublicJwk,
							},
							// A tenant budget a test can exhaust in a few seconds (production: 20,000 per 10 s); no other test comes near it.
							ratelimits: {
								TENANT_RATE_LIMIT: { namespace_id: "1001", simple: { limit: 500, period: 10 } },
								PERSON_RATE_LIMIT: { namespace_id: "1002", simple: { limit: 120, period: 10 } },
							},
						},
					})),
				],
				test: {
					name: "worker",
					// dist/assets must exist before workerd starts (wrangler.toml [assets]); a fresh clone has none.
					globalSetup: ["./scripts/build.mjs"],
					include: ["test/worker/**/*.test.ts", "test/security/**/*.test.ts"],
					exclude: ["test/security/**/*.node.test.ts"],
					setupFiles: ["./test/worker/setup.ts"],
				},
			},
		],
	},
});
