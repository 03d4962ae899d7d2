import { AppError } from "../../src/errors.js";
import { checkPushEndpoint } from "../../src/push/endpoint.js";
import { PageLimit } from "../../src/schemas/common.js";
import { PingBatchSchema } from "../../src/schemas/ping.js";
import { DeviceId, PutDeviceSchema, PutUserSchema, UserId } from "../../src/schemas/user.js";
import { body, json, parse } from "../http.js";
import { allowInsecureLoopback } from "../push.js";
import type { AppRouter } from "../router.js";
import { requireKey } from "../tenants.js";

/** The person's Durable Object: tenant-scoped by name, so one tenant's key never reaches another's people. */
export function shopper(env: Env, tenantId: string, userId: string) {
	return env.SHOPPER.get(env.SHOPPER.idFromName(`${tenantId}:${userId}`));
}

/** People, devices, consent, erasure, the decision trace, and pings. */
export function userRoutes(router: AppRouter): void {
	router.put("/v1/users/:userId", async (req, env) => {
		const tenant = await requireKey(req, env, "publishable");
		const userId = parse(UserId, req.params.userId);
		const input = await body(req, PutUserSchema);
		return json(await shopper(env, tenant.id, userId).putProfile(tenant.id, userId, input, Date.now()));
	});

	router.put("/v1/users/:userId/devices/:deviceId", async (req, env) => {
		const tenant = await requireKey(req, env, "publishable");
		const userId = parse(UserId, req.params.userId);
		const deviceId = parse(DeviceId, req.params.deviceId);
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
		const view = await shopper(env, tenant.id, userId).putDevice(deviceId, input, Date.now());
		if (!view)
			throw new AppError("not_found", 404, "Unknown user: PUT /v1/users/{userId} with consent first.");
		return json(view);
	});

	router.get("/v1/users/:userId", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const userId = parse(UserId, req.params.userId);
		const view = await shopper(env, tenant.id, userId).getProfile();
		if (!view) throw new AppError("not_found", 404, "No user with this id.");
		return json(view);
	});

	router.delete("/v1/users/:userId", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const userId = parse(UserId, req.params.userId);
		await shopper(env, tenant.id, userId).erase();
		await env.DB.batch([
			env.DB.prepare(
				"DELETE FROM offer_events WHERE tenant_id = ? AND offer_id IN (SELECT id FROM offers WHERE tenant_id = ? AND user_id = ?)",
			).bind(tenant.id, tenant.id, userId),
			env.DB.prepare("DELETE FROM conversions WHERE tenant_id = ? AND user_id = ?").bind(tenant.id, userId),
			env.DB.prepare("DELETE FROM decisions WHERE tenant_id = ? AND user_id = ?").bind(tenant.id, userId),
			env.DB.prepare("DELETE FROM offers WHERE tenant_id = ? AND user_id = ?").bind(tenant.id, userId),
		]);
		return new Response(null, { status: 204 });
	});

	router.get("/v1/users/:userId/decisions", async (req, env) => {
		const tenant = await requireKey(req, env, "secret");
		const userId = parse(UserId, req.params.userId);
		const limit = parse(PageLimit, new URL(req.url).searchParams.get("limit") ?? "50");
		const { results } = await env.DB.prepare(
			`SELECT trigger, campaign_id, variant_id, decision, reason, offer_id, created_at
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
			})),
		});
	});

	router.post("/v1/pings", async (req, env) => {
		const tenant = await requireKey(req, env, "publishable");
		const batch = await body(req, PingBatchSchema, 256 * 1024);
		const pings = batch.pings.map((p) => ({ lat: p.lat, lng: p.lng, accuracy: p.accuracy, t: p.timestamp }));
		return json(
			await shopper(env, tenant.id, batch.userId).pings(
				tenant,
				batch.userId,
				batch.deviceId ?? null,
				pings,
				Date.now(),
				new URL(req.url).origin,
			),
		);
	});
}
