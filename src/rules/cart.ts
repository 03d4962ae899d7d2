/**
 * One person's online cart and purchase memory, rebuilt from signed cart events that may
 * arrive late, twice, or out of order. Pure and JSON-serializable: the person's Durable
 * Object stores the state as is and hands every event to {@link applyCartEvent}.
 *
 * Convergence. Events are ordered by their position `(occurredAt, eventId)` (ties broken
 * by comparing event ids as strings), never by arrival. Each SKU keeps a short log of
 * quantity operations sorted by position and its quantity is the fold of that log:
 *
 * - `item_added` is a relative `add` of its quantity (default 1). Additions are kept as
 *   deltas, not last-writer-wins totals, because a cart platform reports "one more" and
 *   two adds of the same SKU must both count whatever order they arrive in.
 * - `item_removed` with a quantity is a relative `sub` (saturating at 0 in event-time
 *   order); without a quantity it removes the line: an absolute `set 0`.
 * - `purchase` is a `set 0` for every purchased SKU.
 * - `cart_cleared` raises a cart-wide watermark; every operation at or before it is void.
 *
 * An absolute operation makes everything before it irrelevant, so the log is cut there and
 * a late event older than it (or than the watermark) is ignored: a removal that arrives
 * before the older add keeps the item removed, and a stale add never resurrects a cleared
 * cart. A duplicate event id is ignored, so redelivery is idempotent. With these rules the
 * state is the same for every arrival order, within the bounds below.
 *
 * Bounds, and where they trade exactness for size:
 * - Events more than {@link LATE_EVENT_HORIZON_MS} older than the newest event seen do not
 *   change cart contents (the cart has moved on); this is what lets the state fold old
 *   operations and forget emptied lines exactly.
 * - A SKU keeps at most {@link MAX_OPS_PER_LINE} operations, the cart at most
 *   {@link MAX_TOTAL_OPS}; past that, the oldest are folded into one `set` (whole logs of the
 *   least recently changed SKUs for the cart-wide cap), and a later-arriving event older than
 *   a fold is ignored. Reordering is normally seconds to minutes apart, so this is rare.
 * - At most {@link MAX_CART_LINES} SKUs are tracked; emptied lines go first, then the
 *   least recently changed ones.
 * - At most {@link MAX_PURCHASE_MARKS} purchase marks, none older than
 *   {@link PURCHASE_MEMORY_MS} before the newest event; the oldest go first.
 *
 * The only clock is the events' own times, so callers must refuse far-future events
 * first ({@link isFutureCartEvent}).
 *
 * `checkout` versus `purchase`: both record purchase memory for their items, so nothing is
 * offered for what the person is paying for right now; only `purchase` empties those SKUs
 * from the cart, because a checkout can still fail or be abandoned and the platform keeps
 * the cart until the order is confirmed.
 */

import { AppError } from "../errors.js";

const DAY_MS = 86_400_000;

/** Most SKUs tracked in one cart, live lines and emptied ones together. */
export const MAX_CART_LINES = 500;
/** Most quantity operations kept per SKU before the oldest are folded together. */
export const MAX_OPS_PER_LINE = 16;
/** Most quantity operations kept across the whole cart; past it, whole logs fold. */
export const MAX_TOTAL_OPS = 1500;
/** Most purchase marks (per SKU plus per category) kept per person. */
export const MAX_PURCHASE_MARKS = 2000;
/** How long a purchase is remembered: the longest `suppressIfPurchasedWithinDays`. */
export const PURCHASE_MEMORY_MS = 365 * DAY_MS;
/** How late an event may arrive, behind the newest one seen, and still change the cart. */
export const LATE_EVENT_HORIZON_MS = 7 * DAY_MS;

/** Most a cart event's time may lie ahead of the receiver's clock, as for pings. */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/** The cart event types of `POST /v1/cart-events`. */
export type CartEventType = "item_added" | "item_removed" | "cart_cleared" | "checkout" | "purchase";

