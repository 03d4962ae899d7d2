/**
 * The fence index: which fences contain a point, with the exact answer of the test in exact.ts
 * (turf point-in-polygon for polygons, turf haversine <= radius for circles) and no false
 * positive or negative.
 *
 * Choices (measured with `npm run bench:match`; see bench/README.md):
 * - Cells: a grid of lng/lat squares whose levels nest exactly (see "Planar grid covers" in
 *   cover.ts), not H3 cells. An H3 lookup per ping costs about 1.5 µs in h3-js, and a per-fence
 *   H3 resolution meant one lookup per resolution in use (three for store-sized fences): that
 *   was 85 % of the time of a ping, and 5x slower than an R-tree of bounding boxes. A point's
 *   grid square at every level comes from one pair of integer coordinates instead. H3 remains
 *   the shard key (shard.ts), where its equal-area cells matter.
 * - Level per fence: the finest at which the fence's box spans at most 3 squares per axis, so a
 *   fence sits in 1 to 9 squares and a tenant's fences use a handful of levels (one probe each).
 * - Cover: every square of the fence's box at its level, classified (cover.ts) as out (not
 *   stored), full (every point inside: answered without a test) or edge (exact test).
 * - Storage: fences packed into flat typed arrays (exact.ts), squares in one open-addressing
 *   hash table of Int32Arrays keyed by (level, column, row): a few hundred bytes a fence, no
 *   object per fence or square.
 * - Lookup: per level a hash probe, then full entries answer at once and edge entries run the
 *   exact test on the packed geometry (box reject first; turf's own point-in-polygon arithmetic,
 *   and turf itself in the rare case its floating-point fast path would not decide). No
 *   allocation but the result array.
 * - Points outside lat [-90, 90] / lng [-180, 180] or non-finite match nothing: callers validate
 *   pings first, and the planar exact test is not meaningful for unnormalized longitudes.
 */
import { CellClass, GRID_MAX_LEVEL, GRID_SCALE, gridCellClass, gridCoordinate, gridLevel } from "./cover.js";
import {
	type FenceShape,
	type PackedFences,
	packedContains,
	packedDistanceMeters,
	packFences,
} from "./exact.js";
import { type FenceFeatureLike, readFenceShape } from "./fence-input.js";
import type { Fence } from "./types.js";

export type { FenceFeatureLike } from "./fence-input.js";

/** Which fences contain a point, and how far a point is from a fence. */
export interface FenceIndex {
	/** Ids of the fences that contain the point (sorted ascending). */
	match(lat: number, lng: number): string[];
	/** Metres from the point to the fence's region: 0 when inside, Infinity for an unknown id. */
	distanceTo(id: string, lat: number, lng: number): number;
	/** Number of fences indexed. */
	readonly size: number;
}

/**
 * The squares of all fences in one hash table. A fence at level L within DEPTH levels below the
 * base level B is stored under its square's ancestor at B (its "home"), tagged with which of the
 * 2^d x 2^d descendants at L = B - d it is; coarser fences are stored at their own level. So a ping
 * probes the base level once (plus one probe per coarser level in use) and filters the home's
 * entries by one integer comparison each.
 */
interface Grid {
	/** Home levels to probe: the base level, then coarser ones. */
	homes: Int32Array;
	base: number;
	depth: number;
	mask: number;
	/** Per slot: `home << 27 | column` (-1 when empty), row, offset of the list in `lists`. */
	slots: Int32Array;
	/** At an offset: count, then (entry, tag) pairs; entry `fence * 2 + (full ? 1 : 0)`, tag as {@link tagOf}. */
	lists: Int32Array;
}

const EMPTY = -1;
// Column bits: a column at level 0 is below 360 * GRID_SCALE < 2^27.
const COLUMN_BITS = 27;
const MAX_LOAD = 0.6;
// Levels a home holds below itself (tags have 5 bits per axis), and the share of fences at or
// below the base level.
const MAX_DEPTH = 5;
const BASE_SHARE = 0.97;
// At most this many levels between the base and the finest fences (see chooseBase): measured
// with 0 to 5 on the benchmark's city and on a skewed mix, 2 was fastest or level with the best
// on both.
const BASE_SPREAD = 2;
// A fence coarser than the base level is stored at the base when its box spans at most this many
// base squares, which saves every ping a probe of its level.
const MAX_SQUARES_AT_BASE = 36;

