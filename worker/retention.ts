import { storedSettings } from "../src/schemas/settings.js";
import { deleteEventsOlderThan } from "./events.js";
import { logError } from "./log.js";
import { sweepRetiredLeaves } from "./routes/geofences.js";
import { deleteOlderThan } from "./store/offers.js";
import { tenantsPage } from "./store/tenants.js";

const DAY_MS = 86_400_000;

/**
 * The daily retention sweep (Cron Trigger): for each tenant, deletes decisions, offers,
 * their events, conversions, cart events and the events log (worker/events.ts) older than its `retentionDays`, and empties the
 * shard objects of leaves split or merged away long ago. Per-person
 * objects keep no history beyond a week (caps, cooldowns, cart answers) and only the last
 * accepted location, so D1 is where old data would pile up.
 */
export async function sweepRetention(env: Env, now: number): Promise<{ tenants: number; deleted: number }> {
	let after = "";
	let tenants = 0;
	let deleted = 0;
	for (;;) {
		const results = await tenantsPage(env.DB, after, 100);
		for (const t of results) {
			const days = storedSettings(JSON.parse(t.settings)).retentionDays;
			deleted += await deleteOlderThan(env.DB, t.id, now - days * DAY_MS);
			deleted += await deleteEventsOlderThan(env, t.id, now - days * DAY_MS);
			// One tenant's failure must not stop the sweep of the others; the next sweep tries again.
			await sweepRetiredLeaves(env, t.id).catch((e) =>
				logError("retention_retired_leaves_failed", e, { tenantId: t.id }),
			);
			tenants += 1;
		}
		const last = results.at(-1);
		if (!last || results.length < 100) break;
		after = last.id;
	}
	console.log(`retention: ${deleted} row(s) deleted across ${tenants} tenant(s)`);
	return { tenants, deleted };
}
