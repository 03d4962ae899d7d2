import { z } from "zod";
import { AppError, type ProblemItem } from "../../src/errors.js";
import { parseStoredFence } from "../../src/geo/fence-input.js";
import type { Fence } from "../../src/geo/types.js";
import { validateFeatureCollection } from "../../src/geo/validate.js";
import { GeofenceFeatureCollectionSchema, UpsertAnswerSchema } from "../../src/schemas/geofence.js";
import { endpoint } from "../api.js";
import { randomToken } from "../crypto.js";
import { upsertFences } from "../geofences/upsert.js";
import { iso, json, readJson } from "../http.js";
import type { ApiRouter } from "../router.js";
import {
	chunkCounts,
	countOpenImports,
	deleteExpiredImports,
	deleteImport,
	findImportRow,
	type ImportRow,
	insertImport,
	markCommitted,
	otherChunksSize,
	partsAfter,
	replaceChunk,
} from "../store/geofence-imports.js";
import { forgetCachedTenants, requireKey } from "../tenants.js";
import { Timing } from "../timing.js";
import { invalidGeofences, MAX_UPLOAD_BYTES, MAX_UPLOAD_CONTAINERS, SERVER_TIMING } from "./geofences.js";

/**
 * Staged imports: a store network too large for one request is sent in chunks, each validated as
 * it arrives (same rules and limits as `PUT /v1/geofences`), and applied at once by a commit, all
 * or nothing: until the commit the old set stays live, and a failed commit leaves the import open
 * to be committed again. A chunk sent again replaces itself, so a client can retry or resume.
 */

/** How long an import stays open. */
export const IMPORT_TTL_MS = 24 * 3600_000;
/**
 * Fences one import may hold, and their normalized JSON: a commit holds them all in one Worker's
 * memory (128 MB), about 6 bytes of heap a byte of fence JSON while it sizes and writes them
 * (measured in Node: 933 bytes a circle store of 157 bytes of JSON). 100,000 circle stores are
 * 15.7 MB of JSON; a network past either limit goes in several imports.
 */
export const MAX_IMPORT_FEATURES = 100_000;
export const MAX_IMPORT_BYTES = 16 * 1024 * 1024;
/** Chunk numbers are 0 to this. */
export const MAX_CHUNK_NUMBER = 9999;
/** Imports a tenant may have open at once. */
export const MAX_OPEN_IMPORTS = 10;
/** Characters of fence JSON per stored part (a bound D1 value may be at most 2 MB). */
const PART_CHARS = 1_000_000;
/** Parts written per D1 batch. */
const PARTS_PER_BATCH = 4;

const ImportId = z
	.string()
	.regex(/^imp_[A-Za-z0-9_-]{16,64}$/, "not an import id")
	.meta({ description: "the import's id", example: "imp_3kTz9aQ0vW2bYc7dEf1G" });
const ChunkNumber = z.coerce
	.number()
	.int()
	.min(0)
	.max(MAX_CHUNK_NUMBER)
	.meta({ description: `the chunk's number, 0 to ${MAX_CHUNK_NUMBER}`, example: 0 });
const ImportParams = z.object({ id: ImportId });
const ChunkParams = z.object({ id: ImportId, n: ChunkNumber });
const CreateImport = z.object({}).strict();
/** A stored part: a JSON array of normalized fences (each parsed with `parseStoredFence`). */
const StoredPart = z.array(z.unknown());

const ImportCreated = z.object({ id: ImportId, expiresAt: z.string().meta({ description: "ISO 8601" }) });
const ChunkStored = z.object({ chunk: z.number().int(), features: z.number().int() });
const ImportStatus = z.object({
	id: ImportId,
	status: z.enum(["open", "committed"]),
	chunks: z.array(z.object({ n: z.number().int(), features: z.number().int() })),
	features: z.number().int().meta({ description: "every chunk's features together" }),
	expiresAt: z.string(),
	result: UpsertAnswerSchema.optional().meta({ description: "the commit's answer, once committed" }),
});

const EXAMPLE_CHUNK = {
	type: "FeatureCollection" as const,
	features: [
		{
			type: "Feature" as const,
			geometry: { type: "Point" as const, coordinates: [4.8357, 45.764] },
			properties: { id: "store-lyon-1", name: "Lyon Bellecour", radius: 120, tags: ["lyon"] },
		},
	],
};

