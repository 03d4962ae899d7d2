/**
 * Where a person's pings are: the shell's I/O half of a ping's path. From the person's
 * neighbourhood copy (src/geo/neighbourhood.ts) when it covers every ping of the batch, else
 * one shard call per leaf the batch touches, which also refreshes the copy around the last
 * ping. The copy is a cache of shard answers: stored under its own key ("hood") apart from the
 * person's state, never exported, erased with the person and forgotten with location consent.
 */
import { parseStoredFence } from "../../src/geo/fence-input.js";
import { FenceSnapshotError, loadFenceIndex, serializeFenceIndex } from "../../src/geo/index.js";
import {
	fitNeighbourhood,
	NEIGHBOURHOOD_ASK_MAX_FENCES,
	NEIGHBOURHOOD_RADIUS_METERS,
	type Neighbourhood,
	type NeighbourhoodStamp,
	neighbourhoodOver,
	nextAskRadius,
	snapCentre,
} from "../../src/geo/neighbourhood.js";
import type { FenceMeta } from "../../src/person/state.js";
import type { Ping, PingLookup } from "../../src/presence/presence.js";
import type { ShardAnswer } from "../geoshard.js";
import type { StoredFence } from "../shards.js";
import { shardKeyOfPoint, shardNameOf, shardStub, tenantSplits } from "../shards.js";
import type { TenantCtx } from "../tenants.js";

/** The storage key of the neighbourhood. */
export const HOOD_KEY = "hood";

/** A stored neighbourhood stays under this (a stored value may be 2 MB with its key). */
const HOOD_MAX_STORED_BYTES = 1024 * 1024;

/** The neighbourhood as stored: the copy (its index as a binary snapshot) and how far to ask next. */
interface StoredHood {
	v: 1;
	/** Radius to ask the shard for at the next shard call. */
	ask: number;
	copy: {
		stamp: NeighbourhoodStamp;
		/** serializeFenceIndex of the fences kept. */
		index: Uint8Array;
		/** JSON of the kept fences' metadata by id, parsed when a fence is entered. */
		meta: string;
	} | null;
}

/** The neighbourhood in memory. */
interface Hood {
	n: Neighbourhood;
	/** Metadata of the fences in the copy (parsed on first use). */
	meta(id: string): FenceMeta | undefined;
}

/** Where the usable pings of a batch are, and the metadata of the fences named. */
export interface Located {
	lookups: PingLookup[];
	fences: Record<string, FenceMeta>;
}

/** The person's neighbourhood copy and the lookups made with it (owned by their ShopperDO). */
export class PersonNeighbourhood {
	private hood: Hood | null = null;
	/** How far to ask the shard around the person at the next shard call. */
	private ask = NEIGHBOURHOOD_RADIUS_METERS;
	/** Whether storage holds a neighbourhood record. */
	private stored = false;
	/** A neighbourhood to write with the next save, or "delete" to remove the stored one. */
	private pending: StoredHood | "delete" | null = null;
	/** How pings were located since the object started: locally or by a shard call (tests, diagnostics). */
	readonly lookups = { local: 0, shard: 0 };

	/** Reads the stored record (none when absent or of another format). */
	read(value: unknown): void {
		this.hood = null;
		this.ask = NEIGHBOURHOOD_RADIUS_METERS;
		this.stored = value !== undefined;
		this.pending = null;
		const r = value as StoredHood | undefined;
		if (r?.v !== 1) return;
		this.ask = r.ask;
		if (!r.copy) return;
		try {
			this.hood = hoodOf(neighbourhoodOver(r.copy.stamp, loadFenceIndex(r.copy.index)), r.copy.meta);
		} catch (e) {
			// A snapshot of another format: the next shard call takes a new copy.
			if (!(e instanceof FenceSnapshotError)) throw e;
		}
	}

	/** Drops what memory holds (the next request reads storage again). */
	reset(): void {
		this.read(undefined);
		this.stored = false;
	}

	/** Location consent withdrawn: the copy says roughly where the person was. */
	forget(): void {
		this.hood = null;
		this.ask = NEIGHBOURHOOD_RADIUS_METERS;
		if (this.stored) this.pending = "delete";
	}

	/** What the next save writes under {@link HOOD_KEY}: a record, "delete", or nothing. */
	take(): StoredHood | "delete" | null {
		const p = this.pending;
		if (p) this.stored = p !== "delete";
		this.pending = null;
		return p;
	}

