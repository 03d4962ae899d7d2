/**
 * The web SDK and its service worker in headless Chromium, against the real dev server, from a
 * page on another origin (a second local port, the tenant's allowedOrigins): CORS allowed for
 * the listed origin and refused for others; geolocation emulation walks into a store; pings
 * queued offline survive the page closing and arrive in order, each batch applied once; a push
 * delivered to the service worker through the DevTools protocol is shown, reported displayed,
 * and a click on an action is counted in the campaign's stats.
 */
import type { Browser, BrowserContext, Page, Request as PwRequest } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useE2eService } from "../e2e/harness.js";
import { createTestSubscriber } from "../helpers/ece.js";
import { type AppServer, startAppServer } from "./app-server.js";
import { launchChromium, newContext } from "./chromium.js";

const svc = useE2eService({ name: "browser-sdk" });

/** store-001 of geofences/paris-stores.geojson: a circle of 80 m. */
const STORE = { id: "louvre-rivoli", lat: 48.8612, lng: 2.3413, radius: 80 };
/** `m` metres north of the store's centre. */
const north = (m: number) => ({ lat: STORE.lat + m / 111_195, lng: STORE.lng });

let browser: Browser;
let app: AppServer;
let other: AppServer;

beforeAll(async () => {
	browser = await launchChromium();
	app = await startAppServer();
	other = await startAppServer();
	const t = svc.tenant();
	await svc.expectCall(200, "PUT", "/v1/settings", t.secretKey, {
		allowedOrigins: [app.origin],
		caps: { perDay: 100, perWeek: 500 },
		minIntervalSeconds: 0,
	});
	await svc.expectCall(200, "PUT", "/v1/geofences", t.secretKey, {
		type: "FeatureCollection",
		features: [
			{
				type: "Feature",
				geometry: { type: "Point", coordinates: [STORE.lng, STORE.lat] },
				properties: { id: STORE.id, name: "Louvre-Rivoli", tags: ["grocery"], radius: STORE.radius },
			},
		],
	});
	await svc.expectCall(201, "POST", "/v1/campaigns", t.secretKey, {
		id: "beer",
		name: "Cold beer",
		status: "active",
		priority: 10,
		trigger: { type: "geofence", on: "enter", tags: ["grocery"] },
		variants: [
			{
				id: "a",
				weight: 1,
				title: "Cold beer is -20%",
				body: "At {{ geofence.name }}",
				url: "https://shop.example/beer",
				image: "https://shop.example/beer.jpg",
				actions: [
					{ id: "add", title: "Add to cart", url: "https://shop.example/cart/add" },
					{ id: "save", title: "Save for later" },
				],
			},
		],
		holdoutPercent: 0,
		ttlSeconds: 1800,
	});
}, 240_000);

afterAll(async () => {
	await browser?.close();
	await app?.close();
	await other?.close();
});

/** Runs `body` (an async function body) in the page with `arg` in scope. */
function run<T>(page: Page, body: string, arg: unknown = null): Promise<T> {
	return page.evaluate(`(async (arg) => { ${body} })(${JSON.stringify(arg)})`) as Promise<T>;
}

/** Loads the SDK from the service into the page as `window.offers`, collecting its events in `window.seen`. */
async function loadSdk(page: Page, userId: string, token: string): Promise<void> {
	await run(
		page,
		`window.offers = await import(arg.origin + "/sdk/edge-offers.js");
		window.seen = [];
		for (const type of ["enter", "exit", "offer", "sent", "error"])
			offers.on(type, (v) => seen.push({ type, ...v }));
		await offers.init({ baseUrl: arg.origin, publishableKey: arg.pk, userId: arg.userId, userToken: arg.token });`,
		{ origin: svc.api().origin, pk: svc.tenant().publishableKey, userId, token },
	);
}

async function person(userId: string): Promise<{ insideGeofences: string[]; firstName?: string }> {
	return (await svc.expectCall(200, "GET", `/v1/users/${userId}`, svc.tenant().secretKey)) as {
		insideGeofences: string[];
		firstName?: string;
	};
}

