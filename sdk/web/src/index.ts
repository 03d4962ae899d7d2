/**
 * Edge offers web SDK: one person's location pings (filtered, batched, kept in IndexedDB while
 * offline and sent in order exactly once), their profile and consent, Web Push, and the
 * person's own events. See docs/web-sdk.md.
 *
 * ```js
 * import * as offers from "https://offers.example.com/sdk/edge-offers.js";
 * await offers.init({ baseUrl: "https://offers.example.com", publishableKey: "pk_...",
 *   userId: "alice", getUserToken: () => fetch("/my/offers-token").then((r) => r.text()) });
 * await offers.setConsent({ location: true, push: true });
 * offers.on("offer", (o) => console.log("offer", o));
 * offers.startTracking({ mode: "responsive" });
 * ```
 */
import { keep, MAX_BATCH, MODES, newBatchId, type Ping, retryPlan, type TrackingProfile } from "./core.js";
import * as store from "./store.js";

export type { Ping, TrackingProfile } from "./core.js";
export { MODES } from "./core.js";

export interface InitOptions {
	/** The service's origin, e.g. `https://offers.example.com`. */
	baseUrl: string;
	/** The tenant's publishable key (`pk_...`): VAPID key, offer events, and apps in `publishable` mode. */
	publishableKey: string;
	/** The person, as the tenant's back end names them. */
	userId: string;
	/** A user token (`ut_...`) minted by the tenant's back end for this person. */
	userToken?: string;
	/** Returns a fresh user token; called at start when no token is given, and again after a 401. */
	getUserToken?: () => string | Promise<string>;
	/** The service worker's URL on the page's origin (default `/edge-offers-sw.js`). */
	serviceWorkerUrl?: string;
	/** Its scope (default `/`). */
	serviceWorkerScope?: string;
}

export interface Consent {
	location: boolean;
	push: boolean;
}

export interface Profile {
	firstName?: string;
	locale?: string;
	timezone?: string;
	attributes?: Record<string, unknown>;
	[field: string]: unknown;
}

/** A geofence event of the person (user-token mode only: the publishable key gets counts). */
export interface GeofenceEvent {
	type: "enter" | "exit" | "dwell";
	geofenceId: string;
	at: string;
}

/** An offer sent to the person: from a ping's answer, or from a push shown by the service worker. */
export interface Offer {
	offerId?: string;
	campaignId: string;
	variantId?: string;
	title?: string;
	body?: string;
	url?: string;
	[field: string]: unknown;
}

type Events = {
	enter: GeofenceEvent;
	exit: GeofenceEvent;
	dwell: GeofenceEvent;
	offer: Offer;
	/** Every offer decision a ping's answer carries (sent, holdout, suppressed with its reason). */
	decision: Offer & { decision: string; reason?: string };
	/** A batch of pings accepted by the service. */
	sent: { batchId: string; pings: number };
	error: { code: string; status?: number };
};
type Listener<K extends keyof Events> = (value: Events[K]) => void;

interface State {
	o: InitOptions;
	base: string;
	device: string;
	token: string | undefined;
	consent: Consent | undefined;
	profile: Profile;
}

let s: State | null = null;
const listeners: { [K in keyof Events]?: Set<Listener<K>> } = {};

// Tracking and sending.
let watchId: number | null = null;
let mode: TrackingProfile = MODES.responsive;
let last: Ping | null = null;
let flushTimer: ReturnType<typeof setTimeout> | undefined;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let attempt = 0;
let running: Promise<void> | null = null;
let again = false;
let wired = false;

const hasWindow = typeof window !== "undefined";

function need(): State {
	if (!s) throw new Error("edge-offers: call init() first");
	return s;
}

function emit<K extends keyof Events>(type: K, value: Events[K]): void {
	for (const fn of listeners[type] ?? []) {
		try {
			fn(value);
		} catch (e) {
			setTimeout(() => {
				throw e;
			});
		}
	}
}

/**
 * Listens to the person's own events: `enter`, `exit`, `dwell`, `offer`, and `sent`
 * (a batch accepted) and `error`. Returns a function that stops listening.
 */
export function on<K extends keyof Events>(type: K, fn: Listener<K>): () => void {
	let set = listeners[type] as Set<Listener<K>> | undefined;
	if (!set) {
		set = new Set();
		(listeners as Record<string, unknown>)[type] = set;
	}
	set.add(fn);
	return () => set.delete(fn);
}

