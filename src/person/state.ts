/**
 * What one person's Durable Object holds about them, as plain JSON: the state the pure core
 * (src/person/step.ts) reads and returns. Each top-level key is its own storage key, in the
 * format the object has always stored, so nothing is migrated.
 */
import type { VisitCounters } from "../audience/visits.js";
import type { PresenceState } from "../presence/presence.js";
import { readPresence } from "../presence/presence.js";
import type { FcmMessageInput } from "../push/fcm.js";
import type { PushSubscriptionJSON } from "../push/webpush.js";
import { type CartState, emptyCart } from "../rules/cart.js";
import type { DecisionOut } from "../schemas/ping.js";
import type { CrmAttributes } from "./audience.js";

/** What the shard (or the person's neighbourhood copy) says about a fence. */
export interface FenceMeta {
	id: string;
	name: string;
	tags: string[];
	metadata: Record<string, unknown>;
	dwellSeconds: number | null;
}

export interface Profile {
	firstName: string | null;
	locale: string | null;
	timezone: string | null;
	attributes: Record<string, unknown>;
	/** What the person asked to hear about (audiences); absent in profiles stored before. */
	interests?: string[];
	consent: { location: boolean; push: boolean };
	createdAt: number;
	updatedAt: number;
}

export interface Device {
	platform: "web" | "android" | "ios";
	webPush: PushSubscriptionJSON | null;
	fcmToken: string | null;
	createdAt: number;
	lastSeenAt: number;
}

/** One device's copy of one offer, as it goes out (and is kept for a retry). */
export type DeliveryMessage =
	| { transport: "web"; payload: string }
	| { transport: "fcm"; input: FcmMessageInput };

export interface PendingDelivery {
	offerId: string;
	deviceId: string;
	message: DeliveryMessage;
	topic: string;
	expiresAt: number;
	/** Retries made so far. */
	attempt: number;
	nextAt: number;
}

export interface Exposure {
	campaignId: string;
	variantId: string | null;
	offerId: string | null;
	holdout: boolean;
	at: number;
}

export interface PingAnswer {
	received: number;
	events: { type: "enter" | "exit" | "dwell"; geofenceId: string; at: string; dwellSeconds?: number }[];
	offers: DecisionOut[];
	rejected: { index: number; reason: string }[];
}

export interface PersonState {
	meta: { tenantId: string; userId: string } | null;
	profile: Profile | null;
	devices: Record<string, Device>;
	presence: PresenceState;
	/** Metadata of the fences the person is in, so alarms and exits need no shard call. */
	fences: Record<string, FenceMeta>;
	/** Last send or holdout per campaign+fence, for cooldowns. */
	cooldowns: Record<string, number>;
	/** When offers counted by the caps were sent, pruned to the last 7 days. */
	sent: number[];
	/** Online cart and purchase memory (src/rules/cart.ts). */
	cart: CartState;
	/** Answers to cart events already processed, by eventId: duplicates get the first answer. */
	cartAnswers: Record<string, { offers: DecisionOut[]; at: number }>;
	/** The last offer sent or held out, for crediting a purchase to it. */
	exposure: Exposure | null;
	/** Deliveries a push service asked us to retry (429/5xx), re-sent from the alarm. */
	deliveries: PendingDelivery[];
	/** Ping batches already applied, by batchId: a retried batch gets the first answer. */
	batches: Record<string, { answer: PingAnswer; at: number }>;
	/** Why recent pings changed nothing, for the back office (apps are not told). */
	screening: { at: number; reasons: Record<string, number> }[];
	/**
	 * Tombstone: when the person was erased. Everything else is gone; pings and cart events
	 * naming them store nothing until their own app registers them again (PUT profile).
	 */
	erasedAt: number | null;
	/** Attributes the back office set: they win over the app's. */
	crm: CrmAttributes;
	/** Enters per fence and UTC day, for audiences' `visits` conditions (src/audience/visits.ts). */
	visits: VisitCounters;
}

export type StateKey = keyof PersonState;

