/**
 * Stands in for `hono/http-exception` (wrangler.toml [alias]). chanfana's Hono adapter imports it
 * lazily; this service uses chanfana's itty-router adapter only, so the import never runs, but
 * the bundler must resolve it, and Hono is not a dependency.
 */
export class HTTPException extends Error {
	constructor() {
		super("chanfana's Hono adapter is not used by this service");
	}
}
