/**
 * Audiences on cart triggers in workerd: a `purchased` condition reads the purchase memory
 * the cart webhook keeps (the same one purchase suppression uses), over its window.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { cartEvent, createCartCampaign, postCart } from "./cart-helpers";
import { capturePush, createTenant, decisionsOf, registerPerson } from "./helpers";

afterEach(() => {
	vi.restoreAllMocks();
});

const DAY = 86_400_000;

describe("purchased conditions on a cart campaign", () => {
	it("offer beer with chips only to people who bought wine within 30 days", async () => {
		const push = capturePush();
		const t = await createTenant("aud-cart");
		await createCartCampaign(
			t,
			"chips-beer-wine-lovers",
			{ whenCartHas: { skus: ["chips"] }, offerSku: "beer" },
			{ audience: { purchased: { categories: ["wine"] }, withinDays: 30 }, cooldownSeconds: 0 },
		);
		const recent = await registerPerson(t, "recent");
		const longAgo = await registerPerson(t, "long-ago");
		const never = await registerPerson(t, "never");
		await postCart(
			t,
			cartEvent(recent.userId, "purchase", [{ sku: "bordeaux", category: "wine" }], {
				occurredAt: Date.now() - 10 * DAY,
			}),
		);
		await postCart(
			t,
			cartEvent(longAgo.userId, "purchase", [{ sku: "bordeaux", category: "wine" }], {
				occurredAt: Date.now() - 40 * DAY,
			}),
		);

		const add = (userId: string) =>
			postCart(t, cartEvent(userId, "item_added", [{ sku: "chips", name: "Chips" }]));
		expect((await add(recent.userId)).offers).toMatchObject([
			{ campaignId: "chips-beer-wine-lovers", decision: "sent" },
		]);
		expect((await add(longAgo.userId)).offers).toEqual([]);
		expect((await add(never.userId)).offers).toEqual([]);
		expect(push.to(recent.endpoint)).toHaveLength(1);
		expect(push.to(longAgo.endpoint)).toHaveLength(0);
		expect(push.to(never.endpoint)).toHaveLength(0);

		for (const userId of [longAgo.userId, never.userId]) {
			const [d] = await decisionsOf(t, userId);
			expect(d).toMatchObject({
				campaignId: "chips-beer-wine-lovers",
				decision: "suppressed",
				reason: "not_in_audience",
				failed: { path: ["audience"], condition: { purchased: { categories: ["wine"] }, withinDays: 30 } },
			});
		}
	});
});
