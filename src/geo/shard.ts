/**
 * Sharding of the fence index into GeoShard Durable Objects: one per tenant and leaf cell of a
 * hierarchy of H3 cells sized by density.
 *
 * Every tenant starts with leaves at {@link ROOT_SHARD_RESOLUTION} (about 12,000 km² a cell: a
 * region with few stores is one shard). A leaf that passes its fence budget is split: it stops
 * being a leaf, and the cells one resolution finer take its place, down to
 * {@link MAX_SHARD_RESOLUTION}. A tenant's layout is just its set of split cells.
 *
 * - The leaf of a point: its cell at the root resolution, then, while that cell is split, its
 *   cell one resolution finer (geometric containment at each resolution, never H3 parents: an H3
 *   cell's children overhang it slightly).
 * - The leaves of a fence: at each resolution, every cell of its buffered cover that is not split
 *   and that a point can reach: at the root every cell; finer, only cells that may overlap a split
 *   cell one resolution coarser (a point reaches a cell only through the coarser cell holding it;
 *   a cell's points lie in its H3 parent or the parent's neighbours, and those it is proved
 *   disjoint from are left out: `coarserOverlaps`). A superset of the leaves its nearby points
 *   reach.
 *
 * A fence is stored in every leaf whose cell comes within the shard buffer of it, so the leaf of
 * a ping knows every fence the ping is in and every fence it is near enough to need an exit
 * distance for (exit hysteresis is max(25 m, accuracy), and accuracy is capped well below 1 km).
 * Splitting a leaf needs only the fences it holds: any point that reached it had all its nearby
 * fences there.
 */
import { latLngToCell } from "h3-js";
import { cellNeighbours, cellResolution, coarserOverlaps, coverFence, parentCell } from "./cover.js";
import { GeoError } from "./errors.js";
import { type PreparedFence, prepareFence } from "./exact.js";
import type { Fence } from "./types.js";

/** Resolution of the leaves of a tenant that split nothing (about 12,000 km², 60 km edges). */
export const ROOT_SHARD_RESOLUTION = 3;
/** The finest leaves (about 0.7 km², 460 m edges): a leaf this fine is never split. */
export const MAX_SHARD_RESOLUTION = 8;
/** Distance around a fence within which its shards must know it. */
export const SHARD_BUFFER_METERS = 1000;

/** A tenant's layout: the cells that were split (at resolutions below {@link MAX_SHARD_RESOLUTION}). */
export type ShardSplits = ReadonlySet<string>;

/** The layout of a tenant that split nothing: every leaf at the root resolution. */
export const NO_SPLITS: ShardSplits = new Set();

// The guarantee is stated with `FenceIndex.distanceTo`, an approximation accurate to well under
// 1%; covering a slightly larger buffer keeps it true at the edge of the buffer.
const BUFFER_SLACK = 1.02;
const BUFFER_SLACK_METERS = 1;

/**
 * The leaf cell of a point.
 *
 * @param lat latitude in degrees, within [-90, 90]
 * @param lng longitude in degrees, within [-180, 180]
 * @param splits the tenant's split cells
 * @returns an H3 cell between {@link ROOT_SHARD_RESOLUTION} and {@link MAX_SHARD_RESOLUTION}
 * @throws GeoError `invalid_coordinate` for a non-finite or out-of-range coordinate
 */
export function shardOfPoint(lat: number, lng: number, splits: ShardSplits = NO_SPLITS): string {
	if (!(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180)) {
		throw new GeoError("invalid_coordinate", `Not a WGS 84 coordinate: ${lat}, ${lng}`);
	}
	let res = ROOT_SHARD_RESOLUTION;
	let cell = latLngToCell(lat, lng, res);
	while (res < MAX_SHARD_RESOLUTION && splits.has(cell)) {
		res += 1;
		cell = latLngToCell(lat, lng, res);
	}
	return cell;
}

