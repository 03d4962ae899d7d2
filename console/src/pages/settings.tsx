import { useEffect, useState } from "preact/hooks";
import { ApiError, api, pathKey } from "../api.js";
import { fmtDate, t } from "../i18n.js";
import { basemapUrl, setBasemapUrl } from "../settings-local.js";
import { ConfirmButton, errorText, Field, inputType, Status } from "../ui.js";

interface TenantSettings {
	timezone: string;
	maxAccuracyMeters: number;
	caps: { perDay: number; perWeek: number };
	minIntervalSeconds: number;
	quietHours: { start: string; end: string } | null;
	retentionDays: number;
	allowedOrigins: string[];
	[k: string]: unknown;
}

interface Form {
	timezone: string;
	maxAccuracyMeters: string;
	perDay: string;
	perWeek: string;
	minIntervalSeconds: string;
	quiet: boolean;
	quietStart: string;
	quietEnd: string;
	retentionDays: string;
	allowedOrigins: string;
	basemap: string;
}

const num = (s: string): number | string => (s.trim() !== "" && Number.isFinite(Number(s)) ? Number(s) : s);

function toForm(s: TenantSettings): Form {
	return {
		timezone: s.timezone,
		maxAccuracyMeters: String(s.maxAccuracyMeters),
		perDay: String(s.caps.perDay),
		perWeek: String(s.caps.perWeek),
		minIntervalSeconds: String(s.minIntervalSeconds),
		quiet: s.quietHours !== null,
		quietStart: s.quietHours?.start ?? "21:00",
		quietEnd: s.quietHours?.end ?? "09:00",
		retentionDays: String(s.retentionDays),
		allowedOrigins: s.allowedOrigins.join("\n"),
		basemap: basemapUrl() ?? "",
	};
}

export function Settings() {
	const [form, setForm] = useState<Form | null>(null);
	const [errors, setErrors] = useState<Map<string, string>>(new Map());
	const [status, setStatus] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
	useEffect(() => {
		api<TenantSettings>("GET", "/v1/settings").then(
			(s) => setForm(toForm(s)),
			(e) => setStatus({ kind: "error", text: errorText(e) }),
		);
	}, []);
	if (!form)
		return (
			<>
				<h1>{t("settingsTitle")}</h1>
				{status ? <Status kind="error">{status.text}</Status> : <Status>{t("loading")}</Status>}
			</>
		);
	const set = (p: Partial<Form>) => setForm({ ...form, ...p });
	const save = async (e: Event) => {
		e.preventDefault();
		setErrors(new Map());
		setStatus(null);
		setBasemapUrl(form.basemap);
		try {
			const s = await api<TenantSettings>("PUT", "/v1/settings", {
				timezone: form.timezone.trim(),
				maxAccuracyMeters: num(form.maxAccuracyMeters),
				caps: { perDay: num(form.perDay), perWeek: num(form.perWeek) },
				minIntervalSeconds: num(form.minIntervalSeconds),
				quietHours: form.quiet ? { start: form.quietStart, end: form.quietEnd } : null,
				retentionDays: num(form.retentionDays),
				allowedOrigins: form.allowedOrigins
					.split(/\s+/)
					.map((x) => x.trim())
					.filter(Boolean),
			});
			setForm(toForm(s));
			setStatus({ kind: "ok", text: t("saved") });
		} catch (x) {
			if (x instanceof ApiError && x.errors.length) {
				setErrors(new Map(x.errors.map((i) => [pathKey(i.path), i.message])));
				setStatus({ kind: "error", text: x.message });
			} else setStatus({ kind: "error", text: errorText(x) });
		}
	};
	const input = (key: keyof Form, label: string, path: string, type = "text") => {
		const err = errors.get(path);
		return (
			<Field label={label} id={`s-${path}`} error={err}>
				<input
					id={`s-${path}`}
					{...inputType(type)}
					value={form[key] as string}
					aria-invalid={err ? true : undefined}
					aria-describedby={err ? `s-${path}-error` : undefined}
					onInput={(e) => set({ [key]: e.currentTarget.value } as Partial<Form>)}
				/>
			</Field>
		);
	};
	const originsErr = [...errors].find(([p]) => p.startsWith("allowedOrigins"))?.[1];
	return (
		<>
			<h1>{t("settingsTitle")}</h1>
			<form onSubmit={save} class="settings-form" noValidate>
				{status && <Status kind={status.kind}>{status.text}</Status>}
				{input("timezone", t("timezone"), "timezone")}
				{input("maxAccuracyMeters", t("maxAccuracy"), "maxAccuracyMeters", "number")}
				<div class="grid2">
					{input("perDay", t("capsPerDay"), "caps.perDay", "number")}
					{input("perWeek", t("capsPerWeek"), "caps.perWeek", "number")}
				</div>
				{input("minIntervalSeconds", t("minInterval"), "minIntervalSeconds", "number")}
				<fieldset>
					<legend>{t("quietHours")}</legend>
					<div class="field check">
						<input
							id="s-quiet-off"
							type="checkbox"
							checked={!form.quiet}
							onChange={(e) => set({ quiet: !e.currentTarget.checked })}
						/>
						<label for="s-quiet-off">{t("quietOff")}</label>
					</div>
					{form.quiet && (
						<div class="grid2">
							{input("quietStart", t("quietStart"), "quietHours.start", "time")}
							{input("quietEnd", t("quietEnd"), "quietHours.end", "time")}
						</div>
					)}
				</fieldset>
				{input("retentionDays", t("retentionDays"), "retentionDays", "number")}
				<Field label={t("allowedOrigins")} id="s-allowedOrigins" error={originsErr}>
					<textarea
						id="s-allowedOrigins"
						rows={3}
						value={form.allowedOrigins}
						aria-invalid={originsErr ? true : undefined}
						onInput={(e) => set({ allowedOrigins: e.currentTarget.value })}
					/>
				</Field>
				{input("basemap", t("basemap"), "basemap", "url")}
				<button type="submit" class="primary">
					{t("save")}
				</button>
			</form>
			<Keys />
		</>
	);
}

