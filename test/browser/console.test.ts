/**
 * The retailer console (console/, served at /console/) in headless Chromium against the real
 * dev server, through the public API only: sign in with the secret key (the session token
 * stays in memory), see the stores on the map, import a CSV with a bad row (every problem shown
 * with its line, nothing uploaded) then a clean one, create a campaign and see its preview,
 * an API refusal shown next to its field, results after pings, a person's suppression reason,
 * the live view pushed over the live feed (SSE read with fetch), sign-out; at 390 px wide with no horizontal scroll, keyboard reachable, no serious axe-core
 * violation and no error in the browser console. French for a French browser.
 *
 * `CONSOLE_SCREENSHOTS=<dir>` also saves a screenshot of each screen there
 * (`npm run docs:screenshots` writes the ones of docs/retailer-guide.md, in docs/images/console/).
 */
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useE2eService } from "../e2e/harness.js";
import { ensureChromium } from "./chromium.js";

const svc = useE2eService({ name: "browser-console" });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const SHOTS = process.env.CONSOLE_SCREENSHOTS;

/** Two stores near the Louvre: a circle and a square. */
const STORES = [
	{
		type: "Feature",
		geometry: { type: "Point", coordinates: [2.3413, 48.8612] },
		properties: { id: "louvre-rivoli", name: "Louvre-Rivoli", tags: ["grocery"], radius: 80 },
	},
	{
		type: "Feature",
		geometry: {
			type: "Polygon",
			coordinates: [
				[
					[2.355, 48.857],
					[2.358, 48.857],
					[2.358, 48.859],
					[2.355, 48.859],
					[2.355, 48.857],
				],
			],
		},
		properties: { id: "marais", name: "Marais", tags: ["wine"] },
	},
];

const EXPECTED_NETWORK_LOG = /^Failed to load resource: the server responded with a status of (404|422) /;
/**
 * `wrangler dev` reloads the Worker whenever a source file changes (other work in the same
 * checkout), which cuts an open live stream; Chromium logs that, and the Live page reconnects.
 */
const STREAM_CUT_LOG = "Failed to load resource: net::ERR_INCOMPLETE_CHUNKED_ENCODING";

let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Browser console errors and uncaught exceptions, over the whole suite. */
const problems: string[] = [];
/** Every request the console made to the API: method and path. */
const requests: string[] = [];

beforeAll(async () => {
	// WebGL for MapLibre: headless Chromium only offers SwiftShader when asked to.
	browser = await chromium.launch({
		executablePath: ensureChromium(),
		headless: true,
		args: ["--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"],
	});
	context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "en-GB" });
	page = await context.newPage();
	page.on("console", (m) => {
		// Chromium logs every 4xx answer as a console error; the suite provokes some on purpose
		// (a 422 shown next to its field, a 404 for a person not found): those are not script errors.
		if (m.type() === "error" && !EXPECTED_NETWORK_LOG.test(m.text()) && m.text() !== STREAM_CUT_LOG)
			problems.push(m.text());
	});
	page.on("pageerror", (e) => problems.push(e.message));
	page.on("request", (r) => {
		const u = new URL(r.url());
		if (u.pathname.startsWith("/v1/")) requests.push(`${r.method()} ${u.pathname}`);
	});
	await svc.expectCall(200, "PUT", "/v1/geofences", svc.tenant().secretKey, {
		type: "FeatureCollection",
		features: STORES,
	});
}, 240_000);

afterAll(async () => {
	await browser?.close();
});

const origin = () => svc.api().origin;

