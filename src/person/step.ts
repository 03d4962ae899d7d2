/**
 * The person as a pure state machine: `step(state, input, now, settings)` answers one input
 * with the next state, the effects the shell carries out (storage writes, pushes to send,
 * events to emit, decision records, the alarm to set) and the reply to the caller. Nothing
 * here reads a clock, draws a random number or does I/O: the time, a random seed (for offer
 * ids) and what only I/O can learn (where pings are, the tenant's campaigns, what the push
 * services answered) come in with the input, so the same inputs always give the same result.
 *
 * A ping's path in the shell (worker/shopper.ts) reads in one direction: {@link planPings}
 * (who may ping, which pings are usable), the shard or neighbourhood lookup of those pings,
 * the campaigns when {@link campaignsNeeded} says an event may fire, `step` (presence, dwell,
 * visits, decisions, rendering), the pushes, `step` with their results, then one save.
 */
import {
	conversionEvent,
	decisionEvent,
	type EventDraft,
	enteredAt,
	offerReportEvent,
	presenceEvents,
} from "../events/build.js";
import { linksOf, type OfferLinks } from "../offers/click.js";
import { campaignDwellSeconds, type Decision, decide, type TriggerEvent } from "../offers/decide.js";
import { renderOffer } from "../offers/render.js";
import {
	applyPings,
	dueDwells,
	dwellThresholds,
	emptyPresence,
	nextDwellAt,
	type Ping,
	type PingLookup,
	type PresenceEvent,
	STALE_AFTER_MS,
	screenPings,
} from "../presence/presence.js";
import { pruneHistory } from "../pressure/policy.js";
import { pushTopic } from "../push/payload.js";
import { applyCartEvent, type CartEvent, type CartItem, cartKeys } from "../rules/cart.js";
import type { Campaign } from "../schemas/campaign.js";
import type { DecisionOut } from "../schemas/ping.js";
import type { Settings } from "../schemas/settings.js";
import type { PutDevice, PutUser } from "../schemas/user.js";
import {
	type AttributePatchAnswer,
	attributesInForce,
	type CrmAttributes,
	countEnters,
	patchCrm,
} from "./audience.js";
import {
	applyDeliveries,
	type DeliveryResult,
	type OfferStatus,
	type OfferStatusChange,
	type OfferToSend,
	targetsOf,
} from "./delivery.js";
import {
	bounded,
	CART_KEYS,
	type Exposure,
	emptyState,
	type FenceMeta,
	type PendingDelivery,
	type PersonState,
	PING_KEYS,
	type PingAnswer,
	type StateKey,
} from "./state.js";
import { iso, personView, templateVars } from "./view.js";

/** Remembered cart answers: enough to absorb any webhook retry storm. */
export const CART_ANSWERS_MAX = 500;
export const CART_ANSWERS_TTL_MS = 7 * 86_400_000;
/** Remembered ping batches: an app retries a batch within minutes, not days. */
export const BATCHES_MAX = 100;
export const BATCHES_TTL_MS = 86_400_000;
/** Screening summaries kept for the back office. */
export const SCREENING_MAX = 20;

/** A validated cart event; items may carry a display name for templates. */
export type CartEventIn = Omit<CartEvent, "items"> & {
	items: readonly (CartItem & { name?: string | undefined })[];
};

export interface CartAnswer {
	offers: DecisionOut[];
	/** True when this eventId was processed before: nothing fired this time. */
	duplicate: boolean;
}

/** The tenant's cart campaigns that hold for a cart, best priority first (src/rules/index.ts behind it). */
export interface CartRules {
	candidates(cart: { skus: string[]; categories: string[] }): Campaign[];
}

/** An offer displayed or clicked, as the offers route reports it. */
export type OfferReport = Parameters<typeof offerReportEvent>[0];

/** The row of the offers table written with its decision. */
export interface OfferRecord {
	id: string;
	campaignId: string;
	variantId: string | null;
	geofenceId: string | null;
	triggerType: "geofence" | "cart";
	/** Where the offer's links lead, for the click redirect. */
	links: OfferLinks | null;
	status: OfferStatus;
	attempts: number;
	expiresAt: number;
}

/** One decision, for the decision trace. */
export interface DecisionRecord {
	trigger: TriggerEvent;
	decision: Decision;
	offer: OfferRecord | null;
}

