import { z } from "zod";
import { AppError } from "../../src/errors.js";
import { parseStoredFence } from "../../src/geo/fence-input.js";
import type { Fence } from "../../src/geo/types.js";
import { fenceContentHash, fenceToFeature, validateFeatureCollection } from "../../src/geo/validate.js";
import { ExternalId, PageLimit } from "../../src/schemas/common.js";
import { base64url, fromBase64url } from "../crypto.js";
import { json, parse, readJson } from "../http.js";
import type { AppRouter } from "../router.js";
import { shardKeysOfFence, shardStub } from "../shards.js";
import { requireKey, type TenantCtx } from "../tenants.js";

/** Large store networks upload in one go; the validator bounds features and vertices. */
const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
/** Shard writes in flight at once during an upload. */
const SHARD_CONCURRENCY = 8;
/** Statements per D1 batch. */
const D1_CHUNK = 200;

interface ShardChange {
	upserts: Fence[];
	removals: string[];
}

/** PUT/GET/DELETE /v1/geofences (secret key). */
export function geofenceRoutes(router: AppRouter): void {
	router.put("/v1/geofences", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const result = validateFeatureCollection(await readJson(req, MAX_UPLOAD_BYTES));
		if (!result.ok) {
			throw new AppError(
				"invalid_geofences",
				422,
				`${countFeatures(result.errors)} feature(s) are invalid; nothing was stored.`,
				result.errors,
			);
		}
		return json(await upsertFences(env, tenant, result.fences));
	});

	router.get("/v1/geofences", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const url = new URL(req.url);
		const limit = parse(PageLimit, url.searchParams.get("limit") ?? "100");
		const after = decodeCursor(url.searchParams.get("cursor"));
		const { results } = await env.DB.prepare(
			"SELECT id, fence FROM geofences WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?",
		)
			.bind(tenant.id, after, limit + 1)
			.all<{ id: string; fence: string }>();
		const page = results.slice(0, limit);
		const last = page.at(-1);
		return json({
			type: "FeatureCollection",
			features: page.map((r) => fenceToFeature(storedFence(r.fence))),
			nextCursor: results.length > limit && last ? base64url(new TextEncoder().encode(last.id)) : null,
			version: tenant.geofenceVersion,
		});
	});

	router.get("/v1/geofences/:id", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const id = parse(ExternalId, req.params.id);
		const row = await env.DB.prepare("SELECT fence FROM geofences WHERE tenant_id = ? AND id = ?")
			.bind(tenant.id, id)
			.first<{ fence: string }>();
		if (!row) throw new AppError("not_found", 404, "No geofence with this id.");
		return json(fenceToFeature(storedFence(row.fence)));
	});

	router.delete("/v1/geofences/:id", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const id = parse(ExternalId, req.params.id);
		const row = await env.DB.prepare("SELECT shards FROM geofences WHERE tenant_id = ? AND id = ?")
			.bind(tenant.id, id)
			.first<{ shards: string }>();
		if (!row) throw new AppError("not_found", 404, "No geofence with this id.");
		const changes = new Map<string, ShardChange>();
		for (const cell of storedShards(row.shards)) changes.set(cell, { upserts: [], removals: [id] });
		await applyShards(env, tenant.id, changes);
		await env.DB.batch([
			env.DB.prepare("DELETE FROM geofences WHERE tenant_id = ? AND id = ?").bind(tenant.id, id),
			env.DB.prepare("UPDATE tenants SET geofence_version = geofence_version + 1 WHERE id = ?").bind(
				tenant.id,
			),
		]);
		return new Response(null, { status: 204 });
	});
}

/**
 * Upserts validated fences. Shards are written before D1, so a failure part-way leaves
 * D1 showing the old content and the same upload, retried, redoes every shard write
 * (they are idempotent). Unchanged fences (same content hash) are skipped.
 */
async function upsertFences(
	env: Env,
	tenant: TenantCtx,
	fences: Fence[],
): Promise<{ upserted: number; unchanged: number; version: number }> {
	const existing = new Map<string, { hash: string; shards: string[] }>();
	for (let i = 0; i < fences.length; i += 500) {
		const ids = fences.slice(i, i + 500).map((f) => f.id);
		const { results } = await env.DB.prepare(
			"SELECT id, content_hash, shards FROM geofences WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))",
		)
			.bind(tenant.id, JSON.stringify(ids))
			.all<{ id: string; content_hash: string; shards: string }>();
		for (const r of results) existing.set(r.id, { hash: r.content_hash, shards: storedShards(r.shards) });
	}
	// A fence whose content is the same but whose shard objects differ (the replica count
	// changed since it was stored) is written again too.
	const changed = fences
		.map((f) => ({ f, hash: fenceContentHash(f), shards: shardKeysOfFence(f) }))
		.filter(({ f, hash, shards }) => {
			const old = existing.get(f.id);
			return old?.hash !== hash || old.shards.join() !== shards.join();
		});
	if (changed.length === 0) return { upserted: 0, unchanged: fences.length, version: tenant.geofenceVersion };

	const changes = new Map<string, ShardChange>();
	const change = (cell: string) => {
		let c = changes.get(cell);
		if (!c) {
			c = { upserts: [], removals: [] };
			changes.set(cell, c);
		}
		return c;
	};
	const rows = changed.map(({ f, hash, shards }) => {
		for (const cell of shards) change(cell).upserts.push(f);
		const keep = new Set(shards);
		for (const cell of existing.get(f.id)?.shards ?? [])
			if (!keep.has(cell)) change(cell).removals.push(f.id);
		return { f, hash, shards };
	});
	await applyShards(env, tenant.id, changes);

	const bumped = await env.DB.prepare(
		"UPDATE tenants SET geofence_version = geofence_version + 1 WHERE id = ? RETURNING geofence_version",
	)
		.bind(tenant.id)
		.first<{ geofence_version: number }>();
	const version = bumped?.geofence_version ?? tenant.geofenceVersion + 1;
	const now = new Date().toISOString();
	const stmts = rows.map(({ f, hash, shards }) =>
		env.DB.prepare(
			`INSERT INTO geofences (tenant_id, id, name, fence, content_hash, shards, version, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			 ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, fence = excluded.fence,
			   content_hash = excluded.content_hash, shards = excluded.shards, version = excluded.version,
			   updated_at = excluded.updated_at`,
		).bind(tenant.id, f.id, f.name, JSON.stringify(f), hash, JSON.stringify(shards), version, now, now),
	);
	for (let i = 0; i < stmts.length; i += D1_CHUNK) await env.DB.batch(stmts.slice(i, i + D1_CHUNK));
	return { upserted: changed.length, unchanged: fences.length - changed.length, version };
}

async function applyShards(env: Env, tenantId: string, changes: Map<string, ShardChange>): Promise<void> {
	const work = [...changes];
	const run = async () => {
		for (let next = work.shift(); next; next = work.shift()) {
			const [cell, c] = next;
			const stub = shardStub(env, tenantId, cell);
			await stub.apply(c.upserts, c.removals);
		}
	};
	await Promise.all(Array.from({ length: Math.min(SHARD_CONCURRENCY, work.length) }, run));
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

function countFeatures(errors: { index: number | null }[]): number {
	return new Set(errors.map((e) => e.index)).size;
}

function storedFence(text: string): Fence {
	return parseStoredFence(JSON.parse(text));
}

const ShardList = z.array(z.string());

function storedShards(text: string): string[] {
	return ShardList.parse(JSON.parse(text));
}
