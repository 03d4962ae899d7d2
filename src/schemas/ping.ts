import { z } from "zod";
import { ExternalId, Instant } from "./common.js";

export const PingSchema = z.strictObject({
	lat: z.number().min(-90).max(90),
	lng: z.number().min(-180).max(180),
	/** Horizontal accuracy radius in metres, as the OS reports it. */
	accuracy: z.number().min(0).max(100_000),
	timestamp: Instant,
});
export type PingInput = z.infer<typeof PingSchema>;

export const PingBatchSchema = z.strictObject({
	userId: ExternalId,
	deviceId: ExternalId.optional(),
	pings: z.array(PingSchema).min(1).max(100),
});
export type PingBatch = z.infer<typeof PingBatchSchema>;

export const GeofenceEventSchema = z.object({
	type: z.enum(["enter", "exit", "dwell"]),
	geofenceId: z.string(),
	at: z.string(),
	/** Extension, for a dwell: the threshold that fell due (a fence can have several, see campaigns). */
	dwellSeconds: z.number().int().optional(),
});

export const DecisionSchema = z.object({
	offerId: z.string().optional(),
	campaignId: z.string(),
	variantId: z.string().optional(),
	decision: z.enum(["sent", "holdout", "suppressed"]),
	reason: z.string().optional(),
});
export type DecisionOut = z.infer<typeof DecisionSchema>;

export const PingAnswerSchema = z.object({
	events: z.array(GeofenceEventSchema),
	offers: z.array(DecisionSchema),
	/** Extension: pings that changed no state, with why (index into the request's pings). */
	rejected: z.array(z.object({ index: z.number(), reason: z.string() })),
});
