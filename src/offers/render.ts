import { pickLocalized } from "../audience/locale.js";
import { BoundedCache } from "../lib/cache.js";
import type { Variant } from "../schemas/campaign.js";
import { parseTemplate, renderTemplate, renderWorstCase, type Template } from "./template.js";

/** Parsed templates by source: campaigns are few and sent often. */
const cache = new BoundedCache<string, Template>(2000);

function compiled(source: string): Template {
	return cache.getOrCreate(source, parseTemplate);
}

/** The personalized texts and links of one variant. */
export interface RenderedOffer {
	title: string;
	body: string;
	url?: string;
	icon?: string;
	image?: string;
	actions?: { id: string; title: string; url?: string }[];
}

/**
 * Renders a variant's templates over the person, the fence and the cart, in the person's
 * language when the variant has it (`localized`: exact tag, then its language, else the
 * variant's own texts).
 */
export function renderOffer(
	base: Variant,
	vars: Record<string, unknown>,
	locale: string | null = null,
): RenderedOffer {
	const variant = localizedVariant(base, locale);
	const out: RenderedOffer = {
		title: renderTemplate(compiled(variant.title), vars),
		body: renderTemplate(compiled(variant.body), vars),
	};
	if (variant.url) out.url = variant.url;
	if (variant.icon) out.icon = variant.icon;
	if (variant.image) out.image = variant.image;
	if (variant.actions?.length) {
		out.actions = variant.actions.map((a) => ({
			id: a.id,
			title: renderTemplate(compiled(a.title), vars),
			...(a.url ? { url: a.url } : {}),
		}));
	}
	return out;
}

/** The variant with the texts, link and actions of its translation for `locale`, if any. */
export function localizedVariant(variant: Variant, locale: string | null): Variant {
	const picked = pickLocalized(variant.localized, locale);
	if (!picked) return variant;
	const { title, body, url, actions } = picked.entry;
	return { ...variant, title, body, url: url ?? variant.url, actions: actions ?? variant.actions };
}

/** Longest URL a payload can carry for one link: a signed click link through the service. */
export const MAX_LINK_CHARS = 320;

/**
 * The largest plaintext payload of the variant in each language it has: its own texts (`tag`
 * null) and every translation. Checked when the campaign is saved.
 */
export function worstCasePayloads(
	campaignId: string,
	variant: Variant,
): { tag: string | null; bytes: number }[] {
	return [
		{ tag: null, bytes: worstCasePayloadBytes(campaignId, variant) },
		...Object.keys(variant.localized ?? {}).map((tag) => ({
			tag,
			bytes: worstCasePayloadBytes(campaignId, localizedVariant(variant, tag)),
		})),
	];
}

/**
 * The largest plaintext payload any person could get from this variant's own texts (see
 * {@link worstCasePayloads} for its translations), in UTF-8 bytes: checked when the campaign
 * is saved, so a send never fails for size.
 */
export function worstCasePayloadBytes(campaignId: string, variant: Variant): number {
	const link = (url: string | undefined) =>
		url ? "x".repeat(Math.max(url.length, MAX_LINK_CHARS)) : undefined;
	const json = JSON.stringify({
		offerId: "00000000-0000-0000-0000-000000000000",
		campaignId,
		variantId: variant.id,
		title: renderWorstCase(compiled(variant.title)),
		body: renderWorstCase(compiled(variant.body)),
		url: link(variant.url),
		actions: variant.actions?.map((a) => ({
			id: a.id,
			title: renderWorstCase(compiled(a.title)),
			url: link(a.url),
		})),
		icon: variant.icon,
		image: variant.image,
		expiresAt: "2026-01-01T00:00:00.000Z",
	});
	return new TextEncoder().encode(json).byteLength;
}
