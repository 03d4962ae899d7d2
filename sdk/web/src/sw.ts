/**
 * Edge offers service worker, served at /sdk/edge-offers-sw.js (docs/web-sdk.md).
 *
 * A service worker must come from the origin of the page that registers it: copy this file to
 * your site (or proxy it), then let the SDK's `enablePush()` register it, or register it
 * yourself with the publishable key and the service's origin:
 *
 *   navigator.serviceWorker.register(
 *     "/edge-offers-sw.js?key=pk_...&api=" + encodeURIComponent("https://offers.example.com"),
 *     { type: "module", scope: "/" });
 *
 * It has no import or export, so it also runs registered as a classic script (the service
 * serves it at /sw.js too, for sites set up before the SDK).
 *
 * On push: the offer (a plain payload, or a Declarative Web Push one sent to Safari) is shown
 * with its image and action buttons unless it has expired, then reported `displayed`; open
 * pages of the site get it too (the SDK's `on("offer")`). On click: the offer's link, a signed
 * click link that records the click (per action) and redirects to the deep link, opens; with
 * no link the click is reported `clicked` (with its action). On close: `dismissed`. When the
 * browser renews the subscription, the new one is registered for the person.
 */
import * as store from "./store.js";

declare const self: ServiceWorkerGlobalScope;

const params = new URL(self.location.href).searchParams;

interface Action {
	id: string;
	title: string;
	url?: string;
}

/** An offer as the service sends it (buildOfferPayload in src/push/payload.ts). */
interface OfferMessage {
	offerId: string;
	campaignId?: string;
	variantId?: string;
	title: string;
	body?: string;
	url?: string;
	icon?: string;
	image?: string;
	actions?: Action[];
	expiresAt?: string;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 ? v : undefined);

function httpUrl(v: unknown): string | undefined {
	if (typeof v !== "string") return undefined;
	try {
		const u = new URL(v);
		return u.protocol === "https:" || u.protocol === "http:" ? u.href : undefined;
	} catch {
		return undefined;
	}
}

/** Where to report and with which key: the script's query, else the SDK's saved session. */
async function reporter(): Promise<{ api: string; key: string } | null> {
	const session = await store.get("session").catch(() => undefined);
	const key = params.get("key") || session?.publishableKey || "";
	const api = (params.get("api") || session?.baseUrl || self.location.origin).replace(/\/+$/, "");
	return key ? { api, key } : null;
}

async function report(offerId: string | undefined, type: string, action?: string): Promise<void> {
	const to = await reporter();
	if (!to || !offerId) return;
	await fetch(`${to.api}/v1/offers/${encodeURIComponent(offerId)}/events`, {
		method: "POST",
		headers: { "content-type": "application/json", authorization: `Bearer ${to.key}` },
		body: JSON.stringify(action ? { type, action } : { type }),
		keepalive: true,
	}).catch(() => undefined);
}

/**
 * The offer in a push message, plain or Declarative Web Push (`"web_push": 8030`, whose
 * `navigate` links are the signed click links); null for anything else.
 */
function offerOf(p: unknown): OfferMessage | null {
	if (!p || typeof p !== "object") return null;
	const m = p as Record<string, unknown>;
	let o: Record<string, unknown> = m;
	if (m.web_push === 8030 && m.notification && typeof m.notification === "object") {
		const n = m.notification as Record<string, unknown>;
		o = {
			...m,
			title: n.title,
			body: n.body,
			url: n.navigate,
			actions: Array.isArray(n.actions)
				? (n.actions as Record<string, unknown>[]).map((a) => ({
						id: a?.action,
						title: a?.title,
						url: a?.navigate,
					}))
				: undefined,
		};
	}
	const offerId = str(o.offerId);
	const title = str(o.title);
	if (!offerId || !title) return null;
	const actions = (Array.isArray(o.actions) ? (o.actions as Record<string, unknown>[]) : [])
		.filter((a) => a && str(a.id) && str(a.title))
		.map((a) => ({ id: a.id as string, title: a.title as string, url: httpUrl(a.url) }));
	return {
		offerId,
		campaignId: str(o.campaignId),
		variantId: str(o.variantId),
		title,
		body: typeof o.body === "string" ? o.body : "",
		url: httpUrl(o.url),
		icon: httpUrl(o.icon),
		image: httpUrl(o.image),
		actions,
		expiresAt: str(o.expiresAt),
	};
}

