/**
 * The tenant's shard layout under geofence changes: sizing leaves before an upload is written and
 * splitting those that would pass their budget, merging back regions that shrank after a delete,
 * and emptying the objects of retired leaves.
 */
import { cellToChildren, cellToParent, getResolution, isValidCell } from "h3-js";
import { AppError } from "../../src/errors.js";
import { cellNeighbours } from "../../src/geo/cover.js";
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
import {
	dropSplitStatement,
	forgetRetiredKeys,
	markSplitsCleared,
	recordSplitsStatement,
	retiredKeys,
	retireKeysStatement,
	splitsToClear,
} from "../store/geofence-layout.js";
import { bumpVersionStatement, shardListsStatement, shardLoads } from "../store/geofences.js";
import type { Timing } from "../timing.js";
import {
	busy,
	changeOf,
	type Existing,
	isCurrentKey,
	logFailure,
	mapBounded,
	type Pending,
	RETRY_AFTER_SECONDS,
	storedFence,
	unavailable,
} from "./common.js";
import { withGeofenceLock } from "./lock.js";

/**
 * What every shard object of the tenant holds, as D1 records it (each fence's shard list): fences
 * and bytes of fence JSON, by shard key. One scan of the tenant's fences, instead of a call to
 * every object an upload reaches.
 */
async function leafLoads(
	env: Env,
	tenantId: string,
): Promise<Map<string, { fences: number; bytes: number }>> {
	const results = await shardLoads(env.DB, tenantId);
	return new Map(results.map((r) => [r.key, { fences: r.fences, bytes: r.bytes }]));
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
export async function prepareLeaves(
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
	const added = [...next].filter((cell) => !splits.has(cell));
	// One transaction: the splits, the moved fences' shard lists, the version.
	const statements: D1PreparedStatement[] = [
		recordSplitsStatement(env.DB, tenantId, token, added, Date.now()),
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
	const out = packJson(moved, MOVED_STATEMENT_CHARS).map((part) =>
		shardListsStatement(env.DB, tenantId, token, part),
	);
	out.push(bumpVersionStatement(env.DB, tenantId, token));
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
export async function clearRetiredLeaves(env: Env, tenantId: string): Promise<void> {
	const now = Date.now();
	await clearMergedLeaves(env, tenantId, now);
	const cells = await splitsToClear(env.DB, tenantId, now - RETIRE_AFTER_MS);
	if (cells.length === 0) return;
	const keys = cells.flatMap((cell) => shardKeysOfCell(cell));
	await mapBounded(keys, SPLIT_CONCURRENCY, (key) => shardStub(env, tenantId, key).clear());
	await markSplitsCleared(env.DB, tenantId, cells, now);
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
	const retired = await retiredKeys(env.DB, tenantId, now - RETIRE_AFTER_MS);
	if (retired.length === 0) return;
	const splits = await loadSplits(env, tenantId);
	const stale = retired.filter((key) => !isCurrentKey(key, splits));
	await mapBounded(stale, SPLIT_CONCURRENCY, (key) => shardStub(env, tenantId, key).clear());
	await forgetRetiredKeys(env.DB, tenantId, retired);
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
export async function mergeSparseLeaves(
	env: Env,
	tenantId: string,
	token: string,
	keys: string[],
): Promise<number> {
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
		// One transaction: the split dropped, the finer leaves retired, the moved fences' shard
		// lists, the version.
		const statements: D1PreparedStatement[] = [
			dropSplitStatement(env.DB, tenantId, token, cell),
			retireKeysStatement(env.DB, tenantId, token, retired, Date.now()),
		];
		statements.push(...movedStatements(env, tenantId, token, moved));
		const [dropped] = await env.DB.batch(statements);
		if ((dropped?.meta.changes ?? 0) === 0) throw busy(RETRY_AFTER_SECONDS);
		splits = next;
		merged++;
	}
	return merged;
}
