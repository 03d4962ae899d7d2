/**
 * The pure core of events out (src/events): ids, event building, the export's query and
 * cursor, webhook target checks and the retry schedule.
 */
import { describe, expect, it } from "vitest";
import { conversionEvent, decisionEvent, presenceEvents } from "../../src/events/build.js";
import { eventIdGenerator, isEventId } from "../../src/events/id.js";
import { decodeCursor, EventsQuerySchema, encodeCursor } from "../../src/events/query.js";
import { nextAttemptAt, RETRY_HORIZON_MS, verdictOf } from "../../src/events/retry.js";
import { checkWebhookTarget } from "../../src/events/target.js";
import { deliveryHeaders } from "../../src/events/webhook.js";
import { verifySignature } from "../../src/webhook/signature.js";

const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);

describe("event ids", () => {
	it("strictly increase, within one millisecond and when the clock goes back", () => {
		const next = eventIdGenerator();
		const ids = [next(T0), next(T0), next(T0), next(T0 + 1), next(T0 - 5_000), next(T0 + 2)];
		expect([...ids].sort()).toEqual(ids);
		expect(new Set(ids).size).toBe(ids.length);
		for (const id of ids) expect(isEventId(id)).toBe(true);
	});

	it("sort by time across generators", () => {
		const a = eventIdGenerator();
		const b = eventIdGenerator();
		expect(a(T0) < b(T0 + 1)).toBe(true);
		expect(b(T0 + 2) < a(T0 + 3)).toBe(true);
	});
});

describe("building events", () => {
	it("gives an exit the visit's length, from the batch's entry or from before the batch", () => {
		const drafts = presenceEvents(
			[
				{ type: "exit", fenceId: "old", at: T0, stale: false },
				{ type: "enter", fenceId: "new", at: T0 + 1000, stale: false },
				{ type: "dwell", fenceId: "new", at: T0 + 301_000, dwellSeconds: 300, stale: false },
				{ type: "exit", fenceId: "new", at: T0 + 601_000, stale: false },
				{ type: "exit", fenceId: "unknown", at: T0, stale: true },
			],
			{ old: T0 - 90_000 },
			(id) => (id === "new" ? "New store" : undefined),
		);
		expect(drafts.map((d) => d.type)).toEqual([
			"geofence.exited",
			"geofence.entered",
			"geofence.dwelled",
			"geofence.exited",
			"geofence.exited",
		]);
		expect(drafts[0]?.data).toMatchObject({ geofenceId: "old", visitSeconds: 90 });
		expect(drafts[1]?.data).toMatchObject({ geofenceId: "new", geofenceName: "New store" });
		expect(drafts[2]?.data).toMatchObject({ dwellSeconds: 300 });
		expect(drafts[3]?.data).toMatchObject({ visitSeconds: 600 });
		expect(drafts[4]?.data.visitSeconds).toBeUndefined();
		expect(drafts[4]?.data.stale).toBe(true);
	});

	it("names sent and suppressed decisions; a holdout is no event", () => {
		const trigger = { type: "geofence", fence: { id: "f" }, on: "enter" } as const;
		const base = { campaign: { id: "c" }, variant: { id: "a" } };
		expect(decisionEvent({ ...base, decision: "sent" }, trigger, "o1")).toEqual({
			type: "offer.sent",
			data: {
				campaignId: "c",
				variantId: "a",
				trigger: "geofence",
				geofenceId: "f",
				on: "enter",
				offerId: "o1",
			},
		});
		expect(
			decisionEvent({ ...base, decision: "suppressed", reason: "quiet_hours" }, { type: "cart" }, null),
		).toEqual({
			type: "offer.suppressed",
			data: { campaignId: "c", variantId: "a", trigger: "cart", reason: "quiet_hours" },
		});
		expect(decisionEvent({ ...base, decision: "holdout" }, trigger, null)).toBeNull();
		expect(
			conversionEvent({
				campaignId: "c",
				variantId: null,
				offerId: null,
				holdout: true,
				cartEventId: "ce1",
				revenue: 12.5,
			}),
		).toEqual({
			type: "cart.conversion",
			data: { campaignId: "c", cartEventId: "ce1", revenue: 12.5, holdout: true },
		});
	});
});

