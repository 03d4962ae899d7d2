/**
 * Moved to worker/store/ (one module per table group, docs/architecture.md "Data layer"); kept
 * as a shim taking `env` for the modules that still import it here (worker/shopper.ts and
 * worker/cart-rules.ts, whose owner switches them to worker/store/ directly). No SQL here.
 */
import * as campaigns from "./store/campaigns.js";
import * as offers from "./store/offers.js";

export type { OfferRecord, OfferStatus } from "./store/offers.js";

/** The store function with `env` in place of its database. */
const onDb =
	<A extends unknown[], R>(f: (db: D1Database, ...a: A) => R) =>
	(env: Env, ...a: A): R =>
		f(env.DB, ...a);

export const loadCampaigns = onDb(campaigns.loadCampaigns);
export const recordDecisions = onDb(offers.recordDecisions);
export const recordConversion = onDb(offers.recordConversion);
export const updateOfferStatus = onDb(offers.updateOfferStatus);
export const claimCartEventId = onDb(offers.claimCartEventId);
export const userRows = onDb(offers.userRows);
export const eraseUserRows = onDb(offers.eraseUserRows);
export const deleteOlderThan = onDb(offers.deleteOlderThan);
