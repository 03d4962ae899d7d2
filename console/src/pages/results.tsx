import type { CampaignStats } from "../../../src/schemas/tracking.js";
import { api } from "../api.js";
import { fmtNumber, fmtPercent, t } from "../i18n.js";
import { href } from "../router.js";
import { campaignResults, type Difference, type GroupResult, type Rate } from "../stats.js";
import { errorText, Status, scrollable, useLoad } from "../ui.js";
import { DailyChart } from "./daily-chart.js";

export function Results({ id }: { id: string }) {
	const { data, error, loading, reload } = useLoad(
		(signal) =>
			api<CampaignStats>(
				"GET",
				`/v1/campaigns/${encodeURIComponent(id)}/stats?series=daily`,
				undefined,
				signal,
			),
		[id],
	);
	const rows = data ? campaignResults(data) : [];
	return (
		<>
			<h1>{t("resultsTitle", { id })}</h1>
			<p>
				<a href={href("campaigns", id)}>{t("edit")}</a>
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
			{data && (
				<>
					<div class="table-wrap" {...scrollable(t("results"))}>
						<table class="results" data-testid="results">
							<thead>
								<tr>
									<th scope="col">{t("group")}</th>
									<th scope="col">{t("triggered")}</th>
									<th scope="col">{t("sent")}</th>
									<th scope="col">{t("displayRate")}</th>
									<th scope="col">{t("clickRate")}</th>
									<th scope="col">{t("conversionRate")}</th>
									<th scope="col">{t("revenue")}</th>
									<th scope="col">{t("uplift")}</th>
								</tr>
							</thead>
							<tbody>
								{rows.map((r) => (
									<tr key={`${r.group}:${r.variantId}`}>
										<th scope="row">{groupName(r)}</th>
										<td>{fmtNumber(r.triggered)}</td>
										<td>{fmtNumber(r.sent)}</td>
										<td>
											<RateCell rate={r.displayRate} />
										</td>
										<td>
											<RateCell rate={r.clickRate} />
										</td>
										<td>
											<RateCell rate={r.conversionRate} />
										</td>
										<td>{fmtNumber(r.revenue, { maximumFractionDigits: 2 })}</td>
										<td>
											<UpliftCell u={r.uplift} />
										</td>
									</tr>
								))}
							</tbody>
						</table>
					</div>
					{data.daily && <DailyChart series={data.daily} />}
					{data.pushOptInAmongTriggered.rate !== null && (
						<p>{t("pushOptIn", { rate: fmtPercent(data.pushOptInAmongTriggered.rate) })}</p>
					)}
					{rows.map((r) =>
						r.suppressed.length || r.clicksByAction.length ? (
							<section key={`d:${r.group}:${r.variantId}`} class="panel">
								<h2>{groupName(r)}</h2>
								{r.suppressed.length > 0 && (
									<>
										<h3>{t("suppressedBy")}</h3>
										<ul class="bars">
											{r.suppressed.map(([reason, n]) => (
												<li key={reason}>
													<code>{reason}</code> {fmtNumber(n)}
													<span class="bar" style={{ width: `${(100 * n) / Math.max(1, r.triggered)}%` }} />
												</li>
											))}
										</ul>
									</>
								)}
								{r.clicksByAction.length > 0 && (
									<>
										<h3>{t("clicksByAction")}</h3>
										<ul>
											{r.clicksByAction.map(([action, n]) => (
												<li key={action}>
													{action || t("body_click")}: {fmtNumber(n)}
												</li>
											))}
										</ul>
									</>
								)}
							</section>
						) : null,
					)}
				</>
			)}
		</>
	);
}

function groupName(r: GroupResult): string {
	if (r.group === "holdout") return t("holdoutGroup");
	if (r.group === "unassigned") return t("unassignedGroup");
	return t("variant", { id: r.variantId ?? "" });
}

function RateCell({ rate }: { rate: Rate | null }) {
	if (!rate) return <span class="muted">{t("notEnough")}</span>;
	return (
		<>
			{fmtPercent(rate.p)}
			<br />
			<small class="muted">{t("ci", { low: fmtPercent(rate.low), high: fmtPercent(rate.high) })}</small>
		</>
	);
}

function UpliftCell({ u }: { u: Difference | null }) {
	if (!u) return <span class="muted">–</span>;
	const pts = (x: number) => `${x >= 0 ? "+" : ""}${fmtNumber(x * 100, { maximumFractionDigits: 1 })} pt`;
	return (
		<span class={u.significant ? (u.diff > 0 ? "good" : "bad") : ""}>
			{pts(u.diff)}
			{u.relative !== null && ` (${u.relative >= 0 ? "+" : ""}${fmtPercent(u.relative)})`}
			<br />
			<small class="muted">{t("ci", { low: pts(u.low), high: pts(u.high) })}</small>
		</span>
	);
}