async function waitUntil<T>(
	what: string,
	probe: () => Promise<T | undefined | false>,
	timeoutMs = 60_000,
): Promise<T> {
	const until = Date.now() + timeoutMs;
	for (;;) {
		const v = await probe();
		if (v) return v;
		if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 200));
	}
}

describe("CORS from a page on another origin", () => {
	it("lets the listed origin call the service and refuses another", async () => {
		const userId = "cors-ana";
		const token = await svc.userToken(userId);
		const ctx = await newContext(browser);
		try {
			const put = `const res = await fetch(arg.origin + "/v1/users/" + arg.userId, {
					method: "PUT",
					headers: { authorization: "Bearer " + arg.token, "content-type": "application/json" },
					body: JSON.stringify({ firstName: arg.name, consent: { location: true, push: true } }),
				}).then((r) => r.json().then((b) => ({ status: r.status, body: b })), (e) => ({ blocked: String(e) }));
				return res;`;
			const listed = await ctx.newPage();
			await listed.goto(app.origin);
			const ok = await run<{ status: number; body: { userId: string } }>(listed, put, {
				origin: svc.api().origin,
				userId,
				token,
				name: "Ana",
			});
			expect(ok.status).toBe(200);
			expect(ok.body.userId).toBe(userId);

			const unlisted = await ctx.newPage();
			await unlisted.goto(other.origin);
			const refused = await run<{ blocked?: string; status?: number }>(unlisted, put, {
				origin: svc.api().origin,
				userId,
				token,
				name: "Mallory",
			});
			expect(refused.blocked).toMatch(/TypeError|Failed to fetch/);
			// Refused before anything was applied.
			expect((await person(userId)).firstName).toBe("Ana");

			// The SDK itself loads from any origin (a public module).
			const sdk = await run<string>(
				unlisted,
				"const m = await import(arg.origin + '/sdk/edge-offers.js'); return typeof m.init;",
				{ origin: svc.api().origin },
			);
			expect(sdk).toBe("function");
		} finally {
			await ctx.close();
		}
	});
});

