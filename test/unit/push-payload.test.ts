import { describe, expect, it } from "vitest";
import { buildOfferPayload, MAX_PAYLOAD_BYTES, PushError, pushTopic } from "../../src/push/payload.js";

const base = {
	offerId: "off_01",
	campaignId: "beer-near-store",
	title: "Ada, beer is -20%",
	body: "",
	expiresAt: "2026-11-20T10:30:00.000Z",
};

const bytes = (text: string) => new TextEncoder().encode(text).byteLength;

/** A body that makes the payload exactly `target` UTF-8 bytes, built from 3- and 4-byte characters. */
function bodyFor(target: number): string {
	const room = target - bytes(buildOfferPayload(base));
	const emoji = "🍉".repeat(Math.floor(room / 4)); // 4 bytes, 2 UTF-16 units each
	const rest = room % 4;
	return emoji + (rest === 3 ? "€" : rest === 2 ? "é" : rest === 1 ? "a" : "");
}

function thrownCode(fn: () => unknown): string | undefined {
	try {
		fn();
	} catch (err) {
		return err instanceof PushError ? err.code : "not a PushError";
	}
	return undefined;
}

describe("buildOfferPayload", () => {
	it("serialises every field and omits the optional ones left out", () => {
		const full = JSON.parse(
			buildOfferPayload({
				...base,
				variantId: "a",
				body: "Two minutes away at Rivoli",
				url: "https://shop.example/beer",
				actions: [{ id: "add", title: "Add to cart", url: "https://shop.example/cart/add/beer" }],
				icon: "https://shop.example/icon.png",
				image: "https://shop.example/beer.jpg",
			}),
		);
		expect(full).toEqual({
			offerId: "off_01",
			campaignId: "beer-near-store",
			variantId: "a",
			title: "Ada, beer is -20%",
			body: "Two minutes away at Rivoli",
			url: "https://shop.example/beer",
			actions: [{ id: "add", title: "Add to cart", url: "https://shop.example/cart/add/beer" }],
			icon: "https://shop.example/icon.png",
			image: "https://shop.example/beer.jpg",
			expiresAt: "2026-11-20T10:30:00.000Z",
		});
		expect(Object.keys(JSON.parse(buildOfferPayload(base))).sort()).toEqual(
			["body", "campaignId", "expiresAt", "offerId", "title"].sort(),
		);
	});

	it("the limit is RFC 8291's 3993 bytes", () => {
		expect(MAX_PAYLOAD_BYTES).toBe(3993);
	});

	it("accepts exactly 3993 UTF-8 bytes of multibyte text", () => {
		const body = bodyFor(3993);
		expect(body.length).toBeLessThan(3993); // characters, not bytes, would pass a naive check
		const json = buildOfferPayload({ ...base, body });
		expect(bytes(json)).toBe(3993);
		expect(JSON.parse(json).body).toBe(body);
	});

	it("refuses 3994 UTF-8 bytes with payload_too_large", () => {
		const body = bodyFor(3994);
		expect(bytes(JSON.stringify({ ...base, body }))).toBe(3994);
		expect(thrownCode(() => buildOfferPayload({ ...base, body }))).toBe("payload_too_large");
	});

	it("counts bytes, not UTF-16 units: 1,400 three-byte characters are too large", () => {
		const body = "€".repeat(1400); // 1,400 units but 4,200 bytes
		expect(thrownCode(() => buildOfferPayload({ ...base, body }))).toBe("payload_too_large");
	});

	it("PushError carries a stable code and is an Error", () => {
		const err = new PushError("payload_too_large");
		expect(err).toBeInstanceOf(Error);
		expect(err.code).toBe("payload_too_large");
		expect(err.name).toBe("PushError");
	});
});

describe("pushTopic", () => {
	it("is 32 characters of the URL-safe base64 alphabet", () => {
		for (const parts of [[], [""], ["t1", "u1", "beer-near-store"], ["é🍉", "x".repeat(5000)]]) {
			expect(pushTopic(parts)).toMatch(/^[A-Za-z0-9_-]{32}$/);
		}
	});

	it("is stable for equal parts", () => {
		expect(pushTopic(["t1", "u1", "c1"])).toBe(pushTopic(["t1", "u1", "c1"]));
	});

	it("differs when a part, their order or their split differs", () => {
		const topics = new Set([
			pushTopic(["t1", "u1", "c1"]),
			pushTopic(["t1", "u1", "c2"]),
			pushTopic(["u1", "t1", "c1"]),
			pushTopic(["a|b", "c"]),
			pushTopic(["a", "b|c"]),
			pushTopic(["ab", "c"]),
		]);
		expect(topics.size).toBe(6);
	});

	it("does not reveal the ids it is made of", () => {
		expect(pushTopic(["tenant-secret-name", "user-42"])).not.toMatch(/tenant|user/);
	});
});
