/**
 * Geofence upload and read schemas (`PUT /v1/geofences`, `GET /v1/geofences[/{id}]`).
 *
 * These schemas document the contract and feed the OpenAPI document. Geometry rules that a
 * JSON Schema cannot express (closed rings, no self-intersection, holes inside their shell,
 * vertex budget, antimeridian) are enforced by `validateFeatureCollection` in `src/geo/validate.ts`,
 * which also turns every problem into a stable error code with its path.
 */
import { z } from "zod";

/** Limits of the geofence contract, shared by the schemas and the geometry validator. */
export const GEOFENCE_LIMITS = {
	maxFeatures: 10_000,
	maxVertices: 2_000,
	minRadius: 10,
	maxRadius: 10_000,
	maxIdLength: 128,
	maxNameLength: 200,
	maxTags: 32,
	maxTagLength: 64,
	maxDwellSeconds: 86_400,
	maxMetadataBytes: 4_096,
} as const;

/** The characters a fence id may use. */
export const GEOFENCE_ID_PATTERN = /^[A-Za-z0-9._:-]+$/;

/** The retailer's own store id; uploading the same id again replaces that fence. */
export const GeofenceIdSchema = z
	.string()
	.min(1)
	.max(GEOFENCE_LIMITS.maxIdLength)
	.regex(GEOFENCE_ID_PATTERN)
	.describe("The retailer's own store id: 1 to 128 of A-Za-z0-9._:-");

/** A GeoJSON position: `[lng, lat]`, optionally followed by an altitude that is ignored. */
export const PositionSchema = z
	.array(z.number())
	.min(2)
	.max(3)
	.describe("[longitude, latitude] in degrees (WGS 84); a third altitude number is accepted and dropped");

/** A closed linear ring: at least 4 positions, the last equal to the first. */
export const LinearRingSchema = z.array(PositionSchema).min(4);

/** The centre of a circular fence; `properties.radius` gives its size. */
export const PointGeometrySchema = z.object({
	type: z.literal("Point"),
	coordinates: PositionSchema,
});

/** A polygon: the shell ring, then optional hole rings. */
export const PolygonGeometrySchema = z.object({
	type: z.literal("Polygon"),
	coordinates: z.array(LinearRingSchema).min(1),
});

/** Several polygons; a point is inside the fence when it is inside any of them. */
export const MultiPolygonGeometrySchema = z.object({
	type: z.literal("MultiPolygon"),
	coordinates: z.array(z.array(LinearRingSchema).min(1)).min(1),
});

/** The geometries a geofence may have. */
export const GeofenceGeometrySchema = z.discriminatedUnion("type", [
	PointGeometrySchema,
	PolygonGeometrySchema,
	MultiPolygonGeometrySchema,
]);

/** Byte length of the JSON text of a value, or Infinity when it cannot be serialized. */
function jsonByteLength(value: unknown): number {
	try {
		const text = JSON.stringify(value);
		return text === undefined ? Number.POSITIVE_INFINITY : new TextEncoder().encode(text).length;
	} catch {
		// Cycles, BigInt or nesting deep enough to exhaust the stack: not storable JSON.
		return Number.POSITIVE_INFINITY;
	}
}

/** Free-form retailer data kept with the fence, at most 4 KB as JSON. */
export const GeofenceMetadataSchema = z
	.record(z.string(), z.unknown())
	.refine((value) => jsonByteLength(value) <= GEOFENCE_LIMITS.maxMetadataBytes, {
		message: `metadata must serialize to at most ${GEOFENCE_LIMITS.maxMetadataBytes} bytes of JSON`,
	})
	.describe("Free-form JSON object, at most 4 KB serialized");

/**
 * Properties of an uploaded geofence. Unknown keys are rejected so that a typo such as
 * `dwelSeconds` is reported instead of silently ignored; free-form data goes in `metadata`.
 */
export const GeofencePropertiesSchema = z.strictObject({
	id: GeofenceIdSchema,
	name: z.string().min(1).max(GEOFENCE_LIMITS.maxNameLength).optional().describe("Defaults to the id"),
	tags: z
		.array(z.string().min(1).max(GEOFENCE_LIMITS.maxTagLength))
		.max(GEOFENCE_LIMITS.maxTags)
		.optional()
		.describe("Defaults to []"),
	radius: z
		.number()
		.min(GEOFENCE_LIMITS.minRadius)
		.max(GEOFENCE_LIMITS.maxRadius)
		.optional()
		.describe("Circle radius in metres: required for a Point, not allowed for polygons"),
	dwellSeconds: z.number().int().min(1).max(GEOFENCE_LIMITS.maxDwellSeconds).optional(),
	metadata: GeofenceMetadataSchema.optional(),
});