/**
 * Starts the SDK for one person. Pings queued by an earlier page of the same person are sent
 * at once; those of another person are dropped (they could only be sent with that person's
 * token). Re-registers the push subscription if the browser renewed it meanwhile.
 */
export async function init(o: InitOptions): Promise<void> {
	const base = o.baseUrl.replace(/\/+$/, "");
	const before = await store.get("session");
	if (before && before.userId !== o.userId) await forget();
	let device = await store.get("device");
	if (!device) {
		device = `web-${crypto.randomUUID()}`;
		await store.set("device", device);
	}
	s = { o, base, device, token: o.userToken, consent: undefined, profile: {} };
	if (!s.token && o.getUserToken) s.token = await o.getUserToken();
	await saveSession();
	if (hasWindow && !wired) {
		wired = true;
		addEventListener("online", () => {
			attempt = 0;
			void flush();
		});
		// A page being hidden may be its last chance: start sending what is queued.
		addEventListener("visibilitychange", () => {
			if (document.visibilityState === "hidden") void flush();
		});
		navigator.serviceWorker?.addEventListener("message", (e: MessageEvent) => {
			const d = e.data as { type?: string; offer?: Offer } | null;
			if (d?.type === "edge-offers:offer" && d.offer) emit("offer", d.offer);
			if (d?.type === "edge-offers:subscription") void checkSubscription();
		});
	}
	void checkSubscription().catch(() => undefined);
	void flush();
}

function saveSession(): Promise<void> {
	const st = need();
	return store.set("session", {
		baseUrl: st.base,
		publishableKey: st.o.publishableKey,
		userId: st.o.userId,
		...(st.token ? { token: st.token } : {}),
	});
}

async function renewToken(): Promise<boolean> {
	const st = need();
	if (!st.o.getUserToken) return false;
	st.token = await st.o.getUserToken();
	await saveSession();
	return true;
}

/** One request with the person's credentials; a 401 renews the token once and retries. */
async function call(method: string, path: string, body?: unknown, renewed = false): Promise<Response> {
	const st = need();
	const res = await fetch(st.base + path, {
		method,
		headers: {
			authorization: `Bearer ${st.token ?? st.o.publishableKey}`,
			...(body === undefined ? {} : { "content-type": "application/json" }),
		},
		...(body === undefined ? {} : { body: JSON.stringify(body) }),
	});
	if (res.status === 401 && !renewed && (await renewToken())) return call(method, path, body, true);
	return res;
}

async function ok(res: Response): Promise<unknown> {
	const text = await res.text();
	if (!res.ok) {
		let code = `http_${res.status}`;
		try {
			code = (JSON.parse(text) as { code?: string }).code ?? code;
		} catch {}
		emit("error", { code, status: res.status });
		throw Object.assign(new Error(`edge-offers: ${code}`), { code, status: res.status });
	}
	return text ? JSON.parse(text) : null;
}

const userPath = () => `/v1/users/${encodeURIComponent(need().o.userId)}`;
const devicePath = () => `${userPath()}/devices/${encodeURIComponent(need().device)}`;

/**
 * Sends the person's profile (first name, locale, time zone, attributes, interests) with
 * the consent in force; without {@link setConsent} first, consent is sent as not given.
 */
export async function setProfile(profile: Profile): Promise<void> {
	const st = need();
	st.profile = { ...profile };
	await ok(
		await call("PUT", userPath(), { ...st.profile, consent: st.consent ?? { location: false, push: false } }),
	);
}

/**
 * Records the person's consent. Withdrawing location consent stops tracking and drops the
 * pings not yet sent.
 */
export async function setConsent(consent: Consent): Promise<void> {
	const st = need();
	st.consent = { location: consent.location === true, push: consent.push === true };
	if (!st.consent.location) {
		stopTracking();
		await store.clearQueue();
	}
	await ok(await call("PUT", userPath(), { ...st.profile, consent: st.consent }));
}

// ---------------------------------------------------------------------------
// Location

/**
 * Watches the device's position: positions less accurate than the mode allows are dropped,
 * the rest kept when far enough from (or long enough after) the last kept one, queued, and
 * sent in batches.
 */