/** What comes in. Ids name the person for inputs that may be the first about them. */
export type PersonInput =
	| { kind: "profile"; tenantId: string; userId: string; profile: PutUser }
	| { kind: "device"; deviceId: string; device: PutDevice; maxDevices: number }
	| { kind: "deviceRemoved"; deviceId: string }
	| {
			kind: "attributes";
			tenantId: string;
			userId: string;
			patch: Record<string, string | number | boolean | null>;
	  }
	| {
			kind: "pings";
			tenantId: string;
			userId: string;
			deviceId: string | null;
			/** The batch as {@link planPings} screened it against this state (screened once a batch). */
			screened: ScreenedPings;
			/** Pings the batch carried (usable or not). */
			received: number;
			batchId: string | null;
			/** Where each usable ping is ({@link planPings}' `usable`, in that order). */
			lookups: readonly PingLookup[];
			/** Metadata of the fences the lookups name. */
			fences: Readonly<Record<string, FenceMeta>>;
			/** The tenant's geofence campaigns; null when {@link campaignsNeeded} said none could fire. */
			campaigns: readonly Campaign[] | null;
			fcm: boolean;
			/** 32 hex digits of randomness, for the ids of the offers this step sends. */
			seed: string;
	  }
	| {
			kind: "cart";
			tenantId: string;
			userId: string;
			event: CartEventIn;
			/** The tenant's cart rules (needed for `item_added` only). */
			rules: CartRules | null;
			fcm: boolean;
			seed: string;
	  }
	| { kind: "offerReport"; tenantId: string; userId: string; report: OfferReport }
	| { kind: "alarm"; campaigns: readonly Campaign[] | null; fcm: boolean; seed: string }
	| { kind: "delivered"; results: readonly DeliveryResult[] }
	| { kind: "erase" };

/** What the shell carries out, in order. */
export type PersonEffect =
	/** Persist these keys (those that changed since stored). */
	| { type: "write"; keys: readonly StateKey[] }
	/** The alarm for the next dwell or delivery retry; null: none. */
	| { type: "alarm"; at: number | null }
	/** Events of the person, to their outbox. */
	| { type: "emit"; events: EventDraft[] }
	/** A purchase credited to the last exposure. */
	| { type: "convert"; exposure: Exposure; eventId: string; revenue: number }
	/** An offer to push to the person's devices. */
	| { type: "send"; offer: OfferToSend }
	/** Stored deliveries that fell due, to send again. */
	| { type: "retry"; copies: PendingDelivery[] }
	/** Decisions for the trace (offer statuses are final once the sends' results are stepped). */
	| { type: "record"; records: DecisionRecord[] }
	/** An offer's status after a round of deliveries. */
	| ({ type: "offerStatus" } & OfferStatusChange)
	/** The copy of fences around the person says where they were: drop it. */
	| { type: "forgetNeighbourhood" }
	/** Delete everything stored about the person, then keep the tombstone. */
	| { type: "eraseAll" };

/** The reply to each kind of input. */
export type Replies = {
	profile: { updatedAt: string };
	device: { lastSeenAt: string } | null;
	deviceRemoved: null;
	attributes: AttributePatchAnswer;
	pings: PingAnswer;
	cart: CartAnswer | { erased: true };
	offerReport: null;
	alarm: null;
	delivered: null;
	erase: { existed: boolean };
};

/** The reply to an input. */
export type ReplyOf<I extends PersonInput> = Replies[I["kind"]];

export interface StepResult<R = unknown> {
	state: PersonState;
	effects: PersonEffect[];
	reply: R;
	/** Set when the input lacked the campaigns an event needs: step again with them (state unchanged). */
	needs?: "campaigns";
}

/** Settings the core reads: the tenant's (null when the tenant is gone). */
export type PersonSettings = Settings | null;

/**
 * One input, one transition. The state given is never changed: the result holds a new one, which
 * shares every part the step left alone with it (a step replaces what it changes, at every
 * level, and never writes into an object it was given; the tests step deep-frozen states). A
 * copy of the whole state took about 0.25 ms a ping once a day of pings had filled it (21 KB).
 *
 * @param state what the person's object holds
 * @param input what happened
 * @param now epoch ms of this step (the shell's clock)
 * @param settings the tenant's settings; pings, cart events and dwell alarms need them
 */
