import { useEffect, useMemo, useState } from "preact/hooks";
import { parseAudience } from "../../../src/audience/condition.js";
import { ApiError, api, pathKey } from "../api.js";
import {
	type AudienceNode,
	audienceProblems,
	checkTree,
	problemsByNode,
	treeFromText,
	treeToText,
} from "../audience-form.js";
import {
	type CampaignBody,
	type CampaignDraft,
	emptyDraft,
	jsonErrors,
	newVariant,
	toBody,
	toDraft,
	type VariantDraft,
	variantBody,
} from "../campaign-form.js";
import { fmtNumber, lang, t } from "../i18n.js";
import { previewVariant, type Sample } from "../preview.js";
import { go, href } from "../router.js";
import { errorText, Field, inputType, Status } from "../ui.js";
import { AudienceBuilder, AudienceTest } from "./audience-builder.js";

type Errors = Map<string, string>;

/** Create (id null) or edit a campaign. */
export function CampaignEditor({ id }: { id: string | null }) {
	const [draft, setDraft] = useState<CampaignDraft | null>(id ? null : emptyDraft());
	const [errors, setErrors] = useState<Errors>(new Map());
	const [status, setStatus] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
	const [saving, setSaving] = useState(false);
	const [selected, setSelected] = useState(0);
	// The audience as a tree (the builder) or as JSON text; either way `draft.audience` is the
	// JSON text sent.
	const [tree, setTree] = useState<AudienceNode | null>(null);
	const [audienceMode, setAudienceMode] = useState<"builder" | "json">("builder");

	useEffect(() => {
		if (!id) return;
		const ac = new AbortController();
		api<CampaignBody>("GET", `/v1/campaigns/${encodeURIComponent(id)}`, undefined, ac.signal).then(
			(c) => {
				const d = toDraft(c);
				setDraft(d);
				setTree(treeFromText(d.audience));
			},
			(e) => !ac.signal.aborted && setStatus({ kind: "error", text: errorText(e) }),
		);
		return () => ac.abort();
	}, [id]);

	if (!draft)
		return (
			<>
				<h1>{t("editCampaign", { id: id ?? "" })}</h1>
				{status ? <Status kind="error">{status.text}</Status> : <Status>{t("loading")}</Status>}
			</>
		);

	const set = (patch: Partial<CampaignDraft>) => setDraft({ ...draft, ...patch });
	const setVariant = (i: number, patch: Partial<VariantDraft>) =>
		set({ variants: draft.variants.map((v, j) => (j === i ? { ...v, ...patch } : v)) });
	const err = (path: string) => errors.get(path);
	// The service's own parser, run in the browser on what would be sent.
	const audienceIssues = audienceMode === "builder" ? checkTree(tree) : jsonAudienceIssues(draft.audience);
	const setAudienceTree = (next: AudienceNode | null) => {
		setTree(next);
		set({ audience: treeToText(next) });
	};

	const save = async (e: Event) => {
		e.preventDefault();
		setSaving(true);
		setStatus(null);
		setErrors(new Map());
		const bad = jsonErrors(draft);
		if (bad.size) {
			setErrors(bad);
			setSaving(false);
			setStatus({ kind: "error", text: t("invalid") });
			return;
		}
		if (audienceIssues.length) {
			setSaving(false);
			setStatus({ kind: "error", text: t("audienceInvalid") });
			return;
		}
		try {
			const saved = id
				? await api<CampaignBody>("PATCH", `/v1/campaigns/${encodeURIComponent(id)}`, toBody(draft, true))
				: await api<CampaignBody>("POST", "/v1/campaigns", toBody(draft));
			setStatus({ kind: "ok", text: t("saved") });
			if (!id && saved.id) go("campaigns", saved.id);
		} catch (e) {
			if (e instanceof ApiError && e.errors.length) {
				const m: Errors = new Map();
				for (const x of e.errors) {
					const k = pathKey(x.path);
					m.set(k, m.has(k) ? `${m.get(k)}; ${x.message}` : x.message);
				}
				setErrors(m);
				setStatus({ kind: "error", text: t("invalid") });
			} else setStatus({ kind: "error", text: errorText(e) });
		} finally {
			setSaving(false);
		}
	};

	const text = (key: keyof CampaignDraft, label: string, path: string, type = "text", extra = {}) => (
		<Field label={label} id={`f-${path}`} error={err(path)}>
			<input
				id={`f-${path}`}
				{...inputType(type)}
				value={draft[key] as string}
				aria-invalid={err(path) ? true : undefined}
				aria-describedby={err(path) ? `f-${path}-error` : undefined}
				onInput={(e) => set({ [key]: e.currentTarget.value } as Partial<CampaignDraft>)}
				{...extra}
			/>
		</Field>
	);
	// Errors on paths no field shows (e.g. a whole trigger refused) are listed at the top.
	const shownPaths = new Set<string>();
	const track = (p: string) => {
		shownPaths.add(p);
	};
	for (const p of [
		"id",
		"name",
		"status",
		"priority",
		"holdoutPercent",
		"ttlSeconds",
		"cooldownSeconds",
		"startsAt",
		"endsAt",
		"trigger.on",
		"trigger.geofenceIds",
		"trigger.tags",
		"trigger.dwellSeconds",
		"trigger.whenCartHas.skus",
		"trigger.whenCartHas.categories",
		"trigger.unlessCartHas.skus",
		"trigger.unlessCartHas.categories",
		"trigger.offerSku",
		"trigger.suppressIfPurchasedWithinDays",
	])
		track(p);
	for (const p of errors.keys())
		if (p === "audience" || p.startsWith("audience.") || /^variants\.\d+\.localized/.test(p)) track(p);
	draft.variants.forEach((v, i) => {
		for (const f of ["id", "weight", "title", "body", "url"]) track(`variants.${i}.${f}`);
		v.actions.forEach((_, j) => {
			for (const f of ["id", "title", "url"]) track(`variants.${i}.actions.${j}.${f}`);
		});
	});
	const other = [...errors].filter(([p]) => !shownPaths.has(p));

	return (
		<>
			<h1>{id ? t("editCampaign", { id }) : t("createCampaign")}</h1>
			{id && (
				<p>
					<a href={href("campaigns", id, "results")}>{t("results")}</a>
				</p>
			)}
			<div class="editor">
				<form onSubmit={save} class="campaign-form" noValidate>
					{status && <Status kind={status.kind}>{status.text}</Status>}
					{other.length > 0 && (
						<ul class="field-error" data-testid="other-errors">
							{other.map(([p, m]) => (
								<li key={p}>
									<code>{p || "/"}</code> {m}
								</li>
							))}
						</ul>
					)}
					<fieldset>
						<legend>{t("campaign")}</legend>
						{!id && text("id", t("campaignId"), "id")}
						{text("name", t("name"), "name")}
						<Field label={t("status")} id="f-status" error={err("status")}>
							<select
								id="f-status"
								value={draft.status}
								onChange={(e) => set({ status: e.currentTarget.value as CampaignDraft["status"] })}
							>
								{["draft", "active", "paused", "archived"].map((s) => (
									<option key={s} value={s}>
										{s}
									</option>
								))}
							</select>
						</Field>
						{text("priority", t("priority"), "priority", "number")}
					</fieldset>

					<fieldset>
						<legend>{t("trigger")}</legend>
						<Field label={t("triggerType")} id="f-trigger-type">
							<select
								id="f-trigger-type"
								value={draft.triggerType}
								onChange={(e) => set({ triggerType: e.currentTarget.value as "geofence" | "cart" })}
							>
								<option value="geofence">{t("triggerGeofence")}</option>
								<option value="cart">{t("triggerCart")}</option>
							</select>
						</Field>
						{draft.triggerType === "geofence" ? (
							<>
								<Field label={t("on")} id="f-trigger.on" error={err("trigger.on")}>
									<select
										id="f-trigger.on"
										value={draft.on}
										onChange={(e) => set({ on: e.currentTarget.value as CampaignDraft["on"] })}
									>
										<option value="enter">{t("onEnter")}</option>
										<option value="dwell">{t("onDwell")}</option>
										<option value="exit">{t("onExit")}</option>
									</select>
								</Field>
								{text("tags", t("triggerTags"), "trigger.tags")}
								{text("geofenceIds", t("geofenceIds"), "trigger.geofenceIds")}
								{draft.on === "dwell" &&
									text("dwellSeconds", t("dwellSeconds"), "trigger.dwellSeconds", "number")}
							</>
						) : (
							<>
								{text("whenSkus", t("whenSkus"), "trigger.whenCartHas.skus")}
								{text("whenCategories", t("whenCategories"), "trigger.whenCartHas.categories")}
								{err("trigger.whenCartHas") && <Status kind="error">{err("trigger.whenCartHas")}</Status>}
								{text("unlessSkus", t("unlessSkus"), "trigger.unlessCartHas.skus")}
								{text("unlessCategories", t("unlessCategories"), "trigger.unlessCartHas.categories")}
								{text("offerSku", t("offerSku"), "trigger.offerSku")}
								{text("suppressDays", t("suppressDays"), "trigger.suppressIfPurchasedWithinDays", "number")}
							</>
						)}
					</fieldset>

					<fieldset>
						<legend>{t("variants")}</legend>
						{err("variants") && <Status kind="error">{err("variants")}</Status>}
						{draft.variants.map((v, i) => (
							<VariantFields
								key={i}
								i={i}
								v={v}
								err={err}
								errorsUnder={(p) => errorsUnder(errors, p)}
								onChange={(p) => setVariant(i, p)}
								onRemove={
									draft.variants.length > 1
										? () => {
												set({ variants: draft.variants.filter((_, j) => j !== i) });
												setSelected(0);
											}
										: null
								}
								onFocus={() => setSelected(i)}
							/>
						))}
						{draft.variants.length < 10 && (
							<button
								type="button"
								onClick={() =>
									set({
										variants: [
											...draft.variants,
											newVariant(String.fromCharCode(97 + draft.variants.length)),
										],
									})
								}
							>
								{t("addVariant")}
							</button>
						)}
					</fieldset>

					<fieldset>
						<legend>{t("delivery")}</legend>
						{text("holdoutPercent", t("holdout"), "holdoutPercent", "number", {
							min: 0,
							max: 100,
							step: "any",
						})}
						{text("ttlSeconds", t("ttl"), "ttlSeconds", "number")}
						{text("cooldownSeconds", t("cooldown"), "cooldownSeconds", "number")}
						{text("startsAt", t("startsAt"), "startsAt", "datetime-local")}
						{text("endsAt", t("endsAt"), "endsAt", "datetime-local")}
						<div class="field check">
							<input
								id="f-ignoreCaps"
								type="checkbox"
								checked={draft.ignoreCaps}
								onChange={(e) => set({ ignoreCaps: e.currentTarget.checked })}
							/>
							<label for="f-ignoreCaps">{t("ignoreCaps")}</label>
						</div>
					</fieldset>
					<fieldset>
						<legend>{t("audience")}</legend>
						<div class="row">
							<button
								type="button"
								aria-pressed={audienceMode === "builder"}
								onClick={() => {
									setTree(treeFromText(draft.audience));
									setAudienceMode("builder");
								}}
							>
								{t("audienceEditBuilder")}
							</button>
							<button
								type="button"
								aria-pressed={audienceMode === "json"}
								onClick={() => setAudienceMode("json")}
							>
								{t("audienceEditJson")}
							</button>
						</div>
						{audienceMode === "builder" ? (
							<AudienceBuilder
								tree={tree}
								problems={problemsByNode(tree, [...audienceIssues, ...audienceProblems(errors)])}
								onChange={setAudienceTree}
							/>
						) : (
							<JsonField
								id="f-audience"
								label={t("audienceJson")}
								hint={t("audienceHint")}
								value={draft.audience}
								error={joinErrors(
									errorsUnder(errors, "audience"),
									audienceIssues.map((x) => `${x.path.join(".") || "/"}: ${x.message}`).join("; "),
								)}
								onInput={(audience) => set({ audience })}
							/>
						)}
					</fieldset>
					<button type="submit" class="primary" disabled={saving}>
						{saving ? t("saving") : t("save")}
					</button>
				</form>
				<PreviewPane
					draft={draft}
					selected={Math.min(selected, draft.variants.length - 1)}
					onSelect={setSelected}
				/>
			</div>
			{id && <AudienceTest campaignId={id} />}
		</>
	);
}