/** POST/GET/DELETE /v1/geofences/imports... (secret key). */
export function geofenceImportRoutes(api: ApiRouter): void {
	api.post(
		"/v1/geofences/imports",
		endpoint(
			{
				operationId: "createGeofenceImport",
				summary: "Open a staged import (chunks applied at once by a commit; open 24 h)",
				description: `At most ${MAX_OPEN_IMPORTS} open imports a tenant, ${MAX_IMPORT_FEATURES.toLocaleString("en")} geofences and ${MAX_IMPORT_BYTES / 1024 / 1024} MiB of normalized JSON an import.`,
				tags: ["geofences"],
				auth: "secret",
				body: { schema: CreateImport, maxBytes: 1024, emptyAs: {}, example: {} },
				responses: { 201: { description: "the import", schema: ImportCreated } },
				problems: [409],
			},
			async ({ req, env, body }) => {
				const tenant = await requireKey(req, env, "secret");
				await body();
				const now = Date.now();
				await deleteExpiredImports(env.DB, tenant.id, now);
				if ((await countOpenImports(env.DB, tenant.id)) >= MAX_OPEN_IMPORTS)
					throw new AppError(
						"too_many_imports",
						409,
						`At most ${MAX_OPEN_IMPORTS} imports may be open at once; commit or delete one first.`,
					);
				const id = randomToken("imp_", 18);
				const expiresAt = now + IMPORT_TTL_MS;
				await insertImport(env.DB, { id, tenantId: tenant.id, createdAt: now, expiresAt });
				return json({ id, expiresAt: iso(expiresAt) }, 201);
			},
		),
	);

	api.put(
		"/v1/geofences/imports/:id/chunks/:n",
		endpoint(
			{
				operationId: "putGeofenceImportChunk",
				summary:
					"Send chunk n of an import (validated like PUT /v1/geofences; sent again, it replaces itself)",
				description:
					"A 422 lists every bad feature ({index, id, path, message}, index within the chunk) and stores nothing. Nothing is live before the commit.",
				tags: ["geofences"],
				auth: "secret",
				params: ChunkParams,
				body: {
					schema: GeofenceFeatureCollectionSchema,
					maxBytes: MAX_UPLOAD_BYTES,
					limits: { maxContainers: MAX_UPLOAD_CONTAINERS },
					example: EXAMPLE_CHUNK,
					raw: true,
				},
				responses: { 200: { description: "the chunk was stored", schema: ChunkStored } },
				problems: [404, 409, 410],
			},
			async ({ req, env, params }) => {
				const tenant = await requireKey(req, env, "secret");
				const { id, n } = params();
				const imp = await openImport(env, tenant.id, id);
				const result = validateFeatureCollection(
					await readJson(req, MAX_UPLOAD_BYTES, { maxContainers: MAX_UPLOAD_CONTAINERS }),
				);
				if (!result.ok) throw invalidGeofences(result.errors, n);
				const others = await otherChunksSize(env.DB, imp.id, n);
				const parts = packParts(result.fences);
				const chars = parts.reduce((sum, p) => sum + p.body.length, 0);
				if (
					others.features + result.fences.length > MAX_IMPORT_FEATURES ||
					others.chars + chars > MAX_IMPORT_BYTES
				)
					throw new AppError(
						"import_too_large",
						413,
						`An import holds at most ${MAX_IMPORT_FEATURES} geofences and ${MAX_IMPORT_BYTES / 1024 / 1024} MiB of their normalized JSON; split the network into several imports.`,
					);
				await replaceChunk(env.DB, imp.id, n, parts, PARTS_PER_BATCH);
				return json({ chunk: n, features: result.fences.length });
			},
		),
	);

	api.get(
		"/v1/geofences/imports/:id",
		endpoint(
			{
				operationId: "getGeofenceImport",
				summary: "An import: its status and the chunks received (to resume)",
				tags: ["geofences"],
				auth: "secret",
				params: ImportParams,
				responses: { 200: { description: "the import", schema: ImportStatus } },
				problems: [404],
			},
			async ({ req, env, params }) => {
				const tenant = await requireKey(req, env, "secret");
				const imp = await findImport(env, tenant.id, params().id);
				const chunks = await chunkCounts(env.DB, imp.id);
				return json({
					id: imp.id,
					status: imp.status,
					chunks: chunks.map((r) => ({ n: r.chunk, features: r.features })),
					features: chunks.reduce((sum, r) => sum + r.features, 0),
					expiresAt: iso(imp.expires_at),
					...(imp.result ? { result: UpsertAnswerSchema.parse(JSON.parse(imp.result)) } : {}),
				});
			},
		),
	);

	api.post(
		"/v1/geofences/imports/:id/commit",
		endpoint(
			{
				operationId: "commitGeofenceImport",
				summary: "Apply every chunk at once, all or nothing (sent again, answers the same)",
				description:
					"Until it succeeds the old set stays live and the import stays open, so a failed commit can be sent again. An id in two chunks is a 422 naming both.",
				tags: ["geofences"],
				auth: "secret",
				params: ImportParams,
				responses: {
					200: {
						description: "counts and the new version",
						schema: UpsertAnswerSchema,
						headers: SERVER_TIMING,
					},
				},
				problems: [404, 409, 410, 413, 503],
			},
			async ({ req, env, params }) => {
				const timing = new Timing();
				const tenant = await requireKey(req, env, "secret");
				const imp = await findImport(env, tenant.id, params().id);
				// A commit sent again (its answer lost) answers as the first one did.
				if (imp.status === "committed" && imp.result)
					return json(UpsertAnswerSchema.parse(JSON.parse(imp.result)));
				if (imp.expires_at <= Date.now()) throw gone();
				const fences = await loadFences(env, imp.id);
				if (fences.length === 0)
					throw new AppError("empty_import", 422, "The import has no chunks; nothing was stored.", [
						{ path: ["chunks"], message: "send at least one chunk before committing" },
					]);
				timing.lap("load");
				const answer = await upsertFences(env, tenant, fences, timing);
				forgetCachedTenants();
				// The fences are live; the import's staged copy is no longer needed.
				await markCommitted(env.DB, imp.id, JSON.stringify(answer), Date.now());
				return json(answer, 200, { "server-timing": timing.header() });
			},
		),
	);

	api.delete(
		"/v1/geofences/imports/:id",
		endpoint(
			{
				operationId: "deleteGeofenceImport",
				summary: "Drop an import (what it staged is never applied)",
				tags: ["geofences"],
				auth: "secret",
				params: ImportParams,
				responses: { 204: { description: "deleted" } },
				problems: [404],
			},
			async ({ req, env, params }) => {
				const tenant = await requireKey(req, env, "secret");
				const imp = await findImport(env, tenant.id, params().id);
				await deleteImport(env.DB, imp.id);
				return new Response(null, { status: 204 });
			},
		),
	);
}