export function step<I extends PersonInput>(
	state: PersonState,
	input: I,
	now: number,
	settings: PersonSettings,
): StepResult<Replies[I["kind"]]> {
	const s: PersonState = { ...state };
	const r = apply(s, input, now, settings);
	// Asked for more: nothing happened yet.
	if (r.needs) return { state, effects: [], reply: null as Replies[I["kind"]], needs: r.needs };
	return r as StepResult<Replies[I["kind"]]>;
}

function apply(s: PersonState, input: PersonInput, now: number, settings: PersonSettings): StepResult {
	switch (input.kind) {
		case "profile":
			return profile(s, input, now);
		case "device":
			return device(s, input, now);
		case "deviceRemoved": {
			if (!Object.hasOwn(s.devices, input.deviceId)) return done(s, [], null);
			const devices = { ...s.devices };
			delete devices[input.deviceId];
			s.devices = devices;
			// Retries queued for the device have nowhere to go.
			s.deliveries = s.deliveries.filter((d) => d.deviceId !== input.deviceId);
			return done(s, written(s, ["devices", "deliveries"]), null);
		}
		case "attributes": {
			if (s.erasedAt !== null) return done(s, [], { attributes: null, refused: "erased" });
			const r = patchCrm(s.crm, input.patch);
			if ("tooLarge" in r) return done(s, [], { attributes: null, refused: "too_large" });
			s.meta = { tenantId: input.tenantId, userId: input.userId };
			s.crm = r.crm as CrmAttributes;
			if (s.profile) s.profile = { ...s.profile, updatedAt: now };
			return done(s, written(s, ["meta", "crm", "profile"]), {
				attributes: attributesInForce(s.profile?.attributes, s.crm),
				refused: null,
			});
		}
		case "pings":
			return pings(s, input, now, settings);
		case "cart":
			return cart(s, input, now, settings);
		case "offerReport":
			if (s.erasedAt !== null) return done(s, [], null);
			return done(s, [{ type: "emit", events: [offerReportEvent(input.report)] }, ...written(s, [])], null);
		case "alarm":
			return alarm(s, input, now, settings);
		case "delivered": {
			const changes = applyDeliveries(s, input.results, now);
			return done(
				s,
				[
					...changes.map((c): PersonEffect => ({ type: "offerStatus", ...c })),
					...written(s, ["devices", "deliveries"]),
				],
				null,
			);
		}
		case "erase": {
			const existed = s.profile !== null;
			const tombstone: PersonState = { ...emptyState(), erasedAt: now };
			return done(tombstone, [{ type: "eraseAll" }, ...written(tombstone, ["erasedAt"])], { existed });
		}
	}
}

function done(state: PersonState, effects: PersonEffect[], reply: unknown): StepResult {
	return { state, effects, reply };
}

/** A write of `keys` and the alarm the state then needs. */
function written(s: PersonState, keys: readonly StateKey[]): PersonEffect[] {
	return [
		{ type: "write", keys },
		{ type: "alarm", at: wakeAt(s) },
	];
}

/** When the person's alarm must ring: the next dwell or delivery retry, whichever first. */
export function wakeAt(s: PersonState): number | null {
	const times = [nextDwellAt(s.presence), ...s.deliveries.map((d) => d.nextAt)].filter((t) => t !== null);
	return times.length === 0 ? null : Math.min(...times);
}

/** PUT profile from the person's own app: (re-)registers them, ending an erasure's tombstone. */
function profile(s: PersonState, input: Extract<PersonInput, { kind: "profile" }>, now: number): StepResult {
	const p = input.profile;
	s.meta = { tenantId: input.tenantId, userId: input.userId };
	s.erasedAt = null;
	const prev = s.profile;
	s.profile = {
		firstName: p.firstName ?? null,
		locale: p.locale ?? null,
		timezone: p.timezone ?? null,
		attributes: p.attributes ?? {},
		interests: [...new Set(p.interests ?? [])],
		consent: p.consent,
		createdAt: prev?.createdAt ?? now,
		updatedAt: now,
	};
	const effects: PersonEffect[] = [];
	if (!p.consent.location) {
		// Withdrawing location consent forgets where the person is, and has been.
		s.presence = emptyPresence();
		s.fences = {};
		// Visit counts per store are location history too.
		s.visits = [];
		effects.push({ type: "forgetNeighbourhood" });
	}
	effects.push(...written(s, ["meta", "profile", "presence", "fences", "erasedAt", "visits"]));
	return done(s, effects, { updatedAt: iso(now) });
}

