// Ping-to-push under load, end to end, and what a ping costs against the least it could: the real
// service (`wrangler dev`: workerd, D1, Durable Objects) on loopback, a local push service that
// decrypts every message, a tenant with 10,000 fences and 1,000 subscribed people, an open-loop
// load generator at rising ping rates, and the same load on a minimal Worker -> Durable Object ->
// Durable Object program (bench/floor) in the same run.
//
//   npm run bench:e2e                 full run (10,000 fences, 1,000 people, 5 to 480 pings/s, stopping at the first rate it cannot sustain)
//   npm run bench:e2e -- --quick      smoke run (500 fences, 100 people, 2 short rates; about 4 minutes)
//   npm run bench:e2e -- --rates=5,10,20 --step-seconds=10
//
// Per rate it reports pings/s achieved, HTTP errors, ping HTTP latency, ping-to-push-received
// latency (from sending the entering ping to the push receiver having the whole message), the
// CPU the service's own workerd process used per ping with wrangler's local tracing off (not
// wrangler's development proxy, not the load generator), the same for the floor program, and
// their ratio; it checks that every expected push arrived exactly once and nothing else did (each
// message is decrypted with an RFC 8291 decoder independent of the sender and its offerId matched
// against the ping answers). Then, with local tracing on, it replays commuting days and a few
// walk-ins and reads from wrangler's trace store what each ping cost on the platform's meters:
// Durable Object calls, D1 rows, storage operations. Prints tables and writes
// bench/results/e2e.json (e2e-quick.json for --quick). See bench/README-e2e.md.
//
// The script stops itself: every loop is bounded, a watchdog ends a run that hangs, and the
// servers, the receiver and the temporary state directory are removed on success, on error
// and on Ctrl-C.
import "./lib/ts-hooks.mjs";
import { appendFileSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { commuteDay, replayDays } from "./lib/e2e-commute.mjs";
import { coldness, idleProbe, runStep, summarize } from "./lib/e2e-load.mjs";
import { cpuBetween, sampleCpu } from "./lib/e2e-proc.mjs";
import { snapshotFloor, snapshotService } from "./lib/e2e-snapshot.mjs";
import { phaseCosts } from "./lib/e2e-trace.mjs";
import { startWebhookReceiver, webhookLog } from "./lib/e2e-webhooks.mjs";
import { metresBetween, placePeople } from "./lib/e2e-world.mjs";
import { replaceBlock } from "./lib/readme-block.mjs";

// TypeScript sources (loaded through the ts-hooks above) and the shared scripts.
const { PROJECT_ROOT, startDevServer } = await import("../scripts/lib/devserver.mjs");
const { apiRequest, describeError } = await import("../scripts/lib/api.mjs");
const { startPushReceiver } = await import("../test/helpers/push-receiver.ts");
const { createTestSubscriber } = await import("../test/helpers/ece.ts");
const { verifySignature } = await import("../src/webhook/signature.ts");
const { prng } = await import("../test/helpers/prng.ts");
const { createFenceIndex } = await import("../src/geo/index.ts");
const { makeCity } = await import("./lib/city.mjs");
const { shardOfPoint } = await import("../src/geo/shard.ts");
// Which shard object (cell and replica) a ping reads, as the Worker picks it.
const { shardKeyOfPoint } = await import("../worker/shards.ts");
// The person's neighbourhood copy: its radius and the most fences it keeps.
const { NEIGHBOURHOOD_MAX_FENCES, NEIGHBOURHOOD_RADIUS_METERS } = await import("../src/geo/neighbourhood.ts");

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SEED = 0xe2e_2026;
const ENTER_SHARE = 0.1;
const CAMPAIGN_ID = "bench-enter";
const SETTINGS = { quietHours: null, caps: { perDay: 100, perWeek: 500 }, minIntervalSeconds: 0 };
const PROFILES = {
	full: {
		fences: 10_000,
		people: 1_000,
		// 10 % of these are enters, each needing a fresh person: the last rates run out of people.
		rates: [5, 10, 20, 40, 80, 160, 240, 320, 480],
		stepSeconds: 15,
		uploadBatch: 1_000,
		watchdogMinutes: 45,
		probe: true,
		// Traced phase: commuters replaying the neighbourhood test's 332-ping day back to back,
		// others replaying the same day 13 s between pings (past the idle eviction), each a slice
		// of it (12 slices of 28 pings cover the day), and walk-ins with an offer sent.
		commuters: 4,
		day: "full",
		spacedCommuters: 12,
		walkIns: 8,
		tracedFloorRate: 80,
	},
	quick: {
		fences: 500,
		people: 100,
		rates: [10, 40],
		stepSeconds: 8,
		uploadBatch: 500,
		watchdogMinutes: 10,
		probe: false,
		commuters: 3,
		day: "short",
		spacedCommuters: 5,
		walkIns: 4,
		tracedFloorRate: 40,
	},
};
/** When a rate is declared beyond what the service sustains: stop rising. */
const LIMITS = { errorRate: 0.01, achievedShare: 0.9, httpP99Ms: 2_000, pushP99Ms: 2_000 };
const MAX_IN_FLIGHT = 512;
const REQUEST_TIMEOUT_MS = 30_000;
/** After a step's last answer: how long pushes may still arrive, then a settle time for duplicates. */
const PUSH_WAIT_MS = 10_000;
const SETTLE_MS = 1_500;
/** The bench tenant's webhook: these types, each matched to its entering ping; late ones wait this long after the step. */
const WEBHOOK_EVENTS = ["geofence.entered", "offer.sent"];
const WEBHOOK_WAIT_MS = 10_000;
const PAUSE_BETWEEN_STEPS_MS = 3_000;
/** workerd evicts a Durable Object after this long without a request (cloudflare/workerd#1138). */
const EVICT_AFTER_MS = 10_000;
/** Spaced commuters: this long between the starts of a person's requests (past the eviction). */
const SPACED_GAP_MS = EVICT_AFTER_MS + 3_000;
/** Back-to-back commuters: a person's budget is 60 requests at once, then 2 a second. */
const COMMUTE_BURST = 50;
const COMMUTE_GAP_MS = 520;
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
		"no-floor": { type: "boolean", default: false },
		"no-trace": { type: "boolean", default: false },
		"render-only": { type: "boolean", default: false },
		"no-readme-summary": { type: "boolean", default: false },
		help: { type: "boolean", default: false },
	},
});
if (args.help) {
	console.log(
		"usage: node bench/e2e.bench.mjs [--quick] [--rates=5,10,20] [--step-seconds=20] [--fences=N] [--people=N]\n         [--service-from=head|worktree] [--server-log=FILE] [--no-floor] [--no-trace]\n         [--no-readme-summary]   (results into bench/README-e2e.md only, not README.md's summary)\n       node bench/e2e.bench.mjs --render-only   rewrite the README tables from bench/results/e2e.json",
	);
	process.exit(0);
}
const mode = args.quick ? "quick" : "full";
const cfg = { ...PROFILES[mode] };
if (args.rates) cfg.rates = args.rates.split(",").map(Number);
if (args["step-seconds"]) cfg.stepSeconds = Number(args["step-seconds"]);
if (args.fences) cfg.fences = Number(args.fences);
if (args.people) cfg.people = Number(args.people);
cfg.floor = !args["no-floor"];
cfg.trace = !args["no-trace"];
const serviceFrom = args["service-from"];
const serverLogFile = args["server-log"] ? path.resolve(args["server-log"]) : null;
const extraPeople = cfg.walkIns + cfg.commuters + cfg.spacedCommuters;
if (
	!cfg.rates.every((r) => Number.isFinite(r) && r > 0 && r <= 2_000) ||
	!(cfg.stepSeconds >= 1 && cfg.stepSeconds <= 600) ||
	!(Number.isInteger(cfg.fences) && cfg.fences >= 10 && cfg.fences <= 100_000) ||
	!(Number.isInteger(cfg.people) && cfg.people >= 1 && cfg.people + extraPeople <= cfg.fences) ||
	(serviceFrom !== "head" && serviceFrom !== "worktree")
) {
	console.error(
		`--rates must be positive numbers up to 2000, --step-seconds 1 to 600, --fences 10 to 100000, --people 1 to --fences minus ${extraPeople}, --service-from head or worktree`,
	);
	process.exit(2);
}