/** One item of a cart event. */
export interface CartItem {
	sku: string;
	category?: string | undefined;
	/** Positive; defaults to 1 for `item_added`, to "the whole line" for `item_removed`. */
	quantity?: number | undefined;
	price?: number | undefined;
}

/** A cart event, as validated at the boundary, with its time resolved to epoch ms. */
export interface CartEvent {
	eventId: string;
	type: CartEventType;
	items: readonly CartItem[];
	/** When it happened at the cart platform (epoch ms); the only clock this module reads. */
	occurredAt: number;
}

/** Where an event sits in event time: `(at, id)`, compared lexicographically. */
export interface EventPosition {
	at: number;
	id: string;
}

/** One quantity operation on a SKU: `add`/`sub` are relative, `set` absolute. */
export interface CartOp extends EventPosition {
	kind: "add" | "sub" | "set";
	qty: number;
}

/** A value with the position of the event that set it (last writer wins per field). */
export interface Stamped<T> extends EventPosition {
	value: T;
}

/** Everything known about one SKU in the cart. */
export interface CartLine {
	sku: string;
	category: Stamped<string> | null;
	price: Stamped<number> | null;
	/** Sorted by position; only `ops[0]` may be a `set`, and all are after the watermark. */
	ops: CartOp[];
}

/** The last time a SKU or a category was purchased (or checked out). */
export interface PurchaseMark {
	kind: "sku" | "category";
	key: string;
	at: number;
}

/** A person's cart and purchase memory; plain JSON, lines sorted by SKU. */
export interface CartState {
	version: 1;
	/** Latest `occurredAt` seen, the clock for the late-event horizon and pruning. */
	newestAt: number | null;
	/** Last `cart_cleared`: operations at or before it are void. */
	cleared: EventPosition | null;
	lines: CartLine[];
	/** Sorted by kind, then key. */
	purchases: PurchaseMark[];
}

/** One line of the cart as offers and rules see it. */
export interface CartContentLine {
	sku: string;
	category: string | null;
	quantity: number;
	price: number | null;
}

/** Stable code of the error {@link applyCartEvent} throws for an event the boundary should have refused. */
export type CartErrorCode = "invalid_cart_event";

/** A cart event that cannot be placed in event time or has unusable items (status 422). */
export class CartError extends AppError {
	/** Stable, machine-readable reason. */
	declare readonly code: CartErrorCode;
	override readonly name = "CartError";

	/**
	 * @param code stable reason code
	 * @param message human-readable detail (not part of the contract)
	 */
	constructor(code: CartErrorCode, message: string) {
		super(code, 422, message);
	}
}

/** A cart with nothing in it and no purchase memory. */
export function emptyCart(): CartState {
	return { version: 1, newestAt: null, cleared: null, lines: [], purchases: [] };
}

/**
 * Event-time order: by time, then by event id compared as strings (code units, not
 * locale, so every runtime agrees).
 */
