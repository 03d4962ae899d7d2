/**
 * The example campaigns in examples/campaigns/ are checked with the service's own campaign schema
 * (the one POST /v1/campaigns validates with) and its push size check, so they cannot drift from
 * what the service accepts.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { worstCasePayloads } from "../../src/offers/render.js";
import { MAX_PAYLOAD_BYTES } from "../../src/push/payload.js";
import { CreateCampaignSchema } from "../../src/schemas/campaign.js";

const DIR = path.join(import.meta.dirname, "..", "..", "examples", "campaigns");
const files = readdirSync(DIR)
	.filter((f) => f.endsWith(".json"))
	.sort();

function load(file: string) {
	return CreateCampaignSchema.safeParse(JSON.parse(readFileSync(path.join(DIR, file), "utf8")));
}

describe("examples/campaigns", () => {
	it("holds the two documented examples, one per trigger type", () => {
		expect(files).toEqual(expect.arrayContaining(["beer-near-store.json", "chips-to-beer.json"]));
		const types = files.map((f) => {
			const parsed = load(f);
			return parsed.success ? parsed.data.trigger.type : "invalid";
		});
		expect(new Set(types)).toEqual(new Set(["geofence", "cart"]));
	});

	for (const file of files) {
		it(`${file} is a valid campaign`, () => {
			const parsed = load(file);
			// The issues name each bad field's path, so a drift says exactly what to fix.
			expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
			if (!parsed.success) return;
			const campaign = parsed.data;
			expect(campaign.id).toBe(path.basename(file, ".json"));
			for (const variant of campaign.variants) {
				for (const { tag, bytes } of worstCasePayloads(campaign.id ?? "example", variant)) {
					expect({ variant: variant.id, tag, fits: bytes <= MAX_PAYLOAD_BYTES }).toEqual({
						variant: variant.id,
						tag,
						fits: true,
					});
				}
			}
		});
	}

	it("refuses a campaign the schema must refuse (the check can fail)", () => {
		const bad = JSON.parse(readFileSync(path.join(DIR, "chips-to-beer.json"), "utf8"));
		bad.trigger.whenCartHas = {};
		bad.variants[0].title = "{{ unclosed";
		const parsed = CreateCampaignSchema.safeParse(bad);
		expect(parsed.success).toBe(false);
		const paths = parsed.success ? [] : parsed.error.issues.map((i) => i.path.join("."));
		expect(paths).toEqual(expect.arrayContaining(["trigger.whenCartHas", "variants.0.title"]));
	});
});