function gridKey(level: number, column: number): number {
	return (level << COLUMN_BITS) | column;
}

function slotOf(kx: number, ky: number, mask: number): number {
	let h = Math.imul(kx, 0x9e3779b1) ^ Math.imul(ky, 0x85ebca6b);
	h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
	return (h ^ (h >>> 13)) & mask;
}

/** The tag of square (ix, iy) at `d` levels below its home: d and its offsets in the home. */
function tagOf(d: number, ix: number, iy: number): number {
	const low = (1 << d) - 1;
	return (d << 10) | ((ix & low) << 5) | (iy & low);
}

/** A growable Int32Array, for building without an array of boxed numbers. */
class IntList {
	data = new Int32Array(1024);
	length = 0;
	push(x: number): void {
		if (this.length === this.data.length) {
			const next = new Int32Array(this.data.length * 2);
			next.set(this.data);
			this.data = next;
		}
		this.data[this.length++] = x;
	}
}

/**
 * The base level: the one at or below which {@link BASE_SHARE} of the fences lie, but at most
 * {@link BASE_SPREAD} levels above the level of the finest (1 - BASE_SHARE) of them. Without that
 * cap a few percent of big fences (city-wide circles among shop-sized ones) lift the base so far
 * that the small fences are filed under squares far bigger than they are, and every ping scans
 * long lists (measured: 0.19 µs a match with 10,000 circles of 30 m, 11.4 µs once 3.1 % of 10 km
 * circles are added; 0.17 µs with the cap). The big fences then go to their own level: one more
 * hash probe per ping.
 */
function chooseBase(levels: Int32Array): number {
	const histogram = new Int32Array(GRID_MAX_LEVEL + 1);
	for (const level of levels) histogram[level] = (histogram[level] ?? 0) + 1;
	const levelAtShare = (share: number): number => {
		let seen = 0;
		for (let level = 0; level <= GRID_MAX_LEVEL; level++) {
			seen += histogram[level] ?? 0;
			if (seen >= levels.length * share) return level;
		}
		return GRID_MAX_LEVEL;
	};
	return Math.min(levelAtShare(BASE_SHARE), levelAtShare(1 - BASE_SHARE) + BASE_SPREAD);
}

/** How many squares of a level a fence's box spans (without the antimeridian split, an upper bound). */
function squaresAt(box: Float64Array, f: number, level: number): number {
	const minLng = box[4 * f] ?? 0;
	const maxLng = box[4 * f + 2] ?? 0;
	const columns =
		minLng <= maxLng
			? gridCoordinate(maxLng + 180, level) - gridCoordinate(minLng + 180, level) + 1
			: gridCoordinate(360, level) + 1;
	const rows =
		gridCoordinate((box[4 * f + 3] ?? 0) + 90, level) - gridCoordinate((box[4 * f + 1] ?? 0) + 90, level) + 1;
	return columns * rows;
}