/** One uploaded geofence. */
export const GeofenceFeatureSchema = z.object({
	type: z.literal("Feature"),
	id: z.union([z.string(), z.number()]).optional().describe("Ignored: properties.id identifies the fence"),
	bbox: z.array(z.number()).optional().describe("Ignored: the service computes its own bounds"),
	geometry: GeofenceGeometrySchema,
	properties: GeofencePropertiesSchema,
});

/** The body of `PUT /v1/geofences`: 1 to 10,000 geofences. */
export const GeofenceFeatureCollectionSchema = z.object({
	type: z.literal("FeatureCollection"),
	bbox: z.array(z.number()).optional(),
	features: z.array(GeofenceFeatureSchema).min(1).max(GEOFENCE_LIMITS.maxFeatures),
});

/** A stored geofence as `GET /v1/geofences` returns it. */
export const StoredGeofenceFeatureSchema = z.object({
	type: z.literal("Feature"),
	geometry: GeofenceGeometrySchema,
	properties: z.object({
		id: GeofenceIdSchema,
		name: z.string(),
		tags: z.array(z.string()),
		radius: z.number().optional().describe("Present for Point fences only"),
		dwellSeconds: z.number().int().optional().describe("Absent when the fence has no dwell threshold"),
		metadata: z.record(z.string(), z.unknown()),
	}),
});

/** Stable codes of geofence upload errors (`errors[].code` of a 422). */
export const GEOFENCE_ERROR_CODES = [
	"invalid_shape",
	"empty_collection",
	"too_many_features",
	"invalid_id",
	"invalid_property",
	"unknown_property",
	"metadata_too_large",
	"unsupported_geometry",
	"invalid_coordinate",
	"coordinate_out_of_range",
	"ring_not_closed",
	"too_few_positions",
	"degenerate_ring",
	"too_many_vertices",
	"self_intersection",
	"hole_outside_shell",
	"holes_overlap",
	"nested_holes",
	"disconnected_interior",
	"parts_overlap",
	"shared_edge",
	"duplicate_ring",
	"antimeridian",
	"radius_required",
	"radius_not_allowed",
	"radius_out_of_range",
	"duplicate_id",
] as const;

/** A stable geofence upload error code. */
export type GeofenceErrorCode = (typeof GEOFENCE_ERROR_CODES)[number];

/** One problem found in an upload; `index` and `id` are null for collection-level problems. */
export const GeofenceFeatureErrorSchema = z.object({
	index: z.number().int().nullable().describe("Index of the feature in `features`, null for the collection"),
	id: z.string().nullable().describe("properties.id of the feature when it could be read"),
	path: z.array(z.union([z.string(), z.number()])).describe("Path from the request body root"),
	code: z.enum(GEOFENCE_ERROR_CODES).describe("Stable machine-readable reason"),
	message: z.string(),
});

/** Properties as uploaded (before defaults are applied). */
export type GeofencePropertiesInput = z.input<typeof GeofencePropertiesSchema>;
/** Properties after parsing. */
export type GeofenceProperties = z.infer<typeof GeofencePropertiesSchema>;
/** A geofence geometry as uploaded. */
export type GeofenceGeometryInput = z.infer<typeof GeofenceGeometrySchema>;
/** One uploaded geofence. */
export type GeofenceFeature = z.infer<typeof GeofenceFeatureSchema>;
/** The upload body. */
export type GeofenceFeatureCollection = z.infer<typeof GeofenceFeatureCollectionSchema>;
/** A stored geofence as returned by the API. */
export type StoredGeofenceFeature = z.infer<typeof StoredGeofenceFeatureSchema>;
/** One problem found in an upload. */
export type GeofenceFeatureError = z.infer<typeof GeofenceFeatureErrorSchema>;

/** What `PUT /v1/geofences` and an import's commit answer (and what a commit keeps to answer again). */
export const UpsertAnswerSchema = z.object({
	created: z.number().int(),
	updated: z.number().int(),
	upserted: z.number().int(),
	unchanged: z.number().int(),
	version: z.number().int(),
});
