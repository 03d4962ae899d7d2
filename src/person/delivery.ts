/**
 * Delivering an offer to the person's devices, as pure decisions: which copies go out (the one
 * place that chooses between Web Push and FCM), what each copy carries, and what the push
 * services' answers change (a gone subscription dropped, a retry scheduled, the offer's status:
 * the one outcome-to-status mapping, for first sends and retries alike). Sending is the shell's
 * (worker/person/deliver.ts).
 */
import type { RenderedOffer } from "../offers/render.js";
import type { FcmMessageInput } from "../push/fcm.js";
import { buildOfferPayload } from "../push/payload.js";
import { nextRetryAt } from "../push/retry.js";
import type { DeliveryMessage, Device, PendingDelivery, PersonState } from "./state.js";

/** What a push service answered for one copy. */
export type DeliveryOutcome =
	| { kind: "accepted" }
	| { kind: "gone" }
	| { kind: "retry"; retryAtMs: number | null }
	| { kind: "failed"; code: string };

/** pending: copies are being retried; expired: the TTL passed before any copy got through. */
export type OfferStatus = "pending" | "accepted" | "failed" | "gone" | "expired";

/** One copy to send: a device and the transport it is reached by. */
export interface DeliveryTarget {
	deviceId: string;
	transport: "web" | "fcm";
}

/** An offer decided and rendered, to send to its targets (links not signed yet: the shell signs them). */
export interface OfferToSend {
	offerId: string;
	campaignId: string;
	variantId: string;
	offer: RenderedOffer;
	expiresAt: number;
	ttlSeconds: number;
	topic: string;
	targets: DeliveryTarget[];
}

/** What came back for one copy: a first send (`first`) or a retry of a stored delivery. */
export interface DeliveryResult {
	copy: PendingDelivery;
	first: boolean;
	outcome: DeliveryOutcome;
	/** A draw in [0, 1) for the retry's jitter (randomness is an input). */
	jitter: number;
}

/**
 * The copies of an offer: one per device and transport, Web Push where the device has a
 * subscription, FCM where it has a token and FCM is configured.
 */
export function targetsOf(devices: Readonly<Record<string, Device>>, fcmEnabled: boolean): DeliveryTarget[] {
	const out: DeliveryTarget[] = [];
	for (const [deviceId, d] of Object.entries(devices)) {
		if (d.webPush) out.push({ deviceId, transport: "web" });
		if (d.fcmToken && fcmEnabled) out.push({ deviceId, transport: "fcm" });
	}
	return out;
}

/**
 * The message of each transport for an offer whose links are final (signed by the shell).
 *
 * @throws PushError when the Web Push payload would not fit one message
 */
export function deliveryMessages(
	send: OfferToSend,
	offer: RenderedOffer,
): Record<DeliveryTarget["transport"], DeliveryMessage> {
	const payload = buildOfferPayload({
		offerId: send.offerId,
		campaignId: send.campaignId,
		variantId: send.variantId,
		...offer,
		expiresAt: new Date(send.expiresAt).toISOString(),
	});
	const input: FcmMessageInput = {
		...offer,
		offerId: send.offerId,
		campaignId: send.campaignId,
		variantId: send.variantId,
		expiresAtMs: send.expiresAt,
		ttlSeconds: send.ttlSeconds,
		urgency: "high",
		topic: send.topic,
	};
	return { web: { transport: "web", payload }, fcm: { transport: "fcm", input } };
}

/** Seconds a copy may still live at `now` (0 or less: its offer expired, it is not sent). */
export function ttlLeft(copy: Pick<PendingDelivery, "expiresAt">, now: number): number {
	return Math.ceil((copy.expiresAt - now) / 1000);
}

/** What one copy's outcome says about its offer, when the copy is not retried. */
export function copyStatus(outcome: DeliveryOutcome): Exclude<OfferStatus, "pending"> {
	switch (outcome.kind) {
		case "accepted":
			return "accepted";
		case "retry":
			return "expired";
		case "gone":
			return "gone";
		default:
			return "failed";
	}
}

/**
 * An offer's status from its copies that ended and whether a copy is still being retried:
 * accepted once any copy got through, pending while one is retried, then expired (a retryable
 * answer with no time left), gone when every copy's device is gone, else failed.
 */
export function offerStatus(ended: readonly OfferStatus[], pending: boolean): OfferStatus {
	if (ended.includes("accepted")) return "accepted";
	if (pending) return "pending";
	if (ended.includes("expired")) return "expired";
	if (ended.every((s) => s === "gone")) return "gone";
	return "failed";
}

/** The status of one offer after a round of deliveries (null for a retry round: unchanged, still pending). */
export interface OfferStatusChange {
	offerId: string;
	status: OfferStatus | null;
	/** Copies attempted in this round. */
	attempts: number;
	/** From the offer's first send (its decision record is not written yet). */
	first: boolean;
}

/**
 * Applies a round of delivery results to the state (mutating `s`, a copy the core owns): a
 * gone subscription or token is dropped, a retryable answer is scheduled again while the offer
 * lives, and each offer's status is derived.
 */
export function applyDeliveries(
	s: PersonState,
	results: readonly DeliveryResult[],
	now: number,
): OfferStatusChange[] {
	const rounds = new Map<string, { ended: OfferStatus[]; attempts: number; first: boolean }>();
	for (const r of results) {
		const { copy, outcome } = r;
		const round = rounds.get(copy.offerId) ?? { ended: [], attempts: 0, first: r.first };
		rounds.set(copy.offerId, round);
		round.attempts += 1;
		const dev = Object.hasOwn(s.devices, copy.deviceId) ? s.devices[copy.deviceId] : undefined;
		if (outcome.kind === "gone" && dev) {
			// A new object, not a change to this one: the state a step was given is shared, not copied.
			s.devices = {
				...s.devices,
				[copy.deviceId]:
					copy.message.transport === "web" ? { ...dev, webPush: null } : { ...dev, fcmToken: null },
			};
		}
		if (outcome.kind === "retry") {
			// A first send schedules retry 1 and stores 0 retries made; a retry stores one more.
			const n = r.first ? 1 : copy.attempt + 1;
			const at = nextRetryAt(n, now, outcome.retryAtMs, copy.expiresAt, r.jitter);
			if (at !== null) {
				s.deliveries = [...s.deliveries, { ...copy, attempt: r.first ? 0 : copy.attempt + 1, nextAt: at }];
				continue;
			}
		}
		round.ended.push(copyStatus(outcome));
	}
	return [...rounds].map(([offerId, round]) => {
		const status = offerStatus(
			round.ended,
			s.deliveries.some((d) => d.offerId === offerId),
		);
		return {
			offerId,
			status: round.first || status !== "pending" ? status : null,
			attempts: round.attempts,
			first: round.first,
		};
	});
}
