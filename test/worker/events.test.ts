/**
 * Events out: what a walk-in records (enter, offer sent or suppressed, exit with the visit's
 * length, display and click), the export's filters, pages and NDJSON stream, tenants kept
 * apart, erasure and retention. Events reach D1 from the person's object after its answer,
 * so tests poll with a deadline instead of sleeping.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EVENT_TYPES } from "../../src/events/types.js";
import { sweepRetention } from "../../worker/retention.js";
import { cartEvent, createCartCampaign, postCart } from "./cart-helpers";
import {
	call,
	callOk,
	capturePush,
	createCampaign,
	createTenant,
	expectProblem,
	offset,
	postPings,
	registerPerson,
	shopperStub,
	squareFence,
	type Tenant,
	uploadFences,
	userKey,
	walker,
} from "./helpers";

const LYON = { lat: 45.764, lng: 4.8357 };
const AWAY = offset(LYON, 400, 0);

interface Ev {
	id: string;
	type: string;
	createdAt: string;
	userId: string;
	data: Record<string, unknown>;
}

afterEach(() => {
	vi.useRealTimers();
	vi.restoreAllMocks();
});

async function shop(prefix: string): Promise<Tenant> {
	const t = await createTenant(prefix);
	await uploadFences(t, [squareFence("store-1", LYON, 100, { name: "Lyon Part-Dieu", tags: ["grocery"] })]);
	await createCampaign(t, "beer", { cooldownSeconds: 86_400 });
	return t;
}

async function events(t: Tenant, query = ""): Promise<{ events: Ev[]; nextCursor: string | null }> {
	return callOk("GET", `/v1/events${query}`, { key: t.secretKey });
}

/** Polls GET /v1/events until `done` holds or the deadline passes (then fails with what was seen). */
async function eventually(t: Tenant, query: string, done: (e: Ev[]) => boolean, ms = 5000): Promise<Ev[]> {
	const deadline = Date.now() + ms;
	let seen: Ev[] = [];
	while (Date.now() < deadline) {
		seen = (await events(t, query)).events;
		if (done(seen)) return seen;
		await new Promise((r) => setTimeout(r, 20));
	}
	expect.fail(`events never matched: ${JSON.stringify(seen.map((e) => e.type))}`);
}

/** A walk-in and out: enter (offer sent), exit. */
async function walkInAndOut(t: Tenant, prefix = "u") {
	capturePush();
	const p = await registerPerson(t, prefix, { firstName: "Léa" });
	const w = walker(10 * 60_000, 60_000);
	await postPings(t, p.userId, [w.at(LYON)], p.deviceId);
	await postPings(t, p.userId, [w.at(LYON), w.at(AWAY)], p.deviceId);
	return p;
}

describe("events recorded", { timeout: 20_000 }, () => {
	it("a walk-in records enter, offer.sent and exit with the visit's length, never coordinates", async () => {
		const t = await shop("ev-walk");
		const p = await walkInAndOut(t);
		const all = await eventually(t, "", (e) => e.some((x) => x.type === "geofence.exited"));
		const mine = all.filter((e) => e.userId === p.userId);
		expect(mine.map((e) => e.type)).toEqual(["geofence.entered", "offer.sent", "geofence.exited"]);
		const [enter, sent, exit] = mine;
		expect(enter?.data).toMatchObject({ geofenceId: "store-1", geofenceName: "Lyon Part-Dieu" });
		expect(sent?.data).toMatchObject({
			campaignId: "beer",
			variantId: "a",
			trigger: "geofence",
			geofenceId: "store-1",
			on: "enter",
			offerId: expect.any(String),
		});
		// Two steps of 60 s inside: entered at the first ping, left two minutes later.
		expect(exit?.data).toMatchObject({ geofenceId: "store-1", visitSeconds: 120 });
		// Ids increase in the order the person's events happened.
		const ids = mine.map((e) => e.id);
		expect([...ids].sort()).toEqual(ids);
		for (const e of mine) {
			expect(e.id).toMatch(/^evt_[0-9A-Z]{26}$/);
			expect(EVENT_TYPES).toContain(e.type);
			const text = JSON.stringify(e);
			expect(text).not.toMatch(/"(lat|lng|latitude|longitude|coordinates)"/);
			expect(text).not.toContain(String(LYON.lat));
		}
	});

	it("a second visit within the cooldown records offer.suppressed with its reason", async () => {
		const t = await shop("ev-supp");
		const p = await walkInAndOut(t);
		const w = walker(60_000, 10_000);
		await postPings(t, p.userId, [w.at(LYON)], p.deviceId);
		const all = await eventually(t, "?types=offer.suppressed", (e) => e.length > 0);
		expect(all[0]?.data).toMatchObject({ campaignId: "beer", reason: "cooldown", geofenceId: "store-1" });
	});

	it("offer.displayed and offer.clicked reported by the app become events", async () => {
		const t = await shop("ev-report");
		const p = await walkInAndOut(t);
		const [sent] = await eventually(t, "?types=offer.sent", (e) => e.length > 0);
		const offerId = String(sent?.data.offerId);
		const key = await userKey(t, p.userId);
		for (const type of ["displayed", "clicked"])
			expect((await call("POST", `/v1/offers/${offerId}/events`, { key, body: { type } })).status).toBe(204);
		const reports = await eventually(t, "?types=offer.displayed,offer.clicked", (e) => e.length === 2);
		expect(reports.map((e) => [e.type, e.data.offerId, e.userId])).toEqual([
			["offer.displayed", offerId, p.userId],
			["offer.clicked", offerId, p.userId],
		]);
	});
});