function Keys() {
	const [grace, setGrace] = useState("86400");
	const [result, setResult] = useState<{ kind: "ok" | "error"; text: string; key?: string } | null>(null);
	const rotate = async (kind: "secret" | "publishable" | "webhook") => {
		setResult(null);
		try {
			const r = await api<{
				secretKey?: string;
				publishableKey?: string;
				webhookSecret?: string;
				previousValidUntil: string;
			}>("POST", "/v1/keys/rotate", { kind, graceSeconds: num(grace) });
			const key = r.secretKey ?? r.publishableKey ?? r.webhookSecret ?? "";
			setResult({ kind: "ok", text: t("previousValidUntil", { at: fmtDate(r.previousValidUntil) }), key });
		} catch (x) {
			setResult({ kind: "error", text: errorText(x) });
		}
	};
	const names = {
		secret: t("rotateSecret"),
		publishable: t("rotatePublishable"),
		webhook: t("rotateWebhook"),
	};
	return (
		<section class="panel" aria-labelledby="keys-title">
			<h2 id="keys-title">{t("keys")}</h2>
			<Field label={t("graceSeconds")} id="rotate-grace">
				<input
					id="rotate-grace"
					type="number"
					min={0}
					value={grace}
					onInput={(e) => setGrace(e.currentTarget.value)}
				/>
			</Field>
			<div class="row">
				{(["secret", "publishable", "webhook"] as const).map((k) => (
					<ConfirmButton
						key={k}
						label={t("rotate", { kind: names[k] })}
						question={t("confirmRotate", { kind: names[k] })}
						danger={k === "secret"}
						onConfirm={() => rotate(k)}
					/>
				))}
			</div>
			{result?.key && (
				<p class="status status-ok" role="status">
					{t("newKey", { key: "" })}
					<code class="secret">{result.key}</code>
				</p>
			)}
			{result && <Status kind={result.kind}>{result.text}</Status>}
		</section>
	);
}
