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
 * - Storage: fences packed into one Float64Array of records (exact.ts), squares filed under
 *   their home square (below): a dense two-level directory over the fences' region for the base
 *   level, an open-addressing hash table of Int32Arrays for coarser homes (and for the base too
 *   when the fences are spread too thin for a directory). About 500-600 bytes a fence, no object
 *   per fence or square.
 * - Lookup: a directory read (plus a hash probe per coarser level in use), then the square's
 *   entries: those of other squares or whose fence's box is elsewhere in the square are skipped
 *   by integer tests, full entries answer at once, edge entries run the exact test on the packed
 *   record (box reject first; for circles, bounds of turf's haversine that decide all but a
 *   shell of 1e-9 of the radius; turf's own point-in-polygon arithmetic, and turf itself in the
 *   rare case its floating-point fast path would not decide). No allocation but the result array.
 * - Build (createFenceIndex), linear and lean: one pass sizes the records, one allocation holds
 *   the records and the grid's working arrays, one pass reads and checks each input fence by
 *   hand straight into its record (no zod object, no copied positions: zod and its copies were
 *   most of a build and, with the input's 2 GB alive at 1M fences, the garbage collector most
 *   of the rest), then the fences are filed in Morton order of where they lie and the entries
 *   sorted into lists in place. Input already in id order (as storage returns it) is not sorted.
 * - Snapshots (snapshot.ts): the built arrays one after the other; loading takes views over the
 *   bytes, so a woken shard answers its first ping without building.
 * - Points outside lat [-90, 90] / lng [-180, 180] or non-finite match nothing: callers validate
 *   pings first, and the planar exact test is not meaningful for unnormalized longitudes.
 */
import {
	CellClass,
	classifySquares,
	GRID_MAX_LEVEL,
	GRID_SCALE,
	gridCoordinate,
	gridLevel,
} from "./cover.js";
import {
	FencePacker,
	grownI32,
	type PackedFences,
	RECORD_ALIGN,
	recordBox,
	recordContains,
	recordDistanceMeters,
} from "./exact.js";
import { type FenceFeatureLike, fenceRecordLength, packFenceInput } from "./fence-input.js";
import { decodeSnapshot, encodeSnapshot, type IndexParts, SortedIds } from "./snapshot.js";
import type { Fence } from "./types.js";

export type { FenceFeatureLike } from "./fence-input.js";
export { FenceSnapshotError, type FenceSnapshotErrorCode, SNAPSHOT_VERSION } from "./snapshot.js";

/** Which fences contain a point, and how far a point is from a fence. */
export interface FenceIndex {
	/** Ids of the fences that contain the point (sorted ascending). */
	match(lat: number, lng: number): string[];
	/** Metres from the point to the fence's region: 0 when inside, Infinity for an unknown id. */
	distanceTo(id: string, lat: number, lng: number): number;
	/** Number of fences indexed. */
	readonly size: number;
}

/*
 * The grid. A fence at level L within `depth` levels below the base level B is stored under its
 * square's ancestor at B (its "home"), tagged with which of the 2^d x 2^d descendants at
 * L = B - d it is; coarser fences are stored at their own level. So a ping looks the base level
 * up once (plus one probe per coarser level in use) and filters the home's entries by integer
 * comparisons.
 *
 * `homes`: the home levels, ascending (the base first). The base level is in the directory when
 * there is one (`dirWidth` > 0: see Directory), else in the hash table with the others.
 * `slots`: per hash slot `home << 27 | column` (-1 when empty), row, offset of its list in
 * `lists`. `lists`: at an offset, a count, then (entry, tag word) pairs; entry `f << 1 | 1` for a
 * full square of fence f, or `r << 1` for an edge square of the fence whose record starts at
 * `r * RECORD_ALIGN` in `geo` (the record holds the fence number); tag word as {@link clipOf}.
 */

const EMPTY = -1;
// Column bits: a column at level 0 is below 360 * GRID_SCALE < 2^27.
const COLUMN_BITS = 27;
// Hash load at most this (linear probing): a miss, which most pings are, ends within 3.6 slots on average.
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

// An entry's tag word: the tag in bits 0-12, then (bits 13-28) where in its square the fence's
// box can be, in 16ths of the square per axis (first and last, x then y), so a ping elsewhere in
// the square is turned away without reading the fence's record: at 100,000 fences two thirds of
// the records a ping read were of fences it was outside, most of them outside the box.
const TAG_MASK = (1 << 13) - 1;
const SUB_BITS = 4;
const SUB_LAST = (1 << SUB_BITS) - 1;
const WHOLE_SQUARE = (SUB_LAST << 4) | (SUB_LAST << 12);

/**
 * Bits 13-28 of a tag word (see above): the 16ths of square (ix, iy) at `level`, per axis, that
 * the box `x0..x1`, `y0..y1` (level-0 grid coordinates, see gridCoordinate) meets, rounded
 * outwards. The whole square below level 4, whose 16ths are finer than level 0.
 */