describe("events from the alarm and the cart", { timeout: 20_000 }, () => {
	it("a dwell fired by the person's alarm is an event with its threshold", async () => {
		const t = await createTenant("ev-dwell");
		await uploadFences(t, [squareFence("store-d", LYON, 100, { name: "Dwell store", dwellSeconds: 60 })]);
		capturePush();
		const p = await registerPerson(t, "u");
		await postPings(t, p.userId, [walker(30_000).at(LYON)], p.deviceId);
		await eventually(t, "", (e) => e.some((x) => x.type === "geofence.entered"));
		const now = Date.now();
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(now + 61_000);
		expect(await runDurableObjectAlarm(shopperStub(t, p.userId))).toBe(true);
		vi.useRealTimers();
		const [dwell] = await eventually(t, "?types=geofence.dwelled", (e) => e.length === 1);
		expect(dwell?.userId).toBe(p.userId);
		expect(dwell?.data).toMatchObject({
			geofenceId: "store-d",
			geofenceName: "Dwell store",
			dwellSeconds: 60,
		});
	});

	it("a purchase credited to a cart offer is a cart.conversion after its offer.sent", async () => {
		const t = await createTenant("ev-conv");
		await createCartCampaign(t, "beer");
		capturePush();
		const p = await registerPerson(t, "u");
		const offer = (
			await postCart(t, cartEvent(p.userId, "item_added", [{ sku: "chips", category: "snacks" }]))
		).offers[0];
		const purchase = cartEvent(p.userId, "purchase", [{ sku: "beer", price: 4.5, quantity: 2 }]);
		await postCart(t, purchase);
		const all = await eventually(t, "", (e) => e.some((x) => x.type === "cart.conversion"));
		expect(all.map((e) => e.type)).toEqual(["offer.sent", "cart.conversion"]);
		expect(all[0]?.data).toMatchObject({ trigger: "cart", campaignId: "beer", offerId: offer?.offerId });
		expect(all[1]?.data).toEqual({
			campaignId: "beer",
			variantId: "a",
			offerId: offer?.offerId,
			cartEventId: purchase.eventId,
			revenue: 9,
			holdout: false,
		});
	});
});