describe("SDK tracking and offline queue", () => {
	const userId = "walker-bea";
	let ctx: BrowserContext;

	beforeAll(async () => {
		ctx = await newContext(browser, {
			permissions: ["geolocation"],
			geolocation: { latitude: north(160).lat, longitude: north(160).lng, accuracy: 10 },
		});
	});
	afterAll(async () => {
		await ctx?.close();
	});

	it("walks into the store with geolocation emulation: the person is inside", async () => {
		const page = await ctx.newPage();
		await page.goto(app.origin);
		await loadSdk(page, userId, await svc.userToken(userId));
		await run(
			page,
			`await offers.setConsent({ location: true, push: true });
			offers.startTracking({ mode: "responsive", flushAfter: 100, minDistance: 5 });`,
		);
		await waitUntil("the outside position to be sent", () =>
			run<boolean>(page, "return seen.some((e) => e.type === 'sent');"),
		);
		// 160 m in 3 s: a walk the service believes (it drops pings implying over 100 m/s).
		await new Promise((r) => setTimeout(r, 3_000));
		await ctx.setGeolocation({ latitude: STORE.lat, longitude: STORE.lng, accuracy: 10 });
		const enter = await waitUntil("the enter event", () =>
			run<{ geofenceId: string } | undefined>(page, "return seen.find((e) => e.type === 'enter');"),
		);
		expect(enter.geofenceId).toBe(STORE.id);
		expect((await person(userId)).insideGeofences).toEqual([STORE.id]);
		await run(page, "offers.stopTracking(); await offers.flush();");
		await page.close();
	});

	it("keeps pings taken offline across the page closing, then sends them in order, each batch once", async () => {
		const sent: { batchId: string; timestamps: number[] }[] = [];
		let dropFirstAnswer = true;
		// Records every batch the browser sends; the first answer after going online is lost on
		// the way back (the service applied it, the page sees a network error), so the SDK must
		// send that batch again under the same id.
		await ctx.route(`${svc.api().origin}/v1/pings`, async (route) => {
			const req: PwRequest = route.request();
			if (req.method() !== "POST") return route.continue();
			const body = JSON.parse(req.postData() ?? "{}") as { batchId: string; pings: { timestamp: number }[] };
			sent.push({ batchId: body.batchId, timestamps: body.pings.map((p) => p.timestamp) });
			if (dropFirstAnswer) {
				dropFirstAnswer = false;
				await route.fetch();
				return route.abort("connectionreset");
			}
			return route.continue();
		});

		const page = await ctx.newPage();
		await page.goto(app.origin);
		await loadSdk(page, userId, await svc.userToken(userId));
		await ctx.setOffline(true);
		// Walking out of the store while offline, 20 s apart (after the last ping sent online).
		const start = Date.now() + 20_000;
		const walk = [200, 400, 600].map((m, i) => ({
			...north(m),
			accuracy: 10,
			timestamp: start + i * 20_000,
		}));
		const kept = await run<boolean[]>(
			page,
			"const kept = []; for (const p of arg) kept.push(await offers.track(p)); await offers.flush(); return kept;",
			walk,
		);
		expect(kept).toEqual([true, true, true]);
		expect(await run<number>(page, "return offers.pending();")).toBe(3);
		expect(sent).toEqual([]);
		await page.close();

		// Back online, the next page of the site sends what the closed one queued.
		await ctx.setOffline(false);
		const next = await ctx.newPage();
		await next.goto(app.origin);
		await loadSdk(next, userId, await svc.userToken(userId));
		await waitUntil(
			"the queue to empty",
			async () => (await run<number>(next, "return offers.pending();")) === 0,
		);

		const walkTimes = walk.map((p) => p.timestamp);
		// The lost answer made the SDK send the same batch again, same id, same pings.
		expect(sent.length).toBeGreaterThanOrEqual(2);
		expect(sent[1]).toEqual(sent[0]);
		// Distinct batches carry every queued ping once, in order.
		const distinct = sent.filter((b, i) => sent.findIndex((o) => o.batchId === b.batchId) === i);
		expect(distinct.flatMap((b) => b.timestamps)).toEqual(walkTimes);
		const exits = await run<{ geofenceId: string }[]>(next, "return seen.filter((e) => e.type === 'exit');");
		expect(exits.map((e) => e.geofenceId)).toEqual([STORE.id]);
		expect((await person(userId)).insideGeofences).toEqual([]);
		await ctx.unroute(`${svc.api().origin}/v1/pings`);
		await next.close();
	});
});

describe("SDK retries", () => {
	it("waits Retry-After on 429, backs off on 5xx, and sends the same batch again", async () => {
		const userId = "retry-eli";
		const ctx = await newContext(browser);
		const attempts: { at: number; batchId: string }[] = [];
		const cors = {
			"access-control-allow-origin": app.origin,
			"access-control-expose-headers": "retry-after",
		};
		try {
			await ctx.route(`${svc.api().origin}/v1/pings`, async (route) => {
				if (route.request().method() !== "POST") return route.continue();
				const body = JSON.parse(route.request().postData() ?? "{}") as { batchId: string };
				attempts.push({ at: Date.now(), batchId: body.batchId });
				// What the service answers when a budget is spent, then a failing deployment, then itself.
				if (attempts.length === 1)
					return route.fulfill({
						status: 429,
						headers: { ...cors, "retry-after": "2", "content-type": "application/problem+json" },
						body: '{"status":429,"code":"rate_limited"}',
					});
				if (attempts.length === 2) return route.fulfill({ status: 502, headers: cors, body: "" });
				return route.continue();
			});
			const page = await ctx.newPage();
			await page.goto(app.origin);
			await loadSdk(page, userId, await svc.userToken(userId));
			await run(
				page,
				"await offers.setConsent({ location: true, push: false }); await offers.track(arg); await offers.flush();",
				{ ...north(500), accuracy: 10, timestamp: Date.now() },
			);
			await waitUntil(
				"the batch to be accepted",
				async () => (await run<number>(page, "return offers.pending();")) === 0,
			);
			expect(attempts).toHaveLength(3);
			expect(new Set(attempts.map((a) => a.batchId)).size).toBe(1);
			const [first, second, third] = attempts.map((a) => a.at) as [number, number, number];
			expect(second - first).toBeGreaterThanOrEqual(1_900); // Retry-After: 2
			expect(third - second).toBeGreaterThanOrEqual(450); // back-off: at least half of 1 s
			const sent = await run<{ type: string }[]>(page, "return seen.filter((e) => e.type === 'sent');");
			expect(sent).toHaveLength(1);
		} finally {
			await ctx.close();
		}
	});
});

