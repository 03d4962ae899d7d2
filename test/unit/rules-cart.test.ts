import { describe, expect, it } from "vitest";
import {
	applyCartEvent,
	type CartEvent,
	type CartEventType,
	type CartItem,
	type CartState,
	cartContents,
	cartKeys,
	emptyCart,
	isFutureCartEvent,
	LATE_EVENT_HORIZON_MS,
	MAX_CART_LINES,
	MAX_FUTURE_SKEW_MS,
	MAX_OPS_PER_LINE,
	MAX_PURCHASE_MARKS,
	MAX_TOTAL_OPS,
	purchasedWithin,
} from "../../src/rules/cart.js";
import { prng } from "../helpers/prng.js";

const MIN = 60_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

const ev = (eventId: string, type: CartEventType, at: number, items: CartItem[] = []): CartEvent => ({
	eventId,
	type,
	items,
	occurredAt: at,
});
const apply = (events: readonly CartEvent[], from: CartState = emptyCart()): CartState =>
	events.reduce(applyCartEvent, from);
const qty = (state: CartState): Record<string, number> =>
	Object.fromEntries(cartContents(state).map((l) => [l.sku, l.quantity]));

function deepFreeze<T>(x: T): T {
	if (x !== null && typeof x === "object") {
		for (const v of Object.values(x)) deepFreeze(v);
		Object.freeze(x);
	}
	return x;
}

function shuffle<T>(xs: readonly T[], rnd: () => number): T[] {
	const out = [...xs];
	for (let i = out.length - 1; i > 0; i--) {
		const j = Math.floor(rnd() * (i + 1));
		[out[i], out[j]] = [out[j] as T, out[i] as T];
	}
	return out;
}

