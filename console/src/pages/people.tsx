import { useState } from "preact/hooks";
import { ApiError, api, apiBlob } from "../api.js";
import { fmtDate, t } from "../i18n.js";
import { ConfirmButton, errorText, Status, scrollable } from "../ui.js";

interface Device {
	deviceId?: string;
	platform?: string;
	pushHost?: string | null;
	createdAt?: string;
	lastSeenAt?: string;
	[k: string]: unknown;
}

interface PersonView {
	userId?: string;
	firstName?: string | null;
	locale?: string | null;
	consent?: { location?: boolean; push?: boolean };
	devices?: Device[];
	insideGeofences?: string[];
	[k: string]: unknown;
}

interface Decision {
	trigger: unknown;
	campaignId: string;
	variantId: string | null;
	decision: string;
	reason: string | null;
	offerId: string | null;
	at: string;
}

/** Look up one person: profile, consent, devices (never keys), the why-not trace; export, erase. */
export function People() {
	const [query, setQuery] = useState("");
	const [userId, setUserId] = useState<string | null>(null);
	const [person, setPerson] = useState<PersonView | null>(null);
	const [decisions, setDecisions] = useState<Decision[]>([]);
	const [status, setStatus] = useState<{ kind: "info" | "ok" | "error"; text: string } | null>(null);

	const lookUp = async (e: Event) => {
		e.preventDefault();
		const id = query.trim();
		if (!id) return;
		setStatus({ kind: "info", text: t("loading") });
		setPerson(null);
		setDecisions([]);
		setUserId(null);
		const path = `/v1/users/${encodeURIComponent(id)}`;
		try {
			const [p, d] = await Promise.all([
				api<PersonView>("GET", path).catch((x: unknown) => {
					if (x instanceof ApiError && x.status === 404) return null;
					throw x;
				}),
				api<{ decisions: Decision[] }>("GET", `${path}/decisions?limit=50`),
			]);
			setUserId(id);
			setPerson(p);
			setDecisions(d.decisions);
			setStatus(p || d.decisions.length ? null : { kind: "info", text: t("notFound") });
		} catch (x) {
			setStatus({ kind: "error", text: errorText(x) });
		}
	};

	const exportData = async () => {
		if (!userId) return;
		try {
			const blob = await apiBlob(`/v1/users/${encodeURIComponent(userId)}/export`);
			const url = URL.createObjectURL(blob);
			const a = document.createElement("a");
			a.href = url;
			a.download = `user-${userId}.json`;
			a.click();
			setTimeout(() => URL.revokeObjectURL(url), 10_000);
		} catch (x) {
			setStatus({ kind: "error", text: errorText(x) });
		}
	};

	const erase = async () => {
		if (!userId) return;
		try {
			await api("DELETE", `/v1/users/${encodeURIComponent(userId)}`);
			setPerson(null);
			setDecisions([]);
			setStatus({ kind: "ok", text: t("erased", { id: userId }) });
			setUserId(null);
		} catch (x) {
			setStatus({ kind: "error", text: errorText(x) });
		}
	};

	return (
		<>
			<h1>{t("peopleTitle")}</h1>
			<form class="row" onSubmit={lookUp}>
				<label for="person-id">{t("userId")}</label>
				<input id="person-id" value={query} onInput={(e) => setQuery(e.currentTarget.value)} required />
				<button type="submit" class="primary">
					{t("lookUp")}
				</button>
			</form>
			{status && <Status kind={status.kind}>{status.text}</Status>}
			{userId && (
				<section class="panel" aria-labelledby="person-title">
					<h2 id="person-title">{userId}</h2>
					{person && (
						<>
							<dl class="facts">
								<dt>{t("name")}</dt>
								<dd>{person.firstName ?? "–"}</dd>
								<dt>{t("consent")}</dt>
								<dd>
									{t("location")}: {person.consent?.location ? t("yes") : t("no")} · {t("push")}:{" "}
									{person.consent?.push ? t("yes") : t("no")}
								</dd>
								<dt>{t("presence")}</dt>
								<dd data-testid="presence">{person.insideGeofences?.join(", ") || t("insideNone")}</dd>
							</dl>
							<h3>{t("devices")}</h3>
							<ul>
								{(person.devices ?? []).map((d, i) => (
									<li key={String(d.deviceId ?? i)}>
										{Object.entries(d)
											.filter(([, v]) => v !== null && typeof v !== "object")
											.map(([k, v]) => `${k}: ${String(v)}`)
											.join(" · ")}
									</li>
								))}
							</ul>
						</>
					)}
					<h3>{t("decisions")}</h3>
					<div class="table-wrap" {...scrollable(t("decisions"))}>
						<table data-testid="decisions">
							<thead>
								<tr>
									<th scope="col">{t("when")}</th>
									<th scope="col">{t("campaign")}</th>
									<th scope="col">{t("decision")}</th>
									<th scope="col">{t("reason")}</th>
								</tr>
							</thead>
							<tbody>
								{decisions.map((d, i) => (
									<tr key={i}>
										<td>{fmtDate(d.at)}</td>
										<td>
											{d.campaignId}
											{d.variantId ? ` / ${d.variantId}` : ""}
										</td>
										<td>
											<span class={`badge badge-${d.decision}`}>{d.decision}</span>
										</td>
										<td>{d.reason ? <code>{d.reason}</code> : "–"}</td>
									</tr>
								))}
							</tbody>
						</table>
					</div>
					<div class="row">
						<button type="button" onClick={() => void exportData()}>
							{t("exportData")}
						</button>
						<ConfirmButton
							label={t("erase")}
							danger
							question={t("confirmErase", { id: userId })}
							onConfirm={erase}
						/>
					</div>
				</section>
			)}
		</>
	);
}
