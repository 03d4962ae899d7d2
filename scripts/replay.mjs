// `npm run replay`: plays a walking trace (geofences/demo-walk.json) against a running service,
// compressed in time, and prints the geofence events and offer decisions each ping causes.

import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ApiError, apiRequest, describeError, readJsonIfAny } from "./lib/api.mjs";
import {
	clock,
	describeAnswer,
	describeTrigger,
	MAX_IMPLIED_SPEED,
	STATIONARY_SPEED,
	stepSpeeds,
} from "./lib/trace.mjs";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const TENANT_FILE = path.join(ROOT, ".wrangler", "demo-tenant.json");
const DEFAULT_TRACE = path.join("geofences", "demo-walk.json");
const DEFAULT_SPEED = 60;

const USAGE = `Usage: npm run replay -- [options]

Replays a walking trace against a running service (start it with npm start) and prints,
for each ping, the geofence events and offer decisions it caused.

  --origin URL          service origin (default http://127.0.0.1:$PORT, PORT defaults to 8787)
  --secret-key sk_...   the tenant's secret key: mints a user token for the trace's person, as an
                        app's back end does, and shows the decision log at the end
                        (default: the demo tenant's, from .wrangler/demo-tenant.json)
  --key ut_...|pk_...   act as the app with this key instead: a user token for the trace's
                        person, or the publishable key (only for a tenant whose clientAuth is
                        "publishable"; its ping answers then say only how many pings arrived)
  --trace FILE          trace to replay (default ${DEFAULT_TRACE})
  --speed N             time compression: N trace seconds per real second (default ${DEFAULT_SPEED},
                        lowered when the trace would imply more than ${MAX_IMPLIED_SPEED} m/s)
  --realtime-stays      play the parts where the walker stands still in real time, so the
                        service's dwell alarms fire (they run on the real clock)
  --subscription FILE   also register a Web Push device from a PushSubscription JSON file
                        (npm start writes one for its demo push receiver: .wrangler/demo-subscription.json)
  --device ID           device id for --subscription (default replay-web)
  --help                this text

Trace format: { "userId", "description"?, "pings": [{ "lat", "lng", "accuracy", "offsetSeconds" }] }`;

/**
 * @typedef {{ lat: number, lng: number, accuracy: number, offsetSeconds: number }} TracePing
 * @typedef {{ userId: string, description?: string, pings: TracePing[] }} Trace
 */

/**
 * @param {string} message
 * @returns {never}
 */
function fail(message) {
	console.error(`✘ ${message}`);
	process.exit(1);
}

/**
 * Parses a trace file, reporting the first problem with its place.
 *
 * @param {string} file
 * @returns {Promise<Trace>}
 */
async function loadTrace(file) {
	let trace;
	try {
		trace = JSON.parse(await readFile(file, "utf8"));
	} catch (error) {
		fail(`cannot read the trace ${file}: ${error instanceof Error ? error.message : error}`);
	}
	if (typeof trace?.userId !== "string" || trace.userId === "")
		fail(`${file}: userId must be a non-empty string`);
	if (!Array.isArray(trace.pings) || trace.pings.length === 0)
		fail(`${file}: pings must be a non-empty array`);
	for (const [i, p] of trace.pings.entries()) {
		for (const field of ["lat", "lng", "accuracy", "offsetSeconds"]) {
			if (typeof p?.[field] !== "number" || !Number.isFinite(p[field])) {
				fail(`${file}: pings[${i}].${field} must be a number`);
			}
		}
		if (i > 0 && p.offsetSeconds <= trace.pings[i - 1].offsetSeconds) {
			fail(`${file}: pings[${i}].offsetSeconds must be greater than the previous one`);
		}
	}
	return trace;
}

/**
 * @param {number} ms
 * @returns {Promise<void>}
 */
function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

