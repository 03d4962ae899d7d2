/**
 * Outgoing webhooks: the API's schemas and how a delivery is signed. Signed exactly like the
 * incoming cart events (src/webhook/signature.ts): `X-Signature: t=<unix s>,v1=<hex
 * HMAC-SHA256(secret, "<t>.<body>")>`, so a retailer verifies both with the same code.
 */
import { z } from "zod";
import { Instant } from "../schemas/common.js";
import { signPayload } from "../webhook/signature.js";
import { EventTypeSchema } from "./types.js";

/** Most webhook endpoints a tenant may have. */
export const MAX_WEBHOOKS_PER_TENANT = 20;

/** POST /v1/webhooks. The URL is also checked by src/events/target.ts. */
export const CreateWebhookSchema = z.strictObject({
	url: z.string().min(1).max(2048),
	events: z
		.array(EventTypeSchema)
		.min(1)
		.max(8)
		.refine((a) => new Set(a).size === a.length, { message: "each event type at most once" }),
	description: z.string().max(200).optional(),
});
export type CreateWebhook = z.infer<typeof CreateWebhookSchema>;

/** POST /v1/webhooks/{id}/replay. */
export const ReplaySchema = z.strictObject({ since: Instant });

/** A webhook as listed (the secret is shown once, at creation, and never again). */
export const WebhookSchema = z.object({
	id: z.string(),
	url: z.string(),
	events: z.array(EventTypeSchema),
	description: z.string().nullable(),
	createdAt: z.iso.datetime(),
	status: z.enum(["active", "disabled"]),
	disabledAt: z.iso.datetime().nullable(),
	disabledReason: z.string().nullable(),
});

/** The answer to POST /v1/webhooks: the webhook and, this once, its signing secret. */
export const WebhookCreatedSchema = WebhookSchema.extend({ secret: z.string().startsWith("whsec_") });

/** One delivery attempt, or an event still waiting for its first. */
export const DeliverySchema = z.object({
	eventId: z.string(),
	eventType: EventTypeSchema,
	userId: z.string(),
	/** The endpoint's HTTP status, null when it was not reached (timeout, refused) or not yet tried. */
	status: z.number().int().nullable(),
	attempt: z.number().int().nonnegative(),
	at: z.iso.datetime().nullable(),
	outcome: z.enum(["delivered", "retrying", "pending", "gave_up", "disabled"]),
	nextRetryAt: z.iso.datetime().nullable(),
	error: z.string().nullable(),
});
export type Delivery = z.infer<typeof DeliverySchema>;

/** The headers of one delivery. `tSeconds` is the signing time in whole unix seconds. */
export async function deliveryHeaders(
	secret: string,
	body: string,
	eventId: string,
	tSeconds: number,
): Promise<Record<string, string>> {
	return {
		"content-type": "application/json",
		"user-agent": "edge-offers-webhooks/1",
		"x-event-id": eventId,
		"x-signature": await signPayload(secret, body, tSeconds),
	};
}
