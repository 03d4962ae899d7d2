/**
 * The harness the end-to-end suites share: a real `wrangler dev` (workerd, D1, Durable
 * Objects) on a fresh temporary state directory, a local push receiver standing in for
 * the push service, one tenant with quiet hours off, and helpers that talk to the
 * service through its public HTTP API only.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, expect } from "vitest";
import { z } from "zod";
import { type DevServer, startDevServer } from "../../scripts/lib/devserver.mjs";
import { type PushReceiver, type ReceivedPush, startPushReceiver } from "../helpers/push-receiver.js";

/** A tenant as `POST /v1/tenants` answers: its id, both API keys and the webhook secret. */
export const TenantSchema = z.object({
	id: z.string(),
	secretKey: z.string().startsWith("sk_"),
	publishableKey: z.string().startsWith("pk_"),
	webhookSecret: z.string().min(1),
});

/** A tenant as {@link TenantSchema} reads it. */
export type Tenant = z.infer<typeof TenantSchema>;

/** The answer of `POST /v1/users/{userId}/tokens`: a user token for that one person. */
export const UserTokenSchema = z.object({
	token: z.string().startsWith("ut_"),
	expiresAt: z.string().refine((s) => !Number.isNaN(Date.parse(s)), "an ISO 8601 time"),
});

/** The answer of `GET /v1/push/vapid-public-key`: the base64url VAPID public key. */
export const VapidKeySchema = z.object({ publicKey: z.string().regex(/^[\w-]+$/) });

/** One decision in the `offers` list of a ping or cart-event answer. */
export const DecisionSchema = z.object({
	offerId: z.string().optional(),
	campaignId: z.string(),
	variantId: z.string().optional(),
	decision: z.enum(["sent", "holdout", "suppressed"]),
	reason: z.string().optional(),
});

/** The decrypted body of an offer push. */
export const PushPayloadSchema = z.object({
	offerId: z.string(),
	title: z.string(),
	body: z.string(),
	url: z.string(),
});

/** Options of {@link useE2eService}. */
export interface E2eServiceOptions {
	/**
	 * Names the suite: the state lives in a temporary directory `edge-offers-e2e-<name>-…`
	 * and the tenant is called `e2e <name>`.
	 */
	name: string;
}

/** What {@link useE2eService} hands a suite; every member may be destructured and called alone. */
export interface E2eService {
	/** The running dev server, or a clear failure when start-up did not get that far. */
	api(): DevServer;
	/** The running push receiver, or a clear failure when start-up did not get that far. */
	pushReceiver(): PushReceiver;
	/** The suite's tenant, or a clear failure when it was not created. */
	tenant(): Tenant;
	/** The service's VAPID public key, or a clear failure when it was not fetched. */
	vapidPublicKey(): string;
	/**
	 * A user token (`ut_...`) for one person of the suite's tenant, minted through the API
	 * with the secret key as the tenant's back end would (one per person, reused): what the
	 * person's app sends for their profile, devices and pings.
	 */
	userToken(userId: string): Promise<string>;
	/**
	 * Calls the Worker with `key` as bearer token (none when `null`) and `body` as JSON;
	 * fails with the response body when the status is not `expected`, and returns the
	 * parsed JSON body (`null` when empty; a body that is not JSON fails).
	 */
	expectCall(
		expected: number,
		method: string,
		route: string,
		key: string | null,
		body?: unknown,
	): Promise<unknown>;
	/** The requests the push receiver got for `endpoint` (a subscription's full endpoint URL). */
	requestsTo(endpoint: string): ReceivedPush[];
	/**
	 * Checks that a push's `url` is the service's signed click link, which records the click
	 * and redirects (302) to `target`.
	 */
	expectLeadsTo(url: string, target: string): Promise<void>;
}

/**
 * Registers the suite's hooks and returns accessors to what they start. `beforeAll`
 * makes a temporary state directory, starts the push receiver and `wrangler dev`
 * (loopback push endpoints allowed), creates the tenant (in the default `clientAuth:
 * "user_token"` mode: apps act with {@link E2eService.userToken}), turns its quiet hours off
 * (they would make outcomes depend on when the suite runs) and fetches the VAPID public
 * key; `beforeEach` makes a failing test print the last wrangler output; `afterAll` stops
 * both servers and removes the directory. Call it once, at the top level of a test file;
 * the suite's own fixtures (geofences, campaigns) go in a `beforeAll` registered after it.
 */