/**
 * Every leaf cell whose area comes within `bufferMeters` of the fence (a superset is fine).
 * Guarantee: for any point at most `bufferMeters` from the fence (as `FenceIndex.distanceTo`
 * measures it, so including points inside), the result contains `shardOfPoint(point, splits)`.
 *
 * @param f a validated fence
 * @param bufferMeters distance around the fence, >= 0
 * @param splits the tenant's split cells
 * @returns leaf cells, sorted
 * @throws GeoError `invalid_fence` for a negative or non-finite buffer
 */
export function shardsOfFence(
	f: Fence,
	bufferMeters: number = SHARD_BUFFER_METERS,
	splits: ShardSplits = NO_SPLITS,
): string[] {
	if (!(bufferMeters >= 0 && Number.isFinite(bufferMeters))) {
		throw new GeoError("invalid_fence", `The shard buffer must be a finite number >= 0, got ${bufferMeters}`);
	}
	return leavesFrom(prepareFence(f), bufferMeters, splits, ROOT_SHARD_RESOLUTION, []);
}

/**
 * {@link shardsOfFence} from resolution `fromRes` down, `keep` being its leaves at coarser
 * resolutions (unchanged when only cells at `fromRes` or finer were split since: a leaf at
 * `fromRes` means the cover one resolution coarser held a split cell, so the search goes on there).
 */
function leavesFrom(
	prepared: PreparedFence,
	bufferMeters: number,
	splits: ShardSplits,
	fromRes: number,
	keep: readonly string[],
): string[] {
	const buffer = bufferMeters * BUFFER_SLACK + BUFFER_SLACK_METERS;
	const out = [...keep];
	for (let res = fromRes; res <= MAX_SHARD_RESOLUTION; res++) {
		const cover = coverFence(prepared, res, buffer, Number.POSITIVE_INFINITY);
		if (cover === null) break;
		// A point within the buffer has its cell of this resolution in the cover; it reaches the
		// next resolution only if that cell is split. No split cell in the cover: no point near
		// this fence goes finer, wherever else the tenant has split cells.
		let deeper = false;
		for (const cell of cover.keys()) {
			if (splits.has(cell)) deeper = true;
			else if (isLeaf(cell, splits)) out.push(cell);
		}
		if (!deeper) break;
	}
	return out.sort();
}

/**
 * Whether this cell is a leaf some point can reach: not split, and at the root resolution or
 * possibly overlapping a split cell one resolution coarser (a superset of the leaves points
 * reach: 3,670 objects instead of 4,547, 4.29 copies a fence instead of 4.57, for the 100,000
 * France stores at their layout, when any cell next to a split one counted).
 */
export function isLeaf(cell: string, splits: ShardSplits): boolean {
	if (splits.has(cell)) return false;
	const res = cellResolution(cell);
	if (res === ROOT_SHARD_RESOLUTION) return true;
	if (res < ROOT_SHARD_RESOLUTION || res > MAX_SHARD_RESOLUTION) return false;
	// A point of this cell reaches it only through the split cell one resolution coarser that
	// holds the point: one the cell overlaps (its parent or a neighbour of it).
	if (!cellNeighbours(parentCell(cell)).some((near) => splits.has(near))) return false;
	for (const near of coarserOverlaps(cell)) if (splits.has(near)) return true;
	return false;
}

/** Whether a leaf at this cell may still be split (it is coarser than the finest leaves). */
export function canSplit(cell: string): boolean {
	return cellResolution(cell) < MAX_SHARD_RESOLUTION;
}

/**
 * Plans the splits of dense leaves in one go, in memory: `dense` are split, then every leaf that
 * takes their place and would hold more than `maxFences` fences (or `maxBytes` of fence JSON) is
 * split too, and so on down to {@link MAX_SHARD_RESOLUTION}. `fences` must be every fence the
 * dense leaves hold or receive: the leaves that take a dense leaf's place are reached only by
 * points of its cell, whose nearby fences are all among them.
 *
 * @param fences the fences of the dense leaves (held and incoming), with their JSON size
 * @param splits the tenant's layout now
 * @param dense leaves to split (cells of the layout now)
 * @param maxFences a leaf's fence budget
 * @param maxBytes a leaf's byte budget
 * @returns the new layout (a superset of `splits`) and every fence's leaf cells under it
 */
