/**
 * Upload validation for geofences: zod checks the envelope and properties, then a hand-written
 * walker checks the geometry, because the rules that matter most (closed rings, vertex budget,
 * antimeridian, and OGC validity: no self-intersection, holes inside their shell and apart, parts
 * apart, a connected interior) cannot be expressed in a schema and each needs its own stable code
 * and exact path. Every bad feature is reported, not only the first, and no input can make it
 * throw: a retailer fixes a whole file in one round trip.
 */
import { z } from "zod";
import {
	GEOFENCE_LIMITS,
	type GeofenceErrorCode,
	GeofenceIdSchema,
	GeofenceMetadataSchema,
	GeofencePropertiesSchema,
	type StoredGeofenceFeature,
} from "../schemas/geofence.js";
import type { Fence, FenceGeometry, Position } from "./types.js";
import { findValidityIssues, orientation } from "./validity.js";

/** A JSON path from the request body root. */
export type JsonPath = (string | number)[];

/**
 * One problem in an upload. `index` and `id` are null for collection-level problems.
 * (A type alias rather than an interface, so it is assignable to the Worker's problem items.)
 */
export type FeatureError = {
	/** Index of the feature in `features`, null for a collection-level problem. */
	index: number | null;
	/** `properties.id` of the feature when it is a valid id, else null. */
	id: string | null;
	/** Path from the request body root, e.g. `["features", 3, "geometry", "coordinates", 0, 2]`. */
	path: JsonPath;
	code: GeofenceErrorCode;
	/** Human-readable detail; not part of the contract. */
	message: string;
};

/** The outcome of {@link validateFeatureCollection}. */
export type ValidationResult = { ok: true; fences: Fence[] } | { ok: false; errors: FeatureError[] };

// A feature can produce many errors (one per bad position); a few are enough to fix it, and the
// response must stay small even for a hostile upload, so later errors are dropped per feature.
const MAX_ERRORS_PER_FEATURE = 10;
// Past this many errors each remaining bad feature still gets one, so none goes unreported.
const MAX_ERRORS_DETAILED = 1_000;

const GEOJSON_TYPES = new Set([
	"Point",
	"MultiPoint",
	"LineString",
	"MultiLineString",
	"Polygon",
	"MultiPolygon",
	"GeometryCollection",
]);

const FeatureEnvelopeSchema = z.object({
	type: z.literal("Feature"),
	id: z.union([z.string(), z.number()]).optional(),
	bbox: z.array(z.number()).optional(),
});

const CollectionEnvelopeSchema = z.object({
	type: z.literal("FeatureCollection"),
	bbox: z.array(z.number()).optional(),
});

const JsonObjectSchema = z.record(z.string(), z.unknown());

/** Collects the errors of one feature, up to a limit. */
class ErrorSink {
	readonly errors: FeatureError[] = [];

	constructor(
		private readonly index: number | null,
		private readonly id: string | null,
		private readonly limit: number,
	) {}

	get full(): boolean {
		return this.errors.length >= this.limit;
	}