export function comparePositions(a: EventPosition, b: EventPosition): number {
	if (a.at !== b.at) return a.at < b.at ? -1 : 1;
	return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function compareStrings(a: string, b: string): number {
	return a < b ? -1 : a > b ? 1 : 0;
}

function checkEvent(event: CartEvent): void {
	const bad = (message: string) => new CartError("invalid_cart_event", message);
	if (typeof event.eventId !== "string" || event.eventId === "")
		throw bad("eventId must be a non-empty string");
	if (!Number.isFinite(event.occurredAt)) throw bad("occurredAt must be a finite epoch ms");
	for (const item of event.items) {
		if (typeof item.sku !== "string" || item.sku === "") throw bad("sku must be a non-empty string");
		if (item.quantity !== undefined && !(Number.isFinite(item.quantity) && item.quantity > 0)) {
			throw bad("quantity must be positive");
		}
		if (item.price !== undefined && !Number.isFinite(item.price)) throw bad("price must be finite");
	}
}

/** Quantity of a line: the fold of its log, ignoring anything at or before the watermark. */
function lineQuantity(line: CartLine, cleared: EventPosition | null): number {
	let q = 0;
	for (const op of line.ops) {
		if (cleared !== null && comparePositions(op, cleared) <= 0) continue;
		if (op.kind === "set") q = op.qty;
		else if (op.kind === "add") q += op.qty;
		else q = Math.max(0, q - op.qty);
	}
	return q;
}

/** Folds `ops[0..count)` into one `set` at the position of the last of them. */
function foldPrefix(ops: readonly CartOp[], count: number): CartOp[] {
	const last = ops[count - 1];
	if (last === undefined) return [...ops];
	const qty = lineQuantity({ sku: "", category: null, price: null, ops: ops.slice(0, count) }, null);
	return [{ at: last.at, id: last.id, kind: "set", qty }, ...ops.slice(count)];
}

/** Adds one operation to a log, or returns the log unchanged when the operation is void. */
function insertOp(ops: readonly CartOp[], op: CartOp, cleared: EventPosition | null): readonly CartOp[] {
	if (cleared !== null && comparePositions(op, cleared) <= 0) return ops;
	if (ops.some((o) => o.id === op.id)) return ops;
	const base = ops[0];
	if (base !== undefined && base.kind === "set" && comparePositions(op, base) <= 0) return ops;
	let next: CartOp[];
	if (op.kind === "set") {
		next = [op, ...ops.filter((o) => comparePositions(o, op) > 0)];
	} else {
		const i = ops.findIndex((o) => comparePositions(o, op) > 0);
		next = i < 0 ? [...ops, op] : [...ops.slice(0, i), op, ...ops.slice(i)];
	}
	return next.length > MAX_OPS_PER_LINE ? foldPrefix(next, next.length - MAX_OPS_PER_LINE + 1) : next;
}

function lastTouched(line: CartLine): number {
	let t = Number.NEGATIVE_INFINITY;
	for (const op of line.ops) t = Math.max(t, op.at);
	if (line.category) t = Math.max(t, line.category.at);
	if (line.price) t = Math.max(t, line.price.at);
	return t;
}

/** What one event does to one SKU, its items for that SKU merged. */
interface SkuChange {
	op: CartOp | null;
	category: string | undefined;
	price: number | undefined;
}

/**
 * Merges the items of one event per SKU: an event is one position in time, so it yields at
 * most one operation per SKU (the same SKU listed twice adds up).
 */
function changesOf(event: CartEvent): Map<string, SkuChange> {
	const pos = { at: event.occurredAt, id: event.eventId };
	const out = new Map<string, SkuChange>();
	for (const item of event.items) {
		const prev = out.get(item.sku);
		let op: CartOp | null = prev?.op ?? null;
		if (event.type === "item_added") {
			op = { ...pos, kind: "add", qty: (op?.qty ?? 0) + (item.quantity ?? 1) };
		} else if (event.type === "item_removed") {
			op =
				item.quantity === undefined || op?.kind === "set"
					? { ...pos, kind: "set", qty: 0 }
					: { ...pos, kind: "sub", qty: (op?.qty ?? 0) + item.quantity };
		} else if (event.type === "purchase") {
			op = { ...pos, kind: "set", qty: 0 };
		}
		out.set(item.sku, {
			op,
			category: item.category ?? prev?.category,
			price: item.price ?? prev?.price,
		});
	}
	return out;
}

function stamp<T>(current: Stamped<T> | null, value: T | undefined, pos: EventPosition): Stamped<T> | null {
	if (value === undefined) return current;
	if (current !== null && comparePositions(pos, current) < 0) return current;
	return { at: pos.at, id: pos.id, value };
}

function compareMarkKeys(a: PurchaseMark, kind: PurchaseMark["kind"], key: string): number {
	return compareStrings(a.kind, kind) || compareStrings(a.key, key);
}

/**
 * Records the purchase marks of a purchase or checkout into `marks` (sorted by kind, then
 * key, kept sorted by binary insertion so a purchase costs O(marks), not a sort).
 */
function recordPurchases(
	marks: PurchaseMark[],
	event: CartEvent,
	lines: ReadonlyMap<string, CartLine>,
): void {
	const mark = (kind: PurchaseMark["kind"], key: string) => {
		let lo = 0;
		let hi = marks.length;
		while (lo < hi) {
			const mid = (lo + hi) >>> 1;
			const m = marks[mid];
			if (m !== undefined && compareMarkKeys(m, kind, key) < 0) lo = mid + 1;
			else hi = mid;
		}
		const found = marks[lo];
		const next = { kind, key, at: event.occurredAt };
		if (found === undefined || compareMarkKeys(found, kind, key) !== 0) marks.splice(lo, 0, next);
		else if (found.at < event.occurredAt) marks[lo] = next;
	};
	for (const item of event.items) {
		mark("sku", item.sku);
		// The line's known category is a fallback for platforms that omit it on purchase;
		// it depends on what arrived before, the one place arrival order can show.
		const category = item.category ?? lines.get(item.sku)?.category?.value;
		if (category !== undefined) mark("category", category);
	}
}

/**
 * Whether an event claims a time more than {@link MAX_FUTURE_SKEW_MS} after `nowMs`. The
 * caller refuses such events before {@link applyCartEvent}: the newest event time is this
 * module's clock, so one far-future event would push every real event behind the
 * late-event horizon and freeze the cart.
 */
export function isFutureCartEvent(event: Pick<CartEvent, "occurredAt">, nowMs: number): boolean {
	return event.occurredAt - nowMs > MAX_FUTURE_SKEW_MS;
}

/**
 * Applies one cart event and returns the new state; the input is not modified.
 * Redelivering an event changes nothing, and any arrival order of the same events
 * yields the same cart (see the module comment for the bounds).
 *
 * @throws CartError `invalid_cart_event` for an empty event id, a non-finite time, an
 *   empty SKU, a non-positive quantity or a non-finite price
 */
export function applyCartEvent(state: CartState, event: CartEvent): CartState {
	checkEvent(event);
	const newestAt = state.newestAt === null ? event.occurredAt : Math.max(state.newestAt, event.occurredAt);
	const horizon = newestAt - LATE_EVENT_HORIZON_MS;
	const pos: EventPosition = { at: event.occurredAt, id: event.eventId };
	const lines = new Map(state.lines.map((l) => [l.sku, l]));
	let cleared = state.cleared;

	// Most events are not purchases: keep the (sorted) marks as they are unless some expired.
	let purchases = state.purchases;
	const purchaseCutoff = newestAt - PURCHASE_MEMORY_MS;
	if (event.type === "purchase" || event.type === "checkout") {
		const marks = [...state.purchases];
		recordPurchases(marks, event, lines);
		purchases = prunePurchases(marks, purchaseCutoff);
	} else if (purchases.some((m) => m.at < purchaseCutoff)) {
		purchases = prunePurchases([...purchases], purchaseCutoff);
	}

	if (event.occurredAt >= horizon) {
		if (event.type === "cart_cleared") {
			if (cleared === null || comparePositions(pos, cleared) > 0) {
				const watermark = pos;
				cleared = watermark;
				for (const [sku, line] of lines) {
					const ops = line.ops.filter((o) => comparePositions(o, watermark) > 0);
					if (ops.length !== line.ops.length) lines.set(sku, { ...line, ops });
				}
			}
		} else if (event.type !== "checkout") {
			for (const [sku, change] of changesOf(event)) {
				const line = lines.get(sku) ?? { sku, category: null, price: null, ops: [] };
				const ops = change.op === null ? line.ops : insertOp(line.ops, change.op, cleared);
				lines.set(sku, {
					sku,
					category: stamp(line.category, change.category, pos),
					price: stamp(line.price, change.price, pos),
					ops: [...ops],
				});
			}
		}
	}

	// Nothing older than the horizon can change the cart any more, so operations before it
	// fold exactly into one `set`, and emptied lines last touched before it can go.
	for (const [sku, line] of lines) {
		const old = line.ops.filter((o) => o.at < horizon).length;
		const first = line.ops[0];
		if (old > 1 || (old === 1 && first !== undefined && first.kind !== "set")) {
			lines.set(sku, { ...line, ops: foldPrefix(line.ops, old) });
		}
		const current = lines.get(sku);
		if (current && lastTouched(current) < horizon && lineQuantity(current, cleared) === 0) lines.delete(sku);
	}
	// The cart-wide budget keeps the worst case (every SKU at its per-line cap) well under
	// a Durable Object value's 2 MB: the least recently changed logs fold first.
	let totalOps = 0;
	for (const line of lines.values()) totalOps += line.ops.length;
	if (totalOps > MAX_TOTAL_OPS) {
		const oldestFirst = [...lines.values()]
			.filter((l) => l.ops.length > 1)
			.sort((a, b) => lastTouched(a) - lastTouched(b) || compareStrings(a.sku, b.sku));
		for (const line of oldestFirst) {
			if (totalOps <= MAX_TOTAL_OPS) break;
			totalOps -= line.ops.length - 1;
			lines.set(line.sku, { ...line, ops: foldPrefix(line.ops, line.ops.length) });
		}
	}
	if (lines.size > MAX_CART_LINES) {
		const victims = [...lines.values()]
			.map((line) => ({ line, empty: lineQuantity(line, cleared) === 0, touched: lastTouched(line) }))
			.sort(
				(a, b) =>
					Number(b.empty) - Number(a.empty) ||
					a.touched - b.touched ||
					compareStrings(a.line.sku, b.line.sku),
			);
		for (const v of victims.slice(0, lines.size - MAX_CART_LINES)) lines.delete(v.line.sku);
	}

	return {
		version: 1,
		newestAt,
		cleared,
		lines: [...lines.values()].sort((a, b) => compareStrings(a.sku, b.sku)),
		purchases,
	};
}

/**
 * Drops marks older than `cutoff`, then the oldest beyond the cap (ties: kind, then key, so
 * the choice is deterministic). Input and output sorted by kind, then key.
 */
function prunePurchases(marks: readonly PurchaseMark[], cutoff: number): PurchaseMark[] {
	const kept = marks.filter((m) => m.at >= cutoff);
	if (kept.length <= MAX_PURCHASE_MARKS) return kept;
	const oldestFirst = [...kept].sort(
		(a, b) => a.at - b.at || compareStrings(a.kind, b.kind) || compareStrings(a.key, b.key),
	);
	const dropped = new Set(oldestFirst.slice(0, kept.length - MAX_PURCHASE_MARKS));
	return kept.filter((m) => !dropped.has(m));
}

/** The lines with a positive quantity, sorted by SKU. */
export function cartContents(state: CartState): CartContentLine[] {
	const out: CartContentLine[] = [];
	for (const line of state.lines) {
		const quantity = lineQuantity(line, state.cleared);
		if (quantity > 0) {
			out.push({
				sku: line.sku,
				category: line.category?.value ?? null,
				quantity,
				price: line.price?.value ?? null,
			});
		}
	}
	return out;
}

/** The SKUs and categories in the cart: the input of the complementary-product rule index. */
export function cartKeys(state: CartState): { skus: string[]; categories: string[] } {
	const contents = cartContents(state);
	const categories = new Set<string>();
	for (const l of contents) if (l.category !== null) categories.add(l.category);
	return { skus: contents.map((l) => l.sku), categories: [...categories].sort(compareStrings) };
}

/**
 * Whether the SKU or the category (either, when both are given) was purchased or checked
 * out less than `days` days before `nowMs`. A purchase exactly `days` days old no longer
 * counts; `days` of 0 never suppresses; a purchase stamped after `nowMs` (clock skew
 * between the cart platform and us) counts as recent.
 */
export function purchasedWithin(
	state: CartState,
	what: { sku?: string | undefined; category?: string | undefined },
	days: number,
	nowMs: number,
): boolean {
	const windowMs = days * DAY_MS;
	if (!(windowMs > 0)) return false;
	for (const m of state.purchases) {
		const hit = m.kind === "sku" ? m.key === what.sku : m.key === what.category;
		if (hit && nowMs - m.at < windowMs) return true;
	}
	return false;
}
