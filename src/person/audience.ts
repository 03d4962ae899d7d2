/**
 * The person's side of audiences: CRM attributes as stored, visit counters kept from enters,
 * and the person's data handed to the pure evaluator (src/audience/). Moved here from
 * worker/audience.ts (which re-exports them) so the person core stays pure.
 */
import { applyAttributePatch } from "../audience/attributes.js";
import type { Scalar } from "../audience/condition.js";
import {
	type AudienceFacts,
	type AudienceFactsInput,
	audienceFacts,
	effectiveAttributes,
} from "../audience/evaluate.js";
import { recordVisit, type VisitCounters } from "../audience/visits.js";
import type { PresenceEvent } from "../presence/presence.js";
import type { CartState } from "../rules/cart.js";

/** CRM attributes as stored in the person's object (key `crm`). */
export type CrmAttributes = Record<string, Scalar>;

/** What the person's object answers a CRM patch with: the attributes in force, or why not. */
export interface AttributePatchAnswer {
	attributes: Record<string, unknown> | null;
	refused: "erased" | "too_large" | null;
}

/** The person's data an audience reads, as the person's object hands it over (plain JSON). */
export type PersonAudienceData = Required<{
	[K in keyof AudienceFactsInput]: NonNullable<AudienceFactsInput[K]> | null;
}>;

/** Applies a CRM patch to what is stored: the new CRM attributes, or why not. */
export function patchCrm(
	crm: CrmAttributes,
	patch: Record<string, Scalar | null>,
): { crm: CrmAttributes } | { tooLarge: true } {
	const next = applyAttributePatch(crm, patch);
	return next ? { crm: next } : { tooLarge: true };
}

/** The attributes in force: the app's, with the back office's keys winning. */
export function attributesInForce(
	app: Record<string, unknown> | null | undefined,
	crm: CrmAttributes | null | undefined,
): Record<string, unknown> {
	return effectiveAttributes(app, crm);
}

/**
 * Counts the enters among `events` in the visit counters (no trail: a count per fence and UTC
 * day), with the tags of the fence as known now. Stale enters count too: the visit happened.
 */
export function countEnters(
	visits: VisitCounters | null | undefined,
	events: readonly PresenceEvent[],
	fences: Readonly<Record<string, { tags: string[] }>>,
	now: number,
): VisitCounters {
	let out = Array.isArray(visits) ? visits : [];
	for (const e of events) {
		if (e.type !== "enter") continue;
		const tags = Object.hasOwn(fences, e.fenceId) ? (fences[e.fenceId]?.tags ?? []) : [];
		out = recordVisit(out, e.fenceId, tags, e.at, now);
	}
	return out;
}

/** The person's data for audiences, from what their object stores. */
export function personAudienceData(
	profile: { attributes: Record<string, unknown>; locale: string | null; interests?: string[] } | null,
	crm: CrmAttributes,
	visits: VisitCounters,
	cart: CartState,
): PersonAudienceData {
	return {
		appAttributes: profile?.attributes ?? null,
		crmAttributes: crm,
		interests: profile?.interests ?? [],
		locale: profile?.locale ?? null,
		visits,
		purchases: cart.purchases,
	};
}

/** Facts for one decision (src/audience/evaluate.ts). */
export function factsOf(data: PersonAudienceData, now: number): AudienceFacts {
	return audienceFacts(data, now);
}
