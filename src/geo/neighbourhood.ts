/**
 * A person's neighbourhood: the fences around where they were last matched, kept by their
 * Durable Object so most pings are answered without calling the fence shard (one Durable Object
 * call a ping instead of two).
 *
 * The shard hands over every fence within `radius` of a centre. A later ping is answered from
 * that copy only when it is in the same shard leaf (so the copy came from the shard that would
 * answer it) and within `radius - SHARD_BUFFER_METERS` of the centre: every fence within the
 * shard buffer of the ping (every fence it can be in, and every fence whose exit distance
 * matters) is then within `radius` of the centre, hence in the copy. A fence the person is in
 * that is not in the copy is farther than the buffer: far outside, as a shard would say. The
 * copy is stamped with the tenant's geofence version and dropped when that changes.
 */
import { haversineMeters } from "./exact.js";
import { createFenceIndex, type FenceIndex } from "./index.js";
import { SHARD_BUFFER_METERS } from "./shard.js";
import type { Fence } from "./types.js";

/** How far around the centre the shard copies fences: pings within 2 km of it are answered locally. */
export const NEIGHBOURHOOD_RADIUS_METERS = SHARD_BUFFER_METERS + 2000;
/** Past this many fences around the centre, no copy is kept (a person's object stays small). */
export const NEIGHBOURHOOD_MAX_FENCES = 200;

/** Where a neighbourhood was taken and what it is valid for. */
export interface NeighbourhoodStamp {
	/** The shard object (leaf) it came from. */
	shard: string;
	/** The tenant's geofence version it reflects. */
	version: number;
	lat: number;
	lng: number;
	radius: number;
}

/** A copy of the fences around a point, answering like the shard for pings it covers. */
export interface Neighbourhood {
	readonly stamp: NeighbourhoodStamp;
	/** Whether a ping at this point, routed to `shard`, at `version`, can be answered from the copy. */
	covers(lat: number, lng: number, shard: string, version: number): boolean;
	/** Ids of the fences that contain the point (sorted). */
	match(lat: number, lng: number): string[];
	/** Metres from the point to the fence; Infinity for a fence not in the copy (farther than the buffer). */
	distanceTo(id: string, lat: number, lng: number): number;
}

/**
 * Builds a neighbourhood from the fences the shard copied.
 *
 * @param stamp where and for what it was taken
 * @param fences every fence within `stamp.radius` of the centre
 */
export function createNeighbourhood(stamp: NeighbourhoodStamp, fences: readonly Fence[]): Neighbourhood {
	const index: FenceIndex = createFenceIndex([...fences]);
	const reach = stamp.radius - SHARD_BUFFER_METERS;
	return {
		stamp,
		covers: (lat, lng, shard, version) =>
			shard === stamp.shard &&
			version === stamp.version &&
			haversineMeters(lat, lng, stamp.lat, stamp.lng) <= reach,
		match: (lat, lng) => index.match(lat, lng),
		distanceTo: (id, lat, lng) => index.distanceTo(id, lat, lng),
	};
}
