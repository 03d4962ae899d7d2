import { z } from "zod";
import { type OfferLinks, OfferLinksSchema, resolveClick, verifyClick } from "../../src/offers/click.js";
import { ClickQuerySchema, OfferEventSchema, OfferId } from "../../src/schemas/tracking.js";
import { endpoint } from "../api.js";
import { clickKey } from "../crypto.js";
import { iso, problem } from "../http.js";
import { logError } from "../log.js";
import type { ApiRouter } from "../router.js";
import { insertOfferEvent, type OfferRow, offerById, offerOfTenant } from "../store/offers.js";
import { requireOfferReporter } from "../tenants.js";
import { shopper } from "./users.js";

/** A click link is opened by a browser from a notification: never cached, never leaking the signed URL onwards. */
const CLICK_HEADERS = { "cache-control": "no-store", "referrer-policy": "no-referrer" };

function withClickHeaders(res: Response): Response {
	const h = new Headers(res.headers);
	for (const [k, v] of Object.entries(CLICK_HEADERS)) h.set(k, v);
	return new Response(res.body, { status: res.status, headers: h });
}

const OfferParams = z.object({
	offerId: OfferId.meta({
		description: "the offer's id (from the push payload)",
		example: "of_8Jk2mQ9xLp3v",
	}),
});

/** Offer tracking: the signed click link and events reported by apps (the service worker is in worker/static/assets.ts). */
export function offerRoutes(api: ApiRouter): void {
	api.get(
		"/v1/offers/:offerId/click",
		endpoint(
			{
				operationId: "clickOffer",
				summary: "Signed click link from a push: records the click, then redirects to the offer's URL",
				description:
					"Opened by the browser from a notification. Anything not signed by the service (missing, malformed, repeated or wrong sig or action) is the same 403, checked before the database. The destination is the offer's stored link, never the query string. Cache-Control: no-store, Referrer-Policy: no-referrer.",
				tags: ["offers"],
				auth: "none",
				params: OfferParams,
				query: ClickQuerySchema.extend({
					sig: ClickQuerySchema.shape.sig.meta({
						description: "the service's signature of the offer id and action",
					}),
					action: ClickQuerySchema.shape.action.meta({
						description: "the action button clicked; absent for the notification",
					}),
				}),
				responses: {
					302: {
						description: "to the offer's (or the action's) URL",
						headers: { Location: { description: "the stored target", schema: { type: "string" } } },
					},
					204: { description: "recorded; the offer has no link" },
				},
				problems: [403, 404],
			},
			async ({ req, env }) => {
				const url = new URL(req.url);
				const one = (name: string) => {
					const all = url.searchParams.getAll(name);
					return all.length === 1 ? all[0] : all.length === 0 ? undefined : null;
				};
				// Validated here rather than by query(): a repeated parameter, or any invalid one, is the
				// one 403 below, not a 422 that would tell what was wrong.
				const id = OfferId.safeParse(req.params.offerId);
				const q = ClickQuerySchema.safeParse({ sig: one("sig"), action: one("action") });
				// Anything we did not sign (missing, malformed, repeated or wrong) is one answer, checked
				// before the database so it tells nothing about which offers exist.
				if (
					!id.success ||
					!q.success ||
					!(await verifyClick(await clickKey(env), id.data, q.data.action ?? null, q.data.sig))
				)
					return withClickHeaders(problem(403, "bad_signature", "This link is not valid."));
				const action = q.data.action ?? null;

				const offer = await offerById(env.DB, id.data);
				if (!offer) return withClickHeaders(problem(404, "not_found", "This offer no longer exists."));

				const target = resolveClick(offerLinks(offer), action);
				if (target.kind === "unknown_action")
					return withClickHeaders(problem(404, "unknown_action", "This offer has no such action."));
				await recordEvent(env, id.data, offer, "clicked", action);
				if (target.kind === "none") return new Response(null, { status: 204, headers: CLICK_HEADERS });
				return new Response(null, { status: 302, headers: { ...CLICK_HEADERS, location: target.url } });
			},
		),
	);

	api.post(
		"/v1/offers/:offerId/events",
		endpoint(
			{
				operationId: "reportOfferEvent",
				summary: "Report an offer displayed, dismissed or clicked",
				description:
					"The offer id is the capability: the publishable key in every clientAuth mode, or a user token (then only for the person's own offers).",
				tags: ["offers"],
				auth: "offerReporter",
				params: OfferParams,
				body: {
					schema: OfferEventSchema,
					maxBytes: 4096,
					example: { type: "clicked", action: "directions" },
				},
				responses: { 204: { description: "recorded" } },
				problems: [404, 429],
			},
			async ({ req, env, params, body }) => {
				const caller = await requireOfferReporter(req, env);
				const { offerId } = params();
				const event = await body();
				const offer = await offerOfTenant(env.DB, offerId, caller.tenant.id);
				// A user token reports only on its own person's offers.
				if (!offer || (caller.userId !== null && offer.user_id !== caller.userId))
					return problem(404, "not_found", "No offer with this id.");
				await recordEvent(env, offerId, offer, event.type, event.action ?? null);
				return new Response(null, { status: 204 });
			},
		),
	);
}

/** The offer's stored links; null when none were stored (the variant had none) or they do not parse. */
function offerLinks(offer: OfferRow): OfferLinks | null {
	if (offer.links === null) return null;
	const stored = OfferLinksSchema.safeParse(safeJson(offer.links));
	return stored.success ? stored.data : null;
}

function safeJson(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return null;
	}
}

async function recordEvent(
	env: Env,
	offerId: string,
	offer: OfferRow,
	type: "displayed" | "dismissed" | "clicked",
	action: string | null,
): Promise<unknown> {
	// offer.displayed / offer.clicked events go out through the person's object, in their order.
	// A click's redirect never fails for it: the funnel row below is written all the same.
	if (type !== "dismissed")
		await shopper(env, offer.tenant_id, offer.user_id)
			.offerReported(
				offer.tenant_id,
				offer.user_id,
				{ type, offerId, campaignId: offer.campaign_id, variantId: offer.variant_id, action },
				Date.now(),
			)
			.catch((e: unknown) => logError("offer_report_event_failed", e));
	return insertOfferEvent(env.DB, { offerId, offer, type, action, at: iso(Date.now()) });
}
