import { z } from "zod";
import { AppError, type ProblemItem } from "../../src/errors.js";
import { parseStoredFence } from "../../src/geo/fence-input.js";
import type { Fence } from "../../src/geo/types.js";
import { validateFeatureCollection } from "../../src/geo/validate.js";
import { UpsertAnswerSchema } from "../../src/schemas/geofence.js";
import { randomToken } from "../crypto.js";
import { iso, json, parse, readJson } from "../http.js";
import type { AppRouter } from "../router.js";
import { forgetCachedTenants, requireKey } from "../tenants.js";
import { Timing } from "../timing.js";
import { MAX_UPLOAD_BYTES, MAX_UPLOAD_CONTAINERS, upsertFences } from "./geofences.js";

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

const ImportId = z.string().regex(/^imp_[A-Za-z0-9_-]{16,64}$/, "not an import id");
const ChunkNumber = z.coerce.number().int().min(0).max(MAX_CHUNK_NUMBER);
const CreateImport = z.object({}).strict();
/** A stored part: a JSON array of normalized fences (each parsed with `parseStoredFence`). */
const StoredPart = z.array(z.unknown());

interface ImportRow {
	id: string;
	status: "open" | "committed";
	expires_at: number;
	result: string | null;
}

/** POST/GET/DELETE /v1/geofences/imports... (secret key). */
export function geofenceImportRoutes(router: AppRouter): void {
	router.post("/v1/geofences/imports", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		parse(CreateImport, await readJson(req, 1024, { emptyAs: {} }));
		const now = Date.now();
		await dropExpired(env, tenant.id, now);
		const open = await env.DB.prepare(
			"SELECT count(*) AS n FROM geofence_imports WHERE tenant_id = ? AND status = 'open'",
		)
			.bind(tenant.id)
			.first<{ n: number }>();
		if ((open?.n ?? 0) >= MAX_OPEN_IMPORTS)
			throw new AppError(
				"too_many_imports",
				409,
				`At most ${MAX_OPEN_IMPORTS} imports may be open at once; commit or delete one first.`,
			);
		const id = randomToken("imp_", 18);
		const expiresAt = now + IMPORT_TTL_MS;
		await env.DB.prepare(
			"INSERT INTO geofence_imports (id, tenant_id, status, created_at, expires_at) VALUES (?, ?, 'open', ?, ?)",
		)
			.bind(id, tenant.id, now, expiresAt)
			.run();
		return json({ id, expiresAt: iso(expiresAt) }, 201);
	});

	router.put("/v1/geofences/imports/:id/chunks/:n", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const id = parse(ImportId, req.params.id);
		const n = parse(ChunkNumber, req.params.n);
		const imp = await openImport(env, tenant.id, id);
		const result = validateFeatureCollection(
			await readJson(req, MAX_UPLOAD_BYTES, { maxContainers: MAX_UPLOAD_CONTAINERS }),
		);
		if (!result.ok) {
			throw new AppError(
				"invalid_geofences",
				422,
				`${new Set(result.errors.map((e) => e.index)).size} feature(s) of chunk ${n} are invalid; the chunk was not stored.`,
				result.errors,
			);
		}
		const others = await env.DB.prepare(
			"SELECT coalesce(sum(features), 0) AS n, coalesce(sum(length(body)), 0) AS bytes FROM geofence_import_parts WHERE import_id = ? AND chunk != ?",
		)
			.bind(imp.id, n)
			.first<{ n: number; bytes: number }>();
		// Replaces the chunk: its old parts go in the same transaction as the first new ones.
		const parts = packParts(result.fences);
		const bytes = parts.reduce((sum, p) => sum + p.body.length, 0);
		if (
			(others?.n ?? 0) + result.fences.length > MAX_IMPORT_FEATURES ||
			(others?.bytes ?? 0) + bytes > MAX_IMPORT_BYTES
		)
			throw new AppError(
				"import_too_large",
				413,
				`An import holds at most ${MAX_IMPORT_FEATURES} geofences and ${MAX_IMPORT_BYTES / 1024 / 1024} MiB of their normalized JSON; split the network into several imports.`,
			);
		const statements: D1PreparedStatement[] = [
			env.DB.prepare("DELETE FROM geofence_import_parts WHERE import_id = ? AND chunk = ?").bind(imp.id, n),
		];
		parts.forEach((p, part) => {
			statements.push(
				env.DB.prepare(
					"INSERT INTO geofence_import_parts (import_id, chunk, part, features, body) VALUES (?, ?, ?, ?, ?)",
				).bind(imp.id, n, part, p.features, p.body),
			);
		});
		for (let i = 0; i < statements.length; i += PARTS_PER_BATCH + 1)
			await env.DB.batch(statements.slice(i, i + PARTS_PER_BATCH + 1));
		return json({ chunk: n, features: result.fences.length });
	});

	router.get("/v1/geofences/imports/:id", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const id = parse(ImportId, req.params.id);
		const imp = await findImport(env, tenant.id, id);
		const { results } = await env.DB.prepare(
			"SELECT chunk, sum(features) AS features FROM geofence_import_parts WHERE import_id = ? GROUP BY chunk ORDER BY chunk",
		)
			.bind(imp.id)
			.all<{ chunk: number; features: number }>();
		return json({
			id: imp.id,
			status: imp.status,
			chunks: results.map((r) => ({ n: r.chunk, features: r.features })),
			features: results.reduce((sum, r) => sum + r.features, 0),
			expiresAt: iso(imp.expires_at),
			...(imp.result ? { result: UpsertAnswerSchema.parse(JSON.parse(imp.result)) } : {}),
		});
	});

	router.post("/v1/geofences/imports/:id/commit", async (req, env) => {
		const timing = new Timing();
		const tenant = await requireKey(req, env, "secret");
		const id = parse(ImportId, req.params.id);
		const imp = await findImport(env, tenant.id, id);
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
		await env.DB.batch([
			env.DB.prepare(
				"UPDATE geofence_imports SET status = 'committed', committed_at = ?, result = ? WHERE id = ?",
			).bind(Date.now(), JSON.stringify(answer), imp.id),
			env.DB.prepare("DELETE FROM geofence_import_parts WHERE import_id = ?").bind(imp.id),
		]);
		return json(answer, 200, { "server-timing": timing.header() });
	});

	router.delete("/v1/geofences/imports/:id", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const id = parse(ImportId, req.params.id);
		const imp = await findImport(env, tenant.id, id);
		await env.DB.batch([
			env.DB.prepare("DELETE FROM geofence_import_parts WHERE import_id = ?").bind(imp.id),
			env.DB.prepare("DELETE FROM geofence_imports WHERE id = ?").bind(imp.id),
		]);
		return new Response(null, { status: 204 });
	});
}

/** The tenant's import (404 for another tenant's or an unknown id). */
async function findImport(env: Env, tenantId: string, id: string): Promise<ImportRow> {
	const row = await env.DB.prepare(
		"SELECT id, status, expires_at, result FROM geofence_imports WHERE id = ? AND tenant_id = ?",
	)
		.bind(id, tenantId)
		.first<ImportRow>();
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

/** Drops the tenant's imports past their expiry (open or committed). */
async function dropExpired(env: Env, tenantId: string, now: number): Promise<void> {
	await env.DB.batch([
		env.DB.prepare(
			"DELETE FROM geofence_import_parts WHERE import_id IN (SELECT id FROM geofence_imports WHERE tenant_id = ? AND expires_at <= ?)",
		).bind(tenantId, now),
		env.DB.prepare("DELETE FROM geofence_imports WHERE tenant_id = ? AND expires_at <= ?").bind(
			tenantId,
			now,
		),
	]);
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
		const { results } = await env.DB.prepare(
			"SELECT chunk, part, body FROM geofence_import_parts WHERE import_id = ? AND (chunk * 100000 + part) > ? ORDER BY chunk, part LIMIT 8",
		)
			.bind(importId, after)
			.all<{ chunk: number; part: number; body: string }>();
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
