import { api } from "../api.js";
import type { CampaignBody } from "../campaign-form.js";
import { fmtNumber, t } from "../i18n.js";
import { href } from "../router.js";
import { errorText, Status, scrollable, useLoad } from "../ui.js";

export function Campaigns() {
	const { data, error, loading, reload } = useLoad(
		(signal) => api<{ campaigns: CampaignBody[] }>("GET", "/v1/campaigns", undefined, signal),
		[],
	);
	return (
		<>
			<h1>{t("campaignsTitle")}</h1>
			<p>
				<a class="button primary" href={href("campaigns", "new")}>
					{t("newCampaign")}
				</a>
			</p>
			{loading && <Status>{t("loading")}</Status>}
			{error !== undefined && (
				<Status kind="error">
					{errorText(error)}{" "}
					<button type="button" onClick={reload}>
						{t("retry")}
					</button>
				</Status>
			)}
			{data && data.campaigns.length === 0 && <p>{t("noCampaigns")}</p>}
			{data && data.campaigns.length > 0 && (
				<div class="table-wrap" {...scrollable(t("campaignsTitle"))}>
					<table>
						<thead>
							<tr>
								<th scope="col">{t("name")}</th>
								<th scope="col">{t("status")}</th>
								<th scope="col">{t("trigger")}</th>
								<th scope="col">{t("priority")}</th>
								<th scope="col">{t("results")}</th>
							</tr>
						</thead>
						<tbody>
							{data.campaigns.map((c) => (
								<tr key={c.id}>
									<td>
										<a href={href("campaigns", c.id ?? "")}>{c.name}</a>
										<br />
										<small class="muted">{c.id}</small>
									</td>
									<td>
										<span class={`badge badge-${c.status}`}>{c.status}</span>
									</td>
									<td>{triggerSummary(c)}</td>
									<td>{fmtNumber(c.priority)}</td>
									<td>
										<a href={href("campaigns", c.id ?? "", "results")}>{t("results")}</a>
									</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			)}
		</>
	);
}

function triggerSummary(c: CampaignBody): string {
	const tr = c.trigger;
	if (tr.type === "geofence") {
		const on = { enter: t("onEnter"), dwell: t("onDwell"), exit: t("onExit") }[tr.on];
		const what = [...(tr.tags ?? []).map((x) => `#${x}`), ...(tr.geofenceIds ?? [])].join(", ");
		return `${t("triggerGeofence")}: ${on}${what ? ` (${what})` : ""}`;
	}
	return `${t("triggerCart")}: ${[...(tr.whenCartHas.skus ?? []), ...(tr.whenCartHas.categories ?? [])].join(", ")}`;
}
