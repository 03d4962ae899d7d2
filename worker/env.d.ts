// Secrets are not in wrangler.toml, so `wrangler types` cannot see them.
declare namespace Cloudflare {
	interface Env {
		/** Bearer token for POST /v1/tenants. */
		ADMIN_TOKEN: string;
		/** VAPID key pair (base64url, as web-push generates them). */
		VAPID_PUBLIC_KEY: string;
		VAPID_PRIVATE_KEY: string;
		/** Server-side pepper mixed into API key hashes. */
		KEY_PEPPER: string;
		/** Only bound in tests: D1 migrations read by vitest.config.ts. */
		TEST_MIGRATIONS: import("@cloudflare/vitest-plugin").D1Migration[];
	}
}