function VariantFields(props: {
	i: number;
	v: VariantDraft;
	err: (p: string) => string | undefined;
	errorsUnder: (p: string) => string | undefined;
	onChange: (p: Partial<VariantDraft>) => void;
	onRemove: (() => void) | null;
	onFocus: () => void;
}) {
	const { i, v, err, onChange } = props;
	const input = (key: "id" | "weight" | "title" | "body" | "url", label: string, type = "text") => {
		const path = `variants.${i}.${key}`;
		const e = err(path);
		return (
			<Field label={label} id={`f-${path}`} error={e}>
				{key === "body" ? (
					<textarea
						id={`f-${path}`}
						rows={2}
						value={v[key]}
						aria-invalid={e ? true : undefined}
						aria-describedby={e ? `f-${path}-error` : undefined}
						onInput={(ev) => onChange({ [key]: ev.currentTarget.value })}
					/>
				) : (
					<input
						id={`f-${path}`}
						{...inputType(type)}
						value={v[key]}
						aria-invalid={e ? true : undefined}
						aria-describedby={e ? `f-${path}-error` : undefined}
						onInput={(ev) => onChange({ [key]: ev.currentTarget.value })}
					/>
				)}
			</Field>
		);
	};
	return (
		<fieldset class="variant" onFocusIn={props.onFocus}>
			<legend>{t("variant", { id: v.id || String(i + 1) })}</legend>
			<div class="grid2">
				{input("id", t("variantId"))}
				{input("weight", t("weight"), "number")}
			</div>
			{input("title", t("title"))}
			{input("body", t("body"))}
			{input("url", t("url"), "url")}
			<JsonField
				id={`f-variants.${i}.localized`}
				label={t("localizedJson")}
				hint={t("localizedHint")}
				value={v.localized}
				error={props.errorsUnder(`variants.${i}.localized`)}
				onInput={(localized) => onChange({ localized })}
			/>
			<fieldset>
				<legend>{t("actions")}</legend>
				{v.actions.map((a, j) => {
					const field = (k: "id" | "title" | "url", label: string) => {
						const path = `variants.${i}.actions.${j}.${k}`;
						const e = err(path);
						return (
							<Field label={label} id={`f-${path}`} error={e}>
								<input
									id={`f-${path}`}
									{...inputType(k === "url" ? "url" : "text")}
									value={a[k]}
									aria-invalid={e ? true : undefined}
									aria-describedby={e ? `f-${path}-error` : undefined}
									onInput={(ev) =>
										onChange({
											actions: v.actions.map((x, n) => (n === j ? { ...x, [k]: ev.currentTarget.value } : x)),
										})
									}
								/>
							</Field>
						);
					};
					return (
						<div class="action" key={j}>
							{field("id", t("actionId"))}
							{field("title", t("actionTitle"))}
							{field("url", t("actionUrl"))}
							<button
								type="button"
								onClick={() => onChange({ actions: v.actions.filter((_, n) => n !== j) })}
							>
								{t("removeAction", { id: a.id || String(j + 1) })}
							</button>
						</div>
					);
				})}
				{v.actions.length < 2 && (
					<button
						type="button"
						onClick={() =>
							onChange({
								actions: [...v.actions, { id: `action${v.actions.length + 1}`, title: "", url: "" }],
							})
						}
					>
						{t("addAction")}
					</button>
				)}
			</fieldset>
			{props.onRemove && (
				<button type="button" class="danger" onClick={props.onRemove}>
					{t("removeVariant", { id: v.id || String(i + 1) })}
				</button>
			)}
		</fieldset>
	);
}