describe("applyCartEvent: in order", () => {
	it("adds quantities (default 1) and keeps category and price", () => {
		const s = apply([
			ev("e1", "item_added", T0, [{ sku: "chips", category: "snacks", price: 1.99 }]),
			ev("e2", "item_added", T0 + 1, [{ sku: "chips", quantity: 2 }]),
			ev("e3", "item_added", T0 + 2, [{ sku: "salsa", category: "sauces", quantity: 3, price: 3.5 }]),
		]);
		expect(cartContents(s)).toEqual([
			{ sku: "chips", category: "snacks", quantity: 3, price: 1.99 },
			{ sku: "salsa", category: "sauces", quantity: 3, price: 3.5 },
		]);
	});

	it("item_removed without quantity removes the line, with a quantity decrements it (never below 0)", () => {
		const s = apply([
			ev("e1", "item_added", T0, [{ sku: "a", quantity: 5 }, { sku: "b" }]),
			ev("e2", "item_removed", T0 + 1, [{ sku: "a", quantity: 2 }]),
			ev("e3", "item_removed", T0 + 2, [{ sku: "b" }]),
		]);
		expect(qty(s)).toEqual({ a: 3 });
		expect(qty(applyCartEvent(s, ev("e4", "item_removed", T0 + 3, [{ sku: "a", quantity: 10 }])))).toEqual(
			{},
		);
	});

	it("a SKU listed twice in one event counts both", () => {
		const s = apply([ev("e1", "item_added", T0, [{ sku: "a" }, { sku: "a", quantity: 2 }])]);
		expect(qty(s)).toEqual({ a: 3 });
	});

	it("cart_cleared empties everything before it", () => {
		const s = apply([
			ev("e1", "item_added", T0, [{ sku: "a" }, { sku: "b" }]),
			ev("e2", "cart_cleared", T0 + 1),
		]);
		expect(cartContents(s)).toEqual([]);
	});

	it("purchase empties the purchased SKUs only; checkout leaves the cart as it is", () => {
		const added = apply([ev("e1", "item_added", T0, [{ sku: "a" }, { sku: "b" }])]);
		expect(qty(applyCartEvent(added, ev("p1", "purchase", T0 + 1, [{ sku: "a" }])))).toEqual({ b: 1 });
		expect(qty(applyCartEvent(added, ev("c1", "checkout", T0 + 1, [{ sku: "a" }])))).toEqual({ a: 1, b: 1 });
	});

	it("cartKeys lists the SKUs and distinct categories in the cart", () => {
		const s = apply([
			ev("e1", "item_added", T0, [
				{ sku: "chips", category: "snacks" },
				{ sku: "nuts", category: "snacks" },
				{ sku: "x" },
			]),
		]);
		expect(cartKeys(s)).toEqual({ skus: ["chips", "nuts", "x"], categories: ["snacks"] });
	});

	it("does not modify its input (deep-frozen state and event)", () => {
		const s = deepFreeze(apply([ev("e1", "item_added", T0, [{ sku: "a", category: "c" }])]));
		const e = deepFreeze(ev("e2", "item_removed", T0 + 1, [{ sku: "a" }]));
		const before = JSON.stringify(s);
		expect(qty(applyCartEvent(s, e))).toEqual({});
		expect(qty(applyCartEvent(s, ev("e3", "cart_cleared", T0 + 1)))).toEqual({});
		expect(JSON.stringify(s)).toBe(before);
	});

	it("state survives a JSON round trip and keeps working", () => {
		const s = apply([
			ev("e1", "item_added", T0, [{ sku: "a", category: "c", price: 2 }]),
			ev("e2", "cart_cleared", T0 + 5),
			ev("e3", "item_added", T0 + 10, [{ sku: "b" }]),
			ev("p1", "purchase", T0 + 20, [{ sku: "b", category: "d" }]),
		]);
		const copy: CartState = JSON.parse(JSON.stringify(s));
		expect(copy).toEqual(s);
		const late = ev("e0", "item_added", T0 + 1, [{ sku: "a" }]);
		expect(applyCartEvent(copy, late)).toEqual(applyCartEvent(s, late));
	});

	it("refuses events the boundary should have refused, with a stable code", () => {
		const bad: CartEvent[] = [
			ev("", "item_added", T0, [{ sku: "a" }]),
			ev("e", "item_added", Number.NaN, [{ sku: "a" }]),
			ev("e", "item_added", T0, [{ sku: "" }]),
			ev("e", "item_added", T0, [{ sku: "a", quantity: 0 }]),
			ev("e", "item_added", T0, [{ sku: "a", quantity: -1 }]),
			ev("e", "item_added", T0, [{ sku: "a", price: Number.POSITIVE_INFINITY }]),
		];
		for (const e of bad)
			expect(() => applyCartEvent(emptyCart(), e)).toThrow(
				expect.objectContaining({ code: "invalid_cart_event" }),
			);
	});

	it("a SKU named __proto__ is just a SKU", () => {
		const s = apply([ev("e1", "item_added", T0, [{ sku: "__proto__", category: "constructor" }])]);
		expect(cartKeys(s)).toEqual({ skus: ["__proto__"], categories: ["constructor"] });
		const p = applyCartEvent(s, ev("p1", "purchase", T0 + 1, [{ sku: "__proto__" }]));
		expect(purchasedWithin(p, { category: "constructor" }, 1, T0 + 2)).toBe(true);
		expect(purchasedWithin(p, { category: "toString" }, 1, T0 + 2)).toBe(false);
	});
});

