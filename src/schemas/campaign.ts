import { z } from "zod";
import { AudienceSchema, type Condition, LocaleTag } from "../audience/condition.js";
import { parseTemplate, TemplateError } from "../offers/template.js";
import { type PressureOverride, PressureOverrideSchema } from "../pressure/policy.js";
import { ExternalId, Instant } from "./common.js";

/** A title or body template: checked to parse when the campaign is saved, not at send time. */
const TemplateString = (max: number) =>
	z
		.string()
		.min(1)
		.max(max)
		.superRefine((s, ctx) => {
			try {
				parseTemplate(s);
			} catch (e) {
				if (!(e instanceof TemplateError)) throw e;
				ctx.addIssue({ code: "custom", message: `template: ${e.message}`, params: { code: e.code } });
			}
		});

const HttpsUrl = z.url({ protocol: /^https?$/ }).max(2048);

const ActionSchema = z.strictObject({
	id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
	title: TemplateString(64),
	url: HttpsUrl.optional(),
});

/** One translation of a variant (audiences issue): picked by the person's locale. */
export const LocalizedContentSchema = z.strictObject({
	title: TemplateString(200),
	body: TemplateString(1000),
	url: HttpsUrl.optional(),
	actions: z.array(ActionSchema).max(2).optional(),
});

export const VariantSchema = z.strictObject({
	id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
	weight: z.number().int().min(0).max(10_000).default(1),
	title: TemplateString(200),
	body: TemplateString(1000),
	url: HttpsUrl.optional(),
	icon: HttpsUrl.optional(),
	image: HttpsUrl.optional(),
	actions: z.array(ActionSchema).max(2).optional(),
	/** Translations by language tag: exact tag first, then its language, else the fields above. */
	localized: z
		.record(LocaleTag, LocalizedContentSchema)
		.refine((o) => Object.keys(o).length <= 50, { message: "at most 50 translations" })
		.optional(),
});
export type Variant = z.infer<typeof VariantSchema>;

const ItemMatch = z
	.strictObject({
		skus: z.array(z.string().min(1).max(128)).max(1000).optional(),
		categories: z.array(z.string().min(1).max(128)).max(1000).optional(),
	})
	.refine((m) => (m.skus?.length ?? 0) + (m.categories?.length ?? 0) > 0, {
		message: "name at least one sku or category",
	});

export const GeofenceTriggerSchema = z
	.strictObject({
		type: z.literal("geofence"),
		on: z.enum(["enter", "dwell", "exit"]),
		geofenceIds: z.array(ExternalId).max(10_000).optional(),
		tags: z.array(z.string().min(1).max(64)).max(32).optional(),
		/**
		 * For `on: "dwell"`: seconds inside before this campaign fires (once a visit). Without it the
		 * campaign fires at the fence's own `dwellSeconds`, and never for a fence without one.
		 */
		dwellSeconds: z.number().int().min(1).max(86_400).optional(),
		/** Only for people whose online cart has one of these (combined signals, cart issue). */
		requiresCart: ItemMatch.optional(),
	})
	.refine((t) => t.on === "dwell" || t.dwellSeconds === undefined, {
		path: ["dwellSeconds"],
		message: "only for on: dwell",
	});

export const CartTriggerSchema = z.strictObject({
	type: z.literal("cart"),
	whenCartHas: ItemMatch,
	unlessCartHas: ItemMatch.optional(),
	offerSku: z.string().min(1).max(128).optional(),
	/** Also suppress when anything of this category was bought recently. */
	offerCategory: z.string().min(1).max(128).optional(),
	suppressIfPurchasedWithinDays: z.number().int().min(0).max(365).optional(),
});

export const TriggerSchema = z.discriminatedUnion("type", [GeofenceTriggerSchema, CartTriggerSchema]);
export type Trigger = z.infer<typeof TriggerSchema>;

