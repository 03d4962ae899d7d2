/**
 * Dense areas: more fences around the person than a copy keeps. The copy then keeps the nearest
 * fences with a smaller radius (src/geo/neighbourhood.ts, fitNeighbourhood) instead of nothing,
 * and must still answer exactly as the shard would: the day's events are compared with those of
 * a reference that looks every ping up in an index of all the tenant's fences.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createFenceIndex } from "../../src/geo/index.js";
import {
	fitNeighbourhood,
	NEIGHBOURHOOD_MAX_FENCES,
	NEIGHBOURHOOD_RADIUS_METERS,
} from "../../src/geo/neighbourhood.js";
import { SHARD_BUFFER_METERS } from "../../src/geo/shard.js";
import type { Fence } from "../../src/geo/types.js";
import { applyPings, emptyPresence, type Ping, type PresenceState } from "../../src/presence/presence.js";
import { ShopperDO } from "../../worker/shopper.js";
import { loadTenant } from "../../worker/tenants.js";
import {
	circleFence,
	createTenant,
	distanceMeters,
	type Feature,
	type LatLng,
	offset,
	registerPerson,
	shopperStub,
	uploadFences,
} from "./helpers";

const LYON = { lat: 45.764, lng: 4.8357 };

/** Circles of `radius` m every `step` m over a rectangle (south-west corner, size in m). */
function grid(
	prefix: string,
	sw: LatLng,
	north: number,
	east: number,
	step: number,
	radius: number,
): Feature[] {
	const out: Feature[] = [];
	for (let i = 0; i * step <= north; i++)
		for (let j = 0; j * step <= east; j++)
			out.push(circleFence(`${prefix}-${i}-${j}`, offset(sw, i * step + 40, j * step + 70), radius));
	return out;
}

function asFence(f: Feature): Fence {
	const props = f.properties as { id: string; radius?: number };
	return {
		id: props.id,
		name: props.id,
		tags: [],
		dwellSeconds: null,
		metadata: {},
		geometry: f.geometry as Fence["geometry"],
		radius: props.radius ?? null,
	};
}

