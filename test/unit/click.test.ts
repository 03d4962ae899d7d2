/**
 * Signed click links (sign, verify, tampering, action binding), where a click leads, and
 * the service worker served at /sdk/edge-offers-sw.js and /sw.js run against a fake browser.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { bundleText, serviceWorkerBundleOptions } from "../../scripts/build.mjs";
import {
	CLICK_SIG_LENGTH,
	clickUrl,
	linksOf,
	resolveClick,
	signClick,
	verifyClick,
} from "../../src/offers/click.js";

const KEY = "click-key-0123456789abcdef";
// The service worker exactly as served at /sdk/edge-offers-sw.js and /sw.js.
const SERVICE_WORKER_JS = await bundleText(serviceWorkerBundleOptions());
const OFFER = "3f0c2a4e-8a7b-4c51-9a55-0e4d7c1f2b6a";

/** Replaces the character at `i` with another base64url character. */
function flip(sig: string, i: number): string {
	const c = sig[i] === "A" ? "B" : "A";
	return sig.slice(0, i) + c + sig.slice(i + 1);
}

describe("signClick", () => {
	it("is an unpadded base64url HMAC-SHA256, deterministic per key, offer and action", async () => {
		const sig = await signClick(KEY, OFFER, "add");
		expect(sig).toMatch(/^[A-Za-z0-9_-]+$/);
		expect(sig).toHaveLength(CLICK_SIG_LENGTH);
		expect(await signClick(KEY, OFFER, "add")).toBe(sig);
		// An independent signer (Node's HMAC, not WebCrypto) over the documented message.
		const node = createHmac("sha256", KEY)
			.update(JSON.stringify(["edge-offers/click/v1", OFFER, "add"]))
			.digest("base64url");
		expect(sig).toBe(node);
	});

	it("differs for the body, each action, each offer and each key", async () => {
		const sigs = await Promise.all([
			signClick(KEY, OFFER, null),
			signClick(KEY, OFFER, "add"),
			signClick(KEY, OFFER, "later"),
			signClick(KEY, "other-offer", null),
			signClick("another-key", OFFER, null),
			// "null" the string is not the body.
			signClick(KEY, OFFER, "null"),
		]);
		expect(new Set(sigs).size).toBe(sigs.length);
	});
});

describe("verifyClick", () => {
	it("accepts exactly what was signed", async () => {
		expect(await verifyClick(KEY, OFFER, null, await signClick(KEY, OFFER, null))).toBe(true);
		expect(await verifyClick(KEY, OFFER, "add", await signClick(KEY, OFFER, "add"))).toBe(true);
	});

	it("binds the action: a body link is no action link, and one action is not another", async () => {
		const body = await signClick(KEY, OFFER, null);
		const add = await signClick(KEY, OFFER, "add");
		expect(await verifyClick(KEY, OFFER, "add", body)).toBe(false);
		expect(await verifyClick(KEY, OFFER, null, add)).toBe(false);
		expect(await verifyClick(KEY, OFFER, "later", add)).toBe(false);
	});

	it("refuses another offer's signature and another key's", async () => {
		expect(await verifyClick(KEY, "other-offer", null, await signClick(KEY, OFFER, null))).toBe(false);
		expect(await verifyClick(KEY, OFFER, null, await signClick("another-key", OFFER, null))).toBe(false);
	});

	it("refuses a signature with any one character changed", async () => {
		const sig = await signClick(KEY, OFFER, "add");
		for (let i = 0; i < sig.length; i++)
			expect(await verifyClick(KEY, OFFER, "add", flip(sig, i))).toBe(false);
	});

	it("refuses non-canonical spellings of a valid MAC (spare bits of the last character set)", async () => {
		const sig = await signClick(KEY, OFFER, null);
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		const last = alphabet.indexOf(sig.at(-1) ?? "");
		for (const spare of [1, 2, 3]) {
			const other = sig.slice(0, -1) + alphabet[last | spare];
			expect(await verifyClick(KEY, OFFER, null, other)).toBe(false);
		}
	});

	it("never throws on malformed input", async () => {
		const sig = await signClick(KEY, OFFER, null);
		for (const bad of [
			"",
			"x",
			sig.slice(0, -1),
			`${sig}A`,
			`${sig}=`,
			sig.replace(/^./, "+"),
			"é".repeat(43),
		])
			expect(await verifyClick(KEY, OFFER, null, bad)).toBe(false);
	});
});