function buildGrid(packed: PackedFences): Grid {
	const { box, count: fences } = packed;
	const levels = new Int32Array(fences);
	for (let f = 0; f < fences; f++) {
		const minLng = box[4 * f] ?? 0;
		const maxLng = box[4 * f + 2] ?? 0;
		const width = minLng > maxLng ? maxLng + 360 - minLng : maxLng - minLng;
		levels[f] = gridLevel(Math.max(width, (box[4 * f + 3] ?? 0) - (box[4 * f + 1] ?? 0)));
	}
	const base = chooseBase(levels);
	const depth = Math.min(MAX_DEPTH, base);
	const homes = new Set<number>([base]);

	const kxs = new IntList();
	const kys = new IntList();
	const entries = new IntList();
	const tags = new IntList();
	const add = (f: number, level: number, ix0: number, ix1: number, iy0: number, iy1: number): void => {
		const home = Math.max(level, base);
		const d = home - level;
		for (let ix = ix0; ix <= ix1; ix++) {
			for (let iy = iy0; iy <= iy1; iy++) {
				const cls = gridCellClass(packed, f, level, ix, iy);
				if (cls === CellClass.Out) continue;
				kxs.push(gridKey(home, ix >> d));
				kys.push(iy >> d);
				entries.push(f * 2 + (cls === CellClass.Full ? 1 : 0));
				tags.push(tagOf(d, ix, iy));
			}
		}
	};
	for (let f = 0; f < fences; f++) {
		const minLng = box[4 * f] ?? 0;
		const maxLng = box[4 * f + 2] ?? 0;
		// A fence finer than the base can hold is stored at the finest level it can (fewer, larger
		// squares); a coarser one at the base too when that takes few squares, else at its own level.
		let level = Math.max(levels[f] ?? 0, base - depth);
		if (level > base && squaresAt(box, f, base) <= MAX_SQUARES_AT_BASE) level = base;
		if (level > base) homes.add(level);
		const iy0 = gridCoordinate((box[4 * f + 1] ?? 0) + 90, level);
		const iy1 = gridCoordinate((box[4 * f + 3] ?? 0) + 90, level);
		const west = gridCoordinate(minLng + 180, level);
		const east = gridCoordinate(maxLng + 180, level);
		if (minLng <= maxLng) add(f, level, west, east, iy0, iy1);
		else {
			// The box crosses the antimeridian: [minLng, 180] and [-180, maxLng], never the same square.
			const last = gridCoordinate(360, level);
			if (east >= west) add(f, level, 0, last, iy0, iy1);
			else {
				add(f, level, west, last, iy0, iy1);
				add(f, level, 0, east, iy0, iy1);
			}
		}
	}

	// Distinct keys first (in a table sized for the worst case), then the final table sized for them.
	const n = entries.length;
	const firstOf = new Int32Array(n);
	let distinct = 0;
	{
		let capacity = 16;
		while (capacity * MAX_LOAD < n) capacity *= 2;
		const mask = capacity - 1;
		const seen = new Int32Array(capacity).fill(EMPTY);
		for (let t = 0; t < n; t++) {
			const kx = kxs.data[t] ?? 0;
			const ky = kys.data[t] ?? 0;
			let slot = slotOf(kx, ky, mask);
			for (;;) {
				const first = seen[slot] ?? EMPTY;
				if (first === EMPTY) {
					seen[slot] = t;
					firstOf[t] = t;
					distinct++;
					break;
				}
				if (kxs.data[first] === kx && kys.data[first] === ky) {
					firstOf[t] = first;
					break;
				}
				slot = (slot + 1) & mask;
			}
		}
	}
	let capacity = 16;
	while (capacity * MAX_LOAD < distinct) capacity *= 2;
	const mask = capacity - 1;
	const slots = new Int32Array(capacity * 3);
	for (let slot = 0; slot < capacity; slot++) slots[3 * slot] = EMPTY;
	const counts = new Int32Array(capacity);
	const slotOfEntry = new Int32Array(n);
	for (let t = 0; t < n; t++) {
		const first = firstOf[t] ?? t;
		if (first !== t) {
			const slot = slotOfEntry[first] ?? 0;
			slotOfEntry[t] = slot;
			counts[slot] = (counts[slot] ?? 0) + 1;
			continue;
		}
		const kx = kxs.data[t] ?? 0;
		const ky = kys.data[t] ?? 0;
		let slot = slotOf(kx, ky, mask);
		while (slots[3 * slot] !== EMPTY) slot = (slot + 1) & mask;
		slots[3 * slot] = kx;
		slots[3 * slot + 1] = ky;
		slotOfEntry[t] = slot;
		counts[slot] = 1;
	}
	const used = distinct;
	// Lists in slot order; entries within a list in fence order (they come in fence order).
	const lists = new Int32Array(used + 2 * n);
	let offset = 0;
	for (let slot = 0; slot < capacity; slot++) {
		const c = counts[slot] ?? 0;
		if (c === 0) continue;
		slots[3 * slot + 2] = offset;
		offset += 1 + 2 * c;
	}
	for (let t = 0; t < n; t++) {
		const at = slots[3 * (slotOfEntry[t] ?? 0) + 2] ?? 0;
		const filled = lists[at] ?? 0;
		lists[at + 1 + 2 * filled] = entries.data[t] ?? 0;
		lists[at + 2 + 2 * filled] = tags.data[t] ?? 0;
		lists[at] = filled + 1;
	}
	return { homes: Int32Array.from([...homes].sort((a, b) => a - b)), base, depth, mask, slots, lists };
}