function clipOf(
	level: number,
	ix: number,
	iy: number,
	x0: number,
	x1: number,
	y0: number,
	y1: number,
): number {
	if (level < SUB_BITS) return WHOLE_SQUARE << 13;
	const shift = level - SUB_BITS;
	const sx = ix << level;
	const sy = iy << level;
	const qx0 = Math.min(SUB_LAST, Math.max(0, (x0 - sx) >> shift));
	const qx1 = Math.min(SUB_LAST, Math.max(0, (x1 - sx) >> shift));
	const qy0 = Math.min(SUB_LAST, Math.max(0, (y0 - sy) >> shift));
	const qy1 = Math.min(SUB_LAST, Math.max(0, (y1 - sy) >> shift));
	return (qx0 | (qx1 << 4) | (qy0 << 8) | (qy1 << 12)) << 13;
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
function chooseBase(levels: Uint8Array): number {
	const histogram = new Int32Array(GRID_MAX_LEVEL + 1);
	for (let f = 0; f < levels.length; f++) {
		const level = levels[f] ?? 0;
		histogram[level] = (histogram[level] ?? 0) + 1;
	}
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

/** How many squares of a level a box spans (without the antimeridian split, an upper bound). */
function squaresAt(box: Float64Array, level: number): number {
	const minLng = box[0] ?? 0;
	const maxLng = box[2] ?? 0;
	const columns =
		minLng <= maxLng
			? gridCoordinate(maxLng + 180, level) - gridCoordinate(minLng + 180, level) + 1
			: gridCoordinate(360, level) + 1;
	const rows = gridCoordinate((box[3] ?? 0) + 90, level) - gridCoordinate((box[1] ?? 0) + 90, level) + 1;
	return columns * rows;
}

/** The grid level of a box: the finest at which its larger side spans few squares (cover.ts). */
function boxLevel(box: Float64Array): number {
	const minLng = box[0] ?? 0;
	const maxLng = box[2] ?? 0;
	const width = minLng > maxLng ? maxLng + 360 - minLng : maxLng - minLng;
	return gridLevel(Math.max(width, (box[3] ?? 0) - (box[1] ?? 0)));
}

/**
 * The grid's hash table: open addressing, `home << 27 | column`, row and a key number per slot
 * (the key's list offset once the lists are laid out), grown at {@link MAX_LOAD}.
 */
class KeyTable {
	slots: Int32Array;
	mask: number;
	size = 0;

	/** @param capacity slots, a power of two */
	constructor(capacity: number) {
		this.mask = capacity - 1;
		this.slots = new Int32Array(3 * capacity).fill(EMPTY);
	}

	/** The key number of (kx, ky), `fresh` (which the caller then counts) when it is new. */
	keyOf(kx: number, ky: number, fresh: number): number {
		const slots = this.slots;
		let slot = slotOf(kx, ky, this.mask);
		for (;;) {
			const k = slots[3 * slot];
			if (k === EMPTY) break;
			if (k === kx && slots[3 * slot + 1] === ky) return slots[3 * slot + 2] ?? 0;
			slot = (slot + 1) & this.mask;
		}
		slots[3 * slot] = kx;
		slots[3 * slot + 1] = ky;
		slots[3 * slot + 2] = fresh;
		if (++this.size > (this.mask + 1) * MAX_LOAD) this.grow();
		return fresh;
	}

	private grow(): void {
		const old = this.slots;
		const capacity = 2 * (this.mask + 1);
		const mask = capacity - 1;
		const slots = new Int32Array(3 * capacity).fill(EMPTY);
		for (let s = 0; s < old.length; s += 3) {
			const kx = old[s] ?? EMPTY;
			if (kx === EMPTY) continue;
			const ky = old[s + 1] ?? 0;
			let slot = slotOf(kx, ky, mask);
			while (slots[3 * slot] !== EMPTY) slot = (slot + 1) & mask;
			slots[3 * slot] = kx;
			slots[3 * slot + 1] = ky;
			slots[3 * slot + 2] = old[s + 2] ?? 0;
		}
		this.slots = slots;
		this.mask = mask;
	}
}

/** A table big enough for `keys` keys. */
function tableFor(keys: number): KeyTable {
	let capacity = 16;
	while (capacity * MAX_LOAD < keys) capacity *= 2;
	return new KeyTable(capacity);
}

// Base squares per side of a directory block: 16 Int32 cells, one cache line.
const BLOCK_BITS = 2;
const BLOCK_SIDE = 1 << BLOCK_BITS;
const BLOCK_CELLS = BLOCK_SIDE * BLOCK_SIDE;
// The directory is used when it takes at most this many Int32 a fence (its blocks are counted
// as they are made; past the budget the base squares go to the hash table like the others).
const DIRECTORY_INTS_PER_FENCE = 8;

/**
 * The base level's squares in a dense two-level directory over the fences' region: a grid of
 * blocks of 4 x 4 squares (a block number, 0 for none) and the blocks' cells (a key number, later
 * a list offset, plus one; 0 for none). A ping then finds its square's list with two array reads
 * and no hashing: at 1,000 fences the hash probe was a third of a match.
 */
class Directory {
	readonly colMin: number;
	readonly rowMin: number;
	readonly width: number;
	readonly height: number;
	readonly dir: Int32Array;
	cells: Int32Array;
	blocks = 0;
	private readonly maxCells: number;

	constructor(colMin: number, rowMin: number, width: number, height: number, maxCells: number) {
		this.colMin = colMin;
		this.rowMin = rowMin;
		this.width = width;
		this.height = height;
		this.dir = new Int32Array(width * height);
		this.cells = new Int32Array(Math.min(maxCells, 64 * BLOCK_CELLS));
		this.maxCells = maxCells;
	}

	/** The key number of base square (col, row), `fresh` when new, -1 when it would take a block past the budget. */
	keyOf(col: number, row: number, fresh: number): number {
		const cx = col - this.colMin;
		const cy = row - this.rowMin;
		const d = (cy >> BLOCK_BITS) * this.width + (cx >> BLOCK_BITS);
		let block = this.dir[d] ?? 0;
		if (block === 0) {
			if ((this.blocks + 1) * BLOCK_CELLS > this.maxCells) return -1;
			block = ++this.blocks;
			this.dir[d] = block;
			if (block * BLOCK_CELLS > this.cells.length) {
				this.cells = grownI32(
					this.cells,
					block * BLOCK_CELLS,
					Math.min(this.maxCells, 4 * this.cells.length),
				);
			}
		}
		const c = (block - 1) * BLOCK_CELLS + ((cy & (BLOCK_SIDE - 1)) << BLOCK_BITS) + (cx & (BLOCK_SIDE - 1));
		const key = this.cells[c] ?? 0;
		if (key !== 0) return key - 1;
		this.cells[c] = fresh + 1;
		return fresh;
	}
}

/** The grid while it is built: key numbers and the (key, entry, tag) triples in filing order. */
interface Filing {
	base: number;
	table: KeyTable;
	directory: Directory | null;
	keys: number;
	entries: Int32Array;
	length: number;
}

/** The key number of square (col, row) at home level `home`, counted when new. */
function keyOf(filing: Filing, home: number, col: number, row: number): number {
	const fresh = filing.keys;
	let key = -1;
	if (home === filing.base && filing.directory !== null) {
		key = filing.directory.keyOf(col, row, fresh);
		if (key < 0) {
			// Past the directory's budget: its squares join the others in the hash table.
			moveToTable(filing, filing.directory);
			filing.directory = null;
		}
	}
	if (key < 0) key = filing.table.keyOf(gridKey(home, col), row, fresh);
	if (key === fresh) filing.keys++;
	return key;
}

function moveToTable(filing: Filing, directory: Directory): void {
	const { dir, cells, width } = directory;
	for (let d = 0; d < dir.length; d++) {
		const block = dir[d] ?? 0;
		if (block === 0) continue;
		const bx = (d % width) << BLOCK_BITS;
		const by = Math.floor(d / width) << BLOCK_BITS;
		for (let i = 0; i < BLOCK_CELLS; i++) {
			const key = cells[(block - 1) * BLOCK_CELLS + i] ?? 0;
			if (key === 0) continue;
			const col = directory.colMin + bx + (i & (BLOCK_SIDE - 1));
			const row = directory.rowMin + by + (i >> BLOCK_BITS);
			filing.table.keyOf(gridKey(filing.base, col), row, key - 1);
		}
	}
}

// Per-square classes of the fence being filed; grown on demand.
let classes = new Uint8Array(64);

/**
 * Files the squares (ix0..ix1) x (iy0..iy1) at `level` of fence `f` (record at `at`) under their
 * homes, leaving out the squares it does not reach.
 */
function fileSquares(
	geo: Float64Array,
	f: number,
	at: number,
	level: number,
	base: number,
	ix0: number,
	ix1: number,
	iy0: number,
	iy1: number,
	filing: Filing,
	box: Float64Array,
): void {
	const nx = ix1 - ix0 + 1;
	const cells = nx * (iy1 - iy0 + 1);
	if (cells > classes.length) classes = new Uint8Array(2 * cells);
	classifySquares(geo, at, level, ix0, ix1, iy0, iy1, classes);
	const home = Math.max(level, base);
	const d = home - level;
	const full = (f << 1) | 1;
	const edge = (at / RECORD_ALIGN) << 1;
	if (3 * (filing.length + cells) > filing.entries.length) {
		filing.entries = grownI32(filing.entries, 3 * (filing.length + cells), 0);
	}
	const entries = filing.entries;
	// The box in level-0 coordinates; a box across the antimeridian is not clipped in x.
	const wraps = (box[0] ?? 0) > (box[2] ?? 0);
	const x0 = wraps ? -(2 ** 30) : gridCoordinate((box[0] ?? 0) + 180, 0);
	const x1 = wraps ? 2 ** 30 : gridCoordinate((box[2] ?? 0) + 180, 0);
	const y0 = gridCoordinate((box[1] ?? 0) + 90, 0);
	const y1 = gridCoordinate((box[3] ?? 0) + 90, 0);
	let t = 3 * filing.length;
	for (let iy = iy0, c = 0; iy <= iy1; iy++) {
		for (let ix = ix0; ix <= ix1; ix++, c++) {
			const cls = classes[c];
			if (cls === CellClass.Out) continue;
			entries[t] = keyOf(filing, home, ix >> d, iy >> d);
			entries[t + 1] = cls === CellClass.Full ? full : edge;
			entries[t + 2] = tagOf(d, ix, iy) | clipOf(level, ix, iy, x0, x1, y0, y1);
			t += 3;
		}
	}
	filing.length = t / 3;
}

/** The low 16 bits of x and y interleaved (a Morton code): near squares get near codes. */
function interleave(x: number, y: number): number {
	let code = 0;
	for (let bit = 0; bit < 16; bit++)
		code |= (((x >> bit) & 1) << (2 * bit)) | (((y >> bit) & 1) << (2 * bit + 1));
	return code >>> 0;
}

// The level of the squares whose Morton codes order the fences for filing (about 1 km).
const ORDER_LEVEL = 11;

/** The Morton code of the square at {@link ORDER_LEVEL} of a box's south-west corner. */
function boxCode(box: Float64Array): number {
	return interleave(
		gridCoordinate((box[0] ?? 0) + 180, ORDER_LEVEL),
		gridCoordinate((box[1] ?? 0) + 90, ORDER_LEVEL),
	);
}

/**
 * Fence numbers sorted by code, by a two-pass radix sort. Filed in the Morton order of where they
 * lie, fences that share squares come one after another, so the key table and the triples are
 * built from the cache rather than from memory (at 1M fences in id order, a cache miss or two a
 * square).
 */
function spatialOrder(codes: Uint32Array): Int32Array {
	const count = codes.length;
	let order = new Int32Array(count);
	let next = new Int32Array(count);
	for (let f = 0; f < count; f++) order[f] = f;
	const counts = new Int32Array(1 << 16);
	for (const shift of [0, 16]) {
		counts.fill(0);
		for (let f = 0; f < count; f++) {
			const digit = ((codes[f] ?? 0) >>> shift) & 0xffff;
			counts[digit] = (counts[digit] ?? 0) + 1;
		}
		let sum = 0;
		for (let d = 0; d < counts.length; d++) {
			const c = counts[d] ?? 0;
			counts[d] = sum;
			sum += c;
		}
		for (let i = 0; i < count; i++) {
			const f = order[i] ?? 0;
			const digit = ((codes[f] ?? 0) >>> shift) & 0xffff;
			const to = counts[digit] ?? 0;
			next[to] = f;
			counts[digit] = to + 1;
		}
		[order, next] = [next, order];
	}
	return order;
}

/**
 * Sorts the (key, entry, tag) triples lo..hi-1 in place by `(key - keyBase) >> shift`, one of
 * `buckets` digits (American flag sort: each triple moves once, straight into its bucket).
 * `ends` and `next` have room for the buckets; `ends` is left holding each bucket's end.
 */
function flagSort(
	e: Int32Array,
	lo: number,
	hi: number,
	keyBase: number,
	shift: number,
	buckets: number,
	ends: Int32Array,
	next: Int32Array,
): void {
	ends.fill(0, 0, buckets);
	for (let t = lo; t < hi; t++) {
		const d = ((e[3 * t] ?? 0) - keyBase) >> shift;
		ends[d] = (ends[d] ?? 0) + 1;
	}
	let at = lo;
	for (let d = 0; d < buckets; d++) {
		next[d] = at;
		at += ends[d] ?? 0;
		ends[d] = at;
	}
	for (let d = 0; d < buckets; d++) {
		const end = ends[d] ?? 0;
		for (let t = next[d] ?? 0; t < end; t = next[d] ?? 0) {
			let key = e[3 * t] ?? 0;
			let digit = (key - keyBase) >> shift;
			if (digit !== d) {
				// Carry the triple at t along its cycle until one of bucket d comes back to t.
				let entry = e[3 * t + 1] ?? 0;
				let tag = e[3 * t + 2] ?? 0;
				while (digit !== d) {
					const to = next[digit] ?? 0;
					next[digit] = to + 1;
					const k2 = e[3 * to] ?? 0;
					const e2 = e[3 * to + 1] ?? 0;
					const t2 = e[3 * to + 2] ?? 0;
					e[3 * to] = key;
					e[3 * to + 1] = entry;
					e[3 * to + 2] = tag;
					key = k2;
					entry = e2;
					tag = t2;
					digit = (key - keyBase) >> shift;
				}
				e[3 * t] = key;
				e[3 * t + 1] = entry;
				e[3 * t + 2] = tag;
			}
			next[d] = t + 1;
		}
	}
}

/**
 * The lists of the grid, laid out in place of the (key, entry, tag) triples they come from: the
 * triples sorted by key in place, by the top 8 bits of the key number first and then within each
 * of those 256 buckets (which fits in the cache; one pass over all 6.5M triples of 1M fences by
 * the whole key was 2.8 s of cache misses, following cycles across 78 MB), then rewritten front
 * to back as, per key, a count and (entry, tag) pairs. Rewriting never overtakes reading: the
 * lists of the keys before a triple take at most 3 ints per triple.
 *
 * @returns the lists (a view of `entries`) and each key's list offset
 */
function listsInPlace(
	entries: Int32Array,
	n: number,
	keys: number,
): { lists: Int32Array; startOf: Int32Array } {
	let shift = 0;
	while ((keys - 1) >> shift >= 256) shift++;
	const top = ((keys - 1) >> shift) + 1;
	const room = Math.max(256, 1 << shift);
	const ends = new Int32Array(room);
	const next = new Int32Array(room);
	if (n > 0) flagSort(entries, 0, n, 0, shift, top, ends, next);
	const bounds = ends.slice(0, top);
	let lo = 0;
	for (let b = 0; b < top; b++) {
		const hi = bounds[b] ?? lo;
		const keyBase = b << shift;
		if (hi - lo > 1) flagSort(entries, lo, hi, keyBase, 0, Math.min(1 << shift, keys - keyBase), ends, next);
		lo = hi;
	}
	const startOf = new Int32Array(keys);
	let w = 0;
	for (let r = 0; r < n; ) {
		const key = entries[3 * r] ?? 0;
		let end = r + 1;
		while (end < n && entries[3 * end] === key) end++;
		startOf[key] = w;
		entries[w++] = end - r;
		for (; r < end; r++) {
			const entry = entries[3 * r + 1] ?? 0;
			const tag = entries[3 * r + 2] ?? 0;
			entries[w++] = entry;
			entries[w++] = tag;
		}
	}
	return { lists: entries.subarray(0, w), startOf };
}

/** Room for the grid allocated with the packed fences (see allocate). */
interface GridRoom {
	/** Per fence: its grid level (see boxLevel) and the Morton code of where it lies (see boxCode). */
	levels: Uint8Array;
	codes: Uint32Array;
	/** The box of all fences' boxes: minLng, minLat, maxLng, maxLat (every longitude when one wraps). */
	region: Float64Array;
	/** (key, entry, tag) triples, then the lists in their place. */
	entries: Int32Array;
}

/**
 * Builds the grid of packed fences in one pass over them (each fence's squares classified and
 * filed under their keys as they come), then lays the lists out by key: linear in the number of
 * squares, no sort, no object per fence or square, and a handful of allocations.
 */
function buildGrid(packed: PackedFences, room: GridRoom): Omit<IndexParts, "geo" | "recordOf" | "ids"> {
	const { geo, recordOf, count } = packed;
	const { levels, region } = room;
	const base = chooseBase(levels);
	const depth = Math.min(MAX_DEPTH, base);
	let homeLevels = 1 << base;

	// The directory over the region's base squares when its block grid is small enough; the hash
	// table then holds only the few squares of coarser fences.
	const colMin = gridCoordinate((region[0] ?? 0) + 180, base);
	const rowMin = gridCoordinate((region[1] ?? 0) + 90, base);
	const width = ((gridCoordinate((region[2] ?? 0) + 180, base) - colMin) >> BLOCK_BITS) + 1;
	const height = ((gridCoordinate((region[3] ?? 0) + 90, base) - rowMin) >> BLOCK_BITS) + 1;
	const budget = DIRECTORY_INTS_PER_FENCE * count + 4096;
	const dense = count > 0 && width * height <= budget;
	const filing: Filing = {
		base,
		table: tableFor(dense ? 16 : KEYS_PER_FENCE * count + 16),
		directory: dense ? new Directory(colMin, rowMin, width, height, budget - width * height) : null,
		keys: 0,
		entries: room.entries,
		length: 0,
	};
	const order = spatialOrder(room.codes);
	const box = new Float64Array(4);
	for (let i = 0; i < count; i++) {
		const f = order[i] ?? 0;
		const at = recordOf[f] ?? 0;
		recordBox(geo, at, box, 0);
		const minLng = box[0] ?? 0;
		const maxLng = box[2] ?? 0;
		// A fence finer than the base can hold is stored at the finest level it can (fewer, larger
		// squares); a coarser one at the base too when that takes few squares, else at its own level.
		let level = Math.max(levels[f] ?? 0, base - depth);
		if (level > base && squaresAt(box, base) <= MAX_SQUARES_AT_BASE) level = base;
		if (level > base) homeLevels |= 1 << level;
		const iy0 = gridCoordinate((box[1] ?? 0) + 90, level);
		const iy1 = gridCoordinate((box[3] ?? 0) + 90, level);
		const west = gridCoordinate(minLng + 180, level);
		const east = gridCoordinate(maxLng + 180, level);
		if (minLng <= maxLng) fileSquares(geo, f, at, level, base, west, east, iy0, iy1, filing, box);
		else {
			// The box crosses the antimeridian: [minLng, 180] and [-180, maxLng], never the same square.
			const last = gridCoordinate(360, level);
			if (east >= west) fileSquares(geo, f, at, level, base, 0, last, iy0, iy1, filing, box);
			else {
				fileSquares(geo, f, at, level, base, west, last, iy0, iy1, filing, box);
				fileSquares(geo, f, at, level, base, 0, east, iy0, iy1, filing, box);
			}
		}
	}

	const { table, directory, length: n } = filing;
	const lists = listsInPlace(filing.entries, n, filing.keys);
	// Each key number becomes its list's offset (plus one in the directory, where 0 is empty).
	const slots = table.slots;
	for (let s = 0; s < slots.length; s += 3) {
		if (slots[s] !== EMPTY) slots[s + 2] = lists.startOf[slots[s + 2] ?? 0] ?? 0;
	}
	let grid: Pick<IndexParts, "dirCol" | "dirRow" | "dirWidth" | "dir" | "cells"> = {
		dirCol: 0,
		dirRow: 0,
		dirWidth: 0,
		dir: new Int32Array(0),
		cells: new Int32Array(0),
	};
	if (directory !== null) {
		const cells = directory.cells.subarray(0, directory.blocks * BLOCK_CELLS);
		for (let c = 0; c < cells.length; c++) {
			const key = cells[c] ?? 0;
			if (key !== 0) cells[c] = (lists.startOf[key - 1] ?? 0) + 1;
		}
		grid = {
			dirCol: directory.colMin,
			dirRow: directory.rowMin,
			dirWidth: directory.width,
			dir: directory.dir,
			cells,
		};
	}
	const homes: number[] = [];
	for (let level = 0; level <= GRID_MAX_LEVEL; level++) if ((homeLevels >> level) & 1) homes.push(level);
	return { base, depth, homes: Int32Array.from(homes), slots, lists: lists.lists, ...grid };
}

// Fence numbers of the current match; JS is single-threaded and match does not re-enter.
let found = new Int32Array(64);
// The current point's tag at each depth below the base level.
const pointTags = new Int32Array(MAX_DEPTH + 1);
// And which 16th of its square at that depth it is in, x | y << 8.
const pointSubs = new Int32Array(MAX_DEPTH + 1);

/** Which 16th of its square at `level` the point at level-0 grid coordinates (column, row) is in. */
function subOf(column: number, row: number, level: number): number {
	if (level < SUB_BITS) return 0;
	const shift = level - SUB_BITS;
	return ((column >> shift) & SUB_LAST) | (((row >> shift) & SUB_LAST) << 8);
}

/** Fills pointTags and pointSubs for the point at level-0 grid coordinates (column, row). */
function tagPoint(column: number, row: number, base: number, depth: number): void {
	for (let d = 0; d <= depth; d++) {
		const level = base - d;
		pointTags[d] = tagOf(d, column >> level, row >> level);
		pointSubs[d] = subOf(column, row, level);
	}
}
// The parts of every index made here, for serializeFenceIndex.
const partsOf = new WeakMap<FenceIndex, IndexParts>();

/**
 * Scans the list at `at` for the fences containing (lat, lng), whose square tags are in
 * `pointTags`, appending their numbers to `found` from position `n`.
 *
 * @returns the new count in `found`
 */
function scanList(
	lists: Int32Array,
	geo: Float64Array,
	at: number,
	lat: number,
	lng: number,
	n0: number,
): number {
	let n = n0;
	const end = at + 1 + 2 * (lists[at] ?? 0);
	for (let e = at + 1; e < end; e += 2) {
		const tag = lists[e + 1] ?? 0;
		const d = (tag >> 10) & 7;
		if ((tag & TAG_MASK) !== pointTags[d]) continue;
		const sub = pointSubs[d] ?? 0;
		const sx = sub & 0xff;
		const sy = sub >> 8;
		if (sx < ((tag >> 13) & SUB_LAST) || sx > ((tag >> 17) & SUB_LAST)) continue;
		if (sy < ((tag >> 21) & SUB_LAST) || sy > ((tag >> 25) & SUB_LAST)) continue;
		const entry = lists[e] ?? 0;
		let f: number;
		if ((entry & 1) === 1) f = entry >> 1;
		else {
			const record = (entry >> 1) * RECORD_ALIGN;
			if (!recordContains(geo, record, lat, lng)) continue;
			const tf = geo[record] ?? 0;
			f = tf < 0 ? -1 - tf : tf;
		}
		if (n === found.length) {
			const more = new Int32Array(n * 2);
			more.set(found);
			found = more;
		}
		found[n++] = f;
	}
	return n;
}

/** An index over its parts (built or loaded: the same arrays, the same answers). */
function indexOver(parts: IndexParts): FenceIndex {
	const { geo, recordOf, base, depth, homes, slots, lists, dirCol, dirRow, dirWidth, dir, cells, ids } =
		parts;
	const mask = slots.length / 3 - 1;
	// With a directory the base level is looked up there, and the hash table holds coarser homes only.
	const firstHashed = dirWidth > 0 ? 1 : 0;
	const spanX = dirWidth << BLOCK_BITS;
	const spanY = dirWidth > 0 ? (dir.length / dirWidth) << BLOCK_BITS : 0;
	const index: FenceIndex = {
		size: ids.count,
		match(lat: number, lng: number): string[] {
			if (!(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180)) return [];
			const column = Math.floor((lng + 180) * GRID_SCALE);
			const row = Math.floor((lat + 90) * GRID_SCALE);
			let n = 0;
			let tagged = false;
			if (firstHashed === 1) {
				const cx = (column >> base) - dirCol;
				const cy = (row >> base) - dirRow;
				if (cx >= 0 && cy >= 0 && cx < spanX && cy < spanY) {
					const block = dir[(cy >> BLOCK_BITS) * dirWidth + (cx >> BLOCK_BITS)] ?? 0;
					const at =
						block === 0
							? 0
							: (cells[
									(block - 1) * BLOCK_CELLS +
										((cy & (BLOCK_SIDE - 1)) << BLOCK_BITS) +
										(cx & (BLOCK_SIDE - 1))
								] ?? 0);
					if (at !== 0) {
						tagPoint(column, row, base, depth);
						tagged = true;
						n = scanList(lists, geo, at - 1, lat, lng, n);
					}
				}
			}
			for (let i = firstHashed; i < homes.length; i++) {
				const home = homes[i] ?? base;
				const kx = gridKey(home, column >> home);
				const ky = row >> home;
				let slot = slotOf(kx, ky, mask);
				let k = slots[3 * slot];
				// Bounded, so that even a damaged snapshot cannot loop forever.
				for (let probes = 0; k !== EMPTY && (k !== kx || slots[3 * slot + 1] !== ky); probes++) {
					if (probes > mask) {
						k = EMPTY;
						break;
					}
					slot = (slot + 1) & mask;
					k = slots[3 * slot];
				}
				if (k === EMPTY) continue;
				if (!tagged) {
					tagPoint(column, row, base, depth);
					tagged = true;
				}
				// A coarser home holds its fences' own squares (depth 0): where in those the point is.
				if (home !== base) pointSubs[0] = subOf(column, row, home);
				n = scanList(lists, geo, slots[3 * slot + 2] ?? 0, lat, lng, n);
			}
			if (n === 0) return [];
			if (n === 1) return [ids.get(found[0] ?? 0)];
			// Fence numbers follow id order; a handful at most, so an insertion sort.
			for (let i = 1; i < n; i++) {
				const x = found[i] ?? 0;
				let j = i - 1;
				while (j >= 0 && (found[j] ?? 0) > x) {
					found[j + 1] = found[j] ?? 0;
					j--;
				}
				found[j + 1] = x;
			}
			const out = new Array<string>(n);
			for (let i = 0; i < n; i++) out[i] = ids.get(found[i] ?? 0);
			return out;
		},
		distanceTo(id: string, lat: number, lng: number): number {
			const f = ids.find(id);
			if (f < 0) return Number.POSITIVE_INFINITY;
			return recordDistanceMeters(geo, recordOf[f] ?? 0, lat, lng);
		},
	};
	partsOf.set(index, parts);
	return index;
}

/**
 * The positions of `ids` in ascending id order, keeping only the last of equal ids (a later
 * upload of the same id replaces the fence).
 */
function idOrder(ids: ReadonlyArray<string>): Int32Array {
	const sorted = Int32Array.from(ids, (_, i) => i).sort((a, b) => {
		const x = ids[a] as string;
		const y = ids[b] as string;
		return x < y ? -1 : x > y ? 1 : a - b;
	});
	let kept = 0;
	for (let i = 0; i < sorted.length; i++) {
		const at = sorted[i] ?? 0;
		if (i + 1 < sorted.length && ids[sorted[i + 1] ?? 0] === ids[at]) continue;
		sorted[kept++] = at;
	}
	return sorted.slice(0, kept);
}

/** `region` widened to hold `box` (every longitude when the box wraps). */
function widenRegion(region: Float64Array, box: Float64Array): void {
	const minLng = box[0] ?? 0;
	const maxLng = box[2] ?? 0;
	if (minLng > maxLng) {
		region[0] = -180;
		region[2] = 180;
	} else {
		if (minLng < (region[0] ?? 0)) region[0] = minLng;
		if (maxLng > (region[2] ?? 0)) region[2] = maxLng;
	}
	if ((box[1] ?? 0) < (region[1] ?? 0)) region[1] = box[1] ?? 0;
	if ((box[3] ?? 0) > (region[3] ?? 0)) region[3] = box[3] ?? 0;
}

// Inputs up to this many fences are measured whole; larger ones by a sample of one in
// MEASURE_STRIDE (a prime, against periodic inputs), with MEASURE_MARGIN to spare.
const MEASURE_ALL = 65_536;
const MEASURE_STRIDE = 61;
const MEASURE_MARGIN = 1.08;

/**
 * How many doubles the records of `features` take, so their array is allocated once. A large
 * input is sampled: reading every feature's arrays once more was 0.6 s at 1M fences (a cache and
 * TLB miss or two a feature). Should the sample fall short, the packer grows the array (a copy).
 */
function recordDoubles(features: ReadonlyArray<unknown>): number {
	let doubles = 0;
	if (features.length <= MEASURE_ALL) {
		for (let i = 0; i < features.length; i++) doubles += fenceRecordLength(features[i]);
		return doubles;
	}
	let sampled = 0;
	for (let i = 0; i < features.length; i += MEASURE_STRIDE, sampled++)
		doubles += fenceRecordLength(features[i]);
	return Math.ceil(((doubles / sampled) * features.length * MEASURE_MARGIN) / RECORD_ALIGN) * RECORD_ALIGN;
}

// Room reserved for the grid, per fence: enough for this benchmark's cities (2.4 keys and 6.5
// squares filed a fence); a tenant whose fences take more grows the arrays on the way.
const KEYS_PER_FENCE = 2.5;
const SQUARES_PER_FENCE = 8;

/** Options of {@link createFenceIndex}. */
export interface FenceIndexOptions {
	/**
	 * Builds that need at least this many bytes keep their arrays in a SharedArrayBuffer, where
	 * the runtime has one (see {@link buildMemory}); default {@link SHARED_MEMORY_FROM_BYTES}.
	 * `0`: always, `Infinity`: never. The answers are the same either way.
	 */
	sharedMemoryFromBytes?: number;
}

/** Default of {@link FenceIndexOptions.sharedMemoryFromBytes}: V8's 64 MiB external-memory step. */
export const SHARED_MEMORY_FROM_BYTES = 64 * 2 ** 20;

/**
 * The memory of a build of `bytes` bytes: a SharedArrayBuffer from `sharedFrom` bytes on when the
 * runtime has one, else an ArrayBuffer (zero-filled either way).
 *
 * Why: V8 answers every 64 MiB of new ArrayBuffer memory with a full garbage collection (external
 * memory pressure), which traces the whole heap, and a caller that builds a big index usually
 * holds its big input alive: at 1M fences, with the benchmark's 2 GB of GeoJSON, that one
 * collection was 1.5 to 2.5 s, a third of the build, and freed nothing (`--trace-gc`). V8 does
 * not count SharedArrayBuffer memory as external pressure, so a large build triggers no such
 * collection; Node still reports it (`process.memoryUsage().arrayBuffers`, which the benchmark
 * counts). The price: a dropped large index is freed at the next collection for other reasons,
 * not forced by its size. Small builds (every shard: a few MB) keep an ArrayBuffer. Nothing in
 * the index shares the memory with another thread: it is written once, here, then only read.
 */
export function buildMemory(bytes: number, sharedFrom: number): ArrayBuffer | SharedArrayBuffer {
	if (bytes >= sharedFrom && typeof SharedArrayBuffer === "function") return new SharedArrayBuffer(bytes);
	return new ArrayBuffer(bytes);
}

/**
 * Everything the build writes into, in one buffer (see {@link buildMemory}): records, record
 * offsets, the hash table and the grid's triples (which become the lists). One allocation, so at
 * most one external-memory collection where the buffer is an ArrayBuffer: a build in several
 * allocations took three of them.
 */
function allocate(
	fences: number,
	doubles: number,
	sharedFrom: number,
): { packer: FencePacker; room: GridRoom } {
	const triples = SQUARES_PER_FENCE * fences + 64;
	const n = Math.max(1, fences);
	// geo first (8-byte aligned), then the 4-byte arrays, then the levels.
	const geoBytes = 8 * Math.max(RECORD_ALIGN, doubles);
	const buffer = buildMemory(geoBytes + 4 * (2 * n + 3 * triples) + n, sharedFrom);
	let at = geoBytes;
	const take = (ints: number): Int32Array => {
		const view = new Int32Array(buffer, at, ints);
		at += 4 * ints;
		return view;
	};
	const packer = new FencePacker(new Float64Array(buffer, 0, geoBytes / 8), take(n));
	const codes = new Uint32Array(buffer, at, n);
	at += 4 * n;
	const entries = take(3 * triples);
	const levels = new Uint8Array(buffer, at, n);
	const region = Float64Array.of(180, 90, -180, -90);
	return { packer, room: { levels, codes, region, entries } };
}

/**
 * Builds the index: reads every fence straight into packed arrays (checking it by hand: not
 * trusted as cast, but not parsed into objects either), then files its squares. When two fences
 * share an id the later one wins, as an upload of the same id replaces the fence.
 *
 * @param features API-shaped geofence Features (`properties.id`, and `properties.radius` for a
 *   Point) or stored `Fence` objects
 * @param options see {@link FenceIndexOptions}
 * @returns the index
 * @throws GeoError `invalid_fence` when an element is not a usable fence
 */
export function createFenceIndex(
	features: ReadonlyArray<FenceFeatureLike> | ReadonlyArray<Fence>,
	options: FenceIndexOptions = {},
): FenceIndex {
	const { packer, room } = allocate(
		features.length,
		recordDoubles(features),
		options.sharedMemoryFromBytes ?? SHARED_MEMORY_FROM_BYTES,
	);
	const read: string[] = new Array(features.length);
	let ascending = true;
	const box = new Float64Array(4);
	for (let i = 0; i < features.length; i++) {
		const id = packFenceInput(features[i], i, packer);
		read[i] = id;
		if (i > 0 && !((read[i - 1] as string) < id)) ascending = false;
		// Level and place now, while the record is in the cache.
		recordBox(packer.geo, packer.recordOf[i] ?? 0, box, 0);
		room.levels[i] = boxLevel(box);
		room.codes[i] = boxCode(box);
		widenRegion(room.region, box);
	}
	// Fence numbers follow id order, so sorting numbers sorts ids. Input read from storage by
	// primary key is in that order already: then nothing is sorted or moved.
	let ids = read;
	let order: Int32Array | null = null;
	if (!ascending) {
		order = idOrder(read);
		const kept = order;
		ids = Array.from(kept, (i) => read[i] as string);
		room.levels = Uint8Array.from(kept, (i) => room.levels[i] ?? 0);
		room.codes = Uint32Array.from(kept, (i) => room.codes[i] ?? 0);
	}
	const packed = packer.finish(order);
	return indexOver({
		geo: packed.geo,
		recordOf: packed.recordOf,
		...buildGrid(packed, room),
		ids: new SortedIds(ids),
	});
}

/**
 * A compact binary snapshot of an index, to store next to its fences and load with
 * {@link loadFenceIndex} instead of building again. Holds the index only (geometry, grid, ids),
 * not the fences' metadata. Format: see snapshot.ts.
 *
 * @param index an index made by {@link createFenceIndex} or {@link loadFenceIndex}
 * @returns the snapshot bytes (about the size of the index's typed arrays)
 * @throws TypeError for an index made elsewhere
 */
export function serializeFenceIndex(index: FenceIndex): Uint8Array {
	const parts = partsOf.get(index);
	if (parts === undefined) throw new TypeError("not an index made by createFenceIndex or loadFenceIndex");
	return encodeSnapshot(parts);
}

/**
 * The index a snapshot holds, answering exactly as the index it was taken of. Cheap: checks the
 * header and takes typed-array views over the bytes (copying them once only when they are not
 * 8-byte aligned); nothing is parsed per fence, and a lookup reads only what it needs. Keep the
 * bytes unchanged while the index is in use.
 *
 * @param bytes what {@link serializeFenceIndex} returned, as stored
 * @returns the index
 * @throws FenceSnapshotError `unsupported_snapshot_version` (another format version: rebuild from
 *   the fences) or `invalid_snapshot`
 */
export function loadFenceIndex(bytes: Uint8Array | ArrayBuffer): FenceIndex {
	return indexOver(decodeSnapshot(bytes));
}
