/**
 * The shell's half of delivering offers (src/person/delivery.ts decides): signs an offer's
 * links, then sends each copy by its transport, one function for first sends and retries alike.
 * Returns what each push service answered, to step back into the person core.
 */
import { clickUrl, signClick } from "../../src/offers/click.js";
import type { RenderedOffer } from "../../src/offers/render.js";
import {
	type DeliveryOutcome,
	type DeliveryResult,
	deliveryMessages,
	type OfferToSend,
	ttlLeft,
} from "../../src/person/delivery.js";
import type { Device, PendingDelivery } from "../../src/person/state.js";
import { publicBaseUrl } from "../config.js";
import { clickKey } from "../crypto.js";
import { fcmClient, sendFcm } from "../fcm.js";
import { sendWebPush } from "../push.js";

/**
 * Replaces the offer's links with signed click links through the service, which record the
 * click and redirect (the real targets are in the offer's record, for the redirect). Without a
 * known public origin the links go out as they are.
 */
export async function withClickLinks(
	env: Env,
	offerId: string,
	offer: RenderedOffer,
): Promise<RenderedOffer> {
	// Never the request's Host: a client chooses that header, and would choose where
	// signed links point. Without a configured origin, links go out untracked.
	const base = publicBaseUrl(env);
	if (!base) return offer;
	const key = await clickKey(env);
	const link = async (action: string | null) =>
		clickUrl(base, offerId, action, await signClick(key, offerId, action));
	return {
		...offer,
		...(offer.url ? { url: await link(null) } : {}),
		...(offer.actions
			? {
					actions: await Promise.all(
						offer.actions.map(async (a) => ({ ...a, ...(a.url ? { url: await link(a.id) } : {}) })),
					),
				}
			: {}),
	};
}

/**
 * Sends one copy to its device by its transport. A copy whose offer expired is not sent (a
 * retryable answer with no time left); a device, subscription or token gone meanwhile is `gone`.
 */
export async function sendCopy(
	env: Env,
	devices: Readonly<Record<string, Device>>,
	copy: PendingDelivery,
	now: number,
): Promise<DeliveryOutcome> {
	const dev = Object.hasOwn(devices, copy.deviceId) ? devices[copy.deviceId] : undefined;
	const ttlSeconds = ttlLeft(copy, now);
	if (ttlSeconds <= 0) return { kind: "retry", retryAtMs: null };
	if (copy.message.transport === "web")
		return dev?.webPush
			? sendWebPush(env, dev.webPush, copy.message.payload, { ttlSeconds, topic: copy.topic, now })
			: { kind: "gone" };
	const fcm = fcmClient(env);
	return dev?.fcmToken && fcm
		? sendFcm(fcm, dev.fcmToken, { ...copy.message.input, ttlSeconds })
		: { kind: "gone" };
}

/** Sends new offers to their targets and stored copies that fell due; every copy's result. */
export async function deliverAll(
	env: Env,
	devices: Readonly<Record<string, Device>>,
	sends: readonly OfferToSend[],
	retries: readonly PendingDelivery[],
	now: number,
): Promise<DeliveryResult[]> {
	const copies: { copy: PendingDelivery; first: boolean }[] = retries.map((copy) => ({ copy, first: false }));
	for (const send of sends) {
		const messages = deliveryMessages(send, await withClickLinks(env, send.offerId, send.offer));
		for (const t of send.targets)
			copies.push({
				first: true,
				copy: {
					offerId: send.offerId,
					deviceId: t.deviceId,
					message: messages[t.transport],
					topic: send.topic,
					expiresAt: send.expiresAt,
					attempt: 0,
					nextAt: now,
				},
			});
	}
	return Promise.all(
		copies.map(async ({ copy, first }) => ({
			copy,
			first,
			outcome: await sendCopy(env, devices, copy, now),
			jitter: Math.random(),
		})),
	);
}
