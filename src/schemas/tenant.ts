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
