/**
 * The live notification preview: the variant rendered by the service's own template engine
 * (src/offers/render.ts, bundled) over a sample person and store, and the worst-case payload
 * size the service checks when the campaign is saved. Pure.
 */
import { type RenderedOffer, renderOffer, worstCasePayloadBytes } from "../../src/offers/render.js";
import { TemplateError } from "../../src/offers/template.js";
import type { Variant } from "../../src/schemas/campaign.js";
import type { VariantBody } from "./campaign-form.js";
import { MAX_PAYLOAD_BYTES } from "./payload-limit.js";

export interface Sample {
	firstName: string;
	storeName: string;
	locale: string;
}

export type Preview =
	| { ok: true; offer: RenderedOffer; bytes: number; max: number; fits: boolean }
	| { ok: false; message: string };

/** What templates read for the sample person (the names the service passes, worker/shopper.ts). */
export function sampleVars(s: Sample): Record<string, unknown> {
	return {
		firstName: s.firstName,
		locale: s.locale,
		attributes: {},
		geofence: { id: "store-042", name: s.storeName, tags: ["grocery"], metadata: {} },
		cart: { items: [] },
		item: { sku: "chips-150g", category: "snacks", quantity: 1 },
		offer: { sku: "beer-6x25" },
	};
}

export function previewVariant(campaignId: string, v: VariantBody, s: Sample): Preview {
	const variant = v as unknown as Variant;
	try {
		const offer = renderOffer(variant, sampleVars(s), s.locale || null);
		const bytes = worstCasePayloadBytes(campaignId || "campaign", variant);
		return { ok: true, offer, bytes, max: MAX_PAYLOAD_BYTES, fits: bytes <= MAX_PAYLOAD_BYTES };
	} catch (e) {
		if (e instanceof TemplateError) return { ok: false, message: e.message };
		throw e;
	}
}