describe("export query", () => {
	it("round-trips cursors and refuses others", () => {
		expect(decodeCursor(encodeCursor(42))).toBe(42);
		expect(decodeCursor("bm9wZQ")).toBeNull();
		expect(decodeCursor("../../etc")).toBeNull();
	});

	it("parses types, families, since and limit", () => {
		const q = EventsQuerySchema.parse({ types: "offer.*,geofence.entered", since: String(T0), limit: "5" });
		expect(q.types).toEqual([
			"offer.sent",
			"offer.suppressed",
			"offer.displayed",
			"offer.clicked",
			"geofence.entered",
		]);
		expect(q.since).toBe(T0);
		expect(q.limit).toBe(5);
		expect(EventsQuerySchema.safeParse({ types: "offer.teleported" }).success).toBe(false);
		expect(EventsQuerySchema.safeParse({ limit: "1001" }).success).toBe(false);
	});
});

describe("webhook targets", () => {
	const prod = { localDev: false };
	it("allows https to public hosts only in production", () => {
		expect(checkWebhookTarget("https://hooks.example.com/in", prod)).toEqual({
			ok: true,
			url: "https://hooks.example.com/in",
		});
		for (const [url, code] of [
			["http://hooks.example.com", "https_required"],
			["https://127.0.0.2", "loopback_not_allowed"],
			["https://[0:0:0:0:0:0:0:1]", "loopback_not_allowed"],
			["https://017700000001", "loopback_not_allowed"],
			["https://10.0.0.1", "private_address"],
			["https://198.18.0.1", "private_address"],
			["https://224.0.0.1", "private_address"],
			["https://[fc00::1]", "private_address"],
			["https://[64:ff9b::a9fe:a9fe]", "private_address"],
			["https://[2001:db8::1]", "private_address"],
			["https://svc.internal", "internal_hostname"],
			["https://router.home.arpa", "internal_hostname"],
			["https://localhost.", "loopback_not_allowed"],
		] as const)
			expect(checkWebhookTarget(url, prod), url).toEqual({ ok: false, code });
	});

	it("allows loopback over http only in local development", () => {
		expect(checkWebhookTarget("http://127.0.0.1:9999/hook", { localDev: true }).ok).toBe(true);
		expect(checkWebhookTarget("http://localhost:9999/hook", { localDev: true }).ok).toBe(true);
		// Local development still refuses private networks and plain http elsewhere.
		expect(checkWebhookTarget("http://10.0.0.1/hook", { localDev: true })).toEqual({
			ok: false,
			code: "https_required",
		});
		expect(checkWebhookTarget("https://192.168.0.10/hook", { localDev: true })).toEqual({
			ok: false,
			code: "private_address",
		});
	});
});

describe("retries", () => {
	it("back off exponentially with jitter, for at least 24 h, then give up", () => {
		const first = nextAttemptAt(1, T0, T0, 0) ?? 0;
		expect(first - T0).toBe(1000);
		expect((nextAttemptAt(1, T0, T0, 0.999_999) ?? 0) - T0).toBe(2000);
		const fifth = (nextAttemptAt(5, T0, T0, 0.5) ?? 0) - T0;
		expect(fifth).toBe(24_000);
		// Capped at one hour between attempts.
		expect((nextAttemptAt(30, T0, T0, 1) ?? 0) - T0).toBe(3_600_000);
		// The schedule reaches the 24 h horizon, then stops.
		let at = T0;
		let attempt = 0;
		for (;;) {
			attempt += 1;
			const next = nextAttemptAt(attempt, T0, at, 0.5);
			if (next === null) break;
			at = next;
		}
		expect(at - T0).toBe(RETRY_HORIZON_MS);
		expect(attempt).toBeGreaterThan(20);
		expect(attempt).toBeLessThan(60);
		// Retry-After is honoured up to the cap.
		expect((nextAttemptAt(1, T0, T0, 0, 120_000) ?? 0) - T0).toBe(120_000);
	});

	it("2xx delivers, 410 disables, everything else retries", () => {
		expect([200, 204, 299].map(verdictOf)).toEqual(["delivered", "delivered", "delivered"]);
		expect(verdictOf(410)).toBe("disable");
		expect([301, 302, 400, 404, 429, 500, 503].map(verdictOf).every((v) => v === "retry")).toBe(true);
	});
});

describe("signing", () => {
	it("signs like the incoming cart events, verifiable with the same code", async () => {
		const body = JSON.stringify({ id: "evt_x", type: "offer.sent" });
		const h = await deliveryHeaders("whsec_test", body, "evt_x", Math.floor(T0 / 1000));
		expect(h["x-event-id"]).toBe("evt_x");
		expect(h["content-type"]).toBe("application/json");
		const enc = new TextEncoder().encode(body);
		expect(await verifySignature(h["x-signature"] ?? null, enc, ["whsec_test"], T0)).toEqual({
			ok: true,
			secretIndex: 0,
		});
		expect((await verifySignature(h["x-signature"] ?? null, enc, ["whsec_other"], T0)).ok).toBe(false);
	});
});
