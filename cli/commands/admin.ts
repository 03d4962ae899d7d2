/**
 * `tenants create` (admin token), `users token ID`, `vapid generate` and `replay FILE`.
 *
 * Keys are never printed: a new tenant's secret key and webhook secret go into a profile of the
 * profile file (mode 0600) and are shown masked; VAPID private keys go to a 0600 file. The one
 * exception is `users token`, whose output is the user token itself (a short-lived credential
 * for one person's app), alone on stdout so it can be piped.
 */
import { readFileSync, writeFileSync } from "node:fs";
import webpush from "web-push";
import {
	clock,
	describeAnswer,
	MAX_IMPLIED_SPEED,
	STATIONARY_SPEED,
	stepSpeeds,
} from "../../scripts/lib/trace.mjs";
import { CliError } from "../api.js";
import { maskKey, readConfig, writeConfig } from "../config.js";
import type { Ctx } from "../context.js";
import { parseTrace } from "../trace.js";

interface CreatedTenant {
	id: string;
	name: string;
	secretKey: string;
	publishableKey: string;
	webhookSecret: string;
}

export interface TenantOptions {
	name: string;
	timezone?: string;
	saveProfile?: string;
}

/** `tenants create` */
export async function createTenantCommand(ctx: Ctx, opts: TenantOptions): Promise<void> {
	const config = ctx.config();
	if (!config.adminToken)
		throw new CliError(
			"tenants create needs the admin token: set EDGE_OFFERS_ADMIN_TOKEN, pass --admin-token, or put adminToken in the profile",
		);
	const profileName = opts.saveProfile ?? opts.name.toLowerCase().replace(/[^a-z0-9._-]+/g, "-");
	const file = readConfig(ctx.env);
	if (file.profiles[profileName]?.key)
		throw new CliError(`profile "${profileName}" already holds a key; choose another with --save-profile`);
	const tenant = await ctx
		.client()
		.send<CreatedTenant>(
			"POST",
			"/v1/tenants",
			{ name: opts.name, ...(opts.timezone ? { timezone: opts.timezone } : {}) },
			{ token: config.adminToken },
		);
	file.profiles[profileName] = {
		url: ctx.client().url,
		key: tenant.secretKey,
		webhookSecret: tenant.webhookSecret,
	};
	const written = writeConfig(file, ctx.env);
	ctx.out(`tenant ${tenant.id} (${tenant.name}) created`);
	ctx.out(`publishable key: ${tenant.publishableKey}`);
	ctx.out(
		`secret key ${maskKey(tenant.secretKey)} and webhook secret ${maskKey(tenant.webhookSecret)} saved in profile "${profileName}" of ${written} (mode 600)`,
	);
	ctx.out(`use it with: edge-offers --profile ${profileName} ...`);
}

/** `users token ID` */
export async function userTokenCommand(ctx: Ctx, userId: string, opts: { ttl?: number }): Promise<void> {
	const answer = await ctx
		.client()
		.send<{ token: string; expiresAt: string }>(
			"POST",
			`/v1/users/${encodeURIComponent(userId)}/tokens`,
			opts.ttl ? { ttlSeconds: opts.ttl } : {},
		);
	ctx.out(answer.token);
	if (!ctx.quiet) ctx.err(`user token for ${userId}, valid until ${answer.expiresAt}`);
}

/** `vapid generate` */
export function vapidCommand(ctx: Ctx, opts: { out: string; force?: boolean }): void {
	const keys = webpush.generateVAPIDKeys();
	try {
		writeFileSync(opts.out, `VAPID_PUBLIC_KEY=${keys.publicKey}\nVAPID_PRIVATE_KEY=${keys.privateKey}\n`, {
			mode: 0o600,
			flag: opts.force ? "w" : "wx",
		});
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === "EEXIST")
			throw new CliError(`${opts.out} exists; pass --force to replace it or --out another file`);
		throw new CliError(`cannot write ${opts.out}: ${(error as Error).message}`);
	}
	ctx.out(`VAPID_PUBLIC_KEY=${keys.publicKey}`);
	ctx.out(
		`both keys written to ${opts.out} (mode 600); load them with npx wrangler secret put VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY (or put both lines in .dev.vars for local development)`,
	);
}

export interface ReplayOptions {
	user?: string;
	speed?: number;
	accuracy: number;
	interval: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** `replay FILE`: the trace played as pings of one person, each answer printed as it comes. */
export async function replayCommand(ctx: Ctx, file: string, opts: ReplayOptions): Promise<void> {
	let trace: ReturnType<typeof parseTrace>;
	try {
		trace = parseTrace(file, readFileSync(file, "utf8"), {
			accuracy: opts.accuracy,
			intervalSeconds: opts.interval,
		});
	} catch (error) {
		throw new CliError(`${file}: ${(error as Error).message}`);
	}
	const userId = opts.user ?? trace.userId ?? "replay-walker";
	const speeds = stepSpeeds(trace.pings);
	const fastest = Math.max(...speeds);
	const safe = fastest > 0 ? Math.max(1, Math.floor(MAX_IMPLIED_SPEED / fastest)) : 60;
	const speed = opts.speed ?? Math.min(60, safe);
	if (speed > safe)
		ctx.err(
			`! at --speed ${speed} the pings imply up to ${Math.round(fastest * speed)} m/s; the service ignores pings above 100 m/s (${safe} or less keeps under ${MAX_IMPLIED_SPEED} m/s)`,
		);
	const client = ctx.client();
	const userPath = `/v1/users/${encodeURIComponent(userId)}`;
	const gaps = trace.pings.map((p, i) => {
		const prev = trace.pings[i - 1];
		return prev ? ((p.offsetSeconds - prev.offsetSeconds) * 1000) / speed : 0;
	});
	const totalMs = gaps.reduce((a, b) => a + b, 0);
	const ttlSeconds = Math.min(604_800, Math.max(3_600, Math.ceil(totalMs / 1000) + 600));
	// As the tenant's back end does for its app: a token for this one person.
	const { token } = await client.send<{ token: string }>("POST", `${userPath}/tokens`, { ttlSeconds });
	await client.send(
		"PUT",
		userPath,
		{ firstName: "Replay", consent: { location: true, push: true } },
		{ token },
	);
	const last = trace.pings.at(-1)?.offsetSeconds ?? 0;
	ctx.err(
		`replaying ${trace.pings.length} pings of ${userId} (${clock(last)} of the trace) at ${speed}x: about ${Math.ceil(totalMs / 1000)} s`,
	);
	const stays = speeds.filter((s, i) => i > 0 && s < STATIONARY_SPEED).length;
	if (stays > 0 && speed > 1)
		ctx.err(
			"  dwell alarms run on the real clock: stays compressed in time are too short for them (--speed 1 plays them fully)",
		);
	const start = Date.now();
	let due = start;
	for (const [i, ping] of trace.pings.entries()) {
		due += gaps[i] ?? 0;
		await sleep(due - Date.now());
		const timestamp = Date.now();
		const answer = await client.send(
			"POST",
			"/v1/pings",
			{ userId, pings: [{ lat: ping.lat, lng: ping.lng, accuracy: ping.accuracy, timestamp }] },
			{ token },
		);
		for (const line of describeAnswer(ping, answer, timestamp)) ctx.out(line);
	}
}
