/**
 * The tenant's geofence lock and the journal that makes a change all or nothing: the lock a
 * change holds, the repair of what a change that never finished left behind, and the undo that
 * puts shard objects back as D1 holds them (see upsertFences in ./upsert.ts).
 */
import { planShardCalls, type ShardChange, writeShardCalls } from "../shards.js";
import {
	dropChangeStaging,
	dropTenantStaging,
	fencesWithShards,
	geofenceLockExpiry,
	releaseGeofenceLock,
	stagedFences,
	takeGeofenceLock,
} from "../store/geofences.js";
import { busy, ID_CHUNK, logFailure, RETRY_AFTER_SECONDS, storedShards, unavailable } from "./common.js";

/** How long a change may hold the tenant's geofence lock; a holder that vanished is repaired after it. */
const LOCK_MS = 5 * 60_000;

/**
 * Runs `fn` holding the tenant's geofence lock (a D1 row with an expiry), after repairing what a
 * change that never finished left behind. Another holder within its time: 409 `geofences_busy`.
 */
export async function withGeofenceLock<T>(
	env: Env,
	tenantId: string,
	fn: (token: string) => Promise<T>,
): Promise<T> {
	const token = crypto.randomUUID();
	const now = Date.now();
	if (!(await takeGeofenceLock(env.DB, tenantId, token, now, now + LOCK_MS))) {
		const expiresAt = await geofenceLockExpiry(env.DB, tenantId);
		const left = expiresAt !== null ? Math.ceil((expiresAt - now) / 1000) : 1;
		throw busy(Math.min(Math.max(left, 1), RETRY_AFTER_SECONDS));
	}
	try {
		await repairAbandoned(env, tenantId);
		return await fn(token);
	} finally {
		await releaseGeofenceLock(env.DB, tenantId, token).catch((e) => logFailure("lock release", e));
	}
}

/**
 * Undoes a change that failed after staging: puts every suspect (fence id and the shard objects
 * it may have reached) back as D1 holds it, then drops the change's staged rows. When that fails
 * too, the staged rows stay as the journal the next change repairs from.
 */
export async function undo(
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
	const results = await stagedFences(env.DB, tenantId);
	if (results.length === 0) return;
	const suspects = new Map<string, Set<string>>();
	for (const r of results) {
		const keys = suspects.get(r.id) ?? new Set<string>();
		for (const key of storedShards(r.shards)) keys.add(key);
		suspects.set(r.id, keys);
	}
	try {
		await resyncShards(env, tenantId, suspects);
		await dropTenantStaging(env.DB, tenantId);
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
		const results = await fencesWithShards(env.DB, tenantId, chunk);
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

export async function dropStaging(env: Env, token: string): Promise<void> {
	await dropChangeStaging(env.DB, token);
}