/** The tenant's import (404 for another tenant's or an unknown id). */
async function findImport(env: Env, tenantId: string, id: string): Promise<ImportRow> {
	const row = await findImportRow(env.DB, tenantId, id);
	if (!row) throw new AppError("not_found", 404, "No import with this id.");
	return row;
}

/** The tenant's import, still open for chunks. */
async function openImport(env: Env, tenantId: string, id: string): Promise<ImportRow> {
	const imp = await findImport(env, tenantId, id);
	if (imp.status !== "open")
		throw new AppError("import_committed", 409, "This import was committed; start a new one.");
	if (imp.expires_at <= Date.now()) throw gone();
	return imp;
}

function gone(): AppError {
	return new AppError("import_expired", 410, "This import expired; start a new one.");
}

/** A chunk's fences as JSON arrays of at most about {@link PART_CHARS} characters. */
function packParts(fences: Fence[]): { features: number; body: string }[] {
	const out: { features: number; body: string }[] = [];
	let items: string[] = [];
	let chars = 0;
	for (const f of fences) {
		const item = JSON.stringify(f);
		if (items.length > 0 && chars + item.length > PART_CHARS) {
			out.push({ features: items.length, body: `[${items.join(",")}]` });
			items = [];
			chars = 0;
		}
		items.push(item);
		chars += item.length + 1;
	}
	if (items.length > 0) out.push({ features: items.length, body: `[${items.join(",")}]` });
	return out;
}

/**
 * Every fence of the import, in chunk order; an id in two chunks is a 422 naming both (nothing is
 * stored, the import stays open so the chunk can be sent again).
 */
async function loadFences(env: Env, importId: string): Promise<Fence[]> {
	const fences: Fence[] = [];
	const chunkOf = new Map<string, number>();
	const errors: ProblemItem[] = [];
	for (let after = -1; ; ) {
		const results = await partsAfter(env.DB, importId, after, 8);
		for (const r of results) {
			for (const value of StoredPart.parse(JSON.parse(r.body))) {
				const f = parseStoredFence(value);
				const first = chunkOf.get(f.id);
				if (first !== undefined && errors.length < 100)
					errors.push({
						index: null,
						id: f.id,
						path: ["chunks", r.chunk],
						code: "duplicate_id",
						message: `geofence ${f.id} is in chunk ${first} and in chunk ${r.chunk}`,
					});
				chunkOf.set(f.id, r.chunk);
				fences.push(f);
			}
			after = r.chunk * 100_000 + r.part;
		}
		if (results.length < 8) break;
	}
	if (errors.length > 0)
		throw new AppError(
			"invalid_geofences",
			422,
			"Some geofence ids are in more than one chunk; nothing was stored. Send those chunks again without the duplicates.",
			errors,
		);
	return fences;
}
