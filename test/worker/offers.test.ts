/**
 * Offer decisions on geofence events: sends through Web Push, suppression reasons, priority,
 * dead subscriptions, the decision log, erasure, and campaign CRUD.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
	call,
	callOk,
	campaignBody,
	capturePush,
	createCampaign,
	createTenant,
	decisionsOf,
	eventsOf,
	expectProblem,
	getUser,
	offset,
	postPings,
	putUser,
	putWebDevice,
	registerPerson,
	shopperStub,
	squareFence,
	type Tenant,
	unique,
	uploadFences,
	walker,
} from "./helpers";

const BORDEAUX = { lat: 44.8378, lng: -0.5792 };
const OTHER = offset(BORDEAUX, 0, 2000);
/** Well outside grocery-1 yet a believable 10 s walk (or drive) from it. */
const AWAY = offset(BORDEAUX, 400, 0);

afterEach(() => {
	vi.useRealTimers();
	vi.restoreAllMocks();
});

/** A tenant with a grocery store, a plain store elsewhere, and the given campaigns. */
async function shop(
	prefix: string,
	campaigns: [string, Record<string, unknown>][] = [["beer", {}]],
): Promise<Tenant> {
	const t = await createTenant(prefix);
	await uploadFences(t, [
		squareFence("grocery-1", BORDEAUX, 100, { name: "Bordeaux Centre", tags: ["grocery"] }),
		squareFence("plain-1", OTHER, 100, { name: "Elsewhere", tags: ["fashion"] }),
	]);
	for (const [id, overrides] of campaigns) await createCampaign(t, id, overrides);
	return t;
}

