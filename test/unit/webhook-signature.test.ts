import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SignatureError, signPayload, verifySignature } from "../../src/webhook/signature.js";

const SECRET = "whsec_current_0123456789";
const OLD_SECRET = "whsec_previous_9876543210";
const T = 1_790_000_000; // whole unix seconds
const NOW = T * 1000;
const BODY = new TextEncoder().encode(
	'{"eventId":"e1","userId":"u1","type":"item_added","items":[{"sku":"chips-1"}]}',
);

/** An independent signer (Node's HMAC, not WebCrypto) so the test does not grade its own homework. */
function nodeMac(secret: string, t: string, body: Uint8Array): string {
	return createHmac("sha256", secret).update(`${t}.`).update(body).digest("hex");
}

describe("signPayload", () => {
	it("produces t=<seconds>,v1=<hex HMAC of '<t>.<raw body>'>", async () => {
		expect(await signPayload(SECRET, BODY, T)).toBe(`t=${T},v1=${nodeMac(SECRET, String(T), BODY)}`);
	});

	it("signs a string body as its UTF-8 bytes", async () => {
		const text = '{"sku":"café"}';
		expect(await signPayload(SECRET, text, T)).toBe(
			await signPayload(SECRET, new TextEncoder().encode(text), T),
		);
	});

	it("refuses an empty secret or a non-integer time with a stable code", async () => {
		await expect(signPayload("", BODY, T)).rejects.toMatchObject({ code: "invalid_signing_input" });
		await expect(signPayload(SECRET, BODY, 1.5)).rejects.toBeInstanceOf(SignatureError);
		await expect(signPayload(SECRET, BODY, -1)).rejects.toMatchObject({ code: "invalid_signing_input" });
	});
});

