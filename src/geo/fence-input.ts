/**
 * Cheap parsing of what the index is built from: stored `Fence` objects or API-shaped Features.
 * Both come from storage after validation, so this only re-checks the shape the index relies on
 * (no cast of stored data), not the full upload rules.
 */
import { z } from "zod";
import { GeoError } from "./errors.js";
import type { FenceShape } from "./exact.js";
import type { Fence, FenceGeometry, Position } from "./types.js";

const PositionIn = z.array(z.number()).min(2);
const RingIn = z.array(PositionIn).min(4);
const GeometryIn = z.discriminatedUnion("type", [
	z.object({ type: z.literal("Point"), coordinates: PositionIn }),
	z.object({ type: z.literal("Polygon"), coordinates: z.array(RingIn).min(1) }),
	z.object({ type: z.literal("MultiPolygon"), coordinates: z.array(z.array(RingIn).min(1)).min(1) }),
]);
const FeatureIn = z.object({
	type: z.literal("Feature"),
	geometry: GeometryIn,
	properties: z.object({ id: z.string().min(1), radius: z.number().positive().optional() }),
});
const FenceIn = z.object({
	id: z.string().min(1),
	geometry: GeometryIn,
	radius: z.number().positive().nullable(),
});

/** An API-shaped geofence Feature as the index accepts it. */
export interface FenceFeatureLike {
	type: "Feature";
	geometry: { type: string; coordinates: unknown };
	properties: { id: string; radius?: number | undefined };
}

function toPosition(p: number[]): Position {
	return [p[0] ?? Number.NaN, p[1] ?? Number.NaN];
}

function toRing(ring: number[][], where: string): Position[] {
	const out = ring.map(toPosition);
	const first = out[0];
	const last = out[out.length - 1];
	if (first === undefined || last === undefined || first[0] !== last[0] || first[1] !== last[1]) {
		throw new GeoError("invalid_fence", `${where}: every ring must be closed`);
	}
	return out;
}

/**
 * Reads one index input (a `Fence` or an API-shaped Feature) into the shape the index needs.
 *
 * @param value the element to read
 * @param index its position in the input, for the error message
 * @returns id, geometry ([lng, lat] positions, altitude dropped) and radius
 * @throws GeoError `invalid_fence` when the element is not a usable fence
 */
export function readFenceShape(value: unknown, index: number): FenceShape {
	const where = `fence ${index}`;
	const asFeature = FeatureIn.safeParse(value);
	let id: string;
	let radius: number | null;
	let raw: z.infer<typeof GeometryIn>;
	if (asFeature.success) {
		id = asFeature.data.properties.id;
		radius = asFeature.data.properties.radius ?? null;
		raw = asFeature.data.geometry;
	} else {
		const asFence = FenceIn.safeParse(value);
		if (!asFence.success) throw new GeoError("invalid_fence", `${where}: not a Fence nor a geofence Feature`);
		id = asFence.data.id;
		radius = asFence.data.radius;
		raw = asFence.data.geometry;
	}
	let geometry: FenceGeometry;
	if (raw.type === "Point") {
		if (radius === null) throw new GeoError("invalid_fence", `${where}: a Point fence needs a radius`);
		geometry = { type: "Point", coordinates: toPosition(raw.coordinates) };
	} else if (raw.type === "Polygon") {
		geometry = { type: "Polygon", coordinates: raw.coordinates.map((ring) => toRing(ring, where)) };
	} else {
		geometry = {
			type: "MultiPolygon",
			coordinates: raw.coordinates.map((polygon) => polygon.map((ring) => toRing(ring, where))),
		};
	}
	return { id, geometry, radius: geometry.type === "Point" ? radius : null };
}

const StoredFenceIn = z.object({
	id: z.string().min(1),
	name: z.string(),
	tags: z.array(z.string()),
	dwellSeconds: z.number().int().positive().nullable(),
	metadata: z.record(z.string(), z.unknown()),
	geometry: GeometryIn,
	radius: z.number().positive().nullable(),
});

/**
 * Reads a `Fence` back from storage (e.g. `JSON.parse` of what was stored) without casting.
 *
 * @param value the stored value
 * @returns the fence
 * @throws GeoError `invalid_fence` when the value is not a fence
 */
export function parseStoredFence(value: unknown): Fence {
	const parsed = StoredFenceIn.safeParse(value);
	if (!parsed.success) throw new GeoError("invalid_fence", "The stored value is not a fence");
	const shape = readFenceShape(parsed.data, 0);
	const { name, tags, dwellSeconds, metadata } = parsed.data;
	return { ...shape, name, tags, dwellSeconds, metadata };
}
