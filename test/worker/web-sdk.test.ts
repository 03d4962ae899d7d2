/**
 * What the web SDK needs from the Worker: its files from Workers Static Assets (readable by any
 * origin, the service worker allowed at the root scope), the demo only in local development,
 * and Declarative Web Push for Safari endpoints, whose click is still counted.
 */
import { SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createTestSubscriber } from "../helpers/ece";
import {
	BASE,
	call,
	callOk,
	createCampaign,
	createTenant,
	postPings,
	putUser,
	squareFence,
	unique,
	uploadFences,
	userKey,
} from "./helpers";

afterEach(() => {
	vi.restoreAllMocks();
});

describe("SDK files", () => {
	it("serves the SDK as a JavaScript module any origin may load", async () => {
		const res = await SELF.fetch(`${BASE}/sdk/edge-offers.js`, {
			headers: { origin: "https://shop.example" },
		});
		expect(res.status).toBe(200);
		expect(res.headers.get("content-type")).toMatch(/^text\/javascript\b/);
		expect(res.headers.get("access-control-allow-origin")).toBe("*");
		expect(res.headers.get("x-content-type-options")).toBe("nosniff");
		const js = await res.text();
		// An ES module exporting the documented API.
		const block = /export\s*\{([^}]*)\}/.exec(js)?.[1] ?? "";
		const exported = block.split(",").map((e) =>
			e
				.trim()
				.split(/\s+as\s+/)
				.pop(),
		);
		for (const name of ["init", "setProfile", "setConsent", "startTracking", "stopTracking", "flush"])
			expect(exported, name).toContain(name);
		for (const name of ["enablePush", "disablePush", "on", "logout", "track", "pending"])
			expect(exported, name).toContain(name);
	});

	it("serves the service worker at /sdk/edge-offers-sw.js and /sw.js, allowed at the root scope", async () => {
		const a = await call("GET", "/sdk/edge-offers-sw.js");
		const b = await call("GET", "/sw.js");
		expect(a.status).toBe(200);
		expect(b.status).toBe(200);
		expect(a.headers.get("service-worker-allowed")).toBe("/");
		const [ja, jb] = [await a.text(), await b.text()];
		expect(ja).toBe(jb);
		expect(ja).toContain('addEventListener("pushsubscriptionchange"');
		// No import or export: it runs registered as a module or as a classic script.
		expect(ja).not.toMatch(/^\s*(import|export)\b/m);
	});

	it("serves nothing else under /sdk/, and no demo outside local development", async () => {
		for (const path of ["/sdk/other.js", "/sdk/..%2Fwrangler.toml", "/demo", "/demo/", "/demo/index.html"]) {
			const res = await SELF.fetch(`${BASE}${path}`, { redirect: "manual" });
			expect(res.status, path).toBe(404);
			await res.body?.cancel();
		}
	});
});

describe("Declarative Web Push", () => {
	it("sends Safari endpoints a web_push 8030 message whose navigate link counts the click", async () => {
		const t = await createTenant("dwp");
		const store = { lat: 48.8606, lng: 2.3376 };
		await uploadFences(t, [squareFence("louvre", store, 80, { name: "Louvre", tags: ["grocery"] })]);
		await createCampaign(t, "dwp", {
			variants: [
				{
					id: "a",
					weight: 1,
					title: "Cold beer",
					body: "-20% today",
					url: "https://shop.example/beer",
					actions: [
						{ id: "add", title: "Add to cart", url: "https://shop.example/cart/add" },
						{ id: "later", title: "Later" },
					],
				},
			],
		});
		const userId = unique("safari");
		const endpoint = `https://web.push.apple.com/${unique("tok")}`;
		const subscriber = await createTestSubscriber(endpoint);
		await putUser(t, userId);
		await callOk("PUT", `/v1/users/${userId}/devices/iphone`, {
			key: await userKey(t, userId),
			body: { platform: "web", webPush: subscriber.subscription },
		});
		const sent: Uint8Array[] = [];
		const original = globalThis.fetch;
		vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
			const req = new Request(input, init);
			if (req.url !== endpoint) return original(input, init);
			sent.push(new Uint8Array(await req.arrayBuffer()));
			return new Response(null, { status: 201 });
		});
		const answer = await postPings(t, userId, [{ ...store, accuracy: 5, timestamp: Date.now() }]);
		expect(answer.offers.map((o) => o.decision)).toEqual(["sent"]);
		expect(sent).toHaveLength(1);
		const message = JSON.parse(await subscriber.decrypt(sent[0] as Uint8Array));
		expect(message.web_push).toBe(8030);
		expect(message.mutable).toBe(true);
		expect(message.notification).toMatchObject({ title: "Cold beer", body: "-20% today" });
		const offerId = answer.offers[0]?.offerId as string;
		expect(message.offerId).toBe(offerId);
		// Both links are the service's signed click links; the action without a link needs a worker.
		const navigate = new URL(message.notification.navigate);
		expect(navigate.pathname).toBe(`/v1/offers/${offerId}/click`);
		expect(message.notification.actions).toHaveLength(1);
		expect(message.notification.actions[0].action).toBe("add");

		// Safari opens the navigate link of the "add" button: the click is counted, then redirected.
		vi.restoreAllMocks();
		const add = new URL(message.notification.actions[0].navigate);
		const click = await SELF.fetch(`${BASE}${add.pathname}${add.search}`, { redirect: "manual" });
		expect(click.status).toBe(302);
		expect(click.headers.get("location")).toBe("https://shop.example/cart/add");
		await click.body?.cancel();
		const stats = await callOk<{ totals: { clicked: { total: number; byAction: Record<string, number> } } }>(
			"GET",
			"/v1/campaigns/dwp/stats",
			{ key: t.secretKey },
		);
		const clicked = stats.totals.clicked;
		expect(clicked?.total).toBe(1);
		expect(clicked?.byAction).toEqual({ add: 1 });
	});
});
