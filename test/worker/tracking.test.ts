/**
 * Offer tracking: the signed click link (redirect, signature, action binding, no open
 * redirect), events reported by apps with the publishable key, and the service worker.
 */
import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { signClick } from "../../src/offers/click.js";
import { clickKey } from "../../worker/crypto.js";
import {
	BASE,
	call,
	capturePush,
	createCampaign,
	createTenant,
	expectClientProblemWithPaths,
	expectProblem,
	offset,
	postPings,
	registerPerson,
	squareFence,
	type Tenant,
	uploadFences,
	walker,
} from "./helpers";

const BORDEAUX = { lat: 44.8378, lng: -0.5792 };
const AWAY = offset(BORDEAUX, 400, 0);
const BEER_URL = "https://shop.example/beer";
const ADD_URL = "https://shop.example/cart/add/beer";

afterEach(() => {
	vi.restoreAllMocks();
});

const VARIANT_WITH_LINKS = {
	id: "a",
	weight: 1,
	title: "Beer is -20%",
	body: "Two minutes away",
	url: BEER_URL,
	actions: [{ id: "add", title: "Add to cart", url: ADD_URL }],
};

/** A tenant with one grocery store and a campaign whose variant is `variant`. */
async function shop(prefix: string, variant: Record<string, unknown> = VARIANT_WITH_LINKS): Promise<Tenant> {
	const t = await createTenant(prefix);
	await uploadFences(t, [squareFence("grocery-1", BORDEAUX, 100, { name: "Centre", tags: ["grocery"] })]);
	await createCampaign(t, "beer", { variants: [variant] });
	return t;
}

/** A new person walks into the store: returns the id of the offer sent to them. */
async function sentOffer(t: Tenant): Promise<string> {
	const p = await registerPerson(t, "u");
	const a = await postPings(t, p.userId, [walker().at(BORDEAUX)], p.deviceId);
	expect(a.offers).toEqual([expect.objectContaining({ campaignId: "beer", decision: "sent" })]);
	const offerId = a.offers[0]?.offerId;
	if (!offerId) throw new Error("no offer was sent");
	return offerId;
}

/** The signed link's query, as the push payload carries it. */
async function signedQuery(offerId: string, action: string | null): Promise<URLSearchParams> {
	const q = new URLSearchParams({ sig: await signClick(await clickKey(env), offerId, action) });
	if (action !== null) q.set("action", action);
	return q;
}

/** Follows a click link the way a browser does, but without following the redirect. */
function click(offerId: string, query: URLSearchParams | string): Promise<Response> {
	return SELF.fetch(`${BASE}/v1/offers/${offerId}/click?${query}`, { redirect: "manual" });
}

async function eventsOf(offerId: string): Promise<{ type: string; action: string | null }[]> {
	const { results } = await env.DB.prepare(
		"SELECT type, action FROM offer_events WHERE offer_id = ? ORDER BY created_at, rowid",
	)
		.bind(offerId)
		.all<{ type: string; action: string | null }>();
	return results;
}

function expectClickHeaders(res: Response): void {
	expect(res.headers.get("cache-control")).toBe("no-store");
	expect(res.headers.get("referrer-policy")).toBe("no-referrer");
}

