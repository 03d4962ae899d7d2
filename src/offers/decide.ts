/**
 * The decision pipeline: for one trigger, one decision per matching campaign. Each
 * campaign runs through an ordered list of checks; the first that fails names the
 * suppression reason. Survivors compete on priority: the winner is sent (or held out),
 * the rest are `lower_priority`. A new policy is one more entry in {@link CHECKS}.
 */
import {
	type AudienceFacts,
	type AudienceFailure,
	audienceFacts,
	evaluateAudience,
} from "../audience/evaluate.js";
import { pressureReason, resolvePolicy } from "../pressure/policy.js";
import type { Campaign, Variant } from "../schemas/campaign.js";
import type { Settings } from "../schemas/settings.js";
import { assignVariant, inHoldout } from "./assign.js";

/** The fence an event happened at, as campaigns and templates see it. */
export interface FenceView {
	id: string;
	name: string;
	tags: readonly string[];
	metadata: Record<string, unknown>;
	/** The fence's own dwell threshold (seconds), the one dwell campaigns without their own use. */
	dwellSeconds?: number | null;
}

export interface GeofenceTrigger {
	type: "geofence";
	on: "enter" | "exit" | "dwell";
	fence: FenceView;
	/** For a dwell: the threshold that fell due (seconds inside); absent means the fence's own. */
	dwellSeconds?: number;
	/** When the event happened (ms). */
	at: number;
	/** From a ping older than 10 minutes: presence moved on, no offer fires. */
	stale: boolean;
}

/** One item of a cart event, as campaigns and templates see it. */
export interface CartItemView {
	sku: string;
	category: string | null;
	name: string | null;
	price: number | null;
}

export interface CartTrigger {
	type: "cart";
	/** Only `item_added` fires offers; the other event types update state. */
	event: "item_added";
	/** The items of the event that fired. */
	items: readonly CartItemView[];
	at: number;
	/** From an event older than 10 minutes when it arrived. */
	stale: boolean;
}

export type TriggerEvent = GeofenceTrigger | CartTrigger;

/** SKUs and categories, e.g. of the person's cart. */
export interface ItemSet {
	skus: ReadonlySet<string>;
	categories: ReadonlySet<string>;
}

/** What the pipeline needs to know about the person. */
export interface PersonView {
	userId: string;
	/** IANA zone for quiet hours; the tenant's when null. */
	timezone: string | null;
	consent: { location: boolean; push: boolean };
	/** At least one device with a usable push subscription. */
	reachable: boolean;
	/** Last send (or holdout) per cooldown key, epoch ms. */
	lastByCooldownKey: Readonly<Record<string, number>>;
	/** When offers counted by the caps were sent (any campaign), epoch ms. */
	sentHistory: readonly number[];
	/** What is in the person's online cart now. */
	cart: ItemSet;
	/** Purchase memory: bought this SKU or category within `days`. */
	purchasedWithin(item: { sku?: string; category?: string }, days: number): boolean;
	/** What audience conditions read (src/audience/evaluate.ts); absent: a person with no data. */
	audience?: AudienceFacts;
}

export type Decision =
	| { campaign: Campaign; variant: Variant | null; decision: "sent" | "holdout"; cooldownKey: string }
	| {
			campaign: Campaign;
			variant: Variant | null;
			decision: "suppressed";
			reason: string;
			cooldownKey: string;
			/** With reason `not_in_audience`: the condition that kept the person out. */
			failed?: AudienceFailure;
	  };

interface CheckInput {
	campaign: Campaign;
	trigger: TriggerEvent;
	person: PersonView;
	settings: Settings;
	now: number;
	cooldownKey: string;
}

type Check = (x: CheckInput) => string | null;

/** The reason of a decision for a person outside the campaign's audience. */
export const NOT_IN_AUDIENCE = "not_in_audience";

const CHECKS: readonly Check[] = [
	({ campaign, now }) =>
		campaign.status !== "active" ||
		(campaign.startsAt !== null && now < campaign.startsAt) ||
		(campaign.endsAt !== null && now >= campaign.endsAt)
			? "campaign_inactive"
			: null,
	({ trigger }) => (trigger.stale ? "stale" : null),
	({ person }) => (person.consent.push ? null : "no_consent"),
	({ person }) => (person.reachable ? null : "no_subscription"),
	// Combined signals: an in-store offer for people with something in their online cart.
	({ campaign, person }) =>
		campaign.trigger.type === "geofence" &&
		campaign.trigger.requiresCart &&
		!intersects(campaign.trigger.requiresCart, person.cart)
			? "cart_requirement"
			: null,
	({ campaign, person, settings }) => {
		const t = campaign.trigger;
		const sku = (t.type === "cart" ? t.offerSku : undefined) ?? campaign.offerSku ?? undefined;
		const category = t.type === "cart" ? t.offerCategory : undefined;
		if (!sku && !category) return null;
		const days =
			(t.type === "cart" ? t.suppressIfPurchasedWithinDays : undefined) ?? settings.purchaseSuppressionDays;
		const bought =
			(sku !== undefined && person.purchasedWithin({ sku }, days)) ||
			(category !== undefined && person.purchasedWithin({ category }, days));
		return bought ? "already_purchased" : null;
	},
	({ campaign, person, now, cooldownKey }) => {
		const last = person.lastByCooldownKey[cooldownKey];
		return last !== undefined && now - last < campaign.cooldownSeconds * 1000 ? "cooldown" : null;
	},
	({ campaign, person, settings, now }) =>
		pressureReason(resolvePolicy(settings, campaign.pressure, person.timezone), person.sentHistory, now, {
			ignoreCaps: campaign.ignoreCaps,
		}),
];