const CampaignFields = {
	name: z.string().trim().min(1).max(200),
	status: z.enum(["draft", "active", "paused", "archived"]),
	priority: z.number().int().min(-1_000_000).max(1_000_000),
	trigger: TriggerSchema,
	variants: z
		.array(VariantSchema)
		.min(1)
		.max(10)
		.refine((vs) => new Set(vs.map((v) => v.id)).size === vs.length, {
			message: "variant ids must be unique",
		})
		.refine((vs) => vs.some((v) => v.weight > 0), { message: "at least one variant needs a weight above 0" }),
	holdoutPercent: z.number().min(0).max(100),
	ttlSeconds: z
		.number()
		.int()
		.min(60)
		.max(28 * 86_400),
	cooldownSeconds: z
		.number()
		.int()
		.min(0)
		.max(365 * 86_400),
	startsAt: Instant.nullable(),
	endsAt: Instant.nullable(),
	/** Transactional: exempt from caps, minimum interval and quiet hours, never from consent. */
	ignoreCaps: z.boolean(),
	/** The product this offer promotes; purchase memory suppresses it (cart issue). */
	offerSku: z.string().min(1).max(128).nullable(),
	/** Per-campaign override of the tenant's pressure policy (caps, minimum interval, quiet hours). */
	pressure: PressureOverrideSchema.optional(),
	/** Who the campaign is for (src/audience/condition.ts); null or absent: everyone. */
	audience: AudienceSchema.nullable().optional(),
};

/** Body of POST /v1/campaigns: defaults filled in, id generated when absent. */
export const CreateCampaignSchema = z
	.strictObject({
		id: ExternalId.optional(),
		name: CampaignFields.name,
		status: CampaignFields.status.default("active"),
		priority: CampaignFields.priority.default(0),
		trigger: CampaignFields.trigger,
		variants: CampaignFields.variants,
		holdoutPercent: CampaignFields.holdoutPercent.default(0),
		ttlSeconds: CampaignFields.ttlSeconds.default(1800),
		cooldownSeconds: CampaignFields.cooldownSeconds.default(86_400),
		startsAt: CampaignFields.startsAt.default(null),
		endsAt: CampaignFields.endsAt.default(null),
		ignoreCaps: CampaignFields.ignoreCaps.default(false),
		offerSku: CampaignFields.offerSku.default(null),
		pressure: CampaignFields.pressure,
		audience: CampaignFields.audience,
	})
	.refine((c) => c.startsAt === null || c.endsAt === null || c.startsAt < c.endsAt, {
		path: ["endsAt"],
		message: "must be after startsAt",
	});

/** Body of PATCH /v1/campaigns/{id}: any top-level field but the id. */
export const PatchCampaignSchema = z.strictObject({
	name: CampaignFields.name.optional(),
	status: CampaignFields.status.optional(),
	priority: CampaignFields.priority.optional(),
	trigger: CampaignFields.trigger.optional(),
	variants: CampaignFields.variants.optional(),
	holdoutPercent: CampaignFields.holdoutPercent.optional(),
	ttlSeconds: CampaignFields.ttlSeconds.optional(),
	cooldownSeconds: CampaignFields.cooldownSeconds.optional(),
	startsAt: CampaignFields.startsAt.optional(),
	endsAt: CampaignFields.endsAt.optional(),
	ignoreCaps: CampaignFields.ignoreCaps.optional(),
	offerSku: CampaignFields.offerSku.optional(),
	pressure: CampaignFields.pressure,
	audience: CampaignFields.audience,
});

/** A stored campaign (instants as epoch ms). */
export interface Campaign {
	id: string;
	name: string;
	status: "draft" | "active" | "paused" | "archived";
	priority: number;
	trigger: Trigger;
	variants: Variant[];
	holdoutPercent: number;
	ttlSeconds: number;
	cooldownSeconds: number;
	startsAt: number | null;
	endsAt: number | null;
	ignoreCaps: boolean;
	offerSku: string | null;
	pressure?: PressureOverride | undefined;
	audience?: Condition | null | undefined;
}

/** How a campaign is stored and shown: instants as ISO strings. */
export const StoredCampaignSchema = z.strictObject({
	id: ExternalId,
	...CampaignFields,
});
