import { z } from "zod";
import { AppError } from "../../src/errors.js";
import { checkPushEndpoint } from "../../src/push/endpoint.js";
import { PageLimit } from "../../src/schemas/common.js";
import { PingAnswerSchema, PingBatchSchema } from "../../src/schemas/ping.js";
import { DeviceId, MintTokenSchema, PutDeviceSchema, PutUserSchema, UserId } from "../../src/schemas/user.js";
import { endpoint } from "../api.js";
import { attributeRoutes } from "../audience.js";
import { eraseUserEvents, userEvents } from "../events.js";
import { iso, json } from "../http.js";
import { allowInsecureLoopback } from "../push.js";
import type { ApiRouter } from "../router.js";
import type { RateLimited } from "../shopper.js";
import { eraseUserRows, recentDecisions, userRows } from "../store/offers.js";
import { actFor, requireApp, requireKey } from "../tenants.js";
import { mintUserToken } from "../user-tokens.js";

/** The person's Durable Object: tenant-scoped by name, so one tenant's key never reaches another's people. */
export function shopper(env: Env, tenantId: string, userId: string) {
	return env.SHOPPER.get(env.SHOPPER.idFromName(`${tenantId}:${userId}`));
}

/** A person's request budget spent: 429 with when to come back. */
function admitted<T>(answer: T): Exclude<T, RateLimited> {
	if (isRateLimited(answer))
		throw new AppError(
			"rate_limited",
			429,
			"Too many requests for this person.",
			undefined,
			answer.retryAfterSeconds,
		);
	return answer as Exclude<T, RateLimited>;
}

function isRateLimited(answer: unknown): answer is RateLimited {
	return answer !== null && typeof answer === "object" && "rateLimited" in answer;
}

const UserParams = z.object({
	userId: UserId.meta({ description: "the person's id in the tenant's systems", example: "alice" }),
});
const DeviceParams = UserParams.extend({
	deviceId: DeviceId.meta({ description: "the app install's id", example: "phone-1" }),
});
const NO_STORE = { "cache-control": "no-store" };

/** The person's stored view (src/person): profile, consent, devices without keys. */
const ProfileView = z
	.object({ userId: z.string() })
	.catchall(z.unknown())
	.meta({ description: "profile, consent, attributes, interests, devices (never push keys)" });

/**
 * People: their own apps (user token, or the publishable key where the tenant allows it)
 * set profile, consent, devices and send pings, and are told nothing they did not send;
 * the back office (secret key) reads, exports and erases.
 */
