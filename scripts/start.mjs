// `npm start`: the service on workerd via `wrangler dev`, state kept in .wrangler/state and
// local secrets in .dev.vars (generated on first run), a demo tenant with the Paris sample
// stores and one campaign, a local push receiver that decrypts and prints what the service
// sends, and a copy-paste walk-through. Ctrl-C stops it all.

import { createECDH, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";
import { ApiError, apiRequest as api, describeError, readJsonIfAny, writePrivateJson } from "./lib/api.mjs";

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
	console.error(
		`npm start needs Node 22.12 or later (wrangler requires it); this is Node ${process.versions.node}.\n` +
			"Run it through npm (npm start puts the project's own Node from node_modules/.bin first on PATH)\n" +
			"after npm install, or install a current Node.",
	);
	process.exit(1);
}

const { PROJECT_ROOT, startDevServer } = await import("./lib/devserver.mjs");

const WRANGLER_DIR = path.join(PROJECT_ROOT, ".wrangler");
const TENANT_FILE = path.join(WRANGLER_DIR, "demo-tenant.json");
const PUSH_FILE = path.join(WRANGLER_DIR, "demo-push.json");
const SUBSCRIPTION_FILE = path.join(WRANGLER_DIR, "demo-subscription.json");
const GEOFENCES_FILE = path.join(PROJECT_ROOT, "geofences", "paris-stores.geojson");
const CAMPAIGN_ID = "cold-beer-nearby";
const DEMO_USER = "alice";
const DEMO_TOKEN_TTL_SECONDS = 86_400;
const CAMPAIGN = {
	name: "Cold beer nearby",
	status: "active",
	priority: 10,
	trigger: { type: "geofence", on: "enter", tags: ["grocery"] },
	variants: [
		{
			id: "a",
			weight: 100,
			title: '{{ firstName | default: "Hi" }}, cold beer is -20%',
			body: "Two minutes away at {{ geofence.name }}",
			url: "https://shop.example/beer",
		},
	],
	holdoutPercent: 0,
	ttlSeconds: 1800,
};

/**
 * Reuses the saved demo tenant when its keys still work, else creates a new one.
 *
 * @param {string} origin
 * @param {string} adminToken
 * @returns {Promise<{ tenant: { id: string, name: string, secretKey: string, publishableKey: string, webhookSecret: string }, created: boolean, settings: any }>}
 */
async function ensureTenant(origin, adminToken) {
	const saved = await readJsonIfAny(TENANT_FILE);
	if (typeof saved?.secretKey === "string" && typeof saved?.publishableKey === "string") {
		try {
			const settings = await api(origin, "GET", "/v1/settings", { token: saved.secretKey });
			return { tenant: saved, created: false, settings };
		} catch (error) {
			// 401: the state was reset since the keys were saved; make a new tenant.
			if (!(error instanceof ApiError) || error.status !== 401) throw error;
		}
	}
	const tenant = await api(origin, "POST", "/v1/tenants", {
		token: adminToken,
		body: { name: "Demo Grocer", timezone: "Europe/Paris" },
	});
	await writePrivateJson(TENANT_FILE, tenant);
	const settings = await api(origin, "GET", "/v1/settings", { token: tenant.secretKey });
	return { tenant, created: true, settings };
}

/**
 * A user token for one demo person, minted with the secret key as a tenant's back end does
 * (an app never holds the secret key: it asks its own back end for this token).
 *
 * @param {string} origin
 * @param {string} secretKey
 * @param {string} userId
 * @returns {Promise<{ token: string, expiresAt: string }>}
 */
async function mintUserToken(origin, secretKey, userId) {
	return api(origin, "POST", `/v1/users/${encodeURIComponent(userId)}/tokens`, {
		token: secretKey,
		body: { ttlSeconds: DEMO_TOKEN_TTL_SECONDS },
	});
}

/**
 * Creates the demo campaign, or brings an existing one back to the demo definition.
 *
 * @param {string} origin
 * @param {string} secretKey
 * @returns {Promise<"created" | "updated">}
 */
async function ensureCampaign(origin, secretKey) {
	try {
		await api(origin, "GET", `/v1/campaigns/${CAMPAIGN_ID}`, { token: secretKey });
	} catch (error) {
		if (!(error instanceof ApiError) || error.status !== 404) throw error;
		await api(origin, "POST", "/v1/campaigns", { token: secretKey, body: { id: CAMPAIGN_ID, ...CAMPAIGN } });
		return "created";
	}
	await api(origin, "PATCH", `/v1/campaigns/${CAMPAIGN_ID}`, { token: secretKey, body: CAMPAIGN });
	return "updated";
}

