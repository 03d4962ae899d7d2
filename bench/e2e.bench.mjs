// Ping-to-push under load, end to end: the real service (`wrangler dev`: workerd, D1, Durable
// Objects) on loopback, a local push service that decrypts every message, a tenant with 10,000
// fences and 1,000 subscribed people, and an open-loop load generator at rising ping rates.
//
//   npm run bench:e2e                 full run (10,000 fences, 1,000 people, 5 to 480 pings/s, stopping at the first rate it cannot sustain)
//   npm run bench:e2e -- --quick      smoke run (500 fences, 100 people, 2 short rates; < 90 s)
//   npm run bench:e2e -- --rates=5,10,20 --step-seconds=10
//
// Per rate it reports pings/s achieved, HTTP errors, ping HTTP latency, ping-to-push-received
// latency (from sending the entering ping to the push receiver having the whole message), and
// checks that every expected push arrived exactly once and nothing else did (each message is
// decrypted with an RFC 8291 decoder independent of the sender and its offerId matched against
// the ping answers). Prints a table and writes bench/results/e2e.json (e2e-quick.json for
// --quick). See bench/README-e2e.md.
//
// The script stops itself: every loop is bounded, a watchdog ends a run that hangs, and the
// server, the receiver and the temporary state directory are removed on success, on error
// and on Ctrl-C.
import "./lib/ts-hooks.mjs";
import { appendFileSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { coldness, idleProbe, runStep, summarize } from "./lib/e2e-load.mjs";
import { cpuBetween, sampleCpu } from "./lib/e2e-proc.mjs";
import { snapshotService } from "./lib/e2e-snapshot.mjs";
import { placePeople } from "./lib/e2e-world.mjs";
import { replaceBlock } from "./lib/readme-block.mjs";

// TypeScript sources (loaded through the ts-hooks above) and the shared scripts.
const { PROJECT_ROOT, startDevServer } = await import("../scripts/lib/devserver.mjs");
const { apiRequest, describeError } = await import("../scripts/lib/api.mjs");
const { startPushReceiver } = await import("../test/helpers/push-receiver.ts");
const { createTestSubscriber } = await import("../test/helpers/ece.ts");
const { prng } = await import("../test/helpers/prng.ts");
const { createFenceIndex } = await import("../src/geo/index.ts");
const { makeCity } = await import("./lib/city.mjs");
const { shardOfPoint } = await import("../src/geo/shard.ts");
// Which shard object (cell and replica) a ping reads, as the Worker picks it.
const { shardKeyOfPoint } = await import("../worker/shards.ts");

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SEED = 0xe2e_2026;
const ENTER_SHARE = 0.1;
const CAMPAIGN_ID = "bench-enter";
const SETTINGS = { quietHours: null, caps: { perDay: 100, perWeek: 500 }, minIntervalSeconds: 0 };
const PROFILES = {
	full: {
		fences: 10_000,
		people: 1_000,
		// 10 % of these are enters, each needing a fresh person: 15 s x 555 pings/s x 10 % = 833 of 1,000.
		rates: [5, 10, 20, 40, 80, 160, 240, 320, 480],
		stepSeconds: 15,
		uploadBatch: 1_000,
		watchdogMinutes: 30,
		probe: true,
	},
	quick: {
		fences: 500,
		people: 100,
		rates: [5, 10],
		stepSeconds: 8,
		uploadBatch: 500,
		watchdogMinutes: 3,
		probe: false,
	},
};
/** When a rate is declared beyond what the service sustains: stop rising. */
const LIMITS = { errorRate: 0.01, achievedShare: 0.9, httpP99Ms: 2_000, pushP99Ms: 2_000 };
const MAX_IN_FLIGHT = 512;
const REQUEST_TIMEOUT_MS = 30_000;
/** After a step's last answer: how long pushes may still arrive, then a settle time for duplicates. */
const PUSH_WAIT_MS = 10_000;
const SETTLE_MS = 1_500;
const PAUSE_BETWEEN_STEPS_MS = 3_000;
/** workerd evicts a Durable Object after this long without a request (cloudflare/workerd#1138). */
const EVICT_AFTER_MS = 10_000;
const SETUP_CONCURRENCY = 12;

const { values: args } = parseArgs({
	options: {
		quick: { type: "boolean", default: false },
		rates: { type: "string" },
		"step-seconds": { type: "string" },
		"service-from": { type: "string", default: "worktree" },
		fences: { type: "string" },
		people: { type: "string" },
		"server-log": { type: "string" },
		help: { type: "boolean", default: false },
	},
});
if (args.help) {
	console.log(
		"usage: node bench/e2e.bench.mjs [--quick] [--rates=5,10,20] [--step-seconds=20] [--fences=N] [--people=N]\n         [--service-from=head|worktree] [--server-log=FILE]",
	);
	process.exit(0);
}
const mode = args.quick ? "quick" : "full";
const cfg = { ...PROFILES[mode] };
if (args.rates) cfg.rates = args.rates.split(",").map(Number);
if (args["step-seconds"]) cfg.stepSeconds = Number(args["step-seconds"]);
if (args.fences) cfg.fences = Number(args.fences);
if (args.people) cfg.people = Number(args.people);
const serviceFrom = args["service-from"];
const serverLogFile = args["server-log"] ? path.resolve(args["server-log"]) : null;
if (
	!cfg.rates.every((r) => Number.isFinite(r) && r > 0 && r <= 2_000) ||
	!(cfg.stepSeconds >= 1 && cfg.stepSeconds <= 600) ||
	!(Number.isInteger(cfg.fences) && cfg.fences >= 10 && cfg.fences <= 100_000) ||
	!(Number.isInteger(cfg.people) && cfg.people >= 1 && cfg.people <= cfg.fences) ||
	(serviceFrom !== "head" && serviceFrom !== "worktree")
) {
	console.error(
		"--rates must be positive numbers up to 2000, --step-seconds 1 to 600, --fences 10 to 100000, --people 1 to --fences, --service-from head or worktree",
	);
	process.exit(2);
}

const t0 = performance.now();
const say = (line) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- cleanup, Ctrl-C, watchdog
const stopping = new AbortController();
/** @type {{ server?: { stop(): Promise<void> }, receiver?: { close(): Promise<void> }, dir?: string }} */
const owned = {};
let cleanupPromise;
function cleanup() {
	cleanupPromise ??= (async () => {
		await owned.server?.stop().catch((e) => console.error(`stopping wrangler: ${e}`));
		await owned.receiver?.close().catch((e) => console.error(`closing the push receiver: ${e}`));
		if (owned.dir) await rm(owned.dir, { recursive: true, force: true }).catch(() => undefined);
	})();
	return cleanupPromise;
}
function bail(why, code) {
	if (stopping.signal.aborted) return;
	console.error(`\n${why}: stopping and cleaning up…`);
	stopping.abort();
	cleanup().finally(() => process.exit(code));
}
process.once("SIGINT", () => bail("interrupted", 130));
process.once("SIGTERM", () => bail("terminated", 143));
const watchdog = setTimeout(
	() => bail(`watchdog: the run took over ${cfg.watchdogMinutes} minutes`, 124),
	cfg.watchdogMinutes * 60_000,
);
watchdog.unref();

/** Runs `fn` over `items`, `n` at a time. */
async function inPool(items, n, fn) {
	let next = 0;
	const worker = async () => {
		while (next < items.length && !stopping.signal.aborted) {
			const i = next++;
			await fn(items[i], i);
		}
	};
	await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
	if (stopping.signal.aborted) throw new Error("stopped");
}

// ---------------------------------------------------------------- the run
async function main() {
	const expectedEnters = cfg.rates.reduce((s, r) => s + r * cfg.stepSeconds * ENTER_SHARE, 0);
	say(
		`mode ${mode}: ${cfg.fences} fences, ${cfg.people} people, rates ${cfg.rates.join(", ")} pings/s for ${cfg.stepSeconds} s each, ${ENTER_SHARE * 100} % entering (~${Math.round(expectedEnters)} enters)`,
	);
	if (expectedEnters > cfg.people * 0.9) {
		say(
			`warning: ~${Math.round(expectedEnters)} enters for ${cfg.people} people; the last rates may run out of people`,
		);
	}
	say(
		`machine: ${os.cpus().length} cores, Node ${process.version}, load average ${os
			.loadavg()
			.map((l) => l.toFixed(2))
			.join(" ")}`,
	);

	// The world: fences, and people placed just outside their own fence.
	let t = performance.now();
	const city = makeCity(cfg.fences, SEED);
	const index = createFenceIndex(city.features);
	const rnd = prng(SEED ^ 0x5a5a);
	const { people, fencesTried } = placePeople({ city, index, count: cfg.people, rnd });
	const walks = people.map((p) => p.walkM).sort((a, b) => a - b);
	say(
		`city: ${JSON.stringify(city.stats)}; ${people.length} people placed (${fencesTried} fences tried), walk into the fence ${Math.round(walks[0])}-${Math.round(walks.at(-1))} m (${((performance.now() - t) / 1000).toFixed(1)} s)`,
	);

	// Push receiver and service.
	owned.dir = await mkdtemp(path.join(os.tmpdir(), "edge-offers-bench-e2e-"));
	const service = await snapshotService(PROJECT_ROOT, path.join(owned.dir, "service"), serviceFrom);
	say(
		`serving a snapshot of ${serviceFrom === "head" ? `commit ${service.commit?.slice(0, 12)}` : `the working tree (commit ${service.commit?.slice(0, 12)}, ${service.uncommitted.length} service files changed)`}, so edits during the run cannot restart it`,
	);
	const receiver = await startPushReceiver();
	owned.receiver = receiver;
	const serverLog = { tail: [], reloads: 0, errorLines: [], requestLines: 0, pingMs: [] };
	t = performance.now();
	const server = await startDevServer({
		port: 0,
		cwd: service.dir,
		persistDir: path.join(owned.dir, "state"),
		vars: { ALLOW_INSECURE_LOOPBACK_PUSH: "true" },
		signal: stopping.signal,
		log: (line, source) => {
			if (serverLogFile) appendFileSync(serverLogFile, `${new Date().toISOString()} ${source}: ${line}\n`);
			if (source === "devserver") say(`devserver: ${line}`);
			// wrangler's request line, e.g. "[wrangler:info] POST /v1/pings 200 OK (23ms)": the time
			// the request spent in workerd as wrangler's proxy saw it.
			const ping = /\bPOST \/v1\/pings (\d{3})\b.*\((\d+)ms\)/.exec(line);
			if (ping) {
				serverLog.requestLines++;
				serverLog.pingMs.push(Number(ping[2]));
				if (ping[1] === "200") return;
			}
			serverLog.tail.push(line);
			if (serverLog.tail.length > 200) serverLog.tail.shift();
			if (/reload/i.test(line)) serverLog.reloads++;
			// Offline, wrangler cannot fetch the `Request.cf` placeholder data: harmless, not counted.
			if (/workers\.cloudflare\.com/.test(line)) return;
			if (/\b(error|uncaught|exception)\b/i.test(line) && serverLog.errorLines.length < 20)
				serverLog.errorLines.push(line);
		},
	});
	owned.server = server;
	const startupSeconds = (performance.now() - t) / 1000;
	say(`service on ${server.origin} (${startupSeconds.toFixed(1)} s), push receiver on ${receiver.origin}`);
	const call = (method, route, token, body) => apiRequest(server.origin, method, route, { token, body });

	// Tenant, settings, fences, campaign.
	const tenant = await call("POST", "/v1/tenants", server.adminToken, {
		name: "bench e2e",
		timezone: "Europe/Paris",
	});
	const settings = await call("PUT", "/v1/settings", tenant.secretKey, SETTINGS);
	say(
		`tenant ${tenant.id}: quiet hours ${settings.quietHours === null ? "off" : "ON"}, caps ${settings.caps.perDay}/day ${settings.caps.perWeek}/week, minimum interval ${settings.minIntervalSeconds} s (so pressure rules cannot suppress a bench offer)`,
	);
	t = performance.now();
	const uploads = [];
	for (let i = 0; i < city.features.length; i += cfg.uploadBatch) {
		if (stopping.signal.aborted) throw new Error("stopped");
		const features = city.features.slice(i, i + cfg.uploadBatch);
		const bt = performance.now();
		const res = await call("PUT", "/v1/geofences", tenant.secretKey, { type: "FeatureCollection", features });
		const seconds = (performance.now() - bt) / 1000;
		uploads.push({ fences: features.length, upserted: res.upserted, seconds: Number(seconds.toFixed(2)) });
		if (res.upserted !== features.length)
			throw new Error(`upload upserted ${res.upserted} of ${features.length}`);
		say(
			`fences ${i + features.length}/${city.features.length} uploaded (batch of ${features.length} in ${seconds.toFixed(1)} s)`,
		);
	}
	const uploadSeconds = (performance.now() - t) / 1000;
	await call("POST", "/v1/campaigns", tenant.secretKey, {
		id: CAMPAIGN_ID,
		name: "Bench: offer on entering any store",
		status: "active",
		priority: 10,
		trigger: { type: "geofence", on: "enter" },
		variants: [
			{
				id: "a",
				weight: 1,
				title: '{{ firstName | default: "Hi" }}, -20% in store today',
				body: "At {{ geofence.id }}",
				url: "https://shop.example/offer",
			},
		],
		holdoutPercent: 0,
		ttlSeconds: 600,
		// Left at the default 24 h: each enter is a fresh person/fence pair, so no cooldown applies.
		cooldownSeconds: 86_400,
	});
	say(`campaign ${CAMPAIGN_ID}: geofence enter, every fence, ttl 600 s, holdout 0 %, cooldown 24 h`);

	// People: consent, a subscription at the receiver, the decoder's keys kept here.
	t = performance.now();
	const byPath = new Map();
	await inPool(people, SETUP_CONCURRENCY, async (p, i) => {
		const endpoint = receiver.endpointFor(p.userId);
		p.subscriber = await createTestSubscriber(endpoint);
		byPath.set(new URL(endpoint).pathname, p);
		// The tenant's back end mints each person's user token (apps need one: clientAuth user_token).
		p.token = (await call("POST", `/v1/users/${p.userId}/tokens`, tenant.secretKey, {})).token;
		await call("PUT", `/v1/users/${p.userId}`, p.token, {
			firstName: `Shopper${i}`,
			locale: "en",
			consent: { location: true, push: true },
		});
		await call("PUT", `/v1/users/${p.userId}/devices/${p.deviceId}`, p.token, {
			platform: "web",
			webPush: p.subscriber.subscription,
		});
		if ((i + 1) % Math.max(1, Math.floor(people.length / 5)) === 0)
			say(`people ${i + 1}/${people.length} registered`);
	});
	const registerSeconds = (performance.now() - t) / 1000;
	// Apps act with their person's user token (only a token's ping answers list events and offers).
	const keyFor = (/** @type {{ token: string }} */ p) => p.token;

	// Warm-up: everyone pings once from home (outside every fence). This also builds each
	// shard's index and wakes every person's object, so the rates measure a warm service.
	t = performance.now();
	const warmMs = [];
	const touched = { shard: new Map(), person: new Map() };
	let warmMismatch = 0;
	await inPool(people, 8, async (p) => {
		const ts = Date.now();
		const bt = performance.now();
		const res = await call("POST", "/v1/pings", p.token, {
			userId: p.userId,
			deviceId: p.deviceId,
			pings: [{ lat: p.home[0], lng: p.home[1], accuracy: 10, timestamp: new Date(ts).toISOString() }],
		});
		warmMs.push(performance.now() - bt);
		p.lastTs = ts;
		touched.shard.set(shardKeyOfPoint(p.home[0], p.home[1], p.userId), ts);
		touched.person.set(p.userId, ts);
		p.last = p.home;
		p.busy = false;
		p.entered = false;
		if (res.events.length + res.offers.length + (res.rejected?.length ?? 0) > 0) warmMismatch++;
	});
	const warmup = {
		...summarize(warmMs),
		seconds: Number(((performance.now() - t) / 1000).toFixed(1)),
		mismatches: warmMismatch,
	};
	say(
		`warm-up: one ping per person at home, 8 at a time: p50 ${warmup.p50} ms, p99 ${warmup.p99} ms, max ${warmup.max} ms`,
	);
	if (warmMismatch > 0)
		throw new Error(`${warmMismatch} home pings were not "nothing happens": the world model is wrong`);
	if (receiver.received.length > 0)
		throw new Error(`${receiver.received.length} pushes arrived during setup`);

	// The rates.
	const expected = new Map(); // offerId -> { userId, fenceId, sentAt, step }
	const pushCount = new Map(); // offerId -> pushes received
	const unexpectedPushes = [];
	// Enter requests that failed (error status or no answer): the person may still have been sent
	// the offer, but no answer named it. userId -> pushes received for them.
	const lostAnswers = new Map();
	let decoded = 0;
	const decodePushes = async () => {
		const out = [];
		for (; decoded < receiver.received.length; decoded++) {
			const push = receiver.received[decoded];
			const person = byPath.get(push.path.split("?")[0]);
			if (!person) {
				unexpectedPushes.push({ path: push.path, why: "not a bench subscription" });
				continue;
			}
			let payload = null;
			try {
				payload = JSON.parse(await person.subscriber.decrypt(push.body));
			} catch (error) {
				unexpectedPushes.push({ path: push.path, why: `undecodable: ${error}` });
				continue;
			}
			const exp = expected.get(payload.offerId);
			if (!exp && lostAnswers.has(person.userId)) {
				lostAnswers.set(person.userId, lostAnswers.get(person.userId) + 1);
				continue;
			}
			if (!exp || exp.userId !== person.userId) {
				unexpectedPushes.push({
					path: push.path,
					offerId: payload.offerId,
					why: "no ping answer announced it",
				});
				continue;
			}
			const n = (pushCount.get(payload.offerId) ?? 0) + 1;
			pushCount.set(payload.offerId, n);
			if (n === 1) {
				out.push({
					offerId: payload.offerId,
					latencyMs: push.at - exp.sentAt,
					afterPushMs: exp.answeredAt - push.at,
					personalised: payload.title.startsWith("Shopper") && payload.body === `At ${exp.fenceId}`,
				});
			}
		}
		return out;
	};

	const steps = [];
	let stoppedBecause = null;
	const enterCursor = { next: 0 };
	const outsideAll = (lat, lng) => index.match(lat, lng).length === 0;
	for (const [k, rate] of cfg.rates.entries()) {
		if (stopping.signal.aborted) throw new Error("stopped");
		if (k > 0) await sleep(PAUSE_BETWEEN_STEPS_MS);
		say(`rate ${rate} pings/s for ${cfg.stepSeconds} s…`);
		const cpuStart = sampleCpu();
		const linesBefore = serverLog.pingMs.length;
		const reloadsBefore = serverLog.reloads;
		const run = await runStep({
			origin: server.origin,
			keyFor,
			rate,
			durationMs: cfg.stepSeconds * 1000,
			enterShare: ENTER_SHARE,
			rnd,
			people,
			enterCursor,
			maxInFlight: MAX_IN_FLIGHT,
			timeoutMs: REQUEST_TIMEOUT_MS,
			outsideAll,
			signal: stopping.signal,
		});
		const cpu = cpuBetween(cpuStart, sampleCpu());

		// Check every answer, and note the offers the receiver must get.
		const mismatches = [];
		const stepOffers = [];
		for (const r of run.records) {
			if (!r.answer && r.kind === "enter") lostAnswers.set(r.userId, 0);
			if (!r.answer) continue;
			const a = r.answer;
			const sent = a.offers.filter((o) => o.decision === "sent");
			if (r.kind === "enter") {
				const enters = a.events.filter((e) => e.type === "enter");
				const ok =
					enters.length === 1 &&
					enters[0].geofenceId === r.fenceId &&
					a.events.length === 1 &&
					a.offers.length === 1 &&
					sent.length === 1 &&
					sent[0].campaignId === CAMPAIGN_ID &&
					typeof sent[0].offerId === "string";
				if (!ok) mismatches.push({ kind: r.kind, userId: r.userId, answer: a });
			} else if (a.events.length + a.offers.length + (a.rejected?.length ?? 0) > 0) {
				mismatches.push({ kind: r.kind, userId: r.userId, answer: a });
			}
			for (const o of sent) {
				if (typeof o.offerId !== "string") continue;
				expected.set(o.offerId, {
					userId: r.userId,
					fenceId: r.fenceId,
					sentAt: r.sentAt,
					answeredAt: r.sentAt + r.httpMs,
					step: k,
				});
				stepOffers.push(o.offerId);
			}
		}
		// Pushes: the service sends before it answers, so they are normally all in already.
		const deadline = Date.now() + PUSH_WAIT_MS;
		const matched = [];
		for (;;) {
			matched.push(...(await decodePushes()));
			if (stepOffers.every((id) => pushCount.has(id)) || Date.now() > deadline || stopping.signal.aborted)
				break;
			await sleep(100);
		}
		await sleep(SETTLE_MS);
		matched.push(...(await decodePushes()));

		const cold = coldness(
			run.records,
			touched,
			(r) => shardKeyOfPoint(r.lat, r.lng, r.userId),
			EVICT_AFTER_MS,
		);
		const ok = run.records.filter((r) => r.status === 200);
		const errors = run.records.filter((r) => r.status !== 200);
		const enterOk = ok.filter((r) => r.kind === "enter");
		const plainOk = ok.filter((r) => r.kind === "plain");
		const step = {
			targetRate: rate,
			seconds: Number((run.wallMs / 1000).toFixed(2)),
			sent: run.records.length,
			achievedRate: Number((ok.length / (run.wallMs / 1000)).toFixed(1)),
			sentRate: Number((run.records.length / (run.sendWindowMs / 1000)).toFixed(1)),
			httpErrors: errors.length,
			errorSamples: [...new Set(errors.map((r) => r.error))].slice(0, 3),
			enters: run.records.filter((r) => r.kind === "enter").length,
			plain: run.records.filter((r) => r.kind === "plain").length,
			httpMs: summarize(ok.map((r) => r.httpMs)),
			httpMsPlain: summarize(plainOk.map((r) => r.httpMs)),
			httpMsEnter: summarize(enterOk.map((r) => r.httpMs)),
			pingToPushMs: summarize(matched.map((m) => m.latencyMs)),
			answerAfterPushMs: summarize(matched.map((m) => m.afterPushMs)),
			pushes: {
				expected: stepOffers.length,
				receivedOnce: stepOffers.filter((id) => pushCount.get(id) === 1).length,
				missing: stepOffers.filter((id) => !pushCount.has(id)).length,
				duplicated: stepOffers.filter((id) => (pushCount.get(id) ?? 0) > 1).length,
				notPersonalised: matched.filter((m) => !m.personalised).length,
			},
			answerMismatches: mismatches.length,
			mismatchSamples: mismatches.slice(0, 3),
			generator: {
				skippedSaturated: run.skipped.saturated,
				skippedAllBusy: run.skipped.busy,
				enterBecamePlain: run.skipped.noEnterReady,
				maxScheduleLagMs: Math.round(run.maxLagMs),
				peakInFlight: run.peakInFlight,
			},
			// As wrangler logs them: time from its proxy into workerd and back.
			serverReportedPingMs: summarize(serverLog.pingMs.slice(linesBefore)),
			workerReloads: serverLog.reloads - reloadsBefore,
			// Idle objects: evicted by workerd, so their state (a shard's index) is rebuilt.
			coldObjects: cold,
			// workerd CPU time per answered ping (all its threads, including eviction rebuilds).
			workerdCpuMsPerPing:
				ok.length > 0
					? Number((((cpu.workerd ?? 0) * 10) / (ok.length / (run.wallMs / 1000))).toFixed(1))
					: null,
			cpuPercentOfOneCore: cpu,
			loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
		};
		steps.push(step);
		say(
			`  ${step.achievedRate}/s achieved, ${step.httpErrors} errors, HTTP p50 ${step.httpMs.p50} p99 ${step.httpMs.p99} ms, push p50 ${step.pingToPushMs.p50} p95 ${step.pingToPushMs.p95} p99 ${step.pingToPushMs.p99} ms, pushes ${step.pushes.receivedOnce}/${step.pushes.expected} once, wrangler-reported p50 ${step.serverReportedPingMs.p50} p99 ${step.serverReportedPingMs.p99} ms, CPU ${JSON.stringify(cpu)}`,
		);
		if (mismatches.length > 0)
			say(`  ${mismatches.length} answers were not as expected, e.g. ${JSON.stringify(mismatches[0])}`);

		const reasons = [];
		if (step.httpErrors > LIMITS.errorRate * step.sent) reasons.push(`${step.httpErrors} HTTP errors`);
		if (step.achievedRate < LIMITS.achievedShare * rate)
			reasons.push(`achieved ${step.achievedRate}/s of ${rate}/s`);
		if ((step.httpMs.p99 ?? 0) > LIMITS.httpP99Ms) reasons.push(`HTTP p99 ${step.httpMs.p99} ms`);
		if ((step.pingToPushMs.p99 ?? 0) > LIMITS.pushP99Ms) reasons.push(`push p99 ${step.pingToPushMs.p99} ms`);
		if (enterCursor.next >= people.length - 1) reasons.push("every person has walked in");
		if (reasons.length > 0 && k < cfg.rates.length - 1) {
			stoppedBecause = `stopped rising after ${rate} pings/s: ${reasons.join(", ")}`;
			say(stoppedBecause);
			break;
		}
	}

	// Late or duplicate pushes from any step, then the verdict over the whole run.
	await sleep(SETTLE_MS);
	await decodePushes();

	let probe = null;
	if (cfg.probe && !stopping.signal.aborted) {
		say("idle probe: 15 s of silence (workerd evicts idle Durable Objects after ~10 s), then pings…");
		probe = await idleProbe({
			origin: server.origin,
			keyFor,
			people,
			// One person per shard cell.
			cellOf: shardOfPoint,
			count: 6,
			idleMs: 15_000,
			shortIdleMs: 5_000,
			signal: stopping.signal,
		});
		say(
			`  after 15 s idle p50 ${probe.afterIdleMs.p50} max ${probe.afterIdleMs.max} ms; warm p50 ${probe.warmMs.p50} max ${probe.warmMs.max} ms; after 5 s idle p50 ${probe.afterShortIdleMs.p50} max ${probe.afterShortIdleMs.max} ms`,
		);
		await sleep(SETTLE_MS);
		await decodePushes();
	}
	const all = [...expected.keys()];
	const exactlyOnce = {
		expected: all.length,
		receivedOnce: all.filter((id) => pushCount.get(id) === 1).length,
		missing: all.filter((id) => !pushCount.has(id)).length,
		duplicated: all.filter((id) => (pushCount.get(id) ?? 0) > 1).length,
		unexpected: unexpectedPushes.length,
		unexpectedSamples: unexpectedPushes.slice(0, 3),
		pushesReceived: receiver.received.length,
		// Offers pushed for an enter whose HTTP answer failed (so no answer announced them).
		failedEnters: lostAnswers.size,
		pushedForFailedEnters: [...lostAnswers.values()].filter((n) => n === 1).length,
		duplicatedForFailedEnters: [...lostAnswers.values()].filter((n) => n > 1).length,
		answerMismatches: steps.reduce((s, x) => s + x.answerMismatches, 0),
	};
	exactlyOnce.held =
		exactlyOnce.expected > 0 &&
		exactlyOnce.missing === 0 &&
		exactlyOnce.duplicated === 0 &&
		exactlyOnce.unexpected === 0 &&
		exactlyOnce.duplicatedForFailedEnters === 0 &&
		exactlyOnce.answerMismatches === 0 &&
		exactlyOnce.receivedOnce === exactlyOnce.expected &&
		exactlyOnce.pushesReceived === exactlyOnce.expected + exactlyOnce.pushedForFailedEnters;

	const result = {
		benchmark: "e2e ping-to-push",
		mode,
		generatedAt: new Date().toISOString(),
		service: { from: service.from, commit: service.commit, uncommittedFiles: service.uncommitted },
		machine: {
			nproc: os.availableParallelism(),
			cpu: os.cpus()[0]?.model ?? null,
			memoryGb: Math.round(os.totalmem() / 2 ** 30),
			node: process.version,
			platform: `${os.platform()} ${os.release()}`,
			wrangler: wranglerVersion(),
		},
		note: "wrangler dev (workerd, local D1 and Durable Objects on disk) on one machine, sharing its cores with the load generator and the push receiver: not Cloudflare's network, where each Durable Object runs apart, D1 and storage are remote, and push services are on the internet. The figures show the service's own per-ping cost and that exactly-once holds under load, not production throughput.",
		config: {
			fences: cfg.fences,
			people: cfg.people,
			rates: cfg.rates,
			stepSeconds: cfg.stepSeconds,
			enterShare: ENTER_SHARE,
			seed: SEED,
			settings: SETTINGS,
			campaign: {
				trigger: "geofence enter, every fence",
				ttlSeconds: 600,
				holdoutPercent: 0,
				cooldownSeconds: 86_400,
			},
			enterDesign:
				"each enter is a fresh person/fence pair (a person walks into their own fence once), so cooldowns never apply and the campaign keeps its default 24 h cooldown",
			pingTimestamps:
				"now at send time, strictly increasing per person; walk into the fence at <= 50 m/s implied",
			loadGenerator: `open loop (fixed schedule), at most ${MAX_IN_FLIGHT} in flight, ${REQUEST_TIMEOUT_MS / 1000} s timeout, one request in flight per person`,
			limits: LIMITS,
		},
		setup: {
			city: city.stats,
			serviceStartSeconds: Number(startupSeconds.toFixed(1)),
			uploadSeconds: Number(uploadSeconds.toFixed(1)),
			uploadBatches: uploads,
			registerSeconds: Number(registerSeconds.toFixed(1)),
			warmup,
		},
		steps,
		stoppedBecause,
		idleProbe: probe,
		exactlyOnce,
		server: { reloads: serverLog.reloads, errorLines: serverLog.errorLines },
	};
	await mkdir(path.join(HERE, "results"), { recursive: true });
	const out = path.join(HERE, "results", mode === "quick" ? "e2e-quick.json" : "e2e.json");
	await writeFile(out, `${JSON.stringify(result, null, "\t")}\n`);

	console.log(`\n${table(result)}\n`);
	if (mode !== "quick") {
		const block = `${measuredLine(result)}\n\n${table(result)}`;
		replaceBlock(path.join(HERE, "README-e2e.md"), "e2e:results", block);
		replaceBlock(path.join(HERE, "..", "README.md"), "e2e:summary", block);
		console.log("bench/README-e2e.md and README.md: results table regenerated");
	}
	console.log(
		`exactly-once: ${exactlyOnce.held ? "HELD" : "VIOLATED"} (${exactlyOnce.receivedOnce}/${exactlyOnce.expected} expected pushes received once; missing ${exactlyOnce.missing}, duplicated ${exactlyOnce.duplicated}, unexpected ${exactlyOnce.unexpected}, answers not as expected ${exactlyOnce.answerMismatches}; ${exactlyOnce.failedEnters} enter requests failed, ${exactlyOnce.pushedForFailedEnters} of them pushed once anyway, ${exactlyOnce.duplicatedForFailedEnters} more than once)`,
	);
	if (serverLog.reloads > 0)
		console.log(
			`warning: wrangler reloaded the Worker ${serverLog.reloads} time(s) during the run (a source file changed)`,
		);
	if (serverLog.errorLines.length > 0)
		console.log(
			`wrangler error lines (first ${serverLog.errorLines.length}):\n  ${serverLog.errorLines.join("\n  ")}`,
		);
	console.log(`wrote ${path.relative(process.cwd(), out)}`);
	return exactlyOnce.held ? 0 : 1;
}

function wranglerVersion() {
	try {
		const file = path.join(HERE, "..", "node_modules", "wrangler", "package.json");
		return JSON.parse(readFileSync(file, "utf8")).version;
	} catch {
		return null;
	}
}

/** Which code and setup a result measured, for the README blocks. */
function measuredLine(result) {
	const sv = result.service;
	const code = sv.commit
		? `commit \`${sv.commit.slice(0, 7)}\`${sv.uncommittedFiles.length > 0 ? ` plus uncommitted changes to ${sv.uncommittedFiles.join(", ")}` : ""}`
		: "a checkout outside git";
	const e = result.exactlyOnce;
	return `Measured ${result.generatedAt.slice(0, 10)} at ${code} with \`npm run bench:e2e\` (wrangler dev on one 2-core machine, not Cloudflare's network): ${result.config.fences.toLocaleString("en")} fences, ${result.config.people.toLocaleString("en")} people, ${result.config.stepSeconds} s per rate. Exactly-once ${e.held ? "held" : "**violated**"}: ${e.receivedOnce} of ${e.expected} announced offers arrived once each.`;
}

/** The results as a Markdown table (printed, and written into bench/README-e2e.md and README.md). */
function table(result) {
	const head = [
		"target pings/s",
		"achieved pings/s",
		"HTTP errors",
		"ping HTTP p50 / p99 ms",
		"enter HTTP p50 / p99 ms",
		"ping→push p50 / p95 / p99 ms",
		"pushes once / expected",
		"CPU % workerd / wrangler / bench / other",
	];
	const rows = result.steps.map((s) => {
		const c = s.cpuPercentOfOneCore;
		return [
			s.targetRate,
			s.achievedRate,
			s.httpErrors,
			`${s.httpMs.p50} / ${s.httpMs.p99}`,
			`${s.httpMsEnter.p50} / ${s.httpMsEnter.p99}`,
			`${s.pingToPushMs.p50} / ${s.pingToPushMs.p95} / ${s.pingToPushMs.p99}`,
			`${s.pushes.receivedOnce} / ${s.pushes.expected}`,
			`${c.workerd ?? "?"} / ${c.wrangler ?? "?"} / ${c.benchProcess} / ${c.otherLoad ?? "?"}`,
		];
	});
	return [head, head.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

let code = 1;
try {
	code = await main();
} catch (error) {
	if (!stopping.signal.aborted) console.error(`\nbench:e2e failed: ${describeError(error)}`);
} finally {
	clearTimeout(watchdog);
	if (!stopping.signal.aborted) {
		await cleanup();
		process.exit(code);
	}
}
