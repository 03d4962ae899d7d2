/**
 * Audiences end to end, through the public HTTP API of a real `wrangler dev` with a push
 * receiver: CRM attributes from the back office, interests and locale from the app, a
 * campaign for gold members who like wine with a French translation, and a welcome-back
 * campaign for a second visit. Every push is decrypted; every exclusion is read back from
 * the person's decision trace.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestSubscriber, type TestSubscriber } from "../helpers/ece.js";
import { DecisionSchema, PushPayloadSchema, useE2eService } from "./harness.js";

// Lyon: a wine shop, and a market hall 3 km away; each outside point is ~1 km north of its store.
const WINE_SHOP = { lat: 45.764, lng: 4.8357 };
const WINE_OUTSIDE = { lat: 45.773, lng: 4.8357 };
const HALL = { lat: 45.7631, lng: 4.8748 };
const HALL_OUTSIDE = { lat: 45.7721, lng: 4.8748 };

const PingsResponseSchema = z.object({
	events: z.array(z.object({ type: z.enum(["enter", "exit", "dwell"]), geofenceId: z.string() })),
	offers: z.array(DecisionSchema),
	rejected: z.array(z.object({ index: z.number().int(), reason: z.string() })),
});
const DecisionsSchema = z.object({
	decisions: z.array(
		z.object({
			campaignId: z.string(),
			decision: z.string(),
			reason: z.string().nullable(),
			failed: z
				.object({ path: z.array(z.union([z.string(), z.number()])), condition: z.unknown() })
				.optional(),
		}),
	),
});

const { pushReceiver, tenant, userToken, expectCall, requestsTo } = useE2eService({ name: "audience" });

function pingAt(point: { lat: number; lng: number }, timestampMs: number) {
	return { lat: point.lat, lng: point.lng, accuracy: 10, timestamp: new Date(timestampMs).toISOString() };
}

/**
 * A person as their app registers them (profile with locale and interests, claimed
 * attributes, one web push device), then the back office's CRM attributes.
 */
async function person(
	userId: string,
	app: { locale: string; interests: string[]; attributes?: Record<string, unknown>; firstName?: string },
	crm: Record<string, unknown>,
): Promise<TestSubscriber> {
	const ut = await userToken(userId);
	await expectCall(200, "PUT", `/v1/users/${userId}`, ut, {
		...app,
		consent: { location: true, push: true },
	});
	const subscriber = await createTestSubscriber(pushReceiver().endpointFor(`${userId}-d`));
	await expectCall(200, "PUT", `/v1/users/${userId}/devices/d`, ut, {
		platform: "web",
		webPush: subscriber.subscription,
	});
	await expectCall(200, "PATCH", `/v1/users/${userId}/attributes`, tenant().secretKey, crm);
	return subscriber;
}

/** Walks from `outside` into `store` (60 s apart, ending `endAgoMs` before now). */
async function walkIn(
	userId: string,
	outside: { lat: number; lng: number },
	store: { lat: number; lng: number },
	endAgoMs = 0,
) {
	const end = Date.now() - endAgoMs;
	return PingsResponseSchema.parse(
		await expectCall(200, "POST", "/v1/pings", await userToken(userId), {
			userId,
			deviceId: "d",
			pings: [pingAt(outside, end - 60_000), pingAt(store, end)],
		}),
	);
}

/** The one push `subscriber` got, decrypted. */
async function onlyPush(subscriber: TestSubscriber) {
	const endpoint = subscriber.subscription.endpoint;
	await pushReceiver().waitFor(() => requestsTo(endpoint).length >= 1, 3000);
	const pushes = requestsTo(endpoint);
	expect(pushes).toHaveLength(1);
	const push = pushes[0];
	if (!push) throw new Error("no push received");
	return PushPayloadSchema.parse(JSON.parse(await subscriber.decrypt(push.body)));
}

/** Nothing reached `subscriber` (a push sent after the answer would arrive within the wait). */
async function expectNoPush(subscriber: TestSubscriber) {
	await new Promise((resolve) => setTimeout(resolve, 800));
	expect(requestsTo(subscriber.subscription.endpoint)).toHaveLength(0);
}

async function trace(userId: string) {
	return DecisionsSchema.parse(
		await expectCall(200, "GET", `/v1/users/${userId}/decisions`, tenant().secretKey),
	).decisions;
}

beforeAll(async () => {
	const sk = tenant().secretKey;
	await expectCall(200, "PUT", "/v1/geofences", sk, {
		type: "FeatureCollection",
		features: [
			{
				type: "Feature",
				geometry: { type: "Point", coordinates: [WINE_SHOP.lng, WINE_SHOP.lat] },
				properties: { id: "wine-shop", name: "Cave Bellecour", tags: ["wine"], radius: 150 },
			},
			{
				type: "Feature",
				geometry: { type: "Point", coordinates: [HALL.lng, HALL.lat] },
				properties: { id: "hall", name: "Halles", tags: ["market"], radius: 150 },
			},
		],
	});
	await expectCall(201, "POST", "/v1/campaigns", sk, {
		id: "gold-wine",
		name: "Wine for gold members",
		trigger: { type: "geofence", on: "enter", tags: ["wine"] },
		audience: { all: [{ attribute: "tier", in: ["gold", "platinum"] }, { interest: "wine" }] },
		variants: [
			{
				id: "a",
				weight: 1,
				title: '{{ firstName | default: "Hi" }}, a Bordeaux for you',
				body: "-20% at {{ geofence.name }} today",
				url: "https://shop.example/wine",
				localized: {
					fr: {
						title: '{{ firstName | default: "Bonjour" }}, un Bordeaux pour vous',
						body: "-20 % chez {{ geofence.name }} aujourd'hui",
						url: "https://shop.example/fr/vin",
					},
				},
			},
		],
		ttlSeconds: 600,
	});
	await expectCall(201, "POST", "/v1/campaigns", sk, {
		id: "welcome-back",
		name: "Welcome back",
		trigger: { type: "geofence", on: "enter", tags: ["market"] },
		audience: { visits: { tags: ["market"] }, withinDays: 30, gte: 2 },
		variants: [
			{
				id: "a",
				weight: 1,
				title: "Welcome back!",
				body: "A coffee on us at {{ geofence.name }}",
				url: "https://shop.example/coffee",
			},
		],
		ttlSeconds: 600,
		cooldownSeconds: 0,
	});
});

