import { type OfferLinks, OfferLinksSchema, resolveClick, verifyClick } from "../../src/offers/click.js";
import { ClickQuerySchema, OfferEventSchema, OfferId } from "../../src/schemas/tracking.js";
import { clickKey } from "../crypto.js";
import { body, iso, parse, problem } from "../http.js";
import type { AppRouter } from "../router.js";
import { requireOfferReporter } from "../tenants.js";
import { shopper } from "./users.js";

interface OfferRow {
	tenant_id: string;
	user_id: string;
	campaign_id: string;
	variant_id: string | null;
	links: string | null;
}

/** A click link is opened by a browser from a notification: never cached, never leaking the signed URL onwards. */
const CLICK_HEADERS = { "cache-control": "no-store", "referrer-policy": "no-referrer" };

function withClickHeaders(res: Response): Response {
	const h = new Headers(res.headers);
	for (const [k, v] of Object.entries(CLICK_HEADERS)) h.set(k, v);
	return new Response(res.body, { status: res.status, headers: h });
}

/** Offer tracking: the signed click link and events reported by apps (the service worker is in worker/static/assets.ts). */
export function offerRoutes(router: AppRouter): void {
	router.get("/v1/offers/:offerId/click", async (req, env) => {
		const url = new URL(req.url);
		const one = (name: string) => {
			const all = url.searchParams.getAll(name);
			return all.length === 1 ? all[0] : all.length === 0 ? undefined : null;
		};
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

		const offer = await env.DB.prepare(
			"SELECT tenant_id, user_id, campaign_id, variant_id, links FROM offers WHERE id = ?",
		)
			.bind(id.data)
			.first<OfferRow>();
		if (!offer) return withClickHeaders(problem(404, "not_found", "This offer no longer exists."));

		const target = resolveClick(offerLinks(offer), action);
		if (target.kind === "unknown_action")
			return withClickHeaders(problem(404, "unknown_action", "This offer has no such action."));
		await recordEvent(env, id.data, offer, "clicked", action);
		if (target.kind === "none") return new Response(null, { status: 204, headers: CLICK_HEADERS });
		return new Response(null, { status: 302, headers: { ...CLICK_HEADERS, location: target.url } });
	});

	router.post("/v1/offers/:offerId/events", async (req, env) => {
		const caller = await requireOfferReporter(req, env);
		const offerId = parse(OfferId, req.params.offerId);
		const event = await body(req, OfferEventSchema, 4096);
		const offer = await env.DB.prepare(
			"SELECT tenant_id, user_id, campaign_id, variant_id, links FROM offers WHERE id = ? AND tenant_id = ?",
		)
			.bind(offerId, caller.tenant.id)
			.first<OfferRow>();
		// A user token reports only on its own person's offers.
		if (!offer || (caller.userId !== null && offer.user_id !== caller.userId))
			return problem(404, "not_found", "No offer with this id.");
		await recordEvent(env, offerId, offer, event.type, event.action ?? null);
		return new Response(null, { status: 204 });
	});
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
			.catch((e: unknown) =>
				console.error("events: an offer report was not recorded", e instanceof Error ? e.message : e),
			);
	return env.DB.prepare(
		`INSERT INTO offer_events (id, tenant_id, offer_id, campaign_id, variant_id, type, action, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
	)
		.bind(
			crypto.randomUUID(),
			offer.tenant_id,
			offerId,
			offer.campaign_id,
			offer.variant_id,
			type,
			action,
			iso(Date.now()),
		)
		.run();
}
