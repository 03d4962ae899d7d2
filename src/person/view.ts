/**
 * What the person's state looks like from outside: the profile view, the export, the facts the
 * decision pipeline reads (src/offers/decide.ts PersonView) and the variables templates read.
 * Pure.
 */
import type { PersonView, TriggerEvent } from "../offers/decide.js";
import { cartContents, cartKeys, purchasedWithin } from "../rules/cart.js";
import type { Campaign } from "../schemas/campaign.js";
import { attributesInForce, factsOf, type PersonAudienceData, personAudienceData } from "./audience.js";
import { targetsOf } from "./delivery.js";
import type { PersonState, Profile } from "./state.js";

/** Epoch ms as ISO 8601 (UTC). */
export function iso(ms: number): string {
	return new Date(ms).toISOString();
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

/** GET /v1/users/{userId}; null when the person's app never registered them. */
export function userView(s: PersonState): UserView | null {
	const p: Profile | null = s.profile;
	if (!p) return null;
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

/** What audiences read about the person; null when nothing is known. */
export function audienceDataOf(s: PersonState): PersonAudienceData | null {
	if (!s.profile && Object.keys(s.crm).length === 0) return null;
	return personAudienceData(s.profile, s.crm, s.visits, s.cart);
}

/** Everything the state holds about the person, never push keys; null when nothing is known. */
export function exportOf(s: PersonState): PersonExport | null {
	// The back office may have set CRM attributes before the person's app registered them.
	if (!s.profile && Object.keys(s.crm).length === 0) return null;
	return {
		profile: userView(s),
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

/** The person as the decision pipeline sees them. */
export function personView(s: PersonState, fcmEnabled: boolean, now: number): PersonView {
	const keys = cartKeys(s.cart);
	return {
		userId: s.meta?.userId ?? "",
		timezone: s.profile?.timezone ?? null,
		consent: s.profile?.consent ?? { location: false, push: false },
		reachable: targetsOf(s.devices, fcmEnabled).length > 0,
		lastByCooldownKey: s.cooldowns,
		sentHistory: s.sent,
		cart: { skus: new Set(keys.skus), categories: new Set(keys.categories) },
		purchasedWithin: (item, days) => purchasedWithin(s.cart, item, days, now),
		audience: factsOf(personAudienceData(s.profile, s.crm, s.visits, s.cart), now),
	};
}

/** What templates can read: the person, and the geofence or the cart item and offered product. */
export function templateVars(
	s: PersonState,
	campaign: Campaign,
	trigger: TriggerEvent,
): Record<string, unknown> {
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

function hostOf(url: string): string | null {
	try {
		return new URL(url).host;
	} catch {
		return null;
	}
}
