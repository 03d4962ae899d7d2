/**
 * `campaigns apply FILE` (declarative: the file says what each listed campaign must be; the
 * command fetches what the service has, prints the difference, then creates or patches),
 * `campaigns list` and `campaigns stats ID`.
 *
 * The file is JSON or YAML: one campaign, a list of them, or `{"campaigns": [...]}`; each needs
 * an `id`. It is checked with the service's own campaign schema (src/schemas/campaign.ts) first,
 * every problem named with its line; both sides are normalized by that schema (defaults filled
 * in, times as epoch milliseconds) before they are compared, so an unchanged file changes nothing.
 * Campaigns the file does not list are left as they are.
 */
import { readFileSync } from "node:fs";
import { isMap, isSeq, LineCounter, parseDocument } from "yaml";
import { CreateCampaignSchema } from "../../src/schemas/campaign.js";
import type { CampaignStats, FunnelGroup } from "../../src/schemas/tracking.js";
import { CliError } from "../api.js";
import type { Ctx } from "../context.js";
import { brief, table } from "../table.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

export interface Change {
	path: string;
	before: Json | undefined;
	after: Json | undefined;
}

export interface Plan {
	create: Obj[];
	update: { id: string; changes: Change[]; patch: Obj }[];
	unchanged: string[];
	/** On the service, not in the file: left alone. */
	untouched: string[];
}

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** A campaign as the service's schema normalizes it, as plain JSON. */
function normalize(campaign: unknown): Obj {
	return JSON.parse(JSON.stringify(CreateCampaignSchema.parse(campaign))) as Obj;
}

/** Every leaf that differs between two JSON values, by path (`variants[0].title`). */
export function diff(before: Json | undefined, after: Json | undefined, path = ""): Change[] {
	if (JSON.stringify(before) === JSON.stringify(after)) return [];
	if (Array.isArray(before) && Array.isArray(after) && before.length === after.length)
		return before.flatMap((b, i) => diff(b, after[i], `${path}[${i}]`));
	if (isObj(before) && isObj(after)) {
		const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
		return keys.flatMap((k) => diff(before[k], after[k], path ? `${path}.${k}` : k));
	}
	return [{ path: path || "(whole)", before, after }];
}

/** Reads and checks a campaign file; every problem is named with its line. */
export function readCampaignFile(file: string, text: string): Obj[] {
	const lineCounter = new LineCounter();
	const doc = parseDocument(text, { lineCounter, prettyErrors: false });
	const lineOf = (offset: number | undefined) =>
		offset === undefined ? null : lineCounter.linePos(offset).line;
	if (doc.errors.length > 0) {
		const e = doc.errors[0];
		throw new CliError(
			`${file}:${lineOf(e?.pos[0]) ?? "?"}: not valid JSON or YAML: ${e?.message.split("\n")[0]}`,
		);
	}
	const root = doc.toJS() as unknown;
	const listPath: (string | number)[] = isObj(root) && Array.isArray(root.campaigns) ? ["campaigns"] : [];
	const list: unknown[] = Array.isArray(root)
		? root
		: isObj(root) && Array.isArray(root.campaigns)
			? root.campaigns
			: [root];
	const problems: string[] = [];
	const lineAt = (path: (string | number)[]): number | null => {
		// The deepest node of the path that exists: a missing field is reported on its campaign.
		for (let n = path.length; n >= 0; n--) {
			const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
			if (node && (isMap(node) || isSeq(node) || node.range)) return lineOf(node.range?.[0]);
		}
		return null;
	};
	const out: Obj[] = [];
	const seen = new Map<string, number>();
	list.forEach((raw, i) => {
		const base = Array.isArray(root) || listPath.length > 0 ? [...listPath, i] : [];
		const where = (path: (string | number)[]) => `${file}:${lineAt([...base, ...path]) ?? "?"}`;
		if (!isObj(raw)) {
			problems.push(`${where([])}: each campaign must be an object`);
			return;
		}
		if (typeof raw.id !== "string" || raw.id === "") {
			problems.push(
				`${where([])}: campaign ${i + 1} has no id (apply is declarative: every campaign needs its id)`,
			);
			return;
		}
		const parsed = CreateCampaignSchema.safeParse(raw);
		if (!parsed.success) {
			for (const issue of parsed.error.issues) {
				const path = issue.path.map((p) => (typeof p === "number" ? p : String(p)));
				problems.push(`${where(path)}: ${raw.id}: ${path.join(".") || "(campaign)"}: ${issue.message}`);
			}
			return;
		}
		const first = seen.get(raw.id);
		if (first !== undefined)
			problems.push(`${where(["id"])}: id ${raw.id} is listed twice (first as campaign ${first + 1})`);
		seen.set(raw.id, i);
		out.push(normalize(raw));
	});
	if (problems.length > 0)
		throw new CliError(`${problems.join("\n")}\n${problems.length} problem(s); nothing was changed`);
	if (out.length === 0) throw new CliError(`${file} lists no campaign`);
	return out;
}

