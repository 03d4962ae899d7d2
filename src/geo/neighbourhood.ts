/**
 * A person's neighbourhood: the fences around where they were last matched, kept by their
 * Durable Object (in its storage, so that it outlives the object's eviction between two pings)
 * and answering most pings without calling the fence shard (one Durable Object call a ping
 * instead of two).
 *
 * The shard hands over every fence within `radius` of a centre. A later ping is answered from
 * that copy only when it is in the same shard leaf (so the copy came from the shard that would
 * answer it) and within `radius - SHARD_BUFFER_METERS` of the centre: every fence within the
 * shard buffer of the ping (every fence it can be in, and every fence whose exit distance
 * matters) is then within `radius` of the centre, hence in the copy. A fence the person is in
 * that is not in the copy is farther than the buffer: far outside, as a shard would say. The
 * copy is stamped with the tenant's geofence version and dropped when that changes.
 *
 * The centre need not be where the person is: any point will do, since the argument above only
 * uses the distances from the ping to the centre. It is the ping snapped to a grid of about
 * 100 m ({@link snapCentre}), so what is stored names no point of the person's trail.
 *
 * Dense areas: past {@link NEIGHBOURHOOD_MAX_FENCES} (or {@link NEIGHBOURHOOD_MAX_BYTES}) fences
 * within `radius`, the copy keeps a smaller radius instead of nothing ({@link fitNeighbourhood}):
 * the nearest fences, cut at a radius r' such that every fence within r' of the centre is kept.
 * The shard includes a fence when its computed distance d(f) to the centre is at most
 * `radius * 1.02 + 10` (the margin covers the distance's approximation: a fence truly within
 * `radius` has d(f) within that); the copy keeps exactly the fences with d(f) <= r' * 1.02 + 10,
 * r' <= radius, computed by the same code on the same geometry. So a fence truly within r' has
 * d(f) <= r' * 1.02 + 10, was handed over (r' <= radius) and is kept: the copy is every fence
 * within r', and the argument of the first paragraph holds with r' for `radius`. How far to ask
 * next time follows what was kept ({@link nextAskRadius}).
 */
import { haversineMeters } from "./exact.js";
import { createFenceIndex, type FenceIndex } from "./index.js";
import { SHARD_BUFFER_METERS } from "./shard.js";
import type { Fence } from "./types.js";

/** The farthest around the centre the shard copies fences: pings within 2 km of it are answered locally. */
export const NEIGHBOURHOOD_RADIUS_METERS = SHARD_BUFFER_METERS + 2000;
/** The nearest the shard is asked for: a copy answering pings within 200 m of its centre. */
export const NEIGHBOURHOOD_MIN_RADIUS_METERS = SHARD_BUFFER_METERS + 200;
/** A copy answering pings only this close to its centre is not kept. */
export const NEIGHBOURHOOD_MIN_REACH_METERS = 50;
/** At most this many fences are kept (nearest first); past it the copy's radius shrinks. */
export const NEIGHBOURHOOD_MAX_FENCES = 300;
/** At most this much fence JSON is kept (nearest first): the stored copy stays well under a value's limit. */
export const NEIGHBOURHOOD_MAX_BYTES = 384 * 1024;
/** The shard is asked for at most this many fences; past it, it answers with none (then ask nearer). */
export const NEIGHBOURHOOD_ASK_MAX_FENCES = 2 * NEIGHBOURHOOD_MAX_FENCES;
/** The grid the centre is snapped to, in degrees (1/1024: about 110 m of latitude). */
export const NEIGHBOURHOOD_GRID_DEGREES = 1 / 1024;

/** The shard's margin for the distance's approximation (worker/geoshard.ts, `around`). */
const within = (radius: number) => radius * 1.02 + 10;

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
 * The leaf cell of a shard key (`<cell>/<replica>`): every object of a leaf holds the same fences,
 * so a copy taken from one replica answers for pings routed to another (a leaf that grows moves
 * people between replicas; their copies stay good).
 */
export function leafOfKey(key: string): string {
	return key.replace(/\/\d+$/, "");
}

/**
 * A neighbourhood over an index of the fences within `stamp.radius` of the centre (built from
 * them, or loaded from a snapshot of such an index).
 */
export function neighbourhoodOver(stamp: NeighbourhoodStamp, index: FenceIndex): Neighbourhood {
	const reach = stamp.radius - SHARD_BUFFER_METERS;
	return {
		stamp,
		covers: (lat, lng, shard, version) =>
			leafOfKey(shard) === leafOfKey(stamp.shard) &&
			version === stamp.version &&
			haversineMeters(lat, lng, stamp.lat, stamp.lng) <= reach,
		match: (lat, lng) => index.match(lat, lng),
		distanceTo: (id, lat, lng) => index.distanceTo(id, lat, lng),
	};
}