describe("GET /v1/offers/{offerId}/click", () => {
	it("redirects a signed body link to the variant's URL, with no key, and records the click", async () => {
		const t = await shop("tr-body");
		capturePush();
		const offerId = await sentOffer(t);
		const res = await click(offerId, await signedQuery(offerId, null));
		expect(res.status).toBe(302);
		expect(res.headers.get("location")).toBe(BEER_URL);
		expectClickHeaders(res);
		expect(await eventsOf(offerId)).toEqual([{ type: "clicked", action: null }]);
	});

	it("redirects a signed action link to the action's URL and records the action", async () => {
		const t = await shop("tr-action");
		capturePush();
		const offerId = await sentOffer(t);
		const res = await click(offerId, await signedQuery(offerId, "add"));
		expect(res.status).toBe(302);
		expect(res.headers.get("location")).toBe(ADD_URL);
		expectClickHeaders(res);
		expect(await eventsOf(offerId)).toEqual([{ type: "clicked", action: "add" }]);
	});

	it("answers 204 and still records the click when the variant has no link", async () => {
		const t = await shop("tr-nolink", { id: "a", weight: 1, title: "Hi", body: "No link here" });
		capturePush();
		const offerId = await sentOffer(t);
		const res = await click(offerId, await signedQuery(offerId, null));
		expect(res.status).toBe(204);
		expect(res.headers.get("location")).toBeNull();
		expectClickHeaders(res);
		expect(await eventsOf(offerId)).toEqual([{ type: "clicked", action: null }]);
	});

	it("refuses a tampered, missing, repeated or wrongly bound signature with 403 and records nothing", async () => {
		const t = await shop("tr-tamper");
		capturePush();
		const offerId = await sentOffer(t);
		const otherOffer = await sentOffer(t);
		const body = await signedQuery(offerId, null);
		const sig = body.get("sig") ?? "";
		const tampered = `${sig[0] === "A" ? "B" : "A"}${sig.slice(1)}`;
		const bodySigWithAction = new URLSearchParams({ sig, action: "add" });
		const addSigWithoutAction = new URLSearchParams({
			sig: (await signedQuery(offerId, "add")).get("sig") ?? "",
		});
		const foreignKey = new URLSearchParams({ sig: await signClick("not-the-key", offerId, null) });
		const queries: (URLSearchParams | string)[] = [
			`sig=${tampered}`,
			"",
			"action=add",
			`sig=${sig}&sig=${sig}`,
			bodySigWithAction,
			addSigWithoutAction,
			foreignKey,
			`sig=${sig}%3D`,
		];
		for (const q of queries) {
			const res = await click(offerId, q);
			expectClickHeaders(res);
			await expectProblem(res, 403, "bad_signature");
		}
		// Another offer's valid link does not open this one.
		await expectProblem(await click(otherOffer, body), 403, "bad_signature");
		expect(await eventsOf(offerId)).toEqual([]);
		expect(await eventsOf(otherOffer)).toEqual([]);
	});

	it("answers 404 for an action the offer does not have, and for an offer that does not exist", async () => {
		const t = await shop("tr-404");
		capturePush();
		const offerId = await sentOffer(t);
		const res = await click(offerId, await signedQuery(offerId, "nope"));
		expectClickHeaders(res);
		await expectProblem(res, 404, "unknown_action");
		const ghost = crypto.randomUUID();
		await expectProblem(await click(ghost, await signedQuery(ghost, null)), 404, "not_found");
		expect(await eventsOf(offerId)).toEqual([]);
		expect(await eventsOf(ghost)).toEqual([]);
	});

	it("answers 404 once the person is erased", async () => {
		const t = await shop("tr-erased");
		capturePush();
		const p = await registerPerson(t, "u");
		const a = await postPings(t, p.userId, [walker().at(BORDEAUX)], p.deviceId);
		const offerId = a.offers[0]?.offerId ?? "";
		const link = await signedQuery(offerId, null);
		expect((await click(offerId, link)).status).toBe(302);
		expect((await call("DELETE", `/v1/users/${p.userId}`, { key: t.secretKey })).status).toBe(204);
		await expectProblem(await click(offerId, link), 404, "not_found");
	});

	it("never redirects anywhere the query says, only to the offer's stored http(s) links", async () => {
		const t = await shop("tr-open-redirect");
		capturePush();
		const offerId = await sentOffer(t);
		const q = await signedQuery(offerId, null);
		for (const [k, v] of [
			["url", "https://evil.example/"],
			["redirect", "https://evil.example/"],
			["next", "//evil.example"],
			["location", "https://evil.example/"],
		])
			q.append(k as string, v as string);
		const res = await click(offerId, q);
		expect(res.status).toBe(302);
		expect(res.headers.get("location")).toBe(BEER_URL);

		// A stored link that is not http(s) is never followed.
		await env.DB.prepare("UPDATE offers SET links = ? WHERE id = ?")
			.bind(JSON.stringify({ url: "javascript:alert(1)", actions: {} }), offerId)
			.run();
		const unsafe = await click(offerId, await signedQuery(offerId, null));
		expect(unsafe.status).toBe(204);
		expect(unsafe.headers.get("location")).toBeNull();
	});

	it("gives each offer its own link: the first visit's signature does not open the second's offer", async () => {
		const t = await shop("tr-two-visits");
		const patched = await call("PATCH", "/v1/campaigns/beer", {
			key: t.secretKey,
			body: { cooldownSeconds: 0 },
		});
		expect(patched.status).toBe(200);
		capturePush();
		const p = await registerPerson(t, "u");
		const w = walker();
		const first = (await postPings(t, p.userId, [w.at(BORDEAUX)], p.deviceId)).offers[0]?.offerId ?? "";
		await postPings(t, p.userId, [w.at(AWAY)], p.deviceId);
		const second = (await postPings(t, p.userId, [w.at(BORDEAUX)], p.deviceId)).offers[0]?.offerId ?? "";
		expect(second).not.toBe(first);
		expect((await click(second, await signedQuery(second, "add"))).headers.get("location")).toBe(ADD_URL);
		await expectProblem(await click(second, await signedQuery(first, "add")), 403, "bad_signature");
	});
});