describe("geofence campaigns", () => {
	it("sends a push on enter to the registered web device", async () => {
		const t = await shop("of-send", [["beer", { ttlSeconds: 900 }]]);
		const push = capturePush();
		const p = await registerPerson(t, "u", { firstName: "Ana" });
		const w = walker();
		const a = await postPings(t, p.userId, [w.at(BORDEAUX)], p.deviceId);
		expect(eventsOf(a)).toEqual(["enter:grocery-1"]);
		expect(a.offers).toEqual([
			{ offerId: expect.any(String), campaignId: "beer", variantId: "a", decision: "sent" },
		]);

		const sent = push.to(p.endpoint);
		expect(sent.length).toBe(1);
		const req = sent[0];
		expect(req?.method).toBe("POST");
		expect(req?.url).toBe(`http://127.0.0.1:9/push/${p.endpoint}`);
		// TTL is the offer's validity.
		expect(req?.headers.ttl).toBe("900");
		expect(req?.headers.urgency).toBe("high");
		expect(req?.headers["content-encoding"]).toBe("aes128gcm");
		expect(req?.headers.topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
		expect(req?.headers.authorization).toMatch(/^vapid t=[^,]+, ?k=[A-Za-z0-9_-]+$/);
		expect(req?.bodyBytes).toBeGreaterThan(0);

		// Staying inside sends nothing more.
		const b = await postPings(t, p.userId, [w.at(offset(BORDEAUX, 10, 10))], p.deviceId);
		expect(b.events).toEqual([]);
		expect(b.offers).toEqual([]);
		expect(push.sent.length).toBe(1);
	});

	it("sends exactly one push when 20 pings that all enter the fence arrive at once", async () => {
		const t = await shop("of-concurrent");
		const push = capturePush();
		const p = await registerPerson(t, "u");
		const at = Date.now() - 5_000;
		const answers = await Promise.all(
			Array.from({ length: 20 }, (_, i) =>
				postPings(
					t,
					p.userId,
					[{ ...offset(BORDEAUX, i, -i), accuracy: 5, timestamp: at + i * 10 }],
					p.deviceId,
				),
			),
		);
		expect(answers.flatMap(eventsOf)).toEqual(["enter:grocery-1"]);
		expect(answers.flatMap((a) => a.offers).map((d) => d.decision)).toEqual(["sent"]);
		expect(push.sent.length).toBe(1);
		expect((await decisionsOf(t, p.userId)).length).toBe(1);
	});

	it("keeps the cooldown per fence: another store of the campaign still sends", async () => {
		const t = await createTenant("of-cooldown-fence");
		const second = offset(BORDEAUX, 0, 600);
		await uploadFences(t, [
			squareFence("grocery-1", BORDEAUX, 100, { tags: ["grocery"] }),
			squareFence("grocery-2", second, 100, { tags: ["grocery"] }),
		]);
		await createCampaign(t, "beer");
		const push = capturePush();
		const p = await registerPerson(t, "u");
		const w = walker();
		expect((await postPings(t, p.userId, [w.at(BORDEAUX)])).offers[0]?.decision).toBe("sent");
		const next = await postPings(t, p.userId, [w.at(offset(BORDEAUX, 0, 300)), w.at(second)]);
		expect(eventsOf(next)).toEqual(["exit:grocery-1", "enter:grocery-2"]);
		expect(next.offers).toEqual([expect.objectContaining({ campaignId: "beer", decision: "sent" })]);
		expect(push.sent.length).toBe(2);
	});

	it("fires exit campaigns on exit", async () => {
		const t = await shop("of-exit", [
			["bye", { trigger: { type: "geofence", on: "exit", geofenceIds: ["grocery-1"] } }],
		]);
		const push = capturePush();
		const p = await registerPerson(t, "u");
		const w = walker();
		expect((await postPings(t, p.userId, [w.at(BORDEAUX)])).offers).toEqual([]);
		const out = await postPings(t, p.userId, [w.at(AWAY)]);
		expect(eventsOf(out)).toEqual(["exit:grocery-1"]);
		expect(out.offers).toEqual([expect.objectContaining({ campaignId: "bye", decision: "sent" })]);
		expect(push.sent.length).toBe(1);
	});

	it("holds out a person in the holdout group: decision holdout, no push", async () => {
		const t = await shop("of-holdout", [["beer", { holdoutPercent: 100 }]]);
		const push = capturePush();
		const p = await registerPerson(t, "u");
		const a = await postPings(t, p.userId, [walker().at(BORDEAUX)]);
		expect(a.offers).toEqual([expect.objectContaining({ campaignId: "beer", decision: "holdout" })]);
		expect(a.offers[0]?.offerId).toBeUndefined();
		expect(push.sent).toEqual([]);
		expect(await decisionsOf(t, p.userId)).toEqual([
			expect.objectContaining({ decision: "holdout", reason: null }),
		]);
	});

	it("does not fire for a fence the campaign does not target", async () => {
		const t = await shop("of-untargeted");
		const push = capturePush();
		const p = await registerPerson(t, "u");
		const a = await postPings(t, p.userId, [walker().at(OTHER)], p.deviceId);
		expect(eventsOf(a)).toEqual(["enter:plain-1"]);
		expect(a.offers).toEqual([]);
		expect(push.sent).toEqual([]);
		expect(await decisionsOf(t, p.userId)).toEqual([]);
	});

	it("suppresses a re-entry within the cooldown", async () => {
		const t = await shop("of-cooldown");
		const push = capturePush();
		const p = await registerPerson(t, "u");
		const w = walker();
		expect((await postPings(t, p.userId, [w.at(BORDEAUX)])).offers[0]?.decision).toBe("sent");
		expect(eventsOf(await postPings(t, p.userId, [w.at(AWAY)]))).toEqual(["exit:grocery-1"]);
		const again = await postPings(t, p.userId, [w.at(BORDEAUX)]);
		expect(eventsOf(again)).toEqual(["enter:grocery-1"]);
		expect(again.offers).toEqual([
			expect.objectContaining({ campaignId: "beer", decision: "suppressed", reason: "cooldown" }),
		]);
		expect(again.offers[0]?.offerId).toBeUndefined();
		expect(push.sent.length).toBe(1);
	});

	it("suppresses with no_consent when push consent is false", async () => {
		const t = await shop("of-no-consent");
		const push = capturePush();
		const p = await registerPerson(t, "u", { consent: { location: true, push: false } });
		const a = await postPings(t, p.userId, [walker().at(BORDEAUX)]);
		expect(a.offers).toEqual([
			expect.objectContaining({ campaignId: "beer", decision: "suppressed", reason: "no_consent" }),
		]);
		expect(push.sent).toEqual([]);
	});

	it("suppresses with no_subscription when the person has no device", async () => {
		const t = await shop("of-no-device");
		const push = capturePush();
		const u = unique("u");
		await putUser(t, u);
		const a = await postPings(t, u, [walker().at(BORDEAUX)]);
		expect(a.offers).toEqual([
			expect.objectContaining({ campaignId: "beer", decision: "suppressed", reason: "no_subscription" }),
		]);
		expect(push.sent).toEqual([]);
	});

	it("suppresses a paused campaign with campaign_inactive", async () => {
		const t = await shop("of-paused", [["beer", { status: "paused" }]]);
		const push = capturePush();
		const p = await registerPerson(t, "u");
		const a = await postPings(t, p.userId, [walker().at(BORDEAUX)]);
		expect(a.offers).toEqual([
			expect.objectContaining({ campaignId: "beer", decision: "suppressed", reason: "campaign_inactive" }),
		]);
		expect(push.sent).toEqual([]);
	});

	it("suppresses a campaign outside its startsAt/endsAt window", async () => {
		const t = await shop("of-window", [
			["ended", { startsAt: Date.now() - 7_200_000, endsAt: Date.now() - 3_600_000 }],
			["future", { startsAt: new Date(Date.now() + 3_600_000).toISOString(), endsAt: null }],
		]);
		capturePush();
		const p = await registerPerson(t, "u");
		const a = await postPings(t, p.userId, [walker().at(BORDEAUX)]);
		expect(a.offers).toHaveLength(2);
		for (const d of a.offers)
			expect(d).toMatchObject({ decision: "suppressed", reason: "campaign_inactive" });
	});

	it("sends only the higher-priority of two matching campaigns", async () => {
		const t = await shop("of-priority", [
			["low", { priority: 1 }],
			["high", { priority: 50, trigger: { type: "geofence", on: "enter", geofenceIds: ["grocery-1"] } }],
		]);
		const push = capturePush();
		const p = await registerPerson(t, "u");
		const a = await postPings(t, p.userId, [walker().at(BORDEAUX)]);
		expect(a.offers).toHaveLength(2);
		expect(a.offers).toContainEqual(
			expect.objectContaining({ campaignId: "high", decision: "sent", offerId: expect.any(String) }),
		);
		expect(a.offers).toContainEqual(
			expect.objectContaining({ campaignId: "low", decision: "suppressed", reason: "lower_priority" }),
		);
		expect(push.sent.length).toBe(1);
	});

	it("sends to every web device of the person", async () => {
		const t = await shop("of-two-devices");
		const push = capturePush();
		const p = await registerPerson(t, "u");
		const second = unique("ep2");
		await putWebDevice(t, p.userId, unique("dev2"), second);
		const a = await postPings(t, p.userId, [walker().at(BORDEAUX)]);
		expect(a.offers[0]?.decision).toBe("sent");
		expect(push.to(p.endpoint).length).toBe(1);
		expect(push.to(second).length).toBe(1);
	});

	for (const status of [410, 404]) {
		it(`drops the subscription the push service answers ${status} for`, async () => {
			const t = await shop(`of-gone-${status}`, [
				["beer", {}],
				["fashion", { trigger: { type: "geofence", on: "enter", tags: ["fashion"] } }],
			]);
			const push = capturePush();
			const p = await registerPerson(t, "u");
			expect((await getUser(t, p.userId)).devices[0]?.pushEndpointHost).toBe("127.0.0.1:9");
			push.respondWith(p.endpoint, status);
			const w = walker();
			const a = await postPings(t, p.userId, [w.at(BORDEAUX)], p.deviceId);
			expect(a.offers).toEqual([expect.objectContaining({ campaignId: "beer", decision: "sent" })]);
			expect(push.to(p.endpoint).length).toBe(1);
			const user = await getUser(t, p.userId);
			expect(user.devices).toEqual([
				expect.objectContaining({ deviceId: p.deviceId, pushEndpointHost: null }),
			]);

			// With no subscription left, the next offer is not attempted.
			const again = await postPings(t, p.userId, [w.at(AWAY), w.at(OTHER, 5, 60_000)]);
			expect(eventsOf(again)).toEqual(["exit:grocery-1", "enter:plain-1"]);
			expect(again.offers).toEqual([
				expect.objectContaining({ campaignId: "fashion", decision: "suppressed", reason: "no_subscription" }),
			]);
			expect(push.to(p.endpoint).length).toBe(1);
		});
	}

	it("keeps the subscription on other failures", async () => {
		const t = await shop("of-fail-400");
		const push = capturePush();
		const p = await registerPerson(t, "u");
		push.respondWith(p.endpoint, 400);
		await postPings(t, p.userId, [walker().at(BORDEAUX)], p.deviceId);
		expect(push.to(p.endpoint).length).toBe(1);
		expect((await getUser(t, p.userId)).devices[0]?.pushEndpointHost).toBe("127.0.0.1:9");
		// Other 4xx are failures, never retried blindly, not even later.
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 600_000);
		await runDurableObjectAlarm(shopperStub(t, p.userId));
		expect(push.to(p.endpoint).length).toBe(1);
	});
});

