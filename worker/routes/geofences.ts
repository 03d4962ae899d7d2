import { cellToChildren, cellToParent, getResolution, isValidCell } from "h3-js";
import { z } from "zod";
import { AppError, type ProblemItem } from "../../src/errors.js";
import { cellNeighbours } from "../../src/geo/cover.js";
import { parseStoredFence } from "../../src/geo/fence-input.js";
import {
	canSplit,
	isLeaf,
	MAX_SHARD_RESOLUTION,
	planSplits,
	ROOT_SHARD_RESOLUTION,
	SHARD_BUFFER_METERS,
	shardsOfFence,
} from "../../src/geo/shard.js";
import type { Fence } from "../../src/geo/types.js";
import { fenceContentHash, fenceToFeature, validateFeatureCollection } from "../../src/geo/validate.js";
import { ExternalId, PageLimit } from "../../src/schemas/common.js";
import {
	GeofenceFeatureCollectionSchema,
	StoredGeofenceFeatureSchema,
	UpsertAnswerSchema,
} from "../../src/schemas/geofence.js";
import { endpoint } from "../api.js";
import { base64url, fromBase64url } from "../crypto.js";
import { json, parse, readJson } from "../http.js";
import type { ApiRouter } from "../router.js";
import {
	loadSplits,
	planShardCalls,
	SHARD_SPLIT_BYTES,
	type ShardChange,
	type StoredFence,
	shardKeysOfCell,
	shardMaxFences,
	shardStub,
	writeShardCalls,
} from "../shards.js";
import { getGeofence, listGeofences } from "../store/geofences.js";
import { forgetCachedTenants, requireKey, type TenantCtx } from "../tenants.js";
import { Timing } from "../timing.js";

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
/** How long a change may hold the tenant's geofence lock; a holder that vanished is repaired after it. */
const LOCK_MS = 5 * 60_000;
/** Retry-After, in seconds, for a change refused because another one is running or the index failed. */
const RETRY_AFTER_SECONDS = 5;
/** Ids per D1 lookup (a JSON array bound as one parameter: at most 5,000 x 130 characters). */
const ID_CHUNK = 5000;
/** Characters of staged rows per D1 statement: a bound value may be at most 2 MB. */
const STAGE_STATEMENT_CHARS = 1_000_000;
/** Staging statements per D1 batch (about 4 MB a round trip). */
const STAGE_STATEMENTS_PER_BATCH = 4;

/** A fence of an upload that differs from what D1 holds, ready to store. */
interface Row {
	f: Fence;
	json: string;
	hash: string;
	shards: string[];
}

