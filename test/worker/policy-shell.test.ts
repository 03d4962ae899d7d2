/**
 * The policy as the person's Durable Object carries it out (issue 11's mutation check found both
 * untested): a transactional offer (`ignoreCaps`) is not counted against the caps of the offers
 * that follow, and an offer a copy of which was accepted stays `accepted` whatever another
 * device's copy does later.
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
	putWebDevice,
	registerPerson,
	shopperStub,
	squareFence,
	unique,
	uploadFences,
	walker,
} from "./helpers";

const RENNES = { lat: 48.1173, lng: -1.6778 };
const AWAY = offset(RENNES, 400, 0);

afterEach(() => {
	vi.useRealTimers();
	vi.restoreAllMocks();
});

/** Answers pushes per endpoint name from a script of statuses (the last repeats); others get 201. */
function scriptedPushes(scripts: Record<string, [number, Record<string, string>?][]>) {
	const original = globalThis.fetch;
	const calls: string[] = [];
	vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
		const req = new Request(input, init);
		if (!req.url.startsWith(`${PUSH_ORIGIN}/push/`)) return original(input, init);
		const name = req.url.slice(`${PUSH_ORIGIN}/push/`.length);
		const n = calls.filter((c) => c === name).length;
		calls.push(name);
		const script = scripts[name] ?? [[201]];
		const [status, headers] = script[Math.min(n, script.length - 1)] ?? [201];
		return new Response(null, { status, headers: headers ?? {} });
	});
	return { calls };
}

async function offerStatus(offerId: string): Promise<string | null> {
	const row = await env.DB.prepare("SELECT status FROM offers WHERE id = ?")
		.bind(offerId)
		.first<{ status: string }>();
	return row?.status ?? null;
}

describe("the person's object carries out the policy", () => {
	it("does not count a transactional offer against the caps of the next ones", async () => {
		const t = await createTenant("shell-caps", {
			settings: { caps: { perDay: 1, perWeek: 5 }, minIntervalSeconds: 0, quietHours: null },
		});
		await uploadFences(t, [
			squareFence("order-desk", RENNES, 80, { name: "Order desk", tags: ["pickup"] }),
			squareFence("grocery", offset(RENNES, 0, 1500), 80, { name: "Grocery", tags: ["grocery"] }),
			squareFence("bakery", offset(RENNES, 1500, 0), 80, { name: "Bakery", tags: ["bakery"] }),
		]);
		await createCampaign(t, "order-ready", {
			ignoreCaps: true,
			trigger: { type: "geofence", on: "enter", tags: ["pickup"] },
		});
		await createCampaign(t, "beer", { trigger: { type: "geofence", on: "enter", tags: ["grocery"] } });
		await createCampaign(t, "bread", { trigger: { type: "geofence", on: "enter", tags: ["bakery"] } });
		scriptedPushes({});
		const p = await registerPerson(t, "caps");
		const w = walker(5 * 60_000, 40_000);
		const first = await postPings(t, p.userId, [w.at(AWAY), w.at(RENNES)], p.deviceId);
		expect(first.offers.map((o) => `${o.campaignId}:${o.decision}:${o.reason}`)).toEqual([
			"order-ready:sent:undefined",
		]);
		// The day's one marketing offer is still available.
		const grocery = offset(RENNES, 0, 1500);
		const second = await postPings(t, p.userId, [w.at(offset(grocery, 400, 0)), w.at(grocery)], p.deviceId);
		expect(second.offers.map((o) => `${o.campaignId}:${o.decision}`)).toEqual(["beer:sent"]);
		// And the cap holds after that one: the next marketing offer is suppressed.
		const bakery = offset(RENNES, 1500, 0);
		const third = await postPings(t, p.userId, [w.at(offset(bakery, 0, 400)), w.at(bakery)], p.deviceId);
		expect(third.offers.map((o) => `${o.campaignId}:${o.decision}:${o.reason}`)).toEqual([
			"bread:suppressed:daily_cap",
		]);
	});

	for (const acceptedFirst of [true, false]) {
		it(`keeps an offer accepted once one device's copy got through (accepting device ${acceptedFirst ? "first" : "second"})`, async () => {
			const t = await createTenant(`shell-status-${acceptedFirst ? "a" : "b"}`);
			await uploadFences(t, [squareFence("rennes-1", RENNES, 80, { name: "Rennes", tags: ["grocery"] })]);
			await createCampaign(t, "beer", { ttlSeconds: 1800 });
			const p = await registerPerson(t, "status");
			const second = unique("ep-second");
			await putWebDevice(t, p.userId, unique("dev"), second);
			// Both copies are refused with 429 first; on the retry one is accepted, the other refused for good.
			const accepting = acceptedFirst ? p.endpoint : second;
			const refusing = acceptedFirst ? second : p.endpoint;
			const service = scriptedPushes({
				[accepting]: [[429, { "retry-after": "60" }], [201]],
				[refusing]: [[429, { "retry-after": "60" }], [400]],
			});
			let now = Date.now();
			vi.useFakeTimers({ toFake: ["Date"] });
			vi.setSystemTime(now);
			const w = walker();
			const a = await postPings(t, p.userId, [w.at(AWAY), w.at(RENNES)], p.deviceId);
			const offerId = a.offers[0]?.offerId ?? "";
			expect(a.offers[0]?.decision).toBe("sent");
			expect(await offerStatus(offerId)).toBe("pending");
			now += 61_000;
			vi.setSystemTime(now);
			await runDurableObjectAlarm(shopperStub(t, p.userId));
			expect(service.calls.filter((c) => c === accepting)).toHaveLength(2);
			expect(service.calls.filter((c) => c === refusing)).toHaveLength(2);
			expect(await offerStatus(offerId)).toBe("accepted");
		});
	}
});
