/**
 * Stands in for `js-yaml` (wrangler.toml [alias]). chanfana imports it only to serve
 * /openapi.yaml, a route this service turns off (worker/router.ts: `openapi_url: null`), so it
 * never runs; the stand-in keeps 110 KB of YAML code out of the Worker.
 */
export default {
	dump(): never {
		throw new Error("YAML output is not served by this service");
	},
};
