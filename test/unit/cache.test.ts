/** The one bounded cache (src/lib/cache.ts): least recently used eviction, never past `max`. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BoundedCache } from "../../src/lib/cache.js";

describe("BoundedCache", () => {
	it("refuses a bound that is not a positive integer", () => {
		for (const max of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
			expect(() => new BoundedCache(max)).toThrow(RangeError);
		expect(() => new BoundedCache(0)).toThrow("max must be an integer >= 1, got 0");
		expect(new BoundedCache(1).max).toBe(1);
	});

	it("drops the least recently written key when a new key passes max", () => {
		const c = new BoundedCache<string, number>(2);
		c.set("a", 1).set("b", 2);
		expect(c.size).toBe(2);
		c.set("c", 3);
		expect(c.size).toBe(2);
		expect(c.has("a")).toBe(false);
		expect(c.get("b")).toBe(2);
		expect(c.get("c")).toBe(3);
	});

	it("a read makes the key the most recent: the other one goes", () => {
		const c = new BoundedCache<string, number>(2);
		c.set("a", 1).set("b", 2);
		expect(c.get("a")).toBe(1);
		c.set("c", 3);
		expect([...c.keys()]).toEqual(["a", "c"]);
		expect(c.peek("b")).toBeUndefined();
	});

	it("writing a held key again replaces it without evicting anything", () => {
		const c = new BoundedCache<string, number>(2);
		c.set("a", 1).set("b", 2).set("a", 10);
		expect(c.size).toBe(2);
		expect([...c.keys()]).toEqual(["b", "a"]);
		expect(c.peek("a")).toBe(10);
		expect(c.peek("b")).toBe(2);
	});

	it("has and peek read without changing the order", () => {
		const c = new BoundedCache<string, number>(2);
		c.set("a", 1).set("b", 2);
		expect(c.has("a")).toBe(true);
		expect(c.peek("a")).toBe(1);
		c.set("c", 3);
		expect(c.has("a")).toBe(false);
		expect([...c.keys()]).toEqual(["b", "c"]);
	});

	it("a miss answers undefined and changes nothing", () => {
		const c = new BoundedCache<string, number>(2);
		c.set("a", 1);
		expect(c.get("zz")).toBeUndefined();
		expect(c.size).toBe(1);
		expect([...c.keys()]).toEqual(["a"]);
	});

	it("keeps a stored undefined value apart from a miss", () => {
		const c = new BoundedCache<string, number | undefined>(2);
		c.set("u", undefined).set("b", 2);
		expect(c.has("u")).toBe(true);
		expect(c.get("u")).toBeUndefined();
		// The read made "u" the most recent: "b" goes.
		c.set("c", 3);
		expect([...c.keys()]).toEqual(["u", "c"]);
	});

	it("getOrCreate builds once, stores, and counts as a use", () => {
		const c = new BoundedCache<string, string>(2);
		let calls = 0;
		const make = (k: string) => {
			calls++;
			return k.toUpperCase();
		};
		expect(c.getOrCreate("a", make)).toBe("A");
		expect(c.getOrCreate("a", make)).toBe("A");
		expect(calls).toBe(1);
		c.set("b", "B");
		expect(c.getOrCreate("a", make)).toBe("A");
		c.set("c", "C");
		expect([...c.keys()]).toEqual(["a", "c"]);
		expect(calls).toBe(1);
	});

	it("getOrCreate stores nothing when the builder throws", () => {
		const c = new BoundedCache<string, string>(2);
		expect(() =>
			c.getOrCreate("a", () => {
				throw new Error("no");
			}),
		).toThrow("no");
		expect(c.size).toBe(0);
		expect(c.has("a")).toBe(false);
	});

	it("delete and clear", () => {
		const c = new BoundedCache<string, number>(3);
		c.set("a", 1).set("b", 2);
		expect(c.delete("a")).toBe(true);
		expect(c.delete("a")).toBe(false);
		expect([...c.keys()]).toEqual(["b"]);
		c.clear();
		expect(c.size).toBe(0);
		expect(c.get("b")).toBeUndefined();
	});

	it("behaves as a model LRU list for any sequence of operations", () => {
		const op = fc.oneof(
			fc.record({ kind: fc.constant("set" as const), key: fc.nat(6), value: fc.integer() }),
			fc.record({ kind: fc.constant("get" as const), key: fc.nat(6) }),
			fc.record({ kind: fc.constant("delete" as const), key: fc.nat(6) }),
		);
		fc.assert(
			fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), (max, ops) => {
				const c = new BoundedCache<number, number>(max);
				// Model: [key, value] pairs, least recent first.
				let model: [number, number][] = [];
				for (const o of ops) {
					const at = model.findIndex(([k]) => k === o.key);
					if (o.kind === "set") {
						if (at >= 0) model.splice(at, 1);
						else if (model.length === max) model.shift();
						model.push([o.key, o.value]);
						c.set(o.key, o.value);
					} else if (o.kind === "get") {
						const hit = at >= 0 ? model.splice(at, 1)[0] : undefined;
						if (hit) model.push(hit);
						expect(c.get(o.key)).toBe(hit?.[1]);
					} else {
						expect(c.delete(o.key)).toBe(at >= 0);
						model = model.filter(([k]) => k !== o.key);
					}
					expect(c.size).toBeLessThanOrEqual(max);
					expect([...c.keys()]).toEqual(model.map(([k]) => k));
				}
			}),
		);
	});
});