/** What applying `desired` to `current` does. */
export function planApply(desired: Obj[], current: Obj[]): Plan {
	const byId = new Map(current.map((c) => [String(c.id), c]));
	const plan: Plan = { create: [], update: [], unchanged: [], untouched: [] };
	for (const want of desired) {
		const id = String(want.id);
		const have = byId.get(id);
		if (!have) {
			plan.create.push(want);
			continue;
		}
		const changes = diff(have, want);
		if (changes.length === 0) {
			plan.unchanged.push(id);
			continue;
		}
		const patch: Obj = {};
		for (const key of new Set([...Object.keys(have), ...Object.keys(want)])) {
			if (key === "id" || JSON.stringify(have[key]) === JSON.stringify(want[key])) continue;
			// A field the file leaves out goes back to none (audience); the schema gave defaults to the rest.
			patch[key] = want[key] === undefined ? null : (want[key] as Json);
		}
		plan.update.push({ id, changes, patch });
	}
	const listed = new Set(desired.map((d) => String(d.id)));
	plan.untouched = current.map((c) => String(c.id)).filter((id) => !listed.has(id));
	return plan;
}

/** The plan as a reviewer reads it. */
export function describePlan(plan: Plan): string[] {
	const lines: string[] = [];
	for (const c of plan.create) {
		const trigger = isObj(c.trigger) ? `${c.trigger.type}${c.trigger.on ? ` ${c.trigger.on}` : ""}` : "";
		lines.push(
			`+ create ${c.id}: ${brief(c.name)}, ${c.status}, ${trigger}, ${(c.variants as Json[]).length} variant(s)`,
		);
	}
	for (const u of plan.update) {
		lines.push(`~ update ${u.id}:`);
		for (const ch of u.changes) lines.push(`    ${ch.path}: ${brief(ch.before)} → ${brief(ch.after)}`);
	}
	for (const id of plan.unchanged) lines.push(`= unchanged ${id}`);
	if (plan.untouched.length > 0)
		lines.push(`  not in the file, left as they are: ${plan.untouched.join(", ")}`);
	return lines;
}

/** Every campaign of the tenant, normalized like the file's. */
async function currentCampaigns(ctx: Ctx): Promise<Obj[]> {
	const answer = await ctx.client().get<{ campaigns: unknown[] }>("/v1/campaigns");
	return answer.campaigns.map((c) => {
		try {
			return normalize(c);
		} catch {
			// A campaign this version of the schema cannot read is compared as the service sent it.
			return c as Obj;
		}
	});
}

export interface ApplyOptions {
	dryRun?: boolean;
}

/** `campaigns apply FILE` */
export async function applyCommand(ctx: Ctx, file: string, opts: ApplyOptions): Promise<Plan> {
	let text: string;
	try {
		text = readFileSync(file, "utf8");
	} catch (error) {
		throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
	}
	const desired = readCampaignFile(file, text);
	const plan = planApply(desired, await currentCampaigns(ctx));
	for (const line of describePlan(plan)) ctx.out(line);
	const summary = `${plan.create.length} to create, ${plan.update.length} to update, ${plan.unchanged.length} unchanged`;
	if (opts.dryRun) {
		ctx.out(`${summary} (dry run: nothing was changed)`);
		return plan;
	}
	const client = ctx.client();
	for (const c of plan.create) await client.send("POST", "/v1/campaigns", c);
	for (const u of plan.update)
		await client.send("PATCH", `/v1/campaigns/${encodeURIComponent(u.id)}`, u.patch);
	ctx.out(`${plan.create.length} created, ${plan.update.length} updated, ${plan.unchanged.length} unchanged`);
	return plan;
}