describe("clickUrl", () => {
	it("puts the signature and the action in the query of the service's click path", () => {
		expect(clickUrl("https://offers.example.com", OFFER, null, "SIG")).toBe(
			`https://offers.example.com/v1/offers/${OFFER}/click?sig=SIG`,
		);
		expect(clickUrl("https://offers.example.com/", OFFER, "add", "SIG")).toBe(
			`https://offers.example.com/v1/offers/${OFFER}/click?sig=SIG&action=add`,
		);
	});

	it("escapes what it embeds", () => {
		const u = new URL(clickUrl("https://o.example", "a/b", "add", "s+g"));
		expect(u.pathname).toBe("/v1/offers/a%2Fb/click");
		expect(u.searchParams.get("sig")).toBe("s+g");
	});
});

describe("linksOf and resolveClick", () => {
	const links = linksOf({
		url: "https://shop.example/beer",
		actions: [{ id: "add", url: "https://shop.example/cart/add" }, { id: "later" }],
	});

	it("stores the variant's links with null where there is none", () => {
		expect(links).toEqual({
			url: "https://shop.example/beer",
			actions: { add: "https://shop.example/cart/add", later: null },
		});
	});

	it("redirects the body and each action to its own link", () => {
		expect(resolveClick(links, null)).toEqual({ kind: "redirect", url: "https://shop.example/beer" });
		expect(resolveClick(links, "add")).toEqual({ kind: "redirect", url: "https://shop.example/cart/add" });
	});

	it("leads nowhere for an action without a link, and knows no other action", () => {
		expect(resolveClick(links, "later")).toEqual({ kind: "none" });
		expect(resolveClick(links, "nope")).toEqual({ kind: "unknown_action" });
		expect(resolveClick(links, "constructor")).toEqual({ kind: "unknown_action" });
		expect(resolveClick(null, "add")).toEqual({ kind: "unknown_action" });
		expect(resolveClick(null, null)).toEqual({ kind: "none" });
	});

	it("follows only absolute http(s) links", () => {
		for (const url of [
			"javascript:alert(1)",
			"data:text/html,hi",
			"//evil.example",
			"/relative",
			"not a url",
		])
			expect(resolveClick({ url }, null)).toEqual({ kind: "none" });
		expect(resolveClick({ url: "http://shop.example/x" }, null)).toEqual({
			kind: "redirect",
			url: "http://shop.example/x",
		});
	});
});

// ---------------------------------------------------------------------------
// The service worker, run against a fake browser.

interface Shown {
	title: string;
	options: {
		body: string;
		tag: string;
		icon?: string;
		image?: string;
		data: { offerId: string; url?: string; actions: { id: string; url?: string }[] };
		actions: { action: string; title: string }[];
	};
}

function fakeBrowser(scriptUrl: string) {
	const listeners = new Map<string, (e: unknown) => void>();
	const shown: Shown[] = [];
	const opened: string[] = [];
	const posted: { url: string; auth: string | null; body: unknown }[] = [];
	const location = new URL(scriptUrl);
	const self = {
		location: { href: location.href, origin: location.origin },
		addEventListener: (type: string, fn: (e: unknown) => void) => listeners.set(type, fn),
		skipWaiting: () => Promise.resolve(),
		clients: {
			claim: () => Promise.resolve(),
			matchAll: async () => [],
			openWindow: async (url: string) => {
				opened.push(url);
				return null;
			},
		},
		registration: {
			showNotification: async (title: string, options: Shown["options"]) => {
				shown.push({ title, options });
			},
		},
	};
	const fetch = async (url: string, init: RequestInit) => {
		posted.push({
			url,
			auth: new Headers(init.headers).get("authorization"),
			body: JSON.parse(String(init.body)),
		});
		return new Response(null, { status: 204 });
	};
	new Function("self", "fetch", SERVICE_WORKER_JS)(self, fetch);

	async function dispatch(type: string, event: Record<string, unknown>): Promise<void> {
		const pending: Promise<unknown>[] = [];
		listeners.get(type)?.({ ...event, waitUntil: (p: Promise<unknown>) => pending.push(p) });
		await Promise.all(pending);
	}
	return {
		shown,
		opened,
		posted,
		listens: (type: string) => listeners.has(type),
		push: (payload: unknown) => dispatch("push", { data: { json: () => payload } }),
		click: (n: Shown, action = "") =>
			dispatch("notificationclick", { action, notification: { data: n.options.data, close: () => {} } }),
		close: (n: Shown) => dispatch("notificationclose", { notification: { data: n.options.data } }),
	};
}

