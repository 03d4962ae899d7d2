/**
 * Building events from what the person's object decided: presence changes, offer decisions,
 * conversions and offer reports. Pure: the clock and ids are passed in. Nothing here copies
 * a coordinate, a fence's free-form metadata or a push payload into an event.
 */
import type { EventData, EventType } from "./types.js";

/** An event before it gets its id, time and owner. */
export interface EventDraft {
	type: EventType;
	data: EventData;
}

/** A presence change as src/presence reports it. */
export interface PresenceChange {
	type: "enter" | "exit" | "dwell";
	fenceId: string;
	at: number;
	dwellSeconds?: number;
	stale: boolean;
}

const PRESENCE_TYPE = {
	enter: "geofence.entered",
	exit: "geofence.exited",
	dwell: "geofence.dwelled",
} as const satisfies Record<PresenceChange["type"], EventType>;

/**
 * Events for presence changes, in their order. An exit carries `visitSeconds`: from the
 * entry earlier in the same batch, else from when the person was inside before the batch
 * (`enteredBefore`); none when neither is known.
 *
 * @param changes enter/exit/dwell in the order they happened
 * @param enteredBefore when the person entered each fence they were in before these changes
 * @param nameOf the fence's display name, when known
 */
export function presenceEvents(
	changes: readonly PresenceChange[],
	enteredBefore: Readonly<Record<string, number>>,
	nameOf: (fenceId: string) => string | undefined,
): EventDraft[] {
	const entered: Record<string, number> = { ...enteredBefore };
	return changes.map((c) => {
		const data: EventData = { geofenceId: c.fenceId };
		const name = nameOf(c.fenceId);
		if (name !== undefined) data.geofenceName = name;
		if (c.type === "enter") entered[c.fenceId] = c.at;
		if (c.type === "exit") {
			const since = Object.hasOwn(entered, c.fenceId) ? entered[c.fenceId] : undefined;
			if (since !== undefined) data.visitSeconds = Math.max(0, Math.round((c.at - since) / 1000));
			delete entered[c.fenceId];
		}
		if (c.type === "dwell" && c.dwellSeconds !== undefined) data.dwellSeconds = c.dwellSeconds;
		if (c.stale) data.stale = true;
		data.occurredAt = new Date(c.at).toISOString();
		return { type: PRESENCE_TYPE[c.type], data };
	});
}

/** The parts of an offer decision (src/offers/decide.ts) an event names. */
export interface DecisionFacts {
	decision: "sent" | "holdout" | "suppressed";
	reason?: string;
	campaign: { id: string };
	variant: { id: string } | null;
}

/** The trigger of a decision (src/offers/decide.ts TriggerEvent), as far as an event names it. */
export type TriggerFacts =
	| { type: "geofence"; fence: { id: string }; on: "enter" | "exit" | "dwell" }
	| { type: "cart" };

/**
 * The event of one decision: `offer.sent` or `offer.suppressed` (with its reason). A holdout
 * (the control group, deliberately not sent) is no event of the contract's list: null.
 */
export function decisionEvent(
	d: DecisionFacts,
	trigger: TriggerFacts,
	offerId: string | null,
): EventDraft | null {
	if (d.decision === "holdout") return null;
	const data: EventData = { campaignId: d.campaign.id, trigger: trigger.type };
	if (d.variant) data.variantId = d.variant.id;
	if (trigger.type === "geofence") {
		data.geofenceId = trigger.fence.id;
		data.on = trigger.on;
	}
	if (d.decision === "sent") {
		if (offerId !== null) data.offerId = offerId;
		return { type: "offer.sent", data };
	}
	data.reason = d.reason ?? "unknown";
	return { type: "offer.suppressed", data };
}

/** When the person entered each fence they are in (presence state's `inside`). */
export function enteredAt(inside: Readonly<Record<string, { enteredAt: number }>>): Record<string, number> {
	const out: Record<string, number> = {};
	for (const [id, v] of Object.entries(inside)) out[id] = v.enteredAt;
	return out;
}

/** A purchase credited to the last offer (or to its holdout). */
export function conversionEvent(x: {
	campaignId: string;
	variantId: string | null;
	offerId: string | null;
	holdout: boolean;
	cartEventId: string;
	revenue: number;
}): EventDraft {
	const data: EventData = {
		campaignId: x.campaignId,
		cartEventId: x.cartEventId,
		revenue: x.revenue,
		holdout: x.holdout,
	};
	if (x.variantId !== null) data.variantId = x.variantId;
	if (x.offerId !== null) data.offerId = x.offerId;
	return { type: "cart.conversion", data };
}

/** An offer the person's app displayed, or a click (an action button's id when one was used). */
export function offerReportEvent(x: {
	type: "displayed" | "clicked";
	offerId: string;
	campaignId: string;
	variantId: string | null;
	action: string | null;
}): EventDraft {
	const data: EventData = { offerId: x.offerId, campaignId: x.campaignId };
	if (x.variantId !== null) data.variantId = x.variantId;
	if (x.action !== null) data.action = x.action;
	return { type: x.type === "displayed" ? "offer.displayed" : "offer.clicked", data };
}
