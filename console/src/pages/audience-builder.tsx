import { useEffect, useState } from "preact/hooks";
import { MAX_AUDIENCE_CONDITIONS, MAX_AUDIENCE_DEPTH } from "../../../src/audience/condition.js";
import { ApiError, api } from "../api.js";
import {
	ATTRIBUTE_OPS,
	type AttributeOp,
	type AudienceNode,
	addChild,
	canAdd,
	changeKind,
	countNodes,
	GROUP_KINDS,
	type GroupKind,
	LEAF_KINDS,
	type LeafKind,
	moveNode,
	newNode,
	nodePaths,
	parseUserIds,
	removeNode,
	updateNode,
	type ValueType,
	wrapNode,
} from "../audience-form.js";
import { type MessageKey, t } from "../i18n.js";
import { errorText, Field, inputType } from "../ui.js";

const KIND_LABEL: Record<GroupKind | LeafKind | "raw", MessageKey> = {
	all: "audienceKindAll",
	any: "audienceKindAny",
	not: "audienceKindNot",
	attribute: "audienceKindAttribute",
	interest: "audienceKindInterest",
	locale: "audienceKindLocale",
	visits: "audienceKindVisits",
	purchased: "audienceKindPurchased",
	raw: "audienceKindRaw",
};
const OP_LABEL: Record<AttributeOp, MessageKey> = {
	in: "opIn",
	nin: "opNin",
	eq: "opEq",
	ne: "opNe",
	gt: "opGt",
	gte: "opGte",
	lt: "opLt",
	lte: "opLte",
	exists: "opExists",
};

/**
 * The audience as a tree of groups (all / any / not) and conditions. Every control is a native
 * button, select or input (Tab and Shift+Tab move, Enter or Space act); a new node takes the
 * focus. `problems` are by node id: the service's own parser's (run in the browser) and the
 * API's 422, each at the node its path names.
 */
export function AudienceBuilder(props: {
	tree: AudienceNode | null;
	problems: Map<string, string[]>;
	onChange: (tree: AudienceNode | null) => void;
}) {
	const { tree, onChange } = props;
	const [focusId, setFocusId] = useState<string | null>(null);
	useEffect(() => {
		if (!focusId) return;
		(document.getElementById(`aud-${focusId}-kind`) ?? document.getElementById(focusId))?.focus();
		setFocusId(null);
	}, [focusId]);
	const paths = nodePaths(tree);
	const count = countNodes(tree);
	const depth = Math.max(0, ...[...paths.values()].map((p) => p.depth));
	const ctx: Ctx = {
		tree,
		problems: props.problems,
		depthOf: (id) => paths.get(id)?.depth ?? 1,
		full: count >= MAX_AUDIENCE_CONDITIONS,
		set: onChange,
		focus: setFocusId,
	};
	return (
		<div class="audience-builder" data-testid="audience-builder">
			<p class="muted">
				{tree
					? t("audienceSize", {
							n: count,
							max: MAX_AUDIENCE_CONDITIONS,
							depth,
							maxDepth: MAX_AUDIENCE_DEPTH,
						})
					: t("audienceEveryone")}
			</p>
			{tree ? (
				<NodeView node={tree} label="1" parentId={null} index={0} siblings={1} ctx={ctx} />
			) : (
				<div class="row">
					<button
						type="button"
						id="aud-start"
						onClick={() => {
							const n = newNode("attribute");
							onChange(n);
							setFocusId(n.id);
						}}
					>
						{t("audienceAddCondition")}
					</button>
					<button
						type="button"
						onClick={() => {
							const n = newNode("all");
							onChange(n);
							setFocusId(n.id);
						}}
					>
						{t("audienceAddGroup")}
					</button>
				</div>
			)}
		</div>
	);
}

interface Ctx {
	tree: AudienceNode | null;
	problems: Map<string, string[]>;
	depthOf: (id: string) => number;
	full: boolean;
	set: (tree: AudienceNode | null) => void;
	focus: (id: string) => void;
}

