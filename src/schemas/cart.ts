import { z } from "zod";
import { ExternalId, Instant } from "./common.js";

const Sku = z.string().min(1).max(128);

export const CartItemSchema = z.strictObject({
	sku: Sku,
	category: z.string().min(1).max(128).optional(),
	/** Extension: a display name for templates (`{{ item.name }}`). */
	name: z.string().min(1).max(200).optional(),
	quantity: z.number().int().min(1).max(10_000).optional(),
	/** Unit price, for revenue attribution. */
	price: z.number().min(0).max(1e9).optional(),
});

export const CartEventSchema = z
	.strictObject({
		eventId: z
			.string()
			.min(1)
			.max(128)
			.regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces"),
		userId: ExternalId,
		type: z.enum(["item_added", "item_removed", "cart_cleared", "checkout", "purchase"]),
		items: z.array(CartItemSchema).max(500),
		occurredAt: Instant.optional(),
	})
	.refine((e) => e.type === "cart_cleared" || e.items.length > 0, {
		path: ["items"],
		message: "at least one item, except for cart_cleared",
	});
export type CartEventInput = z.infer<typeof CartEventSchema>;

export const RotateWebhookSecretSchema = z.strictObject({
	/** How long the previous secret keeps working, so senders can switch without failures. */
	graceSeconds: z
		.number()
		.int()
		.min(0)
		.max(7 * 86_400)
		.default(86_400),
});
