import { DurableObject } from "cloudflare:workers";
import type { VisitCounters } from "../src/audience/visits.js";
import {
	conversionEvent,
	decisionEvent,
	enteredAt,
	offerReportEvent,
	presenceEvents,
} from "../src/events/build.js";
import { parseStoredFence } from "../src/geo/fence-input.js";
import { FenceSnapshotError, loadFenceIndex, serializeFenceIndex } from "../src/geo/index.js";
import {
	fitNeighbourhood,
	NEIGHBOURHOOD_ASK_MAX_FENCES,
	NEIGHBOURHOOD_RADIUS_METERS,
	type Neighbourhood,
	type NeighbourhoodStamp,
	neighbourhoodOver,
	nextAskRadius,
	snapCentre,
} from "../src/geo/neighbourhood.js";
import { type Bucket, type BucketRule, take } from "../src/limits/bucket.js";
import { clickUrl, linksOf, type OfferLinks, signClick } from "../src/offers/click.js";
import {
	campaignDwellSeconds,
	type Decision,
	decide,
	type PersonView,
	type TriggerEvent,
} from "../src/offers/decide.js";
import { type RenderedOffer, renderOffer } from "../src/offers/render.js";
import {
	applyPings,
	dueDwells,
	dwellThresholds,
	emptyPresence,
	nextDwellAt,
	type Ping,
	type PingLookup,
	type PresenceEvent,
	type PresenceState,
	readPresence,
	STALE_AFTER_MS,
	screenPings,
} from "../src/presence/presence.js";
import { pruneHistory } from "../src/pressure/policy.js";
import type { FcmMessageInput } from "../src/push/fcm.js";
import { buildOfferPayload, pushTopic } from "../src/push/payload.js";
import { nextRetryAt } from "../src/push/retry.js";
import type { PushSubscriptionJSON } from "../src/push/webpush.js";
import {
	applyCartEvent,
	type CartEvent,
	type CartItem,
	type CartState,
	cartContents,
	cartKeys,
	emptyCart,
	purchasedWithin,
} from "../src/rules/cart.js";
import type { Campaign } from "../src/schemas/campaign.js";
import type { DecisionOut } from "../src/schemas/ping.js";
import type { PutDevice, PutUser } from "../src/schemas/user.js";
import {
	type AttributePatchAnswer,
	attributesInForce,
	type CrmAttributes,
	countEnters,
	factsOf,
	type PersonAudienceData,
	patchCrm,
	personAudienceData,
} from "./audience.js";
import { cartRules } from "./cart-rules.js";
import { publicBaseUrl } from "./config.js";
import { clickKey } from "./crypto.js";
import {
	claimCartEventId,
	loadCampaigns,
	type OfferRecord,
	type OfferStatus,
	recordConversion,
	recordDecisions,
	updateOfferStatus,
} from "./db.js";
import { PersonEvents } from "./events.js";
import { fcmClient, sendFcm } from "./fcm.js";
import type { FenceMeta, ShardAnswer } from "./geoshard.js";
import { iso } from "./http.js";
import { type PushOutcome, sendWebPush } from "./push.js";
import type { StoredFence } from "./shards.js";
import { shardKeyOfPoint, shardStub, tenantSplits } from "./shards.js";
import { loadTenant, type TenantCtx } from "./tenants.js";