	add(path: JsonPath, code: GeofenceErrorCode, message: string): void {
		if (this.full) return;
		// zod may report one field twice (an empty id is both too short and off-pattern).
		const key = path.join("\u0000");
		if (this.errors.some((e) => e.code === code && e.path.join("\u0000") === key)) return;
		this.errors.push({ index: this.index, id: this.id, path, code, message });
	}
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function zodPath(path: readonly PropertyKey[]): JsonPath {
	return path.map((key) => (typeof key === "number" ? key : String(key)));
}

/**
 * Validates a `PUT /v1/geofences` body and normalizes every fence.
 *
 * Lists every bad feature (with a per-feature cap on repeated errors), with stable codes and
 * paths from the body root. Never throws, whatever the input.
 *
 * @param input the parsed JSON body
 * @returns the normalized fences, or every problem found
 */
export function validateFeatureCollection(input: unknown): ValidationResult {
	try {
		return validateCollection(input);
	} catch {
		// Defence in depth: exotic inputs (proxies, throwing getters) must still yield a 4xx.
		return {
			ok: false,
			errors: [
				{ index: null, id: null, path: [], code: "invalid_shape", message: "The body could not be read" },
			],
		};
	}
}

function validateCollection(input: unknown): ValidationResult {
	const top = new ErrorSink(null, null, MAX_ERRORS_PER_FEATURE);
	if (!isRecord(input)) {
		top.add([], "invalid_shape", "The body must be a GeoJSON FeatureCollection object");
		return { ok: false, errors: top.errors };
	}
	const envelope = CollectionEnvelopeSchema.safeParse(input);
	if (!envelope.success) {
		for (const issue of envelope.error.issues) top.add(zodPath(issue.path), "invalid_shape", issue.message);
	}
	const features = input.features;
	if (!Array.isArray(features)) {
		top.add(["features"], "invalid_shape", "features must be an array of Features");
		return { ok: false, errors: top.errors };
	}
	if (features.length === 0) {
		top.add(["features"], "empty_collection", "features must hold at least one Feature");
		return { ok: false, errors: top.errors };
	}
	if (features.length > GEOFENCE_LIMITS.maxFeatures) {
		// Not worth validating each feature of an upload that is refused as a whole.
		top.add(
			["features"],
			"too_many_features",
			`At most ${GEOFENCE_LIMITS.maxFeatures} features per upload, got ${features.length}`,
		);
		return { ok: false, errors: top.errors };
	}

	const errors: FeatureError[] = [...top.errors];
	const fences: Fence[] = [];
	const firstIndexOfId = new Map<string, number>();
	for (let index = 0; index < features.length; index++) {
		const limit = errors.length >= MAX_ERRORS_DETAILED ? 1 : MAX_ERRORS_PER_FEATURE;
		const { fence, sink, id } = validateFeature(features[index], index, limit);
		if (id !== null) {
			const first = firstIndexOfId.get(id);
			if (first === undefined) firstIndexOfId.set(id, index);
			else
				sink.add(
					["features", index, "properties", "id"],
					"duplicate_id",
					`Duplicate id ${id}: already used by feature ${first}`,
				);
		}
		errors.push(...sink.errors);
		if (fence !== null && sink.errors.length === 0) fences.push(fence);
	}
	return errors.length > 0 ? { ok: false, errors } : { ok: true, fences };
}

function readId(properties: unknown): string | null {
	if (!isRecord(properties)) return null;
	const parsed = GeofenceIdSchema.safeParse(properties.id);
	return parsed.success ? parsed.data : null;
}

function validateFeature(
	raw: unknown,
	index: number,
	limit: number,
): { fence: Fence | null; sink: ErrorSink; id: string | null } {
	const base: JsonPath = ["features", index];
	if (!isRecord(raw)) {
		const sink = new ErrorSink(index, null, limit);
		sink.add(base, "invalid_shape", "Each feature must be a GeoJSON Feature object");
		return { fence: null, sink, id: null };
	}
	const id = readId(raw.properties);
	const sink = new ErrorSink(index, id, limit);

	const envelope = FeatureEnvelopeSchema.safeParse(raw);
	if (!envelope.success) {
		for (const issue of envelope.error.issues)
			sink.add([...base, ...zodPath(issue.path)], "invalid_shape", issue.message);
	}

	const geometry = parseGeometry(raw.geometry, [...base, "geometry"], sink);
	const isPoint = isRecord(raw.geometry) && raw.geometry.type === "Point";
	const isPolygonal =
		isRecord(raw.geometry) && (raw.geometry.type === "Polygon" || raw.geometry.type === "MultiPolygon");

	const propsPath: JsonPath = [...base, "properties"];
	const rawProps = raw.properties;
	const hasRadius = isRecord(rawProps) && rawProps.radius !== undefined;
	const props = GeofencePropertiesSchema.safeParse(rawProps);
	if (!props.success) {
		for (const issue of props.error.issues) {
			// A polygon's radius is reported once as not allowed, whatever its value.
			if (isPolygonal && issue.path[0] === "radius") continue;
			addPropertyIssue(issue, propsPath, sink);
		}
	}
	if (isPoint && isRecord(rawProps) && !hasRadius) {
		sink.add([...propsPath, "radius"], "radius_required", "A Point fence needs properties.radius in metres");
	}
	if (isPolygonal && hasRadius) {
		sink.add([...propsPath, "radius"], "radius_not_allowed", "radius is only allowed for Point fences");
	}

	if (!props.success || geometry === null || sink.errors.length > 0) return { fence: null, sink, id };
	const p = props.data;
	const metadata = JsonObjectSchema.parse(JSON.parse(JSON.stringify(p.metadata ?? {})));
	const fence: Fence = {
		id: p.id,
		name: p.name ?? p.id,
		tags: p.tags ?? [],
		dwellSeconds: p.dwellSeconds ?? null,
		metadata,
		geometry,
		radius: geometry.type === "Point" ? (p.radius ?? null) : null,
	};
	return { fence, sink, id };
}

function addPropertyIssue(issue: z.core.$ZodIssue, propsPath: JsonPath, sink: ErrorSink): void {
	const path = [...propsPath, ...zodPath(issue.path)];
	if (issue.code === "unrecognized_keys") {
		for (const key of issue.keys) {
			sink.add(
				[...path, key],
				"unknown_property",
				`Unknown property ${key}; free-form data goes in metadata`,
			);
		}
		return;
	}
	const field = issue.path[0];
	if (field === undefined) sink.add(path, "invalid_shape", "properties must be an object");
	else if (field === "id") sink.add(path, "invalid_id", issue.message);
	else if (field === "radius" && (issue.code === "too_small" || issue.code === "too_big"))
		sink.add(path, "radius_out_of_range", issue.message);
	else if (field === "metadata" && issue.code === "custom")
		sink.add(path, "metadata_too_large", issue.message);
	else sink.add(path, "invalid_property", issue.message);
}

/** Counts the vertices (closing position excluded) without walking positions, so a huge upload is refused fast. */
function countVertices(type: "Polygon" | "MultiPolygon", coordinates: unknown[]): number {
	let count = 0;
	const countPolygon = (polygon: unknown): void => {
		if (!Array.isArray(polygon)) return;
		for (const ring of polygon) if (Array.isArray(ring)) count += Math.max(0, ring.length - 1);
	};
	if (type === "Polygon") countPolygon(coordinates);
	else for (const polygon of coordinates) countPolygon(polygon);
	return count;
}

function parseGeometry(raw: unknown, path: JsonPath, sink: ErrorSink): FenceGeometry | null {
	if (!isRecord(raw)) {
		sink.add(path, "invalid_shape", "geometry must be a GeoJSON geometry object");
		return null;
	}
	const type = raw.type;
	const coordsPath = [...path, "coordinates"];
	const coordinates = raw.coordinates;
	if (type !== "Point" && type !== "Polygon" && type !== "MultiPolygon") {
		if (typeof type === "string" && GEOJSON_TYPES.has(type))
			sink.add([...path, "type"], "unsupported_geometry", `${type} fences are not supported`);
		else sink.add([...path, "type"], "invalid_shape", "geometry.type must be Point, Polygon or MultiPolygon");
		return null;
	}
	if (!Array.isArray(coordinates)) {
		sink.add(coordsPath, "invalid_shape", "coordinates must be an array");
		return null;
	}
	if (type === "Point") {
		const position = parsePosition(coordinates, coordsPath, sink);
		return position === null ? null : { type, coordinates: position };
	}
	const vertices = countVertices(type, coordinates);
	if (vertices > GEOFENCE_LIMITS.maxVertices) {
		sink.add(
			coordsPath,
			"too_many_vertices",
			`At most ${GEOFENCE_LIMITS.maxVertices} vertices per fence, got ${vertices}`,
		);
		return null;
	}
	if (type === "Polygon") {
		const polygon = parsePolygon(coordinates, coordsPath, sink);
		if (polygon === null) return null;
		const paths = [coordsPath];
		return checkValidity([polygon], paths, sink) ? { type, coordinates: polygon.rings } : null;
	}
	if (coordinates.length === 0) {
		sink.add(coordsPath, "invalid_shape", "A MultiPolygon needs at least one polygon");
		return null;
	}
	const polygons: ParsedPolygon[] = [];
	const paths: JsonPath[] = [];
	let ok = true;
	for (let i = 0; i < coordinates.length && !sink.full; i++) {
		const path = [...coordsPath, i];
		const polygon = parsePolygon(coordinates[i], path, sink);
		if (polygon === null) ok = false;
		else {
			polygons.push(polygon);
			paths.push(path);
		}
	}
	if (!ok || sink.full || !checkValidity(polygons, paths, sink)) return null;
	return { type, coordinates: polygons.map((polygon) => polygon.rings) };
}

/**
 * The topology checks of {@link findValidityIssues}, reported at the path of the offending ring,
 * and of its position as uploaded (before repeated positions were dropped) when the fault sits on
 * a vertex.
 */
function checkValidity(polygons: ParsedPolygon[], paths: JsonPath[], sink: ErrorSink): boolean {
	const issues = findValidityIssues(
		polygons.map((polygon) => polygon.rings),
		MAX_ERRORS_PER_FEATURE,
	);
	for (const issue of issues) {
		const polygon = polygons[issue.part];
		const base = paths[issue.part] ?? [];
		const uploaded =
			issue.position === null ? undefined : polygon?.uploadedIndex[issue.ring]?.[issue.position];
		sink.add(
			uploaded === undefined ? [...base, issue.ring] : [...base, issue.ring, uploaded],
			issue.code,
			issue.message,
		);
	}
	return issues.length === 0;
}

function parsePosition(raw: unknown, path: JsonPath, sink: ErrorSink): Position | null {
	if (!Array.isArray(raw) || raw.length < 2 || raw.length > 3) {
		sink.add(path, "invalid_shape", "A position must be [lng, lat] or [lng, lat, altitude]");
		return null;
	}
	let ok = true;
	for (let k = 0; k < raw.length; k++) {
		const value: unknown = raw[k];
		if (typeof value !== "number" || !Number.isFinite(value)) {
			sink.add([...path, k], "invalid_coordinate", "Coordinates must be finite numbers");
			ok = false;
		}
	}
	if (!ok) return null;
	const lng: unknown = raw[0];
	const lat: unknown = raw[1];
	if (typeof lng !== "number" || typeof lat !== "number") return null;
	if (lng < -180 || lng > 180) {
		sink.add(
			[...path, 0],
			"coordinate_out_of_range",
			"Longitude must be within [-180, 180]; order is [lng, lat]",
		);
		ok = false;
	}
	if (lat < -90 || lat > 90) {
		sink.add(
			[...path, 1],
			"coordinate_out_of_range",
			"Latitude must be within [-90, 90]; order is [lng, lat]",
		);
		ok = false;
	}
	return ok ? [lng, lat] : null;
}

/** The rings of a polygon without repeated positions, and where each kept position was uploaded. */
type ParsedPolygon = { rings: Position[][]; uploadedIndex: number[][] };

function parsePolygon(raw: unknown, path: JsonPath, sink: ErrorSink): ParsedPolygon | null {
	if (!Array.isArray(raw) || raw.length === 0) {
		sink.add(path, "invalid_shape", "A polygon must be a non-empty array of linear rings");
		return null;
	}
	const polygon: ParsedPolygon = { rings: [], uploadedIndex: [] };
	let ok = true;
	for (let r = 0; r < raw.length && !sink.full; r++) {
		const ring = parseRing(raw[r], [...path, r], sink);
		if (ring === null) ok = false;
		else {
			polygon.rings.push(ring.positions);
			polygon.uploadedIndex.push(ring.uploadedIndex);
		}
	}
	return ok && !sink.full ? polygon : null;
}

function parseRing(
	raw: unknown,
	path: JsonPath,
	sink: ErrorSink,
): { positions: Position[]; uploadedIndex: number[] } | null {
	if (!Array.isArray(raw)) {
		sink.add(path, "invalid_shape", "A linear ring must be an array of positions");
		return null;
	}
	if (raw.length < 4) {
		sink.add(
			path,
			"too_few_positions",
			"A linear ring needs at least 4 positions, the last equal to the first",
		);
		return null;
	}
	const ring: Position[] = [];
	let ok = true;
	for (let i = 0; i < raw.length && !sink.full; i++) {
		const position = parsePosition(raw[i], [...path, i], sink);
		if (position === null) ok = false;
		else ring.push(position);
	}
	if (!ok || sink.full) return null;
	const first = ring[0];
	const last = ring[ring.length - 1];
	if (first === undefined || last === undefined || first[0] !== last[0] || first[1] !== last[1]) {
		sink.add(path, "ring_not_closed", "The last position of a ring must equal the first");
		return null;
	}
	let minLng = Number.POSITIVE_INFINITY;
	let maxLng = Number.NEGATIVE_INFINITY;
	for (const [lng] of ring) {
		if (lng < minLng) minLng = lng;
		if (lng > maxLng) maxLng = lng;
	}
	if (maxLng - minLng > 180) {
		// A ring wider than half the globe is ambiguous: it either crosses the antimeridian or
		// wraps the wrong way, and H3 would read it as crossing. Clients must split it in two.
		sink.add(
			path,
			"antimeridian",
			"A ring must not span more than 180° of longitude; split it at the antimeridian",
		);
		return null;
	}
	// Repeated consecutive positions are common in exported data and harmless to the shape (OGC and
	// JTS ignore them too), but they would be zero-length segments to the topology checks.
	const deduped: Position[] = [];
	const uploadedIndex: number[] = [];
	for (let i = 0; i < ring.length; i++) {
		const position = ring[i];
		const previous = deduped[deduped.length - 1];
		if (position === undefined) continue;
		if (previous === undefined || previous[0] !== position[0] || previous[1] !== position[1]) {
			deduped.push(position);
			uploadedIndex.push(i);
		}
	}
	if (deduped.length < 4) {
		sink.add(path, "degenerate_ring", "A ring needs at least 3 distinct vertices");
		return null;
	}
	// A flat ring is invalid as a spike too, but "no area" is the more useful thing to say.
	if (allCollinear(deduped)) {
		sink.add(path, "degenerate_ring", "A ring must enclose an area: its vertices are collinear");
		return null;
	}
	return { positions: deduped, uploadedIndex };
}

function allCollinear(ring: Position[]): boolean {
	const a = ring[0];
	const b = ring[1];
	if (a === undefined || b === undefined) return true;
	for (let i = 2; i < ring.length; i++) {
		const c = ring[i];
		if (c !== undefined && orientation(a, b, c) !== 0) return false;
	}
	return true;
}

function copyGeometry(geometry: FenceGeometry): FenceGeometry {
	const copyRing = (ring: Position[]): Position[] => ring.map(([lng, lat]): Position => [lng, lat]);
	switch (geometry.type) {
		case "Point":
			return { type: "Point", coordinates: [geometry.coordinates[0], geometry.coordinates[1]] };
		case "Polygon":
			return { type: "Polygon", coordinates: geometry.coordinates.map(copyRing) };
		case "MultiPolygon":
			return {
				type: "MultiPolygon",
				coordinates: geometry.coordinates.map((polygon) => polygon.map(copyRing)),
			};
	}
}

/**
 * The API shape of a stored fence (`GET /v1/geofences`). Feeding it back to
 * {@link validateFeatureCollection} yields the same fence and the same content hash.
 *
 * @param f a validated fence
 * @returns a GeoJSON Feature; `radius` only for a Point, `dwellSeconds` only when set
 */
export function fenceToFeature(f: Fence): StoredGeofenceFeature {
	return {
		type: "Feature",
		geometry: copyGeometry(f.geometry),
		properties: {
			id: f.id,
			name: f.name,
			tags: [...f.tags],
			...(f.radius !== null ? { radius: f.radius } : {}),
			...(f.dwellSeconds !== null ? { dwellSeconds: f.dwellSeconds } : {}),
			metadata: GeofenceMetadataSchema.parse(JSON.parse(JSON.stringify(f.metadata))),
		},
	};
}

/** JSON text with object keys sorted at every level, so equal content always serializes alike. */
function canonicalJson(value: unknown): string {
	if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(",")}]`;
	if (isRecord(value)) {
		const keys = Object.keys(value)
			.filter((key) => value[key] !== undefined)
			.sort();
		return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(",")}}`;
	}
	return JSON.stringify(value) ?? "null";
}