describe("decision log", () => {
	it("lists every decision newest first with trigger, campaign, variant, decision and reason", async () => {
		const t = await shop("of-log", [
			["low", { priority: 1 }],
			["high", { priority: 50 }],
		]);
		capturePush();
		const p = await registerPerson(t, "u");
		const w = walker();
		await postPings(t, p.userId, [w.at(BORDEAUX)], p.deviceId);
		await postPings(t, p.userId, [w.at(AWAY)], p.deviceId);
		await postPings(t, p.userId, [w.at(BORDEAUX)], p.deviceId);

		const log = await decisionsOf(t, p.userId);
		expect(log).toHaveLength(4);
		// Newest first: the second visit, where "high" is in cooldown and "low" (never sent,
		// so not in cooldown) wins; then the first visit.
		expect(log.slice(0, 2)).toContainEqual(
			expect.objectContaining({
				campaignId: "high",
				decision: "suppressed",
				reason: "cooldown",
				offerId: null,
			}),
		);
		expect(log.slice(0, 2)).toContainEqual(
			expect.objectContaining({
				campaignId: "low",
				decision: "sent",
				reason: null,
				offerId: expect.any(String),
			}),
		);
		expect(log.slice(2)).toContainEqual(
			expect.objectContaining({
				campaignId: "high",
				variantId: "a",
				decision: "sent",
				reason: null,
				offerId: expect.any(String),
			}),
		);
		expect(log.slice(2)).toContainEqual(
			expect.objectContaining({
				campaignId: "low",
				variantId: "a",
				decision: "suppressed",
				reason: "lower_priority",
			}),
		);
		for (const d of log) {
			expect(d.trigger).toMatchObject({ type: "geofence", on: "enter", geofenceId: "grocery-1" });
			expect(Number.isNaN(Date.parse(d.at))).toBe(false);
		}
		const times = log.map((d) => Date.parse(d.at));
		expect([...times].sort((a, b) => b - a)).toEqual(times);
		expect(Date.parse(log[0]?.trigger.at ?? "")).toBeGreaterThan(Date.parse(log[3]?.trigger.at ?? ""));
	});

	it("is empty for a person never seen", async () => {
		const t = await createTenant("of-log-empty");
		expect(await decisionsOf(t, "nobody")).toEqual([]);
	});
});

