/** The campaign editor's form <-> API body (console/src/campaign-form.ts) and preview (preview.ts). */
import { describe, expect, it } from "vitest";
import {
	type CampaignBody,
	emptyDraft,
	jsonErrors,
	newVariant,
	toBody,
	toDraft,
} from "../../console/src/campaign-form.js";
import { MAX_PAYLOAD_BYTES as CONSOLE_MAX } from "../../console/src/payload-limit.js";
import { previewVariant } from "../../console/src/preview.js";
import { MAX_PAYLOAD_BYTES } from "../../src/push/payload.js";
import { CreateCampaignSchema, PatchCampaignSchema } from "../../src/schemas/campaign.js";

const stored: CampaignBody = {
	id: "beer",
	name: "Cold beer",
	status: "active",
	priority: 10,
	trigger: { type: "geofence", on: "dwell", tags: ["grocery"], geofenceIds: ["s1", "s2"], dwellSeconds: 120 },
	variants: [
		{
			id: "a",
			weight: 50,
			title: '{{ firstName | default: "Hi" }}, beer is -20%',
			body: "At {{ geofence.name }}",
			url: "https://shop.example/beer",
			actions: [{ id: "add", title: "Add", url: "https://shop.example/add" }],
			icon: "https://shop.example/i.png",
			localized: { fr: { title: "{{ firstName }}, bière -20 %", body: "À {{ geofence.name }}" } },
		},
		{ id: "b", weight: 50, title: "Beer", body: "-20%" },
	],
	holdoutPercent: 10,
	ttlSeconds: 1800,
	cooldownSeconds: 86400,
	startsAt: "2026-06-01T08:00:00.000Z",
	endsAt: null,
	ignoreCaps: false,
	offerSku: null,
	audience: { attribute: "tier", in: ["gold"] },
};

describe("campaign form", () => {
	it("round-trips a stored campaign, keeping fields the form does not edit", () => {
		const body = toBody(toDraft(stored));
		expect(body).toEqual(stored);
		// What the form sends is what the API accepts.
		expect(CreateCampaignSchema.safeParse(body).success).toBe(true);
		const patch = toBody(toDraft(stored), true);
		expect(patch.id).toBeUndefined();
		const { audience: _a, ...patchable } = patch;
		expect(PatchCampaignSchema.safeParse(patchable).success).toBe(true);
	});

	it("builds a cart trigger with exclusions and purchase suppression", () => {
		const d = {
			...emptyDraft(),
			name: "Chips -> beer",
			triggerType: "cart" as const,
			whenSkus: "chips-150g, chips-300g",
			whenCategories: "",
			unlessCategories: "beer",
			offerSku: "beer-6x25",
			suppressDays: "7",
		};
		d.variants = [
			{
				...newVariant("a"),
				weight: "100",
				title: "Beer?",
				body: "-20%",
				url: "",
				actions: [],
				rest: {},
			},
		];
		const body = toBody(d);
		expect(body.trigger).toEqual({
			type: "cart",
			whenCartHas: { skus: ["chips-150g", "chips-300g"] },
			unlessCartHas: { categories: ["beer"] },
			offerSku: "beer-6x25",
			suppressIfPurchasedWithinDays: 7,
		});
		expect(CreateCampaignSchema.safeParse(body).success).toBe(true);
	});

	it("edits the audience and translations as JSON, refusing text that is not JSON before sending", () => {
		const d = toDraft(stored);
		expect(JSON.parse(d.audience)).toEqual(stored.audience);
		expect(JSON.parse(d.variants[0]?.localized ?? "")).toEqual(stored.variants[0]?.localized);
		expect(jsonErrors(d).size).toBe(0);
		const broken = { ...d, audience: "{nope", variants: d.variants.map((v) => ({ ...v, localized: "[" })) };
		expect([...jsonErrors(broken).keys()]).toEqual([
			"audience",
			"variants.0.localized",
			"variants.1.localized",
		]);
		// An emptied audience is sent as null: everyone again.
		expect(toBody({ ...d, audience: "  " }).audience).toBeNull();
	});

	it("leaves bad numbers as text, so the API names the field instead of a silent default", () => {
		const d = { ...emptyDraft(), name: "x", holdoutPercent: "ten", tags: "grocery" };
		const body = toBody(d);
		expect(body.holdoutPercent).toBe("ten");
		const r = CreateCampaignSchema.safeParse(body);
		expect(r.success).toBe(false);
		expect(r.error?.issues.map((i) => i.path.join("."))).toContain("holdoutPercent");
	});
});

describe("preview", () => {
	const sample = { firstName: "Camille", storeName: "Paris Rivoli", locale: "fr" };
	const english = { ...sample, locale: "en" };

	it("renders the variant with the service's template engine over a sample person", () => {
		const p = previewVariant("beer", stored.variants[0] as never, english);
		expect(p.ok).toBe(true);
		if (!p.ok) return;
		expect(p.offer.title).toBe("Camille, beer is -20%");
		expect(p.offer.body).toBe("At Paris Rivoli");
		expect(p.offer.actions?.[0]?.title).toBe("Add");
		expect(p.fits).toBe(true);
		expect(p.bytes).toBeGreaterThan(300);
	});

	it("previews the translation the sample person's locale picks", () => {
		const fr = previewVariant("beer", stored.variants[0] as never, sample);
		expect(fr.ok && fr.offer.title).toBe("Camille, bière -20 %");
		const de = previewVariant("beer", stored.variants[0] as never, { ...sample, locale: "de" });
		expect(de.ok && de.offer.title).toBe("Camille, beer is -20%");
	});

	it("shows a template error instead of throwing", () => {
		const p = previewVariant("beer", { id: "a", weight: 1, title: "{{ firstName", body: "x" }, sample);
		expect(p.ok).toBe(false);
	});

	it("measures the worst case against the Web Push limit the service uses", () => {
		expect(CONSOLE_MAX).toBe(MAX_PAYLOAD_BYTES);
		const long = { id: "a", weight: 1, title: "{{ firstName }}".repeat(12), body: "x".repeat(1000) };
		const p = previewVariant("c", long, sample);
		expect(p.ok && p.bytes).toBeGreaterThan(1000);
		const huge = {
			...long,
			body: "{{ firstName }}".repeat(60),
			actions: [{ id: "a1", title: "{{ firstName }}" }],
		};
		const q = previewVariant("c", huge, sample);
		expect(q.ok && !q.fits).toBe(true);
	});
});