function PreviewPane({
	draft,
	selected,
	onSelect,
}: {
	draft: CampaignDraft;
	selected: number;
	onSelect: (i: number) => void;
}) {
	const [sample, setSample] = useState<Sample>({
		firstName: lang() === "fr" ? "Camille" : "Ada",
		storeName: "Paris Rivoli",
		locale: lang(),
	});
	const v = draft.variants[selected] ?? draft.variants[0];
	const preview = useMemo(
		() => (v ? previewVariant(draft.id || "campaign", variantBody(v), sample) : null),
		[draft.id, v, sample],
	);
	if (!v || !preview) return null;
	return (
		<aside class="preview" aria-labelledby="preview-title">
			<h2 id="preview-title">{t("preview")}</h2>
			{draft.variants.length > 1 && (
				<fieldset class="tabs">
					<legend class="visually-hidden">{t("variants")}</legend>
					{draft.variants.map((x, i) => (
						<button type="button" key={i} aria-pressed={i === selected} onClick={() => onSelect(i)}>
							{x.id || i + 1}
						</button>
					))}
				</fieldset>
			)}
			<div class="grid2">
				<Field label={t("sampleFirstName")} id="sample-first-name">
					<input
						id="sample-first-name"
						value={sample.firstName}
						onInput={(e) => setSample({ ...sample, firstName: e.currentTarget.value })}
					/>
				</Field>
				<Field label={t("sampleLocale")} id="sample-locale">
					<input
						id="sample-locale"
						value={sample.locale}
						onInput={(e) => setSample({ ...sample, locale: e.currentTarget.value })}
					/>
				</Field>
				<Field label={t("sampleStore")} id="sample-store">
					<input
						id="sample-store"
						value={sample.storeName}
						onInput={(e) => setSample({ ...sample, storeName: e.currentTarget.value })}
					/>
				</Field>
			</div>
			<p class="muted">{t("previewFor", { id: v.id || selected + 1 })}</p>
			{!preview.ok ? (
				<Status kind="error">{t("templateError", { message: preview.message })}</Status>
			) : (
				<>
					<div class="devices" data-testid="preview">
						<Notification kind="android" offer={preview.offer} />
						<Notification kind="chrome" offer={preview.offer} />
						<Notification kind="ios" offer={preview.offer} />
					</div>
					<div class="meter">
						<label for="payload-meter">
							{t("payloadSize", { bytes: fmtNumber(preview.bytes), max: fmtNumber(preview.max) })}
						</label>
						<meter
							id="payload-meter"
							min={0}
							max={preview.max}
							low={preview.max * 0.75}
							high={preview.max * 0.95}
							optimum={0}
							value={Math.min(preview.bytes, preview.max)}
						/>
						{!preview.fits && <Status kind="error">{t("payloadTooBig")}</Status>}
					</div>
				</>
			)}
		</aside>
	);
}

