import { z } from "zod";
import { AppError, type ProblemItem } from "../../src/errors.js";
import { fenceToFeature, validateFeatureCollection } from "../../src/geo/validate.js";
import { ExternalId, PageLimit } from "../../src/schemas/common.js";
import {
	GeofenceFeatureCollectionSchema,
	StoredGeofenceFeatureSchema,
	UpsertAnswerSchema,
} from "../../src/schemas/geofence.js";
import { endpoint } from "../api.js";
import { base64url, fromBase64url } from "../crypto.js";
import { storedFence } from "../geofences/common.js";
import { deleteFence, upsertFences } from "../geofences/upsert.js";
import { json, parse, readJson } from "../http.js";
import type { ApiRouter } from "../router.js";
import { getGeofence, listGeofences } from "../store/geofences.js";
import { forgetCachedTenants, requireKey } from "../tenants.js";
import { Timing } from "../timing.js";

// The write engine lives in worker/geofences/ (upsert.ts, lock.ts, layout.ts). Its public names
// stay importable from here: worker/retention.ts takes sweepRetiredLeaves from this module.
export { sweepRetiredLeaves } from "../geofences/layout.js";
export {
	deleteFence,
	MAX_SHARD_CALLS,
	shardMaxCalls,
	type UpsertAnswer,
	upsertFences,
} from "../geofences/upsert.js";

/**
 * Largest `PUT /v1/geofences` body: what one Worker (128 MB of memory) can hold while it parses,
 * validates and writes it. Coordinate-heavy GeoJSON takes about 4 to 6 times its size at the peak
 * (text, parsed tree, normalized fences and their JSON), so a 48 MB upload could never be
 * processed; 16 MiB peaks near 80 MB and carries about 8,000 stores of 50-vertex polygons.
 * Larger networks upload in several requests (each upserts; nothing is removed by omission).
 */
export const MAX_UPLOAD_BYTES = 16 * 1024 * 1024;
/**
 * Most JSON arrays and objects in an upload: each costs about 70 bytes parsed and as much again
 * as a normalized position, however short its text (`[0,0],` is 6 bytes), so this bounds the
 * memory that bytes alone do not. 500,000 is about 16 MiB of full-precision positions.
 */
export const MAX_UPLOAD_CONTAINERS = 500_000;

/** Query of `GET /v1/geofences`. */
const GeofenceListQuery = z.object({
	limit: PageLimit.optional().meta({
		description: "fences a page, 1 to 1,000 (100 by default)",
		example: "100",
	}),
	cursor: z.string().max(400).optional().meta({ description: "the previous page's nextCursor" }),
	q: z.string().min(1).max(200).optional().meta({
		description: "only fences whose id or name contains this text (case-insensitive)",
		example: "rivoli",
	}),
	tag: z
		.string()
		.min(1)
		.max(64)
		.optional()
		.meta({ description: "only fences with this tag", example: "paris" }),
});

const GeofenceIdParams = z.object({
	id: ExternalId.meta({ description: "the fence's id", example: "store-42" }),
});

const EXAMPLE_UPLOAD = {
	type: "FeatureCollection" as const,
	features: [
		{
			type: "Feature" as const,
			geometry: { type: "Point" as const, coordinates: [2.3364, 48.8606] },
			properties: { id: "store-rivoli", name: "Rivoli", radius: 80, tags: ["paris"], dwellSeconds: 120 },
		},
	],
};

const GeofencePage = z.object({
	type: z.literal("FeatureCollection"),
	features: z.array(StoredGeofenceFeatureSchema),
	nextCursor: z
		.string()
		.nullable()
		.meta({ description: "pass as ?cursor= for the next page; null at the end" }),
	version: z.number().int().meta({ description: "the tenant's geofence version" }),
});