describe("GET /v1/users/{userId}", () => {
	it("shows profile, consent and devices with the push endpoint's host, never keys", async () => {
		const t = await createTenant("of-view");
		const p = await registerPerson(t, "u", { firstName: "Ana", locale: "fr-FR" });
		const user = await getUser(t, p.userId);
		expect(user).toMatchObject({
			userId: p.userId,
			firstName: "Ana",
			locale: "fr-FR",
			consent: { location: true, push: true },
		});
		expect(user.devices).toEqual([
			expect.objectContaining({ deviceId: p.deviceId, platform: "web", pushEndpointHost: "127.0.0.1:9" }),
		]);
		const text = JSON.stringify(user);
		expect(text).not.toContain("p256dh");
		expect(text).not.toContain('auth"');
		expect(text).not.toContain(`/push/${p.endpoint}`);
	});
});

describe("DELETE /v1/users/{userId}", () => {
	it("erases the person: 204, then 404 and no decisions", async () => {
		const t = await shop("of-erase");
		capturePush();
		const p = await registerPerson(t, "u");
		await postPings(t, p.userId, [walker().at(BORDEAUX)], p.deviceId);
		expect((await decisionsOf(t, p.userId)).length).toBe(1);

		await callOk("DELETE", `/v1/users/${p.userId}`, { key: t.secretKey }, 204);
		await expectProblem(await call("GET", `/v1/users/${p.userId}`, { key: t.secretKey }), 404, "not_found");
		expect(await decisionsOf(t, p.userId)).toEqual([]);
		// Pings for an erased person change nothing until they sign up again.
		const a = await postPings(t, p.userId, [walker(60_000).at(BORDEAUX)]);
		expect(a.events).toEqual([]);
		await expectProblem(await call("GET", `/v1/users/${p.userId}`, { key: t.secretKey }), 404, "not_found");
	});

	it("forgets cooldowns too: a person who signs up again is a new person", async () => {
		const t = await shop("of-erase-cooldown");
		const push = capturePush();
		const p = await registerPerson(t, "u");
		await postPings(t, p.userId, [walker().at(BORDEAUX)], p.deviceId);
		await callOk("DELETE", `/v1/users/${p.userId}`, { key: t.secretKey }, 204);
		await putUser(t, p.userId);
		await putWebDevice(t, p.userId, p.deviceId, p.endpoint);
		const a = await postPings(t, p.userId, [walker(60_000).at(BORDEAUX)]);
		expect(eventsOf(a)).toEqual(["enter:grocery-1"]);
		expect(a.offers[0]?.decision).toBe("sent");
		expect(push.to(p.endpoint).length).toBe(2);
	});
});