/** How each platform lays a notification out (texts clamped as they would be when collapsed). */
function Notification({
	kind,
	offer,
}: {
	kind: "android" | "chrome" | "ios";
	offer: { title: string; body: string; url?: string; actions?: { id: string; title: string }[] };
}) {
	const label = { android: "Android", chrome: "Chrome (desktop)", ios: "iOS" }[kind];
	let host = "";
	try {
		host = offer.url ? new URL(offer.url).host : location.host;
	} catch {
		host = location.host;
	}
	return (
		<figure class={`notif notif-${kind}`}>
			<figcaption>{label}</figcaption>
			<div class="notif-card">
				<div class="notif-app">{kind === "chrome" ? host : kind === "ios" ? "SHOP" : `Shop • ${host}`}</div>
				<div class="notif-title">{offer.title}</div>
				<div class="notif-body">{offer.body}</div>
				{/* iOS shows action buttons only on a long press: not in the collapsed view. */}
				{kind !== "ios" && offer.actions && offer.actions.length > 0 && (
					<div class="notif-actions">
						{offer.actions.map((a) => (
							<span key={a.id}>{a.title}</span>
						))}
					</div>
				)}
			</div>
		</figure>
	);
}

/** The service's parser over audience JSON text (text that is not JSON is jsonErrors' to name). */
function jsonAudienceIssues(text: string) {
	if (!text.trim()) return [];
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch {
		return [];
	}
	const r = parseAudience(value);
	return r.ok ? [] : r.issues;
}

