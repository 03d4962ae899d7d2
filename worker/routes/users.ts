import { AppError } from "../../src/errors.js";
import { checkPushEndpoint } from "../../src/push/endpoint.js";
import { PageLimit } from "../../src/schemas/common.js";
import { PingBatchSchema } from "../../src/schemas/ping.js";
import { DeviceId, MintTokenSchema, PutDeviceSchema, PutUserSchema, UserId } from "../../src/schemas/user.js";
import { attributeRoutes } from "../audience.js";
import { eraseUserRows, userRows } from "../db.js";
import { eraseUserEvents, userEvents } from "../events.js";
import { body, iso, json, parse, readJson } from "../http.js";
import { allowInsecureLoopback } from "../push.js";
import type { AppRouter } from "../router.js";
import type { RateLimited } from "../shopper.js";
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

/**
 * People: their own apps (user token, or the publishable key where the tenant allows it)
 * set profile, consent, devices and send pings, and are told nothing they did not send;
 * the back office (secret key) reads, exports and erases.
 */
export function userRoutes(router: AppRouter): void {
	// CRM attributes from the back office (audiences).
	attributeRoutes(router);

	router.post("/v1/users/:userId/tokens", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const userId = parse(UserId, req.params.userId);
		const { ttlSeconds } = parse(MintTokenSchema, await readJson(req, 1024, { emptyAs: {} }));
		const { token, expiresAt } = await mintUserToken(env, tenant.id, userId, ttlSeconds, Date.now());
		return json({ token, expiresAt: iso(expiresAt) }, 201, { "cache-control": "no-store" });
	});

	router.put("/v1/users/:userId", async (req, env) => {
		const caller = await requireApp(req, env);
		const userId = parse(UserId, req.params.userId);
		await actFor(env, caller, userId);
		const input = await body(req, PutUserSchema);
		const done = admitted(
			await shopper(env, caller.tenant.id, userId).putProfile(caller.tenant.id, userId, input, Date.now()),
		);
		return json({ userId, ...input, updatedAt: done.updatedAt });
	});

	router.put("/v1/users/:userId/devices/:deviceId", async (req, env) => {
		const caller = await requireApp(req, env);
		const userId = parse(UserId, req.params.userId);
		const deviceId = parse(DeviceId, req.params.deviceId);
		await actFor(env, caller, userId);
		const input = await body(req, PutDeviceSchema);
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
	});

	router.delete("/v1/users/:userId/devices/:deviceId", async (req, env) => {
		const caller = await requireApp(req, env);
		const userId = parse(UserId, req.params.userId);
		const deviceId = parse(DeviceId, req.params.deviceId);
		await actFor(env, caller, userId);
		admitted(await shopper(env, caller.tenant.id, userId).deleteDevice(deviceId, Date.now()));
		return new Response(null, { status: 204 });
	});

	router.get("/v1/users/:userId", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const userId = parse(UserId, req.params.userId);
		const view = await shopper(env, tenant.id, userId).getProfile();
		if (!view) throw new AppError("not_found", 404, "No user with this id.");
		return json(view);
	});

	router.get("/v1/users/:userId/export", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const userId = parse(UserId, req.params.userId);
		const [person, rows, events] = await Promise.all([
			shopper(env, tenant.id, userId).exportData(),
			userRows(env, tenant.id, userId),
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
			"cache-control": "no-store",
			"content-disposition": `attachment; filename="user-${userId}.json"`,
		});
	});

	router.delete("/v1/users/:userId", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const userId = parse(UserId, req.params.userId);
		// The object first: once it holds the tombstone, nothing new about the person is
		// stored, so the rows deleted next cannot come back.
		await shopper(env, tenant.id, userId).erase(Date.now());
		await eraseUserRows(env, tenant.id, userId);
		await eraseUserEvents(env, tenant.id, userId);
		return new Response(null, { status: 204 });
	});

	router.get("/v1/users/:userId/decisions", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const userId = parse(UserId, req.params.userId);
		const limit = parse(PageLimit, new URL(req.url).searchParams.get("limit") ?? "50");
		const { results } = await env.DB.prepare(
			`SELECT trigger, campaign_id, variant_id, decision, reason, offer_id, created_at, audience_failed
			   FROM decisions WHERE tenant_id = ? AND user_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`,
		)
			.bind(tenant.id, userId, limit)
			.all<{
				trigger: string;
				campaign_id: string;
				variant_id: string | null;
				decision: string;
				reason: string | null;
				offer_id: string | null;
				created_at: string;
				audience_failed: string | null;
			}>();
		return json({
			decisions: results.map((r) => ({
				trigger: JSON.parse(r.trigger) as unknown,
				campaignId: r.campaign_id,
				variantId: r.variant_id,
				decision: r.decision,
				reason: r.reason,
				offerId: r.offer_id,
				at: r.created_at,
				// not_in_audience: the condition that kept the person out, at its path.
				...(r.audience_failed ? { failed: JSON.parse(r.audience_failed) as unknown } : {}),
			})),
		});
	});

	router.post("/v1/pings", async (req, env) => {
		const caller = await requireApp(req, env);
		const batch = await body(req, PingBatchSchema, 256 * 1024);
		await actFor(env, caller, batch.userId);
		const pings = batch.pings.map((p) => ({ lat: p.lat, lng: p.lng, accuracy: p.accuracy, t: p.timestamp }));
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
	});
}