describe("GET /v1/events", { timeout: 20_000 }, () => {
	it("filters by type and time, pages oldest first with a cursor, and streams NDJSON", async () => {
		const t = await shop("ev-page");
		await walkInAndOut(t, "a");
		await walkInAndOut(t, "b");
		const all = await eventually(t, "", (e) => e.filter((x) => x.type === "geofence.exited").length === 2);
		expect(all.length).toBe(6);
		const times = all.map((e) => e.createdAt);
		expect([...times].sort()).toEqual(times);

		const entered = (await events(t, "?types=geofence.entered")).events;
		expect(entered.map((e) => e.type)).toEqual(["geofence.entered", "geofence.entered"]);
		const family = (await events(t, "?types=geofence.*")).events;
		expect(family.length).toBe(4);

		// Pages of 2 give the same events in the same order, then a null cursor.
		const paged: Ev[] = [];
		let cursor: string | null = null;
		let pages = 0;
		do {
			const page = await events(t, `?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
			paged.push(...page.events);
			cursor = page.nextCursor;
			pages += 1;
		} while (cursor && pages < 10);
		expect(paged.map((e) => e.id)).toEqual(all.map((e) => e.id));
		// A follower resumes from `cursor` even after the last page: nothing new, the same cursor back.
		const last = await callOk<{ events: Ev[]; nextCursor: string | null; cursor: string | null }>(
			"GET",
			"/v1/events?limit=1000",
			{ key: t.secretKey },
		);
		expect(last.nextCursor).toBeNull();
		expect(last.cursor).not.toBeNull();
		const after = await callOk<{ events: Ev[]; cursor: string | null }>(
			"GET",
			`/v1/events?cursor=${last.cursor}`,
			{
				key: t.secretKey,
			},
		);
		expect(after.events).toEqual([]);
		expect(after.cursor).toBe(last.cursor);

		// since: nothing before a time after the last event.
		const later = new Date(Date.parse(all.at(-1)?.createdAt ?? "") + 1).toISOString();
		expect((await events(t, `?since=${encodeURIComponent(later)}`)).events).toEqual([]);
		const since = all[2]?.createdAt ?? "";
		const fromThird = (await events(t, `?since=${encodeURIComponent(since)}`)).events;
		expect(fromThird.every((e) => e.createdAt >= since)).toBe(true);
		expect(fromThird.length).toBeGreaterThanOrEqual(4);

		const res = await call("GET", "/v1/events?types=offer.sent", {
			key: t.secretKey,
			headers: { accept: "application/x-ndjson" },
		});
		expect(res.status).toBe(200);
		expect(res.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
		const lines = (await res.text()).trim().split("\n");
		expect(lines.map((l) => (JSON.parse(l) as Ev).type)).toEqual(["offer.sent", "offer.sent"]);
	});

	it("refuses bad queries and keys", async () => {
		const t = await createTenant("ev-bad");
		await expectProblem(await call("GET", "/v1/events?types=geofence.teleported", { key: t.secretKey }), 422);
		await expectProblem(await call("GET", "/v1/events?cursor=bm90LW91cnM", { key: t.secretKey }), 422);
		await expectProblem(await call("GET", "/v1/events?limit=0", { key: t.secretKey }), 422);
		await expectProblem(await call("GET", "/v1/events?since=yesterday", { key: t.secretKey }), 422);
		await expectProblem(await call("GET", "/v1/events"), 401);
		await expectProblem(await call("GET", "/v1/events", { key: t.publishableKey }), 401);
	});

	it("keeps tenants apart: another tenant sees none of them", async () => {
		const t = await shop("ev-iso-a");
		const other = await createTenant("ev-iso-b");
		await walkInAndOut(t);
		const mine = await eventually(t, "", (e) => e.length >= 3);
		expect((await events(other)).events).toEqual([]);
		// A cursor from one tenant read by another gives nothing of the first.
		const page = await events(t, "?limit=1");
		expect(page.nextCursor).not.toBeNull();
		const across = await events(other, `?cursor=${page.nextCursor}`);
		expect(across.events).toEqual([]);
		expect(mine.length).toBeGreaterThanOrEqual(3);
	});
});

describe("privacy", { timeout: 20_000 }, () => {
	it("the user export holds the person's events and erasure removes them", async () => {
		const t = await shop("ev-erase");
		const p = await walkInAndOut(t, "gone");
		const q = await walkInAndOut(t, "kept");
		await eventually(t, "?types=geofence.exited", (e) => e.length === 2);
		const exported = await callOk<{ events: Ev[] }>("GET", `/v1/users/${p.userId}/export`, {
			key: t.secretKey,
		});
		expect(exported.events.map((e) => e.type)).toEqual(["geofence.entered", "offer.sent", "geofence.exited"]);

		expect((await call("DELETE", `/v1/users/${p.userId}`, { key: t.secretKey })).status).toBe(204);
		const left = (await events(t)).events;
		expect(left.some((e) => e.userId === p.userId)).toBe(false);
		expect(left.filter((e) => e.userId === q.userId).length).toBe(3);
		await expectProblem(await call("GET", `/v1/users/${p.userId}/export`, { key: t.secretKey }), 404);
	});

	it("retention deletes events older than retentionDays, and only those", async () => {
		const t = await shop("ev-ret");
		await callOk("PUT", "/v1/settings", { key: t.secretKey, body: { retentionDays: 1 } });
		await walkInAndOut(t);
		await eventually(t, "", (e) => e.length === 3);
		// Today's sweep keeps them; a sweep two days from now deletes them.
		await sweepRetention(env, Date.now());
		expect((await events(t)).events.length).toBe(3);
		await sweepRetention(env, Date.now() + 2 * 86_400_000);
		expect((await events(t)).events).toEqual([]);
	});
});
