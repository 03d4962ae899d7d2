/**
 * Push delivery retries: a 429 or 5xx from the push service is retried from the Shopper
 * object's alarm with backoff, honouring Retry-After, until the offer's TTL passes; an
 * accepted copy is never sent again. The clock is moved with fake Date timers and the
 * alarm is run, never waited for.
 */

import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
	createCampaign,
	createTenant,
	offset,
	PUSH_ORIGIN,
	postPings,
	registerPerson,
	shopperStub,
	squareFence,
	type Tenant,
	uploadFences,
	walker,
} from "./helpers";

const NANTES = { lat: 47.2184, lng: -1.5536 };
const AWAY = offset(NANTES, 400, 0);

afterEach(() => {
	vi.useRealTimers();
	vi.restoreAllMocks();
});

/** Answers pushes to `name` from a script of [status, headers] (the last entry repeats). */
function scriptedPushService(name: string, script: [number, Record<string, string>?][]) {
	const original = globalThis.fetch;
	const times: number[] = [];
	vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
		const req = new Request(input, init);
		if (req.url !== `${PUSH_ORIGIN}/push/${name}`) return original(input, init);
		times.push(Date.now());
		const [status, headers] = script[Math.min(times.length - 1, script.length - 1)] ?? [201];
		return new Response(null, { status, headers: headers ?? {} });
	});
	return { times };
}

async function offerStatus(offerId: string): Promise<{ status: string; attempts: number } | null> {
	return env.DB.prepare("SELECT status, attempts FROM offers WHERE id = ?")
		.bind(offerId)
		.first<{ status: string; attempts: number }>();
}

async function shopWithCampaign(prefix: string, ttlSeconds: number): Promise<Tenant> {
	const t = await createTenant(prefix);
	await uploadFences(t, [squareFence("nantes-1", NANTES, 80, { name: "Nantes", tags: ["grocery"] })]);
	await createCampaign(t, "beer", { ttlSeconds });
	return t;
}

function clock() {
	let now = Date.now();
	vi.useFakeTimers({ toFake: ["Date"] });
	vi.setSystemTime(now);
	return {
		advance(ms: number) {
			now += ms;
			vi.setSystemTime(now);
		},
	};
}

describe("push delivery retries", () => {
	it("retries a 429 no sooner than Retry-After, then a 503 with backoff, until accepted; never twice", async () => {
		const t = await shopWithCampaign("rt-ok", 1800);
		const p = await registerPerson(t, "u");
		const service = scriptedPushService(p.endpoint, [[429, { "retry-after": "120" }], [503], [201]]);
		const c = clock();
		const w = walker();
		const a = await postPings(t, p.userId, [w.at(AWAY), w.at(NANTES)], p.deviceId);
		const offerId = a.offers[0]?.offerId ?? "";
		expect(a.offers[0]?.decision).toBe("sent");
		expect(service.times.length).toBe(1);
		expect((await offerStatus(offerId))?.status).toBe("pending");

		// Before Retry-After: the alarm fires nothing.
		c.advance(60_000);
		await runDurableObjectAlarm(shopperStub(t, p.userId));
		expect(service.times.length).toBe(1);

		c.advance(61_000);
		await runDurableObjectAlarm(shopperStub(t, p.userId));
		expect(service.times.length).toBe(2);
		expect((await offerStatus(offerId))?.status).toBe("pending");

		// The backoff of the second retry is at most 4 s.
		c.advance(5_000);
		await runDurableObjectAlarm(shopperStub(t, p.userId));
		expect(service.times.length).toBe(3);
		expect(await offerStatus(offerId)).toEqual({ status: "accepted", attempts: 3 });

		c.advance(600_000);
		expect(await runDurableObjectAlarm(shopperStub(t, p.userId))).toBe(false);
		expect(service.times.length).toBe(3);
	});

	it("gives up when the offer's TTL passes and records it expired", async () => {
		const t = await shopWithCampaign("rt-expire", 60);
		const p = await registerPerson(t, "u");
		const service = scriptedPushService(p.endpoint, [[503]]);
		const c = clock();
		const w = walker();
		const a = await postPings(t, p.userId, [w.at(AWAY), w.at(NANTES)], p.deviceId);
		const offerId = a.offers[0]?.offerId ?? "";
		for (let i = 0; i < 20; i++) {
			c.advance(10_000);
			await runDurableObjectAlarm(shopperStub(t, p.userId));
		}
		expect((await offerStatus(offerId))?.status).toBe("expired");
		// Every attempt fell inside the 60 s validity, and there were several.
		const first = service.times[0] ?? 0;
		expect(service.times.length).toBeGreaterThan(2);
		expect(service.times.every((at) => at - first < 60_000)).toBe(true);
		const sent = service.times.length;
		c.advance(3_600_000);
		await runDurableObjectAlarm(shopperStub(t, p.userId));
		expect(service.times.length).toBe(sent);
	});

	it("does not retry other 4xx answers", async () => {
		const t = await shopWithCampaign("rt-4xx", 1800);
		const p = await registerPerson(t, "u");
		const service = scriptedPushService(p.endpoint, [[400]]);
		clock();
		const w = walker();
		const a = await postPings(t, p.userId, [w.at(AWAY), w.at(NANTES)], p.deviceId);
		expect((await offerStatus(a.offers[0]?.offerId ?? ""))?.status).toBe("failed");
		expect(await runDurableObjectAlarm(shopperStub(t, p.userId))).toBe(false);
		expect(service.times.length).toBe(1);
	});
});
