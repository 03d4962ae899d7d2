// The end-to-end benchmark's load generator: an open-loop schedule of `POST /v1/pings` at a
// fixed rate (request i leaves at start + i / rate whatever the answers' latency, so a slow
// server shows up as latency and errors rather than as a politely slower client), a bounded
// number of requests in flight, and one record per request.
//
// Each request is one person's ping, either
// - "enter": the person, last seen at home just outside their fence, is now inside it: one
//   enter event and exactly one sent offer (one push) are expected;
// - "plain": the person is at home (within a few metres), outside every fence: nothing is
//   expected.
// A person never has two requests in flight (their pings would race and come out of order),
// and their timestamps are "now" and strictly increasing.
import { JITTER_M, offsetPoint } from "./e2e-world.mjs";

/** Walking into the fence is allowed once the last ping from home is this old (>= 2x margin under 100 m/s). */
const ENTER_SPEED_MPS = 50;
const LOOKAHEAD = 64;
const PLAIN_PICKS = 16;
/** Plain pings move within the jitter disc only this long after the person's last ping. */
const JITTER_MIN_GAP_MS = 5_000;

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
	if (sorted.length === 0) return null;
	const rank = Math.ceil((p / 100) * sorted.length);
	return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** n, p50, p95, p99, max of a list of milliseconds (rounded to 0.1 ms). */