describe("service worker", () => {
	it("shows a pushed offer, reports it displayed, and counts a click on an action", async () => {
		const t = svc.tenant();
		const userId = "pushed-cleo";
		const token = await svc.userToken(userId);
		const endpoint = svc.pushReceiver().endpointFor("cleo");
		const subscriber = await createTestSubscriber(endpoint);
		await svc.expectCall(200, "PUT", `/v1/users/${userId}`, token, {
			consent: { location: true, push: true },
		});
		await svc.expectCall(200, "PUT", `/v1/users/${userId}/devices/cleo-browser`, token, {
			platform: "web",
			webPush: subscriber.subscription,
		});
		const now = Date.now();
		const answer = (await svc.expectCall(200, "POST", "/v1/pings", token, {
			userId,
			pings: [
				{ ...north(200), accuracy: 10, timestamp: now - 10_000 },
				{ lat: STORE.lat, lng: STORE.lng, accuracy: 10, timestamp: now },
			],
		})) as { offers: { offerId?: string; decision: string }[] };
		expect(answer.offers.map((o) => o.decision)).toEqual(["sent"]);
		const offerId = answer.offers[0]?.offerId as string;
		const [push] = await svc.pushReceiver().waitFor(() => svc.requestsTo(endpoint).length > 0, 20_000);
		const plaintext = await subscriber.decrypt(
			svc.requestsTo(endpoint)[0]?.body ?? push?.body ?? new Uint8Array(),
		);
		expect(JSON.parse(plaintext).offerId).toBe(offerId);

		const ctx = await newContext(browser, { permissions: ["notifications"] });
		try {
			const page = await ctx.newPage();
			await page.goto(app.origin);
			const cdp = await ctx.newCDPSession(page);
			const registrations: { registrationId: string; scopeURL: string }[] = [];
			cdp.on("ServiceWorker.workerRegistrationUpdated", (e: { registrations: typeof registrations }) => {
				registrations.push(...e.registrations);
			});
			await cdp.send("ServiceWorker.enable");
			await run(
				page,
				`await navigator.serviceWorker.register("/edge-offers-sw.js?key=" + arg.pk + "&api=" + encodeURIComponent(arg.api), { type: "module", scope: "/" });
				await navigator.serviceWorker.ready;`,
				{ pk: t.publishableKey, api: svc.api().origin },
			);
			const registration = await waitUntil("the service worker registration", async () =>
				registrations.find((r) => r.scopeURL === `${app.origin}/`),
			);
			await cdp.send("ServiceWorker.deliverPushMessage", {
				origin: app.origin,
				registrationId: registration.registrationId,
				data: plaintext,
			});

			const shown = await waitUntil("the notification", async () => {
				const list = await run<
					{ title: string; body: string; tag: string; image?: string; actions: string[] }[]
				>(
					page,
					`const reg = await navigator.serviceWorker.ready;
					return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, image: n.image, actions: n.actions.map((a) => a.action) }));`,
				);
				return list.length > 0 ? list : undefined;
			});
			expect(shown[0]).toMatchObject({
				title: "Cold beer is -20%",
				body: "At Louvre-Rivoli",
				tag: offerId,
				image: "https://shop.example/beer.jpg",
				actions: ["add", "save"],
			});

			type Stats = {
				totals: { displayed: number; clicked: { total: number; byAction: Record<string, number> } };
			};
			const stats = () =>
				svc.expectCall(200, "GET", "/v1/campaigns/beer/stats", t.secretKey) as Promise<Stats>;
			await waitUntil("displayed to be counted", async () => (await stats()).totals.displayed === 1);

			// A click on "Save for later" (no link): the service worker reports it itself.
			const [worker] = ctx.serviceWorkers();
			expect(worker).toBeDefined();
			await worker?.evaluate(`(async () => {
				const [n] = await self.registration.getNotifications();
				self.dispatchEvent(new NotificationEvent("notificationclick", { notification: n, action: "save" }));
			})()`);
			const after = await waitUntil("the click to be counted", async () => {
				const s = await stats();
				return s.totals.clicked.total > 0 ? s : undefined;
			});
			expect(after.totals.clicked.byAction).toEqual({ save: 1 });
			expect(after.totals.displayed).toBe(1);
		} finally {
			await ctx.close();
		}
	});
});