export function startTracking(options: { mode?: keyof typeof MODES } & Partial<TrackingProfile> = {}): void {
	need();
	stopTracking();
	const { mode: name = "responsive", ...overrides } = options;
	mode = { ...MODES[name], ...overrides };
	watchId = navigator.geolocation.watchPosition(
		(p) => {
			void track({
				lat: p.coords.latitude,
				lng: p.coords.longitude,
				accuracy: p.coords.accuracy,
				timestamp: p.timestamp || Date.now(),
			});
		},
		(e) => emit("error", { code: e.code === 1 ? "location_denied" : "location_unavailable" }),
		{ enableHighAccuracy: mode.highAccuracy, maximumAge: 5_000, timeout: 60_000 },
	);
}

export function stopTracking(): void {
	if (watchId !== null) navigator.geolocation.clearWatch(watchId);
	watchId = null;
}

/**
 * Queues one position (from `startTracking`, or from the app's own location source) after the
 * mode's filter; resolves once it is stored, so it survives the page closing.
 *
 * @returns whether it was kept
 */
export async function track(p: Ping): Promise<boolean> {
	const st = need();
	if (st.consent?.location === false || !keep(p, last, mode)) return false;
	last = p;
	await store.enqueue([{ userId: st.o.userId, deviceId: st.device, ping: p }]);
	if ((await store.queued()) >= mode.batchSize) void flush();
	else {
		flushTimer ??= setTimeout(() => {
			flushTimer = undefined;
			void flush();
		}, mode.flushAfter);
	}
	return true;
}

/**
 * Sends every queued ping now, oldest first, in batches of at most 100; resolves when the
 * queue is empty or a retry is scheduled (offline, 429 `Retry-After`, 5xx back-off). A batch
 * keeps its id until the service accepts it, so a batch sent again (after a lost answer, a
 * closed page, another tab) is applied once.
 */
export function flush(): Promise<void> {
	if (running) {
		again = true;
		return running;
	}
	const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
	const run = () => (locks ? locks.request("edge-offers-queue", drain) : drain());
	running = run().finally(() => {
		running = null;
		if (again) {
			again = false;
			void flush();
		}
	});
	return running;
}

async function drain(): Promise<void> {
	clearTimeout(retryTimer);
	for (let renewals = 0; s; ) {
		let batch = await store.get("batch");
		if (!batch) {
			const items = await store.head(MAX_BATCH);
			const lastItem = items[items.length - 1];
			if (!lastItem || lastItem.seq === undefined) return;
			batch = {
				batchId: newBatchId(),
				userId: lastItem.userId,
				deviceId: lastItem.deviceId,
				lastSeq: lastItem.seq,
				pings: items.map((i) => i.ping),
			};
			// Stored before it is sent: after a crash it is sent again under the same id.
			await store.set("batch", batch);
		}
		if (typeof navigator !== "undefined" && navigator.onLine === false) return;
		let status = 0;
		let retryAfter: string | null = null;
		let answer: unknown = null;
		try {
			const res = await call(
				"POST",
				"/v1/pings",
				{ userId: batch.userId, deviceId: batch.deviceId, pings: batch.pings, batchId: batch.batchId },
				true,
			);
			status = res.status;
			retryAfter = res.headers.get("retry-after");
			answer = res.ok ? await res.json().catch(() => null) : await res.body?.cancel();
		} catch {
			status = 0;
		}
		const plan = retryPlan(status, retryAfter, attempt, Date.now(), Math.random());
		if (plan.kind === "done" || plan.kind === "drop") {
			await store.settle(batch);
			attempt = 0;
			renewals = 0;
			if (plan.kind === "drop") emit("error", { code: "batch_refused", status });
			else {
				emit("sent", { batchId: batch.batchId, pings: batch.pings.length });
				answered(answer);
			}
			continue;
		}
		if (plan.kind === "renew-token") {
			// A provider that keeps giving refused tokens must not spin: stop until the next trigger.
			if (renewals++ < 1 && (await renewToken().catch(() => false))) continue;
			emit("error", { code: "unauthorized", status });
			return;
		}
		attempt++;
		retryTimer = setTimeout(() => void flush(), plan.ms);
		return;
	}
}

