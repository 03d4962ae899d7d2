/**
 * A push that does not go through is logged as one structured JSON line, with the push service's
 * host and never the endpoint's path (a capability) or keys (issue 11: failures were swallowed).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
	createCampaign,
	createTenant,
	offset,
	PUSH_ORIGIN,
	postPings,
	registerPerson,
	squareFence,
	uploadFences,
	walker,
} from "./helpers";

const ANGERS = { lat: 47.4784, lng: -0.5632 };

afterEach(() => vi.restoreAllMocks());

describe("push delivery logs", () => {
	it("logs a refused push as JSON with transport, outcome, code and host only", async () => {
		const t = await createTenant("push-logs");
		await uploadFences(t, [squareFence("angers-1", ANGERS, 80, { name: "Angers", tags: ["grocery"] })]);
		await createCampaign(t, "beer");
		const p = await registerPerson(t, "logs");
		const original = globalThis.fetch;
		vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
			const req = new Request(input, init);
			if (req.url.startsWith(`${PUSH_ORIGIN}/push/`)) return new Response(null, { status: 400 });
			return original(input, init);
		});
		const errors: string[] = [];
		vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
			errors.push(args.map(String).join(" "));
		});
		const w = walker();
		const a = await postPings(t, p.userId, [w.at(offset(ANGERS, 400, 0)), w.at(ANGERS)], p.deviceId);
		expect(a.offers[0]?.decision).toBe("sent");
		const lines = errors
			.filter((l) => l.startsWith("{"))
			.map((l) => JSON.parse(l) as Record<string, unknown>)
			.filter((l) => l.event === "push_delivery");
		expect(lines).toEqual([
			{
				event: "push_delivery",
				transport: "web",
				outcome: "failed",
				host: new URL(PUSH_ORIGIN).host,
				code: "http_400",
			},
		]);
		expect(errors.join("\n")).not.toContain(p.endpoint);
	});
});