export function useE2eService(options: E2eServiceOptions): E2eService {
	let server: DevServer | undefined;
	let receiver: PushReceiver | undefined;
	let persistDir: string | undefined;
	let tenant: Tenant | undefined;
	let vapidPublicKey = "";
	const serverLog: string[] = [];
	const userTokens = new Map<string, Promise<string>>();

	const service: E2eService = {
		api() {
			if (!server) throw new Error("dev server is not running");
			return server;
		},

		pushReceiver() {
			if (!receiver) throw new Error("push receiver is not running");
			return receiver;
		},

		tenant() {
			if (!tenant) throw new Error("the tenant was not created");
			return tenant;
		},

		vapidPublicKey() {
			if (vapidPublicKey === "") throw new Error("the VAPID public key was not fetched");
			return vapidPublicKey;
		},

		userToken(userId) {
			let token = userTokens.get(userId);
			if (!token) {
				token = service
					.expectCall(
						201,
						"POST",
						`/v1/users/${encodeURIComponent(userId)}/tokens`,
						service.tenant().secretKey,
						{ ttlSeconds: 3600 },
					)
					.then((answer) => UserTokenSchema.parse(answer).token);
				// A failed mint is not remembered: the next call tries again.
				token.catch(() => userTokens.delete(userId));
				userTokens.set(userId, token);
			}
			return token;
		},

		async expectCall(expected, method, route, key, body) {
			const headers: Record<string, string> = {};
			if (key !== null) headers.authorization = `Bearer ${key}`;
			if (body !== undefined) headers["content-type"] = "application/json";
			const res = await fetch(`${service.api().origin}${route}`, {
				method,
				headers,
				body: body === undefined ? undefined : JSON.stringify(body),
			});
			const text = await res.text();
			expect(res.status, `${method} ${route} answered ${res.status}: ${text.slice(0, 600)}`).toBe(expected);
			return text === "" ? null : JSON.parse(text);
		},

		requestsTo(endpoint) {
			const { pathname, search } = new URL(endpoint);
			return service.pushReceiver().received.filter((r) => r.path === pathname + search);
		},

		async expectLeadsTo(url, target) {
			const link = new URL(url);
			expect(link.pathname, `push url ${url} is not a click link`).toMatch(/^\/v1\/offers\/[^/]+\/click$/);
			const res = await fetch(`${service.api().origin}${link.pathname}${link.search}`, {
				redirect: "manual",
			});
			expect(res.status).toBe(302);
			expect(res.headers.get("location")).toBe(target);
		},
	};

	beforeAll(async () => {
		persistDir = await mkdtemp(path.join(tmpdir(), `edge-offers-e2e-${options.name}-`));
		receiver = await startPushReceiver();
		server = await startDevServer({
			port: 0,
			persistDir,
			vars: { ALLOW_INSECURE_LOOPBACK_PUSH: "true" },
			log: (line) => {
				serverLog.push(line);
				if (serverLog.length > 200) serverLog.shift();
			},
		});

		tenant = TenantSchema.parse(
			await service.expectCall(201, "POST", "/v1/tenants", service.api().adminToken, {
				name: `e2e ${options.name}`,
				timezone: "Europe/Paris",
			}),
		);
		// Quiet hours would make the outcome depend on when the suite runs.
		const settings = z
			.object({ clientAuth: z.string() })
			.parse(await service.expectCall(200, "PUT", "/v1/settings", tenant.secretKey, { quietHours: null }));
		// A new tenant's apps need user tokens: the publishable key alone acts for nobody.
		expect(settings.clientAuth).toBe("user_token");
		vapidPublicKey = VapidKeySchema.parse(
			await service.expectCall(200, "GET", "/v1/push/vapid-public-key", null),
		).publicKey;
	}, 180_000);

	beforeEach(({ onTestFailed }) => {
		onTestFailed(() => console.error(`wrangler output:\n${serverLog.slice(-60).join("\n")}`));
	});

	afterAll(async () => {
		await server?.stop();
		await receiver?.close();
		if (persistDir) await rm(persistDir, { recursive: true, force: true });
	});

	return service;
}