async function main() {
	let args;
	try {
		args = parseArgs({
			options: {
				origin: { type: "string" },
				key: { type: "string" },
				"secret-key": { type: "string" },
				trace: { type: "string" },
				speed: { type: "string" },
				"realtime-stays": { type: "boolean", default: false },
				subscription: { type: "string" },
				device: { type: "string", default: "replay-web" },
				help: { type: "boolean", short: "h", default: false },
			},
			strict: true,
		}).values;
	} catch (error) {
		fail(`${error instanceof Error ? error.message : error}\n\n${USAGE}`);
	}
	if (args.help) {
		console.log(USAGE);
		return;
	}

	const origin = (args.origin ?? `http://127.0.0.1:${process.env.PORT || 8787}`).replace(/\/+$/, "");
	const { appKey, secretKey } = await chooseKeys(args.key, args["secret-key"]);

	const traceFile = path.resolve(args.trace ?? path.join(ROOT, DEFAULT_TRACE));
	const trace = await loadTrace(traceFile);
	const speeds = stepSpeeds(trace.pings);
	const fastest = Math.max(...speeds);
	const safeSpeed = fastest > 0 ? Math.max(1, Math.floor(MAX_IMPLIED_SPEED / fastest)) : DEFAULT_SPEED;
	let speed = Math.min(DEFAULT_SPEED, safeSpeed);
	if (args.speed !== undefined) {
		speed = Number(args.speed);
		if (!Number.isFinite(speed) || speed <= 0) fail(`--speed must be a positive number, not ${args.speed}`);
		if (speed > safeSpeed) {
			console.warn(
				`! at --speed ${speed} the pings imply up to ${Math.round(fastest * speed)} m/s between them ` +
					`(the walker's ${fastest.toFixed(1)} m/s times ${speed}); the service ignores pings above ` +
					`100 m/s, so some may be discarded. ${safeSpeed} or less keeps it under ${MAX_IMPLIED_SPEED} m/s.`,
			);
		}
	}
	const stays = args["realtime-stays"];
	/** Real milliseconds between ping i-1 and ping i. */
	const gaps = trace.pings.map((p, i) => {
		const prev = trace.pings[i - 1];
		if (!prev) return 0;
		const seconds = p.offsetSeconds - prev.offsetSeconds;
		const standing = stays && (speeds[i] ?? 0) < STATIONARY_SPEED;
		return (seconds * 1000) / (standing ? 1 : speed);
	});
	const totalMs = gaps.reduce((a, b) => a + b, 0);

	try {
		await apiRequest(origin, "GET", "/healthz");
	} catch (error) {
		fail(describeError(error));
	}

	const userPath = `/v1/users/${encodeURIComponent(trace.userId)}`;
	let key = appKey;
	if (!key) {
		// As an app's back end does: a token for this one person, valid for the whole replay.
		const ttlSeconds = Math.min(604_800, Math.max(3_600, Math.ceil(totalMs / 1000) + 600));
		const minted = await apiRequest(origin, "POST", `${userPath}/tokens`, {
			token: secretKey,
			body: { ttlSeconds },
		});
		key = String(minted.token);
		console.log(
			`› user token minted for ${trace.userId} with the secret key (valid until ${minted.expiresAt})`,
		);
	}
	await apiRequest(origin, "PUT", userPath, {
		token: key,
		body: { firstName: "Demo", consent: { location: true, push: true } },
	});
	console.log(`› user ${trace.userId} registered (firstName Demo, consent to location and push)`);
	if (key.startsWith("pk_")) {
		console.log(
			"› acting with the publishable key: ping answers carry only how many pings arrived, no events or offers" +
				(secretKey ? " (the decision log at the end shows them)" : ""),
		);
	}
	if (args.subscription) {
		const subscription = await readJsonIfAny(path.resolve(args.subscription));
		if (typeof subscription?.endpoint !== "string" || typeof subscription?.keys?.p256dh !== "string") {
			fail(
				`${args.subscription} is not a PushSubscription JSON ({ "endpoint", "keys": { "p256dh", "auth" } })`,
			);
		}
		const { endpoint, expirationTime = null, keys } = subscription;
		await apiRequest(origin, "PUT", `${userPath}/devices/${encodeURIComponent(args.device)}`, {
			token: key,
			body: {
				platform: "web",
				webPush: { endpoint, expirationTime, keys: { p256dh: keys.p256dh, auth: keys.auth } },
			},
		});
		console.log(`› web push device ${args.device} registered (${new URL(endpoint).host})`);
	} else {
		console.log(
			`› no --subscription: this run registers no push device, so no push is sent (offers end suppressed as no_subscription) unless ${trace.userId} kept one from an earlier run; add --subscription .wrangler/demo-subscription.json to send some`,
		);
	}

	const last = trace.pings.at(-1)?.offsetSeconds ?? 0;
	console.log(
		`› replaying ${trace.pings.length} pings (${clock(last)} of walking) at ${speed}x` +
			`${stays ? ", stays in real time" : ""}: about ${Math.ceil(totalMs / 1000)} s`,
	);
	if (trace.description) console.log(`  ${trace.description}`);
	console.log(
		"  Dwell events come from the service's alarm, at enter + dwellSeconds on the real clock, so they can\n" +
			"  happen between pings: the next answer or GET /v1/users/{id}/decisions shows them." +
			(speed > 1 && !stays
				? "\n  Compressed in time, a stay is too short for them: use --realtime-stays or --speed 1."
				: ""),
	);
	console.log("");

	const start = Date.now();
	let due = start;
	for (const [i, ping] of trace.pings.entries()) {
		due += gaps[i] ?? 0;
		await sleep(due - Date.now());
		const timestamp = Date.now();
		const answer = await apiRequest(origin, "POST", "/v1/pings", {
			token: key,
			body: {
				userId: trace.userId,
				pings: [{ lat: ping.lat, lng: ping.lng, accuracy: ping.accuracy, timestamp }],
			},
		});
		for (const line of describeAnswer(ping, answer, timestamp)) console.log(line);
	}

	console.log("");
	if (secretKey) {
		const decisions = await apiRequest(origin, "GET", `${userPath}/decisions`, { token: secretKey });
		const list = Array.isArray(decisions) ? decisions : (decisions?.decisions ?? decisions?.items ?? []);
		console.log(`› decisions for ${trace.userId}, newest first (GET ${userPath}/decisions):`);
		if (list.length === 0) console.log("  none");
		for (const d of list) {
			const trigger = d.trigger ? ` on ${describeTrigger(d.trigger)}` : "";
			console.log(
				`  ${d.at ?? d.time ?? d.createdAt ?? ""} ${d.campaignId}: ${d.decision}${d.reason ? ` (${d.reason})` : ""}${trigger}`,
			);
		}
	} else {
		console.log(
			`› decision log: curl -sS "${origin}${userPath}/decisions" -H "Authorization: Bearer sk_..."`,
		);
	}
}

