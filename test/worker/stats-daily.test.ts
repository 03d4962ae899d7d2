/**
 * GET /v1/campaigns/{id}/stats?series=daily: rows placed on both sides of local midnights
 * (Paris, across the March clock change) land on the right local day, every counter of the
 * funnel is split by day, other campaigns and tenants never leak in, the range defaults and
 * bounds hold, and bad queries answer 422.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, callOk, createCampaign, createTenant, expectProblem, type Tenant } from "./helpers";

interface Counters {
	triggered: number;
	holdout: number;
	suppressed: Record<string, number>;
	sent: number;
	accepted: number;
	displayed: number;
	clicked: { total: number; body: number; byAction: Record<string, number> };
	converted: number;
	revenue: number;
}
interface Day {
	day: string;
	start: string;
	end: string;
	variants: ({ group: string; variantId: string | null } & Counters)[];
	totals: Counters;
}
interface Answer {
	campaignId: string;
	totals: Counters;
	daily?: { timeZone: string; from: string; to: string; days: Day[] };
}

const VARIANTS = [
	{ id: "a", weight: 1, title: "A", body: "a", url: "https://shop.example/a" },
	{ id: "b", weight: 1, title: "B", body: "b", url: "https://shop.example/b" },
];

async function decision(
	t: Tenant,
	campaignId: string,
	at: string,
	d: { variant: string | null; decision: string; reason?: string; user?: string },
) {
	await env.DB.prepare(
		`INSERT INTO decisions (id, tenant_id, user_id, trigger_type, trigger, campaign_id, variant_id, decision, reason, offer_id, created_at)
		 VALUES (?, ?, ?, 'geofence', 'enter', ?, ?, ?, ?, NULL, ?)`,
	)
		.bind(crypto.randomUUID(), t.id, d.user ?? "u1", campaignId, d.variant, d.decision, d.reason ?? null, at)
		.run();
}
async function offer(
	t: Tenant,
	campaignId: string,
	at: string,
	variant: string,
	status: string,
): Promise<string> {
	const id = crypto.randomUUID();
	await env.DB.prepare(
		`INSERT INTO offers (id, tenant_id, user_id, campaign_id, variant_id, geofence_id, status, attempts, created_at, expires_at)
		 VALUES (?, ?, 'u1', ?, ?, NULL, ?, 1, ?, ?)`,
	)
		.bind(id, t.id, campaignId, variant, status, at, at)
		.run();
	return id;
}
async function offerEvent(
	t: Tenant,
	campaignId: string,
	offerId: string,
	at: string,
	type: string,
	action: string | null = null,
) {
	await env.DB.prepare(
		`INSERT INTO offer_events (id, tenant_id, offer_id, campaign_id, variant_id, type, action, created_at)
		 VALUES (?, ?, ?, ?, 'a', ?, ?, ?)`,
	)
		.bind(crypto.randomUUID(), t.id, offerId, campaignId, type, action, at)
		.run();
}
async function conversion(t: Tenant, campaignId: string, at: string, revenue: number, holdout = false) {
	await env.DB.prepare(
		`INSERT INTO conversions (id, tenant_id, user_id, campaign_id, variant_id, offer_id, holdout, event_id, revenue, created_at)
		 VALUES (?, ?, 'u1', ?, 'a', NULL, ?, ?, ?, ?)`,
	)
		.bind(crypto.randomUUID(), t.id, campaignId, holdout ? 1 : 0, crypto.randomUUID(), revenue, at)
		.run();
}

const daily = (t: Tenant, id: string, qs: string) =>
	callOk<Answer>("GET", `/v1/campaigns/${id}/stats?${qs}`, { key: t.secretKey });

const byDay = (a: Answer) => new Map((a.daily?.days ?? []).map((d) => [d.day, d]));
const variant = (d: Day | undefined, id: string | null, group = "variant") =>
	d?.variants.find((v) => v.group === group && v.variantId === id);

describe("GET /v1/campaigns/{id}/stats?series=daily", () => {
	it("splits every counter by Paris day, across the spring clock change, and nothing else leaks in", async () => {
		const t = await createTenant("st-daily"); // timezone Europe/Paris
		const other = await createTenant("st-daily-other");
		await createCampaign(t, "beer", { variants: VARIANTS, holdoutPercent: 10 });
		await createCampaign(t, "wine", { variants: VARIANTS });
		await createCampaign(other, "beer", { variants: VARIANTS });

		// Saturday 28 March 2026, Paris (UTC+1): from 2026-03-27T23:00Z to 2026-03-28T23:00Z.
		await decision(t, "beer", "2026-03-27T22:59:59.999Z", { variant: "a", decision: "sent" }); // Friday in Paris
		await decision(t, "beer", "2026-03-27T23:30:00.000Z", { variant: "a", decision: "sent" }); // 00:30 Saturday (UTC still Friday)
		await decision(t, "beer", "2026-03-28T22:30:00.000Z", {
			variant: "a",
			decision: "suppressed",
			reason: "cooldown",
		}); // 23:30 Saturday
		await decision(t, "beer", "2026-03-28T10:00:00.000Z", {
			variant: "b",
			decision: "suppressed",
			reason: "not_in_audience",
		}); // outside the audience: not in the funnel
		const saturdayOffer = await offer(t, "beer", "2026-03-27T23:30:01.000Z", "a", "accepted");
		await offerEvent(t, "beer", saturdayOffer, "2026-03-28T08:00:00.000Z", "displayed");
		await offerEvent(t, "beer", saturdayOffer, "2026-03-28T08:00:05.000Z", "displayed"); // a retried report
		// Sunday 29 March: clocks go from 02:00 to 03:00, the day is 23 hours (23:00Z to 22:00Z).
		await decision(t, "beer", "2026-03-28T23:10:00.000Z", { variant: "b", decision: "holdout" }); // 00:10 Sunday
		await offerEvent(t, "beer", saturdayOffer, "2026-03-29T10:00:00.000Z", "clicked", "add");
		await offerEvent(t, "beer", saturdayOffer, "2026-03-29T21:59:59.000Z", "clicked"); // 23:59:59 CEST
		// Monday 30 March (UTC+2): 2026-03-29T22:00Z to 2026-03-30T22:00Z.
		await decision(t, "beer", "2026-03-29T22:00:00.000Z", { variant: "b", decision: "sent" }); // 00:00 Monday
		await offer(t, "beer", "2026-03-29T22:00:01.000Z", "b", "failed");
		await conversion(t, "beer", "2026-03-30T21:59:00.000Z", 12.5);
		await conversion(t, "beer", "2026-03-30T12:00:00.000Z", 3, true);
		await conversion(t, "beer", "2026-03-30T22:00:00.000Z", 99); // Tuesday: after the range
		// Another campaign of the tenant and the same campaign id in another tenant.
		await decision(t, "wine", "2026-03-28T12:00:00.000Z", { variant: "a", decision: "sent" });
		await decision(other, "beer", "2026-03-28T12:00:00.000Z", { variant: "a", decision: "sent" });
		await conversion(other, "beer", "2026-03-30T12:00:00.000Z", 1000);

		const a = await daily(t, "beer", "series=daily&from=2026-03-28&to=2026-03-30");
		expect(a.daily).toMatchObject({ timeZone: "Europe/Paris", from: "2026-03-28", to: "2026-03-30" });
		expect(a.daily?.days.map((d) => [d.day, d.start, d.end])).toEqual([
			["2026-03-28", "2026-03-27T23:00:00.000Z", "2026-03-28T23:00:00.000Z"],
			["2026-03-29", "2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z"],
			["2026-03-30", "2026-03-29T22:00:00.000Z", "2026-03-30T22:00:00.000Z"],
		]);
		const days = byDay(a);
		const sat = days.get("2026-03-28");
		expect(variant(sat, "a")).toMatchObject({
			triggered: 2,
			sent: 1,
			suppressed: { cooldown: 1 },
			accepted: 1,
			displayed: 1,
			clicked: { total: 0, body: 0, byAction: {} },
		});
		expect(variant(sat, "b")).toMatchObject({ triggered: 0, suppressed: {} });
		expect(sat?.totals).toMatchObject({ triggered: 2, sent: 1, holdout: 0, converted: 0, revenue: 0 });
		const sun = days.get("2026-03-29");
		expect(variant(sun, null, "holdout")).toMatchObject({ triggered: 1, holdout: 1 });
		expect(variant(sun, "a")).toMatchObject({ clicked: { total: 1, body: 1, byAction: { add: 1 } } });
		expect(sun?.totals).toMatchObject({ triggered: 1, holdout: 1, sent: 0 });
		const mon = days.get("2026-03-30");
		expect(variant(mon, "b")).toMatchObject({ triggered: 1, sent: 1, failed: 1 });
		expect(variant(mon, "a")).toMatchObject({ converted: 1, revenue: 12.5 });
		expect(variant(mon, null, "holdout")).toMatchObject({ converted: 1, revenue: 3 });
		expect(mon?.totals).toMatchObject({ converted: 2, revenue: 15.5 });
		// The all-time totals are still there and count the rows outside the range too.
		expect(a.totals).toMatchObject({ triggered: 5, sent: 3, converted: 3, revenue: 114.5 });

		// The same rows by UTC day: the Saturday 00:30 Paris decision is a Friday in UTC, the
		// Sunday 00:10 Paris holdout a Saturday.
		const utc = await daily(t, "beer", "series=daily&from=2026-03-27&to=2026-03-28&tz=UTC");
		expect(utc.daily?.timeZone).toBe("UTC");
		const utcDays = byDay(utc);
		expect(utcDays.get("2026-03-27")?.totals).toMatchObject({ triggered: 2, sent: 2 });
		expect(utcDays.get("2026-03-28")?.totals).toMatchObject({
			triggered: 2,
			holdout: 1,
			suppressed: { cooldown: 1 },
		});

		// Without series=daily the answer is the totals only, as before.
		expect(await daily(t, "beer", "")).not.toHaveProperty("daily");
		// The other tenant's campaign of the same id sees only its own rows.
		const theirs = await daily(other, "beer", "series=daily&from=2026-03-28&to=2026-03-30");
		expect(byDay(theirs).get("2026-03-28")?.totals).toMatchObject({ triggered: 1, sent: 1 });
		expect(byDay(theirs).get("2026-03-30")?.totals).toMatchObject({ converted: 1, revenue: 1000 });
	});

	it("defaults to the 14 days ending today in the tenant's time zone, settings change it", async () => {
		const t = await createTenant("st-daily-default", { settings: { timezone: "Pacific/Kiritimati" } });
		await createCampaign(t, "beer");
		const today = new Intl.DateTimeFormat("en-CA", { timeZone: "Pacific/Kiritimati" }).format(new Date());
		await decision(t, "beer", new Date().toISOString(), { variant: "a", decision: "sent" });
		const a = await daily(t, "beer", "series=daily");
		expect(a.daily?.timeZone).toBe("Pacific/Kiritimati");
		expect(a.daily?.days).toHaveLength(14);
		expect(a.daily?.to).toBe(today);
		expect(a.daily?.days.at(-1)?.day).toBe(today);
		expect(a.daily?.days.at(-1)?.totals).toMatchObject({ triggered: 1, sent: 1 });
		expect(a.daily?.days.slice(0, -1).every((d) => d.totals.triggered === 0)).toBe(true);
		// from alone: up to today.
		const from = a.daily?.days[10]?.day ?? "";
		const b = await daily(t, "beer", `series=daily&from=${from}`);
		expect(b.daily?.days.map((d) => d.day)).toEqual(a.daily?.days.slice(10).map((d) => d.day));
		// The longest range allowed.
		const c = await daily(t, "beer", "series=daily&from=2026-01-01&to=2026-04-02&tz=UTC");
		expect(c.daily?.days).toHaveLength(92);
	});

	it("refuses bad queries with 422 and other tenants' campaigns with 404", async () => {
		const t = await createTenant("st-daily-bad");
		const other = await createTenant("st-daily-bad-other");
		await createCampaign(t, "beer");
		for (const qs of [
			"series=weekly",
			"series=daily&from=2026-02-30",
			"series=daily&from=2026-03-02&to=2026-03-01",
			"series=daily&from=2026-01-01&to=2026-04-03", // 93 days
			"series=daily&tz=Mars%2FOlympus",
			"from=2026-03-01",
			"series=daily&unknown=1",
		]) {
			const p = await expectProblem(
				await call("GET", `/v1/campaigns/beer/stats?${qs}`, { key: t.secretKey }),
				422,
				"validation_failed",
			);
			expect(p.errors?.length, qs).toBeGreaterThan(0);
		}
		await expectProblem(
			await call("GET", "/v1/campaigns/beer/stats?series=daily", { key: other.secretKey }),
			404,
			"not_found",
		);
		await expectProblem(await call("GET", "/v1/campaigns/beer/stats?series=daily"), 401);
	});
});
