/**
 * Fixtures for the person core's tests: settings, campaigns, a registered person, lookups as
 * plain data, and a driver that plays the shell's part (plan, lookup, step, deliver, step).
 */
import type {
	CartRules,
	PersonEffect,
	PersonInput,
	PersonState,
	StepResult,
} from "../../src/person/index.js";
import {
	campaignsNeeded,
	type DecisionRecord,
	type DeliveryOutcome,
	type DeliveryResult,
	emptyState,
	type FenceMeta,
	planPings,
	step,
} from "../../src/person/index.js";
import type { PingLookup } from "../../src/presence/presence.js";
import type { Campaign } from "../../src/schemas/campaign.js";
import { defaultSettings, type Settings } from "../../src/schemas/settings.js";

export const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
export const TENANT = "t1";
export const USER = "u1";
export const SEED = "0123456789abcdef0123456789abcdef";

export const SETTINGS: Settings = { ...defaultSettings("UTC"), quietHours: null };

export function campaign(over: Partial<Campaign> = {}): Campaign {
	return {
		id: "c1",
		name: "Beer",
		status: "active",
		priority: 0,
		trigger: { type: "geofence", on: "enter", tags: ["grocery"] },
		variants: [{ id: "a", weight: 1, title: "Hi {{firstName}}", body: "at {{geofence.name}}" }],
		holdoutPercent: 0,
		ttlSeconds: 600,
		cooldownSeconds: 0,
		startsAt: null,
		endsAt: null,
		ignoreCaps: false,
		offerSku: null,
		...over,
	};
}

export function fence(id: string, over: Partial<FenceMeta> = {}): FenceMeta {
	return { id, name: `Store ${id}`, tags: ["grocery"], metadata: {}, dwellSeconds: null, ...over };
}

/** A lookup that says the ping is inside `ids` and far from every other fence. */
export function inside(...ids: string[]): PingLookup {
	return { inside: ids, distanceTo: (id) => (ids.includes(id) ? 0 : 1000) };
}

/** A person registered with consent, one web device and one FCM device. */
export function registered(over: { location?: boolean; push?: boolean } = {}): PersonState {
	let s = emptyState();
	s = step(
		s,
		{
			kind: "profile",
			tenantId: TENANT,
			userId: USER,
			profile: { firstName: "Ana", consent: { location: over.location ?? true, push: over.push ?? true } },
		},
		T0 - 3_600_000,
		null,
	).state;
	s = step(
		s,
		{
			kind: "device",
			deviceId: "web-1",
			device: {
				platform: "web",
				webPush: { endpoint: "https://push.example/ep1", keys: { p256dh: "p", auth: "a" } },
			},
			maxDevices: 10,
		},
		T0 - 3_600_000,
		null,
	).state;
	return s;
}

/** A ping at a fixed place (so screening never rejects it for speed). */
export function ping(t: number): { lat: number; lng: number; accuracy: number; t: number } {
	return { lat: 48.1, lng: -1.6, accuracy: 10, t };
}

/** The pings input the shell would build, with one lookup per usable ping. */
export function pingsInput(
	s: PersonState,
	pings: { t: number; where: PingLookup }[],
	now: number,
	opts: {
		campaigns?: readonly Campaign[];
		fences?: Record<string, FenceMeta>;
		batchId?: string | null;
		seed?: string;
		settings?: Settings;
	} = {},
): Extract<PersonInput, { kind: "pings" }> {
	const raw = pings.map((p) => ping(p.t));
	const plan = planPings(s, { pings: raw, batchId: opts.batchId ?? null }, now, opts.settings ?? SETTINGS);
	const lookups =
		plan.kind === "lookup"
			? plan.screened.usable.map((u) => (pings[u.index] as { where: PingLookup }).where)
			: [];
	const usable = plan.kind === "lookup" ? plan.screened.usable : [];
	return {
		kind: "pings",
		tenantId: TENANT,
		userId: USER,
		deviceId: "web-1",
		screened: plan.kind === "lookup" ? plan.screened : { usable: [], rejected: [], last: s.presence.last },
		received: raw.length,
		batchId: opts.batchId ?? null,
		lookups,
		fences: opts.fences ?? {},
		campaigns: campaignsNeeded(s, usable, lookups, now) ? (opts.campaigns ?? []) : null,
		fcm: true,
		seed: opts.seed ?? SEED,
	};
}

export function effectsOf<T extends PersonEffect["type"]>(
	r: { effects: PersonEffect[] },
	type: T,
): Extract<PersonEffect, { type: T }>[] {
	return r.effects.filter((e): e is Extract<PersonEffect, { type: T }> => e.type === type);
}

export function records(r: { effects: PersonEffect[] }): DecisionRecord[] {
	return effectsOf(r, "record").flatMap((e) => e.records);
}

/**
 * Freezes a state and everything in it, so that a step writing into the state it was given (which
 * it shares parts with, see `step`) throws where it writes.
 */
export function deepFreeze<T>(o: T): T {
	if (o === null || typeof o !== "object" || Object.isFrozen(o)) return o;
	Object.freeze(o);
	for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
	return o;
}

/**
 * Plays the shell for one input: steps, asks again with the campaigns when told to, delivers
 * every send with the given outcome and steps the results. Returns both results.
 */
export function drive(
	s: PersonState,
	input: PersonInput,
	now: number,
	campaigns: readonly Campaign[],
	outcome: (deviceId: string) => DeliveryOutcome = () => ({ kind: "accepted" }),
	settings: Settings | null = SETTINGS,
	jitter = 0.5,
): { first: StepResult; delivered: StepResult | null; state: PersonState } {
	deepFreeze(s);
	let first = step(s, input, now, settings);
	if (first.needs === "campaigns") first = step(s, { ...input, campaigns } as PersonInput, now, settings);
	const results: DeliveryResult[] = [];
	for (const e of effectsOf(first, "send"))
		for (const t of e.offer.targets)
			results.push({
				copy: {
					offerId: e.offer.offerId,
					deviceId: t.deviceId,
					message: { transport: "web", payload: "{}" },
					topic: e.offer.topic,
					expiresAt: e.offer.expiresAt,
					attempt: 0,
					nextAt: now,
				},
				first: true,
				outcome: outcome(t.deviceId),
				jitter,
			});
	for (const e of effectsOf(first, "retry"))
		for (const copy of e.copies)
			results.push({ copy, first: false, outcome: outcome(copy.deviceId), jitter });
	if (results.length === 0) return { first, delivered: null, state: first.state };
	const delivered = step(deepFreeze(first.state), { kind: "delivered", results }, now, null);
	return { first, delivered, state: delivered.state };
}

/** Cart rules that hold every cart campaign given, whatever the cart. */
export function allRules(campaigns: Campaign[]): CartRules {
	return { candidates: () => campaigns };
}