export function summarize(values) {
	const s = [...values].sort((a, b) => a - b);
	const r = (v) => (v === null ? null : Math.round(v * 10) / 10);
	return {
		n: s.length,
		p50: r(percentile(s, 50)),
		p95: r(percentile(s, 95)),
		p99: r(percentile(s, 99)),
		max: r(s.at(-1) ?? null),
	};
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One rate step.
 *
 * @param {object} o
 * @param {string} o.origin service origin
 * @param {(person: any) => string} o.keyFor the bearer key a person's app sends (its user token)
 * @param {number} o.rate requests per second to offer
 * @param {number} o.durationMs how long to offer them
 * @param {number} o.enterShare share of requests that walk someone into their fence
 * @param {() => number} o.rnd seeded draws
 * @param {any[]} o.people every person (runtime fields `busy`, `lastTs`, `entered` are updated)
 * @param {{ next: number }} o.enterCursor position in `people` of the next person to walk in
 * @param {number} o.maxInFlight requests in flight at most; beyond it a due request is not sent
 * @param {number} o.timeoutMs per request
 * @param {(lat: number, lng: number) => boolean} o.outsideAll whether a point is outside every fence
 * @param {AbortSignal} o.signal stops the step early (Ctrl-C)
 * @param {string} [o.path] request path, `/v1/pings` by default (a query string may tag a phase)
 * @param {{ periodMs: number, offsetMs: number, activeMs: number }} [o.slot] send only in this
 *   window of every period (two servers driven in turns share the machine's conditions); the
 *   schedule then counts active time only, so the step lasts durationMs x periodMs / activeMs
 * @returns {Promise<{ records: any[], skipped: { saturated: number, busy: number, noEnterReady: number }, sendWindowMs: number, wallMs: number, maxLagMs: number, peakInFlight: number }>}
 */
export async function runStep(o) {
	const records = [];
	const skipped = { saturated: 0, busy: 0, noEnterReady: 0 };
	const inflight = new Set();
	let peakInFlight = 0;
	let maxLagMs = 0;
	const start = performance.now();
	let scheduled = 0;
	const slot = o.slot ?? null;
	/** Sending time elapsed: wall time, or with a slot only the time spent inside it. */
	const activeElapsed = (wall) => {
		if (!slot) return wall;
		const k = Math.floor(wall / slot.periodMs);
		const into = wall - k * slot.periodMs - slot.offsetMs;
		return k * slot.activeMs + Math.min(Math.max(into, 0), slot.activeMs);
	};
	const inSlot = (wall) => {
		if (!slot) return true;
		const into = wall % slot.periodMs;
		return into >= slot.offsetMs && into < slot.offsetMs + slot.activeMs;
	};

	const pickEnter = (now) => {
		const { people } = o;
		for (let i = o.enterCursor.next, seen = 0; i < people.length && seen < LOOKAHEAD; i++) {
			const p = people[i];
			if (p.entered || p.busy) continue;
			seen++;
			if (now - p.lastTs < Math.max(1000, ((p.walkM + 2 * JITTER_M) / ENTER_SPEED_MPS) * 1000)) continue;
			// Keep the cursor on the first person not yet walked in.
			while (o.enterCursor.next < people.length && people[o.enterCursor.next].entered) o.enterCursor.next++;
			return p;
		}
		return null;
	};
	const pickPlain = () => {
		// People who have not walked in yet are at home; the last ones in the queue most of all.
		const from = o.enterCursor.next;
		const span = o.people.length - from;
		if (span <= 0) return null;
		for (let k = 0; k < PLAIN_PICKS; k++) {
			const p = o.people[from + Math.floor(o.rnd() * span)];
			if (!p.busy && !p.entered) return p;
		}
		return null;
	};

	const launch = (plannedAt) => {
		if (inflight.size >= o.maxInFlight) {
			skipped.saturated++;
			return;
		}
		const now = Date.now();
		let kind = o.rnd() < o.enterShare ? "enter" : "plain";
		let person = kind === "enter" ? pickEnter(now) : pickPlain();
		if (kind === "enter" && !person) {
			skipped.noEnterReady++;
			kind = "plain";
			person = pickPlain();
		}
		if (!person) {
			skipped.busy++;
			return;
		}
		let lat;
		let lng;
		if (kind === "enter") {
			[lat, lng] = person.inside;
			person.entered = true;
		} else if (now - person.lastTs >= JITTER_MIN_GAP_MS) {
			// GPS noise around home: at most 2 x JITTER_M from the last fix, at walking pace.
			const r = JITTER_M * Math.sqrt(o.rnd());
			const a = o.rnd() * 2 * Math.PI;
			[lat, lng] = offsetPoint(person.home[0], person.home[1], r * Math.cos(a), r * Math.sin(a));
			if (!o.outsideAll(lat, lng)) [lat, lng] = person.home;
		} else {
			// Pinged again moments later: same fix (a jump of metres in milliseconds would be "too fast").
			[lat, lng] = person.last;
		}
		const ts = Math.max(now, person.lastTs + 1);
		person.lastTs = ts;
		person.last = [lat, lng];
		person.busy = true;
		const record = {
			kind,
			userId: person.userId,
			fenceId: person.fenceId,
			lat,
			lng,
			lagMs: activeElapsed(performance.now() - start) - plannedAt,
			sentAt: Date.now(),
			httpMs: null,
			status: 0,
			error: null,
			answer: null,
		};
		maxLagMs = Math.max(maxLagMs, record.lagMs);
		records.push(record);
		const t0 = performance.now();
		const body = JSON.stringify({
			userId: person.userId,
			deviceId: person.deviceId,
			pings: [{ lat, lng, accuracy: 10, timestamp: new Date(ts).toISOString() }],
		});
		const job = fetch(`${o.origin}${o.path ?? "/v1/pings"}`, {
			method: "POST",
			headers: { authorization: `Bearer ${o.keyFor(person)}`, "content-type": "application/json" },
			body,
			signal: AbortSignal.timeout(o.timeoutMs),
		})
			.then(async (res) => {
				const text = await res.text();
				record.status = res.status;
				record.httpMs = performance.now() - t0;
				if (res.status === 200) record.answer = JSON.parse(text);
				else record.error = `${res.status} ${text.slice(0, 200)}`;
			})
			.catch((error) => {
				record.httpMs = performance.now() - t0;
				record.error = String(error?.cause ?? error);
			})
			.finally(() => {
				person.busy = false;
				inflight.delete(job);
			});
		inflight.add(job);
		peakInFlight = Math.max(peakInFlight, inflight.size);
	};

	const interval = 1000 / o.rate;
	// Bounded: the loop ends at durationMs (or on abort); each pass sends what is due.
	while (!o.signal.aborted) {
		const wall = performance.now() - start;
		const elapsed = activeElapsed(wall);
		if (elapsed >= o.durationMs) break;
		if (!inSlot(wall)) {
			// Until this server's next turn.
			const into = wall % slot.periodMs;
			const wait = into < slot.offsetMs ? slot.offsetMs - into : slot.periodMs - into + slot.offsetMs;
			await sleep(Math.max(1, Math.min(wait, 50)));
			continue;
		}
		const due = Math.min(Math.floor(elapsed / interval) + 1, Math.ceil(o.durationMs / interval));
		while (scheduled < due) launch(scheduled++ * interval);
		await sleep(Math.max(0, Math.min(scheduled * interval - activeElapsed(performance.now() - start), 50)));
	}
	const sendWindowMs = activeElapsed(performance.now() - start);
	await Promise.allSettled([...inflight]);
	const end = performance.now() - start;
	return {
		records,
		skipped,
		// With a slot: the time spent sending, and the wall time scaled to the share of it in turns.
		sendWindowMs,
		wallMs: slot ? (end * slot.activeMs) / slot.periodMs : end,
		maxLagMs,
		peakInFlight,
	};
}

/**
 * What an idle object costs: workerd evicts a Durable Object after about 10 s without a request
 * (production: 70-140 s), and a fence shard then rebuilds its in-memory index from its storage on
 * the next ping. Pings a few people, each in another coarse cell, once after `idleMs` of silence
 * (cold), at once again (warm), and again after `shortIdleMs` (under the eviction delay).
 *
 * @param {object} o
 * @param {string} o.origin
 * @param {(person: any) => string} o.keyFor
 * @param {any[]} o.people at home, none in flight
 * @param {(lat: number, lng: number) => string} o.cellOf the coarse (shard) cell of a point
 * @param {number} o.count people to probe
 * @param {number} o.idleMs silence before the cold pings
 * @param {number} o.shortIdleMs silence before the last round
 * @param {AbortSignal} o.signal
 */
export async function idleProbe(o) {
	const chosen = [];
	const cells = new Set();
	for (const p of o.people) {
		if (chosen.length === o.count) break;
		const cell = o.cellOf(p.home[0], p.home[1]);
		if (p.entered || p.busy || cells.has(cell)) continue;
		cells.add(cell);
		chosen.push(p);
	}
	const ping = async (p) => {
		const ts = Math.max(Date.now(), p.lastTs + 1);
		p.lastTs = ts;
		const t = performance.now();
		const res = await fetch(`${o.origin}/v1/pings`, {
			method: "POST",
			headers: { authorization: `Bearer ${o.keyFor(p)}`, "content-type": "application/json" },
			body: JSON.stringify({
				userId: p.userId,
				deviceId: p.deviceId,
				pings: [{ lat: p.last[0], lng: p.last[1], accuracy: 10, timestamp: new Date(ts).toISOString() }],
			}),
			signal: AbortSignal.timeout(30_000),
		});
		await res.text();
		if (res.status !== 200) throw new Error(`probe ping answered ${res.status}`);
		return performance.now() - t;
	};
	const round = async () => {
		const out = [];
		for (const p of chosen) if (!o.signal.aborted) out.push(await ping(p));
		return out;
	};
	await sleep(o.idleMs);
	const cold = await round();
	const warm = await round();
	await sleep(o.shortIdleMs);
	const short = await round();
	return {
		people: chosen.length,
		idleSeconds: o.idleMs / 1000,
		shortIdleSeconds: o.shortIdleMs / 1000,
		afterIdleMs: summarize(cold),
		warmMs: summarize(warm),
		afterShortIdleMs: summarize(short),
	};
}

/**
 * Marks each request "cold" for its shard object and for its person's object when that object had
 * no request for more than `idleMs` (workerd then has evicted it: its in-memory state, for a shard
 * the fence index, is rebuilt from storage), and splits plain-ping latency accordingly.
 *
 * @param {any[]} records one step's requests
 * @param {{ shard: Map<string, number>, person: Map<string, number> }} touched last request time
 *   per object, carried from step to step (and from the warm-up)
 * @param {(r: any) => string} shardKeyOf the shard object a request reads
 * @param {number} idleMs eviction delay
 */
export function coldness(records, touched, shardKeyOf, idleMs) {
	const sorted = [...records].sort((a, b) => a.sentAt - b.sentAt);
	const shardObjects = new Set();
	let shardCold = 0;
	let personCold = 0;
	const plainCold = [];
	const plainWarm = [];
	for (const r of sorted) {
		const key = shardKeyOf(r);
		shardObjects.add(key);
		const lastShard = touched.shard.get(key);
		const lastPerson = touched.person.get(r.userId);
		const isShardCold = lastShard === undefined || r.sentAt - lastShard > idleMs;
		if (isShardCold) shardCold++;
		if (lastPerson === undefined || r.sentAt - lastPerson > idleMs) personCold++;
		touched.shard.set(key, r.sentAt);
		touched.person.set(r.userId, r.sentAt);
		if (r.kind === "plain" && r.status === 200) (isShardCold ? plainCold : plainWarm).push(r.httpMs);
	}
	const share = (n) => (records.length === 0 ? null : Number((n / records.length).toFixed(3)));
	return {
		shardObjects: shardObjects.size,
		shardColdShare: share(shardCold),
		personColdShare: share(personCold),
		plainHttpMsShardCold: summarize(plainCold),
		plainHttpMsShardWarm: summarize(plainWarm),
	};
}
