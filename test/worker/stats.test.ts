/**
 * GET /v1/campaigns/{id}/stats: a scripted scenario whose every number is known, the
 * holdout group apart from the variants, distinct counting of repeated reports, tenant
 * isolation and errors.
 */
import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { assignVariant, inHoldout } from "../../src/offers/assign.js";
import { signClick } from "../../src/offers/click.js";
import { clickKey } from "../../worker/crypto.js";
import {
	BASE,
	call,
	callOk,
	capturePush,
	createCampaign,
	createTenant,
	expectProblem,
	offset,
	postPings,
	putUser,
	putWebDevice,
	squareFence,
	type Tenant,
	unique,
	uploadFences,
	walker,
} from "./helpers";

const BORDEAUX = { lat: 44.8378, lng: -0.5792 };
const OTHER = offset(BORDEAUX, 0, 2000);
const AWAY = offset(BORDEAUX, 400, 0);

afterEach(() => {
	vi.restoreAllMocks();
});

const BEER_VARIANTS = [
	{
		id: "a",
		weight: 1,
		title: "Beer is -20%",
		body: "Two minutes away",
		url: "https://shop.example/beer",
		actions: [{ id: "add", title: "Add to cart", url: "https://shop.example/cart/add/beer" }],
	},
	{ id: "b", weight: 1, title: "Cold beer", body: "-20% today", url: "https://shop.example/beer-b" },
];

/**
 * A user id of this scenario for which `pred` holds: assignment and holdout are stable
 * hashes of (campaign, user), so picking ids is how a test knows who lands where.
 */
function userWhere(prefix: string, pred: (id: string) => boolean): string {
	for (let i = 0; i < 10_000; i++) if (pred(`${prefix}-${i}`)) return `${prefix}-${i}`;
	throw new Error(`no user id satisfies the predicate for ${prefix}`);
}
const variantOf = (campaignId: string, userId: string) =>
	assignVariant(campaignId, userId, BEER_VARIANTS)?.id;

async function person(
	t: Tenant,
	userId: string,
	push = true,
): Promise<{ deviceId: string; endpoint: string }> {
	const deviceId = unique("dev");
	const endpoint = unique("ep");
	await putUser(t, userId, { consent: { location: true, push } });
	await putWebDevice(t, userId, deviceId, endpoint);
	return { deviceId, endpoint };
}

interface Group {
	group: string;
	variantId: string | null;
	triggered: number;
	holdout: number;
	suppressed: Record<string, number>;
	sent: number;
	accepted: number;
	pending: number;
	failed: number;
	gone: number;
	displayed: number;
	dismissed: number;
	clicked: { total: number; body: number; byAction: Record<string, number> };
	converted: number;
	revenue: number;
}
interface Stats {
	campaignId: string;
	variants: Group[];
	totals: Omit<Group, "group" | "variantId">;
	pushOptInAmongTriggered: { people: number; pushConsent: number; rate: number | null };
}

function group(over: Partial<Group>): Group {
	return {
		group: "variant",
		variantId: null,
		triggered: 0,
		holdout: 0,
		suppressed: {},
		sent: 0,
		accepted: 0,
		pending: 0,
		failed: 0,
		gone: 0,
		displayed: 0,
		dismissed: 0,
		clicked: { total: 0, body: 0, byAction: {} },
		converted: 0,
		revenue: 0,
		...over,
	};
}

function stats(t: Tenant, campaignId: string): Promise<Stats> {
	return callOk<Stats>("GET", `/v1/campaigns/${campaignId}/stats`, { key: t.secretKey });
}