const t0 = performance.now();
const say = (line) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (v, digits = 2) => (v === null || !Number.isFinite(v) ? null : Number(v.toFixed(digits)));

// ---------------------------------------------------------------- cleanup, Ctrl-C, watchdog
const stopping = new AbortController();
/** @type {{ servers: Set<{ stop(): Promise<void> }>, receiver?: { close(): Promise<void> }, webhooks?: { close(): Promise<void> }, dir?: string }} */
const owned = { servers: new Set() };
let cleanupPromise;
function cleanup() {
	cleanupPromise ??= (async () => {
		for (const server of owned.servers)
			await server.stop().catch((e) => console.error(`stopping wrangler: ${e}`));
		await owned.receiver?.close().catch((e) => console.error(`closing the push receiver: ${e}`));
		await owned.webhooks?.close().catch((e) => console.error(`closing the webhook receiver: ${e}`));
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

// ---------------------------------------------------------------- servers
/** Public port -> "service" or "floor", for attributing processes' CPU. */
const serverNames = {};

/**
 * Starts `wrangler dev` for the service or the floor through the project's launcher, with
 * wrangler's local tracing on or off. wrangler dev turns on local observability by default: every
 * invocation of the Worker and of each Durable Object streams a trace (spans for each storage
 * call, subrequest and D1 query) to a collector Worker in the same workerd process, which stores
 * it in SQLite; the local explorer (which serves queries over that store) comes with it. Both
 * are switched by environment variables that wrangler reads at start (`X_LOCAL_OBSERVABILITY`,
 * `X_LOCAL_EXPLORER`, both default true), which the launcher passes through to it.
 */
async function startServer(name, cwd, persistDir, tracing, serverLog) {
	process.env.X_LOCAL_OBSERVABILITY = tracing ? "true" : "false";
	process.env.X_LOCAL_EXPLORER = tracing ? "true" : "false";
	const t = performance.now();
	const server = await startDevServer({
		port: 0,
		cwd,
		persistDir,
		vars: { ALLOW_INSECURE_LOOPBACK_PUSH: "true" },
		signal: stopping.signal,
		log: (line, source) => {
			if (serverLogFile)
				appendFileSync(serverLogFile, `${new Date().toISOString()} ${name} ${source}: ${line}\n`);
			if (source === "devserver") say(`${name} devserver: ${line}`);
			// wrangler's request line, e.g. "[wrangler:info] POST /v1/pings 200 OK (23ms)": the time
			// the request spent in workerd as wrangler's proxy saw it.
			const ping = /\bPOST \/v1\/pings(?:\?\S*)? (\d{3})\b.*\((\d+)ms\)/.exec(line);
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
	owned.servers.add(server);
	serverNames[Number(new URL(server.origin).port)] = name;
	const seconds = (performance.now() - t) / 1000;
	say(`${name} on ${server.origin} (${seconds.toFixed(1)} s, local tracing ${tracing ? "ON" : "off"})`);
	return {
		...server,
		seconds,
		stop: async () => {
			await server.stop();
			owned.servers.delete(server);
		},
	};
}

/** The benchmark's city (set once in main). */
let worldCity = null;

const newServerLog = () => ({ tail: [], reloads: 0, errorLines: [], requestLines: 0, pingMs: [] });

// ---------------------------------------------------------------- the run
async function main() {
	const expectedEnters = cfg.rates.reduce((s, r) => s + r * cfg.stepSeconds * ENTER_SHARE, 0);
	say(
		`mode ${mode}: ${cfg.fences} fences, ${cfg.people} people, rates ${cfg.rates.join(", ")} pings/s for ${cfg.stepSeconds} s each, ${ENTER_SHARE * 100} % entering (~${Math.round(expectedEnters)} enters); floor ${cfg.floor ? "on" : "off"}; traced phase ${cfg.trace ? "on" : "off"}`,
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

	// The world: fences, and people placed just outside their own fence. The first `people` load
	// the rates; the others (never part of them) are the traced phase's walk-ins and commuters.
	let t = performance.now();
	const city = makeCity(cfg.fences, SEED);
	worldCity = city;
	const index = createFenceIndex(city.features);
	const rnd = prng(SEED ^ 0x5a5a);
	const placed = placePeople({ city, index, count: cfg.people + extraPeople, rnd });
	const people = placed.people.slice(0, cfg.people);
	const walkIns = placed.people.slice(cfg.people, cfg.people + cfg.walkIns);
	const commuters = placed.people.slice(cfg.people + cfg.walkIns, cfg.people + cfg.walkIns + cfg.commuters);
	const spaced = placed.people.slice(cfg.people + cfg.walkIns + cfg.commuters);
	const walks = people.map((p) => p.walkM).sort((a, b) => a - b);
	say(
		`city: ${JSON.stringify(city.stats)}; ${placed.people.length} people placed (${placed.fencesTried} fences tried), walk into the fence ${Math.round(walks[0])}-${Math.round(walks.at(-1))} m (${((performance.now() - t) / 1000).toFixed(1)} s)`,
	);

	// Push receiver, snapshots of the service and of the floor.
	owned.dir = await mkdtemp(path.join(os.tmpdir(), "edge-offers-bench-e2e-"));
	const service = await snapshotService(PROJECT_ROOT, path.join(owned.dir, "service"), serviceFrom);
	const floorDir = cfg.floor ? (await snapshotFloor(PROJECT_ROOT, path.join(owned.dir, "floor"))).dir : null;
	say(
		`serving a snapshot of ${serviceFrom === "head" ? `commit ${service.commit?.slice(0, 12)}` : `the working tree (commit ${service.commit?.slice(0, 12)}, ${service.uncommitted.length} service files changed)`}, so edits during the run cannot restart it`,
	);
	const receiver = await startPushReceiver();
	owned.receiver = receiver;
	const serviceState = path.join(owned.dir, "state");
	const serverLog = newServerLog();
	let server = await startServer("service", service.dir, serviceState, false, serverLog);
	const startupSeconds = server.seconds;
	say(`push receiver on ${receiver.origin}`);
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
	// A webhook on the tenant, to a local receiver (http to 127.0.0.1: the launcher sets LOCAL_DEV).
	const webhookReceiver = await startWebhookReceiver();
	owned.webhooks = webhookReceiver;
	const hook = await call("POST", "/v1/webhooks", tenant.secretKey, {
		url: `${webhookReceiver.origin}/bench`,
		events: WEBHOOK_EVENTS,
		description: "bench:e2e",
	});
	const webhooks = webhookLog(webhookReceiver, hook.secret, verifySignature);
	say(`webhook ${hook.id}: ${WEBHOOK_EVENTS.join(", ")} to ${webhookReceiver.origin}/bench`);

	// People: consent, a subscription at the receiver, the decoder's keys kept here. Commuters
	// get no device: their pings are hours old (no offer is ever sent for them).
	t = performance.now();
	const byPath = new Map();
	const subscribed = [...people, ...walkIns];
	const everyone = [...subscribed, ...commuters, ...spaced];
	await inPool(everyone, SETUP_CONCURRENCY, async (p, i) => {
		p.token = (await call("POST", `/v1/users/${p.userId}/tokens`, tenant.secretKey, {})).token;
		await call("PUT", `/v1/users/${p.userId}`, p.token, {
			firstName: `Shopper${i}`,
			locale: "en",
			consent: { location: true, push: true },
		});
		if (i < subscribed.length) {
			const endpoint = receiver.endpointFor(p.userId);
			p.subscriber = await createTestSubscriber(endpoint);
			byPath.set(new URL(endpoint).pathname, p);
			await call("PUT", `/v1/users/${p.userId}/devices/${p.deviceId}`, p.token, {
				platform: "web",
				webPush: p.subscriber.subscription,
			});
		}
		if ((i + 1) % Math.max(1, Math.floor(everyone.length / 5)) === 0)
			say(`people ${i + 1}/${everyone.length} registered`);
	});
	const registerSeconds = (performance.now() - t) / 1000;
	// Apps act with their person's user token (only a token's ping answers list events and offers).
	const keyFor = (/** @type {{ token: string }} */ p) => p.token;

	// Warm-up: everyone of the rates pings once from home (outside every fence). This also builds
	// each shard's index and wakes every person's object, so the rates measure a warm service.
	const touched = { shard: new Map(), person: new Map() };
	const warmup = await warmUp(server.origin, people, (p, ts) => {
		touched.shard.set(shardKeyOfPoint(p.home[0], p.home[1], p.userId), ts);
		touched.person.set(p.userId, ts);
	});
	say(
		`warm-up: one ping per person at home, 8 at a time: p50 ${warmup.p50} ms, p99 ${warmup.p99} ms, max ${warmup.max} ms`,
	);
	if (warmup.mismatches > 0)
		throw new Error(`${warmup.mismatches} home pings were not "nothing happens": the world model is wrong`);
	if (receiver.received.length > 0)
		throw new Error(`${receiver.received.length} pushes arrived during setup`);

	// The floor, started now and driven in turns with the service at every rate.
	const floor = cfg.floor && floorDir ? await startFloor(floorDir, people) : null;

	// Pushes and what the answers announced.
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
	/** Checks every answer of a set of requests; notes the offers the receiver must get. */
	const checkAnswers = (records, step) => {
		const mismatches = [];
		const offers = [];
		for (const r of records) {
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
					step,
				});
				offers.push(o.offerId);
			}
		}
		return { mismatches, offers };
	};
	/** Waits for the pushes of these offers (normally all in already: the service sends before it answers). */
	const collectPushes = async (offers) => {
		const deadline = Date.now() + PUSH_WAIT_MS;
		const matched = [];
		for (;;) {
			matched.push(...(await decodePushes()));
			if (offers.every((id) => pushCount.has(id)) || Date.now() > deadline || stopping.signal.aborted) break;
			await sleep(100);
		}
		await sleep(SETTLE_MS);
		matched.push(...(await decodePushes()));
		return matched;
	};

	// ------------------------------------------------------------ the rates, on the service
	const steps = [];
	let stoppedBecause = null;
	const enterCursor = { next: 0 };
	// Every person/fence pair that enters (the rates' and the walk-ins'): webhooks for others are unexpected.
	const enterKeys = new Set(walkIns.map((p) => `${p.userId} ${p.fenceId}`));
	const outsideAll = (lat, lng) => index.match(lat, lng).length === 0;
	for (const [k, rate] of cfg.rates.entries()) {
		if (stopping.signal.aborted) throw new Error("stopped");
		if (k > 0) await sleep(PAUSE_BETWEEN_STEPS_MS);
		say(
			floor
				? `rate ${rate} pings/s for ${cfg.stepSeconds} s on the service and on the floor, in turns of ${TURN.activeMs / 1000} s…`
				: `service: rate ${rate} pings/s for ${cfg.stepSeconds} s…`,
		);
		const cpuStart = sampleCpu(serverNames);
		const linesBefore = serverLog.pingMs.length;
		const reloadsBefore = serverLog.reloads;
		const [run, floorRun] = await Promise.all([
			runStep({
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
				...(floor ? { slot: { ...TURN, offsetMs: 0 } } : {}),
			}),
			floor ? floor.step(rate, { ...TURN, offsetMs: TURN.activeMs }, outsideAll) : null,
		]);
		const cpu = cpuBetween(cpuStart, sampleCpu(serverNames));
		const stepEnd = Date.now();
		for (const r of run.records) if (r.kind === "enter") enterKeys.add(`${r.userId} ${r.fenceId}`);
		const { mismatches, offers: stepOffers } = checkAnswers(run.records, k);
		const matched = await collectPushes(stepOffers);
		const hooks = await webhooks.collect(
			run.records.filter((r) => r.kind === "enter" && r.answer),
			WEBHOOK_EVENTS,
			stepEnd + WEBHOOK_WAIT_MS,
			stopping.signal,
		);

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
			answered: ok.length,
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
			// From sending the entering ping to the webhook receiver having each event, by type.
			pingToWebhookMs: hooks,
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
			...cpuPerPing(cpu, "service", ok.length),
			cpu,
			loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
		};
		steps.push(step);
		if (floor && floorRun) {
			const f = floor.record(rate, floorRun, cpu);
			floor.steps.push(f);
			say(
				`  floor: ${f.achievedRate}/s achieved, ${f.httpErrors} errors, HTTP p50 ${f.httpMs.p50} p99 ${f.httpMs.p99} ms; floor workerd ${f.cpuMsPerPing} ms CPU a ping`,
			);
		}
		say(
			`  ${step.achievedRate}/s achieved, ${step.httpErrors} errors, HTTP p50 ${step.httpMs.p50} p99 ${step.httpMs.p99} ms, push p50 ${step.pingToPushMs.p50} p95 ${step.pingToPushMs.p95} p99 ${step.pingToPushMs.p99} ms, pushes ${step.pushes.receivedOnce}/${step.pushes.expected} once, webhook p50 ${hooks["geofence.entered"].p50} p99 ${hooks["geofence.entered"].p99} max ${hooks["geofence.entered"].max} ms (${hooks["geofence.entered"].matched} matched, ${hooks["geofence.entered"].unmatched} not); service workerd ${step.cpuMsPerPing} ms CPU a ping (dev proxy ${step.devProxyCpuMsPerPing}); CPU % ${JSON.stringify(cpu.percent)}`,
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

	// Late or duplicate pushes from any step.
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
	await server.stop();

	// ------------------------------------------------------------ what local tracing costs, on the floor
	let floorResult = null;
	if (floor) {
		if (!stopping.signal.aborted) floor.traced = await tracedFloor(floor, outsideAll);
		await floor.server.stop();
		floorResult = { steps: floor.steps, traced: floor.traced, errorLines: floor.log.errorLines };
	}

	// ------------------------------------------------------------ the meters, with tracing on
	let meters = null;
	if (cfg.trace && !stopping.signal.aborted) {
		say("service again, local tracing ON, same state: commuting days and walk-ins, for the meters…");
		const tracedLog = newServerLog();
		server = await startServer("service", service.dir, serviceState, true, tracedLog);
		meters = await runMeters(server, {
			commuters,
			spaced,
			walkIns,
			outsideAll,
			checkAnswers,
			collectPushes,
			pushCount,
		});
		serverLog.errorLines.push(...tracedLog.errorLines);
		serverLog.reloads += tracedLog.reloads;
		await server.stop();
	}

	// The verdict over the whole run.
	await sleep(SETTLE_MS);
	await decodePushes();
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
		answerMismatches:
			steps.reduce((s, x) => s + x.answerMismatches, 0) + (meters?.walkIn.answerMismatches ?? 0),
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

	await webhooks.ingest();
	const webhookCheck = {
		url: "http://127.0.0.1:<port>/bench",
		events: WEBHOOK_EVENTS,
		...webhooks.counts,
		badSignatureSamples: webhooks.badSamples,
		// Deliveries whose person and fence entered nowhere in the run (commuters' visits, hours old, not checked).
		unexpected: webhooks.unexpected(enterKeys, new Set([...commuters, ...spaced].map((p) => p.userId))),
		lateWaitMs: WEBHOOK_WAIT_MS,
	};
	webhookCheck.held =
		webhookCheck.received > 0 &&
		webhookCheck.badSignatures === 0 &&
		webhookCheck.badBodies === 0 &&
		webhookCheck.unexpected === 0;

	const comparison = steps.map((s) => {
		const f = floorResult?.steps.find((x) => x.targetRate === s.targetRate) ?? null;
		return {
			targetRate: s.targetRate,
			serviceCpuMsPerPing: s.cpuMsPerPing,
			floorCpuMsPerPing: f?.cpuMsPerPing ?? null,
			ratio: f?.cpuMsPerPing ? round(s.cpuMsPerPing / f.cpuMsPerPing, 2) : null,
		};
	});
	const ratios = comparison.map((c) => c.ratio).filter((r) => r !== null);
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
		note: "wrangler dev (workerd, local D1 and Durable Objects on disk) on one machine, sharing its cores with the load generator, the push receiver and other people's benchmarks: not Cloudflare's network, where each Durable Object runs apart, D1 and storage are remote, and push services are on the internet. CPU per ping is the service's own workerd process (its Worker, its Durable Objects, local D1 and the rate-limit bindings), with wrangler's local tracing off, over answered pings; wrangler's development proxy (a second workerd and wrangler's Node process) is reported apart. Compare figures within one run only.",
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
			tracing:
				"off for the rates and the floor (X_LOCAL_OBSERVABILITY=false, X_LOCAL_EXPLORER=false in wrangler's environment); on for the meters phase and the floor's traced step only",
			floor: cfg.floor
				? "bench/floor: Worker -> PersonDO (one per userId) -> CellDO (one per ~11 km cell) -> back, no storage, no D1; same launcher, same load generator and people (their own copies), same rates, in alternate 1 s turns with the service"
				: null,
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
		floor: floorResult,
		comparison,
		medianRatio: ratios.length > 0 ? round(median(ratios), 2) : null,
		idleProbe: probe,
		meters,
		exactlyOnce,
		webhooks: webhookCheck,
		server: { reloads: serverLog.reloads, errorLines: serverLog.errorLines },
	};
	await mkdir(path.join(HERE, "results"), { recursive: true });
	const out = path.join(HERE, "results", mode === "quick" ? "e2e-quick.json" : "e2e.json");
	await writeFile(out, `${JSON.stringify(result, null, "\t")}\n`);

	console.log(`\n${table(result)}\n`);
	if (meters) console.log(`${metersTable(result)}\n`);
	if (mode !== "quick") {
		renderReadmes(result);
		console.log("bench/README-e2e.md and README.md: results tables regenerated");
	}
	const tl = tracingLine(result);
	if (tl) console.log(tl);
	console.log(
		`exactly-once: ${exactlyOnce.held ? "HELD" : "VIOLATED"} (${exactlyOnce.receivedOnce}/${exactlyOnce.expected} expected pushes received once; missing ${exactlyOnce.missing}, duplicated ${exactlyOnce.duplicated}, unexpected ${exactlyOnce.unexpected}, answers not as expected ${exactlyOnce.answerMismatches}; ${exactlyOnce.failedEnters} enter requests failed, ${exactlyOnce.pushedForFailedEnters} of them pushed once anyway, ${exactlyOnce.duplicatedForFailedEnters} more than once)`,
	);
	console.log(
		`webhooks: ${webhookCheck.held ? "OK" : "FAILED"} (${webhookCheck.received} received, ${JSON.stringify(webhookCheck.byType)}; bad signatures ${webhookCheck.badSignatures}, bad bodies ${webhookCheck.badBodies}, duplicates ${webhookCheck.duplicates}, for no enter ${webhookCheck.unexpected})`,
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
	return exactlyOnce.held && webhookCheck.held ? 0 : 1;
}

/**
 * One ping per person from home, 8 at a time, outside every fence: nothing may happen. Wakes the
 * persons' objects and builds the shard indexes (or the floor's objects).
 */
async function warmUp(origin, list, onPing = () => undefined) {
	const t = performance.now();
	const ms = [];
	let mismatches = 0;
	await inPool(list, 8, async (p) => {
		const ts = Math.max(Date.now(), (p.lastTs ?? 0) + 1);
		const bt = performance.now();
		const res = await apiRequest(origin, "POST", "/v1/pings", {
			token: p.token,
			body: {
				userId: p.userId,
				deviceId: p.deviceId,
				pings: [{ lat: p.home[0], lng: p.home[1], accuracy: 10, timestamp: new Date(ts).toISOString() }],
			},
		});
		ms.push(performance.now() - bt);
		p.lastTs = ts;
		p.last = p.home;
		p.busy = false;
		p.entered = false;
		onPing(p, ts);
		if (res.events.length + res.offers.length + (res.rejected?.length ?? 0) > 0) mismatches++;
	});
	return { ...summarize(ms), seconds: Number(((performance.now() - t) / 1000).toFixed(1)), mismatches };
}

/**
 * How many fences lie within the neighbourhood radius of the given points (by fence centre and
 * reach, so approximately): past NEIGHBOURHOOD_MAX_FENCES the person's object keeps no copy and
 * every ping calls the shard.
 */
function fencesAround(points) {
	const { centres } = worldCity;
	const counts = points.map(([lat, lng]) => {
		let n = 0;
		for (let f = 0; f < centres.length / 3; f++) {
			const d = metresBetween(lat, lng, centres[3 * f], centres[3 * f + 1]);
			if (d <= NEIGHBOURHOOD_RADIUS_METERS + centres[3 * f + 2]) n++;
		}
		return n;
	});
	const sorted = [...counts].sort((a, b) => a - b);
	return {
		radiusMeters: NEIGHBOURHOOD_RADIUS_METERS,
		maxKept: NEIGHBOURHOOD_MAX_FENCES,
		p10: sorted[Math.floor(sorted.length * 0.1)] ?? null,
		p50: sorted[Math.floor(sorted.length * 0.5)] ?? null,
		p90: sorted[Math.floor(sorted.length * 0.9)] ?? null,
		shareOverMax: round(
			counts.filter((n) => n > NEIGHBOURHOOD_MAX_FENCES).length / Math.max(1, counts.length),
			3,
		),
	};
}

/** CPU per answered ping of one server's processes over a step. */
function cpuPerPing(cpu, name, answered) {
	const per = (ms) => (answered > 0 && ms !== undefined ? round(ms / answered, 2) : null);
	return {
		// The Worker's own workerd: the Worker, its Durable Objects, local D1, the rate-limit bindings.
		cpuMsPerPing: per(cpu.ms[`${name}.workerd`]),
		// wrangler's development proxy: its workerd (public port, request log) and its Node process.
		devProxyCpuMsPerPing: per((cpu.ms[`${name}.proxy`] ?? 0) + (cpu.ms[`${name}.wrangler`] ?? 0)),
	};
}

function median(values) {
	const s = [...values].sort((a, b) => a - b);
	const m = Math.floor(s.length / 2);
	return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Turns of the service and the floor at every rate: 1 s each, alternately. */
const TURN = { periodMs: 2_000, activeMs: 1_000 };

/**
 * The floor program: started with tracing off, its own copies of the people (at home), warmed up.
 * `step` drives it with the same load generator at a rate, in its turns; `record` describes a
 * step, with the CPU measured over the same interval as the service's step.
 */
async function startFloor(floorDir, people) {
	const copies = () =>
		people.map((p) => ({
			userId: p.userId,
			deviceId: p.deviceId,
			fenceId: p.fenceId,
			home: p.home,
			inside: p.inside,
			walkM: p.walkM,
			token: "floor",
		}));
	const log = newServerLog();
	const server = await startServer("floor", floorDir, path.join(owned.dir, "floor-state"), false, log);
	const floorPeople = copies();
	const warm = await warmUp(server.origin, floorPeople);
	say(`floor warm-up: p50 ${warm.p50} ms, p99 ${warm.p99} ms`);
	const rnd = prng(SEED ^ 0xf100);
	const cursor = { next: 0 };
	const step = (rate, slot, outsideAll, target = server, list = floorPeople, at = cursor) =>
		runStep({
			origin: target.origin,
			keyFor: (p) => p.token,
			rate,
			durationMs: cfg.stepSeconds * 1000,
			enterShare: ENTER_SHARE,
			rnd,
			people: list,
			enterCursor: at,
			maxInFlight: MAX_IN_FLIGHT,
			timeoutMs: REQUEST_TIMEOUT_MS,
			outsideAll,
			signal: stopping.signal,
			slot,
		});
	const record = (rate, run, cpu, name = "floor") => {
		const ok = run.records.filter((r) => r.status === 200);
		const errors = run.records.filter((r) => r.status !== 200);
		return {
			targetRate: rate,
			seconds: Number((run.wallMs / 1000).toFixed(2)),
			sent: run.records.length,
			answered: ok.length,
			achievedRate: Number((ok.length / (run.wallMs / 1000)).toFixed(1)),
			httpErrors: errors.length,
			errorSamples: [...new Set(errors.map((r) => r.error))].slice(0, 3),
			httpMs: summarize(ok.map((r) => r.httpMs)),
			...cpuPerPing(cpu, name, ok.length),
		};
	};
	return { dir: floorDir, server, log, steps: [], traced: null, step, record, copies };
}

/**
 * What local tracing costs a ping: a second floor, traced, driven in turns with the untraced one
 * at the same rate, both warmed up again.
 */
async function tracedFloor(floor, outsideAll) {
	const rate = cfg.tracedFloorRate;
	const traced = await startServer(
		"floor-traced",
		floor.dir,
		path.join(owned.dir, "floor-traced-state"),
		true,
		floor.log,
	);
	const people = floor.copies();
	await warmUp(traced.origin, people);
	const plain = floor.copies();
	await warmUp(floor.server.origin, plain);
	await sleep(PAUSE_BETWEEN_STEPS_MS);
	say(`floor, local tracing off and ON, in turns: rate ${rate} pings/s for ${cfg.stepSeconds} s…`);
	const cpuStart = sampleCpu(serverNames);
	const [off, on] = await Promise.all([
		floor.step(rate, { ...TURN, offsetMs: 0 }, outsideAll, floor.server, plain, { next: 0 }),
		floor.step(rate, { ...TURN, offsetMs: TURN.activeMs }, outsideAll, traced, people, { next: 0 }),
	]);
	const cpu = cpuBetween(cpuStart, sampleCpu(serverNames));
	await traced.stop();
	const result = {
		targetRate: rate,
		off: floor.record(rate, off, cpu, "floor"),
		on: floor.record(rate, on, cpu, "floor-traced"),
		cpu,
	};
	result.cpuMsPerPingTracingOff = result.off.cpuMsPerPing;
	result.cpuMsPerPingTracingOn = result.on.cpuMsPerPing;
	say(
		`  floor workerd ${result.cpuMsPerPingTracingOn} ms CPU a ping with tracing on, ${result.cpuMsPerPingTracingOff} off`,
	);
	return result;
}

/**
 * With local tracing on: what pings cost on the platform's meters, from the trace store.
 * - commute: days of commuting replayed back to back (the neighbourhood test's day);
 * - spaced: other commuters, longer than the idle eviction between their pings;
 * - walk-in: people pinging from home, then (seconds later) from inside their fence, with an
 *   offer sent and pushed.
 */
async function runMeters(
	server,
	{ commuters, spaced, walkIns, outsideAll, checkAnswers, collectPushes, pushCount },
) {
	const day = (p) => commuteDay(p.home, cfg.day);
	const dayLength = day(commuters[0] ?? spaced[0] ?? walkIns[0]).length;
	// Spaced commuters: the day cut in consecutive slices, one a person, replayed with longer than
	// the idle eviction between pings. Each person first sends the ping before their slice (before
	// the phase's window, not counted), as the previous slice's last ping would have left them.
	const sliceLength = Math.ceil(dayLength / Math.max(1, spaced.length));
	const slice = (i) =>
		Array.from({ length: sliceLength }, (_, k) => i * sliceLength + k).filter((k) => k < dayLength);
	say(
		`  ${commuters.length} commuters replay a ${dayLength}-ping day back to back; ${spaced.length} replay a slice of ${sliceLength} pings each of it ${SPACED_GAP_MS / 1000} s apart; then ${walkIns.length} walk-ins`,
	);
	// One phase after the other, so that each one's invocations can be counted by start time too.
	const commuteWindow = [Date.now(), 0];
	const commute = await replayDays({
		origin: server.origin,
		tag: "commute",
		people: commuters.map((p) => ({ ...p, day: day(p) })),
		minGapMs: COMMUTE_GAP_MS,
		burst: COMMUTE_BURST,
		signal: stopping.signal,
	});
	commuteWindow[1] = Date.now();
	const slices = spaced.map((p, i) => ({ ...p, day: day(p), indices: slice(i) }));
	await replayDays({
		origin: server.origin,
		tag: "spaced-warm",
		people: slices
			.filter((p) => (p.indices[0] ?? 0) > 0)
			.map((p) => ({ ...p, indices: [(p.indices[0] ?? 1) - 1] })),
		minGapMs: 0,
		signal: stopping.signal,
	});
	await sleep(SPACED_GAP_MS);
	const spacedWindow = [Date.now(), 0];
	const spacedRun = await replayDays({
		origin: server.origin,
		tag: "spaced",
		people: slices,
		minGapMs: SPACED_GAP_MS,
		signal: stopping.signal,
	});
	spacedWindow[1] = Date.now();
	const describeReplay = (run) => {
		const ok = run.records.filter((r) => r.status === 200);
		return {
			requests: run.records.length,
			answered: ok.length,
			errors: run.records.length - ok.length,
			errorSamples: [...new Set(run.records.filter((r) => r.error).map((r) => r.error))].slice(0, 3),
			rejectedPings: ok.reduce((s, r) => s + r.rejected, 0),
			events: ok.reduce((s, r) => s + r.events.length, 0),
			httpMs: summarize(ok.map((r) => r.httpMs)),
			seconds: Number((run.wallMs / 1000).toFixed(1)),
		};
	};
	const commuteOut = {
		...describeReplay(commute),
		pingsADay: dayLength,
		people: commuters.length,
		fencesAround: fencesAround(commuters.flatMap(day)),
	};
	const spacedOut = {
		...describeReplay(spacedRun),
		gapSeconds: SPACED_GAP_MS / 1000,
		pingsEach: sliceLength,
		people: spaced.length,
	};
	say(
		`  commute: ${commuteOut.answered}/${commuteOut.requests} answered, ${commuteOut.events} events, ${commuteOut.rejectedPings} rejected; spaced: ${spacedOut.answered}/${spacedOut.requests} answered`,
	);

	// Walk-ins: a ping from home now, then one from inside the fence once the walk is plausible.
	const walkRecords = [];
	await inPool(walkIns, 4, async (p) => {
		const ping = async (kind, lat, lng) => {
			const ts = Math.max(Date.now(), (p.lastTs ?? 0) + 1);
			p.lastTs = ts;
			const record = { kind, userId: p.userId, fenceId: p.fenceId, sentAt: Date.now(), httpMs: 0, status: 0 };
			const bt = performance.now();
			const res = await fetch(`${server.origin}/v1/pings?bench=${kind === "enter" ? "walkin" : "home"}`, {
				method: "POST",
				headers: { authorization: `Bearer ${p.token}`, "content-type": "application/json" },
				body: JSON.stringify({
					userId: p.userId,
					deviceId: p.deviceId,
					pings: [{ lat, lng, accuracy: 10, timestamp: new Date(ts).toISOString() }],
				}),
				signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
			});
			const text = await res.text();
			record.httpMs = performance.now() - bt;
			record.status = res.status;
			record.answer = res.status === 200 ? JSON.parse(text) : null;
			return record;
		};
		if (!outsideAll(p.home[0], p.home[1])) throw new Error(`walk-in ${p.userId} lives in a fence`);
		walkRecords.push(await ping("plain", p.home[0], p.home[1]));
		await sleep(Math.max(1_000, ((p.walkM + 10) / 50) * 1000));
		walkRecords.push(await ping("enter", p.inside[0], p.inside[1]));
	});
	const { mismatches, offers } = checkAnswers(walkRecords, "walk-in");
	const matched = await collectPushes(offers);
	const enters = walkRecords.filter((r) => r.kind === "enter" && r.status === 200);
	const walkIn = {
		requests: walkRecords.length,
		enters: enters.length,
		answerMismatches: mismatches.length,
		mismatchSamples: mismatches.slice(0, 3),
		pushesOnce: offers.filter((id) => pushCount.get(id) === 1).length,
		offers: offers.length,
		enterHttpMs: summarize(enters.map((r) => r.httpMs)),
		pingToPushMs: summarize(matched.map((m) => m.latencyMs)),
	};

	say("  reading the trace store…");
	const costs = {
		commute: await phaseCosts(server.origin, "commute", commuteOut.answered, { window: commuteWindow }),
		spaced: await phaseCosts(server.origin, "spaced", spacedOut.answered, { window: spacedWindow }),
		walkIn: await phaseCosts(server.origin, "walkin", enters.length),
	};
	for (const c of Object.values(costs)) c.durableObjectCallsEstimate = doCallsEstimate(c);
	for (const [name, c] of Object.entries(costs))
		say(
			`  ${name}: ${c.traced}/${c.requests} traces complete; ${c.durableObjectCallsEstimate.perPing} DO calls a ping (${c.durableObjectCallsEstimate.how}), D1 rows ${c.perRequest.d1RowsRead} read ${c.perRequest.d1RowsWritten} written, storage ${JSON.stringify(c.perRequest.storageOps)}`,
		);
	return {
		commute: { ...commuteOut, costs: costs.commute },
		spaced: { ...spacedOut, costs: costs.spaced },
		walkIn: { ...walkIn, costs: costs.walkIn },
	};
}

/**
 * Durable Object calls a ping. Every ping request calls the person's object exactly once (the
 * Worker's only call). The local trace collector loses some invocations on this machine (their
 * tail stream ends without an outcome: most often the person's object's, whose invocation is
 * still open when workerd evicts the object), so the shard calls are counted as the shard's
 * invocations that started in the phase's window over the Worker invocations (one per request)
 * stored for the same window, and over complete traces when there is no window.
 */
function doCallsEstimate(c) {
	const w = c.invocationsInWindow;
	const roots = w?.["root:POST"] ?? 0;
	if (w && roots > 0) {
		return {
			perPing: round(1 + (w.query ?? 0) / roots, 3),
			how: `1 + ${w.query ?? 0} shard invocations / ${roots} requests stored (of ${c.requests}; ${w.pings ?? 0} person invocations stored)`,
			requestsStored: round(roots / Math.max(1, c.requests), 3),
		};
	}
	return {
		perPing: c.perRequest.durableObjectCalls,
		how: `over ${c.traced} complete traces of ${c.requests}`,
		requestsStored: round(c.traced / Math.max(1, c.requests), 3),
	};
}

function wranglerVersion() {
	try {
		const file = path.join(HERE, "..", "node_modules", "wrangler", "package.json");
		return JSON.parse(readFileSync(file, "utf8")).version;
	} catch {
		return null;
	}
}

/**
 * What else kept the machine busy during the rates (the median of the "other" CPU column, in %
 * of one core), so the summary does not call every machine shared or quiet.
 */
function otherLoadNote(result) {
	const loads = result.steps.map((s) => s.cpu?.percent?.otherLoad).filter((x) => typeof x === "number");
	if (loads.length === 0) return "";
	return `, other programs using ${median(loads)} % of a core (median over the rates)`;
}

/** Which code and setup a result measured, for the README blocks. */
function measuredLine(result) {
	const sv = result.service;
	const code = sv.commit
		? `commit \`${sv.commit.slice(0, 7)}\`${sv.uncommittedFiles.length > 0 ? ` plus uncommitted changes to ${sv.uncommittedFiles.join(", ")}` : ""}`
		: "a checkout outside git";
	const e = result.exactlyOnce;
	const ratio =
		result.medianRatio !== null
			? ` The service's own CPU per ping is ${result.medianRatio}× the floor program's (median over the rates; range ${Math.min(...result.comparison.map((c) => c.ratio ?? Number.POSITIVE_INFINITY))}–${Math.max(...result.comparison.map((c) => c.ratio ?? 0))}×).`
			: "";
	return `Measured ${result.generatedAt.slice(0, 10)} at ${code} with \`npm run bench:e2e\` (wrangler dev on one 2-core machine${otherLoadNote(result)}, not Cloudflare's network; local tracing off): ${result.config.fences.toLocaleString("en")} fences, ${result.config.people.toLocaleString("en")} people, ${result.config.stepSeconds} s per rate. Exactly-once ${e.held ? "held" : "**violated**"}: ${e.receivedOnce} of ${e.expected} announced offers arrived once each.${webhookLine(result.webhooks)}${ratio}`;
}

/** The webhook check in a sentence (results before webhooks have none). */
function webhookLine(w) {
	if (!w) return "";
	return ` Webhooks (${w.events.join(", ")}, to a local receiver): ${w.received} received, ${w.badSignatures} bad signatures, ${w.duplicates} duplicates, ${w.unexpected} for no enter.`;
}

/** A Markdown table with its columns padded, as the project's formatter (biome) writes them. */
function markdownTable(head, rows) {
	const cells = [head, ...rows].map((r) => r.map((c) => String(c)));
	const widths = head.map((_, i) => Math.max(3, ...cells.map((r) => r[i].length)));
	const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
	return [
		line(cells[0]),
		`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
		...cells.slice(1).map(line),
	].join("\n");
}

/** The rates as a Markdown table (printed, and written into bench/README-e2e.md and README.md). */
function table(result) {
	const head = [
		"target pings/s",
		"achieved pings/s service / floor",
		"HTTP errors",
		"service CPU ms a ping",
		"floor CPU ms a ping",
		"service ÷ floor",
		"ping HTTP p50 / p99 ms",
		"floor HTTP p50 / p99 ms",
		"ping→push p50 / p95 / p99 ms",
		"pushes once / expected",
		"ping→webhook p50 / p99 / max ms (matched / enters)",
		"dev proxy CPU ms a ping",
		"CPU % service / floor / other",
	];
	const rows = result.steps.map((s) => {
		const f = result.floor?.steps.find((x) => x.targetRate === s.targetRate) ?? null;
		const c = result.comparison.find((x) => x.targetRate === s.targetRate);
		const other = s.cpu.percent.otherLoad ?? "?";
		return [
			s.targetRate,
			`${s.achievedRate} / ${f?.achievedRate ?? "–"}`,
			`${s.httpErrors}${f ? ` / ${f.httpErrors}` : ""}`,
			s.cpuMsPerPing ?? "?",
			f?.cpuMsPerPing ?? "–",
			c?.ratio !== null && c?.ratio !== undefined ? `${c.ratio}×` : "–",
			`${s.httpMs.p50} / ${s.httpMs.p99}`,
			f ? `${f.httpMs.p50} / ${f.httpMs.p99}` : "–",
			`${s.pingToPushMs.p50} / ${s.pingToPushMs.p95} / ${s.pingToPushMs.p99}`,
			`${s.pushes.receivedOnce} / ${s.pushes.expected}`,
			webhookCell(s.pingToWebhookMs?.["geofence.entered"]),
			s.devProxyCpuMsPerPing ?? "?",
			`${s.cpu.percent["service.workerd"] ?? "?"} / ${f ? (s.cpu.percent["floor.workerd"] ?? "?") : "–"} / ${other}`,
		];
	});
	return markdownTable(head, rows);
}

/** Ping to `geofence.entered` webhook received, for a step's table row (runs before webhooks: "–"). */
function webhookCell(w) {
	if (!w) return "–";
	return `${w.p50 ?? "–"} / ${w.p99 ?? "–"} / ${w.max ?? "–"} (${w.matched} / ${w.matched + w.unmatched})`;
}

/** What the traced phases cost a request on the platform's meters. */
function metersTable(result) {
	const m = result.meters;
	const head = [
		"traced requests",
		"requests",
		"Durable Object calls a ping (person + shard)",
		"D1 rows read / written a ping",
		"D1 queries a ping",
		"storage calls a ping: get / put / deleteAlarm / setAlarm / SQL",
		"rows written a ping (keys put + alarm calls + SQL)",
		"request ms p50 answered locally / with a shard call (n)",
		"shard SQL rows read a ping",
		"DO wall ms a call p50: person / shard",
		"requests traced / complete",
	];
	const row = (label, c) => {
		const p = c.perRequest;
		const s = p.storageOps;
		const d1 = Object.values(p.d1Queries).reduce((a, b) => a + b, 0);
		const w = c.durableObjectWallMs;
		return [
			label,
			c.requests,
			c.durableObjectCallsEstimate.perPing ?? "–",
			c.traced > 0 ? `${p.d1RowsRead} / ${p.d1RowsWritten}` : "–",
			c.traced > 0 ? round(d1, 3) : "–",
			c.traced > 0
				? `${s.get ?? 0} / ${s.put ?? 0} / ${s.deleteAlarm ?? 0} / ${s.setAlarm ?? 0} / ${s.exec ?? 0}`
				: "–",
			c.traced > 0 ? (p.storageRowsWritten ?? "–") : "–",
			c.latencyBySource
				? `${c.latencyBySource.local.requestMsP50 ?? "–"} / ${c.latencyBySource.shard.requestMsP50 ?? "–"} (${c.latencyBySource.local.n} / ${c.latencyBySource.shard.n})`
				: "–",
			p.doSqlRowsRead ?? "–",
			`${w.pings?.p50 ?? "–"} / ${w.query?.p50 ?? "–"}`,
			`${c.tracedRoots} / ${c.traced}`,
		];
	};
	const f = m.commute.fencesAround;
	const rows = [
		row(
			`commuting day, back to back (${m.commute.people} × ${m.commute.pingsADay} pings, ${m.commute.events} events; fences within ${f.radiusMeters / 1000} km p50 ${f.p50}, over ${f.maxKept} at ${Math.round(f.shareOverMax * 100)} % of pings)`,
			m.commute.costs,
		),
		row(
			`commuting day, ${m.spaced.gapSeconds} s between a person's pings (${m.spaced.people} slices × ${m.spaced.pingsEach} pings)`,
			m.spaced.costs,
		),
		row(`walk-in seconds after a ping from home, offer sent and pushed (${m.walkIn.enters})`, m.walkIn.costs),
	];
	return markdownTable(head, rows);
}

/** What local tracing cost the floor, in one line. */
function tracingLine(result) {
	const t = result.floor?.traced;
	if (!t || t.cpuMsPerPingTracingOn === null) return null;
	return `Local tracing's own cost, measured on the floor program at ${t.targetRate} pings/s: ${t.cpuMsPerPingTracingOn} ms of workerd CPU a ping with it on against ${t.cpuMsPerPingTracingOff} ms off (three traced invocations a ping).`;
}

/** The README blocks, from a result. */
function renderReadmes(result) {
	const block = [
		measuredLine(result),
		table(result),
		result.meters ? metersTable(result) : null,
		tracingLine(result),
	]
		.filter(Boolean)
		.join("\n\n");
	replaceBlock(path.join(HERE, "README-e2e.md"), "e2e:results", block);
	if (!args["no-readme-summary"]) replaceBlock(path.join(HERE, "..", "README.md"), "e2e:summary", block);
}

let code = 1;
try {
	if (args["render-only"]) {
		renderReadmes(JSON.parse(readFileSync(path.join(HERE, "results", "e2e.json"), "utf8")));
		console.log("bench/README-e2e.md and README.md: results tables rewritten from bench/results/e2e.json");
		process.exit(0);
	}
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