describe("campaign CRUD", () => {
	it("creates, reads, lists, patches and deletes", async () => {
		const t = await createTenant("of-crud");
		const created = await createCampaign(t, "spring", { priority: 5 });
		expect(created).toMatchObject({
			id: "spring",
			status: "active",
			priority: 5,
			holdoutPercent: 0,
			startsAt: null,
		});
		expect(await callOk("GET", "/v1/campaigns/spring", { key: t.secretKey })).toEqual(created);
		await createCampaign(t, "autumn");
		const list = await callOk<{ campaigns: { id: string }[] }>("GET", "/v1/campaigns", { key: t.secretKey });
		expect(list.campaigns.map((c) => c.id).sort()).toEqual(["autumn", "spring"]);

		const patched = await callOk("PATCH", "/v1/campaigns/spring", {
			key: t.secretKey,
			body: { priority: 99, status: "paused" },
		});
		expect(patched).toMatchObject({ id: "spring", priority: 99, status: "paused", name: created.name });
		expect(await callOk("GET", "/v1/campaigns/spring", { key: t.secretKey })).toEqual(patched);

		await callOk("DELETE", "/v1/campaigns/spring", { key: t.secretKey }, 204);
		await expectProblem(await call("GET", "/v1/campaigns/spring", { key: t.secretKey }), 404, "not_found");
		await expectProblem(await call("DELETE", "/v1/campaigns/spring", { key: t.secretKey }), 404, "not_found");
		await expectProblem(
			await call("PATCH", "/v1/campaigns/spring", { key: t.secretKey, body: { priority: 1 } }),
			404,
			"not_found",
		);
	});

	it("generates an id when none is given", async () => {
		const t = await createTenant("of-crud-id");
		const body = campaignBody("x");
		delete body.id;
		const c = await callOk<{ id: string }>("POST", "/v1/campaigns", { key: t.secretKey, body }, 201);
		expect(c.id).toMatch(/^[A-Za-z0-9._:@-]+$/);
		await callOk("GET", `/v1/campaigns/${c.id}`, { key: t.secretKey });
	});

	it("answers 409 for a duplicate id and keeps the first", async () => {
		const t = await createTenant("of-crud-dup");
		await createCampaign(t, "dup", { priority: 1 });
		await expectProblem(
			await call("POST", "/v1/campaigns", { key: t.secretKey, body: campaignBody("dup", { priority: 2 }) }),
			409,
			"conflict",
		);
		expect(await callOk("GET", "/v1/campaigns/dup", { key: t.secretKey })).toMatchObject({ priority: 1 });
	});

	it("revalidates the merged campaign on PATCH and changes nothing on failure", async () => {
		const t = await createTenant("of-crud-patch");
		const start = Date.now() + 3_600_000;
		await createCampaign(t, "win", { startsAt: start, endsAt: start + 3_600_000 });
		const before = await callOk("GET", "/v1/campaigns/win", { key: t.secretKey });
		const bad = await expectProblem(
			await call("PATCH", "/v1/campaigns/win", { key: t.secretKey, body: { endsAt: start - 1000 } }),
			422,
			"validation_failed",
		);
		expect(bad.errors).toContainEqual(expect.objectContaining({ path: ["endsAt"] }));
		const badTemplate = await expectProblem(
			await call("PATCH", "/v1/campaigns/win", {
				key: t.secretKey,
				body: { variants: [{ id: "a", title: "{{ unclosed", body: "ok" }] },
			}),
			422,
			"validation_failed",
		);
		expect(badTemplate.errors?.[0]?.path.slice(0, 3)).toEqual(["variants", 0, "title"]);
		const unknown = await expectProblem(
			await call("PATCH", "/v1/campaigns/win", { key: t.secretKey, body: { id: "other" } }),
			422,
			"validation_failed",
		);
		expect(unknown.errors?.length).toBeGreaterThan(0);
		expect(await callOk("GET", "/v1/campaigns/win", { key: t.secretKey })).toEqual(before);
	});

	it("refuses a template that does not parse with 422", async () => {
		const t = await createTenant("of-crud-template");
		const body = campaignBody("tpl", {
			variants: [{ id: "a", title: "Hello {{ unclosed", body: "ok" }],
		});
		const p = await expectProblem(
			await call("POST", "/v1/campaigns", { key: t.secretKey, body }),
			422,
			"validation_failed",
		);
		expect(p.errors).toContainEqual(expect.objectContaining({ path: ["variants", 0, "title"] }));
		await expectProblem(await call("GET", "/v1/campaigns/tpl", { key: t.secretKey }), 404, "not_found");
	});
});

describe("campaign payload size", () => {
	it("refuses at save time a variant whose push could exceed 3,993 bytes, naming the variant", async () => {
		const t = await createTenant("of-size");
		const variants = [
			{ id: "ok", weight: 1, title: "Hi {{ firstName }}", body: "Fine" },
			{ id: "big", weight: 1, title: "Hi", body: "{{ attributes.note }} ".repeat(40) },
		];
		const res = await call("POST", "/v1/campaigns", {
			key: t.secretKey,
			body: campaignBody("size", { variants }),
		});
		const problem = await expectProblem(res, 422, "validation_failed");
		expect(problem.errors).toEqual([
			expect.objectContaining({ path: ["variants", 1], code: "payload_too_large" }),
		]);
		await expectProblem(await call("GET", "/v1/campaigns/size", { key: t.secretKey }), 404);
	});
});
