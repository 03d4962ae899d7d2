// Secrets are not in wrangler.toml, so `wrangler types` cannot see them.
interface SecretsEnv {
	/** Bearer token for POST /v1/tenants. */
	ADMIN_TOKEN: string;
	/** VAPID key pair (base64url, as web-push generates them). */
	VAPID_PUBLIC_KEY: string;
	VAPID_PRIVATE_KEY: string;
	/** Server-side pepper mixed into API key hashes and the webhook-secret seal. */
	KEY_PEPPER: string;
	/**
	 * The service's public origin for click links. Required outside local development;
	 * never derived from the request's Host (a client chooses that header).
	 */
	PUBLIC_BASE_URL?: string;
	/** Google service-account JSON for FCM HTTP v1 (Android and iOS); FCM is off when unset. */
	FCM_SERVICE_ACCOUNT?: string;
	/** Overrides of FCM's base URLs (tests and staging point them at a local fake). */
	FCM_API_BASE_URL?: string;
	FCM_TOKEN_URL?: string;
	/** A leaf shard holding more fences is split (worker/shards.ts); default 2,000. */
	SHARD_MAX_FENCES?: string;
	/** Queries a second past which a shard object asks for replicas of its leaf (worker/shards.ts); default 500. */
	SHARD_REQUEST_BUDGET?: string;
	/** Most shard object calls one geofence change may make (tests, tuning); 8,000 by default. */
	SHARD_MAX_CALLS?: string;
	/** Only bound in tests: the FCM test service account's public key (JWK JSON). */
	TEST_FCM_PUBLIC_JWK?: string;
	/** Only bound in tests: D1 migrations read by vitest.config.ts. */
	TEST_MIGRATIONS: import("@cloudflare/vitest-plugin").D1Migration[];
}
interface Env extends SecretsEnv {}
declare namespace Cloudflare {
	interface Env extends SecretsEnv {}
}
