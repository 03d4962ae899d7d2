import { z } from "zod";
import { PushSubscriptionSchema } from "../push/webpush.js";
import { ExternalId, SmallJsonObject, TimeZone } from "./common.js";

export const UserId = ExternalId;
export const DeviceId = ExternalId;

export const ConsentSchema = z.strictObject({ location: z.boolean(), push: z.boolean() });

export const PutUserSchema = z.strictObject({
	firstName: z.string().trim().min(1).max(100).optional(),
	locale: z
		.string()
		.regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, "expected a BCP 47 tag like fr-FR")
		.optional(),
	timezone: TimeZone.optional(),
	attributes: SmallJsonObject(4096).optional(),
	/** What the person asked to hear about, for campaigns' audiences. */
	interests: z.array(z.string().trim().min(1).max(64)).max(50).optional(),
	consent: ConsentSchema,
});
export type PutUser = z.infer<typeof PutUserSchema>;

export const PutDeviceSchema = z
	.strictObject({
		platform: z.enum(["web", "android", "ios"]),
		webPush: PushSubscriptionSchema.optional(),
		fcmToken: z.string().min(1).max(4096).optional(),
	})
	.superRefine((d, ctx) => {
		if (d.platform === "web" && !d.webPush) {
			ctx.addIssue({ code: "custom", path: ["webPush"], message: "required for platform web" });
		}
		if (d.platform !== "web" && d.webPush) {
			ctx.addIssue({ code: "custom", path: ["webPush"], message: "only for platform web" });
		}
	});
export type PutDevice = z.infer<typeof PutDeviceSchema>;

/** POST /v1/users/{userId}/tokens. */
export const MintTokenSchema = z.strictObject({
	ttlSeconds: z
		.number()
		.int()
		.min(60)
		.max(7 * 86_400)
		.default(86_400),
});