interface Profile {
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

interface Device {
	platform: "web" | "android" | "ios";
	webPush: PushSubscriptionJSON | null;
	fcmToken: string | null;
	createdAt: number;
	lastSeenAt: number;
}

interface State {
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
	/** Attributes the back office set (worker/audience.ts): they win over the app's. */
	crm: CrmAttributes;
	/** Enters per fence and UTC day, for audiences' `visits` conditions (src/audience/visits.ts). */
	visits: VisitCounters;
}

interface PendingDelivery {
	offerId: string;
	deviceId: string;
	message: { transport: "web"; payload: string } | { transport: "fcm"; input: FcmMessageInput };
	topic: string;
	expiresAt: number;
	/** Retries made so far. */
	attempt: number;
	nextAt: number;
}

interface Exposure {
	campaignId: string;
	variantId: string | null;
	offerId: string | null;
	holdout: boolean;
	at: number;
}

type StateKey = keyof State;
const KEYS: readonly StateKey[] = [
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
const OFFER_KEYS: readonly StateKey[] = ["meta", "devices", "cooldowns", "sent", "exposure", "deliveries"];
const PING_KEYS: readonly StateKey[] = [
	...OFFER_KEYS,
	"presence",
	"fences",
	"batches",
	"screening",
	"visits",
];
const CART_KEYS: readonly StateKey[] = [...OFFER_KEYS, "cart", "cartAnswers"];
/**
 * The storage key of the person's neighbourhood (src/geo/neighbourhood.ts), apart from the
 * state: derived from the tenant's fences, written only when a shard call refreshed it, never
 * exported, erased with the person and forgotten with location consent.
 */
const HOOD_KEY = "hood";

/** A stored neighbourhood stays under this (a stored value may be 2 MB with its key). */
const HOOD_MAX_STORED_BYTES = 1024 * 1024;

/** The neighbourhood as stored: the copy (its index as a binary snapshot) and how far to ask next. */
interface StoredHood {
	v: 1;
	/** Radius to ask the shard for at the next shard call. */
	ask: number;
	copy: {
		stamp: NeighbourhoodStamp;
		/** serializeFenceIndex of the fences kept. */
		index: Uint8Array;
		/** JSON of the kept fences' metadata by id, parsed when a fence is entered. */
		meta: string;
	} | null;
}

/** The neighbourhood in memory. */
interface Hood {
	n: Neighbourhood;
	/** Metadata of the fences in the copy (parsed on first use). */
	meta(id: string): FenceMeta | undefined;
}

/** Remembered cart answers: enough to absorb any webhook retry storm. */
const CART_ANSWERS_MAX = 500;
const CART_ANSWERS_TTL_MS = 7 * 86_400_000;
/** Remembered ping batches: an app retries a batch within minutes, not days. */
const BATCHES_MAX = 100;
const BATCHES_TTL_MS = 86_400_000;
/** Screening summaries kept for the back office. */
const SCREENING_MAX = 20;

/**
 * Requests one person's apps may make (pings, profile, devices): 60 at once, then 2 a
 * second. Exact, because this object serializes the person's requests; kept in memory, so
 * an evicted object starts with a full bucket.
 */
export const PERSON_RATE: BucketRule = { capacity: 60, perSecond: 2 };

/** The answer when the person's request budget is spent. */
export interface RateLimited {
	rateLimited: true;
	retryAfterSeconds: number;
}

export interface UserView {
	userId: string;
	firstName: string | null;
	locale: string | null;
	timezone: string | null;
	/** The attributes in force: the app's, with the back office's keys winning. */
	attributes: Record<string, unknown>;
	interests: string[];
	consent: { location: boolean; push: boolean };
	devices: {
		deviceId: string;
		platform: string;
		pushEndpointHost: string | null;
		hasFcmToken: boolean;
		createdAt: string;
		lastSeenAt: string;
	}[];
	insideGeofences: string[];
	createdAt: string;
	updatedAt: string;
}

/** What the person's object holds about them, for GET /v1/users/{userId}/export. */
export interface PersonExport {
	/** Null for a person known only from CRM attributes (their app never registered them). */
	profile: UserView | null;
	presence: {
		insideGeofences: { geofenceId: string; since: string }[];
		/** The only location kept: no trail beyond the last accepted point. */
		lastAcceptedPing: { lat: number; lng: number; at: string } | null;
	};
	cart: { items: ReturnType<typeof cartContents> };
	purchases: { kind: "sku" | "category"; key: string; at: string }[];
	offersSentAt: string[];
	cooldowns: { key: string; at: string }[];
	pendingDeliveries: { offerId: string; deviceId: string }[];
	screening: { at: string; reasons: Record<string, number> }[];
	/** Attributes the back office set (also merged into `profile.attributes`). */
	crmAttributes: Record<string, unknown>;
	/** Enters per fence and day (no times, no places beyond the fence). */
	visits: { geofenceId: string; tags: string[]; days: { date: string; enters: number }[] }[];
}

/** A validated cart event; items may carry a display name for templates. */
export type CartEventIn = Omit<CartEvent, "items"> & { items: (CartItem & { name?: string | undefined })[] };

export interface CartAnswer {
	offers: DecisionOut[];
	/** True when this eventId was processed before: nothing fired this time. */
	duplicate: boolean;
}

export interface PingAnswer {
	received: number;
	events: { type: "enter" | "exit" | "dwell"; geofenceId: string; at: string; dwellSeconds?: number }[];
	offers: DecisionOut[];
	rejected: { index: number; reason: string }[];
}

/** A cart event for a person who was erased, or whose eventId another person owns. */
export type CartRefusal = { erased: true } | { eventIdOwnedByAnother: true };

/**
 * ShopperDO: everything about one person of one tenant (named `<tenantId>:<userId>`).
 *
 * Responsibilities:
 * - profile, consent and devices with their push subscriptions;
 * - presence: screening pings, enter/exit with hysteresis, dwell by alarm;
 * - deciding offers for each event (cooldowns, pressure), sending them by Web Push and
 *   FCM, logging decisions to D1.
 *
 * One object per person serializes that person's pings, alarms and profile changes, so
 * "once per visit" and cooldowns hold without locks. Work that awaits other objects or
 * the network runs under {@link serialize}, because Durable Object input gates do not
 * hold across outgoing calls.
 */
export class ShopperDO extends DurableObject<Env> {
	private state: State | null = null;
	private queue: Promise<unknown> = Promise.resolve();
	private bucket: Bucket | null = null;
	/**
	 * What storage holds, by key, as JSON, since the last load or save: a save writes only the
	 * keys whose value differs (SQLite-backed storage bills each key written as a row).
	 */
	private stored = new Map<StateKey, string>();
	/** When the alarm is set to ring, as far as this instance knows (undefined: not read yet). */
	private alarmAt: number | null | undefined = undefined;
	/** The fences around the person's last shard answer (src/geo/neighbourhood.ts), read with the state. */
	private hood: Hood | null = null;
	/** How far to ask the shard around the person at the next shard call. */
	private hoodAsk = NEIGHBOURHOOD_RADIUS_METERS;
	/** Whether storage holds a neighbourhood record. */
	private hoodStored = false;
	/** A neighbourhood to write with the next save, or "delete" to remove the stored one. */
	private hoodPending: StoredHood | "delete" | null = null;
	/** How pings were located since the object started: locally or by a shard call (tests, diagnostics). */
	readonly lookups = { local: 0, shard: 0 };
	/** Events of this person (worker/events.ts): stored with the state they come from, then drained to D1 and webhooks. */
	private readonly events = new PersonEvents(this.ctx.storage, this.env);

	/**
	 * Runs one request at a time. A request that fails drops the in-memory state, so the
	 * next one reloads what storage holds: memory never answers from changes that were
	 * not stored.
	 */
	private serialize<T>(fn: () => Promise<T>): Promise<T> {
		const guarded = async () => {
			try {
				return await fn();
			} catch (e) {
				this.forget();
				throw e;
			}
		};
		const run = this.queue.then(guarded, guarded);
		this.queue = run.catch(() => undefined);
		return run;
	}

	/** Takes one request from the person's budget; a {@link RateLimited} answer when it is spent. */
	private admit(now: number): RateLimited | null {
		const r = take(this.bucket, PERSON_RATE, now);
		this.bucket = r.bucket;
		return r.ok ? null : { rateLimited: true, retryAfterSeconds: r.retryAfterSeconds };
	}

	/** Drops everything kept in memory from storage: the next request reads it again. */
	private forget(): void {
		this.state = null;
		this.events.reset();
		this.stored.clear();
		this.alarmAt = undefined;
		this.hood = null;
		this.hoodAsk = NEIGHBOURHOOD_RADIUS_METERS;
		this.hoodStored = false;
		this.hoodPending = null;
	}

	private async load(): Promise<State> {
		if (this.state) return this.state;
		const m = await this.ctx.storage.get<unknown>([...KEYS, HOOD_KEY]);
		this.readHood(m.get(HOOD_KEY));
		const seen = (m.get("presence") as { seen?: Record<string, number> } | undefined)?.seen ?? {};
		// Our own storage, written only by save() below.
		this.state = {
			meta: (m.get("meta") as State["meta"]) ?? null,
			profile: (m.get("profile") as Profile) ?? null,
			devices: (m.get("devices") as State["devices"]) ?? {},
			presence: readPresence(m.get("presence")),
			fences: (m.get("fences") as State["fences"]) ?? {},
			cooldowns: (m.get("cooldowns") as State["cooldowns"]) ?? {},
			sent: (m.get("sent") as number[]) ?? [],
			cart: (m.get("cart") as CartState) ?? emptyCart(),
			cartAnswers: (m.get("cartAnswers") as State["cartAnswers"]) ?? {},
			exposure: (m.get("exposure") as Exposure) ?? null,
			deliveries: (m.get("deliveries") as PendingDelivery[]) ?? [],
			batches: (m.get("batches") as State["batches"]) ?? {},
			screening: (m.get("screening") as State["screening"]) ?? [],
			erasedAt: (m.get("erasedAt") as number) ?? null,
			crm: (m.get("crm") as CrmAttributes) ?? {},
			visits: (m.get("visits") as VisitCounters) ?? [],
		};
		// Devices' last-seen times travel with presence (see storedValue).
		for (const [id, d] of Object.entries(this.state.devices)) {
			const t = seen[id];
			if (typeof t === "number") d.lastSeenAt = t;
		}
		this.stored.clear();
		for (const k of KEYS) this.stored.set(k, fingerprint(this.state, k));
		return this.state;
	}

	/** The neighbourhood from its stored record (none when absent or of another format). */
	private readHood(value: unknown): void {
		this.hood = null;
		this.hoodAsk = NEIGHBOURHOOD_RADIUS_METERS;
		this.hoodStored = value !== undefined;
		this.hoodPending = null;
		const r = value as StoredHood | undefined;
		if (r?.v !== 1) return;
		this.hoodAsk = r.ask;
		if (!r.copy) return;
		try {
			this.hood = hoodOf(neighbourhoodOver(r.copy.stamp, loadFenceIndex(r.copy.index)), r.copy.meta);
		} catch (e) {
			// A snapshot of another format: the next shard call takes a new copy.
			if (!(e instanceof FenceSnapshotError)) throw e;
		}
	}

	/**
	 * Writes the given parts of the state that changed since they were read or written (each its
	 * own storage key, so a ping does not rewrite the cart) and a refreshed neighbourhood, in one
	 * call; then sets the alarm for the next dwell or delivery retry, when that time changed.
	 */
	private async save(s: State, keys: readonly StateKey[]): Promise<void> {
		const changed: Record<string, unknown> = {};
		const json = new Map<StateKey, string>();
		for (const k of keys) {
			const j = fingerprint(s, k);
			if (this.stored.get(k) === j) continue;
			changed[k] = storedValue(s, k);
			json.set(k, j);
		}
		const hood = this.hoodPending;
		if (hood && hood !== "delete") changed[HOOD_KEY] = hood;
		Object.assign(changed, this.events.take());
		if (Object.keys(changed).length > 0) await this.ctx.storage.put(changed);
		await this.events.flush();
		if (hood === "delete") await this.ctx.storage.delete(HOOD_KEY);
		for (const [k, j] of json) this.stored.set(k, j);
		if (hood) this.hoodStored = hood !== "delete";
		this.hoodPending = null;
		// One alarm serves both dwell and delivery retries: the earliest wins.
		const times = [nextDwellAt(s.presence), ...s.deliveries.map((d) => d.nextAt), this.events.dueAt()].filter(
			(t) => t !== null,
		);
		const at = times.length === 0 ? null : Math.min(...times);
		if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
		if (at === this.alarmAt) return;
		if (at === null) await this.ctx.storage.deleteAlarm();
		else await this.ctx.storage.setAlarm(at);
		this.alarmAt = at;
	}

	/**
	 * PUT /v1/users/{userId}, from the person's own app: (re-)registers them, ending an
	 * erasure's tombstone. Withdrawing location consent forgets where the person is.
	 */
	async putProfile(
		tenantId: string,
		userId: string,
		input: PutUser,
		now: number,
	): Promise<{ updatedAt: string } | RateLimited> {
		return this.serialize(async () => {
			const limited = this.admit(now);
			if (limited) return limited;
			const s = await this.load();
			s.meta = { tenantId, userId };
			s.erasedAt = null;
			const prev = s.profile;
			s.profile = {
				firstName: input.firstName ?? null,
				locale: input.locale ?? null,
				timezone: input.timezone ?? null,
				attributes: input.attributes ?? {},
				interests: [...new Set(input.interests ?? [])],
				consent: input.consent,
				createdAt: prev?.createdAt ?? now,
				updatedAt: now,
			};
			if (!input.consent.location) {
				s.presence = emptyPresence();
				s.fences = {};
				// Visit counts per store are location history too.
				s.visits = [];
				// The copy of the fences around the person says roughly where they were.
				this.hood = null;
				this.hoodAsk = NEIGHBOURHOOD_RADIUS_METERS;
				if (this.hoodStored) this.hoodPending = "delete";
			}
			await this.save(s, ["meta", "profile", "presence", "fences", "erasedAt", "visits"]);
			return { updatedAt: iso(now) };
		});
	}

	/**
	 * PUT /v1/users/{userId}/devices/{deviceId}; null when the person is unknown. Past
	 * `maxDevices`, the least recently seen other devices are removed.
	 */
	async putDevice(
		deviceId: string,
		input: PutDevice,
		maxDevices: number,
		now: number,
	): Promise<{ lastSeenAt: string } | RateLimited | null> {
		return this.serialize(async () => {
			const limited = this.admit(now);
			if (limited) return limited;
			const s = await this.load();
			if (!s.profile) return null;
			const prev = s.devices[deviceId];
			const devices = { ...s.devices };
			delete devices[deviceId];
			const kept = Object.entries(devices)
				.sort(([, a], [, b]) => b.lastSeenAt - a.lastSeenAt)
				.slice(0, Math.max(0, maxDevices - 1));
			s.devices = Object.fromEntries(kept);
			s.devices[deviceId] = {
				platform: input.platform,
				webPush: input.webPush ?? null,
				fcmToken: input.fcmToken ?? null,
				createdAt: prev?.createdAt ?? now,
				lastSeenAt: now,
			};
			// Presence holds the devices' last-seen times.
			await this.save(s, ["devices", "presence"]);
			return { lastSeenAt: iso(now) };
		});
	}

	/** DELETE /v1/users/{userId}/devices/{deviceId}; the same answer whether it existed or not. */
	async deleteDevice(deviceId: string, now: number): Promise<RateLimited | null> {
		return this.serialize(async () => {
			const limited = this.admit(now);
			if (limited) return limited;
			const s = await this.load();
			if (s.devices[deviceId]) {
				const devices = { ...s.devices };
				delete devices[deviceId];
				s.devices = devices;
				// Retries queued for the device have nowhere to go.
				s.deliveries = s.deliveries.filter((d) => d.deviceId !== deviceId);
				await this.save(s, ["devices", "deliveries"]);
			}
			return null;
		});
	}

	/** GET /v1/users/{userId}; null when unknown. */
	async getProfile(): Promise<UserView | null> {
		const s = await this.load();
		return s.profile ? view(s) : null;
	}

	/**
	 * PATCH /v1/users/{userId}/attributes (back office): merges CRM attributes, `null` removes.
	 * Works before the person's app registers them; an erased person is not written to.
	 */
	async patchAttributes(
		tenantId: string,
		userId: string,
		patch: Record<string, string | number | boolean | null>,
		now: number,
	): Promise<AttributePatchAnswer> {
		return this.serialize(async () => {
			const s = await this.load();
			if (s.erasedAt !== null) return { attributes: null, refused: "erased" };
			const r = patchCrm(s.crm, patch);
			if ("tooLarge" in r) return { attributes: null, refused: "too_large" };
			s.meta = { tenantId, userId };
			s.crm = r.crm;
			if (s.profile) s.profile.updatedAt = now;
			await this.save(s, ["meta", "crm", "profile"]);
			return { attributes: attributesInForce(s.profile?.attributes, s.crm), refused: null };
		});
	}

	/** What audiences read about the person (audience test route); null when nothing is known. */
	async audienceData(): Promise<PersonAudienceData | null> {
		const s = await this.load();
		if (!s.profile && Object.keys(s.crm).length === 0) return null;
		return personAudienceData(s.profile, s.crm, s.visits, s.cart);
	}

	/** GET /v1/users/{userId}/export: everything this object holds about the person, never push keys. */
	async exportData(): Promise<PersonExport | null> {
		const s = await this.load();
		// The back office may have set CRM attributes before the person's app registered them.
		if (!s.profile && Object.keys(s.crm).length === 0) return null;
		return {
			profile: s.profile ? view(s) : null,
			presence: {
				insideGeofences: Object.entries(s.presence.inside).map(([id, v]) => ({
					geofenceId: id,
					since: iso(v.enteredAt),
				})),
				lastAcceptedPing: s.presence.last
					? { lat: s.presence.last.lat, lng: s.presence.last.lng, at: iso(s.presence.last.t) }
					: null,
			},
			cart: { items: cartContents(s.cart) },
			purchases: s.cart.purchases.map((p) => ({ ...p, at: iso(p.at) })),
			offersSentAt: s.sent.map(iso),
			cooldowns: Object.entries(s.cooldowns).map(([key, at]) => ({ key, at: iso(at) })),
			pendingDeliveries: s.deliveries.map((d) => ({ offerId: d.offerId, deviceId: d.deviceId })),
			screening: s.screening.map((x) => ({ at: iso(x.at), reasons: x.reasons })),
			crmAttributes: s.crm,
			visits: s.visits.map((v) => ({
				geofenceId: v.id,
				tags: v.tags,
				days: v.days.map(([d, n]) => ({ date: iso(d * 86_400_000).slice(0, 10), enters: n })),
			})),
		};
	}

	/**
	 * DELETE /v1/users/{userId}: this object keeps nothing afterwards but a tombstone (the
	 * time of erasure), so later pings and cart events naming the person store nothing.
	 */
	async erase(now: number): Promise<boolean> {
		return this.serialize(async () => {
			const existed = (await this.load()).profile !== null;
			await this.events.idle();
			await this.ctx.storage.deleteAlarm();
			await this.ctx.storage.deleteAll();
			this.forget();
			await this.ctx.storage.put("erasedAt", now);
			return existed;
		});
	}

	/**
	 * POST /v1/pings for this person. A batch id seen before answers as the first time and
	 * applies nothing. An unknown or erased person, or one without location consent, has
	 * nothing stored.
	 */
	async pings(
		tenant: TenantCtx,
		userId: string,
		deviceId: string | null,
		input: Omit<Ping, "index">[],
		now: number,
		batchId: string | null = null,
	): Promise<PingAnswer | RateLimited> {
		return this.serialize(async () => {
			const limited = this.admit(now);
			if (limited) return limited;
			const s = await this.load();
			const pings: Ping[] = input.map((p, index) => ({ ...p, index }));
			const nothing = (reason: string): PingAnswer => ({
				received: pings.length,
				events: [],
				offers: [],
				rejected: pings.map((p) => ({ index: p.index, reason })),
			});
			if (!s.profile) return nothing("unknown_user");
			if (!s.profile.consent.location) return nothing("no_location_consent");
			const seen = batchId ? s.batches[batchId] : undefined;
			if (seen) return seen.answer;
			s.meta = { tenantId: tenant.id, userId };
			const device = deviceId ? s.devices[deviceId] : undefined;
			if (device) device.lastSeenAt = now;

			// applyPings returns a new `inside`: this one stays as it was, for the exits' visit times.
			const insideBefore = s.presence.inside;
			const screened = screenPings(s.presence.last, pings, {
				now,
				maxAccuracyMeters: tenant.settings.maxAccuracyMeters,
			});
			let events: PresenceEvent[] = [];
			// The campaigns are read once per request, and only when an event fires: the dwell
			// thresholds of campaigns are fixed at entry, so a batch with an entry is applied again
			// with them (applying is pure and cheap; a D1 read is not).
			let campaigns: Campaign[] | null = null;
			if (screened.usable.length > 0) {
				const lookups = await this.lookup(tenant, screened.usable, Object.keys(s.presence.inside), s);
				const batch = screened.usable.map((ping, i) => ({ ping, lookup: lookups[i] as PingLookup }));
				const thresholds = (list: readonly Campaign[]) => (id: string) => {
					const fence = s.fences[id];
					return fence ? dwellThresholds(fence.dwellSeconds, campaignDwellSeconds(list, fence)) : [];
				};
				let applied = applyPings(s.presence, batch, thresholds([]), now);
				if (applied.events.some((e) => e.type === "enter")) {
					campaigns = await loadCampaigns(this.env, tenant.id, "geofence");
					applied = applyPings(s.presence, batch, thresholds(campaigns), now);
				}
				s.presence = applied.state;
				events = applied.events;
			}
			const due = dueDwells(s.presence, now);
			s.presence = due.state;
			events.push(...due.events);
			if (events.length > 0) {
				const named = (id: string) => s.fences[id]?.name;
				this.events.add(tenant.id, userId, presenceEvents(events, enteredAt(insideBefore), named), now);
			}
			const offers = await this.fire(tenant, s, events, now, campaigns);
			const answer: PingAnswer = {
				received: pings.length,
				events: events.map((e) => ({
					type: e.type,
					geofenceId: e.fenceId,
					at: iso(e.at),
					...(e.dwellSeconds !== undefined ? { dwellSeconds: e.dwellSeconds } : {}),
				})),
				offers,
				rejected: screened.rejected,
			};
			if (screened.rejected.length > 0) {
				const reasons: Record<string, number> = {};
				for (const r of screened.rejected) reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
				s.screening = [{ at: now, reasons }, ...s.screening].slice(0, SCREENING_MAX);
			}
			if (batchId)
				s.batches = bounded(
					{ ...s.batches, [batchId]: { answer, at: now } },
					now,
					BATCHES_MAX,
					BATCHES_TTL_MS,
				);
			await this.save(s, PING_KEYS);
			return answer;
		});
	}

	/**
	 * POST /v1/cart-events for this person: applies the event to the cart in event-time
	 * order, credits a purchase to the last offer within the attribution window, and
	 * decides complementary-product offers for added items. The same eventId again
	 * returns the first answer and fires nothing, however the duplicates interleave.
	 */
	async cartEvent(
		tenant: TenantCtx,
		userId: string,
		event: CartEventIn,
		now: number,
	): Promise<CartAnswer | CartRefusal> {
		return this.serialize(async () => {
			const s = await this.load();
			// An erased person stays erased: the event is acknowledged and nothing is stored,
			// not even its eventId.
			if (s.erasedAt !== null) return { erased: true };
			if (!(await claimCartEventId(this.env, tenant.id, event.eventId, userId, now)))
				return { eventIdOwnedByAnother: true };
			const seen = s.cartAnswers[event.eventId];
			if (seen) return { offers: seen.offers, duplicate: true };
			s.meta = { tenantId: tenant.id, userId };
			s.cart = applyCartEvent(s.cart, event);
			if (event.type === "purchase") await this.attribute(tenant, s, event, now);
			let offers: DecisionOut[] = [];
			if (event.type === "item_added") {
				const trigger: TriggerEvent = {
					type: "cart",
					event: "item_added",
					items: event.items.map((i) => ({
						sku: i.sku,
						category: i.category ?? null,
						name: i.name ?? null,
						price: i.price ?? null,
					})),
					at: event.occurredAt,
					stale: now - event.occurredAt > STALE_AFTER_MS,
				};
				const keys = cartKeys(s.cart);
				const candidates = (await cartRules(this.env, tenant)).candidates(keys);
				if (candidates.length > 0) offers = await this.decideAndSend(tenant, s, [trigger], candidates, now);
			}
			s.cartAnswers = bounded(
				{ ...s.cartAnswers, [event.eventId]: { offers, at: now } },
				now,
				CART_ANSWERS_MAX,
				CART_ANSWERS_TTL_MS,
			);
			await this.save(s, CART_KEYS);
			return { offers, duplicate: false };
		});
	}

	/** An offer displayed or clicked (worker/routes/offers.ts): its event, in the person's order; none once erased. */
	async offerReported(
		tenantId: string,
		userId: string,
		report: Parameters<typeof offerReportEvent>[0],
		now: number,
	): Promise<void> {
		return this.serialize(async () => {
			const s = await this.load();
			if (s.erasedAt !== null) return;
			this.events.add(tenantId, userId, [offerReportEvent(report)], now);
			await this.save(s, []);
		});
	}

	/** Last exposure wins: a purchase within the window is credited to it, or to its holdout. */
	private async attribute(tenant: TenantCtx, s: State, event: CartEvent, now: number): Promise<void> {
		const x = s.exposure;
		if (!x || !s.meta) return;
		const windowMs = tenant.settings.attributionWindowSeconds * 1000;
		if (event.occurredAt < x.at || event.occurredAt - x.at > windowMs) return;
		const revenue = event.items.reduce((sum, i) => sum + (i.price ?? 0) * (i.quantity ?? 1), 0);
		await recordConversion(this.env, tenant.id, s.meta.userId, x, event.eventId, revenue, now);
		const conversion = conversionEvent({ ...x, cartEventId: event.eventId, revenue });
		this.events.add(tenant.id, s.meta.userId, [conversion], now);
		// One purchase, one credit: the next purchase needs a new offer to be attributed.
		s.exposure = null;
	}

	/** Dwell: fires at the moment it falls due, with no new ping needed. */
	override async alarm(): Promise<void> {
		// Events a failed (or interrupted) drain left behind go first, outside the person's queue.
		await this.events.drain();
		await this.serialize(async () => {
			// The alarm that rang is no longer set (unless this handler sets it again).
			this.alarmAt = null;
			const s = await this.load();
			if (!s.meta) return;
			const now = Date.now();
			await this.retryDeliveries(s, now);
			if (s.profile?.consent.location) {
				const tenant = await loadTenant(this.env, s.meta.tenantId);
				if (tenant) {
					const due = dueDwells(s.presence, now);
					s.presence = due.state;
					const dwells = presenceEvents(due.events, {}, (id) => s.fences[id]?.name);
					this.events.add(tenant.id, s.meta.userId, dwells, now);
					await this.fire(tenant, s, due.events, now);
				}
			}
			await this.save(s, PING_KEYS);
		});
	}

	/**
	 * Re-sends the deliveries that fell due. Each delivery is one device's copy of one
	 * offer, retried only after a retryable answer, so an accepted copy is never sent twice.
	 */
	private async retryDeliveries(s: State, now: number): Promise<void> {
		const due = s.deliveries.filter((d) => d.nextAt <= now);
		if (due.length === 0) return;
		s.deliveries = s.deliveries.filter((d) => d.nextAt > now);
		const fcm = fcmClient(this.env);
		const ended = new Map<string, OfferStatus>();
		for (const d of due) {
			const dev = s.devices[d.deviceId];
			const ttlSeconds = Math.ceil((d.expiresAt - now) / 1000);
			let outcome: PushOutcome;
			if (ttlSeconds <= 0) outcome = { kind: "retry", retryAtMs: null };
			else if (d.message.transport === "web") {
				outcome = dev?.webPush
					? await sendWebPush(this.env, dev.webPush, d.message.payload, { ttlSeconds, topic: d.topic, now })
					: { kind: "gone" };
			} else {
				outcome =
					dev?.fcmToken && fcm
						? await sendFcm(fcm, dev.fcmToken, { ...d.message.input, ttlSeconds })
						: { kind: "gone" };
			}
			if (outcome.kind === "gone" && dev) {
				if (d.message.transport === "web") dev.webPush = null;
				else dev.fcmToken = null;
			}
			if (outcome.kind === "retry") {
				const at =
					ttlSeconds <= 0
						? null
						: nextRetryAt(d.attempt + 1, now, outcome.retryAtMs, d.expiresAt, Math.random());
				if (at !== null) {
					s.deliveries.push({ ...d, attempt: d.attempt + 1, nextAt: at });
					continue;
				}
			}
			const status: OfferStatus =
				outcome.kind === "accepted"
					? "accepted"
					: outcome.kind === "retry"
						? "expired"
						: outcome.kind === "gone"
							? "gone"
							: "failed";
			const prev = ended.get(d.offerId);
			if (prev !== "accepted") ended.set(d.offerId, status);
		}
		for (const offerId of new Set(due.map((d) => d.offerId))) {
			const attempts = due.filter((d) => d.offerId === offerId).length;
			const status = ended.get(offerId);
			// An offer stays pending while any copy is still being retried, and accepted once any copy got through.
			const final = status === "accepted" || (status && !s.deliveries.some((d) => d.offerId === offerId));
			await updateOfferStatus(this.env, offerId, final && status ? status : null, attempts);
		}
	}

	/**
	 * Where each ping is. From the person's neighbourhood copy when it covers every ping of the
	 * batch (no shard call); else one shard call per leaf the batch touches (almost always
	 * one), which also refreshes the copy around the last ping. A batch that crosses shards is
	 * asked again with every fence entered anywhere in it, so exit hysteresis holds for a fence
	 * entered earlier in the batch on another shard.
	 */
	private async lookup(tenant: TenantCtx, pings: Ping[], current: string[], s: State): Promise<PingLookup[]> {
		const splits = await tenantSplits(this.env, tenant);
		const userId = s.meta?.userId ?? "";
		const keys = pings.map((p) => shardKeyOfPoint(p.lat, p.lng, userId, splits));
		const hood = this.hood;
		if (hood && pings.every((p, i) => hood.n.covers(p.lat, p.lng, keys[i] ?? "", tenant.geofenceVersion))) {
			this.lookups.local += 1;
			return pings.map((p) => {
				const inside = hood.n.match(p.lat, p.lng);
				for (const id of inside) {
					const meta = hood.meta(id);
					if (meta) s.fences[id] = meta;
				}
				return { inside, distanceTo: (id) => hood.n.distanceTo(id, p.lat, p.lng) };
			});
		}
		this.lookups.shard += 1;
		const byShard = new Map<string, number[]>();
		keys.forEach((key, i) => {
			const list = byShard.get(key);
			if (list) list.push(i);
			else byShard.set(key, [i]);
		});
		const last = pings[pings.length - 1];
		const lastKey = keys[keys.length - 1] ?? "";
		const centre = last ? snapCentre(last.lat, last.lng) : null;
		const out: PingLookup[] = new Array(pings.length);
		const ask = (candidates: string[], around: boolean) =>
			Promise.all(
				[...byShard].map(async ([key, idx]) => {
					const stub = shardStub(this.env, tenant.id, key);
					const wanted =
						around && centre && key === lastKey
							? {
									lat: centre.lat,
									lng: centre.lng,
									radius: this.hoodAsk,
									max: NEIGHBOURHOOD_ASK_MAX_FENCES,
								}
							: null;
					const answer: ShardAnswer = await stub.query(
						idx.map((i) => ({ lat: pings[i]?.lat ?? 0, lng: pings[i]?.lng ?? 0 })),
						candidates,
						wanted,
					);
					for (const [id, meta] of Object.entries(answer.fences)) s.fences[id] = meta;
					idx.forEach((pingIndex, k) => {
						const r = answer.results[k] ?? { inside: [], distances: {} };
						out[pingIndex] = {
							inside: r.inside,
							distanceTo: (id) => r.distances[id] ?? Number.POSITIVE_INFINITY,
						};
					});
					if (wanted)
						this.keepNeighbourhood(key, tenant.geofenceVersion, wanted, answer.neighbourhood ?? null);
				}),
			);
		await ask(current, true);
		if (byShard.size > 1) {
			const entered = new Set(out.flatMap((l) => l.inside));
			if ([...entered].some((id) => !current.includes(id)))
				await ask([...new Set([...current, ...entered])], false);
		}
		return out;
	}

	/**
	 * Keeps the fences around the person's last ping: all that the shard handed over, or the
	 * nearest of them with a smaller radius when they are too many (src/geo/neighbourhood.ts), in
	 * memory and, with the next save, in storage; and how far to ask next time.
	 */
	private keepNeighbourhood(
		shard: string,
		version: number,
		at: { lat: number; lng: number; radius: number },
		fences: StoredFence[] | null,
	): void {
		const stamp: NeighbourhoodStamp = { shard, version, lat: at.lat, lng: at.lng, radius: at.radius };
		const fit = fences
			? fitNeighbourhood(
					stamp,
					fences.map((f) => ({ fence: parseStoredFence(JSON.parse(f.fence)), bytes: f.fence.length })),
				)
			: null;
		const ask = nextAskRadius(at.radius, fit?.stamp.radius ?? null, fences === null);
		if (!fit) {
			const unchanged = this.hood === null && this.hoodAsk === ask && this.hoodStored;
			this.hood = null;
			this.hoodAsk = ask;
			if (!unchanged) this.hoodPending = { v: 1, ask, copy: null };
			return;
		}
		const meta: Record<string, FenceMeta> = {};
		for (const { fence } of fit.kept) {
			const { id, name, tags, metadata, dwellSeconds } = fence;
			meta[id] = { id, name, tags, metadata, dwellSeconds };
		}
		const metaJson = JSON.stringify(meta);
		const index = serializeFenceIndex(fit.index);
		// Far under a stored value's limit (2 MB) by the copy's own limits; checked all the same.
		if (index.byteLength + 2 * metaJson.length > HOOD_MAX_STORED_BYTES) {
			this.hood = null;
			this.hoodAsk = nextAskRadius(at.radius, null, true);
			this.hoodPending = { v: 1, ask: this.hoodAsk, copy: null };
			return;
		}
		this.hood = hoodOf(neighbourhoodOver(fit.stamp, fit.index), metaJson, meta);
		this.hoodAsk = ask;
		this.hoodPending = { v: 1, ask, copy: { stamp: fit.stamp, index, meta: metaJson } };
	}

	/** Geofence events: decides each against the geofence campaigns (read here unless given). */
	private async fire(
		tenant: TenantCtx,
		s: State,
		events: PresenceEvent[],
		now: number,
		campaigns: Campaign[] | null = null,
	): Promise<DecisionOut[]> {
		let out: DecisionOut[] = [];
		// Counted before deciding: a visit condition includes the current enter.
		if (events.some((e) => e.type === "enter")) s.visits = countEnters(s.visits, events, s.fences, now);
		if (events.length > 0 && s.meta) {
			const triggers: TriggerEvent[] = events.map((e) => ({
				type: "geofence",
				on: e.type,
				fence: s.fences[e.fenceId] ?? {
					id: e.fenceId,
					name: e.fenceId,
					tags: [],
					metadata: {},
					dwellSeconds: null,
				},
				...(e.dwellSeconds !== undefined ? { dwellSeconds: e.dwellSeconds } : {}),
				at: e.at,
				stale: e.stale,
			}));
			out = await this.decideAndSend(
				tenant,
				s,
				triggers,
				campaigns ?? (await loadCampaigns(this.env, tenant.id, "geofence")),
				now,
			);
		}
		// A fence left and entered again in one batch keeps its metadata for the new visit.
		for (const e of events)
			if (e.type === "exit" && !s.presence.inside[e.fenceId]) delete s.fences[e.fenceId];
		return out;
	}

	/** Decides triggers in order, sends the winners, logs every decision in one D1 batch. */
	private async decideAndSend(
		tenant: TenantCtx,
		s: State,
		triggers: TriggerEvent[],
		campaigns: Campaign[],
		now: number,
	): Promise<DecisionOut[]> {
		const out: DecisionOut[] = [];
		if (!s.meta) return out;
		const records: { trigger: TriggerEvent; decision: Decision; offer: OfferRecord | null }[] = [];
		const fcm = fcmClient(this.env);
		for (const trigger of triggers) {
			for (const d of decide(trigger, campaigns, this.person(s, fcm !== null, now), tenant.settings, now)) {
				let offer: OfferRecord | null = null;
				if (d.decision !== "suppressed") {
					s.cooldowns[d.cooldownKey] = now;
					s.exposure = {
						campaignId: d.campaign.id,
						variantId: d.variant?.id ?? null,
						offerId: null,
						holdout: d.decision === "holdout",
						at: now,
					};
				}
				if (d.decision === "sent") {
					// Transactional offers are exempt from the caps, so they do not use them up either.
					if (!d.campaign.ignoreCaps) s.sent = pruneHistory([...s.sent, now], now);
					offer = await this.send(s, d, trigger, now);
					if (s.exposure) s.exposure.offerId = offer.id;
				}
				records.push({ trigger, decision: d, offer });
				this.events.add(tenant.id, s.meta.userId, [decisionEvent(d, trigger, offer?.id ?? null)], now);
				// For the decision log only: an app is not told which audiences its person is in.
				if (d.decision === "suppressed" && d.failed) continue;
				out.push({
					...(offer ? { offerId: offer.id } : {}),
					campaignId: d.campaign.id,
					...(d.variant ? { variantId: d.variant.id } : {}),
					decision: d.decision,
					...(d.decision === "suppressed" ? { reason: d.reason } : {}),
				});
			}
		}
		await recordDecisions(this.env, tenant.id, s.meta.userId, records, now);
		return out;
	}

	/**
	 * Replaces the offer's links with signed click links through the service, which
	 * record the click and redirect; the real targets are kept for the redirect. Without a
	 * known public origin the links go out as they are.
	 */
	private async withClickLinks(
		offerId: string,
		offer: RenderedOffer,
	): Promise<{ offer: RenderedOffer; links: OfferLinks }> {
		const links = linksOf(offer);
		// Never the request's Host: a client chooses that header, and would choose where
		// signed links point. Without a configured origin, links go out untracked.
		const base = publicBaseUrl(this.env);
		if (!base) return { offer, links };
		const key = await clickKey(this.env);
		const link = async (action: string | null) =>
			clickUrl(base, offerId, action, await signClick(key, offerId, action));
		return {
			offer: {
				...offer,
				...(offer.url ? { url: await link(null) } : {}),
				...(offer.actions
					? {
							actions: await Promise.all(
								offer.actions.map(async (a) => ({ ...a, ...(a.url ? { url: await link(a.id) } : {}) })),
							),
						}
					: {}),
			},
			links,
		};
	}

	private person(s: State, fcmEnabled: boolean, now: number): PersonView {
		const keys = cartKeys(s.cart);
		return {
			userId: s.meta?.userId ?? "",
			timezone: s.profile?.timezone ?? null,
			consent: s.profile?.consent ?? { location: false, push: false },
			reachable: Object.values(s.devices).some(
				(d) => d.webPush !== null || (d.fcmToken !== null && fcmEnabled),
			),
			lastByCooldownKey: s.cooldowns,
			sentHistory: s.sent,
			cart: { skus: new Set(keys.skus), categories: new Set(keys.categories) },
			purchasedWithin: (item, days) => purchasedWithin(s.cart, item, days, now),
			audience: factsOf(personAudienceData(s.profile, s.crm, s.visits, s.cart), now),
		};
	}

	/** Renders the variant and pushes it to every device; a gone subscription or token is dropped. */
	private async send(s: State, d: Decision, trigger: TriggerEvent, now: number): Promise<OfferRecord> {
		const offerId = crypto.randomUUID();
		const { campaign, variant } = d;
		const expiresAt = now + campaign.ttlSeconds * 1000;
		const record: OfferRecord = {
			id: offerId,
			campaignId: campaign.id,
			variantId: variant?.id ?? null,
			geofenceId: trigger.type === "geofence" ? trigger.fence.id : null,
			triggerType: trigger.type,
			links: null,
			status: "failed",
			attempts: 0,
			expiresAt,
		};
		if (!variant) return record;
		const rendered = await this.withClickLinks(
			offerId,
			renderOffer(variant, templateVars(s, campaign, trigger), s.profile?.locale ?? null),
		);
		record.links = rendered.links;
		const payload = buildOfferPayload({
			offerId,
			campaignId: campaign.id,
			variantId: variant.id,
			...rendered.offer,
			expiresAt: iso(expiresAt),
		});
		const topic = pushTopic([campaign.id, trigger.type === "geofence" ? trigger.fence.id : "cart"]);
		const fcm = fcmClient(this.env);
		const sends: Promise<PushOutcome>[] = [];
		const retryLater = (deviceId: string, message: PendingDelivery["message"], o: PushOutcome) => {
			if (o.kind !== "retry") return;
			const at = nextRetryAt(1, now, o.retryAtMs, expiresAt, Math.random());
			if (at !== null)
				s.deliveries.push({ offerId, deviceId, message, topic, expiresAt, attempt: 0, nextAt: at });
		};
		for (const [deviceId, dev] of Object.entries(s.devices)) {
			const sub = dev.webPush;
			if (sub) {
				sends.push(
					sendWebPush(this.env, sub, payload, { ttlSeconds: campaign.ttlSeconds, topic, now }).then((o) => {
						if (o.kind === "gone") dev.webPush = null;
						retryLater(deviceId, { transport: "web", payload }, o);
						return o;
					}),
				);
			}
			const token = dev.fcmToken;
			if (token && fcm) {
				const input: FcmMessageInput = {
					...rendered.offer,
					offerId,
					campaignId: campaign.id,
					variantId: variant.id,
					expiresAtMs: expiresAt,
					ttlSeconds: campaign.ttlSeconds,
					urgency: "high",
					topic,
				};
				sends.push(
					sendFcm(fcm, token, input).then((o) => {
						if (o.kind === "gone") dev.fcmToken = null;
						retryLater(deviceId, { transport: "fcm", input }, o);
						return o;
					}),
				);
			}
		}
		const outcomes = await Promise.all(sends);
		record.attempts = outcomes.length;
		record.status = outcomes.some((o) => o.kind === "accepted")
			? "accepted"
			: s.deliveries.some((d) => d.offerId === offerId)
				? "pending"
				: outcomes.some((o) => o.kind === "retry")
					? "expired"
					: outcomes.every((o) => o.kind === "gone")
						? "gone"
						: "failed";
		return record;
	}
}

/** What templates can read: the person, and the geofence or the cart item and offered product. */
function templateVars(s: State, campaign: Campaign, trigger: TriggerEvent): Record<string, unknown> {
	const base = {
		firstName: s.profile?.firstName ?? "",
		locale: s.profile?.locale ?? "",
		attributes: attributesInForce(s.profile?.attributes, s.crm),
		cart: { items: cartContents(s.cart) },
	};
	if (trigger.type === "geofence") {
		const { id, name, tags, metadata } = trigger.fence;
		return { ...base, geofence: { id, name, tags, metadata } };
	}
	const t = campaign.trigger;
	const when = t.type === "cart" ? t.whenCartHas : { skus: [], categories: [] };
	const item =
		trigger.items.find(
			(i) => when.skus?.includes(i.sku) || (i.category !== null && when.categories?.includes(i.category)),
		) ?? trigger.items[0];
	const offerSku = (t.type === "cart" ? t.offerSku : undefined) ?? campaign.offerSku ?? "";
	return { ...base, item: item ?? {}, offer: { sku: offerSku } };
}

/**
 * What a key is stored as: the state's value, except that presence also carries the devices'
 * last-seen times. A ping changes presence (its last fix) and the sending device's last-seen
 * time: kept together, that is one row written, not two; the devices key is written only when
 * something else about a device changes. Every change of a last-seen time (a ping, a device
 * registered again) saves presence, so its times are the current ones and win when loading.
 */
function storedValue(s: State, k: StateKey): unknown {
	if (k !== "presence") return s[k];
	const seen: Record<string, number> = {};
	for (const [id, d] of Object.entries(s.devices)) seen[id] = d.lastSeenAt;
	return { ...s.presence, seen };
}

/** What decides whether a key changed since it was stored: its stored JSON, devices without last-seen times. */
function fingerprint(s: State, k: StateKey): string {
	if (k !== "devices") return JSON.stringify(storedValue(s, k));
	return JSON.stringify(Object.entries(s.devices).map(([id, d]) => [id, { ...d, lastSeenAt: 0 }]));
}

/** A neighbourhood in memory, its fences' metadata parsed from `metaJson` when first needed. */
function hoodOf(n: Neighbourhood, metaJson: string, parsed: Record<string, FenceMeta> | null = null): Hood {
	let meta = parsed;
	return {
		n,
		meta: (id) => {
			meta ??= JSON.parse(metaJson) as Record<string, FenceMeta>;
			return Object.hasOwn(meta, id) ? meta[id] : undefined;
		},
	};
}

/** Keeps the newest `max` entries younger than `ttlMs`. */
function bounded<T extends { at: number }>(
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

function view(s: State): UserView {
	const p = s.profile as Profile;
	return {
		userId: s.meta?.userId ?? "",
		firstName: p.firstName,
		locale: p.locale,
		timezone: p.timezone,
		attributes: attributesInForce(p.attributes, s.crm),
		interests: p.interests ?? [],
		consent: p.consent,
		devices: Object.entries(s.devices).map(([deviceId, d]) => ({
			deviceId,
			platform: d.platform,
			pushEndpointHost: d.webPush ? hostOf(d.webPush.endpoint) : null,
			hasFcmToken: d.fcmToken !== null,
			createdAt: iso(d.createdAt),
			lastSeenAt: iso(d.lastSeenAt),
		})),
		insideGeofences: Object.keys(s.presence.inside).sort(),
		createdAt: iso(p.createdAt),
		updatedAt: iso(p.updatedAt),
	};
}

function hostOf(url: string): string | null {
	try {
		return new URL(url).host;
	} catch {
		return null;
	}
}