async function shot(name: string): Promise<void> {
	if (!SHOTS) return;
	await mkdir(SHOTS, { recursive: true });
	await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Serious and critical axe-core violations on the page as it is now. */
async function axeViolations(p: Page): Promise<string[]> {
	await p.evaluate(axeSource);
	const result = (await p.evaluate(
		"axe.run(document, { resultTypes: ['violations'] }).then(r => r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3) })))",
	)) as { id: string; impact: string; nodes: string[] }[];
	return result
		.filter((v) => v.impact === "serious" || v.impact === "critical")
		.map((v) => `${v.id} (${v.impact}): ${v.nodes.join(", ")}`);
}

/** The page fits the viewport's width: nothing scrolls sideways. */
async function expectNoHorizontalScroll(p: Page): Promise<void> {
	const [scroll, width] = (await p.evaluate(
		"[document.documentElement.scrollWidth, innerWidth]",
	)) as number[];
	expect(scroll).toBeLessThanOrEqual(width ?? 0);
}

async function checkScreen(name: string): Promise<void> {
	await expectNoHorizontalScroll(page);
	expect(await axeViolations(page), `axe on ${name}`).toEqual([]);
	await shot(name);
}

describe("console", () => {
	it("signs in with the secret key, kept nowhere but in memory", async () => {
		const sk = svc.tenant().secretKey;
		await page.goto(`${origin()}/console/`);
		await expect(page.getByRole("heading", { name: "Sign in" }).isVisible()).resolves.toBe(true);
		await checkScreen("sign-in");
		const session = page.waitForResponse((r) => r.url().endsWith("/v1/console/sessions"));
		const firstList = page.waitForRequest((r) => r.url().includes("/v1/geofences"));
		await page.getByLabel("Secret key").fill(sk);
		// Keyboard only: Enter submits.
		await page.getByLabel("Secret key").press("Enter");
		const res = await session;
		expect(res.status()).toBe(201);
		const { token } = (await res.json()) as { token: string };
		expect(token).toMatch(/^cs_/);
		// Every API call after sign-in carries the session token, not the key.
		expect((await firstList).headers().authorization).toBe(`Bearer ${token}`);
		await page.getByRole("heading", { name: "Stores", level: 1 }).waitFor();
		// Neither the key nor the session token is in the URL, in any storage or in a cookie.
		const stored = (await page.evaluate(
			"JSON.stringify([location.href, { ...localStorage }, { ...sessionStorage }])",
		)) as string;
		expect(stored).not.toContain(sk);
		expect(stored).not.toContain(token);
		expect(await context.cookies()).toEqual([]);
		// So a reload signs out; signing in again works.
		await page.reload();
		await page.getByLabel("Secret key").fill(sk);
		await page.getByRole("button", { name: "Sign in" }).click();
		await page.getByRole("heading", { name: "Stores", level: 1 }).waitFor();
	});

	it("shows the stores in the list and draws them on the map", async () => {
		await page.locator("[data-map-ready]").waitFor({ timeout: 30_000 });
		expect(await page.getAttribute("[data-testid=store-map]", "data-store-count")).toBe("2");
		await expect(page.getByRole("cell", { name: "Marais", exact: true }).isVisible()).resolves.toBe(true);
		// The search runs on the service (every store, not only the pages loaded).
		const searched = page.waitForResponse((r) => /\/v1\/geofences\?.*q=LOUV/.test(r.url()));
		await page.getByLabel("Search stores by id or name").fill("LOUV");
		await expect.poll(() => page.locator(".stores-table tbody tr").count(), { timeout: 10_000 }).toBe(1);
		const found = (await (await searched).json()) as { features: { properties: { id: string } }[] };
		expect(found.features.map((f) => f.properties.id)).toEqual(["louvre-rivoli"]);
		await page.getByLabel("Search stores by id or name").fill("");
		const tagged = page.waitForResponse((r) => /\/v1\/geofences\?.*tag=wine/.test(r.url()));
		await page.getByLabel("Tag").fill("wine");
		// The list shown is the service's answer for the filters (the last search's until it comes).
		await expect.poll(() => page.locator(".stores-table tbody tr").count(), { timeout: 10_000 }).toBe(1);
		const byTag = (await (await tagged).json()) as { features: { properties: { id: string } }[] };
		expect(byTag.features.map((f) => f.properties.id)).toEqual(["marais"]);
		await page.getByLabel("Tag").fill("");
		await page.getByRole("cell", { name: "Louvre-Rivoli", exact: true }).waitFor();
		await checkScreen("stores");
	});

	it("lists every bad row of a CSV with its line and uploads nothing, then uploads a clean file", async () => {
		await page.getByText("Import stores").click();
		const before = requests.length;
		const bad = [
			"id,name,lat,lng,radius,tags",
			"bastille,Bastille,48.8532,2.3691,120,grocery",
			"bad id,Oops,48.85,2.35,100,grocery",
			"nation,Nation,48.8483,2.3958,5,grocery",
			"opera,Opéra,not-a-number,2.3316,100,grocery",
		].join("\n");
		await page.setInputFiles("#import-file", {
			name: "stores.csv",
			mimeType: "text/csv",
			buffer: Buffer.from(bad),
		});
		const table = page.getByTestId("import-problems");
		await table.waitFor();
		const rows = await table.locator("tbody tr").allInnerTexts();
		expect(rows.some((r) => r.startsWith("Line 3") && r.includes("properties.id"))).toBe(true);
		expect(rows.some((r) => r.startsWith("Line 4") && r.includes("properties.radius"))).toBe(true);
		expect(rows.some((r) => r.startsWith("Line 5") && r.includes("geometry.coordinates"))).toBe(true);
		expect(rows.some((r) => r.startsWith("Line 2"))).toBe(false);
		expect(await page.getByRole("button", { name: /^Upload/ }).count()).toBe(0);
		await checkScreen("import-errors");
		// Nothing went to the service.
		expect(requests.slice(before)).toEqual([]);

		const good = [
			"id,name,lat,lng,radius,tags",
			"bastille,Bastille,48.8532,2.3691,120,grocery",
			"nation,Nation,48.8483,2.3958,150,grocery",
			"opera,Opéra,48.8719,2.3316,100,grocery",
		].join("\n");
		await page.setInputFiles("#import-file", {
			name: "stores.csv",
			mimeType: "text/csv",
			buffer: Buffer.from(good),
		});
		await page.getByText("3 stores are valid and ready to upload.").waitFor();
		await page.getByRole("button", { name: "Upload 3 stores" }).click();
		await page.getByText(/^Uploaded: 3 created/).waitFor({ timeout: 60_000 });
		expect(requests.slice(before)).toEqual(
			expect.arrayContaining([
				"POST /v1/geofences/imports",
				expect.stringMatching(/^PUT \/v1\/geofences\/imports\/.+\/chunks\/0$/),
			]),
		);
		const listed = (await svc.expectCall(200, "GET", "/v1/geofences?limit=100", svc.tenant().secretKey)) as {
			features: { properties: { id: string } }[];
		};
		expect(listed.features.map((f) => f.properties.id).sort()).toEqual([
			"bastille",
			"louvre-rivoli",
			"marais",
			"nation",
			"opera",
		]);
		await page.getByRole("cell", { name: "Opéra", exact: true }).waitFor();
		await page.locator('[data-store-count="5"]').waitFor();
		await shot("import-done");
	});

	it("deletes a store after a confirmation", async () => {
		await page.getByRole("button", { name: "Delete nation" }).click();
		await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
		await page.getByText("Deleted nation.").waitFor();
		await svc.expectCall(404, "GET", "/v1/geofences/nation", svc.tenant().secretKey);
	});

	it("draws a circle store on the map and saves it", async () => {
		await page.getByRole("button", { name: "Draw a circle store" }).click();
		await page.locator('[data-drawing="circle"]').waitFor();
		const box = await page.getByTestId("store-map").boundingBox();
		if (!box) throw new Error("the map has no box");
		const cx = box.x + box.width / 2;
		const cy = box.y + box.height / 2;
		await page.mouse.click(cx, cy);
		await page.mouse.move(cx + 30, cy, { steps: 5 });
		await page.mouse.click(cx + 30, cy);
		await page.getByText("Circle drawn: name the store and save it.").waitFor();
		await page.getByLabel("Id", { exact: true }).fill("drawn-1");
		await page
			.getByRole("form", { name: "New store" })
			.getByLabel("Name", { exact: true })
			.fill("Drawn store");
		await page.getByRole("form", { name: "New store" }).getByRole("button", { name: "Save" }).click();
		await page.getByText("Store drawn-1 saved.").waitFor();
		const f = (await svc.expectCall(200, "GET", "/v1/geofences/drawn-1", svc.tenant().secretKey)) as {
			geometry: { type: string; coordinates: number[] };
			properties: { radius: number; name: string };
		};
		expect(f.geometry.type).toBe("Point");
		expect(f.properties.name).toBe("Drawn store");
		expect(f.properties.radius).toBeGreaterThanOrEqual(10);
		// Drawn where the map was centred: within the stores' area in Paris.
		expect(f.geometry.coordinates[0]).toBeGreaterThan(2.2);
		expect(f.geometry.coordinates[0]).toBeLessThan(2.5);
		expect(f.geometry.coordinates[1]).toBeGreaterThan(48.8);
		expect(f.geometry.coordinates[1]).toBeLessThan(48.9);
		await page.getByRole("cell", { name: "Drawn store", exact: true }).waitFor();
	});

	it("edits a stored circle on the map and in its fields, and a polygon's corners, then saves them", async () => {
		const before = (await svc.expectCall(200, "GET", "/v1/geofences/drawn-1", svc.tenant().secretKey)) as {
			geometry: { coordinates: number[] };
			properties: { radius: number };
		};
		await page.getByRole("button", { name: "Edit drawn-1" }).click();
		const panel = page.getByTestId("edit-store");
		await panel.getByRole("heading", { name: "Edit store drawn-1" }).waitFor();
		expect(await panel.getByLabel("Centre longitude").inputValue()).toBe(
			String(before.geometry.coordinates[0]),
		);
		// On the map: the circle is centred by the edit; drag it right and down.
		await panel.getByRole("button", { name: "Edit on the map" }).click();
		await page.locator('[data-editing="circle"]').waitFor();
		expect(await page.getAttribute("[data-testid=store-map]", "data-edit-refused")).toBeNull();
		// A radius typed in the fields: the map follows (and the circle is big enough to grab
		// inside, away from the resize handles on its edge).
		await panel.getByLabel("Radius (metres)").fill("150");
		// The panel took the focus below the map: bring the map back into view to drag on it.
		await page.getByTestId("store-map").scrollIntoViewIfNeeded();
		await page.waitForTimeout(800);
		const box = await page.getByTestId("store-map").boundingBox();
		if (!box) throw new Error("the map has no box");
		const cx = box.x + box.width / 2;
		const cy = box.y + box.height / 2;
		await page.mouse.move(cx, cy);
		await page.mouse.down();
		await page.mouse.move(cx + 40, cy + 25, { steps: 8 });
		await page.mouse.up();
		await expect
			.poll(async () => Number(await panel.getByLabel("Centre longitude").inputValue()), { timeout: 10_000 })
			.toBeGreaterThan(before.geometry.coordinates[0] ?? 0);
		expect(Number(await panel.getByLabel("Centre latitude").inputValue())).toBeLessThan(
			before.geometry.coordinates[1] ?? 0,
		);
		// The radius read back from the dragged ring may differ by a metre: typed again.
		await panel.getByLabel("Radius (metres)").fill("150");
		await panel.getByRole("button", { name: "Stop editing on the map" }).click();
		const moved = {
			lng: Number(await panel.getByLabel("Centre longitude").inputValue()),
			lat: Number(await panel.getByLabel("Centre latitude").inputValue()),
		};
		await panel.getByRole("button", { name: "Save" }).click();
		await page.getByText("Store drawn-1 saved.").waitFor();
		const after = (await svc.expectCall(200, "GET", "/v1/geofences/drawn-1", svc.tenant().secretKey)) as {
			geometry: { coordinates: number[] };
			properties: { radius: number; name: string };
		};
		expect(after.properties).toMatchObject({ radius: 150, name: "Drawn store" });
		expect(after.geometry.coordinates).toEqual([moved.lng, moved.lat]);

		// The Marais polygon, by keyboard: one corner moved east, a corner added, saved.
		await page.getByRole("button", { name: "Edit marais" }).click();
		await panel.getByRole("heading", { name: "Edit store marais" }).waitFor();
		await panel.getByLabel("Corner 2 longitude").fill("2.3585");
		await panel.getByRole("button", { name: "Add a corner" }).click();
		await panel.getByLabel("Corner 5 latitude").waitFor();
		await checkScreen("store-edit");
		await panel.getByRole("button", { name: "Save" }).click();
		await page.getByText("Store marais saved.").waitFor();
		const marais = (await svc.expectCall(200, "GET", "/v1/geofences/marais", svc.tenant().secretKey)) as {
			geometry: { coordinates: number[][][] };
			properties: { tags: string[] };
		};
		const ring = marais.geometry.coordinates[0] ?? [];
		expect(ring).toHaveLength(6);
		expect(ring[1]).toEqual([2.3585, 48.857]);
		expect(ring[0]).toEqual(ring[5]);
		expect(marais.properties.tags).toEqual(["wine"]);
		await expect(page.getByTestId("edit-store").count()).resolves.toBe(0);
	});

	it("creates a campaign with a live preview; the API's refusal shows next to its field", async () => {
		await page.getByRole("link", { name: "Campaigns" }).click();
		await page.getByRole("link", { name: "New campaign" }).click();
		await page.getByLabel("Campaign id (optional)").fill("beer");
		await page.getByLabel("Name", { exact: true }).fill("Cold beer nearby");
		await page.getByLabel("Status").selectOption("active");
		await page.getByLabel("Store tags (comma-separated)").fill("grocery");
		await page.getByLabel("Title").fill('{{ firstName | default: "Hi" }}, cold beer is -20%');
		await page.getByLabel("Body").fill("Two minutes away at {{ geofence.name }}");
		await page.getByLabel("Link (https)").fill("https://shop.example/beer");
		await page.getByRole("button", { name: "Add action button" }).click();
		await page.getByLabel("Button text").fill("Add to cart");
		await page.getByLabel("Sample first name").fill("Camille");
		// The audience builder: one attribute condition, by keyboard-reachable controls.
		await page.getByRole("button", { name: "Add a condition", exact: true }).click();
		await page.getByLabel("Attribute name").fill("tier");
		await page.getByLabel("Values (comma-separated)").fill("gold, platinum");
		const preview = page.getByTestId("preview");
		await expect(preview.innerText()).resolves.toContain("Camille, cold beer is -20%");
		await expect(preview.innerText()).resolves.toContain("Two minutes away at Paris Rivoli");
		await expect(page.locator(".notif-android").innerText()).resolves.toContain("Add to cart");
		await expect(page.getByText(/Push payload, worst case: [\d,]+ of 3,993 bytes/).isVisible()).resolves.toBe(
			true,
		);
		// A value the API refuses: its own message, next to the field.
		await page.getByLabel("Holdout %", { exact: true }).fill("150");
		await page.getByRole("button", { name: "Save" }).click();
		const fieldError = page.locator('[id="f-holdoutPercent-error"]');
		await fieldError.waitFor();
		expect((await fieldError.innerText()).length).toBeGreaterThan(0);
		expect(await page.getByLabel("Holdout %", { exact: true }).getAttribute("aria-invalid")).toBe("true");
		await checkScreen("campaign-editor");
		await svc.expectCall(404, "GET", "/v1/campaigns/beer", svc.tenant().secretKey);

		await page.getByLabel("Holdout %", { exact: true }).fill("0");
		await page.getByRole("button", { name: "Save" }).click();
		await expect.poll(() => new URL(page.url()).hash).toBe("#/campaigns/beer");
		const saved = (await svc.expectCall(200, "GET", "/v1/campaigns/beer", svc.tenant().secretKey)) as {
			status: string;
			holdoutPercent: number;
			trigger: unknown;
			variants: { title: string; actions: { id: string; title: string }[] }[];
			audience?: unknown;
		};
		expect(saved.status).toBe("active");
		expect(saved.holdoutPercent).toBe(0);
		expect(saved.trigger).toEqual({ type: "geofence", on: "enter", tags: ["grocery"] });
		expect(saved.variants[0]?.actions[0]?.title).toBe("Add to cart");
		expect(saved.audience).toEqual({ attribute: "tier", in: ["gold", "platinum"] });
		// Reloaded into the builder, and the saved audience tested: a person never seen is out.
		await expect(page.getByLabel("Attribute name").inputValue()).resolves.toBe("tier");
		await page.getByLabel("User ids").fill("nobody-1");
		await page.getByRole("button", { name: "Test the audience" }).click();
		const results = page.getByTestId("audience-test-results");
		await results.waitFor();
		await expect(results.innerText()).resolves.toMatch(/nobody-1[\s\S]*out[\s\S]*"attribute":"tier"/);
		// Removed again (everyone: the next test counts a person without a tier in the funnel).
		await page.getByRole("button", { name: "Remove 1" }).click();
		await page.getByRole("button", { name: "Save" }).click();
		await page.getByText("Saved.").waitFor();
		const everyone = (await svc.expectCall(200, "GET", "/v1/campaigns/beer", svc.tenant().secretKey)) as {
			audience?: unknown;
		};
		expect(everyone.audience ?? null).toBeNull();
		await page.getByRole("link", { name: "Campaigns" }).click();
		await page.getByRole("link", { name: "Cold beer nearby" }).waitFor();
		await checkScreen("campaigns");
	});

	it("shows results after pings, and a person's suppression reason (the why-not trace)", async () => {
		// A person with consent but no push subscription walks into the Louvre store.
		const userId = "walker-1";
		const ut = await svc.userToken(userId);
		await svc.expectCall(200, "PUT", `/v1/users/${userId}`, ut, {
			firstName: "Ada",
			consent: { location: true, push: true },
		});
		const now = Date.now();
		const answer = (await svc.expectCall(200, "POST", "/v1/pings", ut, {
			userId,
			pings: [
				{ lat: 48.8712, lng: 2.3413, accuracy: 5, timestamp: now - 60_000 },
				{ lat: 48.8612, lng: 2.3413, accuracy: 5, timestamp: now - 1_000 },
			],
		})) as { offers: { decision: string; reason?: string }[] };
		const reason = answer.offers[0]?.reason;
		expect(answer.offers[0]?.decision).toBe("suppressed");
		expect(reason).toBeTruthy();

		await page.getByRole("link", { name: "Results" }).first().click();
		const results = page.getByTestId("results");
		await results.waitFor();
		// One trigger, nothing sent, counted in one group (the variant, or unassigned when the
		// suppression came before a variant was drawn).
		const cells = (await results.locator("tbody tr").allInnerTexts()).map((r) => r.split("\t"));
		expect(cells[0]?.[0]).toBe("Variant a");
		expect(cells.reduce((n, c) => n + Number(c[1]), 0)).toBe(1);
		expect(cells.reduce((n, c) => n + Number(c[2]), 0)).toBe(0);
		await page.getByRole("heading", { name: "Suppressed by reason" }).waitFor();
		await expect(page.locator(".bars").innerText()).resolves.toContain(reason);
		await checkScreen("results");

		await page.getByRole("link", { name: "People" }).click();
		await page.getByLabel("Person id").fill(userId);
		await page.getByLabel("Person id").press("Enter");
		const decisions = page.getByTestId("decisions");
		await decisions.waitFor();
		const row = await decisions.locator("tbody tr").first().innerText();
		expect(row).toContain("beer");
		expect(row).toContain("suppressed");
		expect(row).toContain(reason);
		expect(await page.getByTestId("presence").innerText()).toBe("louvre-rivoli");
		await checkScreen("people");

		// Live: the person is counted inside the store, and the latest events list their enter.
		await page.getByRole("link", { name: "Live" }).click();
		const inside = page.getByTestId("live-inside");
		await inside.waitFor({ timeout: 30_000 });
		await expect(inside.innerText()).resolves.toMatch(/Louvre-Rivoli\s+louvre-rivoli: 1/);
		await expect(page.getByTestId("live-events").innerText()).resolves.toContain("geofence.entered");
		await page.getByTestId("live-status").waitFor();
		// Pushed, not polled: a second person walks in and out while the page is open, and the
		// count follows over the one stream (GET /v1/live, the session in its header).
		const liveBefore = requests.length;
		const second = "walker-2";
		const ut2 = await svc.userToken(second);
		await svc.expectCall(200, "PUT", `/v1/users/${second}`, ut2, {
			consent: { location: true, push: false },
		});
		const t2 = Date.now();
		await svc.expectCall(200, "POST", "/v1/pings", ut2, {
			userId: second,
			pings: [
				{ lat: 48.8712, lng: 2.3413, accuracy: 5, timestamp: t2 - 90_000 },
				{ lat: 48.8612, lng: 2.3413, accuracy: 5, timestamp: t2 - 30_000 },
			],
		});
		await page.getByText(/louvre-rivoli: 2/).waitFor({ timeout: 20_000 });
		// Out by about 220 m, slower than the service's 100 m/s plausibility bound.
		await svc.expectCall(200, "POST", "/v1/pings", ut2, {
			userId: second,
			pings: [{ lat: 48.8632, lng: 2.3413, accuracy: 5, timestamp: Date.now() }],
		});
		await page.getByText(/louvre-rivoli: 1/).waitFor({ timeout: 20_000 });
		await expect(page.getByTestId("live-events").innerText()).resolves.toContain("geofence.exited");
		const during = requests.slice(liveBefore);
		expect(during.filter((r) => r === "GET /v1/events")).toEqual([]);
		expect(requests).toContain("GET /v1/live");
		await checkScreen("live");

		// The results' daily chart counts today's suppressed offer.
		await page.getByRole("link", { name: "Campaigns" }).click();
		await page.getByRole("link", { name: "Results" }).first().click();
		await page.getByTestId("daily-chart").waitFor();
		const today = await page
			.getByTestId("daily-table")
			.locator("tbody tr")
			.last()
			.locator("td")
			.allTextContents();
		// Counted by the service (?series=daily): both walkers triggered and were suppressed.
		// Columns: triggered, sent, suppressed, displayed, clicked, converted, holdout, revenue.
		expect(today).toEqual(["2", "0", "2", "0", "0", "0", "0", "0"]);
		await checkScreen("results");

		await page.getByRole("link", { name: "People" }).click();
		await page.getByLabel("Person id").fill(userId);
		await page.getByLabel("Person id").press("Enter");
		await page.getByTestId("decisions").waitFor();
		await page.getByRole("button", { name: "Erase this person" }).click();
		await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
		await page.getByText(`${userId} was erased.`).waitFor();
		await svc.expectCall(404, "GET", `/v1/users/${userId}`, svc.tenant().secretKey);
	});

	it("edits settings through the API and shows its refusals by field", async () => {
		await page.getByRole("link", { name: "Settings" }).click();
		await page.getByLabel("Offers per day").fill("3");
		await page.getByLabel("Allowed origins (one per line)").fill("https://shop.example");
		await page.getByRole("button", { name: "Save" }).click();
		await page.getByText("Saved.").waitFor();
		const s = (await svc.expectCall(200, "GET", "/v1/settings", svc.tenant().secretKey)) as {
			caps: { perDay: number };
			allowedOrigins: string[];
		};
		expect(s.caps.perDay).toBe(3);
		expect(s.allowedOrigins).toEqual(["https://shop.example"]);
		await page.getByLabel("Accuracy gate (metres)").fill("1");
		await page.getByRole("button", { name: "Save" }).click();
		await page.locator('[id="s-maxAccuracyMeters-error"]').waitFor();
		await checkScreen("settings");
	});

	it("reaches every page from the keyboard", async () => {
		await page.getByRole("link", { name: "Stores" }).click();
		await page.getByRole("heading", { name: "Stores", level: 1 }).waitFor();
		// Before the menu: the skip button; after it, the menu in order, then sign-out.
		const focused = async () =>
			(await page.evaluate("document.activeElement?.textContent?.trim() ?? ''")) as string;
		await page.getByRole("link", { name: "Stores" }).focus();
		await page.keyboard.press("Shift+Tab");
		expect(await focused()).toBe("Skip to content");
		const reached: string[] = [];
		for (let i = 0; i < 6; i++) {
			await page.keyboard.press("Tab");
			reached.push(await focused());
		}
		expect(reached).toEqual(["Stores", "Campaigns", "Live", "People", "Settings", "Sign out"]);
		// The skip button moves the focus to the page's content.
		await page.getByRole("button", { name: "Skip to content" }).focus();
		await page.keyboard.press("Enter");
		expect(await page.evaluate("document.activeElement?.id")).toBe("main");
		// Enter on a focused link follows it.
		await page.getByRole("link", { name: "Campaigns" }).focus();
		await page.keyboard.press("Enter");
		await page.getByRole("heading", { name: "Campaigns", level: 1 }).waitFor();
	});

	it("signs out: the session ends on the service too", async () => {
		const ended = page.waitForResponse((r) => r.url().endsWith("/v1/console/sessions/current"));
		await page.getByRole("button", { name: "Sign out" }).click();
		const res = await ended;
		expect(res.status()).toBe(204);
		await page.getByLabel("Secret key").waitFor();
		const bearer =
			res
				.request()
				.headers()
				.authorization?.replace(/^Bearer /, "") ?? "";
		expect(bearer).toMatch(/^cs_/);
		await svc.expectCall(401, "GET", "/v1/settings", bearer);
	});

	it("speaks French to a French browser", async () => {
		const fr = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "fr-FR" });
		const p = await fr.newPage();
		p.on("pageerror", (e) => problems.push(e.message));
		await p.goto(`${origin()}/console/`);
		await p.getByRole("heading", { name: "Connexion" }).waitFor({ timeout: 60_000 });
		expect(await p.getAttribute("html", "lang")).toBe("fr");
		await p.getByLabel("Clé secrète").fill(svc.tenant().secretKey);
		await p.getByRole("button", { name: "Se connecter" }).click();
		// Generous: a loaded machine can take long to sign in a second browser context.
		await p
			.getByRole("heading", { name: "Magasins", level: 1 })
			.or(p.locator(".status-error"))
			.waitFor({ timeout: 90_000 });
		expect(await p.locator(".status-error").count()).toBe(0);
		expect(await axeViolations(p)).toEqual([]);
		await fr.close();
	});

	it("logged no error in the browser console", () => {
		expect(problems).toEqual([]);
	});
});