self.addEventListener("install", () => {
	void self.skipWaiting();
});

self.addEventListener("activate", (event) => {
	event.waitUntil(self.clients.claim());
});

self.addEventListener("push", (event) => {
	let payload: unknown = null;
	try {
		payload = event.data ? event.data.json() : null;
	} catch {
		payload = null;
	}
	const offer = offerOf(payload);
	if (!offer) return;
	// A stale in-store offer is worse than none.
	const expiresAt = Date.parse(offer.expiresAt ?? "");
	if (Number.isFinite(expiresAt) && expiresAt <= Date.now()) return;
	const max =
		(typeof Notification === "undefined" ? 0 : (Notification as { maxActions?: number }).maxActions) || 2;
	const actions = (offer.actions ?? []).slice(0, max);
	const options: NotificationOptions & { image?: string; actions?: { action: string; title: string }[] } = {
		body: offer.body ?? "",
		tag: offer.offerId,
		data: { offerId: offer.offerId, url: offer.url, actions: actions.map((a) => ({ id: a.id, url: a.url })) },
		actions: actions.map((a) => ({ action: a.id, title: a.title })),
	};
	if (offer.icon) options.icon = offer.icon;
	if (offer.image) options.image = offer.image;
	event.waitUntil(
		self.registration.showNotification(offer.title, options).then(async () => {
			await report(offer.offerId, "displayed");
			const pages = await self.clients.matchAll({ type: "window" });
			for (const c of pages) c.postMessage({ type: "edge-offers:offer", offer });
		}),
	);
});

self.addEventListener("notificationclick", (event) => {
	const n = event.notification;
	const d = (n.data ?? {}) as { offerId?: string; url?: string; actions?: { id: string; url?: string }[] };
	n.close();
	let url = d.url;
	if (event.action) url = (d.actions ?? []).find((a) => a.id === event.action)?.url;
	// The link is the service's signed click link: opening it records the click.
	event.waitUntil(
		url
			? self.clients.openWindow(url).then(() => undefined)
			: report(d.offerId, "clicked", event.action || undefined),
	);
});

self.addEventListener("notificationclose", (event) => {
	const d = (event.notification.data ?? {}) as { offerId?: string };
	event.waitUntil(report(d.offerId, "dismissed"));
});

interface SubscriptionChangeEvent extends ExtendableEvent {
	oldSubscription: PushSubscription | null;
	newSubscription: PushSubscription | null;
}

/** The browser replaced (or dropped) the subscription: subscribe again and register the new one. */
async function renew(event: SubscriptionChangeEvent): Promise<void> {
	let sub = event.newSubscription;
	if (!sub) {
		const key = event.oldSubscription?.options.applicationServerKey;
		if (!key) return;
		sub = await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
	}
	const [session, device] = await Promise.all([store.get("session"), store.get("device")]);
	let registered = false;
	if (session && device) {
		const path = `/v1/users/${encodeURIComponent(session.userId)}/devices/${encodeURIComponent(device)}`;
		const res = await fetch(session.baseUrl + path, {
			method: "PUT",
			headers: {
				"content-type": "application/json",
				authorization: `Bearer ${session.token ?? session.publishableKey}`,
			},
			body: JSON.stringify({ platform: "web", webPush: sub.toJSON() }),
		}).catch(() => null);
		registered = res?.ok === true;
		if (registered) await store.set("push", sub.endpoint);
	}
	// Not registered (no session, an expired token, offline): the next page the SDK runs in
	// sees an endpoint it has not registered and registers it with a fresh token.
	if (!registered)
		for (const c of await self.clients.matchAll({ type: "window" }))
			c.postMessage({ type: "edge-offers:subscription" });
}

self.addEventListener("pushsubscriptionchange", (event) => {
	const e = event as SubscriptionChangeEvent;
	e.waitUntil(renew(e).catch(() => undefined));
});
