/**
 * Sharding of the fence index into GeoShard Durable Objects, one per tenant and coarse H3 cell.
 *
 * A fence is stored in every shard whose cell comes within the shard buffer of it, so the shard
 * of a ping knows every fence the ping is in and every fence it is near enough to need an exit
 * distance for (exit hysteresis is max(25 m, accuracy), and accuracy is capped well below 1 km).
 */
import { latLngToCell } from "h3-js";
import { coverFence } from "./cover.js";
import { GeoError } from "./errors.js";
import { prepareFence } from "./exact.js";
import type { Fence } from "./types.js";

/** Coarse H3 parent cell per GeoShard Durable Object (about 250 km², 8.5 km edges). */
export const SHARD_RESOLUTION = 5;
/** Distance around a fence within which its shards must know it. */
export const SHARD_BUFFER_METERS = 1000;

// The guarantee is stated with `FenceIndex.distanceTo`, an approximation accurate to well under
// 1%; covering a slightly larger buffer keeps it true at the edge of the buffer.
const BUFFER_SLACK = 1.02;
const BUFFER_SLACK_METERS = 1;

/**
 * The shard cell of a point.
 *
 * @param lat latitude in degrees, within [-90, 90]
 * @param lng longitude in degrees, within [-180, 180]
 * @returns the H3 cell at {@link SHARD_RESOLUTION}
 * @throws GeoError `invalid_coordinate` for a non-finite or out-of-range coordinate
 */
export function shardOfPoint(lat: number, lng: number): string {
	if (!(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180)) {
		throw new GeoError("invalid_coordinate", `Not a WGS 84 coordinate: ${lat}, ${lng}`);
	}
	return latLngToCell(lat, lng, SHARD_RESOLUTION);
}

/**
 * Every shard cell whose area comes within `bufferMeters` of the fence (a superset is fine).
 * Guarantee: for any point at most `bufferMeters` from the fence (as `FenceIndex.distanceTo`
 * measures it, so including points inside), the result contains `shardOfPoint(point)`.
 *
 * @param f a validated fence
 * @param bufferMeters distance around the fence, >= 0
 * @returns shard cells, sorted
 * @throws GeoError `invalid_fence` for a negative or non-finite buffer
 */
export function shardsOfFence(f: Fence, bufferMeters: number = SHARD_BUFFER_METERS): string[] {
	if (!(bufferMeters >= 0 && Number.isFinite(bufferMeters))) {
		throw new GeoError("invalid_fence", `The shard buffer must be a finite number >= 0, got ${bufferMeters}`);
	}
	const buffer = bufferMeters * BUFFER_SLACK + BUFFER_SLACK_METERS;
	const cover = coverFence(prepareFence(f), SHARD_RESOLUTION, buffer, Number.POSITIVE_INFINITY);
	return cover === null ? [] : [...cover.keys()].sort();
}