export function planSplits<T extends { fence: Fence; bytes: number }>(
	fences: readonly T[],
	splits: ShardSplits,
	dense: Iterable<string>,
	maxFences: number,
	maxBytes = Number.POSITIVE_INFINITY,
): { splits: Set<string>; cells: Map<T, string[]> } {
	const next = new Set(splits);
	const cells = new Map<T, string[]>();
	const prepared = new Map<T, PreparedFence>();
	let fresh = new Set<string>();
	for (const cell of dense) if (canSplit(cell)) fresh.add(cell);
	let pending = fences;
	while (fresh.size > 0) {
		for (const cell of fresh) next.add(cell);
		const byLeaf = new Map<string, { list: T[]; bytes: number }>();
		for (const item of pending) {
			let p = prepared.get(item);
			if (!p) {
				p = prepareFence(item.fence);
				prepared.set(item, p);
			}
			// Only the resolutions from the finest cell just split down can change: the search
			// resumes there, keeping the coarser leaves.
			const before = cells.get(item);
			let fromRes = ROOT_SHARD_RESOLUTION;
			if (before) {
				fromRes = MAX_SHARD_RESOLUTION + 1;
				for (const cell of before) if (fresh.has(cell)) fromRes = Math.min(fromRes, cellResolution(cell));
				if (fromRes > MAX_SHARD_RESOLUTION) fromRes = ROOT_SHARD_RESOLUTION;
			}
			const keep = before ? before.filter((cell) => cellResolution(cell) < fromRes) : [];
			const leaves = leavesFrom(p, SHARD_BUFFER_METERS, next, fromRes, keep).sort();
			// Final unless one of these leaves is split below, and then the item is pending again.
			cells.set(item, leaves);
			for (const cell of leaves) {
				const res = cellResolution(cell);
				// Only the leaves that just took a split cell's place (reached by points of the split
				// cell: their parent is it or a neighbour, as in isLeaf) can have grown.
				if (res <= ROOT_SHARD_RESOLUTION || !nearAny(parentCell(cell), fresh)) continue;
				let leaf = byLeaf.get(cell);
				if (!leaf) {
					leaf = { list: [], bytes: 0 };
					byLeaf.set(cell, leaf);
				}
				leaf.list.push(item);
				leaf.bytes += item.bytes;
			}
		}
		const over = [...byLeaf].filter(
			([cell, leaf]) => (leaf.list.length > maxFences || leaf.bytes > maxBytes) && canSplit(cell),
		);
		fresh = new Set(over.map(([cell]) => cell));
		pending = [...new Set(over.flatMap(([, leaf]) => leaf.list))];
	}
	return { splits: next, cells };
}

function nearAny(cell: string, cells: ReadonlySet<string>): boolean {
	for (const near of cellNeighbours(cell)) if (cells.has(near)) return true;
	return false;
}

/**
 * The layout that sizing leaves for these fences one upload after another would reach: every
 * leaf holding more than `maxFences` split, finest first allowed at {@link MAX_SHARD_RESOLUTION}.
 * For planning and benchmarks (the service splits incrementally, see worker/routes/geofences.ts).
 *
 * @param fences validated fences
 * @param maxFences a leaf's fence budget
 * @returns the split cells
 */
export function layoutFor(fences: readonly Fence[], maxFences: number): Set<string> {
	const splits = new Set<string>();
	let pending: readonly Fence[] = fences;
	for (;;) {
		const byLeaf = new Map<string, Fence[]>();
		for (const f of pending)
			for (const cell of shardsOfFence(f, SHARD_BUFFER_METERS, splits)) {
				const list = byLeaf.get(cell);
				if (list) list.push(f);
				else byLeaf.set(cell, [f]);
			}
		const dense = [...byLeaf].filter(([cell, list]) => list.length > maxFences && canSplit(cell));
		if (dense.length === 0) return splits;
		for (const [cell] of dense) splits.add(cell);
		// Only the fences of the leaves just split can land in new leaves.
		pending = [...new Set(dense.flatMap(([, list]) => list))];
	}
}
