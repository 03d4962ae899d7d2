import { describe, expect, it } from "vitest";
import { AttributePatchSchema, BulkAttributesSchema } from "../../src/audience/attributes.js";
import { attributeBatches, parseAttributesCsv } from "../../src/audience/csv.js";

describe("parseAttributesCsv", () => {
	it("reads typed values: numbers, booleans, null removes, empty leaves unchanged, quoted text", () => {
		const csv = [
			"userId,tier,age,vip,store,note",
			"alice,gold,34,true,,plain",
			'bob,silver,-1.5,false,null,"a, ""quoted"" note"',
			'carol,"007",0,TRUE,s1,"two',
			'lines"',
			"",
		].join("\r\n");
		const r = parseAttributesCsv(csv);
		expect(r).toEqual({
			ok: true,
			people: [
				{ userId: "alice", line: 2, attributes: { tier: "gold", age: 34, vip: true, note: "plain" } },
				{
					userId: "bob",
					line: 3,
					attributes: { tier: "silver", age: -1.5, vip: false, store: null, note: 'a, "quoted" note' },
				},
				{
					userId: "carol",
					line: 4,
					attributes: { tier: "007", age: 0, vip: "TRUE", store: "s1", note: "two\r\nlines" },
				},
			],
		});
		if (r.ok)
			for (const p of r.people) expect(AttributePatchSchema.safeParse(p.attributes).success).toBe(true);
	});

	it("reports every bad row with its line, and nothing else", () => {
		const csv = [
			"userId,tier",
			"ok,gold",
			"bad id,gold",
			"short",
			"ok,silver",
			`long,${"x".repeat(257)}`,
			"fine,gold",
		].join("\n");
		const r = parseAttributesCsv(csv);
		expect(r.ok).toBe(false);
		if (r.ok) return;
		expect(r.errors.map((e) => [e.line, e.column ?? null])).toEqual([
			[3, "userId"],
			[4, null],
			[5, "userId"],
			[6, "tier"],
		]);
		expect(r.errors[2]?.message).toContain("line 2");
	});

	it("checks the header", () => {
		const bad = (csv: string) => {
			const r = parseAttributesCsv(csv);
			return r.ok ? [] : r.errors.map((e) => e.line);
		};
		expect(bad("")).toEqual([1]);
		expect(bad("id,tier\nalice,gold")).toEqual([1]);
		expect(bad("userId,bad key\nalice,gold")).toEqual([1]);
		expect(bad("userId,__proto__\nalice,gold")).toEqual([1]);
		expect(bad("userId,tier,tier\nalice,gold,gold")).toEqual([1]);
		expect(bad(`userId,${Array.from({ length: 101 }, (_, i) => `k${i}`).join(",")}\n`)).toEqual([1]);
		expect(bad('userId,tier\nalice,"gold')).toEqual([2]);
		// Quotes only around a whole cell.
		expect(bad('userId,tier\nalice,go"ld"')).toEqual([2]);
		expect(bad('userId,tier\nalice,"gold"x')).toEqual([2]);
		expect(bad('userId,tier\nalice,"gold"\nbob,"x"')).toEqual([]);
	});

	it("batches 1,000 people a request, each body valid for POST /v1/users/attributes", () => {
		const lines = ["userId,n", ...Array.from({ length: 2500 }, (_, i) => `u${i},${i}`)];
		const r = parseAttributesCsv(lines.join("\n"));
		if (!r.ok) throw new Error(JSON.stringify(r.errors));
		const batches = attributeBatches(r.people);
		expect(batches.map((b) => b.users.length)).toEqual([1000, 1000, 500]);
		for (const b of batches) expect(BulkAttributesSchema.safeParse(b).success).toBe(true);
		expect(batches[2]?.users[499]).toEqual({ userId: "u2499", attributes: { n: 2499 } });
	});
});