async function insertConversion(
	tenantId: string,
	c: {
		userId: string;
		campaignId: string;
		variantId: string | null;
		offerId: string | null;
		holdout: boolean;
		revenue: number;
	},
): Promise<void> {
	await env.DB.prepare(
		`INSERT INTO conversions (id, tenant_id, user_id, campaign_id, variant_id, offer_id, holdout, event_id, revenue, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	)
		.bind(
			crypto.randomUUID(),
			tenantId,
			c.userId,
			c.campaignId,
			c.variantId,
			c.offerId,
			c.holdout ? 1 : 0,
			crypto.randomUUID(),
			c.revenue,
			new Date().toISOString(),
		)
		.run();
}

describe("GET /v1/campaigns/{id}/stats", () => {
	it("counts exactly what happened, per variant and holdout, distinct per offer", async () => {
		const t = await createTenant("st-funnel");
		await uploadFences(t, [
			squareFence("grocery-1", BORDEAUX, 100, { name: "Centre", tags: ["grocery"] }),
			squareFence("plain-1", OTHER, 100, { name: "Elsewhere", tags: ["fashion"] }),
		]);
		await createCampaign(t, "beer", { variants: BEER_VARIANTS, holdoutPercent: 50 });
		await createCampaign(t, "other", {
			trigger: { type: "geofence", on: "enter", tags: ["fashion"] },
			holdoutPercent: 100,
		});
		const held = (id: string) => inHoldout("beer", id, 50);
		const ana = userWhere("ana", (id) => variantOf("beer", id) === "a" && !held(id));
		const ben = userWhere("ben", (id) => variantOf("beer", id) === "b" && !held(id));
		const cleo = userWhere("cleo", (id) => variantOf("beer", id) === "a");
		const dan = userWhere("dan", (id) => held(id));
		const push = capturePush();
		const anaDev = await person(t, ana);
		const benDev = await person(t, ben);
		const cleoDev = await person(t, cleo, false);
		const danDev = await person(t, dan);
		push.respondWith(benDev.endpoint, 400);

		// Ana: sent variant a; back in the store later, in cooldown; then held out of "other".
		const w = walker();
		const anaFirst = await postPings(t, ana, [w.at(BORDEAUX)], anaDev.deviceId);
		expect(anaFirst.offers).toEqual([expect.objectContaining({ variantId: "a", decision: "sent" })]);
		const anaOffer = anaFirst.offers[0]?.offerId ?? "";
		await postPings(t, ana, [w.at(AWAY)]);
		expect((await postPings(t, ana, [w.at(BORDEAUX)])).offers).toEqual([
			expect.objectContaining({ variantId: "a", decision: "suppressed", reason: "cooldown" }),
		]);
		expect((await postPings(t, ana, [w.at(AWAY), w.at(OTHER, 5, 60_000)])).offers).toEqual([
			expect.objectContaining({ campaignId: "other", decision: "holdout" }),
		]);
		// Ben: sent variant b, the push service refuses it.
		const benAnswer = await postPings(t, ben, [walker().at(BORDEAUX)], benDev.deviceId);
		expect(benAnswer.offers).toEqual([expect.objectContaining({ variantId: "b", decision: "sent" })]);
		const benOffer = benAnswer.offers[0]?.offerId ?? "";
		// Cleo: no push consent.
		expect((await postPings(t, cleo, [walker().at(BORDEAUX)], cleoDev.deviceId)).offers).toEqual([
			expect.objectContaining({ variantId: "a", decision: "suppressed", reason: "no_consent" }),
		]);
		// Dan: held out of beer.
		const danAnswer = await postPings(t, dan, [walker().at(BORDEAUX)], danDev.deviceId);
		expect(danAnswer.offers).toEqual([expect.objectContaining({ campaignId: "beer", decision: "holdout" })]);
		expect(push.to(danDev.endpoint)).toEqual([]);

		// Ana's offer is reported displayed twice (a retry) and clicked on "add" by its signed link.
		for (let i = 0; i < 2; i++)
			await callOk(
				"POST",
				`/v1/offers/${anaOffer}/events`,
				{ key: t.publishableKey, body: { type: "displayed" } },
				204,
			);
		const sig = await signClick(await clickKey(env), anaOffer, "add");
		const clicked = await SELF.fetch(`${BASE}/v1/offers/${anaOffer}/click?sig=${sig}&action=add`, {
			redirect: "manual",
		});
		expect(clicked.status).toBe(302);
		// Ben clicks the notification itself, twice.
		for (let i = 0; i < 2; i++)
			await callOk(
				"POST",
				`/v1/offers/${benOffer}/events`,
				{ key: t.publishableKey, body: { type: "clicked" } },
				204,
			);
		// Purchases credited to Ana's offer and to Dan's holdout; another tenant's "beer" is not ours.
		await insertConversion(t.id, {
			userId: ana,
			campaignId: "beer",
			variantId: "a",
			offerId: anaOffer,
			holdout: false,
			revenue: 12.5,
		});
		await insertConversion(t.id, {
			userId: dan,
			campaignId: "beer",
			variantId: variantOf("beer", dan) ?? null,
			offerId: null,
			holdout: true,
			revenue: 7.25,
		});
		await insertConversion("some-other-tenant", {
			userId: ana,
			campaignId: "beer",
			variantId: "a",
			offerId: null,
			holdout: false,
			revenue: 1000,
		});

		const s = await stats(t, "beer");
		expect(s).toEqual({
			campaignId: "beer",
			variants: [
				group({
					variantId: "a",
					triggered: 3,
					suppressed: { cooldown: 1, no_consent: 1 },
					sent: 1,
					accepted: 1,
					displayed: 1,
					clicked: { total: 1, body: 0, byAction: { add: 1 } },
					converted: 1,
					revenue: 12.5,
				}),
				group({
					variantId: "b",
					triggered: 1,
					sent: 1,
					failed: 1,
					clicked: { total: 1, body: 1, byAction: {} },
				}),
				group({ group: "holdout", triggered: 1, holdout: 1, converted: 1, revenue: 7.25 }),
			],
			totals: (({ group: _g, variantId: _v, ...c }) => c)(
				group({
					triggered: 5,
					holdout: 1,
					suppressed: { cooldown: 1, no_consent: 1 },
					sent: 2,
					accepted: 1,
					failed: 1,
					displayed: 1,
					clicked: { total: 2, body: 1, byAction: { add: 1 } },
					converted: 2,
					revenue: 19.75,
				}),
			),
			pushOptInAmongTriggered: { people: 4, pushConsent: 3, rate: 0.75 },
		});

		// The other campaign's stats hold only its own decision: Ana, held out.
		const o = await stats(t, "other");
		expect(o.variants).toEqual([
			group({ variantId: "a" }),
			group({ group: "holdout", triggered: 1, holdout: 1 }),
		]);
		expect(o.pushOptInAmongTriggered).toEqual({ people: 1, pushConsent: 1, rate: 1 });
	});

	it("lists every variant, and the holdout group, with zeros before anything happened", async () => {
		const t = await createTenant("st-empty");
		await createCampaign(t, "quiet", { variants: BEER_VARIANTS });
		const s = await stats(t, "quiet");
		expect(s.variants).toEqual([
			group({ variantId: "a" }),
			group({ variantId: "b" }),
			group({ group: "holdout" }),
		]);
		expect(s.totals.triggered).toBe(0);
		expect(s.pushOptInAmongTriggered).toEqual({ people: 0, pushConsent: 0, rate: null });
	});

	it("answers 404 for an unknown campaign or another tenant's, 401 without the secret key", async () => {
		const t = await createTenant("st-404");
		const other = await createTenant("st-404-other");
		await createCampaign(t, "mine");
		await expectProblem(
			await call("GET", "/v1/campaigns/nope/stats", { key: t.secretKey }),
			404,
			"not_found",
		);
		await expectProblem(
			await call("GET", "/v1/campaigns/mine/stats", { key: other.secretKey }),
			404,
			"not_found",
		);
		await expectProblem(
			await call("GET", "/v1/campaigns/mine/stats", { key: t.publishableKey }),
			401,
			"unauthorized",
		);
		await expectProblem(await call("GET", "/v1/campaigns/mine/stats"), 401, "unauthorized");
		await expectProblem(
			await call("GET", `/v1/campaigns/${"x".repeat(200)}/stats`, { key: t.secretKey }),
			422,
			"validation_failed",
		);
	});
});