function answered(answer: unknown): void {
	const a = answer as { events?: GeofenceEvent[]; offers?: (Offer & { decision?: string })[] } | null;
	for (const e of a?.events ?? []) if (e.type in { enter: 1, exit: 1, dwell: 1 }) emit(e.type, e);
	for (const d of a?.offers ?? []) {
		emit("decision", d as Events["decision"]);
		if (d.decision === "sent") emit("offer", d);
	}
}

/** Pings waiting to be sent (kept across page loads). */
export function pending(): Promise<number> {
	return store.queued();
}

// ---------------------------------------------------------------------------
// Push

function swUrl(): string {
	const st = need();
	const u = new URL(st.o.serviceWorkerUrl ?? "/edge-offers-sw.js", location.href);
	u.searchParams.set("key", st.o.publishableKey);
	u.searchParams.set("api", st.base);
	return u.href;
}

async function active(reg: ServiceWorkerRegistration): Promise<ServiceWorkerRegistration> {
	const w = reg.installing ?? reg.waiting;
	if (!reg.active && w)
		await new Promise<void>((done) => {
			w.addEventListener("statechange", () => {
				if (w.state === "activated") done();
			});
		});
	return reg;
}

function key(b64url: string): Uint8Array<ArrayBuffer> {
	const b = atob(b64url.replace(/-/g, "+").replace(/_/g, "/"));
	return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

/**
 * Asks permission, registers the service worker, subscribes with the tenant's VAPID key
 * and registers this browser as one of the person's devices.
 */
export async function enablePush(): Promise<PushSubscription> {
	if (!("serviceWorker" in navigator) || typeof PushManager === "undefined")
		throw new Error("push_unsupported");
	if ((await Notification.requestPermission()) !== "granted") throw new Error("push_denied");
	const st = need();
	const scope = st.o.serviceWorkerScope ?? "/";
	// The worker has no import or export: where module service workers are not supported, it
	// runs as a classic script.
	const reg = await active(
		await navigator.serviceWorker
			.register(swUrl(), { type: "module", scope })
			.catch(() => navigator.serviceWorker.register(swUrl(), { scope })),
	);
	const vapid = (await ok(await fetch(`${st.base}/v1/push/vapid-public-key`))) as { publicKey: string };
	const server = key(vapid.publicKey);
	let sub = await reg.pushManager.getSubscription();
	const current = sub?.options.applicationServerKey;
	if (sub && (!current || new Uint8Array(current).join() !== server.join())) {
		await sub.unsubscribe();
		sub = null;
	}
	sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: server });
	await register(sub);
	return sub;
}

async function register(sub: PushSubscription): Promise<void> {
	await ok(await call("PUT", devicePath(), { platform: "web", webPush: sub.toJSON() }));
	await store.set("push", sub.endpoint);
}

/** Registers the subscription again if the browser replaced it since it was registered. */
async function checkSubscription(): Promise<void> {
	const registered = await store.get("push");
	if (!registered || !hasWindow || !("serviceWorker" in navigator)) return;
	const reg = await navigator.serviceWorker.getRegistration(need().o.serviceWorkerScope ?? "/");
	const sub = await reg?.pushManager.getSubscription();
	if (sub && sub.endpoint !== registered) await register(sub);
}

/** Unsubscribes this browser and removes it from the person's devices. */
export async function disablePush(): Promise<void> {
	const st = need();
	const reg = await navigator.serviceWorker?.getRegistration(st.o.serviceWorkerScope ?? "/");
	await (await reg?.pushManager.getSubscription())?.unsubscribe();
	const res = await call("DELETE", devicePath());
	if (res.status !== 404) await ok(res);
	await store.set("push", undefined);
}

// ---------------------------------------------------------------------------

async function forget(): Promise<void> {
	stopTracking();
	clearTimeout(flushTimer);
	clearTimeout(retryTimer);
	flushTimer = undefined;
	last = null;
	await store.clearQueue();
	await store.set("session", undefined);
	await store.set("push", undefined);
}

/**
 * Ends the session: stops tracking, removes this browser from the person's devices (best
 * effort), and forgets the queue and the token.
 */
export async function logout(): Promise<void> {
	if (!s) return;
	if (await store.get("push")) await disablePush().catch(() => undefined);
	await forget();
	s = null;
}