/** PUT/GET/DELETE /v1/geofences (secret key). */
export function geofenceRoutes(api: ApiRouter): void {
	api.put(
		"/v1/geofences",
		endpoint(
			{
				operationId: "upsertGeofences",
				summary: "Upsert store geofences (all or nothing)",
				description:
					"Validates every feature first: a 422 lists each bad feature ({index, id, path, message}) and stores nothing. Unchanged fences are skipped. For more than one request's worth, use a staged import.",
				tags: ["geofences"],
				auth: "secret",
				body: {
					schema: GeofenceFeatureCollectionSchema,
					maxBytes: MAX_UPLOAD_BYTES,
					limits: { maxContainers: MAX_UPLOAD_CONTAINERS },
					example: EXAMPLE_UPLOAD,
					raw: true,
				},
				responses: {
					200: {
						description: "counts and the geofence version in force",
						schema: UpsertAnswerSchema,
						headers: SERVER_TIMING,
					},
				},
				problems: [409, 413, 422, 503],
			},
			async ({ req, env }) => {
				const tenant = await requireKey(req, env, "secret");
				const result = validateFeatureCollection(
					await readJson(req, MAX_UPLOAD_BYTES, { maxContainers: MAX_UPLOAD_CONTAINERS }),
				);
				if (!result.ok) throw invalidGeofences(result.errors);
				const timing = new Timing();
				const answer = await upsertFences(env, tenant, result.fences, timing);
				// This isolate's pings see the new version (and layout) at once; others within 30 s.
				forgetCachedTenants();
				return json(answer, 200, { "server-timing": timing.header() });
			},
		),
	);

	api.get(
		"/v1/geofences",
		endpoint(
			{
				operationId: "listGeofences",
				summary: "List geofences, by id, with search",
				description:
					"Pages in id order. `q` keeps fences whose id or name contains the text (case-insensitive), `tag` those with the tag; both apply to every stored fence, not only one page.",
				tags: ["geofences"],
				auth: "secret",
				query: GeofenceListQuery,
				responses: { 200: { description: "a page of fences as GeoJSON", schema: GeofencePage } },
				problems: [],
			},
			async ({ req, env, query }) => {
				const tenant = await requireKey(req, env, "secret");
				const q = query();
				const limit = q.limit ?? 100;
				const rows = await listGeofences(env.DB, tenant.id, {
					after: decodeCursor(q.cursor ?? null),
					limit: limit + 1,
					...(q.q !== undefined ? { text: q.q } : {}),
					...(q.tag !== undefined ? { tag: q.tag } : {}),
				});
				const page = rows.slice(0, limit);
				const last = page.at(-1);
				return json({
					type: "FeatureCollection",
					features: page.map((r) => fenceToFeature(storedFence(r.fence))),
					nextCursor: rows.length > limit && last ? base64url(new TextEncoder().encode(last.id)) : null,
					version: tenant.geofenceVersion,
				});
			},
		),
	);

	api.get(
		"/v1/geofences/:id",
		endpoint(
			{
				operationId: "getGeofence",
				summary: "One geofence",
				tags: ["geofences"],
				auth: "secret",
				params: GeofenceIdParams,
				responses: {
					200: { description: "the fence as a GeoJSON Feature", schema: StoredGeofenceFeatureSchema },
				},
				problems: [404],
			},
			async ({ req, env, params }) => {
				const tenant = await requireKey(req, env, "secret");
				const { id } = params();
				const fence = await getGeofence(env.DB, tenant.id, id);
				if (fence === null) throw new AppError("not_found", 404, "No geofence with this id.");
				return json(fenceToFeature(storedFence(fence)));
			},
		),
	);

	api.delete(
		"/v1/geofences/:id",
		endpoint(
			{
				operationId: "deleteGeofence",
				summary: "Delete a geofence (pings stop matching it at once)",
				tags: ["geofences"],
				auth: "secret",
				params: GeofenceIdParams,
				responses: { 204: { description: "deleted (or there was none)" } },
				problems: [409, 503],
			},
			async ({ req, env, params }) => {
				const tenant = await requireKey(req, env, "secret");
				const { id } = params();
				await deleteFence(env, tenant.id, id);
				forgetCachedTenants();
				return new Response(null, { status: 204 });
			},
		),
	);
}

function decodeCursor(cursor: string | null): string {
	if (!cursor) return "";
	try {
		return parse(
			ExternalId,
			new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromBase64url(cursor)),
		);
	} catch {
		throw new AppError("invalid_cursor", 400, "The cursor is not one this API returned.");
	}
}

/**
 * 422 `invalid_geofences`: how many features are bad, or that the collection itself is (e.g. no
 * features), of an upload or, given its number, of an import's chunk.
 */
export function invalidGeofences(errors: ProblemItem[], chunk?: number): AppError {
	const features = new Set(errors.filter((e) => e.index !== null).map((e) => e.index)).size;
	const what = chunk === undefined ? "The upload" : `Chunk ${chunk}`;
	const of = chunk === undefined ? "" : ` of chunk ${chunk}`;
	const outcome = chunk === undefined ? "nothing was stored" : "the chunk was not stored";
	const head =
		features > 0 ? `${features} feature(s)${of} are invalid` : `${what} is not a valid FeatureCollection`;
	return new AppError("invalid_geofences", 422, `${head}; ${outcome}.`, errors);
}

/** The `Server-Timing` header an upload or an import's commit answers with (worker/timing.ts). */
export const SERVER_TIMING = {
	"server-timing": {
		description:
			"where the request's time went (load, lock, compare, cells, sizing, stage, shards, commit), in ms",
		schema: { type: "string" as const },
	},
};