// Fence numbers of the current match; JS is single-threaded and match does not re-enter.
let found = new Int32Array(64);
// The current point's tag at each depth below the base level.
const pointTags = new Int32Array(MAX_DEPTH + 1);

/**
 * Builds the index. Fences are re-read cheaply (not trusted as cast); when two share an id the
 * later one wins, as an upload of the same id replaces the fence.
 *
 * @param features API-shaped geofence Features (`properties.id`, and `properties.radius` for a
 *   Point) or stored `Fence` objects
 * @returns the index
 * @throws GeoError `invalid_fence` when an element is not a usable fence
 */
export function createFenceIndex(
	features: ReadonlyArray<FenceFeatureLike> | ReadonlyArray<Fence>,
): FenceIndex {
	const byId = new Map<string, FenceShape>();
	features.forEach((value, i) => {
		const shape = readFenceShape(value, i);
		byId.set(shape.id, shape);
	});
	// Fence numbers follow id order, so sorting numbers sorts ids.
	const ids = [...byId.keys()].sort();
	const packed = packFences(ids.map((id) => byId.get(id)).filter((s) => s !== undefined));
	byId.clear();
	const { homes, base, depth, mask, slots, lists } = buildGrid(packed);

	const numberOf = (id: string): number => {
		let lo = 0;
		let hi = ids.length - 1;
		while (lo <= hi) {
			const mid = (lo + hi) >> 1;
			const at = ids[mid] ?? "";
			if (at === id) return mid;
			if (at < id) lo = mid + 1;
			else hi = mid - 1;
		}
		return -1;
	};

	return {
		size: ids.length,
		match(lat: number, lng: number): string[] {
			if (!(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180)) return [];
			const column = Math.floor((lng + 180) * GRID_SCALE);
			const row = Math.floor((lat + 90) * GRID_SCALE);
			let n = 0;
			let tagged = false;
			for (let i = 0; i < homes.length; i++) {
				const home = homes[i] ?? base;
				const kx = gridKey(home, column >> home);
				const ky = row >> home;
				let slot = slotOf(kx, ky, mask);
				let k = slots[3 * slot];
				while (k !== EMPTY && (k !== kx || slots[3 * slot + 1] !== ky)) {
					slot = (slot + 1) & mask;
					k = slots[3 * slot];
				}
				if (k === EMPTY) continue;
				if (!tagged) {
					for (let d = 0; d <= depth; d++) pointTags[d] = tagOf(d, column >> (base - d), row >> (base - d));
					tagged = true;
				}
				const at = slots[3 * slot + 2] ?? 0;
				const end = at + 1 + 2 * (lists[at] ?? 0);
				for (let e = at + 1; e < end; e += 2) {
					const tag = lists[e + 1] ?? 0;
					if (tag !== pointTags[tag >> 10]) continue;
					const entry = lists[e] ?? 0;
					const f = entry >> 1;
					if ((entry & 1) === 1 || packedContains(packed, f, lat, lng)) {
						if (n === found.length) {
							const more = new Int32Array(n * 2);
							more.set(found);
							found = more;
						}
						found[n++] = f;
					}
				}
			}
			if (n === 0) return [];
			if (n > 1) found.subarray(0, n).sort();
			const out = new Array<string>(n);
			for (let i = 0; i < n; i++) out[i] = ids[found[i] ?? 0] ?? "";
			return out;
		},
		distanceTo(id: string, lat: number, lng: number): number {
			const f = numberOf(id);
			if (f < 0) return Number.POSITIVE_INFINITY;
			return packedDistanceMeters(packed, f, lat, lng);
		},
	};
}