const CLICK = "https://api.example/v1/offers/o1/click?sig=abc";
const payload = (over: Record<string, unknown> = {}) => ({
	offerId: "o1",
	campaignId: "beer",
	variantId: "a",
	title: "Ana, beer is -20%",
	body: "Two minutes away",
	url: CLICK,
	icon: "https://shop.example/icon.png",
	actions: [
		{ id: "add", title: "Add to cart", url: `${CLICK}&action=add` },
		{ id: "later", title: "Later" },
		{ id: "third", title: "Too many", url: "https://x.example" },
	],
	expiresAt: new Date(Date.now() + 600_000).toISOString(),
	...over,
});

describe("service worker", () => {
	it("listens to push, notificationclick and notificationclose", () => {
		const b = fakeBrowser("https://app.example/sw.js?key=pk_x");
		for (const t of ["push", "notificationclick", "notificationclose"]) expect(b.listens(t)).toBe(true);
	});

	it("shows the offer with at most two actions, then reports it displayed with the page's key", async () => {
		const b = fakeBrowser(
			`https://app.example/sw.js?key=pk_x&api=${encodeURIComponent("https://api.example/")}`,
		);
		await b.push(payload());
		expect(b.shown).toHaveLength(1);
		const n = b.shown[0] as Shown;
		expect(n.title).toBe("Ana, beer is -20%");
		expect(n.options).toMatchObject({
			body: "Two minutes away",
			tag: "o1",
			icon: "https://shop.example/icon.png",
		});
		expect(n.options.actions).toEqual([
			{ action: "add", title: "Add to cart" },
			{ action: "later", title: "Later" },
		]);
		expect(b.posted).toEqual([
			{ url: "https://api.example/v1/offers/o1/events", auth: "Bearer pk_x", body: { type: "displayed" } },
		]);
	});

	it("reports to the origin serving it when no api is given", async () => {
		const b = fakeBrowser("https://app.example/sw.js?key=pk_x");
		await b.push(payload());
		expect(b.posted[0]?.url).toBe("https://app.example/v1/offers/o1/events");
	});

	it("drops an expired offer and a payload that is not an offer", async () => {
		const b = fakeBrowser("https://app.example/sw.js?key=pk_x");
		await b.push(payload({ expiresAt: new Date(Date.now() - 1000).toISOString() }));
		await b.push({ hello: "world" });
		await b.push(null);
		expect(b.shown).toEqual([]);
		expect(b.posted).toEqual([]);
	});

	it("opens the signed click link of the body or of the action clicked", async () => {
		const b = fakeBrowser("https://app.example/sw.js?key=pk_x");
		await b.push(payload());
		const n = b.shown[0] as Shown;
		await b.click(n);
		await b.click(n, "add");
		expect(b.opened).toEqual([CLICK, `${CLICK}&action=add`]);
		// Opening the click link records the click server side: nothing reported twice.
		expect(b.posted.map((p) => p.body)).toEqual([{ type: "displayed" }]);
	});

	it("reports a click with no link itself, and a dismissal", async () => {
		const b = fakeBrowser("https://app.example/sw.js?key=pk_x");
		await b.push(payload({ url: undefined }));
		const n = b.shown[0] as Shown;
		await b.click(n, "later");
		await b.click(n);
		await b.close(n);
		expect(b.opened).toEqual([]);
		expect(b.posted.map((p) => p.body)).toEqual([
			{ type: "displayed" },
			{ type: "clicked", action: "later" },
			{ type: "clicked" },
			{ type: "dismissed" },
		]);
	});

	it("shows a Declarative Web Push message (Safari) and opens its navigate links", async () => {
		const b = fakeBrowser("https://app.example/sw.js?key=pk_x");
		await b.push({
			web_push: 8030,
			mutable: true,
			notification: {
				title: "Cold beer",
				body: "-20%",
				navigate: CLICK,
				actions: [{ action: "add", title: "Add to cart", navigate: `${CLICK}&action=add` }],
			},
			offerId: "o1",
			campaignId: "beer",
			image: "https://shop.example/beer.jpg",
			expiresAt: new Date(Date.now() + 600_000).toISOString(),
		});
		const n = b.shown[0] as Shown;
		expect(n.title).toBe("Cold beer");
		expect(n.options).toMatchObject({ body: "-20%", tag: "o1", image: "https://shop.example/beer.jpg" });
		expect(n.options.actions).toEqual([{ action: "add", title: "Add to cart" }]);
		await b.click(n, "add");
		expect(b.opened).toEqual([`${CLICK}&action=add`]);
		expect(b.posted.map((p) => p.body)).toEqual([{ type: "displayed" }]);
	});

	it("never opens a link that is not http(s)", async () => {
		const b = fakeBrowser("https://app.example/sw.js?key=pk_x");
		await b.push(payload({ url: "javascript:alert(1)", actions: [] }));
		await b.click(b.shown[0] as Shown);
		expect(b.opened).toEqual([]);
	});
});