describe("a neighbourhood in a dense area", () => {
	it("keeps the nearest fences, and every fence within the smaller radius", () => {
		const centre = LYON;
		// 31 x 31 circles 200 m apart: about 700 within 3 km, more than a copy keeps.
		const fences = grid("g", offset(centre, -3000, -3000), 6000, 6000, 200, 20).map(asFence);
		const stamp = {
			shard: "s",
			version: 1,
			lat: centre.lat,
			lng: centre.lng,
			radius: NEIGHBOURHOOD_RADIUS_METERS,
		};
		const near = fences.filter((f) => {
			const [lng, lat] = (f.geometry as { coordinates: [number, number] }).coordinates;
			return distanceMeters(centre, { lat, lng }) - (f.radius ?? 0) <= stamp.radius * 1.02 + 10;
		});
		const fit = fitNeighbourhood(
			stamp,
			near.map((fence) => ({ fence, bytes: JSON.stringify(fence).length })),
		);
		if (!fit) throw new Error("nothing kept");
		expect(fit.kept.length).toBeLessThanOrEqual(NEIGHBOURHOOD_MAX_FENCES);
		expect(fit.kept.length).toBeGreaterThan(NEIGHBOURHOOD_MAX_FENCES * 0.8);
		expect(fit.stamp.radius).toBeLessThan(stamp.radius);
		expect(fit.stamp.radius - SHARD_BUFFER_METERS).toBeGreaterThan(0);
		// Every fence within the new radius is in the copy.
		const kept = new Set(fit.kept.map((k) => k.fence.id));
		for (const f of fences) {
			const [lng, lat] = (f.geometry as { coordinates: [number, number] }).coordinates;
			if (distanceMeters(centre, { lat, lng }) - (f.radius ?? 0) <= fit.stamp.radius)
				expect(kept).toContain(f.id);
		}
		// A byte limit cuts the same way.
		const small = fitNeighbourhood(
			stamp,
			near.map((fence) => ({ fence, bytes: 1000 })),
			{ maxBytes: 200_000 },
		);
		expect(small?.kept.length).toBeLessThanOrEqual(200);
		expect(small?.kept.length).toBeGreaterThan(150);
		// Past what any radius answering pings could hold: nothing is kept.
		expect(
			fitNeighbourhood(
				stamp,
				near.map((fence) => ({ fence, bytes: 1000 })),
				{ maxFences: 20 },
			),
		).toBeNull();
	});

	it("answers a commute through a dense city like the shard, at most 1.1 Durable Object calls a ping", async () => {
		const t = await createTenant("hood-dense");
		const home = LYON;
		const work = offset(home, 6000, 4000);
		// 16 stores a km² over the whole commute (about 450 within 3 km), 80 a km² around work.
		const features = [
			...grid("city", offset(home, -2500, -2500), 11000, 9000, 250, 30),
			...grid("core", offset(work, -1000, -1000), 2000, 2000, 125, 15),
			// On the way: the lunch spot, and stores along the commute.
			circleFence("lunch", offset(work, -120, 80), 30),
			...[3, 7, 11].map((k) =>
				circleFence(`way-${k}`, offset(home, (6000 * k) / 15 + 20, (4000 * k) / 15), 60),
			),
		];
		for (let k = 0; k < features.length; k += 1000) await uploadFences(t, features.slice(k, k + 1000));
		const reference = createFenceIndex(features.map(asFence));
		const p = await registerPerson(t, "commuter");
		const tenant = await loadTenant(env, t.id);
		if (!tenant) throw new Error("no tenant");
		// The neighbourhood test's day: home, commute, work with a lunch walk, back, home.
		const day: LatLng[] = [];
		const jitter = (x: LatLng, k: number) => offset(x, ((k * 37) % 11) - 5, ((k * 53) % 13) - 6);
		for (let k = 0; k < 30; k++) day.push(jitter(home, k));
		for (let k = 0; k <= 15; k++) day.push(offset(home, (6000 * k) / 15, (4000 * k) / 15));
		for (let k = 0; k < 120; k++) day.push(k >= 60 && k < 70 ? offset(work, -120, 80) : jitter(work, k));
		for (let k = 15; k >= 0; k--) day.push(offset(home, (6000 * k) / 15, (4000 * k) / 15));
		for (let k = 0; k < 150; k++) day.push(jitter(home, k));

		const stub = shopperStub(t, p.userId) as DurableObjectStub<ShopperDO>;
		const start = Date.now() - day.length * 120_000;
		const events: string[] = [];
		const expected: string[] = [];
		let ref: PresenceState = emptyPresence();
		let shard = 0;
		for (const [k, at] of day.entries()) {
			const now = start + k * 120_000;
			const ping: Ping = { ...at, accuracy: 10, t: now, index: 0 };
			const r = applyPings(
				ref,
				[
					{
						ping,
						lookup: {
							inside: reference.match(at.lat, at.lng),
							distanceTo: (id) => reference.distanceTo(id, at.lat, at.lng),
						},
					},
				],
				() => [],
				now,
			);
			ref = r.state;
			for (const e of r.events) expected.push(`${e.type}:${e.fenceId}`);
			// Every ping on a fresh instance, as after an eviction.
			await runInDurableObject(stub, async (_i: ShopperDO, state) => {
				const fresh = new ShopperDO(state, env);
				const a = await fresh.pings(tenant, p.userId, p.deviceId, [{ ...at, accuracy: 10, t: now }], now);
				if ("rateLimited" in a) throw new Error("rate limited");
				for (const e of a.events) events.push(`${e.type}:${e.geofenceId}`);
				shard += fresh.lookups.shard;
			});
		}
		const stored = await runInDurableObject(stub, async (_i: ShopperDO, state) => {
			const h = await state.storage.get<{
				copy: { index: Uint8Array; meta: string; stamp: { radius: number } } | null;
			}>("hood");
			return h?.copy
				? {
						index: h.copy.index.byteLength,
						meta: h.copy.meta.length,
						radius: Math.round(h.copy.stamp.radius),
					}
				: null;
		});
		console.log(
			`stored neighbourhood at the end of the day: ${JSON.stringify(stored)}; ${expected.length} events`,
		);
		expect(expected.length).toBeGreaterThan(0);
		expect(events).toEqual(expected);
		const callsPerPing = (day.length + shard) / day.length;
		console.log(
			`dense commute (${features.length} fences): ${day.length} pings, ${shard} shard calls, ${callsPerPing.toFixed(3)} Durable Object calls a ping`,
		);
		expect(callsPerPing).toBeLessThanOrEqual(1.1);
	}, 300_000);
});
