/**
 * Events out: the types of what happens to a person, as the export and webhooks carry them.
 * zod is the one source of their shape (validation and the OpenAPI document).
 */
import { z } from "zod";

/** Every event type, in the API contract's order. */
export const EVENT_TYPES = [
	"geofence.entered",
	"geofence.exited",
	"geofence.dwelled",
	"offer.sent",
	"offer.suppressed",
	"offer.displayed",
	"offer.clicked",
	"cart.conversion",
] as const;

export const EventTypeSchema = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventTypeSchema>;

/**
 * What an event's `data` may hold: ids, names, reasons, durations and amounts. Never a
 * coordinate: nothing here can carry one (no free-form metadata, no fence geometry).
 */
export const EventDataSchema = z
	.object({
		geofenceId: z.string(),
		geofenceName: z.string(),
		visitSeconds: z.number().int().nonnegative(),
		dwellSeconds: z.number().int().nonnegative(),
		trigger: z.enum(["geofence", "cart"]),
		on: z.enum(["enter", "exit", "dwell"]),
		campaignId: z.string(),
		variantId: z.string(),
		offerId: z.string(),
		reason: z.string(),
		action: z.string(),
		cartEventId: z.string(),
		revenue: z.number(),
		holdout: z.boolean(),
		stale: z.boolean(),
		/** When a presence change happened (the ping's time; createdAt is when it was processed). */
		occurredAt: z.iso.datetime(),
	})
	.partial();
export type EventData = z.infer<typeof EventDataSchema>;

/** One event, as the export and webhooks send it. */
export const EventSchema = z.object({
	id: z.string(),
	type: EventTypeSchema,
	createdAt: z.iso.datetime(),
	userId: z.string(),
	data: EventDataSchema,
});
export type OutEvent = z.infer<typeof EventSchema>;

/** An event as the person's object keeps it until it reaches D1 and the webhook outboxes. */
export interface StoredEvent extends OutEvent {
	tenantId: string;
}
