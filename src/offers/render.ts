import type { Variant } from "../schemas/campaign.js";
import { parseTemplate, renderTemplate, type Template } from "./template.js";

/** Parsed templates by source: campaigns are few and sent often. */
const cache = new Map<string, Template>();
const CACHE_MAX = 2000;

function compiled(source: string): Template {
	let t = cache.get(source);
	if (!t) {
		t = parseTemplate(source);
		if (cache.size >= CACHE_MAX) cache.clear();
		cache.set(source, t);
	}
	return t;
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

/** Renders a variant's templates over the person, the fence and (later) the cart. */
export function renderOffer(variant: Variant, vars: Record<string, unknown>): RenderedOffer {
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