/** PUT device; past `maxDevices`, the least recently seen other devices are removed. */
function device(s: PersonState, input: Extract<PersonInput, { kind: "device" }>, now: number): StepResult {
	if (!s.profile) return done(s, [], null);
	const prev = Object.hasOwn(s.devices, input.deviceId) ? s.devices[input.deviceId] : undefined;
	const devices = { ...s.devices };
	delete devices[input.deviceId];
	const kept = Object.entries(devices)
		.sort(([, a], [, b]) => b.lastSeenAt - a.lastSeenAt)
		.slice(0, Math.max(0, input.maxDevices - 1));
	s.devices = Object.fromEntries(kept);
	s.devices[input.deviceId] = {
		platform: input.device.platform,
		webPush: input.device.webPush ?? null,
		fcmToken: input.device.fcmToken ?? null,
		createdAt: prev?.createdAt ?? now,
		lastSeenAt: now,
	};
	// Presence holds the devices' last-seen times.
	return done(s, written(s, ["devices", "presence"]), { lastSeenAt: iso(now) });
}

/** What the shell does with a ping batch before stepping it. */
export type PingPlan =
	/** Nothing to look up: answer this (unknown person, no location consent, a batch seen before). */
	| { kind: "answer"; answer: PingAnswer }
	/** Look up these usable pings (the fences the person is in now are `current`), then step. */
	| { kind: "lookup"; screened: ScreenedPings; current: string[]; received: number };

/** A batch screened: the usable pings in time order, the rejected ones with their reasons. */
export type ScreenedPings = ReturnType<typeof screenPings>;

/**
 * The first half of a ping batch's path: whether it is answered without a lookup, else the
 * usable pings to locate (screened exactly as {@link step} screens them).
 */
export function planPings(
	state: PersonState,
	input: { pings: readonly Omit<Ping, "index">[]; batchId: string | null },
	now: number,
	settings: Pick<Settings, "maxAccuracyMeters">,
): PingPlan {
	const early = earlyPingAnswer(state, { received: input.pings.length, batchId: input.batchId });
	if (early) return { kind: "answer", answer: early };
	const screened = screenPings(state.presence.last, indexed(input.pings), {
		now,
		maxAccuracyMeters: settings.maxAccuracyMeters,
	});
	return {
		kind: "lookup",
		screened,
		current: Object.keys(state.presence.inside),
		received: input.pings.length,
	};
}

/**
 * Whether a batch with these lookups may fire a presence event (so the decisions need the
 * campaigns): an enter, an exit or a dwell falling due. Never false when an event fires
 * (test/unit/person-property.test.ts); true in a few cases where none does (an exit inside the
 * hysteresis margin).
 */
export function campaignsNeeded(
	state: PersonState,
	usable: readonly Pick<Ping, "t">[],
	lookups: readonly PingLookup[],
	now: number,
): boolean {
	const inside = state.presence.inside;
	const ids = Object.keys(inside);
	for (const l of lookups) {
		if (l.inside.some((id) => !Object.hasOwn(inside, id))) return true;
		if (ids.some((id) => !l.inside.includes(id))) return true;
	}
	const dwell = nextDwellAt(state.presence);
	const latest = Math.max(now, ...usable.map((p) => p.t));
	return dwell !== null && dwell <= latest;
}

function indexed(pings: readonly Omit<Ping, "index">[]): Ping[] {
	return pings.map((p, index) => ({ ...p, index }));
}

function earlyPingAnswer(
	s: PersonState,
	input: { received: number; batchId: string | null },
): PingAnswer | null {
	const nothing = (reason: string): PingAnswer => ({
		received: input.received,
		events: [],
		offers: [],
		rejected: Array.from({ length: input.received }, (_, index) => ({ index, reason })),
	});
	if (!s.profile) return nothing("unknown_user");
	if (!s.profile.consent.location) return nothing("no_location_consent");
	const seen =
		input.batchId && Object.hasOwn(s.batches, input.batchId) ? s.batches[input.batchId] : undefined;
	return seen ? seen.answer : null;
}