describe("verifySignature", () => {
	it("accepts a valid signature and reports the secret that matched", async () => {
		const header = await signPayload(SECRET, BODY, T);
		expect(await verifySignature(header, BODY, [SECRET], NOW)).toEqual({ ok: true, secretIndex: 0 });
	});

	it("accepts a signature made by an independent HMAC implementation", async () => {
		const header = `t=${T},v1=${nodeMac(SECRET, String(T), BODY)}`;
		expect(await verifySignature(header, BODY, [SECRET], NOW)).toEqual({ ok: true, secretIndex: 0 });
	});

	it("accepts upper-case hex and spaces around entries", async () => {
		const header = ` t = ${T} , v1 = ${nodeMac(SECRET, String(T), BODY).toUpperCase()} `;
		expect(await verifySignature(header, BODY, [SECRET], NOW)).toMatchObject({ ok: true });
	});

	it("rejects the wrong secret", async () => {
		const header = await signPayload("whsec_someone_else", BODY, T);
		expect(await verifySignature(header, BODY, [SECRET], NOW)).toEqual({ ok: false, code: "bad_signature" });
	});

	it("rejects a body with one byte changed, wherever the byte is", async () => {
		const header = await signPayload(SECRET, BODY, T);
		for (const i of [0, 10, BODY.length - 1]) {
			const tampered = BODY.slice();
			tampered[i] = (tampered[i] ?? 0) ^ 0x01;
			expect(await verifySignature(header, tampered, [SECRET], NOW)).toEqual({
				ok: false,
				code: "bad_signature",
			});
		}
	});

	it("verifies the raw bytes: re-serialized JSON with the same meaning does not verify", async () => {
		const header = await signPayload(SECRET, BODY, T);
		const reserialized = new TextEncoder().encode(
			JSON.stringify(JSON.parse(new TextDecoder().decode(BODY)), null, 1),
		);
		expect(await verifySignature(header, reserialized, [SECRET], NOW)).toEqual({
			ok: false,
			code: "bad_signature",
		});
	});

	it("rejects a signature whose t was changed after signing", async () => {
		const mac = nodeMac(SECRET, String(T), BODY);
		expect(await verifySignature(`t=${T + 1},v1=${mac}`, BODY, [SECRET], NOW)).toEqual({
			ok: false,
			code: "bad_signature",
		});
	});

	it("MACs t exactly as sent: a zero-padded t signed as such verifies, the unpadded MAC does not", async () => {
		const padded = `0${T}`;
		expect(
			await verifySignature(`t=${padded},v1=${nodeMac(SECRET, padded, BODY)}`, BODY, [SECRET], NOW),
		).toMatchObject({ ok: true });
		expect(
			await verifySignature(`t=${padded},v1=${nodeMac(SECRET, String(T), BODY)}`, BODY, [SECRET], NOW),
		).toEqual({ ok: false, code: "bad_signature" });
	});

	describe("timestamp tolerance (300 s by default, inclusive)", () => {
		for (const skew of [-299, 299, -300, 300]) {
			it(`accepts t ${skew > 0 ? "+" : ""}${skew} s from now`, async () => {
				const header = await signPayload(SECRET, BODY, T + skew);
				expect(await verifySignature(header, BODY, [SECRET], NOW)).toEqual({ ok: true, secretIndex: 0 });
			});
		}
		for (const skew of [-301, 301, -86_400]) {
			it(`rejects t ${skew > 0 ? "+" : ""}${skew} s from now as stale_timestamp`, async () => {
				const header = await signPayload(SECRET, BODY, T + skew);
				expect(await verifySignature(header, BODY, [SECRET], NOW)).toEqual({
					ok: false,
					code: "stale_timestamp",
				});
			});
		}

		it("compares against now in milliseconds: 300.001 s is stale", async () => {
			const header = await signPayload(SECRET, BODY, T);
			expect(await verifySignature(header, BODY, [SECRET], NOW + 300_001)).toEqual({
				ok: false,
				code: "stale_timestamp",
			});
			expect(await verifySignature(header, BODY, [SECRET], NOW + 300_000)).toMatchObject({ ok: true });
		});

		it("honours a custom tolerance", async () => {
			const header = await signPayload(SECRET, BODY, T - 30);
			expect(await verifySignature(header, BODY, [SECRET], NOW, 10)).toEqual({
				ok: false,
				code: "stale_timestamp",
			});
			expect(await verifySignature(header, BODY, [SECRET], NOW, 60)).toMatchObject({ ok: true });
		});

		it("checks the timestamp before the MAC: a stale forgery reports stale_timestamp", async () => {
			const header = await signPayload("whsec_forger", BODY, T - 3600);
			expect(await verifySignature(header, BODY, [SECRET], NOW)).toEqual({
				ok: false,
				code: "stale_timestamp",
			});
		});
	});

	describe("missing and malformed headers", () => {
		it("null, empty or blank header is missing_signature", async () => {
			for (const header of [null, "", "   "]) {
				expect(await verifySignature(header, BODY, [SECRET], NOW)).toEqual({
					ok: false,
					code: "missing_signature",
				});
			}
		});

		const mac = "a".repeat(64);
		const malformed: [string, string][] = [
			["missing t", `v1=${mac}`],
			["missing v1", `t=${T}`],
			["non-hex v1", `t=${T},v1=${"g".repeat(64)}`],
			["short v1", `t=${T},v1=${"a".repeat(63)}`],
			["long v1", `t=${T},v1=${"a".repeat(66)}`],
			["empty v1", `t=${T},v1=`],
			["non-numeric t", `t=abc,v1=${mac}`],
			["negative t", `t=-${T},v1=${mac}`],
			["fractional t", `t=${T}.5,v1=${mac}`],
			["two t entries", `t=${T},t=${T},v1=${mac}`],
			["garbage", "not a signature"],
			["entry without =", `t=${T},v1=${mac},junk`],
			["trailing comma", `t=${T},v1=${mac},`],
			["too many v1 entries", `t=${T},${Array.from({ length: 9 }, () => `v1=${mac}`).join(",")}`],
			["overlong header", `t=${T},v1=${mac},x=${"y".repeat(3000)}`],
		];
		for (const [name, header] of malformed) {
			it(`${name} is malformed_signature`, async () => {
				expect(await verifySignature(header, BODY, [SECRET], NOW)).toEqual({
					ok: false,
					code: "malformed_signature",
				});
			});
		}

		it("ignores unknown schemes next to v1", async () => {
			const header = `${await signPayload(SECRET, BODY, T)},v0=whatever`;
			expect(await verifySignature(header, BODY, [SECRET], NOW)).toMatchObject({ ok: true });
		});
	});

	describe("several v1 entries and secret rotation", () => {
		it("accepts when any of several v1 entries matches, in any position", async () => {
			const good = nodeMac(SECRET, String(T), BODY);
			const bad = "0".repeat(64);
			for (const header of [`t=${T},v1=${good},v1=${bad}`, `t=${T},v1=${bad},v1=${good}`]) {
				expect(await verifySignature(header, BODY, [SECRET], NOW)).toEqual({ ok: true, secretIndex: 0 });
			}
		});

		it("rejects when no v1 entry matches", async () => {
			const header = `t=${T},v1=${"0".repeat(64)},v1=${"1".repeat(64)}`;
			expect(await verifySignature(header, BODY, [SECRET], NOW)).toEqual({
				ok: false,
				code: "bad_signature",
			});
		});

		it("accepts both the new and the old secret during rotation and says which matched", async () => {
			const secrets = [SECRET, OLD_SECRET];
			expect(await verifySignature(await signPayload(SECRET, BODY, T), BODY, secrets, NOW)).toEqual({
				ok: true,
				secretIndex: 0,
			});
			expect(await verifySignature(await signPayload(OLD_SECRET, BODY, T), BODY, secrets, NOW)).toEqual({
				ok: true,
				secretIndex: 1,
			});
		});

		it("a sender signing with both secrets at once matches the first secret listed", async () => {
			const header = `t=${T},v1=${nodeMac(OLD_SECRET, String(T), BODY)},v1=${nodeMac(SECRET, String(T), BODY)}`;
			expect(await verifySignature(header, BODY, [SECRET, OLD_SECRET], NOW)).toEqual({
				ok: true,
				secretIndex: 0,
			});
		});

		it("once the old secret is retired, its signatures fail", async () => {
			const header = await signPayload(OLD_SECRET, BODY, T);
			expect(await verifySignature(header, BODY, [SECRET], NOW)).toEqual({
				ok: false,
				code: "bad_signature",
			});
		});

		it("no secrets, or only empty ones, verifies nothing", async () => {
			const header = await signPayload(SECRET, BODY, T);
			expect(await verifySignature(header, BODY, [], NOW)).toEqual({ ok: false, code: "bad_signature" });
			expect(await verifySignature(header, BODY, ["", SECRET], NOW)).toEqual({ ok: true, secretIndex: 1 });
		});
	});

	it("verifies an empty body", async () => {
		const empty = new Uint8Array(0);
		expect(await verifySignature(await signPayload(SECRET, empty, T), empty, [SECRET], NOW)).toMatchObject({
			ok: true,
		});
	});

	it("verifies a body that is a view into a larger buffer", async () => {
		const big = new Uint8Array(BODY.length + 20);
		big.set(BODY, 10);
		const view = big.subarray(10, 10 + BODY.length);
		expect(await verifySignature(await signPayload(SECRET, BODY, T), view, [SECRET], NOW)).toMatchObject({
			ok: true,
		});
	});
});