describe("applyCartEvent: out of order and redelivered", () => {
	it("a removal that arrives before the older add keeps the item removed", () => {
		const s = apply([
			ev("rm", "item_removed", T0 + 10, [{ sku: "a" }]),
			ev("add", "item_added", T0, [{ sku: "a" }]),
		]);
		expect(qty(s)).toEqual({});
	});

	it("a newer add after a removal that arrived first is present", () => {
		const s = apply([
			ev("rm", "item_removed", T0 + 10, [{ sku: "a" }]),
			ev("add", "item_added", T0 + 20, [{ sku: "a" }]),
		]);
		expect(qty(s)).toEqual({ a: 1 });
	});

	it("a late add older than a clear is not resurrected; a newer add after the clear is present", () => {
		const s = apply([
			ev("e1", "item_added", T0, [{ sku: "a" }]),
			ev("clr", "cart_cleared", T0 + 10),
			ev("late", "item_added", T0 + 5, [{ sku: "b" }]),
			ev("new", "item_added", T0 + 15, [{ sku: "c" }]),
		]);
		expect(qty(s)).toEqual({ c: 1 });
	});

	it("a late clear voids the adds before it but not those after it", () => {
		const s = apply([
			ev("e1", "item_added", T0, [{ sku: "a" }]),
			ev("e2", "item_added", T0 + 20, [{ sku: "a", quantity: 2 }, { sku: "b" }]),
			ev("clr", "cart_cleared", T0 + 10),
		]);
		expect(qty(s)).toEqual({ a: 2, b: 1 });
	});

	it("a late, older removal does not undo a newer add", () => {
		const s = apply([
			ev("e1", "item_added", T0, [{ sku: "a" }]),
			ev("e3", "item_added", T0 + 20, [{ sku: "a" }]),
			ev("e2", "item_removed", T0 + 10, [{ sku: "a" }]),
		]);
		expect(qty(s)).toEqual({ a: 1 });
	});

	it("relative removals fold in event time, not arrival time", () => {
		// Event time: +2, -3 (to 0), +1 → 1. Arrival: the add of 1 first, the removal last.
		const s = apply([
			ev("e3", "item_added", T0 + 30, [{ sku: "a" }]),
			ev("e1", "item_added", T0, [{ sku: "a", quantity: 2 }]),
			ev("e2", "item_removed", T0 + 10, [{ sku: "a", quantity: 3 }]),
		]);
		expect(qty(s)).toEqual({ a: 1 });
	});

	it("a late purchase empties the SKU as of its time only", () => {
		const s = apply([
			ev("e1", "item_added", T0, [{ sku: "a" }]),
			ev("e3", "item_added", T0 + 20, [{ sku: "a" }]),
			ev("p2", "purchase", T0 + 10, [{ sku: "a" }]),
		]);
		expect(qty(s)).toEqual({ a: 1 });
	});

	it("equal timestamps are ordered by event id, whatever the arrival order", () => {
		const add = ev("b-add", "item_added", T0, [{ sku: "a" }]);
		const rm = ev("a-rm", "item_removed", T0, [{ sku: "a" }]);
		// "a-rm" < "b-add": the removal comes first in event time, so the add wins.
		expect(qty(apply([add, rm]))).toEqual({ a: 1 });
		expect(qty(apply([rm, add]))).toEqual({ a: 1 });
		const rm2 = ev("c-rm", "item_removed", T0, [{ sku: "a" }]);
		expect(qty(apply([add, rm2]))).toEqual({});
		expect(qty(apply([rm2, add]))).toEqual({});
	});

	it("category and price are last-writer-wins per field in event time", () => {
		const events = [
			ev("e1", "item_added", T0, [{ sku: "a", category: "old", price: 1 }]),
			ev("e2", "item_added", T0 + 10, [{ sku: "a", category: "new" }]),
			ev("e3", "item_added", T0 + 5, [{ sku: "a", price: 2 }]),
		];
		for (const order of [events, [...events].reverse()]) {
			expect(cartContents(apply(order))).toEqual([{ sku: "a", category: "new", quantity: 3, price: 2 }]);
		}
	});

	it("redelivering the same eventId changes nothing, for every event type", () => {
		const events = [
			ev("e1", "item_added", T0, [{ sku: "a", quantity: 2 }, { sku: "b" }]),
			ev("e2", "item_removed", T0 + 1, [{ sku: "a", quantity: 1 }]),
			ev("c1", "checkout", T0 + 2, [{ sku: "b", category: "x" }]),
			ev("e3", "cart_cleared", T0 + 3),
			ev("e4", "item_added", T0 + 4, [{ sku: "c", quantity: 4 }]),
			ev("p1", "purchase", T0 + 5, [{ sku: "b", category: "x" }]),
		];
		const once = apply(events);
		expect(apply(events, once)).toEqual(once);
		const twiceEach = apply(events.flatMap((e) => [e, e]));
		expect(twiceEach).toEqual(once);
		expect(qty(once)).toEqual({ c: 4 });
	});

	it("any arrival order, with redeliveries, converges to the same state (seeded property)", () => {
		const rnd = prng(0xc0ffee);
		const skus = ["s1", "s2", "s3", "s4", "s5", "s6"];
		const categoryOf = (sku: string) => `cat-${sku.charCodeAt(1) % 3}`;
		const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
		for (let round = 0; round < 300; round++) {
			const events: CartEvent[] = [];
			const n = 1 + Math.floor(rnd() * 25);
			for (let i = 0; i < n; i++) {
				const type = pick<CartEventType>([
					"item_added",
					"item_added",
					"item_added",
					"item_removed",
					"item_removed",
					"cart_cleared",
					"checkout",
					"purchase",
				]);
				const items: CartItem[] = [];
				const k = type === "cart_cleared" ? 0 : 1 + Math.floor(rnd() * 3);
				for (let j = 0; j < k; j++) {
					const sku = pick(skus);
					const item: CartItem = { sku };
					// Purchases always name their category: the line-category fallback is the
					// one documented place where arrival order may show.
					if (type === "purchase" || type === "checkout" || rnd() < 0.6) item.category = categoryOf(sku);
					if (rnd() < 0.5) item.quantity = 1 + Math.floor(rnd() * 3);
					if (rnd() < 0.3) item.price = Math.floor(rnd() * 1000) / 100;
					items.push(item);
				}
				// Coarse times so that ties (broken by event id) are common.
				events.push(ev(`ev${Math.floor(rnd() * 1e6)}-${i}`, type, T0 + Math.floor(rnd() * 8) * MIN, items));
			}
			const reference = apply(events);
			for (let p = 0; p < 4; p++) {
				const arrival = shuffle(events, rnd);
				const withDuplicates = arrival.flatMap((e) => (rnd() < 0.25 ? [e, e] : [e]));
				const state = apply(withDuplicates);
				expect(state).toEqual(reference);
				expect(cartContents(state)).toEqual(cartContents(reference));
			}
		}
	});
});

