/**
 * The H3 fence index: which fences contain a point, with the exact answer of `fenceContains`
 * (turf point-in-polygon for polygons, turf haversine <= radius for circles) and no false
 * positive or negative.
 *
 * Choices:
 * - Resolution per fence: the finest resolution (at most 12, 10.8 m edges) whose average edge
 *   is at least 1/16 of the fence's larger side, so a fence spans about 4 to 9 cells across: a
 *   10 m circle or a 5 m square sits on 1 to 4 res-12 cells (smaller than a cell, never lost: the
 *   cover starts from the cell of a fence point), a 10 km circle on ~70 res-7 cells. Finer cells
 *   would mostly add build time and memory: the exact test in an edge cell costs about a
 *   microsecond for a store-sized polygon. Per-fence resolutions keep small fences precise
 *   without flooding big ones. Above 4,096 cells (odd shapes) a fence is re-covered one
 *   resolution coarser.
 * - Cover: `coverFence` (see cover.ts): a neighbour search with a proved superset and
 *   margin-protected "full" cells, not `polygonToCells`, whose centre/overlap rules use straight
 *   lng/lat chords and would need a safety ring without a bound on how wide it must be.
 * - Lookup: one `latLngToCell` per resolution in use (not `cellToParent`: H3 children are not
 *   geometrically nested in their parent), a map hit per level, then full cells answer at once and
 *   edge cells run the exact test (bbox reject first). No allocation beyond the result array and
 *   the cell strings h3-js returns.
 * - Points outside lat [-90, 90] / lng [-180, 180] or non-finite match nothing: callers validate
 *   pings first, and the planar exact test is not meaningful for unnormalized longitudes.
 */
import { latLngToCell } from "h3-js";
import { chooseResolution, coverFence, MAX_CELLS_PER_FENCE } from "./cover.js";
import { fenceContains, fenceDistanceMeters, type PreparedFence, prepareFence } from "./exact.js";
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

/** Cells of one resolution: cell -> entries `fence * 2 + (wholly inside ? 1 : 0)`. */
interface Level {
	res: number;
	cells: Map<string, number[]>;
}

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
	const byId = new Map<string, PreparedFence>();
	features.forEach((value, i) => {
		const prepared = prepareFence(readFenceShape(value, i));
		byId.set(prepared.id, prepared);
	});
	// Fence numbers follow id order, so sorting numbers sorts ids.
	const ids = [...byId.keys()].sort();
	const fences = ids.map((id) => byId.get(id)).filter((f): f is PreparedFence => f !== undefined);
	const numberOfId = new Map(ids.map((id, i) => [id, i]));

	const levelByRes = new Map<number, Level>();
	fences.forEach((fence, number) => {
		let res = chooseResolution(fence);
		let cover = coverFence(fence, res, 0, MAX_CELLS_PER_FENCE);
		while (cover === null) {
			res -= 1;
			// Resolution 0 has 122 cells in all: no cap needed, and the loop ends there.
			cover = coverFence(fence, res, 0, res === 0 ? Number.POSITIVE_INFINITY : MAX_CELLS_PER_FENCE);
		}
		let level = levelByRes.get(res);
		if (level === undefined) {
			level = { res, cells: new Map() };
			levelByRes.set(res, level);
		}
		for (const [cell, full] of cover) {
			const entry = number * 2 + (full ? 1 : 0);
			const entries = level.cells.get(cell);
			if (entries === undefined) level.cells.set(cell, [entry]);
			else entries.push(entry);
		}
	});
	const levels = [...levelByRes.values()].sort((a, b) => b.res - a.res);

	return {
		size: fences.length,
		match(lat: number, lng: number): string[] {
			if (!(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180)) return [];
			const found: number[] = [];
			for (const level of levels) {
				const entries = level.cells.get(latLngToCell(lat, lng, level.res));
				if (entries === undefined) continue;
				for (const entry of entries) {
					const number = entry >> 1;
					if ((entry & 1) === 1) found.push(number);
					else {
						const fence = fences[number];
						if (fence !== undefined && fenceContains(fence, lat, lng)) found.push(number);
					}
				}
			}
			if (found.length > 1) found.sort((a, b) => a - b);
			return found.map((number) => ids[number] ?? "");
		},
		distanceTo(id: string, lat: number, lng: number): number {
			const number = numberOfId.get(id);
			const fence = number === undefined ? undefined : fences[number];
			if (fence === undefined) return Number.POSITIVE_INFINITY;
			return fenceDistanceMeters(fence, lat, lng);
		},
	};
}