/**
 * Builds a neighbourhood from the fences the shard copied.
 *
 * @param stamp where and for what it was taken
 * @param fences every fence within `stamp.radius` of the centre
 */
export function createNeighbourhood(stamp: NeighbourhoodStamp, fences: readonly Fence[]): Neighbourhood {
	return neighbourhoodOver(stamp, createFenceIndex([...fences]));
}

/** The centre to ask the shard around for a ping: the ping snapped to {@link NEIGHBOURHOOD_GRID_DEGREES}. */
export function snapCentre(lat: number, lng: number): { lat: number; lng: number } {
	const g = NEIGHBOURHOOD_GRID_DEGREES;
	return { lat: Math.round(lat / g) * g, lng: Math.round(lng / g) * g };
}

/**
 * What to keep of what the shard handed over: all of it when within the limits; else the nearest
 * fences with a smaller radius such that every fence within it is kept (see the module comment);
 * null when that radius would answer pings less than {@link NEIGHBOURHOOD_MIN_REACH_METERS} from
 * the centre.
 *
 * @param stamp where the shard was asked, and how far (`radius`)
 * @param fences every fence within `stamp.radius` of the centre, with the size of its JSON
 * @param limits at most this many fences and bytes (defaults: the module's limits)
 * @returns the stamp (radius possibly smaller), the fences kept and the index over them
 */
export function fitNeighbourhood<T extends { fence: Fence; bytes: number }>(
	stamp: NeighbourhoodStamp,
	fences: readonly T[],
	limits: { maxFences?: number; maxBytes?: number } = {},
): { stamp: NeighbourhoodStamp; kept: T[]; index: FenceIndex } | null {
	const maxFences = limits.maxFences ?? NEIGHBOURHOOD_MAX_FENCES;
	const maxBytes = limits.maxBytes ?? NEIGHBOURHOOD_MAX_BYTES;
	const total = fences.reduce((s, f) => s + f.bytes, 0);
	const fits = (radius: number) => radius - SHARD_BUFFER_METERS >= NEIGHBOURHOOD_MIN_REACH_METERS;
	if (fences.length <= maxFences && total <= maxBytes) {
		if (!fits(stamp.radius)) return null;
		return { stamp, kept: [...fences], index: createFenceIndex(fences.map((f) => f.fence)) };
	}
	// Distances from the centre, computed as the shard computes them.
	const all = createFenceIndex(fences.map((f) => f.fence));
	const byDistance = fences
		.map((f) => ({ f, d: all.distanceTo(f.fence.id, stamp.lat, stamp.lng) }))
		.sort((a, b) => a.d - b.d);
	// The first fence that may not be kept: past the count, or past the bytes.
	let cut = Math.min(maxFences, byDistance.length);
	let bytes = 0;
	for (let i = 0; i < cut; i++) {
		bytes += byDistance[i]?.f.bytes ?? 0;
		if (bytes > maxBytes) cut = i;
	}
	const dCut = byDistance[cut]?.d ?? Number.POSITIVE_INFINITY;
	// The largest radius whose margin stays below the first fence not kept (1 m to spare).
	const radius = Math.min(stamp.radius, (dCut - 10) / 1.02 - 1);
	if (!fits(radius)) return null;
	const kept = byDistance.filter((x) => x.d <= within(radius)).map((x) => x.f);
	return {
		stamp: { ...stamp, radius },
		kept,
		index: createFenceIndex(kept.map((f) => f.fence)),
	};
}

/**
 * How far to ask the shard next time: a little farther than the copy that was kept (it may have
 * been cut by the limits, or the area may be sparser ahead), down to half as far after the shard
 * had too many fences to hand over; within the module's minimum and maximum.
 *
 * @param asked the radius the shard was asked for
 * @param kept the radius of the copy kept; null when the shard handed over nothing (too many) or
 *   nothing was kept
 * @param tooMany whether the shard had more than it was asked for
 */
export function nextAskRadius(asked: number, kept: number | null, tooMany: boolean): number {
	const next = tooMany ? asked * 0.5 : kept !== null ? kept * 1.4 : asked;
	return Math.min(NEIGHBOURHOOD_RADIUS_METERS, Math.max(NEIGHBOURHOOD_MIN_RADIUS_METERS, next));
}
