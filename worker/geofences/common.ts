/**
 * What the geofence write engine's parts share (worker/geofences/): the problems a change answers
 * with, its failure log, the shapes of pending and stored fences, and small helpers.
 */

import { isValidCell } from "h3-js";
import { z } from "zod";
import { AppError } from "../../src/errors.js";
import { parseStoredFence } from "../../src/geo/fence-input.js";
import { isLeaf } from "../../src/geo/shard.js";
import type { Fence } from "../../src/geo/types.js";
import { logError } from "../log.js";
import { type ShardChange, shardKeysOfCell } from "../shards.js";

/** Retry-After, in seconds, for a change refused because another one is running or the index failed. */
export const RETRY_AFTER_SECONDS = 5;
/** Ids per D1 lookup (a JSON array bound as one parameter: at most 5,000 x 130 characters). */
export const ID_CHUNK = 5000;

/** A fence of an upload that differs from D1, and its leaf cells once sized. */
export interface Pending {
	f: Fence;
	json: string;
	hash: string;
	cells: string[];
}

/** What D1 holds of a fence: content hash, shard list, size of its JSON. */
export interface Existing {
	hash: string;
	shards: string[];
	bytes: number;
}

export function changeOf(changes: Map<string, ShardChange>, key: string): ShardChange {
	let c = changes.get(key);
	if (!c) {
		c = { upserts: [], removals: [] };
		changes.set(key, c);
	}
	return c;
}

/** Whether a stored shard key names an object of the current layout: a leaf cell, a replica in use. */
export function isCurrentKey(key: string, splits: Set<string>): boolean {
	const [cell = "", replica = ""] = key.split("/");
	return shardKeysOfCell(cell).includes(`${cell}/${replica}`) && isValidCell(cell) && isLeaf(cell, splits);
}

/** Runs `fn` over the items, at most `limit` at once; results in order. */
export async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
	const out: R[] = new Array(items.length);
	let next = 0;
	const worker = async () => {
		for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T);
	};
	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
	return out;
}

export function unavailable(
	detail = "The geofence index could not be updated; nothing was changed. Try again shortly.",
): AppError {
	return new AppError("geofences_unavailable", 503, detail, undefined, RETRY_AFTER_SECONDS);
}

export function tooSpread(calls: number, max: number): AppError {
	const message = `The change would write to ${calls} shard objects, more than the ${max} one request may; nothing was stored. Send it in several imports or requests.`;
	return new AppError("too_many_shards", 413, message, [
		{ index: null, id: null, path: ["features"], code: "too_many_shards", message },
	]);
}

export function busy(retryAfterSeconds: number): AppError {
	return new AppError(
		"geofences_busy",
		409,
		"Another change to this tenant's geofences is in progress; nothing was changed. Try again shortly.",
		undefined,
		retryAfterSeconds,
	);
}

export function areaTooDense(full: { key: string; bytes: number; limit: number }): AppError {
	const message = `The fences around shard cell ${full.key.split("/")[0]} would hold ${full.bytes} bytes of geometry, more than the ${full.limit} one index object holds; nothing was stored.`;
	return new AppError("area_too_dense", 422, message, [
		{ index: null, id: null, path: ["features"], code: "area_too_dense", message },
	]);
}

/** Logs a failed step without its data (no fence, no key). */
export function logFailure(step: string, error: unknown): void {
	logError("geofences_step_failed", error, { step });
}

export function storedFence(text: string): Fence {
	return parseStoredFence(JSON.parse(text));
}

const ShardList = z.array(z.string());

export function storedShards(text: string): string[] {
	return ShardList.parse(JSON.parse(text));
}
