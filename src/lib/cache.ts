/**
 * The one bounded cache of the service: a Map that never holds more than `max` entries.
 *
 * Eviction rule: least recently used. Reading a key with {@link BoundedCache.get} (a hit) or
 * writing it with {@link BoundedCache.set} makes it the most recent; when a new key would
 * make the cache hold more than `max` entries, the least recent one is dropped first.
 * {@link BoundedCache.has} and {@link BoundedCache.peek} read without touching the order.
 *
 * Used for per-isolate caches of values that are costly to build and safe to build again
 * (parsed templates, time-zone formatters, imported keys): a miss is never wrong, only slower.
 * Keys must come from bounded, validated data or server-side secrets, never raw request
 * input, or the cache becomes an eviction lever for whoever sends requests.
 */
export class BoundedCache<K, V> {
	// A Map iterates in insertion order: the first key is the least recently used one.
	readonly #entries = new Map<K, V>();
	/** Most entries held at once. */
	readonly max: number;

	// A plain field, no parameter property: the benchmarks load src/ with Node's type stripping.
	/**
	 * @param max most entries held at once, an integer of at least 1
	 * @throws RangeError when `max` is not a positive integer
	 */
	constructor(max: number) {
		if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be an integer >= 1, got ${max}`);
		this.max = max;
	}

	/** Entries held now (at most `max`). */
	get size(): number {
		return this.#entries.size;
	}

	/** The value for `key`, made the most recently used; undefined on a miss. */
	get(key: K): V | undefined {
		if (!this.#entries.has(key)) return undefined;
		const value = this.#entries.get(key) as V;
		this.#entries.delete(key);
		this.#entries.set(key, value);
		return value;
	}

	/** The value for `key` without changing the eviction order. */
	peek(key: K): V | undefined {
		return this.#entries.get(key);
	}

	/** Whether `key` is held, without changing the eviction order. */
	has(key: K): boolean {
		return this.#entries.has(key);
	}

	/** Stores `value` as the most recently used; drops the least recently used past `max`. */
	set(key: K, value: V): this {
		this.#entries.delete(key);
		// At `max` entries there is always a first (least recent) key to drop.
		if (this.#entries.size >= this.max) this.#entries.delete(this.#entries.keys().next().value as K);
		this.#entries.set(key, value);
		return this;
	}

	/**
	 * The value for `key`, built by `create` and stored on a miss. A `create` that throws
	 * stores nothing (the error propagates).
	 */
	getOrCreate(key: K, create: (key: K) => V): V {
		if (this.#entries.has(key)) return this.get(key) as V;
		const value = create(key);
		this.set(key, value);
		return value;
	}

	/** Drops `key`; true when it was held. */
	delete(key: K): boolean {
		return this.#entries.delete(key);
	}

	/** Drops every entry. */
	clear(): void {
		this.#entries.clear();
	}

	/** Keys from least to most recently used. */
	keys(): IterableIterator<K> {
		return this.#entries.keys();
	}
}
