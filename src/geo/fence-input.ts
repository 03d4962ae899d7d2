/**
 * Cheap parsing of what the index is built from: stored `Fence` objects or API-shaped Features.
 * Both come from storage after validation, so this only re-checks the shape the index relies on
 * (no cast of stored data), not the full upload rules. Two readers with one acceptance: zod
 * (`readFenceShape`, `parseStoredFence`: objects out, for the boundary and the shard key) and a
 * hand-written check that writes straight into the index's packed records (`packFenceInput`,
 * the build path); a property test holds them to the same verdicts and the same fences.
 */
import { z } from "zod";
import { GeoError } from "./errors.js";
import { CIRCLE_RECORD_LENGTH, type FencePacker, type FenceShape, polygonRecordLength } from "./exact.js";
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

// The build path: the same acceptance as readFenceShape, checked by hand and written straight into
// the packer. At a million fences the zod parse and the copy of every position it made were most
// of the build (a profile at 100,000: 65 %), and at 1M the garbage collector tracing the 2 GB of
// input while those copies piled up; this path allocates nothing per fence but its id.

function isRecord(v: unknown): v is Record<string, unknown> {
	return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A finite number (what zod 4's `z.number()` accepts). */
function isFiniteNumber(x: unknown): x is number {
	return typeof x === "number" && x - x === 0;
}

/** The radius zod accepts: a finite number > 0. */
function isRadius(x: unknown): x is number {
	return isFiniteNumber(x) && x > 0;
}

function isId(x: unknown): x is string {
	return typeof x === "string" && x.length > 0;
}

/** A GeoJSON position: an array of at least two finite numbers (every one checked, as zod does). */
function isPosition(p: unknown): p is number[] {
	if (!Array.isArray(p) || p.length < 2 || !isFiniteNumber(p[0]) || !isFiniteNumber(p[1])) return false;
	for (let i = 2; i < p.length; i++) if (!isFiniteNumber(p[i])) return false;
	return true;
}

/** An array of at least four positions, the first equal to the last; whether it is, without writing. */
function ringProblem(ring: unknown): string | null {
	if (!Array.isArray(ring) || ring.length < 4) return "not a Fence nor a geofence Feature";
	for (let i = 0; i < ring.length; i++) if (!isPosition(ring[i])) return "not a Fence nor a geofence Feature";
	const first = ring[0] as number[];
	const last = ring[ring.length - 1] as number[];
	if (first[0] !== last[0] || first[1] !== last[1]) return "every ring must be closed";
	return null;
}

/** A polygon's rings: a non-empty array of rings. */
function polygonProblem(polygon: unknown): string | null {
	if (!Array.isArray(polygon) || polygon.length < 1) return "not a Fence nor a geofence Feature";
	for (let r = 0; r < polygon.length; r++) {
		const problem = ringProblem(polygon[r]);
		if (problem !== null) return problem;
	}
	return null;
}

function writePolygon(polygon: unknown[], packer: FencePacker): void {
	packer.beginPart(polygon.length);
	for (let r = 0; r < polygon.length; r++) packer.ring(polygon[r] as number[][]);
}

/** Doubles of a polygon's parts in a packed record (see polygonRecordLength), 0 for a non-array. */
function polygonBody(polygon: unknown): number {
	if (!Array.isArray(polygon)) return 0;
	let n = 1;
	for (let r = 0; r < polygon.length; r++) {
		const ring: unknown = polygon[r];
		n += 1 + 2 * (Array.isArray(ring) ? ring.length : 0);
	}
	return n;
}

/**
 * How many doubles an index input's packed record will take (reading only the lengths of its
 * arrays), so the build allocates its arrays once. Garbage measures something harmless; it is
 * refused by {@link packFenceInput}.
 *
 * @param value the element to measure
 * @returns doubles
 */
export function fenceRecordLength(value: unknown): number {
	const geometry = isRecord(value) ? value.geometry : undefined;
	if (!isRecord(geometry)) return 0;
	const coordinates = geometry.coordinates;
	if (geometry.type === "Point") return CIRCLE_RECORD_LENGTH;
	if (geometry.type === "Polygon") return polygonRecordLength(polygonBody(coordinates));
	if (geometry.type !== "MultiPolygon" || !Array.isArray(coordinates)) return 0;
	let body = 0;
	for (let p = 0; p < coordinates.length; p++) body += polygonBody(coordinates[p]);
	return polygonRecordLength(body);
}

/**
 * Reads one index input (a `Fence` or an API-shaped Feature) straight into the packer, with the
 * acceptance of {@link readFenceShape} checked by hand: a Feature (`type` "Feature",
 * `properties.id`, optional positive `properties.radius`) or else a Fence (`id`, `radius` positive
 * or null); a Point, Polygon or MultiPolygon geometry of finite-number positions (at least two
 * numbers each, altitude dropped), rings of at least four positions, closed; a Point needs a radius.
 * Inputs were validated at the API boundary: this only guards the index against anything else.
 *
 * @param value the element to read
 * @param index its position in the input, for the error message
 * @param packer where the fence is written (nothing is written when it throws)
 * @returns the fence's id
 * @throws GeoError `invalid_fence` when the element is not a usable fence
 */
export function packFenceInput(value: unknown, index: number, packer: FencePacker): string {
	let id: string;
	let radius: number | null;
	const properties = isRecord(value) && value.type === "Feature" ? value.properties : undefined;
	if (
		isRecord(properties) &&
		isId(properties.id) &&
		(properties.radius === undefined || isRadius(properties.radius))
	) {
		id = properties.id;
		radius = properties.radius ?? null;
	} else if (isRecord(value) && isId(value.id) && (value.radius === null || isRadius(value.radius))) {
		id = value.id;
		radius = value.radius;
	} else {
		throw new GeoError("invalid_fence", `fence ${index}: not a Fence nor a geofence Feature`);
	}
	const geometry = (value as Record<string, unknown>).geometry;
	const type = isRecord(geometry) ? geometry.type : undefined;
	const coordinates = isRecord(geometry) ? geometry.coordinates : undefined;
	let problem: string | null = "not a Fence nor a geofence Feature";
	if (type === "Point") {
		if (isPosition(coordinates)) {
			if (radius === null) problem = "a Point fence needs a radius";
			else {
				packer.addCircle(coordinates[1] as number, coordinates[0] as number, radius);
				return id;
			}
		}
	} else if (type === "Polygon") {
		problem = polygonProblem(coordinates);
		if (problem === null) {
			packer.beginPolygon(1);
			writePolygon(coordinates as unknown[], packer);
			packer.endPolygon();
			return id;
		}
	} else if (type === "MultiPolygon" && Array.isArray(coordinates) && coordinates.length > 0) {
		problem = null;
		for (let p = 0; p < coordinates.length && problem === null; p++) problem = polygonProblem(coordinates[p]);
		if (problem === null) {
			packer.beginPolygon(coordinates.length);
			for (let p = 0; p < coordinates.length; p++) writePolygon(coordinates[p] as unknown[], packer);
			packer.endPolygon();
			return id;
		}
	}
	throw new GeoError("invalid_fence", `fence ${index}: ${problem}`);
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