function NodeView(props: {
	node: AudienceNode;
	label: string;
	parentId: string | null;
	index: number;
	siblings: number;
	ctx: Ctx;
}) {
	const { node, label, ctx } = props;
	const tree = ctx.tree as AudienceNode;
	const fid = (f: string) => `aud-${node.id}-${f}`;
	const problems = ctx.problems.get(node.id);
	const errorId = fid("error");
	const described = problems ? { "aria-describedby": errorId, "aria-invalid": true as const } : {};
	const update = (patch: Record<string, unknown>) => ctx.set(updateNode(tree, node.id, patch));
	const input = (field: string, text: string, value: string, type = "text") => (
		<Field label={text} id={fid(field)}>
			<input
				id={fid(field)}
				{...inputType(type)}
				value={value}
				{...described}
				onInput={(e) => update({ [field]: e.currentTarget.value })}
			/>
		</Field>
	);
	const select = (field: string, text: string, value: string, options: [string, string][]) => (
		<Field label={text} id={fid(field)}>
			<select id={fid(field)} value={value} onChange={(e) => update({ [field]: e.currentTarget.value })}>
				{options.map(([v, l]) => (
					<option key={v} value={v}>
						{l}
					</option>
				))}
			</select>
		</Field>
	);
	const isGroup = node.kind === "all" || node.kind === "any" || node.kind === "not";
	const depth = ctx.depthOf(node.id);
	const add = (kind: GroupKind | LeafKind) => {
		const n = newNode(kind);
		ctx.set(addChild(tree, node.id, n));
		ctx.focus(n.id);
	};
	return (
		<fieldset
			class={`audience-node audience-${isGroup ? "group" : "leaf"}`}
			data-testid={`audience-node-${label}`}
		>
			<legend>{t("audienceNode", { n: label })}</legend>
			<div class="audience-fields">
				<Field label={t("audienceKind")} id={fid("kind")}>
					<select
						id={fid("kind")}
						value={node.kind}
						onChange={(e) => {
							const k = e.currentTarget.value as GroupKind | LeafKind;
							ctx.set(changeKind(tree, node.id, k));
						}}
					>
						{[...GROUP_KINDS, ...LEAF_KINDS, ...(node.kind === "raw" ? (["raw"] as const) : [])].map((k) => (
							<option key={k} value={k}>
								{t(KIND_LABEL[k])}
							</option>
						))}
					</select>
				</Field>
				{node.kind === "attribute" && (
					<>
						{input("attribute", t("audienceAttribute"), node.attribute)}
						{select(
							"op",
							t("audienceOp"),
							node.op,
							ATTRIBUTE_OPS.map((op) => [op, t(OP_LABEL[op])]),
						)}
						{node.op === "exists" ? (
							select("value", t("audienceExists"), node.value === "false" ? "false" : "true", [
								["true", t("audienceYes")],
								["false", t("audienceNo")],
							])
						) : (
							<>
								{input(
									"value",
									node.op === "in" || node.op === "nin" ? t("audienceValues") : t("audienceValue"),
									node.value,
								)}
								{select("valueType", t("audienceValueType"), node.valueType, [
									["string", t("typeString")],
									["number", t("typeNumber")],
									["boolean", t("typeBoolean")],
								] satisfies [ValueType, string][])}
							</>
						)}
					</>
				)}
				{node.kind === "interest" && input("interest", t("audienceInterest"), node.interest)}
				{node.kind === "locale" && input("locales", t("audienceLocales"), node.locales)}
				{node.kind === "visits" && (
					<>
						{input("tags", t("audienceVisitTags"), node.tags)}
						{input("geofenceIds", t("audienceVisitIds"), node.geofenceIds)}
						{select("cmp", t("audienceVisitCmp"), node.cmp, [
							["gte", t("cmpGte")],
							["lt", t("cmpLt")],
						])}
						{input("count", t("audienceVisitCount"), node.count, "number")}
						{input("withinDays", t("audienceWithinDays"), node.withinDays, "number")}
					</>
				)}
				{node.kind === "purchased" && (
					<>
						{input("skus", t("audienceSkus"), node.skus)}
						{input("categories", t("audienceCategories"), node.categories)}
						{input("withinDays", t("audienceWithinDays"), node.withinDays, "number")}
					</>
				)}
				{node.kind === "raw" && (
					<Field label={t("audienceRawJson")} id={fid("json")}>
						<textarea
							id={fid("json")}
							class="code"
							rows={3}
							spellcheck={false}
							value={node.json}
							{...described}
							onInput={(e) => update({ json: e.currentTarget.value })}
						/>
					</Field>
				)}
			</div>
			{problems && (
				// Not an alert: it changes as the audience is typed (Save's status line is the alert).
				<ul class="field-error" id={errorId} data-testid="audience-node-error">
					{problems.map((m, i) => (
						<li key={i}>{m}</li>
					))}
				</ul>
			)}
			{isGroup && (
				<div class="audience-children">
					{node.children.map((c, i) => (
						<NodeView
							key={c.id}
							node={c}
							label={`${label}.${i + 1}`}
							parentId={node.id}
							index={i}
							siblings={node.children.length}
							ctx={ctx}
						/>
					))}
					{canAdd(node) && !ctx.full && depth < MAX_AUDIENCE_DEPTH && (
						<div class="row">
							<button type="button" onClick={() => add("attribute")}>
								{t("audienceAddConditionTo", { n: label })}
							</button>
							{depth + 1 < MAX_AUDIENCE_DEPTH && (
								<button type="button" onClick={() => add("all")}>
									{t("audienceAddGroupTo", { n: label })}
								</button>
							)}
						</div>
					)}
				</div>
			)}
			<div class="row audience-actions">
				{props.parentId && props.index > 0 && (
					<button type="button" onClick={() => ctx.set(moveNode(tree, node.id, -1))}>
						{t("audienceMoveUp", { n: label })}
					</button>
				)}
				{props.parentId && props.index < props.siblings - 1 && (
					<button type="button" onClick={() => ctx.set(moveNode(tree, node.id, 1))}>
						{t("audienceMoveDown", { n: label })}
					</button>
				)}
				{!ctx.full && (
					<button
						type="button"
						onClick={() => {
							ctx.set(wrapNode(tree, node.id, "all"));
							ctx.focus(node.id);
						}}
					>
						{t("audienceWrap", { n: label })}
					</button>
				)}
				<button
					type="button"
					class="danger"
					onClick={() => {
						ctx.set(removeNode(tree, node.id));
						// To the group it was in, or to "Add a condition" when it was the root.
						ctx.focus(props.parentId ?? "aud-start");
					}}
				>
					{t("audienceRemove", { n: label })}
				</button>
			</div>
		</fieldset>
	);
}