/** A batch of pings: presence, dwells due, visits, decisions, the answer. */
function pings(
	s: PersonState,
	input: Extract<PersonInput, { kind: "pings" }>,
	now: number,
	settings: PersonSettings,
): StepResult {
	const early = earlyPingAnswer(s, input);
	if (early) return done(s, [], early);
	if (!settings) throw new Error("pings need the tenant's settings");
	s.meta = { tenantId: input.tenantId, userId: input.userId };
	const dev =
		input.deviceId && Object.hasOwn(s.devices, input.deviceId) ? s.devices[input.deviceId] : undefined;
	if (dev && input.deviceId) s.devices = { ...s.devices, [input.deviceId]: { ...dev, lastSeenAt: now } };
	// applyPings returns a new `inside`: this one stays as it was, for the exits' visit times.
	const insideBefore = s.presence.inside;
	const screened = input.screened;
	if (input.lookups.length !== screened.usable.length)
		throw new Error(`expected ${screened.usable.length} lookups, got ${input.lookups.length}`);
	const campaigns = input.campaigns ?? [];
	let events: PresenceEvent[] = [];
	if (screened.usable.length > 0) {
		if (Object.keys(input.fences).length > 0) s.fences = { ...s.fences, ...input.fences };
		const batch = screened.usable.map((ping, i) => ({ ping, lookup: input.lookups[i] as PingLookup }));
		// The dwell thresholds of campaigns are fixed at entry.
		const thresholds = (id: string) => {
			const fence = Object.hasOwn(s.fences, id) ? s.fences[id] : undefined;
			return fence ? dwellThresholds(fence.dwellSeconds, campaignDwellSeconds(campaigns, fence)) : [];
		};
		const applied = applyPings(s.presence, batch, thresholds, now);
		s.presence = applied.state;
		events = applied.events;
	}
	const due = dueDwells(s.presence, now);
	s.presence = due.state;
	events.push(...due.events);
	if (events.length > 0 && input.campaigns === null)
		return { state: s, effects: [], reply: null, needs: "campaigns" };
	const drafts: EventDraft[] = [];
	if (events.length > 0) drafts.push(...presenceEvents(events, enteredAt(insideBefore), nameIn(s)));
	const offers = fire(s, events, campaigns, { now, settings, fcm: input.fcm, ids: offerIds(input.seed) });
	const answer: PingAnswer = {
		received: input.received,
		events: events.map((e) => ({
			type: e.type,
			geofenceId: e.fenceId,
			at: iso(e.at),
			...(e.dwellSeconds !== undefined ? { dwellSeconds: e.dwellSeconds } : {}),
		})),
		offers: offers.out,
		rejected: screened.rejected,
	};
	if (screened.rejected.length > 0) {
		const reasons: Record<string, number> = {};
		for (const r of screened.rejected) reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
		s.screening = [{ at: now, reasons }, ...s.screening].slice(0, SCREENING_MAX);
	}
	if (input.batchId)
		s.batches = bounded(
			{ ...s.batches, [input.batchId]: { answer, at: now } },
			now,
			BATCHES_MAX,
			BATCHES_TTL_MS,
		);
	drafts.push(...offers.events);
	return done(s, [...emitted(drafts), ...offers.effects, ...written(s, PING_KEYS)], answer);
}

/** The alarm: retries that fell due go out again, dwells that fell due fire. */
function alarm(
	s: PersonState,
	input: Extract<PersonInput, { kind: "alarm" }>,
	now: number,
	settings: PersonSettings,
): StepResult {
	if (!s.meta) return done(s, [], null);
	const effects: PersonEffect[] = [];
	const due = s.deliveries.filter((d) => d.nextAt <= now);
	if (due.length > 0) {
		s.deliveries = s.deliveries.filter((d) => d.nextAt > now);
		effects.push({ type: "retry", copies: due });
	}
	const drafts: EventDraft[] = [];
	if (s.profile?.consent.location && settings) {
		const dwells = dueDwells(s.presence, now);
		if (dwells.events.length > 0 && input.campaigns === null)
			return { state: s, effects: [], reply: null, needs: "campaigns" };
		s.presence = dwells.state;
		drafts.push(...presenceEvents(dwells.events, {}, nameIn(s)));
		const offers = fire(s, dwells.events, input.campaigns ?? [], {
			now,
			settings,
			fcm: input.fcm,
			ids: offerIds(input.seed),
		});
		drafts.push(...offers.events);
		effects.push(...offers.effects);
	} else if (!settings) {
		// The tenant is gone: the dwells that fell due are spent, with nothing to decide or report.
		// Left pending, they would set the alarm again for a time already past, ringing forever.
		s.presence = dueDwells(s.presence, now).state;
	}
	return done(s, [...emitted(drafts), ...effects, ...written(s, PING_KEYS)], null);
}

