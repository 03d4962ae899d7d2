import { BoundedCache } from "../src/lib/cache.js";
import { createRuleIndex, type RuleIndex } from "../src/rules/index.js";
import type { Campaign } from "../src/schemas/campaign.js";
import { loadCampaigns } from "./store/campaigns.js";
import type { TenantCtx } from "./tenants.js";

interface Entry {
	version: number;
	index: RuleIndex;
	byId: Map<string, Campaign>;
}

/**
 * Cart-rule indexes cached per isolate and tenant, rebuilt when the tenant's campaign
 * version moves: a cart event costs an index lookup, not a scan of thousands of rules.
 */
const cache = new BoundedCache<string, Entry>(1000);

/** The tenant's cart campaigns that hold for a cart, best priority first. */
export async function cartRules(
	env: Env,
	tenant: TenantCtx,
): Promise<{ candidates(cart: { skus: string[]; categories: string[] }): Campaign[] }> {
	let entry = cache.get(tenant.id);
	if (!entry || entry.version !== tenant.campaignVersion) {
		const campaigns = await loadCampaigns(env.DB, tenant.id, "cart");
		const rules = campaigns.flatMap((c) =>
			c.trigger.type === "cart"
				? [
						{
							id: c.id,
							priority: c.priority,
							whenCartHas: c.trigger.whenCartHas,
							...(c.trigger.unlessCartHas ? { unlessCartHas: c.trigger.unlessCartHas } : {}),
						},
					]
				: [],
		);
		entry = {
			version: tenant.campaignVersion,
			index: createRuleIndex(rules),
			byId: new Map(campaigns.map((c) => [c.id, c])),
		};
		cache.set(tenant.id, entry);
	}
	const { index, byId } = entry;
	return {
		candidates: (cart) => index.match(cart).flatMap((id) => byId.get(id) ?? []),
	};
}
