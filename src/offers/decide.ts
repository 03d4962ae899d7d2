/**
 * The decision pipeline: for one trigger, one decision per matching campaign. Each
 * campaign runs through an ordered list of checks; the first that fails names the
 * suppression reason. Survivors compete on priority: the winner is sent (or held out),
 * the rest are `lower_priority`. A new policy is one more entry in {@link CHECKS}.
 */
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
}

export interface GeofenceTrigger {
	type: "geofence";
	on: "enter" | "exit" | "dwell";
	fence: FenceView;
	/** When the event happened (ms). */
	at: number;
	/** From a ping older than 10 minutes: presence moved on, no offer fires. */
	stale: boolean;
}

export type TriggerEvent = GeofenceTrigger;

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
}

export type Decision =
	| { campaign: Campaign; variant: Variant | null; decision: "sent" | "holdout"; cooldownKey: string }
	| {
			campaign: Campaign;
			variant: Variant | null;
			decision: "suppressed";
			reason: string;
			cooldownKey: string;
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
export function triggerMatches(campaign: Campaign, trigger: TriggerEvent): boolean {
	const t = campaign.trigger;
	if (t.type !== trigger.type || t.on !== trigger.on) return false;
	if (t.geofenceIds && !t.geofenceIds.includes(trigger.fence.id)) return false;
	if (t.tags && !t.tags.some((tag) => trigger.fence.tags.includes(tag))) return false;
	return true;
}

/** Per-campaign, per-fence cooldown key: re-entering the same store does not buzz again. */
export function cooldownKey(campaignId: string, trigger: TriggerEvent): string {
	return `${campaignId}\u0000${trigger.fence.id}`;
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
		if (!triggerMatches(campaign, trigger)) continue;
		const key = cooldownKey(campaign.id, trigger);
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