/** Whether an alarm at `now` fires a dwell, so its decisions need the campaigns. */
export function alarmNeedsCampaigns(state: PersonState, now: number): boolean {
	const at = nextDwellAt(state.presence);
	return state.profile?.consent.location === true && at !== null && at <= now;
}

/**
 * A cart event: applied to the cart in event-time order, a purchase credited to the last
 * exposure within the attribution window, complementary-product offers decided for added
 * items. The same eventId again answers the first answer and fires nothing.
 */
function cart(
	s: PersonState,
	input: Extract<PersonInput, { kind: "cart" }>,
	now: number,
	settings: PersonSettings,
): StepResult {
	// An erased person stays erased: nothing is stored, not even the eventId.
	if (s.erasedAt !== null) return done(s, [], { erased: true });
	const { event } = input;
	const seen = Object.hasOwn(s.cartAnswers, event.eventId) ? s.cartAnswers[event.eventId] : undefined;
	if (seen) return done(s, [], { offers: seen.offers, duplicate: true });
	if (!settings) throw new Error("cart events need the tenant's settings");
	s.meta = { tenantId: input.tenantId, userId: input.userId };
	s.cart = applyCartEvent(s.cart, event);
	const drafts: EventDraft[] = [];
	const effects: PersonEffect[] = [];
	if (event.type === "purchase") {
		const credit = attribute(s, event, settings);
		if (credit) {
			effects.push(credit);
			drafts.push(
				conversionEvent({ ...credit.exposure, cartEventId: event.eventId, revenue: credit.revenue }),
			);
		}
	}
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
		const candidates = input.rules?.candidates(cartKeys(s.cart)) ?? [];
		if (candidates.length > 0) {
			const decided = decideAll(s, [trigger], candidates, {
				now,
				settings,
				fcm: input.fcm,
				ids: offerIds(input.seed),
			});
			offers = decided.out;
			drafts.push(...decided.events);
			effects.push(...decided.effects);
		}
	}
	s.cartAnswers = bounded(
		{ ...s.cartAnswers, [event.eventId]: { offers, at: now } },
		now,
		CART_ANSWERS_MAX,
		CART_ANSWERS_TTL_MS,
	);
	return done(s, [...emitted(drafts), ...effects, ...written(s, CART_KEYS)], { offers, duplicate: false });
}

/** Last exposure wins: a purchase within the window is credited to it, or to its holdout. */
function attribute(
	s: PersonState,
	event: CartEvent,
	settings: Settings,
): Extract<PersonEffect, { type: "convert" }> | null {
	const x = s.exposure;
	if (!x || !s.meta) return null;
	const windowMs = settings.attributionWindowSeconds * 1000;
	if (event.occurredAt < x.at || event.occurredAt - x.at > windowMs) return null;
	const revenue = event.items.reduce((sum, i) => sum + (i.price ?? 0) * (i.quantity ?? 1), 0);
	// One purchase, one credit: the next purchase needs a new offer to be attributed.
	s.exposure = null;
	return { type: "convert", exposure: x, eventId: event.eventId, revenue };
}

function emitted(drafts: EventDraft[]): PersonEffect[] {
	return drafts.length > 0 ? [{ type: "emit", events: drafts }] : [];
}

function nameIn(s: PersonState): (id: string) => string | undefined {
	return (id) => (Object.hasOwn(s.fences, id) ? s.fences[id]?.name : undefined);
}

interface DecideContext {
	now: number;
	settings: Settings;
	fcm: boolean;
	ids: () => string;
}

interface Decided {
	out: DecisionOut[];
	events: EventDraft[];
	effects: PersonEffect[];
}