/**
 * FNV-1a 64 over bytes, computed on four 16-bit limbs so it stays exact in doubles
 * (no BigInt: it is hot when a large upload is compared with what is stored).
 */
function fnv1a64(bytes: Uint8Array): string {
	// Offset basis 0xcbf29ce484222325, least significant limb first.
	let h0 = 0x2325;
	let h1 = 0x8422;
	let h2 = 0x9ce4;
	let h3 = 0xcbf2;
	for (const byte of bytes) {
		h0 ^= byte;
		// Multiply by the prime 0x100000001b3 = 2^40 + 0x1b3.
		const t0 = h0 * 0x1b3;
		const t1 = h1 * 0x1b3;
		const t2 = h2 * 0x1b3 + (h0 << 8);
		const t3 = h3 * 0x1b3 + (h1 << 8);
		const c1 = t1 + Math.floor(t0 / 0x10000);
		const c2 = t2 + Math.floor(c1 / 0x10000);
		const c3 = t3 + Math.floor(c2 / 0x10000);
		h0 = t0 & 0xffff;
		h1 = c1 & 0xffff;
		h2 = c2 & 0xffff;
		h3 = c3 & 0xffff;
	}
	return [h3, h2, h1, h0].map((limb) => limb.toString(16).padStart(4, "0")).join("");
}

/**
 * A stable content hash of a fence (FNV-1a 64 over its canonical JSON, 16 hex digits), so that
 * re-uploading an identical fence counts as unchanged. Key order in metadata does not matter.
 *
 * @param f a validated fence
 * @returns 16 lowercase hex digits
 */
export function fenceContentHash(f: Fence): string {
	const canonical = canonicalJson({
		id: f.id,
		name: f.name,
		tags: f.tags,
		dwellSeconds: f.dwellSeconds,
		metadata: f.metadata,
		geometry: f.geometry,
		radius: f.radius,
	});
	return fnv1a64(new TextEncoder().encode(canonical));
}