describe("service worker: renewed subscription", () => {
	it("registers the new subscription for the person with the session the SDK saved", async () => {
		const userId = "renewed-dora";
		const token = await svc.userToken(userId);
		await svc.expectCall(200, "PUT", `/v1/users/${userId}`, token, {
			consent: { location: true, push: true },
		});
		const renewed = await createTestSubscriber(svc.pushReceiver().endpointFor("dora-renewed"));
		const ctx = await newContext(browser);
		try {
			const page = await ctx.newPage();
			await page.goto(app.origin);
			// init() saves the session and the device id in IndexedDB, where the worker reads them.
			await loadSdk(page, userId, token);
			await run(
				page,
				`await navigator.serviceWorker.register("/edge-offers-sw.js?key=" + arg.pk + "&api=" + encodeURIComponent(arg.api), { type: "module", scope: "/" });
				await navigator.serviceWorker.ready;`,
				{ pk: svc.tenant().publishableKey, api: svc.api().origin },
			);
			const before = (await svc.expectCall(200, "GET", `/v1/users/${userId}`, svc.tenant().secretKey)) as {
				devices: unknown[];
			};
			expect(before.devices).toEqual([]);
			// Chromium never fires pushsubscriptionchange itself: dispatch one with the new subscription.
			const [worker] = ctx.serviceWorkers();
			await worker?.evaluate(`(async () => {
				const json = ${JSON.stringify(renewed.subscription)};
				const event = new ExtendableEvent("pushsubscriptionchange");
				Object.assign(event, { oldSubscription: null, newSubscription: { endpoint: json.endpoint, toJSON: () => json } });
				self.dispatchEvent(event);
			})()`);
			const device = await waitUntil("the renewed device", async () => {
				const u = (await svc.expectCall(200, "GET", `/v1/users/${userId}`, svc.tenant().secretKey)) as {
					devices: { deviceId: string; platform: string; pushEndpointHost: string | null }[];
				};
				return u.devices[0];
			});
			expect(device.deviceId).toMatch(/^web-/);
			expect(device.platform).toBe("web");
			expect(device.pushEndpointHost).toBe(new URL(renewed.subscription.endpoint).host);
		} finally {
			await ctx.close();
		}
	});
});

describe("demo page", () => {
	it("shows an offer after the button walks into a sample store", async () => {
		const t = svc.tenant();
		const userId = "demo-dan";
		const token = await svc.userToken(userId);
		// As npm start does for its demo person: consent, and a device the offer can be sent to.
		await svc.expectCall(200, "PUT", `/v1/users/${userId}`, token, {
			consent: { location: true, push: true },
		});
		const subscriber = await createTestSubscriber(svc.pushReceiver().endpointFor("dan"));
		await svc.expectCall(200, "PUT", `/v1/users/${userId}/devices/dan-browser`, token, {
			platform: "web",
			webPush: subscriber.subscription,
		});
		const ctx = await newContext(browser);
		try {
			const page = await ctx.newPage();
			const hash = new URLSearchParams({ pk: t.publishableKey, ut: token, user: userId });
			// The dev server runs with LOCAL_DEV=true, like npm start.
			await page.goto(`${svc.api().origin}/demo/#${hash}`);
			// The first sample store (store-001) is where this suite's fence is.
			await page.waitForFunction("document.querySelector('#store')?.options.length > 0", null, {
				timeout: 20_000,
			});
			await page.click("#walk");
			await page.waitForSelector("#offer:not([hidden])", { timeout: 30_000 });
			const log = (await page.textContent("#log")) ?? "";
			expect(log).toContain(`enter ${STORE.id}`);
			expect(log).toMatch(/offer [0-9a-f-]{36} from campaign beer/);
		} finally {
			await ctx.close();
		}
	});
});