describe("POST /v1/offers/{offerId}/events", () => {
	it("records displayed, dismissed and clicked (with its action) with the publishable key: 204", async () => {
		const t = await shop("tr-events");
		capturePush();
		const offerId = await sentOffer(t);
		for (const body of [
			{ type: "displayed" },
			{ type: "displayed" },
			{ type: "dismissed" },
			{ type: "clicked", action: "add" },
			{ type: "clicked" },
		]) {
			const res = await call("POST", `/v1/offers/${offerId}/events`, { key: t.publishableKey, body });
			expect(res.status).toBe(204);
		}
		expect(await eventsOf(offerId)).toEqual([
			{ type: "displayed", action: null },
			{ type: "displayed", action: null },
			{ type: "dismissed", action: null },
			{ type: "clicked", action: "add" },
			{ type: "clicked", action: null },
		]);
	});

	it("answers 404 to another tenant's key and for an unknown offer, 401 without a publishable key", async () => {
		const t = await shop("tr-events-tenant");
		const other = await createTenant("tr-events-other");
		capturePush();
		const offerId = await sentOffer(t);
		const path = `/v1/offers/${offerId}/events`;
		const body = { type: "displayed" };
		await expectProblem(await call("POST", path, { key: other.publishableKey, body }), 404, "not_found");
		await expectProblem(
			await call("POST", `/v1/offers/${crypto.randomUUID()}/events`, { key: t.publishableKey, body }),
			404,
			"not_found",
		);
		await expectProblem(await call("POST", path, { key: t.secretKey, body }), 401, "unauthorized");
		await expectProblem(await call("POST", path, { body }), 401, "unauthorized");
		expect(await eventsOf(offerId)).toEqual([]);
	});

	it("refuses a bad body with 422 and its path (400 when not JSON), storing nothing", async () => {
		const t = await shop("tr-events-422");
		capturePush();
		const offerId = await sentOffer(t);
		const path = `/v1/offers/${offerId}/events`;
		const cases: [unknown, (string | number)[]][] = [
			[{ type: "opened" }, ["type"]],
			[{}, ["type"]],
			[{ type: "clicked", action: "x".repeat(33) }, ["action"]],
			[{ type: "clicked", action: "no spaces" }, ["action"]],
			[{ type: "displayed", action: "add" }, ["action"]],
			[{ type: "displayed", extra: true }, []],
		];
		for (const [body, errPath] of cases) {
			const p = await expectClientProblemWithPaths(await call("POST", path, { key: t.publishableKey, body }));
			expect(p.status).toBe(422);
			expect(p.code).toBe("validation_failed");
			if (errPath.length > 0) expect(p.errors?.map((e) => e.path)).toContainEqual(errPath);
		}
		await expectProblem(
			await call("POST", path, { key: t.publishableKey, raw: "{not json" }),
			400,
			"malformed_json",
		);
		expect(await eventsOf(offerId)).toEqual([]);
	});
});

describe("GET /sw.js", () => {
	it("serves the service worker as JavaScript allowed at the root scope, with no key", async () => {
		const res = await call("GET", "/sw.js");
		expect(res.status).toBe(200);
		expect(res.headers.get("content-type")).toMatch(/^text\/javascript\b/);
		expect(res.headers.get("service-worker-allowed")).toBe("/");
		expect(res.headers.get("cache-control")).toMatch(/max-age=\d+/);
		const js = await res.text();
		for (const type of ["push", "notificationclick", "notificationclose"])
			expect(js).toContain(`addEventListener("${type}"`);
		expect(js).toContain("showNotification");
		expect(js).toContain("/v1/offers/");
	});
});