describe("audiences end to end", () => {
	it("a gold member who likes wine and speaks French gets the French text", async () => {
		const sub = await person(
			"amelie",
			{ locale: "fr-FR", interests: ["wine"], firstName: "Amélie" },
			{ tier: "gold" },
		);
		const res = await walkIn("amelie", WINE_OUTSIDE, WINE_SHOP);
		expect(res.offers).toMatchObject([{ campaignId: "gold-wine", decision: "sent" }]);
		const push = await onlyPush(sub);
		expect(push.title).toBe("Amélie, un Bordeaux pour vous");
		expect(push.body).toBe("-20 % chez Cave Bellecour aujourd'hui");
	});

	it("a German speaker in the audience gets the default text, the default filter filling the missing name", async () => {
		const sub = await person("jonas", { locale: "de-DE", interests: ["wine", "beer"] }, { tier: "platinum" });
		const res = await walkIn("jonas", WINE_OUTSIDE, WINE_SHOP);
		expect(res.offers).toMatchObject([{ campaignId: "gold-wine", decision: "sent" }]);
		const push = await onlyPush(sub);
		expect(push.title).toBe("Hi, a Bordeaux for you");
		expect(push.body).toBe("-20% at Cave Bellecour today");
	});

	it("a silver member whose app claims gold gets nothing, and the trace says which condition failed", async () => {
		const sub = await person(
			"sam",
			{ locale: "fr", interests: ["wine"], attributes: { tier: "gold" } },
			{ tier: "silver" },
		);
		const res = await walkIn("sam", WINE_OUTSIDE, WINE_SHOP);
		expect(res.events.map((e) => e.type)).toEqual(["enter"]);
		// The app is not told which audiences its person is in.
		expect(res.offers).toEqual([]);
		await expectNoPush(sub);
		expect(await trace("sam")).toEqual([
			{
				campaignId: "gold-wine",
				decision: "suppressed",
				reason: "not_in_audience",
				failed: { path: ["audience", "all", 0], condition: { attribute: "tier", in: ["gold", "platinum"] } },
			},
		]);
	});

	it("a gold member without the interest gets nothing, and the trace says so", async () => {
		const sub = await person("gus", { locale: "fr-FR", interests: ["beer"] }, { tier: "gold" });
		const res = await walkIn("gus", WINE_OUTSIDE, WINE_SHOP);
		expect(res.offers).toEqual([]);
		await expectNoPush(sub);
		expect(await trace("gus")).toEqual([
			{
				campaignId: "gold-wine",
				decision: "suppressed",
				reason: "not_in_audience",
				failed: { path: ["audience", "all", 1], condition: { interest: "wine" } },
			},
		]);
	});

	it("the first visit gets nothing, the second a welcome back", async () => {
		const sub = await person("vera", { locale: "en-GB", interests: [] }, {});
		const first = await walkIn("vera", HALL_OUTSIDE, HALL, 120_000);
		expect(first.events.map((e) => e.type)).toEqual(["enter"]);
		expect(first.offers).toEqual([]);
		await expectNoPush(sub);
		expect((await trace("vera"))[0]).toEqual({
			campaignId: "welcome-back",
			decision: "suppressed",
			reason: "not_in_audience",
			failed: { path: ["audience"], condition: { visits: { tags: ["market"] }, withinDays: 30, gte: 2 } },
		});

		const second = await walkIn("vera", HALL_OUTSIDE, HALL);
		expect(second.events.map((e) => e.type)).toEqual(["exit", "enter"]);
		expect(second.offers).toMatchObject([{ campaignId: "welcome-back", decision: "sent" }]);
		const push = await onlyPush(sub);
		expect(push.title).toBe("Welcome back!");
		expect(push.body).toBe("A coffee on us at Halles");
		expect((await trace("vera")).map((d) => d.reason)).toEqual([null, "not_in_audience"]);
	});

	it("the back office tests the audience for listed people", async () => {
		const res = await expectCall(200, "POST", "/v1/campaigns/gold-wine/audience/test", tenant().secretKey, {
			userIds: ["amelie", "jonas", "sam", "gus"],
		});
		expect(res).toMatchObject({
			results: [
				{ userId: "amelie", inAudience: true },
				{ userId: "jonas", inAudience: true },
				{ userId: "sam", inAudience: false, failed: { path: ["audience", "all", 0] } },
				{ userId: "gus", inAudience: false, failed: { path: ["audience", "all", 1] } },
			],
		});
		// Only the people in the audience are in the campaign's funnel.
		const stats = await expectCall(200, "GET", "/v1/campaigns/gold-wine/stats", tenant().secretKey);
		expect(stats).toMatchObject({ totals: { triggered: 2, sent: 2, suppressed: {} } });
	});
});
