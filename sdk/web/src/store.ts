/**
 * What the SDK keeps in IndexedDB, shared by the page and the service worker (same origin):
 * the queue of pings not yet accepted by the service, the batch in flight, and small values.
 */
import { type DBSchema, type IDBPDatabase, openDB } from "idb";
import type { Ping } from "./core.js";

/** A queued ping with the person and device it was taken for. */
export interface Queued {
	seq?: number;
	userId: string;
	deviceId: string;
	ping: Ping;
}

/** The batch being sent: kept until the service accepts it, then sent again with the same id. */
export interface Batch {
	batchId: string;
	userId: string;
	deviceId: string;
	/** The last queue entry it covers: accepted, everything up to it leaves the queue. */
	lastSeq: number;
	pings: Ping[];
}

/** Who the page acts as; the service worker reads it to register a renewed subscription. */
export interface Session {
	baseUrl: string;
	publishableKey: string;
	userId: string;
	/** The user token last used, if any (cleared by logout). */
	token?: string;
}

export interface Values {
	device: string;
	session: Session;
	batch: Batch;
	/** The push endpoint last registered with the service. */
	push: string;
}

interface Schema extends DBSchema {
	queue: { key: number; value: Queued };
	kv: { key: string; value: unknown };
}

export const DB_NAME = "edge-offers";
let opened: Promise<IDBPDatabase<Schema>> | undefined;

export function db(): Promise<IDBPDatabase<Schema>> {
	opened ??= openDB<Schema>(DB_NAME, 1, {
		upgrade(d) {
			d.createObjectStore("queue", { keyPath: "seq", autoIncrement: true });
			d.createObjectStore("kv");
		},
	});
	return opened;
}

export async function get<K extends keyof Values>(key: K): Promise<Values[K] | undefined> {
	return (await (await db()).get("kv", key)) as Values[K] | undefined;
}

export async function set<K extends keyof Values>(key: K, value: Values[K] | undefined): Promise<void> {
	const d = await db();
	if (value === undefined) await d.delete("kv", key);
	else await d.put("kv", value, key);
}

export async function enqueue(items: Queued[]): Promise<void> {
	const tx = (await db()).transaction("queue", "readwrite");
	for (const q of items) void tx.store.add(q);
	await tx.done;
}

/** The oldest queued pings, at most `max`, all of the first one's person and device. */
export async function head(max: number): Promise<Queued[]> {
	const out: Queued[] = [];
	let cursor = await (await db()).transaction("queue").store.openCursor();
	while (cursor && out.length < max) {
		const q = cursor.value;
		const first = out[0];
		if (first && (q.userId !== first.userId || q.deviceId !== first.deviceId)) break;
		out.push(q);
		cursor = await cursor.continue();
	}
	return out;
}

/** The batch is accepted: its pings leave the queue and it stops being in flight, together. */
export async function settle(batch: Batch): Promise<void> {
	const tx = (await db()).transaction(["queue", "kv"], "readwrite");
	void tx.objectStore("queue").delete(IDBKeyRange.upperBound(batch.lastSeq));
	void tx.objectStore("kv").delete("batch");
	await tx.done;
}

export async function queued(): Promise<number> {
	return (await db()).count("queue");
}

/** Drops every queued ping and the batch in flight. */
export async function clearQueue(): Promise<void> {
	const tx = (await db()).transaction(["queue", "kv"], "readwrite");
	void tx.objectStore("queue").clear();
	void tx.objectStore("kv").delete("batch");
	await tx.done;
}