export function userRoutes(api: ApiRouter): void {
	// CRM attributes from the back office (worker/audience.ts; documented in src/schemas/openapi.ts).
	attributeRoutes(api);

	api.post(
		"/v1/users/:userId/tokens",
		endpoint(
			{
				operationId: "mintUserToken",
				summary: "Mint a short-lived user token (ut_) for one person, for that person's app",
				tags: ["users"],
				auth: "secret",
				params: UserParams,
				body: { schema: MintTokenSchema, maxBytes: 1024, example: { ttlSeconds: 86400 }, emptyAs: {} },
				responses: {
					201: {
						description: "the token (acts only for this person)",
						schema: z.object({ token: z.string(), expiresAt: z.string().meta({ format: "date-time" }) }),
					},
				},
				problems: [429],
			},
			async ({ req, env, params, body }) => {
				const tenant = await requireKey(req, env, "secret");
				const { userId } = params();
				const { ttlSeconds } = await body();
				const { token, expiresAt } = await mintUserToken(env, tenant.id, userId, ttlSeconds, Date.now());
				return json({ token, expiresAt: iso(expiresAt) }, 201, NO_STORE);
			},
		),
	);

	api.put(
		"/v1/users/:userId",
		endpoint(
			{
				operationId: "putUser",
				summary: "Create or replace a person's profile and consent (the person's own app)",
				tags: ["users"],
				auth: "app",
				params: UserParams,
				body: {
					schema: PutUserSchema,
					maxBytes: 64 * 1024,
					example: {
						firstName: "Alice",
						locale: "fr-FR",
						timezone: "Europe/Paris",
						interests: ["wine"],
						consent: { location: true, push: true },
					},
				},
				responses: {
					200: {
						description: "what was sent, with updatedAt (nothing else about the person)",
						schema: z
							.object({ userId: z.string(), updatedAt: z.string().meta({ format: "date-time" }) })
							.catchall(z.unknown()),
					},
				},
				problems: [429],
			},
			async ({ req, env, params, body }) => {
				const caller = await requireApp(req, env);
				const { userId } = params();
				await actFor(env, caller, userId);
				const input = await body();
				const done = admitted(
					await shopper(env, caller.tenant.id, userId).putProfile(
						caller.tenant.id,
						userId,
						input,
						Date.now(),
					),
				);
				return json({ userId, ...input, updatedAt: done.updatedAt });
			},
		),
	);

	api.put(
		"/v1/users/:userId/devices/:deviceId",
		endpoint(
			{
				operationId: "putDevice",
				summary:
					"Register a device and its push subscription; past maxDevicesPerUser the least recently seen go",
				tags: ["users"],
				auth: "app",
				params: DeviceParams,
				body: {
					schema: PutDeviceSchema,
					maxBytes: 64 * 1024,
					example: { platform: "android", fcmToken: "fcm-registration-token-of-the-install" },
				},
				responses: {
					200: {
						description: "the device registered (nothing else about the person)",
						schema: z.object({
							userId: z.string(),
							deviceId: z.string(),
							platform: z.string(),
							lastSeenAt: z.string().meta({ format: "date-time" }),
						}),
					},
				},
				problems: [404, 429],
			},
			async ({ req, env, params, body }) => {
				const caller = await requireApp(req, env);
				const { userId, deviceId } = params();
				await actFor(env, caller, userId);
				const input = await body();
				if (input.webPush) {
					const check = checkPushEndpoint(input.webPush.endpoint, {
						allowInsecureLoopback: allowInsecureLoopback(env),
					});
					if (!check.ok) {
						throw new AppError("validation_failed", 422, "The push endpoint is not allowed.", [
							{
								path: ["webPush", "endpoint"],
								message: "not an allowed push service endpoint",
								code: check.code,
							},
						]);
					}
				}
				const done = admitted(
					await shopper(env, caller.tenant.id, userId).putDevice(
						deviceId,
						input,
						caller.tenant.settings.maxDevicesPerUser,
						Date.now(),
					),
				);
				if (!done)
					throw new AppError("not_found", 404, "Unknown user: PUT /v1/users/{userId} with consent first.");
				// Only what the caller sent: never the person's other devices or profile.
				return json({ userId, deviceId, platform: input.platform, lastSeenAt: done.lastSeenAt });
			},
		),
	);

	api.delete(
		"/v1/users/:userId/devices/:deviceId",
		endpoint(
			{
				operationId: "deleteDevice",
				summary: "Remove a device (the same answer whether it existed or not)",
				tags: ["users"],
				auth: "app",
				params: DeviceParams,
				responses: { 204: { description: "removed" } },
				problems: [429],
			},
			async ({ req, env, params }) => {
				const caller = await requireApp(req, env);
				const { userId, deviceId } = params();
				await actFor(env, caller, userId);
				admitted(await shopper(env, caller.tenant.id, userId).deleteDevice(deviceId, Date.now()));
				return new Response(null, { status: 204 });
			},
		),
	);

	api.get(
		"/v1/users/:userId",
		endpoint(
			{
				operationId: "getUser",
				summary: "Profile, consent and devices (never keys)",
				tags: ["users"],
				auth: "secret",
				params: UserParams,
				responses: { 200: { description: "the person", schema: ProfileView } },
				problems: [404, 429],
			},
			async ({ req, env, params }) => {
				const tenant = await requireKey(req, env, "secret");
				const { userId } = params();
				const view = await shopper(env, tenant.id, userId).getProfile();
				if (!view) throw new AppError("not_found", 404, "No user with this id.");
				return json(view);
			},
		),
	);

	api.get(
		"/v1/users/:userId/export",
		endpoint(
			{
				operationId: "exportUser",
				summary: "Everything stored about the person (a JSON attachment)",
				description:
					"Profile, consent, devices (never keys), presence, cart, purchases, decisions, offers and their events, conversions, cart event ids and the person's events.",
				tags: ["users"],
				auth: "secret",
				params: UserParams,
				responses: {
					200: {
						description: "the export",
						schema: z
							.object({ userId: z.string(), exportedAt: z.string().meta({ format: "date-time" }) })
							.catchall(z.unknown()),
						headers: {
							"Content-Disposition": {
								description: 'attachment; filename="user-<id>.json"',
								schema: { type: "string" },
							},
						},
					},
				},
				problems: [404, 429],
			},
			async ({ req, env, params }) => {
				const tenant = await requireKey(req, env, "secret");
				const { userId } = params();
				const [person, rows, events] = await Promise.all([
					shopper(env, tenant.id, userId).exportData(),
					userRows(env.DB, tenant.id, userId),
					userEvents(env, tenant.id, userId),
				]);
				if (
					!person &&
					rows.decisions.length === 0 &&
					rows.offers.length === 0 &&
					rows.cartEvents.length === 0 &&
					events.length === 0
				)
					throw new AppError("not_found", 404, "Nothing is stored about this user.");
				const exported = {
					userId,
					exportedAt: iso(Date.now()),
					...(person ?? { profile: null }),
					...rows,
					events,
				};
				return json(exported, 200, {
					...NO_STORE,
					"content-disposition": `attachment; filename="user-${userId}.json"`,
				});
			},
		),
	);

	api.delete(
		"/v1/users/:userId",
		endpoint(
			{
				operationId: "deleteUser",
				summary: "Erase every trace of the person",
				tags: ["users"],
				auth: "secret",
				params: UserParams,
				responses: { 204: { description: "erased" } },
				problems: [429],
			},
			async ({ req, env, params }) => {
				const tenant = await requireKey(req, env, "secret");
				const { userId } = params();
				// The object first: once it holds the tombstone, nothing new about the person is
				// stored, so the rows deleted next cannot come back.
				await shopper(env, tenant.id, userId).erase(Date.now());
				await eraseUserRows(env.DB, tenant.id, userId);
				await eraseUserEvents(env, tenant.id, userId);
				return new Response(null, { status: 204 });
			},
		),
	);

	api.get(
		"/v1/users/:userId/decisions",
		endpoint(
			{
				operationId: "listUserDecisions",
				summary: "Recent decisions, newest first",
				tags: ["users"],
				auth: "secret",
				params: UserParams,
				query: z.object({
					limit: PageLimit.optional().meta({ description: "1 to 1000, default 50", example: "50" }),
				}),
				responses: {
					200: {
						description: "the decisions (not_in_audience ones name the failed condition)",
						schema: z.object({
							decisions: z.array(
								z.object({
									trigger: z.unknown(),
									campaignId: z.string(),
									variantId: z.string().nullable(),
									decision: z.string(),
									reason: z.string().nullable(),
									offerId: z.string().nullable(),
									at: z.string().meta({ format: "date-time" }),
									failed: z.unknown().optional(),
								}),
							),
						}),
					},
				},
				problems: [429],
			},
			async ({ req, env, params, query }) => {
				const tenant = await requireKey(req, env, "secret");
				const { userId } = params();
				const limit = query().limit ?? 50;
				return json({ decisions: await recentDecisions(env.DB, tenant.id, userId, limit) });
			},
		),
	);

	api.post(
		"/v1/pings",
		endpoint(
			{
				operationId: "postPings",
				summary: "Location pings (1 to 100)",
				description:
					"With the publishable key the answer is only {received} (the answer must not tell where the person was); with a user token, the person's events and offers. The same batchId again answers as the first time and applies nothing.",
				tags: ["users"],
				auth: "app",
				body: {
					schema: PingBatchSchema,
					maxBytes: 256 * 1024,
					example: {
						userId: "alice",
						deviceId: "phone-1",
						batchId: "b-000123",
						pings: [{ lat: 48.8566, lng: 2.3522, accuracy: 12, timestamp: "2026-12-02T16:00:00Z" }],
					},
				},
				responses: { 200: { description: "events and offer decisions", schema: PingAnswerSchema } },
				problems: [429],
			},
			async ({ req, env, body }) => {
				const caller = await requireApp(req, env);
				const batch = await body();
				await actFor(env, caller, batch.userId);
				const pings = batch.pings.map((p) => ({
					lat: p.lat,
					lng: p.lng,
					accuracy: p.accuracy,
					t: p.timestamp,
				}));
				const answer = admitted(
					await shopper(env, caller.tenant.id, batch.userId).pings(
						caller.tenant,
						batch.userId,
						batch.deviceId ?? null,
						pings,
						Date.now(),
						batch.batchId ?? null,
					),
				);
				// The publishable key is in every copy of the app: its holder may be anyone, so the
				// answer must not vary with where the person was (no location oracle).
				if (caller.userId === null) return json({ received: answer.received });
				return json(answer);
			},
		),
	);
}