/** Query of `GET /v1/geofences`. */
const GeofenceListQuery = z.object({
	limit: PageLimit.optional().meta({
		description: "fences a page, 1 to 1,000 (100 by default)",
		example: "100",
	}),
	cursor: z.string().max(400).optional().meta({ description: "the previous page's nextCursor" }),
	q: z
		.string()
		.min(1)
		.max(200)
		.optional()
		.meta({
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

/**
 * Upserts validated fences, all or nothing across D1 (what GET lists) and the GeoShard objects
 * (what pings match). Unchanged fences (same content hash and shard objects) are skipped.
 *
 * Neither store can join the other's transaction, so the change is made in this order, under a
 * per-tenant lock (one upload or delete at a time; another gets 409 with Retry-After):
 *
 * 1. Stage: the new rows go to `geofence_staging`, in bounded batches. Invisible to readers; a
 *    failure here has touched nothing else (503, nothing changed).
 * 2. Shards: each shard object gets its new fences and loses moved ones, in calls of at most
 *    `SHARD_CALL_BYTES` (RPC arguments are capped at 32 MiB). A shard object refuses a write
 *    that would pass its size budget (422 `area_too_dense`); any failure (refusal, error) stops
 *    new calls, waits for those in flight, then undoes: every fence of the upload is written
 *    back to its shard objects as D1 (still untouched) holds it, or removed where D1 has none.
 * 3. Commit: one `DB.batch`, which D1 runs as one transaction: version bump, INSERT ... SELECT
 *    from staging, staging cleanup, all conditional on still holding the lock. A failure rolls
 *    it all back and is undone as in 2 (503, nothing changed).
 *
 * Why: shards used to be written first and D1 after, in batches of 200 statements (each atomic,
 * the whole not), and a shard call could pass the RPC limit. A failure part-way left shard
 * objects holding fences (or places) D1 did not list, and DELETE only cleans the objects D1
 * records for a fence: such a fence kept matching pings and could never be deleted. Now D1
 * changes at exactly one point (the commit), so until then D1 is the old state and the shards
 * can always be put back from it.
 *
 * Shards are written before the commit, so between 2 and 3 pings may see the new fences
 * slightly before GET does; never afterwards. If the Worker stops mid-way (or the undo itself
 * fails), the staged rows stay behind as a journal, and the next change of the tenant (the lock
 * lapses after `LOCK_MS`) first re-syncs their shard objects from D1. DELETE follows the same
 * steps with the removed row as its journal, so every fence D1 lists can be deleted.
 */
export async function upsertFences(
	env: Env,
	tenant: TenantCtx,
	fences: Fence[],
	timing = new Timing(),
): Promise<UpsertAnswer> {
	return withGeofenceLock(env, tenant.id, async (token) => {
		let splits = await loadSplits(env, tenant.id);
		await clearRetiredLeaves(env, tenant.id);
		timing.lap("lock");
		const existing = await loadExisting(env, tenant.id, fences);
		// Only what differs from D1 is sized and written. A fence whose content is the same but
		// whose shard objects are not all leaves of the current layout is written again too.
		//
		// The stored shard list of an unchanged fence is still right while every object on it is a
		// leaf of the current layout (splits move the fences of the leaf they split and rewrite
		// their lists): the list computed now may be larger, since it is a superset (cells next to
		// a split cell that no point near this fence reaches), but those need nothing. Comparing
		// with it would rewrite fences on every re-upload after a nearby split.
		const pending: Pending[] = [];
		for (const f of fences) {
			const hash = fenceContentHash(f);
			const old = existing.get(f.id);
			if (old?.hash === hash && old.shards.length > 0 && old.shards.every((key) => isCurrentKey(key, splits)))
				continue;
			pending.push({ f, json: JSON.stringify(f), hash, cells: [] });
		}
		const unchanged = fences.length - pending.length;
		timing.lap("compare");
		// Nothing to write: the version in force now (another change may have committed since this
		// request read its tenant).
		if (pending.length === 0)
			return { created: 0, updated: 0, upserted: 0, unchanged, version: await currentVersion(env, tenant) };

		splits = await prepareLeaves(env, tenant.id, token, pending, existing, splits, timing);
		const rows: Row[] = pending.map((p) => ({ ...p, shards: p.cells.flatMap(shardKeysOfCell) }));

		// Every shard object the upload may touch, per fence: where it goes and where it was.
		const suspects = new Map<string, Set<string>>();
		const changes = new Map<string, ShardChange>();
		for (const { f, json, shards } of rows) {
			const keep = new Set(shards);
			const old = existing.get(f.id)?.shards ?? [];
			suspects.set(f.id, new Set([...shards, ...old]));
			for (const key of shards) changeOf(changes, key).upserts.push({ id: f.id, fence: json });
			for (const key of old) if (!keep.has(key)) changeOf(changes, key).removals.push(f.id);
		}
		const calls = planShardCalls(changes);
		// Every call is a subrequest of this one request (10,000 at most on Workers Paid, D1 and
		// the splits' calls included): a change that would pass the budget is refused before
		// anything of it is written.
		const maxCalls = shardMaxCalls(env);
		if (calls.length > maxCalls) throw tooSpread(calls.length, maxCalls);

		const now = new Date().toISOString();
		try {
			await stage(env, tenant.id, token, rows, now);
			timing.lap("stage");
		} catch (error) {
			logFailure("staging", error);
			await dropStaging(env, token).catch((e) => logFailure("staging cleanup", e));
			throw unavailable();
		}

		const written = await writeShardCalls(env, tenant.id, calls);
		timing.lap("shards");
		if (!written.ok) {
			if (!written.full) logFailure("shard write", written.error);
			await undo(env, tenant.id, token, suspects);
			if (written.full) throw areaTooDense(written.full);
			throw unavailable();
		}

		let version: number | null;
		try {
			version = await commitUpload(env, tenant.id, token, now);
			timing.lap("commit");
		} catch (error) {
			logFailure("commit", error);
			await undo(env, tenant.id, token, suspects);
			throw unavailable();
		}
		if (version === null) {
			// The lock lapsed (this request ran past LOCK_MS) and another change took it and may
			// have repaired our journal already: nothing was committed, so put our fences' shard
			// objects back as D1 holds them.
			await undo(env, tenant.id, token, suspects);
			throw busy(RETRY_AFTER_SECONDS);
		}
		const created = rows.filter((r) => !existing.has(r.f.id)).length;
		return { created, updated: rows.length - created, upserted: rows.length, unchanged, version };
	});
}

async function currentVersion(env: Env, tenant: TenantCtx): Promise<number> {
	const row = await env.DB.prepare("SELECT geofence_version AS v FROM tenants WHERE id = ?")
		.bind(tenant.id)
		.first<{ v: number }>();
	return row?.v ?? tenant.geofenceVersion;
}

/** What an upsert answers. */
export type UpsertAnswer = z.infer<typeof UpsertAnswerSchema>;

/** A fence of an upload that differs from D1, and its leaf cells once sized. */
interface Pending {
	f: Fence;
	json: string;
	hash: string;
	cells: string[];
}

/** What D1 holds of a fence: content hash, shard list, size of its JSON. */
interface Existing {
	hash: string;
	shards: string[];
	bytes: number;
}

/** What D1 holds of these fences, by id. */
async function loadExisting(env: Env, tenantId: string, fences: Fence[]): Promise<Map<string, Existing>> {
	const existing = new Map<string, Existing>();
	const chunks: string[][] = [];
	for (let i = 0; i < fences.length; i += ID_CHUNK)
		chunks.push(fences.slice(i, i + ID_CHUNK).map((f) => f.id));
	await mapBounded(chunks, 4, async (ids) => {
		const { results } = await env.DB.prepare(
			"SELECT id, content_hash, shards, length(fence) AS bytes FROM geofences WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))",
		)
			.bind(tenantId, JSON.stringify(ids))
			.all<{ id: string; content_hash: string; shards: string; bytes: number }>();
		for (const r of results)
			existing.set(r.id, { hash: r.content_hash, shards: storedShards(r.shards), bytes: r.bytes });
	});
	return existing;
}

/**
 * What every shard object of the tenant holds, as D1 records it (each fence's shard list): fences
 * and bytes of fence JSON, by shard key. One scan of the tenant's fences, instead of a call to
 * every object an upload reaches.
 */
async function leafLoads(
	env: Env,
	tenantId: string,
): Promise<Map<string, { fences: number; bytes: number }>> {
	const { results } = await env.DB.prepare(
		`SELECT j.value AS key, count(*) AS fences, sum(length(g.fence)) AS bytes
		 FROM geofences g, json_each(g.shards) j WHERE g.tenant_id = ? GROUP BY j.value`,
	)
		.bind(tenantId)
		.all<{ key: string; fences: number; bytes: number }>();
	return new Map(results.map((r) => [r.key, { fences: r.fences, bytes: r.bytes }]));
}

function changeOf(changes: Map<string, ShardChange>, key: string): ShardChange {
	let c = changes.get(key);
	if (!c) {
		c = { upserts: [], removals: [] };
		changes.set(key, c);
	}
	return c;
}

/**
 * Sizes the tenant's leaves for the fences of an upload that changed, before anything of it is
 * written, and sets each one's leaf cells under the layout it returns. A leaf that would hold
 * more than its budget (what it holds plus what the upload brings it) is split, with the leaves
 * that take its place planned in memory down to where every one fits ({@link planSplits}), and
 * all of a round's splits written at once ({@link splitLeaves}). Each round commits on its own,
 * so an upload that fails later leaves a finer layout behind, never a wrong one.
 *
 * Each fence's cells are computed once, and again only where a split changed them. What each
 * leaf holds comes from D1 (one query a round), not from asking each leaf's object.
 */
async function prepareLeaves(
	env: Env,
	tenantId: string,
	token: string,
	pending: Pending[],
	existing: Map<string, Existing>,
	start: Set<string>,
	timing: Timing,
): Promise<Set<string>> {
	let splits = start;
	const max = shardMaxFences(env);
	for (const p of pending) p.cells = shardsOfFence(p.f, SHARD_BUFFER_METERS, splits);
	timing.lap("cells");
	for (let round = 0; ; round++) {
		if (round > MAX_SPLIT_ROUNDS) {
			logFailure("sizing", new Error(`no stable layout after ${MAX_SPLIT_ROUNDS} rounds`));
			throw unavailable();
		}
		// What each leaf would hold after the upload: what it holds, plus what comes, less what
		// comes again (a fence it already holds is replaced, not added).
		const held = await leafLoads(env, tenantId);
		const incoming = new Map<string, { fences: number; bytes: number; list: Pending[] }>();
		for (const p of pending) {
			const old = existing.get(p.f.id);
			for (const cell of p.cells) {
				if (!canSplit(cell)) continue;
				let c = incoming.get(cell);
				if (!c) {
					const h = held.get(shardKeysOfCell(cell)[0] ?? "");
					c = { fences: h?.fences ?? 0, bytes: h?.bytes ?? 0, list: [] };
					incoming.set(cell, c);
				}
				c.list.push(p);
				c.fences += 1;
				c.bytes += p.json.length;
				if (old?.shards.includes(shardKeysOfCell(cell)[0] ?? "")) {
					c.fences -= 1;
					c.bytes -= old.bytes;
				}
			}
		}
		timing.lap("sizing");
		const dense = [...incoming]
			.filter(([, a]) => a.fences > max || a.bytes > SHARD_SPLIT_BYTES)
			.map(([cell]) => cell);
		if (dense.length === 0) return splits;
		// The fences of the dense leaves get their cells under the new layout from the plan; no
		// other fence can reach a leaf the split creates (its cover would hold a split cell).
		const next = await splitLeaves(env, tenantId, token, splits, dense, incoming, existing, max, timing);
		const added = new Set([...next].filter((cell) => !splits.has(cell)));
		splits = next;
		for (const p of pending)
			if (p.cells.some((cell) => added.has(cell))) p.cells = shardsOfFence(p.f, SHARD_BUFFER_METERS, splits);
		timing.lap("cells");
	}
}

/** Whether a stored shard key names an object of the current layout: a leaf cell, a replica in use. */
function isCurrentKey(key: string, splits: Set<string>): boolean {
	const [cell = "", replica = ""] = key.split("/");
	return shardKeysOfCell(cell).includes(`${cell}/${replica}`) && isValidCell(cell) && isLeaf(cell, splits);
}

/** Objects asked or written at once while sizing leaves. */
const SPLIT_CONCURRENCY = 8;
/** Rounds of sizing before an upload gives up (each splits at least one resolution finer). */
const MAX_SPLIT_ROUNDS = 2 * (MAX_SHARD_RESOLUTION - ROOT_SHARD_RESOLUTION) + 2;
/** Fences read from a leaf per call while splitting it. */
const SPLIT_PAGE = 5000;
/** Characters of the moved fences' shard lists per D1 statement (a bound value may be at most 2 MB). */
const MOVED_STATEMENT_CHARS = 1_000_000;
/** How long a split cell's object keeps its fences for isolates that still route by the old layout. */
const RETIRE_AFTER_MS = 120_000;

function primary(env: Env, tenantId: string, cell: string) {
	return shardStub(env, tenantId, shardKeysOfCell(cell)[0] ?? `${cell}/0`);
}

/**
 * Splits dense leaves: reads what they hold, plans the layout that takes their place in memory
 * with what the upload brings them ({@link planSplits}), writes the fences they hold to their
 * new leaves (a leaf no point could reach before is emptied by its first write, of anything an
 * earlier, failed split left there), then D1 records the splits, the moved fences' shard lists
 * and a new version in one transaction. Pings route by the new layout from that version on;
 * until then the old leaves answer as before, and they keep their fences a while for isolates
 * whose layout is a version behind. The upload's own fences are written later, with the rest of
 * the upload.
 */
async function splitLeaves(
	env: Env,
	tenantId: string,
	token: string,
	splits: Set<string>,
	dense: string[],
	incoming: Map<string, { list: Pending[] }>,
	existing: Map<string, Existing>,
	max: number,
	timing: Timing,
): Promise<Set<string>> {
	const held = new Map<string, StoredFence>();
	await mapBounded(dense, SPLIT_CONCURRENCY, async (leaf) => {
		for (let after = ""; ; ) {
			const page = await primary(env, tenantId, leaf).rows(after, SPLIT_PAGE);
			for (const row of page) held.set(row.id, row);
			const last = page.at(-1);
			if (!last || page.length < SPLIT_PAGE) break;
			after = last.id;
		}
	});
	type Member = { fence: Fence; bytes: number; row?: StoredFence; upload?: Pending };
	const members: Member[] = [];
	for (const row of held.values())
		members.push({ fence: storedFence(row.fence), bytes: row.fence.length, row });
	// The upload's own fences of these leaves are planned with them (in their new version) and
	// get their cells from the plan; they are written later, with the rest of the upload.
	const uploads = new Set<Pending>();
	for (const cell of dense) for (const p of incoming.get(cell)?.list ?? []) uploads.add(p);
	for (const p of uploads) members.push({ fence: p.f, bytes: p.json.length, upload: p });
	timing.lap("split-read");
	const plan = planSplits(members, splits, dense, max, SHARD_SPLIT_BYTES);
	const next = plan.splits;
	timing.lap("split-plan");

	const changes = new Map<string, ShardChange>();
	const moved: [string, string[]][] = [];
	for (const m of members) {
		const cells = plan.cells.get(m) ?? shardsOfFence(m.fence, SHARD_BUFFER_METERS, next);
		if (m.upload) m.upload.cells = cells;
		if (!m.row) continue;
		const keys = cells.flatMap(shardKeysOfCell);
		moved.push([m.row.id, keys]);
		for (const key of keys) changeOf(changes, key).upserts.push(m.row);
	}
	const fresh = new Set([...changes.keys()].filter((key) => !isLeaf(key.split("/")[0] ?? "", splits)));
	timing.lap("split-plan");
	const written = await writeShardCalls(env, tenantId, planShardCalls(changes), {
		restore: true,
		attempts: 3,
		reset: fresh,
	});
	timing.lap("split-write");
	if (!written.ok) {
		logFailure("split write", written.error);
		throw unavailable();
	}
	const holds = "EXISTS (SELECT 1 FROM geofence_locks WHERE tenant_id = ?1 AND token = ?2)";
	const added = [...next].filter((cell) => !splits.has(cell));
	const statements: D1PreparedStatement[] = [
		env.DB.prepare(
			`INSERT INTO geofence_splits (tenant_id, cell, created_at) SELECT ?1, value, ?4 FROM json_each(?3) WHERE ${holds}
			 ON CONFLICT (tenant_id, cell) DO NOTHING`,
		).bind(tenantId, token, JSON.stringify(added), Date.now()),
	];
	statements.push(...movedStatements(env, tenantId, token, moved));
	const [recorded] = await env.DB.batch(statements);
	timing.lap("split-commit");
	if (added.length > 0 && (recorded?.meta.changes ?? 0) === 0) throw busy(RETRY_AFTER_SECONDS);
	// The upload's removals are computed from the lists D1 now holds.
	for (const [id, keys] of moved) {
		const e = existing.get(id);
		if (e) e.shards = keys;
	}
	return next;
}

/**
 * The statements that record a layout change's moved fences (their new shard lists, packed into
 * statements under D1's bound-value limit) and bump the geofence version, each only while this
 * change holds the tenant's lock (`?1` tenant, `?2` lock token).
 */
function movedStatements(
	env: Env,
	tenantId: string,
	token: string,
	moved: [string, string[]][],
): D1PreparedStatement[] {
	const holds = "EXISTS (SELECT 1 FROM geofence_locks WHERE tenant_id = ?1 AND token = ?2)";
	const out = packJson(moved, MOVED_STATEMENT_CHARS).map((part) =>
		env.DB.prepare(
			`UPDATE geofences SET shards = json_extract(?3, '$."' || id || '"')
			 WHERE tenant_id = ?1 AND id IN (SELECT key FROM json_each(?3)) AND ${holds}`,
		).bind(tenantId, token, part),
	);
	out.push(
		env.DB.prepare(
			`UPDATE tenants SET geofence_version = geofence_version + 1 WHERE id = ?1 AND ${holds}`,
		).bind(tenantId, token),
	);
	return out;
}

/** `[key, value]` pairs as JSON objects of at most about `maxChars` characters each. */
function packJson(pairs: [string, unknown][], maxChars: number): string[] {
	const out: string[] = [];
	let parts: string[] = [];
	let chars = 0;
	for (const [key, value] of pairs) {
		const item = `${JSON.stringify(key)}:${JSON.stringify(value)}`;
		if (parts.length > 0 && chars + item.length > maxChars) {
			out.push(`{${parts.join(",")}}`);
			parts = [];
			chars = 0;
		}
		parts.push(item);
		chars += item.length + 1;
	}
	if (parts.length > 0) out.push(`{${parts.join(",")}}`);
	return out;
}

/**
 * Empties the objects of cells split long enough ago that no isolate routes to them any more
 * (at each geofence change, and daily from the retention sweep). A split cell never serves
 * again, so this needs no lock.
 */
async function clearRetiredLeaves(env: Env, tenantId: string): Promise<void> {
	const now = Date.now();
	await clearMergedLeaves(env, tenantId, now);
	const { results } = await env.DB.prepare(
		"SELECT cell FROM geofence_splits WHERE tenant_id = ? AND cleared_at IS NULL AND created_at < ?",
	)
		.bind(tenantId, now - RETIRE_AFTER_MS)
		.all<{ cell: string }>();
	if (results.length === 0) return;
	const keys = results.flatMap((r) => shardKeysOfCell(r.cell));
	await mapBounded(keys, SPLIT_CONCURRENCY, (key) => shardStub(env, tenantId, key).clear());
	await env.DB.prepare(
		"UPDATE geofence_splits SET cleared_at = ? WHERE tenant_id = ? AND cell IN (SELECT value FROM json_each(?))",
	)
		.bind(now, tenantId, JSON.stringify(results.map((r) => r.cell)))
		.run();
}

/**
 * The daily sweep's part for geofences: empties retired leaves (see {@link clearRetiredLeaves})
 * holding the tenant's geofence lock, so it never races a split or merge that makes a cell a
 * leaf again. A tenant whose geofences are being changed is skipped (its change sweeps).
 */
export async function sweepRetiredLeaves(env: Env, tenantId: string): Promise<void> {
	try {
		await withGeofenceLock(env, tenantId, () => clearRetiredLeaves(env, tenantId));
	} catch (error) {
		if (error instanceof AppError && error.code === "geofences_busy") return;
		throw error;
	}
}

/** Empties the objects of leaves merged away long enough ago, unless a split made them leaves again. */
async function clearMergedLeaves(env: Env, tenantId: string, now: number): Promise<void> {
	const { results } = await env.DB.prepare(
		"SELECT key FROM geofence_retired WHERE tenant_id = ? AND retired_at < ?",
	)
		.bind(tenantId, now - RETIRE_AFTER_MS)
		.all<{ key: string }>();
	if (results.length === 0) return;
	const splits = await loadSplits(env, tenantId);
	const stale = results.map((r) => r.key).filter((key) => !isCurrentKey(key, splits));
	await mapBounded(stale, SPLIT_CONCURRENCY, (key) => shardStub(env, tenantId, key).clear());
	await env.DB.prepare(
		"DELETE FROM geofence_retired WHERE tenant_id = ? AND key IN (SELECT value FROM json_each(?))",
	)
		.bind(tenantId, JSON.stringify(results.map((r) => r.key)))
		.run();
}

/** A split cell is merged back when the leaves that took its place hold at most this share of the budget. */
const MERGE_BELOW = 0.5;

/**
 * Merges back split cells whose region shrank: for each split cell one of `keys` (the objects a
 * deleted fence was in) took the place of, when no leaf below it is split further and the
 * leaves one resolution finer around it hold together at most {@link MERGE_BELOW} of the budget,
 * the cell becomes a leaf again: it gets every fence those leaves hold (a superset of the fences
 * within the buffer of its points), D1 drops the split and records the fences' new shard lists
 * and a new version in one transaction, and the finer leaves that are no longer leaves are
 * retired (emptied after {@link RETIRE_AFTER_MS}). Runs under the tenant's geofence lock.
 */
async function mergeSparseLeaves(env: Env, tenantId: string, token: string, keys: string[]): Promise<number> {
	let splits = await loadSplits(env, tenantId);
	const max = shardMaxFences(env);
	const parents = new Set<string>();
	for (const key of keys) {
		const cell = key.split("/")[0] ?? "";
		if (!isValidCell(cell)) continue;
		const res = getResolution(cell);
		if (res <= ROOT_SHARD_RESOLUTION) continue;
		const parent = cellToParent(cell, res - 1);
		if (splits.has(parent)) parents.add(parent);
	}
	let merged = 0;
	for (const cell of parents) {
		const res = getResolution(cell);
		// Every leaf one resolution finer that a point of this cell can reach (their parent is it
		// or a neighbour); a deeper split below any of them: not merged.
		const finer = cellNeighbours(cell).flatMap((near) => cellToChildren(near, res + 1));
		if (finer.some((c) => splits.has(c))) continue;
		// Cheap first: the deleted fence's own leaves below this cell (one call each).
		const own = keys.filter((key) => {
			const c = key.split("/")[0] ?? "";
			return getResolution(c) === res + 1 && cellToParent(c, res) === cell;
		});
		const ownCounts = await mapBounded(own, SPLIT_CONCURRENCY, (key) =>
			shardStub(env, tenantId, key).count(),
		);
		if (ownCounts.some((n) => n > max * MERGE_BELOW)) continue;
		const below = finer.filter((c) => isLeaf(c, splits)).flatMap(shardKeysOfCell);
		// Then what they hold together (a fence is in several of them: counted once).
		const held = new Map<string, StoredFence>();
		await mapBounded(below, SPLIT_CONCURRENCY, async (key) => {
			for (let after = ""; ; ) {
				const page = await shardStub(env, tenantId, key).rows(after, SPLIT_PAGE);
				for (const row of page) held.set(row.id, row);
				const last = page.at(-1);
				if (!last || page.length < SPLIT_PAGE) break;
				after = last.id;
			}
		});
		if (held.size > max * MERGE_BELOW) continue;
		const next = new Set(splits);
		next.delete(cell);
		const changes = new Map<string, ShardChange>();
		const moved: [string, string[]][] = [];
		for (const row of held.values()) {
			const keysNow = shardsOfFence(storedFence(row.fence), SHARD_BUFFER_METERS, next).flatMap(
				shardKeysOfCell,
			);
			moved.push([row.id, keysNow]);
			for (const key of keysNow) changeOf(changes, key).upserts.push(row);
		}
		const written = await writeShardCalls(env, tenantId, planShardCalls(changes), {
			restore: true,
			attempts: 3,
			reset: new Set(shardKeysOfCell(cell)),
		});
		if (!written.ok) throw written.error ?? new Error("a merge write was refused");
		const retired = below.filter((key) => !isCurrentKey(key, next));
		const holds = "EXISTS (SELECT 1 FROM geofence_locks WHERE tenant_id = ?1 AND token = ?2)";
		const statements: D1PreparedStatement[] = [
			env.DB.prepare(`DELETE FROM geofence_splits WHERE tenant_id = ?1 AND cell = ?3 AND ${holds}`).bind(
				tenantId,
				token,
				cell,
			),
			env.DB.prepare(
				`INSERT INTO geofence_retired (tenant_id, key, retired_at) SELECT ?1, value, ?4 FROM json_each(?3) WHERE ${holds}
				 ON CONFLICT (tenant_id, key) DO UPDATE SET retired_at = excluded.retired_at`,
			).bind(tenantId, token, JSON.stringify(retired), Date.now()),
		];
		statements.push(...movedStatements(env, tenantId, token, moved));
		const [dropped] = await env.DB.batch(statements);
		if ((dropped?.meta.changes ?? 0) === 0) throw busy(RETRY_AFTER_SECONDS);
		splits = next;
		merged++;
	}
	return merged;
}

/** Runs `fn` over the items, at most `limit` at once; results in order. */
async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
	const out: R[] = new Array(items.length);
	let next = 0;
	const worker = async () => {
		for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T);
	};
	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
	return out;
}

/** Deletes one fence from its shard objects and D1, all or nothing (see {@link upsertFences}). */
export async function deleteFence(env: Env, tenantId: string, id: string): Promise<void> {
	await withGeofenceLock(env, tenantId, async (token) => {
		const row = await env.DB.prepare("SELECT shards FROM geofences WHERE tenant_id = ? AND id = ?")
			.bind(tenantId, id)
			.first<{ shards: string }>();
		if (!row) throw new AppError("not_found", 404, "No geofence with this id.");
		const keys = storedShards(row.shards);
		const now = new Date().toISOString();
		try {
			// The journal: the row as D1 holds it, which is what an undo puts back.
			await env.DB.prepare(
				`INSERT INTO geofence_staging (upload_id, tenant_id, id, name, fence, content_hash, shards, created_at)
				 SELECT ?1, tenant_id, id, name, fence, content_hash, shards, ?4 FROM geofences WHERE tenant_id = ?2 AND id = ?3`,
			)
				.bind(token, tenantId, id, now)
				.run();
		} catch (error) {
			logFailure("delete journal", error);
			throw unavailable();
		}
		const suspects = new Map([[id, new Set(keys)]]);
		const changes = new Map<string, ShardChange>(keys.map((key) => [key, { upserts: [], removals: [id] }]));
		const written = await writeShardCalls(env, tenantId, planShardCalls(changes));
		if (!written.ok) {
			logFailure("shard delete", written.error);
			await undo(env, tenantId, token, suspects);
			throw unavailable();
		}
		let results: D1Result[];
		try {
			results = await env.DB.batch([
				env.DB.prepare(
					`UPDATE tenants SET geofence_version = geofence_version + 1
					 WHERE id = ?1 AND EXISTS (SELECT 1 FROM geofence_locks WHERE tenant_id = ?1 AND token = ?2)`,
				).bind(tenantId, token),
				env.DB.prepare(
					`DELETE FROM geofences WHERE tenant_id = ?1 AND id = ?3
					 AND EXISTS (SELECT 1 FROM geofence_locks WHERE tenant_id = ?1 AND token = ?2)`,
				).bind(tenantId, token, id),
				env.DB.prepare("DELETE FROM geofence_staging WHERE upload_id = ?1 AND tenant_id = ?2").bind(
					token,
					tenantId,
				),
			]);
		} catch (error) {
			logFailure("delete commit", error);
			await undo(env, tenantId, token, suspects);
			throw unavailable();
		}
		if ((results[1]?.meta.changes ?? 0) === 0) {
			await undo(env, tenantId, token, suspects);
			throw busy(RETRY_AFTER_SECONDS);
		}
		// The delete is done; a region that shrank enough gets coarser leaves again. A failure here
		// leaves the layout as it was (still right), so it is logged, not reported.
		await mergeSparseLeaves(env, tenantId, token, keys).catch((e) => logFailure("merge", e));
	});
}

/**
 * Runs `fn` holding the tenant's geofence lock (a D1 row with an expiry), after repairing what a
 * change that never finished left behind. Another holder within its time: 409 `geofences_busy`.
 */
async function withGeofenceLock<T>(
	env: Env,
	tenantId: string,
	fn: (token: string) => Promise<T>,
): Promise<T> {
	const token = crypto.randomUUID();
	const now = Date.now();
	const got = await env.DB.prepare(
		`INSERT INTO geofence_locks (tenant_id, token, expires_at) VALUES (?1, ?2, ?3)
		 ON CONFLICT (tenant_id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
		 WHERE geofence_locks.expires_at <= ?4
		 RETURNING token`,
	)
		.bind(tenantId, token, now + LOCK_MS, now)
		.first<{ token: string }>();
	if (got?.token !== token) {
		const held = await env.DB.prepare("SELECT expires_at FROM geofence_locks WHERE tenant_id = ?")
			.bind(tenantId)
			.first<{ expires_at: number }>();
		const left = held ? Math.ceil((held.expires_at - now) / 1000) : 1;
		throw busy(Math.min(Math.max(left, 1), RETRY_AFTER_SECONDS));
	}
	try {
		await repairAbandoned(env, tenantId);
		return await fn(token);
	} finally {
		await env.DB.prepare("DELETE FROM geofence_locks WHERE tenant_id = ? AND token = ?")
			.bind(tenantId, token)
			.run()
			.catch((e) => logFailure("lock release", e));
	}
}

/**
 * Writes the rows to `geofence_staging`, many rows a statement (a JSON array), a few statements a
 * batch, sending each batch as soon as it is full so at most one batch of text is held at once.
 */
async function stage(env: Env, tenantId: string, token: string, rows: Row[], now: string): Promise<void> {
	let batch: D1PreparedStatement[] = [];
	let packed: string[] = [];
	let chars = 0;
	const flushStatement = () => {
		if (packed.length === 0) return;
		batch.push(
			env.DB.prepare(
				`INSERT INTO geofence_staging (upload_id, tenant_id, id, name, fence, content_hash, shards, created_at)
				 SELECT ?1, ?2, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
				   json_extract(value, '$[3]'), json_extract(value, '$[4]'), ?3
				 FROM json_each(?4)`,
			).bind(token, tenantId, now, `[${packed.join(",")}]`),
		);
		packed = [];
		chars = 0;
	};
	const sendBatch = async () => {
		if (batch.length === 0) return;
		const statements = batch;
		batch = [];
		await env.DB.batch(statements);
	};
	for (const r of rows) {
		const item = JSON.stringify([r.f.id, r.f.name, r.json, r.hash, JSON.stringify(r.shards)]);
		if (packed.length > 0 && chars + item.length > STAGE_STATEMENT_CHARS) {
			flushStatement();
			if (batch.length >= STAGE_STATEMENTS_PER_BATCH) await sendBatch();
		}
		packed.push(item);
		chars += item.length + 1;
	}
	flushStatement();
	await sendBatch();
}

/**
 * Moves the staged rows into `geofences` and bumps the version, in one transaction, if this
 * change still holds the lock. Returns the new version, or null when the lock was lost (then
 * nothing was written).
 */
async function commitUpload(env: Env, tenantId: string, token: string, now: string): Promise<number | null> {
	const holds = "EXISTS (SELECT 1 FROM geofence_locks WHERE tenant_id = ?1 AND token = ?2)";
	const [bumped] = await env.DB.batch([
		env.DB.prepare(
			`UPDATE tenants SET geofence_version = geofence_version + 1 WHERE id = ?1 AND ${holds}
			 RETURNING geofence_version`,
		).bind(tenantId, token),
		env.DB.prepare(
			`INSERT INTO geofences (tenant_id, id, name, fence, content_hash, shards, version, created_at, updated_at)
			 SELECT s.tenant_id, s.id, s.name, s.fence, s.content_hash, s.shards, t.geofence_version, ?3, ?3
			 FROM geofence_staging s JOIN tenants t ON t.id = s.tenant_id
			 WHERE s.upload_id = ?2 AND s.tenant_id = ?1 AND ${holds}
			 ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, fence = excluded.fence,
			   content_hash = excluded.content_hash, shards = excluded.shards, version = excluded.version,
			   updated_at = excluded.updated_at`,
		).bind(tenantId, token, now),
		env.DB.prepare(`DELETE FROM geofence_staging WHERE upload_id = ?2 AND tenant_id = ?1 AND ${holds}`).bind(
			tenantId,
			token,
		),
	]);
	const row = bumped?.results[0] as { geofence_version?: unknown } | undefined;
	return typeof row?.geofence_version === "number" ? row.geofence_version : null;
}

/**
 * Undoes a change that failed after staging: puts every suspect (fence id and the shard objects
 * it may have reached) back as D1 holds it, then drops the change's staged rows. When that fails
 * too, the staged rows stay as the journal the next change repairs from.
 */
async function undo(
	env: Env,
	tenantId: string,
	token: string,
	suspects: Map<string, Set<string>>,
): Promise<void> {
	try {
		await resyncShards(env, tenantId, suspects);
	} catch (error) {
		logFailure("undo", error);
		throw unavailable("The change was not applied; the geofence index is being restored. Try again shortly.");
	}
	await dropStaging(env, token).catch((e) => logFailure("staging cleanup", e));
}

/** Re-syncs the shard objects of every fence a change that never finished staged, then forgets it. */
async function repairAbandoned(env: Env, tenantId: string): Promise<void> {
	const { results } = await env.DB.prepare("SELECT id, shards FROM geofence_staging WHERE tenant_id = ?")
		.bind(tenantId)
		.all<{ id: string; shards: string }>();
	if (results.length === 0) return;
	const suspects = new Map<string, Set<string>>();
	for (const r of results) {
		const keys = suspects.get(r.id) ?? new Set<string>();
		for (const key of storedShards(r.shards)) keys.add(key);
		suspects.set(r.id, keys);
	}
	try {
		await resyncShards(env, tenantId, suspects);
		await env.DB.prepare("DELETE FROM geofence_staging WHERE tenant_id = ?").bind(tenantId).run();
	} catch (error) {
		logFailure("repair", error);
		throw unavailable("An earlier change is still being undone; nothing was changed. Try again shortly.");
	}
}

/**
 * Makes the shard objects match D1 for these fences: each object in a fence's suspect set, or in
 * its stored shard list, holds the fence exactly as D1 does when D1 lists it there, and does not
 * hold it otherwise. Calls are retried, and never refused for size (this restores a prior state).
 */
async function resyncShards(env: Env, tenantId: string, suspects: Map<string, Set<string>>): Promise<void> {
	const changes = new Map<string, ShardChange>();
	const ids = [...suspects.keys()];
	for (let i = 0; i < ids.length; i += ID_CHUNK) {
		const chunk = ids.slice(i, i + ID_CHUNK);
		const { results } = await env.DB.prepare(
			"SELECT id, fence, shards FROM geofences WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))",
		)
			.bind(tenantId, JSON.stringify(chunk))
			.all<{ id: string; fence: string; shards: string }>();
		const stored = new Map(results.map((r) => [r.id, r]));
		for (const id of chunk) {
			const row = stored.get(id);
			const held = new Set(row ? storedShards(row.shards) : []);
			for (const key of new Set([...(suspects.get(id) ?? []), ...held])) {
				let c = changes.get(key);
				if (!c) {
					c = { upserts: [], removals: [] };
					changes.set(key, c);
				}
				if (row && held.has(key)) c.upserts.push({ id, fence: row.fence });
				else c.removals.push(id);
			}
		}
	}
	const outcome = await writeShardCalls(env, tenantId, planShardCalls(changes), {
		restore: true,
		attempts: 3,
	});
	if (!outcome.ok) throw outcome.error ?? new Error("a restore was refused");
}

async function dropStaging(env: Env, token: string): Promise<void> {
	await env.DB.prepare("DELETE FROM geofence_staging WHERE upload_id = ?").bind(token).run();
}

function unavailable(
	detail = "The geofence index could not be updated; nothing was changed. Try again shortly.",
): AppError {
	return new AppError("geofences_unavailable", 503, detail, undefined, RETRY_AFTER_SECONDS);
}

/** Shard object calls one change may make (Cloudflare allows 10,000 subrequests a request on Workers Paid). */
export const MAX_SHARD_CALLS = 8000;

/** The call budget in force: the `SHARD_MAX_CALLS` var (tests, tuning) when it is a positive integer, else {@link MAX_SHARD_CALLS}. */
export function shardMaxCalls(env: Env): number {
	const v = Number(env.SHARD_MAX_CALLS);
	return Number.isInteger(v) && v >= 1 ? v : MAX_SHARD_CALLS;
}

function tooSpread(calls: number, max: number): AppError {
	const message = `The change would write to ${calls} shard objects, more than the ${max} one request may; nothing was stored. Send it in several imports or requests.`;
	return new AppError("too_many_shards", 413, message, [
		{ index: null, id: null, path: ["features"], code: "too_many_shards", message },
	]);
}

function busy(retryAfterSeconds: number): AppError {
	return new AppError(
		"geofences_busy",
		409,
		"Another change to this tenant's geofences is in progress; nothing was changed. Try again shortly.",
		undefined,
		retryAfterSeconds,
	);
}

function areaTooDense(full: { key: string; bytes: number; limit: number }): AppError {
	const message = `The fences around shard cell ${full.key.split("/")[0]} would hold ${full.bytes} bytes of geometry, more than the ${full.limit} one index object holds; nothing was stored.`;
	return new AppError("area_too_dense", 422, message, [
		{ index: null, id: null, path: ["features"], code: "area_too_dense", message },
	]);
}

/** Logs a failed step without its data (no fence, no key). */
function logFailure(step: string, error: unknown): void {
	console.error(
		`geofences: ${step} failed`,
		error instanceof Error ? `${error.name}: ${error.message}` : typeof error,
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

/** 422 `invalid_geofences`: how many features are bad, or that the collection itself is (e.g. no features). */
function invalidGeofences(errors: ProblemItem[]): AppError {
	const features = new Set(errors.filter((e) => e.index !== null).map((e) => e.index)).size;
	const what =
		features > 0 ? `${features} feature(s) are invalid` : "The upload is not a valid FeatureCollection";
	return new AppError("invalid_geofences", 422, `${what}; nothing was stored.`, errors);
}

/** The `Server-Timing` header uploads answer with (worker/timing.ts). */
const SERVER_TIMING = {
	"server-timing": {
		description: "where the request's time went (lock, compare, cells, sizing, stage, shards, commit), in ms",
		schema: { type: "string" as const },
	},
};

function storedFence(text: string): Fence {
	return parseStoredFence(JSON.parse(text));
}

const ShardList = z.array(z.string());

function storedShards(text: string): string[] {
	return ShardList.parse(JSON.parse(text));
}