function joinErrors(...xs: (string | undefined)[]): string | undefined {
	const found = xs.filter((x): x is string => !!x);
	return found.length ? found.join("; ") : undefined;
}

/** Every error at `path` or under it, joined (`audience.all.0.attribute: …`). */
function errorsUnder(errors: Map<string, string>, path: string): string | undefined {
	const found = [...errors].filter(([p]) => p === path || p.startsWith(`${path}.`));
	if (found.length === 0) return undefined;
	return found.map(([p, m]) => (p === path ? m : `${p.slice(path.length + 1)}: ${m}`)).join("; ");
}

/** A JSON text field (audience conditions, translations), its API errors beside it. */
function JsonField(props: {
	id: string;
	label: string;
	hint: string;
	value: string;
	error: string | undefined;
	onInput: (v: string) => void;
}) {
	const described = [`${props.id}-hint`, props.error ? `${props.id}-error` : ""].filter(Boolean).join(" ");
	return (
		<Field label={props.label} id={props.id} error={props.error} hint={props.hint}>
			<textarea
				id={props.id}
				rows={3}
				spellcheck={false}
				class="code"
				value={props.value}
				aria-invalid={props.error ? true : undefined}
				aria-describedby={described}
				onInput={(e) => props.onInput(e.currentTarget.value)}
			/>
		</Field>
	);
}
