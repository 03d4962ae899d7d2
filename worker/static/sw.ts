/**
 * The ready-to-use service worker served at GET /sw.js, kept as a string so the Worker
 * bundles it with no loader configuration. Plain ES2017 that every push-capable browser
 * runs; it must not use template literals with `${`, which would be interpolated here.
 */
export const SERVICE_WORKER_JS = `/*
 * Edge offers service worker: shows offer notifications and reports what happened to them.
 *
 * Install: a service worker must come from the origin of the page that registers it, so
 * serve this file from your web app's origin (copy it, or proxy /sw.js to this service),
 * then register it with your publishable key and this service's origin:
 *
 *   navigator.serviceWorker.register(
 *     "/sw.js?key=pk_...&api=" + encodeURIComponent("https://offers.example.com"),
 *     { scope: "/" },
 *   );
 *
 *   key  the tenant's publishable key (pk_...): it can only report events about offers.
 *   api  this service's origin; defaults to the origin serving this script.
 *
 * Then subscribe with PushManager.subscribe (VAPID key from GET /v1/push/vapid-public-key)
 * and send the subscription to PUT /v1/users/{userId}/devices/{deviceId}.
 *
 * On push: the offer is shown unless it has expired, then reported as "displayed".
 * On click: the offer's link (a signed click link that records the click and redirects)
 * opens; with no link, the click is reported as "clicked". On close: "dismissed".
 */
"use strict";

var params = new URL(self.location.href).searchParams;
var KEY = params.get("key") || "";
var API = (params.get("api") || self.location.origin).replace(/\\/+$/, "");
var MAX_ACTIONS = 2;

self.addEventListener("install", function () {
	self.skipWaiting();
});

self.addEventListener("activate", function (event) {
	event.waitUntil(self.clients.claim());
});

function str(v) {
	return typeof v === "string" && v.length > 0 ? v : undefined;
}

function httpUrl(v) {
	if (typeof v !== "string") return undefined;
	try {
		var u = new URL(v);
		return u.protocol === "https:" || u.protocol === "http:" ? u.href : undefined;
	} catch (e) {
		return undefined;
	}
}

function report(offerId, type, action) {
	if (!KEY || !offerId) return Promise.resolve();
	var body = { type: type };
	if (action) body.action = action;
	return fetch(API + "/v1/offers/" + encodeURIComponent(offerId) + "/events", {
		method: "POST",
		headers: { "content-type": "application/json", authorization: "Bearer " + KEY },
		body: JSON.stringify(body),
		keepalive: true,
	}).then(
		function () {},
		function () {},
	);
}

self.addEventListener("push", function (event) {
	var p = null;
	try {
		p = event.data ? event.data.json() : null;
	} catch (e) {
		p = null;
	}
	if (!p || typeof p !== "object" || !str(p.offerId) || !str(p.title)) return;
	var expiresAt = Date.parse(p.expiresAt);
	// A stale in-store offer is worse than none.
	if (Number.isFinite(expiresAt) && expiresAt <= Date.now()) return;
	var actions = (Array.isArray(p.actions) ? p.actions : [])
		.filter(function (a) {
			return a && str(a.id) && str(a.title);
		})
		.slice(0, MAX_ACTIONS);
	var options = {
		body: typeof p.body === "string" ? p.body : "",
		tag: p.offerId,
		data: {
			offerId: p.offerId,
			campaignId: str(p.campaignId),
			variantId: str(p.variantId),
			url: httpUrl(p.url),
			actions: actions.map(function (a) {
				return { id: a.id, url: httpUrl(a.url) };
			}),
			expiresAt: str(p.expiresAt),
		},
		actions: actions.map(function (a) {
			return { action: a.id, title: a.title };
		}),
	};
	if (httpUrl(p.icon)) options.icon = httpUrl(p.icon);
	if (httpUrl(p.image)) options.image = httpUrl(p.image);
	event.waitUntil(
		self.registration.showNotification(p.title, options).then(function () {
			return report(p.offerId, "displayed");
		}),
	);
});

self.addEventListener("notificationclick", function (event) {
	var n = event.notification;
	var d = n.data || {};
	n.close();
	var url = d.url;
	if (event.action) {
		var match = (d.actions || []).filter(function (a) {
			return a.id === event.action;
		})[0];
		url = match ? match.url : undefined;
	}
	// The link is the service's signed click link: opening it records the click.
	event.waitUntil(url ? self.clients.openWindow(url) : report(d.offerId, "clicked", event.action || undefined));
});

self.addEventListener("notificationclose", function (event) {
	var d = event.notification.data || {};
	event.waitUntil(report(d.offerId, "dismissed"));
});
`;
