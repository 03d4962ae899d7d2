// A day of commuting, as test/worker/neighbourhood.test.ts walks it, on the benchmark's city and
// through the public API: one ping every 2 minutes from 08:00 to 19:00 (home, a 30-minute
// commute of 7.2 km, work with a lunch walk, the commute back, home; each ping jittered by a few
// metres), one ping a request, as an app pinging every 2 minutes sends them.
//
// The day is replayed faster than it happened: ping k carries the timestamp start + k x 2 min,
// with `start` far enough in the past that the last one is not in the future. The service
// accepts such pings (they are in order and at a plausible speed) and, being older than 10
// minutes, they update presence and log decisions but send no offer.
//
// Two ways to replay it:
// - back to back (a request as soon as the previous answered, paced only to stay inside the
//   person's request budget of 60 at once then 2 a second): the person's Durable Object stays
//   in memory from one ping to the next, as the neighbourhood test assumes;
// - spaced: longer than `idleMs` between a person's requests, so that the object has been
//   evicted (locally: workerd evicts an idle object after about 10 s; on Cloudflare an idle
//   object that can hibernate is removed from memory after 10 s) before each ping, as it is
//   for an app pinging every 2 minutes.

import { offsetPoint } from "./e2e-world.mjs";

/** A ping every 2 minutes, as in the neighbourhood test and bench:scale. */
export const DAY_PING_INTERVAL_MS = 120_000;

/**
 * The places of a commuting day, in order.
 *
 * @param {[number, number]} home
 * @param {"full" | "short"} length "full": the test's 332 pings (08:00-19:00); "short": 100
 *   (the same shape with shorter stays at home and at work)
 * @returns {[number, number][]} lat, lng of each ping
 */
export function commuteDay(home, length = "full") {
	const at = (p, east, north) => offsetPoint(p[0], p[1], east, north);
	const work = at(home, 6000, 4000);
	const lunch = at(work, -120, 80);
	const jitter = (p, k) => at(p, ((k * 37) % 11) - 5, ((k * 53) % 13) - 6);
	const [homeAm, atWork, lunchFrom, lunchTo, homePm] =
		length === "full" ? [30, 120, 60, 70, 150] : [10, 40, 20, 24, 18];
	const day = [];
	for (let k = 0; k < homeAm; k++) day.push(jitter(home, k));
	for (let k = 0; k <= 15; k++) day.push(at(home, (6000 * k) / 15, (4000 * k) / 15));
	for (let k = 0; k < atWork; k++) day.push(k >= lunchFrom && k < lunchTo ? lunch : jitter(work, k));
	for (let k = 15; k >= 0; k--) day.push(at(home, (6000 * k) / 15, (4000 * k) / 15));
	for (let k = 0; k < homePm; k++) day.push(jitter(home, k));
	return day;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Replays days for several people at once, each person's pings one after another.
 *
 * @param {object} o
 * @param {string} o.origin
 * @param {string} o.tag added to each request as `?bench=<tag>` (to find its traces)
 * @param {{ userId: string, deviceId: string, token: string, day: [number, number][], indices?: number[] }[]} o.people
 *   `indices`: which pings of the day to send (default: all); each keeps its time of day
 * @param {number} o.minGapMs least time between the starts of one person's requests
 * @param {number} [o.burst] requests a person may send back to back before `minGapMs` applies
 * @param {AbortSignal} o.signal
 * @returns {Promise<{ records: { userId: string, k: number, status: number, httpMs: number, events: string[], rejected: number, error: string | null }[], wallMs: number }>}
 */
export async function replayDays(o) {
	const t0 = performance.now();
	const records = [];
	const now = Date.now();
	await Promise.all(
		o.people.map(async (p) => {
			// The last ping of the day is a minute old when the replay starts.
			const start = now - 60_000 - (p.day.length - 1) * DAY_PING_INTERVAL_MS;
			let last = Number.NEGATIVE_INFINITY;
			const indices = p.indices ?? p.day.map((_, k) => k);
			for (const [n, k] of indices.entries()) {
				const [lat, lng] = p.day[k] ?? [0, 0];
				if (o.signal.aborted) return;
				if (n >= (o.burst ?? 0)) {
					const wait = last + o.minGapMs - performance.now();
					if (wait > 0) await sleep(wait);
				}
				last = performance.now();
				const record = { userId: p.userId, k, status: 0, httpMs: 0, events: [], rejected: 0, error: null };
				records.push(record);
				try {
					const res = await fetch(`${o.origin}/v1/pings?bench=${o.tag}`, {
						method: "POST",
						headers: { authorization: `Bearer ${p.token}`, "content-type": "application/json" },
						body: JSON.stringify({
							userId: p.userId,
							deviceId: p.deviceId,
							pings: [
								{
									lat,
									lng,
									accuracy: 10,
									timestamp: new Date(start + k * DAY_PING_INTERVAL_MS).toISOString(),
								},
							],
						}),
						signal: AbortSignal.timeout(30_000),
					});
					const text = await res.text();
					record.status = res.status;
					if (res.status === 200) {
						const a = JSON.parse(text);
						record.events = a.events.map((e) => `${e.type}:${e.geofenceId}`);
						record.rejected = a.rejected?.length ?? 0;
					} else record.error = `${res.status} ${text.slice(0, 200)}`;
				} catch (error) {
					record.error = String(error?.cause ?? error);
				}
				record.httpMs = performance.now() - last;
			}
		}),
	);
	return { records, wallMs: performance.now() - t0 };
}
