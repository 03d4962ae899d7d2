/**
 * The web SDK in Node: its served size, its pure decisions (which positions are kept, how a
 * failed send is retried), and the Declarative Web Push payloads built for Safari endpoints.
 */
import { describe, expect, it } from "vitest";
import { bundleText, gzipSize, sdkBundleOptions, serviceWorkerBundleOptions } from "../../scripts/build.mjs";
import {
	distance,
	keep,
	MODES,
	newBatchId,
	type Ping,
	retryAfterMs,
	retryPlan,
} from "../../sdk/web/src/core.js";
import {
	buildOfferPayload,
	declarativeOfferPayload,
	isDeclarativePushEndpoint,
	webPushPayloadFor,
} from "../../src/push/payload.js";

/** The budget for the SDK served at /sdk/edge-offers.js, idb included. */
const SDK_GZIP_BUDGET = 10 * 1024;

describe("bundle size", () => {
	it("serves the SDK under 10 KB gzip, idb included", async () => {
		const js = await bundleText(sdkBundleOptions());
		const size = gzipSize(js);
		console.log(`sdk/edge-offers.js: ${js.length} bytes, ${size} bytes gzip (budget ${SDK_GZIP_BUDGET})`);
		expect(size).toBeLessThan(SDK_GZIP_BUDGET);
		// idb is bundled in (the Worker serves one self-contained module): no bare import left.
		expect(js).not.toMatch(/from\s*["']idb["']/);
	});

	it("keeps the service worker self-contained, with no import or export", async () => {
		const js = await bundleText(serviceWorkerBundleOptions());
		expect(js).not.toMatch(/^\s*(import|export)\b/m);
		expect(gzipSize(js)).toBeLessThan(SDK_GZIP_BUDGET);
	});
});

const at = (lat: number, lng: number, timestamp: number, accuracy = 10): Ping => ({
	lat,
	lng,
	accuracy,
	timestamp,
});

describe("position filter", () => {
	const m = MODES.responsive;
	const start = at(48.8606, 2.3376, 1_000_000);

	it("keeps the first accurate position and drops inaccurate ones", () => {
		expect(keep(start, null, m)).toBe(true);
		expect(keep({ ...start, accuracy: m.maxAccuracy + 1 }, null, m)).toBe(false);
		expect(keep({ ...start, accuracy: Number.NaN }, null, m)).toBe(false);
	});

	it("keeps a position far enough away, or long enough after the last kept one", () => {
		const near = at(start.lat + 10 / 111_195, start.lng, start.timestamp + 10_000);
		const far = at(start.lat + (m.minDistance + 5) / 111_195, start.lng, start.timestamp + 10_000);
		expect(distance(start, near)).toBeCloseTo(10, 0);
		expect(keep(near, start, m)).toBe(false);
		expect(keep(far, start, m)).toBe(true);
		expect(keep({ ...near, timestamp: start.timestamp + m.maxInterval }, start, m)).toBe(true);
	});

	it("never keeps a position older than the last kept one (the service would drop it)", () => {
		const far = at(start.lat + 0.01, start.lng, start.timestamp - 1);
		expect(keep(far, start, m)).toBe(false);
		expect(keep({ ...far, timestamp: start.timestamp }, start, m)).toBe(false);
	});
});

describe("retry plan", () => {
	const now = Date.parse("2026-12-02T12:00:00Z");

	it("is done on 2xx, renews the token on 401 and drops a batch the service refuses", () => {
		expect(retryPlan(200, null, 0, now, 0.5)).toEqual({ kind: "done" });
		expect(retryPlan(401, null, 0, now, 0.5)).toEqual({ kind: "renew-token" });
		for (const s of [400, 403, 413, 422]) expect(retryPlan(s, null, 0, now, 0.5)).toEqual({ kind: "drop" });
	});

	it("waits Retry-After on 429 and 503, in seconds or as a date", () => {
		expect(retryPlan(429, "7", 0, now, 0.5)).toEqual({ kind: "wait", ms: 7000 });
		expect(retryPlan(503, new Date(now + 30_000).toUTCString(), 3, now, 0.5)).toEqual({
			kind: "wait",
			ms: 30_000,
		});
		expect(retryAfterMs("soon", now)).toBeNull();
		expect(retryAfterMs(null, now)).toBeNull();
	});

	it("backs off exponentially with jitter on 5xx and network errors, capped", () => {
		const waits = [0, 1, 2, 3].map((a) => retryPlan(500, null, a, now, 0));
		expect(waits).toEqual([1000, 2000, 4000, 8000].map((c) => ({ kind: "wait", ms: c / 2 })));
		const top = retryPlan(0, null, 50, now, 0.999_999);
		expect(top.kind).toBe("wait");
		expect(top.kind === "wait" && top.ms).toBeLessThanOrEqual(5 * 60_000);
		// A 429 without Retry-After backs off too.
		expect(retryPlan(429, null, 0, now, 1).kind).toBe("wait");
	});

	it("names batches the way POST /v1/pings accepts", () => {
		const ids = new Set(Array.from({ length: 50 }, () => newBatchId()));
		expect(ids.size).toBe(50);
		for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9._:-]{1,64}$/);
	});
});

describe("Declarative Web Push payload", () => {
	const offer = {
		offerId: "o1",
		campaignId: "beer",
		variantId: "a",
		title: "Ana, beer is -20%",
		body: "Two minutes away",
		url: "https://api.example/v1/offers/o1/click?sig=abc",
		image: "https://shop.example/beer.jpg",
		actions: [
			{ id: "add", title: "Add to cart", url: "https://api.example/v1/offers/o1/click?sig=def&action=add" },
			{ id: "later", title: "Later" },
		],
		expiresAt: "2026-12-02T12:30:00.000Z",
	};

	it("recognises Apple's push service endpoints only", () => {
		expect(isDeclarativePushEndpoint("https://web.push.apple.com/QGx")).toBe(true);
		expect(isDeclarativePushEndpoint("https://api.push.apple.com/x")).toBe(true);
		expect(isDeclarativePushEndpoint("https://fcm.googleapis.com/fcm/send/x")).toBe(false);
		expect(isDeclarativePushEndpoint("https://web.push.apple.com.evil.example/x")).toBe(false);
		expect(isDeclarativePushEndpoint("http://web.push.apple.com/x")).toBe(false);
		expect(isDeclarativePushEndpoint("not a url")).toBe(false);
	});

	it("turns the offer into a web_push 8030 message navigating through the signed click links", () => {
		const plain = buildOfferPayload(offer);
		const d = JSON.parse(webPushPayloadFor("https://web.push.apple.com/QGx", plain));
		expect(d).toMatchObject({
			web_push: 8030,
			mutable: true,
			notification: {
				title: offer.title,
				body: offer.body,
				navigate: offer.url,
				actions: [{ action: "add", title: "Add to cart", navigate: offer.actions[0]?.url }],
			},
			offerId: "o1",
			campaignId: "beer",
			image: offer.image,
			expiresAt: offer.expiresAt,
		});
		// Other push services get the plain payload unchanged.
		expect(webPushPayloadFor("https://fcm.googleapis.com/fcm/send/x", plain)).toBe(plain);
	});

	it("keeps an offer without a link plain (a declarative notification must navigate)", () => {
		const plain = buildOfferPayload({ ...offer, url: undefined });
		expect(declarativeOfferPayload(plain)).toBe(plain);
	});
});