interface TestResult {
	userId: string;
	known?: boolean;
	inAudience: boolean;
	failed?: { path: (string | number)[]; condition: unknown };
}

/** Who is in a saved campaign's audience now: `POST /v1/campaigns/{id}/audience/test`. */
export function AudienceTest({ campaignId }: { campaignId: string }) {
	const [ids, setIds] = useState("");
	const [busy, setBusy] = useState(false);
	const [error, setError] = useState<string | null>(null);
	const [results, setResults] = useState<TestResult[] | null>(null);
	const run = async () => {
		const userIds = parseUserIds(ids);
		setError(null);
		if (userIds.length === 0 || userIds.length > 100) {
			setError(t("audienceTestCount"));
			return;
		}
		setBusy(true);
		try {
			const r = await api<{ results: TestResult[] }>(
				"POST",
				`/v1/campaigns/${encodeURIComponent(campaignId)}/audience/test`,
				{ userIds },
			);
			setResults(r.results);
		} catch (e) {
			setResults(null);
			setError(
				e instanceof ApiError && e.errors.length
					? e.errors.map((x) => `${x.path.join(".")}: ${x.message}`).join("; ")
					: errorText(e),
			);
		} finally {
			setBusy(false);
		}
	};
	return (
		<section class="audience-test" aria-labelledby="audience-test-title">
			<h2 id="audience-test-title">{t("audienceTest")}</h2>
			<Field
				label={t("audienceTestIds")}
				id="audience-test-ids"
				hint={t("audienceTestHelp")}
				error={error ?? undefined}
			>
				<textarea
					id="audience-test-ids"
					rows={3}
					value={ids}
					aria-describedby={`audience-test-ids-hint${error ? " audience-test-ids-error" : ""}`}
					onInput={(e) => setIds(e.currentTarget.value)}
				/>
			</Field>
			<button type="button" disabled={busy} onClick={run}>
				{busy ? t("audienceTesting") : t("audienceTestRun")}
			</button>
			{results && (
				<table data-testid="audience-test-results">
					<thead>
						<tr>
							<th scope="col">{t("audienceTestUser")}</th>
							<th scope="col">{t("audienceTestResult")}</th>
							<th scope="col">{t("audienceTestFailed")}</th>
						</tr>
					</thead>
					<tbody>
						{results.map((r) => (
							<tr key={r.userId}>
								<td>
									{r.userId}
									{r.known === false && <span class="muted"> {t("audienceUnknownPerson")}</span>}
								</td>
								<td>{r.inAudience ? t("audienceIn") : t("audienceOut")}</td>
								<td>
									{r.failed && (
										<>
											<code>{r.failed.path.length ? r.failed.path.join(".") : "/"}</code>{" "}
											<code>{JSON.stringify(r.failed.condition)}</code>
										</>
									)}
								</td>
							</tr>
						))}
					</tbody>
				</table>
			)}
		</section>
	);
}