/** Geofence events: visits counted, each decided against the geofence campaigns. */
function fire(
	s: PersonState,
	events: readonly PresenceEvent[],
	campaigns: readonly Campaign[],
	ctx: DecideContext,
): Decided {
	let decided: Decided = { out: [], events: [], effects: [] };
	// Counted before deciding: a visit condition includes the current enter.
	if (events.some((e) => e.type === "enter")) s.visits = countEnters(s.visits, events, s.fences, ctx.now);
	if (events.length > 0 && s.meta) {
		const triggers: TriggerEvent[] = events.map((e) => ({
			type: "geofence",
			on: e.type,
			fence: (Object.hasOwn(s.fences, e.fenceId) ? s.fences[e.fenceId] : undefined) ?? {
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
		decided = decideAll(s, triggers, campaigns, ctx);
	}
	// A fence left and entered again in one batch keeps its metadata for the new visit.
	for (const e of events)
		if (e.type === "exit" && !Object.hasOwn(s.presence.inside, e.fenceId)) {
			const fences = { ...s.fences };
			delete fences[e.fenceId];
			s.fences = fences;
		}
	return decided;
}

/** Decides triggers in order: cooldowns, caps and exposure updated, winners rendered to send. */
function decideAll(
	s: PersonState,
	triggers: readonly TriggerEvent[],
	campaigns: readonly Campaign[],
	ctx: DecideContext,
): Decided {
	const out: DecisionOut[] = [];
	const events: EventDraft[] = [];
	const records: DecisionRecord[] = [];
	const sends: PersonEffect[] = [];
	if (!s.meta) return { out, events, effects: [] };
	const { now } = ctx;
	for (const trigger of triggers) {
		for (const d of decide(trigger, campaigns, personView(s, ctx.fcm, now), ctx.settings, now)) {
			let offer: OfferRecord | null = null;
			if (d.decision !== "suppressed") {
				s.cooldowns = { ...s.cooldowns, [d.cooldownKey]: now };
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
				const prepared = prepareOffer(s, d, trigger, ctx);
				offer = prepared.record;
				if (prepared.send) sends.push({ type: "send", offer: prepared.send });
				if (s.exposure) s.exposure = { ...s.exposure, offerId: offer.id };
			}
			records.push({ trigger, decision: d, offer });
			const ev = decisionEvent(d, trigger, offer?.id ?? null);
			if (ev) events.push(ev);
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
	const effects: PersonEffect[] = [...sends];
	if (records.length > 0) effects.push({ type: "record", records });
	return { out, events, effects };
}

/** The offer's record and, with a variant, what to push: rendered for the person, to every device. */
function prepareOffer(
	s: PersonState,
	d: Decision,
	trigger: TriggerEvent,
	ctx: DecideContext,
): { record: OfferRecord; send: OfferToSend | null } {
	const offerId = ctx.ids();
	const { campaign, variant } = d;
	const expiresAt = ctx.now + campaign.ttlSeconds * 1000;
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
	if (!variant) return { record, send: null };
	const rendered = renderOffer(variant, templateVars(s, campaign, trigger), s.profile?.locale ?? null);
	record.links = linksOf(rendered);
	const targets = targetsOf(s.devices, ctx.fcm);
	// No copy to send: the offer's status is final now (see offerStatus).
	if (targets.length === 0) record.status = "gone";
	return {
		record,
		send: {
			offerId,
			campaignId: campaign.id,
			variantId: variant.id,
			offer: rendered,
			expiresAt,
			ttlSeconds: campaign.ttlSeconds,
			topic: pushTopic([campaign.id, trigger.type === "geofence" ? trigger.fence.id : "cart"]),
			targets,
		},
	};
}

const SEED = /^[0-9a-f]{32}$/;

/**
 * Offer ids from a step's seed: UUID-shaped (version 4, RFC 9562 variant), the n-th mixed into
 * the last 32 bits. The seed is the shell's randomness, so ids are unguessable across steps and
 * the same seed gives the same ids.
 */
export function offerIds(seed: string): () => string {
	if (!SEED.test(seed)) throw new Error("the seed is 32 lowercase hex digits");
	let n = 0;
	return () => {
		const tail = ((Number.parseInt(seed.slice(24), 16) ^ n++) >>> 0).toString(16).padStart(8, "0");
		const h = seed.slice(0, 24) + tail;
		const variant = ((Number.parseInt(h[16] ?? "0", 16) & 0x3) | 0x8).toString(16);
		return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20)}`;
	};
}