describe("purchase memory", () => {
	const bought = apply([
		ev("p1", "purchase", T0, [{ sku: "beer-6", category: "beer" }]),
		ev("c1", "checkout", T0 - 2 * DAY, [{ sku: "soda", category: "soft-drinks" }]),
	]);

	it("remembers the SKU and the category for `days` days, the edge exclusive", () => {
		for (const what of [{ sku: "beer-6" }, { category: "beer" }]) {
			expect(purchasedWithin(bought, what, 7, T0)).toBe(true);
			expect(purchasedWithin(bought, what, 7, T0 + 7 * DAY - 1)).toBe(true);
			expect(purchasedWithin(bought, what, 7, T0 + 7 * DAY)).toBe(false);
			expect(purchasedWithin(bought, what, 1, T0 + DAY - 1)).toBe(true);
			expect(purchasedWithin(bought, what, 1, T0 + DAY)).toBe(false);
		}
	});

	it("checkout records memory too", () => {
		expect(purchasedWithin(bought, { sku: "soda" }, 3, T0)).toBe(true);
		expect(purchasedWithin(bought, { category: "soft-drinks" }, 2, T0)).toBe(false);
	});

	it("matches SKU or category (either), never another key, and never for 0 days", () => {
		expect(purchasedWithin(bought, { sku: "other", category: "beer" }, 7, T0)).toBe(true);
		expect(purchasedWithin(bought, { sku: "beer-6", category: "other" }, 7, T0)).toBe(true);
		expect(purchasedWithin(bought, { sku: "other", category: "other" }, 7, T0)).toBe(false);
		expect(purchasedWithin(bought, {}, 7, T0)).toBe(false);
		// A SKU and a category with the same name are different keys.
		expect(purchasedWithin(bought, { category: "beer-6" }, 7, T0)).toBe(false);
		expect(purchasedWithin(bought, { sku: "beer" }, 7, T0)).toBe(false);
		expect(purchasedWithin(bought, { sku: "beer-6" }, 0, T0)).toBe(false);
	});

	it("a purchase stamped slightly in the future (clock skew) counts as recent", () => {
		expect(purchasedWithin(bought, { sku: "beer-6" }, 1, T0 - MIN)).toBe(true);
	});

	it("keeps the latest purchase time per key whatever the arrival order", () => {
		const s = apply([
			ev("p2", "purchase", T0 + 3 * DAY, [{ sku: "a", category: "c" }]),
			ev("p1", "purchase", T0, [{ sku: "a", category: "c" }]),
		]);
		expect(purchasedWithin(s, { sku: "a" }, 7, T0 + 9 * DAY)).toBe(true);
		expect(purchasedWithin(s, { category: "c" }, 7, T0 + 10 * DAY)).toBe(false);
	});

	it("takes the category from the cart line when the purchase omits it", () => {
		const s = apply([
			ev("e1", "item_added", T0, [{ sku: "chips", category: "snacks" }]),
			ev("p1", "purchase", T0 + 1, [{ sku: "chips" }]),
		]);
		expect(purchasedWithin(s, { category: "snacks" }, 1, T0 + 2)).toBe(true);
		expect(qty(s)).toEqual({});
	});

	it("forgets purchases 365 days older than the newest event", () => {
		let s = apply([ev("p1", "purchase", T0, [{ sku: "a", category: "c" }])]);
		s = applyCartEvent(s, ev("e1", "item_added", T0 + 365 * DAY, [{ sku: "b" }]));
		expect(s.purchases).toHaveLength(2);
		s = applyCartEvent(s, ev("e2", "item_added", T0 + 365 * DAY + 1, [{ sku: "b" }]));
		expect(s.purchases).toEqual([]);
	});

	it(`keeps at most ${MAX_PURCHASE_MARKS} marks, dropping the oldest`, () => {
		let s = emptyCart();
		for (let i = 0; i < MAX_PURCHASE_MARKS + 300; i++) {
			s = applyCartEvent(s, ev(`p${i}`, "purchase", T0 + i * MIN, [{ sku: `sku-${i}` }]));
		}
		expect(s.purchases).toHaveLength(MAX_PURCHASE_MARKS);
		const now = T0 + (MAX_PURCHASE_MARKS + 300) * MIN;
		expect(purchasedWithin(s, { sku: "sku-0" }, 30, now)).toBe(false);
		expect(purchasedWithin(s, { sku: "sku-299" }, 30, now)).toBe(false);
		expect(purchasedWithin(s, { sku: "sku-300" }, 30, now)).toBe(true);
		expect(purchasedWithin(s, { sku: `sku-${MAX_PURCHASE_MARKS + 299}` }, 30, now)).toBe(true);
	});
});