	/**
	 * Where each ping is. A batch that crosses shards is asked again with every fence entered
	 * anywhere in it, so exit hysteresis holds for a fence entered earlier in the batch on
	 * another shard.
	 */
	async locate(
		env: Env,
		tenant: TenantCtx,
		userId: string,
		pings: Ping[],
		current: string[],
	): Promise<Located> {
		const fences: Record<string, FenceMeta> = {};
		if (pings.length === 0) return { lookups: [], fences };
		const splits = await tenantSplits(env, tenant);
		const keys = pings.map((p) => shardKeyOfPoint(p.lat, p.lng, userId, splits));
		const hood = this.hood;
		if (hood && pings.every((p, i) => hood.n.covers(p.lat, p.lng, keys[i] ?? "", tenant.geofenceVersion))) {
			this.lookups.local += 1;
			const lookups = pings.map((p): PingLookup => {
				const inside = hood.n.match(p.lat, p.lng);
				for (const id of inside) {
					const meta = hood.meta(id);
					if (meta) fences[id] = meta;
				}
				return { inside, distanceTo: (id) => hood.n.distanceTo(id, p.lat, p.lng) };
			});
			return { lookups, fences };
		}
		this.lookups.shard += 1;
		const byShard = new Map<string, number[]>();
		keys.forEach((key, i) => {
			const list = byShard.get(key);
			if (list) list.push(i);
			else byShard.set(key, [i]);
		});
		const last = pings[pings.length - 1];
		const lastKey = keys[keys.length - 1] ?? "";
		const centre = last ? snapCentre(last.lat, last.lng) : null;
		const out: PingLookup[] = new Array(pings.length);
		const ask = (candidates: string[], around: boolean) =>
			Promise.all(
				[...byShard].map(async ([key, idx]) => {
					const stub = shardStub(env, tenant.id, key);
					const wanted =
						around && centre && key === lastKey
							? { lat: centre.lat, lng: centre.lng, radius: this.ask, max: NEIGHBOURHOOD_ASK_MAX_FENCES }
							: null;
					const answer: ShardAnswer = await stub.query(
						idx.map((i) => ({ lat: pings[i]?.lat ?? 0, lng: pings[i]?.lng ?? 0 })),
						candidates,
						wanted,
						shardNameOf(tenant.id, key),
					);
					Object.assign(fences, answer.fences);
					idx.forEach((pingIndex, k) => {
						const r = answer.results[k] ?? { inside: [], distances: {} };
						out[pingIndex] = {
							inside: r.inside,
							distanceTo: (id) => r.distances[id] ?? Number.POSITIVE_INFINITY,
						};
					});
					if (wanted) this.keep(key, tenant.geofenceVersion, wanted, answer.neighbourhood ?? null);
				}),
			);
		await ask(current, true);
		if (byShard.size > 1) {
			const entered = new Set(out.flatMap((l) => l.inside));
			if ([...entered].some((id) => !current.includes(id)))
				await ask([...new Set([...current, ...entered])], false);
		}
		return { lookups: out, fences };
	}

	/**
	 * Keeps the fences around the person's last ping: all that the shard handed over, or the
	 * nearest of them with a smaller radius when they are too many, in memory and, with the next
	 * save, in storage; and how far to ask next time.
	 */
	private keep(
		shard: string,
		version: number,
		at: { lat: number; lng: number; radius: number },
		fences: StoredFence[] | null,
	): void {
		const stamp: NeighbourhoodStamp = { shard, version, lat: at.lat, lng: at.lng, radius: at.radius };
		const fit = fences
			? fitNeighbourhood(
					stamp,
					fences.map((f) => ({ fence: parseStoredFence(JSON.parse(f.fence)), bytes: f.fence.length })),
				)
			: null;
		const ask = nextAskRadius(at.radius, fit?.stamp.radius ?? null, fences === null);
		if (!fit) {
			const unchanged = this.hood === null && this.ask === ask && this.stored;
			this.hood = null;
			this.ask = ask;
			if (!unchanged) this.pending = { v: 1, ask, copy: null };
			return;
		}
		const meta: Record<string, FenceMeta> = {};
		for (const { fence } of fit.kept) {
			const { id, name, tags, metadata, dwellSeconds } = fence;
			meta[id] = { id, name, tags, metadata, dwellSeconds };
		}
		const metaJson = JSON.stringify(meta);
		const index = serializeFenceIndex(fit.index);
		// Far under a stored value's limit (2 MB) by the copy's own limits; checked all the same.
		if (index.byteLength + 2 * metaJson.length > HOOD_MAX_STORED_BYTES) {
			this.hood = null;
			this.ask = nextAskRadius(at.radius, null, true);
			this.pending = { v: 1, ask: this.ask, copy: null };
			return;
		}
		this.hood = hoodOf(neighbourhoodOver(fit.stamp, fit.index), metaJson, meta);
		this.ask = ask;
		this.pending = { v: 1, ask, copy: { stamp: fit.stamp, index, meta: metaJson } };
	}
}

/** A neighbourhood in memory, its fences' metadata parsed from `metaJson` when first needed. */
function hoodOf(n: Neighbourhood, metaJson: string, parsed: Record<string, FenceMeta> | null = null): Hood {
	let meta = parsed;
	return {
		n,
		meta: (id) => {
			meta ??= JSON.parse(metaJson) as Record<string, FenceMeta>;
			return Object.hasOwn(meta, id) ? meta[id] : undefined;
		},
	};
}
