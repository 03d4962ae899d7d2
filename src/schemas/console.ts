import { z } from "zod";

/** Longest console session, in seconds. */
export const CONSOLE_SESSION_MAX_SECONDS = 3600;

/** Body of POST /v1/console/sessions. */
export const CreateConsoleSessionSchema = z.strictObject({
	/** Shorter sessions for shared machines; at most one hour (the default). */
	ttlSeconds: z.number().int().min(60).max(CONSOLE_SESSION_MAX_SECONDS).default(CONSOLE_SESSION_MAX_SECONDS),
});

/** Answer of POST /v1/console/sessions. */
export const ConsoleSessionSchema = z.object({
	token: z.string().describe("cs_…: use as `Authorization: Bearer cs_…` wherever the secret key is accepted"),
	expiresAt: z.string(),
});
