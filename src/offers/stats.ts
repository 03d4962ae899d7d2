/**
 * A campaign's funnel from grouped rows of the decision, offer, event and conversion
 * logs. Pure: the Worker runs the `GROUP BY` queries and hands the rows here.
 *
 * Grouping rules, so every row lands in exactly one group:
 * - a `holdout` decision (and a conversion with `holdout = 1`) goes to the holdout group,
 *   even though it carries the variant the person would have got;
 * - any other row goes to its `variant_id`'s group;
 * - a row with no `variant_id` goes to the `unassigned` group, shown only when non-empty.
 */
import type { CampaignStats, FunnelGroup } from "../schemas/tracking.js";

/** `SELECT variant_id, decision, reason, COUNT(*) AS n FROM decisions … GROUP BY 1, 2, 3`. */
export interface DecisionCountRow {
	variant_id: string | null;
	decision: string;
	reason: string | null;
	n: number;
}

/** `SELECT variant_id, status, COUNT(*) AS n FROM offers … GROUP BY 1, 2`. */
export interface OfferCountRow {
	variant_id: string | null;
	status: string;
	n: number;
}

/**
 * `COUNT(DISTINCT offer_id)` of offer events. With `action` present the row is per
 * (variant, type, action); with `action` absent (`undefined`) it is the per-(variant, type)
 * total, which for clicks is not the sum of the per-action counts.
 */
export interface EventCountRow {
	variant_id: string | null;
	type: string;
	action?: string | null;
	n: number;
}

/** `SELECT variant_id, holdout, COUNT(*) AS n, SUM(revenue) AS revenue FROM conversions … GROUP BY 1, 2`. */
export interface ConversionRow {
	variant_id: string | null;
	holdout: number;
	n: number;
	revenue: number | null;
}

export interface FunnelInput {
	campaignId: string;
	/** The campaign's current variant ids, in order: listed even with no data. */
	variantIds: readonly string[];
	decisions: readonly DecisionCountRow[];
	offers: readonly OfferCountRow[];
	/** Per (variant, type) distinct offers: `action` undefined. */
	eventTotals: readonly EventCountRow[];
	/** Per (variant, type = clicked, action) distinct offers. */
	clicksByAction: readonly EventCountRow[];
	conversions: readonly ConversionRow[];
	/** Distinct people whose consent was checked, and those of them with push consent. */
	optIn: { people: number; pushConsent: number };
}

type Counters = Omit<FunnelGroup, "group" | "variantId">;

function empty(): Counters {
	return {
		triggered: 0,
		holdout: 0,
		suppressed: {},
		sent: 0,
		accepted: 0,
		pending: 0,
		failed: 0,
		gone: 0,
		displayed: 0,
		dismissed: 0,
		clicked: { total: 0, body: 0, byAction: {} },
		converted: 0,
		revenue: 0,
	};
}

function isEmpty(c: Counters): boolean {
	return (
		c.triggered === 0 &&
		c.sent === 0 &&
		c.accepted + c.pending + c.failed + c.gone === 0 &&
		c.displayed + c.dismissed + c.clicked.total === 0 &&
		c.converted === 0
	);
}

/** Sums without binary floating-point noise (0.1 + 0.2 shows as 0.3). */
function money(x: number): number {
	return Math.round(x * 1e6) / 1e6;
}

function add(into: Record<string, number>, key: string, n: number): void {
	into[key] = (into[key] ?? 0) + n;
}

const HOLDOUT = "\u0000holdout";
const UNASSIGNED = "\u0000unassigned";

/**
 * Builds the funnel of one campaign.
 *
 * @param input - Grouped rows of one tenant's campaign.
 * @returns Per-group counters, their totals and the push opt-in among triggered people.
 */
export function buildFunnel(input: FunnelInput): CampaignStats {
	const groups = new Map<string, Counters>();
	const group = (variantId: string | null): Counters => {
		const key = variantId ?? UNASSIGNED;
		let g = groups.get(key);
		if (!g) {
			g = empty();
			groups.set(key, g);
		}
		return g;
	};
	for (const id of input.variantIds) group(id);
	const holdout = empty();
	groups.set(HOLDOUT, holdout);

	for (const r of input.decisions) {
		if (r.decision === "holdout") {
			holdout.triggered += r.n;
			holdout.holdout += r.n;
			continue;
		}
		const g = group(r.variant_id);
		g.triggered += r.n;
		if (r.decision === "sent") g.sent += r.n;
		else add(g.suppressed, r.reason ?? "unknown", r.n);
	}
	for (const r of input.offers) {
		const g = group(r.variant_id);
		if (r.status === "accepted") g.accepted += r.n;
		else if (r.status === "pending") g.pending += r.n;
		else if (r.status === "gone") g.gone += r.n;
		else g.failed += r.n;
	}
	for (const r of input.eventTotals) {
		const g = group(r.variant_id);
		if (r.type === "displayed") g.displayed += r.n;
		else if (r.type === "dismissed") g.dismissed += r.n;
		else if (r.type === "clicked") g.clicked.total += r.n;
	}
	for (const r of input.clicksByAction) {
		const g = group(r.variant_id);
		if (r.action === null || r.action === undefined) g.clicked.body += r.n;
		else add(g.clicked.byAction, r.action, r.n);
	}
	for (const r of input.conversions) {
		const g = r.holdout ? holdout : group(r.variant_id);
		g.converted += r.n;
		g.revenue = money(g.revenue + (r.revenue ?? 0));
	}

	const known = new Set(input.variantIds);
	const extra = [...groups.keys()].filter((k) => k !== HOLDOUT && k !== UNASSIGNED && !known.has(k)).sort();
	const variants: FunnelGroup[] = [...input.variantIds, ...extra].map((id) => ({
		group: "variant",
		variantId: id,
		...(groups.get(id) ?? empty()),
	}));
	variants.push({ group: "holdout", variantId: null, ...holdout });
	const unassigned = groups.get(UNASSIGNED);
	if (unassigned && !isEmpty(unassigned))
		variants.push({ group: "unassigned", variantId: null, ...unassigned });

	const totals = empty();
	for (const { group: _g, variantId: _v, ...c } of variants) {
		for (const k of ["triggered", "holdout", "sent", "accepted", "pending", "failed", "gone"] as const)
			totals[k] += c[k];
		for (const k of ["displayed", "dismissed", "converted"] as const) totals[k] += c[k];
		for (const [reason, n] of Object.entries(c.suppressed)) add(totals.suppressed, reason, n);
		totals.clicked.total += c.clicked.total;
		totals.clicked.body += c.clicked.body;
		for (const [action, n] of Object.entries(c.clicked.byAction)) add(totals.clicked.byAction, action, n);
		totals.revenue = money(totals.revenue + c.revenue);
	}

	const { people, pushConsent } = input.optIn;
	return {
		campaignId: input.campaignId,
		variants,
		totals,
		pushOptInAmongTriggered: { people, pushConsent, rate: people === 0 ? null : pushConsent / people },
	};
}
