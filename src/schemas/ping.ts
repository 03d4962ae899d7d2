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
	/** The same batch id again for the same person answers as the first time and applies nothing. */
	batchId: z
		.string()
		.regex(/^[A-Za-z0-9._:-]{1,64}$/, "1 to 64 of A-Z a-z 0-9 . _ : -")
		.optional(),
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

/**
 * With a user token: the person's own events and offers, and the pings that changed no
 * state with why. With the publishable key (anyone may hold it) only `received`: an answer
 * that varied with the person's history would tell a stranger where they were.
 */
export const PingAnswerSchema = z.object({
	received: z.number().int(),
	events: z.array(GeofenceEventSchema).optional(),
	offers: z.array(DecisionSchema).optional(),
	/** Extension: pings that changed no state, with why (index into the request's pings). */
	rejected: z.array(z.object({ index: z.number(), reason: z.string() })).optional(),
});