/**
 * A stand-in push service on loopback for the demo browser subscription: it answers 201 and
 * decrypts (RFC 8291) and prints each message, so the whole path can be seen locally. The
 * subscription keys and the port are kept so a registered device keeps working after a restart.
 *
 * @param {(line: string) => void} print
 * @returns {Promise<{ subscription: { endpoint: string, expirationTime: null, keys: { p256dh: string, auth: string } }, close: () => Promise<void> }>}
 */
async function startPushReceiver(print) {
	/** @type {any} */
	let saved = await readJsonIfAny(PUSH_FILE);
	if (typeof saved?.privateKey !== "string" || typeof saved?.auth !== "string") {
		const ecdh = createECDH("prime256v1");
		ecdh.generateKeys();
		saved = {
			privateKey: ecdh.getPrivateKey("base64url"),
			auth: randomBytes(16).toString("base64url"),
			path: `/push/demo-${randomBytes(6).toString("hex")}`,
			port: 0,
		};
	}
	const ecdh = createECDH("prime256v1");
	ecdh.setPrivateKey(Buffer.from(saved.privateKey, "base64url"));
	/** @type {{ decrypt: (body: Buffer, params: object) => Buffer } | undefined} */
	let ece;
	try {
		ece = (await import("http_ece")).default;
	} catch {
		ece = undefined;
	}

	const server = createServer((req, res) => {
		/** @type {Buffer[]} */
		const chunks = [];
		req.on("data", (chunk) => chunks.push(chunk));
		req.on("end", () => {
			if (req.method !== "POST" || req.url !== saved.path) {
				res.writeHead(404).end();
				return;
			}
			res.writeHead(201, { location: `${saved.path}/messages/${Date.now()}` }).end();
			const meta = ["ttl", "urgency", "topic"]
				.filter((h) => req.headers[h] !== undefined)
				.map((h) => `${h}=${req.headers[h]}`)
				.join(" ");
			const body = Buffer.concat(chunks);
			let text = `${body.length} encrypted bytes`;
			if (ece && req.headers["content-encoding"] === "aes128gcm") {
				try {
					text = ece
						.decrypt(body, { version: "aes128gcm", privateKey: ecdh, authSecret: saved.auth })
						.toString("utf8");
				} catch (error) {
					text = `${body.length} bytes that did not decrypt (${error instanceof Error ? error.message : error})`;
				}
			}
			print(`[push] ${meta} ${text}`);
		});
	});
	const listen = (/** @type {number} */ port) =>
		new Promise((resolve, reject) => {
			server.once("error", reject);
			server.listen(port, "127.0.0.1", () => {
				server.removeListener("error", reject);
				resolve(undefined);
			});
		});
	try {
		await listen(saved.port);
	} catch {
		await listen(0);
	}
	const address = server.address();
	saved.port = typeof address === "object" && address ? address.port : saved.port;
	await writePrivateJson(PUSH_FILE, saved);
	const subscription = {
		endpoint: `http://127.0.0.1:${saved.port}${saved.path}`,
		expirationTime: null,
		keys: { p256dh: ecdh.getPublicKey("base64url"), auth: saved.auth },
	};
	await writePrivateJson(SUBSCRIPTION_FILE, subscription);
	return {
		subscription,
		close: () =>
			new Promise((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}

/** @returns {boolean} whether it is now within the default quiet hours (21:00-09:00 in Paris) */
function parisQuietHoursNow() {
	const hour = Number(
		new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Paris", hour: "2-digit", hourCycle: "h23" }).format(
			new Date(),
		),
	);
	return hour >= 21 || hour < 9;
}

/**
 * @param {object} info
 * @param {string} info.origin
 * @param {string | undefined} info.adminToken shown unless ADMIN_TOKEN was set by the caller
 * @param {{ id: string, name: string, secretKey: string, publishableKey: string }} info.tenant
 * @param {string} info.clientAuth the tenant's setting in force
 * @param {boolean} info.quietNow whether the tenant's (default) quiet hours hold offers back now
 * @param {{ token: string, expiresAt: string }} info.userToken the demo person's
 * @param {any} info.store a Point feature of the sample stores
 * @param {object} info.subscription
 * @returns {string}
 */
function walkThrough({ origin, adminToken, tenant, clientAuth, quietNow, userToken, store, subscription }) {
	const [lng, lat] = store.geometry.coordinates;
	const { id: storeId, name: storeName } = store.properties;
	const ut = `-H "Authorization: Bearer $UT"`;
	const sk = `-H "Authorization: Bearer $SK"`;
	const ct = `-H 'Content-Type: application/json'`;
	const lines = ["", `Edge offers is running on ${origin}`, ""];
	if (adminToken) {
		lines.push(
			`  Admin token (kept in .dev.vars; ADMIN_TOKEN in the environment overrides it): ${adminToken}`,
		);
	}
	const pkUse =
		clientAuth === "publishable"
			? "(SDK and VAPID key; this tenant's clientAuth is publishable, so apps may use it too)"
			: "(SDK and VAPID key only: this tenant's apps need user tokens)";
	lines.push(
		`  Demo tenant "${tenant.name}" (${tenant.id}), keys saved in .wrangler/demo-tenant.json`,
		`    secret key       ${tenant.secretKey}   (back office: geofences, campaigns, settings, decisions, user tokens)`,
		`    publishable key  ${tenant.publishableKey}   ${pkUse}`,
		`  Demo push receiver: ${subscription.endpoint} (messages it gets are decrypted and printed here)`,
		"",
		"Open the demo shop (web SDK; its button walks into a sample store and shows the offer):",
		`  ${origin}/demo/#${new URLSearchParams({ pk: tenant.publishableKey, ut: userToken.token, user: DEMO_USER })}`,
		"",
		"Try it from another terminal:",
		"",
		`  export ORIGIN=${origin} SK=${tenant.secretKey}`,
		"",
		`  # 0. a user token for ${DEMO_USER}, minted with the secret key (a real app gets it from its own back end;`,
		`  #    this one is valid until ${userToken.expiresAt}; mint another with the line after it)`,
		`  export UT=${userToken.token}`,
		`  # curl -sS -X POST "$ORIGIN/v1/users/${DEMO_USER}/tokens" ${sk}`,
		"",
	);
	if (quietNow) {
		// Before step 1: the first enter is the one that can send an offer.
		lines.push(
			"  # It is quiet hours in Paris (21:00-09:00): offers are suppressed (quiet_hours) until 09:00.",
			"  # To see one sent now, turn quiet hours off for the demo tenant first:",
			`  curl -sS -w '\n' -X PUT "$ORIGIN/v1/settings" ${sk} ${ct} -d '{"quietHours":null}'`,
			"",
		);
	}
	lines.push(
		"  # 1. a shopper who consents to location and push",
		`  curl -sS -w '\n' -X PUT "$ORIGIN/v1/users/${DEMO_USER}" ${ut} ${ct} \\`,
		`    -d '{"firstName":"Alice","locale":"fr-FR","consent":{"location":true,"push":true}}'`,
		"",
		"  # 2. her browser's Web Push subscription (it points at the demo push receiver)",
		`  curl -sS -w '\n' -X PUT "$ORIGIN/v1/users/${DEMO_USER}/devices/alice-browser" ${ut} ${ct} \\`,
		`    -d '${JSON.stringify({ platform: "web", webPush: subscription })}'`,
		"",
		`  # 3. a location ping inside ${storeName} (${storeId}): an enter event and an offer decision`,
		"  #    (sent again, it reports nothing new: she is still inside, and the campaign sends her one offer a day)",
		`  curl -sS -w '\n' -X POST "$ORIGIN/v1/pings" ${ut} ${ct} \\`,
		`    -d '{"userId":"${DEMO_USER}","pings":[{"lat":${lat},"lng":${lng},"accuracy":10,"timestamp":'"$(date +%s000)"'}]}'`,
		"",
		"  # 4. what was decided for her, and why",
		`  curl -sS -w '\n' "$ORIGIN/v1/users/${DEMO_USER}/decisions" ${sk}`,
		"",
	);
	lines.push(
		"Replay a 22-minute walk past the Paris sample stores (geofences/demo-walk.json):",
		"  npm run replay                     # compressed in time; prints events and offer decisions",
		"  npm run replay -- --subscription .wrangler/demo-subscription.json   # also register a push device",
		"  npm run replay -- --help           # speed, trace, origin, keys",
		"",
		"Ctrl-C stops the server; state stays in .wrangler/state, local secrets in .dev.vars.",
		"",
	);
	return lines.join("\n");
}

async function main() {
	/** @param {string} line */
	const print = (line) => console.log(line);
	const explicitAdminToken = Boolean(process.env.ADMIN_TOKEN);
	// Ctrl-C during start-up cancels it; afterwards it stops wrangler and the push receiver.
	const startup = new AbortController();
	/** @type {import("./lib/devserver.mjs").DevServer | undefined} */
	let server;
	/** @type {(() => Promise<void>) | undefined} */
	let closeReceiver;
	let stopping = false;
	const shutdown = async (/** @type {number} */ code) => {
		if (stopping) return;
		stopping = true;
		await closeReceiver?.();
		await server?.stop();
		process.exit(code);
	};
	const onSignal = (/** @type {number} */ code) => {
		if (stopping) process.exit(code);
		print("\n› stopping…");
		if (server) void shutdown(0);
		else startup.abort();
	};
	process.on("SIGINT", () => onSignal(130));
	process.on("SIGTERM", () => onSignal(143));

	// The Worker serves the SDK, the demo and the console from dist/assets (wrangler.toml [assets]).
	const { build } = await import("./build.mjs");
	await build();

	try {
		server = await startDevServer({
			log: (line, source) => print(source === "devserver" ? `› ${line}` : `[wrangler] ${line}`),
			signal: startup.signal,
		});
	} catch (error) {
		if (startup.signal.aborted) process.exit(130);
		throw error;
	}
	const { origin, adminToken } = server;
	server.exited.then(({ code, signal }) => {
		if (stopping) return;
		console.error(`✘ wrangler dev exited unexpectedly (${signal ?? `code ${code}`})`);
		void shutdown(1);
	});

	try {
		print("› loading demo tenant…");
		const { tenant, created, settings } = await ensureTenant(origin, adminToken);
		const clientAuth = String(settings?.clientAuth ?? "user_token");
		print(`› ${created ? "created" : "reusing"} demo tenant ${tenant.id} (clientAuth ${clientAuth})`);
		const stores = JSON.parse(await readFile(GEOFENCES_FILE, "utf8"));
		const upload = await api(origin, "PUT", "/v1/geofences", { token: tenant.secretKey, body: stores });
		print(
			`› geofences: ${upload?.upserted ?? "?"} upserted, ${upload?.unchanged ?? "?"} unchanged (version ${upload?.version ?? "?"})`,
		);
		print(`› campaign ${CAMPAIGN_ID} ${await ensureCampaign(origin, tenant.secretKey)}`);
		const receiver = await startPushReceiver(print);
		closeReceiver = receiver.close;
		const store =
			stores.features.find(
				(/** @type {any} */ f) => f.geometry.type === "Point" && f.properties.tags?.includes("grocery"),
			) ?? stores.features[0];
		const userToken = await mintUserToken(origin, tenant.secretKey, DEMO_USER);
		// The demo shop (/demo/) shows an offer only if one can be sent: Alice consents and her
		// "browser" is the demo push receiver (what step 2 of the walk-through below does by hand).
		await api(origin, "PUT", `/v1/users/${DEMO_USER}`, {
			token: userToken.token,
			body: { firstName: "Alice", locale: "fr-FR", consent: { location: true, push: true } },
		});
		await api(origin, "PUT", `/v1/users/${DEMO_USER}/devices/alice-browser`, {
			token: userToken.token,
			body: { platform: "web", webPush: receiver.subscription },
		});
		print(
			walkThrough({
				origin,
				adminToken: explicitAdminToken ? undefined : adminToken,
				tenant,
				clientAuth,
				quietNow: settings?.quietHours !== null && parisQuietHoursNow(),
				userToken,
				store,
				subscription: receiver.subscription,
			}),
		);
	} catch (error) {
		if (stopping) return;
		console.error(`✘ could not load the demo: ${describeError(error)}`);
		await shutdown(1);
	}
}

try {
	if (!existsSync(GEOFENCES_FILE)) throw new Error(`missing ${path.relative(PROJECT_ROOT, GEOFENCES_FILE)}`);
	await main();
} catch (error) {
	console.error(`✘ ${describeError(error)}`);
	process.exit(1);
}
