import { z } from "zod";
import { TimeZone } from "./common.js";

export const CreateTenantSchema = z.strictObject({
	name: z.string().trim().min(1).max(200),
	timezone: TimeZone.optional(),
});
export type CreateTenant = z.infer<typeof CreateTenantSchema>;

export const TenantCreatedSchema = z.object({
	id: z.string(),
	name: z.string(),
	secretKey: z.string(),
	publishableKey: z.string(),
	webhookSecret: z.string(),
});

/** POST /v1/keys/rotate. */
export const RotateKeySchema = z.strictObject({
	kind: z.enum(["secret", "publishable", "webhook"]),
	/** How long the previous key keeps working, so clients can switch without failures; 0 refuses it at once. */
	graceSeconds: z
		.number()
		.int()
		.min(0)
		.max(7 * 86_400)
		.default(86_400),
});