/** `campaigns list` */
export async function listCommand(ctx: Ctx, opts: { json?: boolean }): Promise<void> {
	const { campaigns } = await ctx.client().get<{ campaigns: Obj[] }>("/v1/campaigns");
	if (opts.json) {
		ctx.out(JSON.stringify(campaigns, null, 2));
		return;
	}
	if (campaigns.length === 0) {
		ctx.out("no campaigns");
		return;
	}
	ctx.out(
		table(
			["id", "name", "status", "priority", "trigger", "variants", "holdout %"],
			campaigns.map((c) => {
				const t = isObj(c.trigger) ? c.trigger : {};
				const trigger =
					t.type === "geofence"
						? `geofence ${t.on}${Array.isArray(t.tags) ? ` tags ${t.tags.join("|")}` : ""}${Array.isArray(t.geofenceIds) ? ` ${t.geofenceIds.length} store(s)` : ""}`
						: String(t.type ?? "");
				return [
					String(c.id),
					String(c.name),
					String(c.status),
					Number(c.priority),
					trigger,
					Array.isArray(c.variants) ? c.variants.length : 0,
					Number(c.holdoutPercent),
				];
			}),
		),
	);
}

const pct = (n: number, of: number) => (of > 0 ? `${((n / of) * 100).toFixed(1)}%` : "");

/** `campaigns stats ID` */
export async function statsCommand(ctx: Ctx, id: string, opts: { json?: boolean }): Promise<void> {
	const stats = await ctx.client().get<CampaignStats>(`/v1/campaigns/${encodeURIComponent(id)}/stats`);
	if (opts.json) {
		ctx.out(JSON.stringify(stats, null, 2));
		return;
	}
	const name = (g: FunnelGroup) => (g.group === "variant" ? `variant ${g.variantId}` : g.group);
	const suppressedOf = (g: Pick<FunnelGroup, "suppressed">) =>
		Object.values(g.suppressed).reduce((a, b) => a + b, 0);
	const row = (label: string, g: Omit<FunnelGroup, "group" | "variantId">) => [
		label,
		g.triggered,
		g.holdout,
		suppressedOf(g),
		g.sent,
		g.accepted,
		g.failed + g.gone,
		g.displayed,
		g.clicked.total,
		pct(g.clicked.total, g.sent),
		g.converted,
		g.revenue,
	];
	ctx.out(`campaign ${stats.campaignId}`);
	ctx.out(
		table(
			[
				"group",
				"triggered",
				"holdout",
				"suppressed",
				"sent",
				"accepted",
				"failed",
				"displayed",
				"clicked",
				"CTR",
				"converted",
				"revenue",
			],
			[...stats.variants.map((g) => row(name(g), g)), row("total", stats.totals)],
		),
	);
	const reasons = [...new Set(stats.variants.flatMap((g) => Object.keys(g.suppressed)))].sort();
	if (reasons.length > 0) {
		ctx.out("");
		ctx.out("suppressed by reason");
		ctx.out(
			table(
				["group", ...reasons],
				stats.variants.map((g) => [name(g), ...reasons.map((r) => g.suppressed[r] ?? 0)]),
			),
		);
	}
	const actions = [...new Set(stats.variants.flatMap((g) => Object.keys(g.clicked.byAction)))].sort();
	if (actions.length > 0) {
		ctx.out("");
		ctx.out("clicks by action");
		ctx.out(
			table(
				["group", "body", ...actions],
				stats.variants.map((g) => [
					name(g),
					g.clicked.body,
					...actions.map((a) => g.clicked.byAction[a] ?? 0),
				]),
			),
		);
	}
	const opt = stats.pushOptInAmongTriggered;
	ctx.out("");
	ctx.out(
		`push opt-in among triggered people: ${opt.pushConsent} of ${opt.people}${opt.rate === null ? "" : ` (${(opt.rate * 100).toFixed(1)}%)`}`,
	);
}