/** Whether a campaign's trigger listens to this event. */
export function triggerMatches(campaign: Campaign, trigger: TriggerEvent, person: PersonView): boolean {
	const t = campaign.trigger;
	if (t.type === "geofence") {
		if (trigger.type !== "geofence" || t.on !== trigger.on || !appliesToFence(t, trigger.fence)) return false;
		if (t.on !== "dwell") return true;
		// A dwell campaign waits for its own threshold, or for the fence's when it names none.
		const own = trigger.fence.dwellSeconds ?? null;
		return (t.dwellSeconds ?? own) === (trigger.dwellSeconds ?? own);
	}
	if (trigger.type !== "cart") return false;
	// The rule holds for the cart, and one of the items just added is what it is about:
	// adding milk to a cart that already had chips does not re-fire the chips rule.
	const added: ItemSet = {
		skus: new Set(trigger.items.map((i) => i.sku)),
		categories: new Set(trigger.items.flatMap((i) => (i.category ? [i.category] : []))),
	};
	return (
		intersects(t.whenCartHas, person.cart) &&
		intersects(t.whenCartHas, added) &&
		!(t.unlessCartHas && intersects(t.unlessCartHas, person.cart))
	);
}

type GeofenceCampaignTrigger = Extract<Campaign["trigger"], { type: "geofence" }>;

/** Whether a geofence trigger names this fence (by id and tag; no filter means every fence). */
function appliesToFence(t: GeofenceCampaignTrigger, fence: FenceView): boolean {
	if (t.geofenceIds && !t.geofenceIds.includes(fence.id)) return false;
	return !t.tags || t.tags.some((tag) => fence.tags.includes(tag));
}

/**
 * The dwell thresholds that dwell campaigns of their own set for a fence, for the presence state
 * to schedule at entry (the fence's own `dwellSeconds` comes on top).
 *
 * @param campaigns the tenant's geofence campaigns
 * @param fence the fence entered
 * @returns seconds, in campaign order, possibly repeated
 */
export function campaignDwellSeconds(campaigns: readonly Campaign[], fence: FenceView): number[] {
	const out: number[] = [];
	for (const c of campaigns) {
		const t = c.trigger;
		if (t.type === "geofence" && t.on === "dwell" && t.dwellSeconds !== undefined && appliesToFence(t, fence))
			out.push(t.dwellSeconds);
	}
	return out;
}

function intersects(
	m: { skus?: readonly string[] | undefined; categories?: readonly string[] | undefined },
	set: ItemSet,
): boolean {
	return (
		(m.skus ?? []).some((s) => set.skus.has(s)) || (m.categories ?? []).some((c) => set.categories.has(c))
	);
}

/**
 * Cooldown key: per campaign and fence for geofence triggers (re-entering the same store
 * does not buzz again), per campaign for cart triggers.
 */
export function cooldownKey(campaignId: string, trigger: TriggerEvent): string {
	return trigger.type === "geofence" ? `${campaignId}\u0000${trigger.fence.id}` : `${campaignId}\u0000cart`;
}

/**
 * Decides every campaign that listens to `trigger`. Campaigns that do not match yield
 * no decision at all; the result is ordered with the winner first.
 */
export function decide(
	trigger: TriggerEvent,
	campaigns: readonly Campaign[],
	person: PersonView,
	settings: Settings,
	now: number,
): Decision[] {
	const out: Decision[] = [];
	const eligible: { campaign: Campaign; variant: Variant | null; cooldownKey: string }[] = [];
	for (const campaign of campaigns) {
		if (!triggerMatches(campaign, trigger, person)) continue;
		const key = cooldownKey(campaign.id, trigger);
		// Outside the audience, the campaign is not for this person at all: no variant, no
		// other check, and the funnel leaves the decision out (worker/routes/stats.ts).
		if (campaign.audience) {
			const verdict = evaluateAudience(campaign.audience, person.audience ?? audienceFacts({}, now));
			if (!verdict.in) {
				out.push({
					campaign,
					variant: null,
					decision: "suppressed",
					reason: NOT_IN_AUDIENCE,
					cooldownKey: key,
					failed: verdict.failed,
				});
				continue;
			}
		}
		const variant = assignVariant(campaign.id, person.userId, campaign.variants);
		const input = { campaign, trigger, person, settings, now, cooldownKey: key };
		const reason = CHECKS.reduce<string | null>((r, check) => r ?? check(input), null);
		if (reason) out.push({ campaign, variant, decision: "suppressed", reason, cooldownKey: key });
		else eligible.push({ campaign, variant, cooldownKey: key });
	}
	eligible.sort(
		(a, b) =>
			b.campaign.priority - a.campaign.priority ||
			(a.campaign.id < b.campaign.id ? -1 : a.campaign.id > b.campaign.id ? 1 : 0),
	);
	const ranked: Decision[] = eligible.map((e, i) => {
		if (i > 0) return { ...e, decision: "suppressed", reason: "lower_priority" };
		// Holdout after priority: a held-out person gets nothing, not the runner-up, so the
		// group stays clean for measuring lift.
		return {
			...e,
			decision: inHoldout(e.campaign.id, person.userId, e.campaign.holdoutPercent) ? "holdout" : "sent",
		};
	});
	return [...ranked, ...out];
}