describe("bounds", () => {
	it(`tracks at most ${MAX_CART_LINES} SKUs, evicting emptied lines first, then the least recently changed`, () => {
		let s = apply([
			ev("rm", "item_removed", T0 + 100 * MIN, [{ sku: "gone" }]),
			ev("keep", "item_added", T0 + 200 * MIN, [{ sku: "recent" }]),
		]);
		for (let i = 0; i < MAX_CART_LINES + 50; i++) {
			s = applyCartEvent(
				s,
				ev(`e${i}`, "item_added", T0 + i * 1000, [{ sku: `sku-${String(i).padStart(4, "0")}` }]),
			);
		}
		expect(s.lines).toHaveLength(MAX_CART_LINES);
		const skus = new Set(cartContents(s).map((l) => l.sku));
		expect(skus.has("recent")).toBe(true);
		expect(s.lines.some((l) => l.sku === "gone")).toBe(false);
		// 551 live lines competed for 500 slots; the 51 changed longest ago went.
		for (let i = 0; i < 51; i++) expect(skus.has(`sku-${String(i).padStart(4, "0")}`)).toBe(false);
		expect(skus.has("sku-0051")).toBe(true);
		expect(JSON.stringify(s).length).toBeLessThan(200_000);
	});

	it(`keeps at most ${MAX_OPS_PER_LINE} operations per SKU, with the quantity intact`, () => {
		let s = emptyCart();
		for (let i = 0; i < 100; i++) s = applyCartEvent(s, ev(`e${i}`, "item_added", T0 + i, [{ sku: "a" }]));
		expect(s.lines[0]?.ops.length).toBeLessThanOrEqual(MAX_OPS_PER_LINE);
		expect(qty(s)).toEqual({ a: 100 });
		// Newer than the folded part: still counted exactly.
		s = applyCartEvent(s, ev("e-late", "item_removed", T0 + 95, [{ sku: "a", quantity: 10 }]));
		expect(qty(s)).toEqual({ a: 90 });
	});

	it(`keeps at most ${MAX_TOTAL_OPS} operations across the cart, folding the least recently changed SKUs`, () => {
		let s = emptyCart();
		let n = 0;
		// 200 SKUs × 10 adds each = 2,000 operations, interleaved so every SKU has a long log.
		for (let round = 0; round < 10; round++) {
			for (let i = 0; i < 200; i++) {
				s = applyCartEvent(
					s,
					ev(`e${n}`, "item_added", T0 + n, [{ sku: `sku-${String(i).padStart(3, "0")}` }]),
				);
				n++;
			}
		}
		const total = s.lines.reduce((sum, l) => sum + l.ops.length, 0);
		expect(total).toBeLessThanOrEqual(MAX_TOTAL_OPS);
		expect(cartContents(s).every((l) => l.quantity === 10)).toBe(true);
		expect(cartContents(s)).toHaveLength(200);
		// The most recently changed SKU still has its full log.
		expect(s.lines.find((l) => l.sku === "sku-199")?.ops).toHaveLength(10);
		// Older logs were folded (then grew again by the rounds after their fold).
		expect(s.lines.filter((l) => l.ops.length < 10).length).toBeGreaterThan(50);
	});

	it("ignores cart changes that arrive more than the horizon behind the newest event", () => {
		const s = apply([
			ev("e1", "item_added", T0 + LATE_EVENT_HORIZON_MS + 1, [{ sku: "a" }]),
			ev("old", "item_added", T0, [{ sku: "b" }]),
			ev("oldclr", "cart_cleared", T0),
		]);
		expect(qty(s)).toEqual({ a: 1 });
		// Purchase memory still records a late purchase.
		const p = applyCartEvent(s, ev("oldp", "purchase", T0, [{ sku: "z" }]));
		expect(purchasedWithin(p, { sku: "z" }, 30, T0 + LATE_EVENT_HORIZON_MS)).toBe(true);
	});

	it("flags events more than 5 minutes ahead of the receiver's clock", () => {
		expect(MAX_FUTURE_SKEW_MS).toBe(5 * MIN);
		expect(isFutureCartEvent({ occurredAt: T0 + 5 * MIN }, T0)).toBe(false);
		expect(isFutureCartEvent({ occurredAt: T0 + 5 * MIN + 1 }, T0)).toBe(true);
		expect(isFutureCartEvent({ occurredAt: T0 - DAY }, T0)).toBe(false);
	});

	it("forgets emptied lines once they fall behind the horizon, and folds old operations", () => {
		let s = apply([
			ev("e1", "item_added", T0, [{ sku: "a", quantity: 2 }, { sku: "b" }]),
			ev("e2", "item_added", T0 + 1, [{ sku: "a" }]),
			ev("e3", "item_removed", T0 + 2, [{ sku: "b" }]),
		]);
		expect(s.lines.map((l) => l.sku)).toEqual(["a", "b"]);
		s = applyCartEvent(s, ev("e4", "item_added", T0 + LATE_EVENT_HORIZON_MS + 10, [{ sku: "c" }]));
		expect(s.lines.map((l) => l.sku)).toEqual(["a", "c"]);
		expect(s.lines[0]?.ops).toEqual([{ at: T0 + 1, id: "e2", kind: "set", qty: 3 }]);
		expect(qty(s)).toEqual({ a: 3, c: 1 });
	});
});
