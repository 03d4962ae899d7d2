/**
 * The campaign editor's form state and its conversion to and from the API's campaign body.
 * Pure (test/unit/console-campaign-form.test.ts). Lists are edited as comma-separated text;
 * numbers as text, so a half-typed value is the API's to judge, not silently dropped.
 */

export interface ActionBody {
	id: string;
	title: string;
	url?: string;
}

export interface VariantBody {
	id: string;
	weight: number;
	title: string;
	body: string;
	url?: string;
	icon?: string;
	image?: string;
	actions?: ActionBody[];
	localized?: unknown;
}

export interface ItemMatch {
	skus?: string[];
	categories?: string[];
}

export type TriggerBody =
	| {
			type: "geofence";
			on: "enter" | "dwell" | "exit";
			geofenceIds?: string[];
			tags?: string[];
			dwellSeconds?: number;
	  }
	| {
			type: "cart";
			whenCartHas: ItemMatch;
			unlessCartHas?: ItemMatch;
			offerSku?: string;
			suppressIfPurchasedWithinDays?: number;
	  };

/** A campaign as the API returns it (fields the console edits; others are kept as they are). */
export interface CampaignBody {
	id?: string;
	name: string;
	status: "draft" | "active" | "paused" | "archived";
	priority: number;
	trigger: TriggerBody;
	variants: VariantBody[];
	holdoutPercent: number;
	ttlSeconds: number;
	cooldownSeconds: number;
	startsAt: string | null;
	endsAt: string | null;
	ignoreCaps?: boolean;
	[k: string]: unknown;
}

export interface ActionDraft {
	id: string;
	title: string;
	url: string;
}

export interface VariantDraft {
	id: string;
	weight: string;
	title: string;
	body: string;
	url: string;
	actions: ActionDraft[];
	/** `localized` as JSON text (`{"fr": {"title", "body"}}`); "" for none. */
	localized: string;
	/** Fields the form does not edit (icon, image…), sent back unchanged. */
	rest: Record<string, unknown>;
}

export interface CampaignDraft {
	id: string;
	name: string;
	status: CampaignBody["status"];
	priority: string;
	triggerType: "geofence" | "cart";
	on: "enter" | "dwell" | "exit";
	geofenceIds: string;
	tags: string;
	dwellSeconds: string;
	whenSkus: string;
	whenCategories: string;
	unlessSkus: string;
	unlessCategories: string;
	offerSku: string;
	suppressDays: string;
	holdoutPercent: string;
	ttlSeconds: string;
	cooldownSeconds: string;
	/** `datetime-local` values, in the browser's time zone. */
	startsAt: string;
	endsAt: string;
	ignoreCaps: boolean;
	/** `audience` as JSON text; "" for everyone. */
	audience: string;
	variants: VariantDraft[];
	/** Top-level fields the form does not edit (audience, pressure, offerSku…), sent back unchanged. */
	rest: Record<string, unknown>;
}

export function newVariant(id: string): VariantDraft {
	return { id, weight: "50", title: "", body: "", url: "", actions: [], localized: "", rest: {} };
}

export function emptyDraft(): CampaignDraft {
	return {
		id: "",
		name: "",
		status: "draft",
		priority: "0",
		triggerType: "geofence",
		on: "enter",
		geofenceIds: "",
		tags: "",
		dwellSeconds: "",
		whenSkus: "",
		whenCategories: "",
		unlessSkus: "",
		unlessCategories: "",
		offerSku: "",
		suppressDays: "",
		holdoutPercent: "10",
		ttlSeconds: "1800",
		cooldownSeconds: "86400",
		startsAt: "",
		endsAt: "",
		ignoreCaps: false,
		audience: "",
		variants: [{ ...newVariant("a"), weight: "100" }],
		rest: {},
	};
}

const list = (s: string) =>
	s
		.split(",")
		.map((x) => x.trim())
		.filter(Boolean);
const joined = (xs: readonly string[] | undefined) => (xs ?? []).join(", ");

/** A number when the text is one, else the text (the API then names the field). */
function num(s: string): number | string {
	const v = s.trim();
	return v !== "" && Number.isFinite(Number(v)) ? Number(v) : v;
}

/** `2026-05-01T09:30` (local) to ISO 8601; "" to null. */
export function fromLocalInput(s: string): string | null {
	if (!s) return null;
	const d = new Date(s);
	return Number.isNaN(d.getTime()) ? s : d.toISOString();
}