/** Every storage key of the state, in a fixed order. */
export const STATE_KEYS: readonly StateKey[] = [
	"meta",
	"profile",
	"devices",
	"presence",
	"fences",
	"cooldowns",
	"sent",
	"cart",
	"cartAnswers",
	"exposure",
	"deliveries",
	"batches",
	"screening",
	"erasedAt",
	"crm",
	"visits",
];

/** What deciding and sending offers can change. */
export const OFFER_KEYS: readonly StateKey[] = [
	"meta",
	"devices",
	"cooldowns",
	"sent",
	"exposure",
	"deliveries",
];
export const PING_KEYS: readonly StateKey[] = [
	...OFFER_KEYS,
	"presence",
	"fences",
	"batches",
	"screening",
	"visits",
];
export const CART_KEYS: readonly StateKey[] = [...OFFER_KEYS, "cart", "cartAnswers"];

/** Someone never seen. */
export function emptyState(): PersonState {
	return {
		meta: null,
		profile: null,
		devices: {},
		presence: readPresence(undefined),
		fences: {},
		cooldowns: {},
		sent: [],
		cart: emptyCart(),
		cartAnswers: {},
		exposure: null,
		deliveries: [],
		batches: {},
		screening: [],
		erasedAt: null,
		crm: {},
		visits: [],
	};
}

/**
 * The state from what storage holds by key (absent keys take their empty value). Devices'
 * last-seen times travel with presence (see {@link storedValue}) and win when present.
 */
export function readState(stored: (key: StateKey) => unknown): PersonState {
	const e = emptyState();
	const pick = <K extends StateKey>(k: K): PersonState[K] =>
		(stored(k) as PersonState[K] | undefined) ?? e[k];
	const rawPresence = stored("presence");
	const s: PersonState = {
		meta: pick("meta"),
		profile: pick("profile"),
		devices: pick("devices"),
		presence: readPresence(rawPresence),
		fences: pick("fences"),
		cooldowns: pick("cooldowns"),
		sent: pick("sent"),
		cart: pick("cart"),
		cartAnswers: pick("cartAnswers"),
		exposure: pick("exposure"),
		deliveries: pick("deliveries"),
		batches: pick("batches"),
		screening: pick("screening"),
		erasedAt: pick("erasedAt"),
		crm: pick("crm"),
		visits: pick("visits"),
	};
	const seen = (rawPresence as { seen?: Record<string, number> } | undefined)?.seen ?? {};
	for (const [id, d] of Object.entries(s.devices)) {
		const t = seen[id];
		if (typeof t === "number") d.lastSeenAt = t;
	}
	return s;
}

/**
 * What a key is stored as: the state's value, except that presence also carries the devices'
 * last-seen times. A ping changes presence (its last fix) and the sending device's last-seen
 * time: kept together, that is one row written, not two; the devices key is written only when
 * something else about a device changes. Every change of a last-seen time (a ping, a device
 * registered again) saves presence, so its times are the current ones and win when loading.
 */
export function storedValue(s: PersonState, k: StateKey): unknown {
	if (k !== "presence") return s[k];
	const seen: Record<string, number> = {};
	for (const [id, d] of Object.entries(s.devices)) seen[id] = d.lastSeenAt;
	return { ...s.presence, seen };
}

/** What decides whether a key changed since it was stored: its stored JSON, devices without last-seen times. */
export function fingerprint(s: PersonState, k: StateKey): string {
	if (k !== "devices") return JSON.stringify(storedValue(s, k));
	return JSON.stringify(Object.entries(s.devices).map(([id, d]) => [id, { ...d, lastSeenAt: 0 }]));
}

/** Keeps the newest `max` entries younger than `ttlMs`. */
export function bounded<T extends { at: number }>(
	entries: Record<string, T>,
	now: number,
	max: number,
	ttlMs: number,
): Record<string, T> {
	const kept = Object.entries(entries)
		.filter(([, a]) => now - a.at < ttlMs)
		.sort(([, a], [, b]) => b.at - a.at)
		.slice(0, max);
	return Object.fromEntries(kept);
}