/**
 * The keys to act with: `appKey` for the app routes when given with --key (else a user token
 * is minted with `secretKey`), and the secret key, when known, for tokens and the decision log.
 *
 * @param {string | undefined} key --key
 * @param {string | undefined} secret --secret-key
 * @returns {Promise<{ appKey: string | undefined, secretKey: string | undefined }>}
 */
async function chooseKeys(key, secret) {
	if (secret !== undefined && !secret.startsWith("sk_"))
		fail("--secret-key takes the tenant's secret key, sk_...");
	if (key?.startsWith("sk_"))
		fail("--key takes an app key (ut_... or pk_...); pass the secret key as --secret-key sk_...");
	if (key !== undefined && !key.startsWith("ut_") && !key.startsWith("pk_"))
		fail("--key takes a user token (ut_...) or a publishable key (pk_...)");
	const demo = await readJsonIfAny(TENANT_FILE);
	const demoSecret = typeof demo?.secretKey === "string" ? demo.secretKey : undefined;
	// The demo tenant's secret key goes with its own keys only, or with none given at all.
	const demoKey = key === undefined || key === demo?.publishableKey;
	const secretKey = secret ?? (demoKey ? demoSecret : undefined);
	if (key === undefined && secretKey === undefined) {
		fail(
			"no key to act with: run npm start first (it saves the demo tenant's keys in .wrangler/demo-tenant.json),\n" +
				"  or pass --secret-key sk_... (a user token is minted with it), or --key ut_... (a user token for the trace's person)",
		);
	}
	return { appKey: key, secretKey };
}

try {
	await main();
} catch (error) {
	console.error(`✘ ${describeError(error)}`);
	const code = error instanceof ApiError ? /** @type {any} */ (error.body)?.code : undefined;
	if (code === "user_token_required") {
		console.error(
			"  This tenant's apps need user tokens: pass --secret-key sk_... (a token is minted with it)\n" +
				"  or --key ut_... (one minted for the trace's person), or switch the tenant back with\n" +
				'  PUT /v1/settings {"clientAuth": "publishable"}.',
		);
	} else if (error instanceof ApiError && error.status === 403) {
		console.error("  The user token acts for another person: it must be minted for the trace's userId.");
	} else if (error instanceof ApiError && error.status === 401) {
		console.error(
			"  The key was refused (wrong tenant, rotated, or the user token expired): pass --secret-key or --key,\n" +
				"  or run npm start again to refresh .wrangler/demo-tenant.json.",
		);
	}
	process.exit(1);
}