/** ISO 8601 to a `datetime-local` value in the browser's zone. */
export function toLocalInput(iso: string | null): string {
	if (!iso) return "";
	const d = new Date(iso);
	if (Number.isNaN(d.getTime())) return "";
	const pad = (n: number) => String(n).padStart(2, "0");
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function match(skus: string, categories: string): ItemMatch {
	const m: ItemMatch = {};
	if (list(skus).length) m.skus = list(skus);
	if (list(categories).length) m.categories = list(categories);
	return m;
}

const EDITED_TOP = new Set([
	"id",
	"name",
	"status",
	"priority",
	"trigger",
	"variants",
	"holdoutPercent",
	"ttlSeconds",
	"cooldownSeconds",
	"startsAt",
	"endsAt",
	"ignoreCaps",
	"audience",
]);
const EDITED_VARIANT = new Set(["id", "weight", "title", "body", "url", "actions", "localized"]);
/** Stored-only fields the API returns but does not take back. */
const READ_ONLY = new Set(["createdAt", "updatedAt", "version"]);

export function toDraft(c: CampaignBody): CampaignDraft {
	const d = emptyDraft();
	const tr = c.trigger;
	const rest: Record<string, unknown> = {};
	for (const [k, v] of Object.entries(c)) if (!EDITED_TOP.has(k) && !READ_ONLY.has(k)) rest[k] = v;
	return {
		...d,
		id: c.id ?? "",
		name: c.name,
		status: c.status,
		priority: String(c.priority),
		triggerType: tr.type,
		on: tr.type === "geofence" ? tr.on : "enter",
		geofenceIds: tr.type === "geofence" ? joined(tr.geofenceIds) : "",
		tags: tr.type === "geofence" ? joined(tr.tags) : "",
		dwellSeconds: tr.type === "geofence" && tr.dwellSeconds !== undefined ? String(tr.dwellSeconds) : "",
		whenSkus: tr.type === "cart" ? joined(tr.whenCartHas.skus) : "",
		whenCategories: tr.type === "cart" ? joined(tr.whenCartHas.categories) : "",
		unlessSkus: tr.type === "cart" ? joined(tr.unlessCartHas?.skus) : "",
		unlessCategories: tr.type === "cart" ? joined(tr.unlessCartHas?.categories) : "",
		offerSku: tr.type === "cart" ? (tr.offerSku ?? "") : "",
		suppressDays:
			tr.type === "cart" && tr.suppressIfPurchasedWithinDays !== undefined
				? String(tr.suppressIfPurchasedWithinDays)
				: "",
		holdoutPercent: String(c.holdoutPercent),
		ttlSeconds: String(c.ttlSeconds),
		cooldownSeconds: String(c.cooldownSeconds),
		startsAt: toLocalInput(c.startsAt),
		endsAt: toLocalInput(c.endsAt),
		ignoreCaps: c.ignoreCaps ?? false,
		audience: c.audience ? JSON.stringify(c.audience, null, 2) : "",
		variants: c.variants.map((v) => {
			const vr: Record<string, unknown> = {};
			for (const [k, x] of Object.entries(v)) if (!EDITED_VARIANT.has(k)) vr[k] = x;
			return {
				id: v.id,
				weight: String(v.weight),
				title: v.title,
				body: v.body,
				url: v.url ?? "",
				actions: (v.actions ?? []).map((a) => ({ id: a.id, title: a.title, url: a.url ?? "" })),
				localized: v.localized ? JSON.stringify(v.localized, null, 2) : "",
				rest: vr,
			};
		}),
		rest,
	};
}

/** The variant as the API (and the template renderer) sees it. */
export function variantBody(v: VariantDraft): VariantBody {
	const out: VariantBody = {
		...v.rest,
		id: v.id.trim(),
		weight: num(v.weight) as number,
		title: v.title,
		body: v.body,
	};
	if (v.url.trim()) out.url = v.url.trim();
	if (v.localized.trim()) out.localized = jsonOrText(v.localized);
	if (v.actions.length)
		out.actions = v.actions.map((a) => ({
			id: a.id.trim(),
			title: a.title,
			...(a.url.trim() ? { url: a.url.trim() } : {}),
		}));
	return out;
}

/**
 * The body for `POST /v1/campaigns` (with `id` when given) or, with `forPatch`, for
 * `PATCH /v1/campaigns/{id}` (no id). Field paths match the API's, so a 422's `errors[].path`
 * lands on the field that caused it.
 */
export function toBody(d: CampaignDraft, forPatch = false): Record<string, unknown> {
	let trigger: TriggerBody | Record<string, unknown>;
	if (d.triggerType === "geofence") {
		const g: Record<string, unknown> = { type: "geofence", on: d.on };
		if (list(d.geofenceIds).length) g.geofenceIds = list(d.geofenceIds);
		if (list(d.tags).length) g.tags = list(d.tags);
		if (d.on === "dwell" && d.dwellSeconds.trim()) g.dwellSeconds = num(d.dwellSeconds);
		trigger = g;
	} else {
		const c: Record<string, unknown> = { type: "cart", whenCartHas: match(d.whenSkus, d.whenCategories) };
		const unless = match(d.unlessSkus, d.unlessCategories);
		if (unless.skus || unless.categories) c.unlessCartHas = unless;
		if (d.offerSku.trim()) c.offerSku = d.offerSku.trim();
		if (d.suppressDays.trim()) c.suppressIfPurchasedWithinDays = num(d.suppressDays);
		trigger = c;
	}
	const body: Record<string, unknown> = {
		...d.rest,
		name: d.name,
		status: d.status,
		priority: num(d.priority),
		trigger,
		variants: d.variants.map(variantBody),
		holdoutPercent: num(d.holdoutPercent),
		ttlSeconds: num(d.ttlSeconds),
		cooldownSeconds: num(d.cooldownSeconds),
		startsAt: fromLocalInput(d.startsAt),
		endsAt: fromLocalInput(d.endsAt),
		ignoreCaps: d.ignoreCaps,
		audience: d.audience.trim() ? jsonOrText(d.audience) : null,
	};
	if (!forPatch && d.id.trim()) body.id = d.id.trim();
	return body;
}

/** Parsed JSON, or the text itself when it is not JSON (the API then names the field). */
export function jsonOrText(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return text;
	}
}

/** The JSON fields of a draft that do not parse, by API path, with the parser's message. */
export function jsonErrors(d: CampaignDraft): Map<string, string> {
	const out = new Map<string, string>();
	const check = (path: string, text: string) => {
		if (!text.trim()) return;
		try {
			JSON.parse(text);
		} catch (e) {
			out.set(path, `not JSON: ${(e as Error).message}`);
		}
	};
	check("audience", d.audience);
	d.variants.forEach((v, i) => {
		check(`variants.${i}.localized`, v.localized);
	});
	return out;
}
