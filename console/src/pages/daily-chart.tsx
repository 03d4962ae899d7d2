import { useMemo, useState } from "preact/hooks";
import type { DailySeries } from "../../../src/schemas/tracking.js";
import {
	DAILY_COLUMNS,
	DAILY_SERIES,
	type DailyColumn,
	type DailySeriesKey,
	dailyRows,
	groupChoices,
} from "../daily.js";
import { fmtNumber, type MessageKey, t } from "../i18n.js";
import { scrollable } from "../ui.js";

const COLORS: Record<DailySeriesKey, string> = {
	triggered: "#4b5563",
	sent: "#17614f",
	suppressed: "#b45309",
	displayed: "#2563eb",
	clicked: "#7c3aed",
	converted: "#be123c",
};
const LABELS: Record<DailyColumn, MessageKey> = {
	triggered: "triggered",
	sent: "sent",
	suppressed: "suppressed",
	displayed: "displayed",
	clicked: "clicked",
	converted: "converted",
	holdout: "holdoutGroup",
	revenue: "revenue",
};

/**
 * The campaign's funnel per day, counted by the service (`?series=daily`, days of the tenant's
 * time zone), as a line chart and a table, for all groups or one.
 */
export function DailyChart({ series }: { series: DailySeries }) {
	const [choice, setChoice] = useState("all");
	const choices = useMemo(() => groupChoices(series), [series]);
	const rows = useMemo(() => dailyRows(series, choice), [series, choice]);
	const max = Math.max(1, ...rows.flatMap((r) => DAILY_SERIES.map((s) => r.counts[s])));
	const W = 700;
	const H = 220;
	const pad = { l: 44, r: 8, t: 12, b: 30 };
	const x = (i: number) => pad.l + (i * (W - pad.l - pad.r)) / Math.max(1, rows.length - 1);
	const y = (v: number) => H - pad.b - (v * (H - pad.t - pad.b)) / max;
	const label = (c: (typeof choices)[number]) =>
		c.group === "all"
			? t("allGroups")
			: c.group === "holdout"
				? t("holdoutGroup")
				: c.group === "unassigned"
					? t("unassignedGroup")
					: t("variant", { id: c.variantId ?? "" });
	return (
		<section class="panel" aria-labelledby="daily-title">
			<h2 id="daily-title">{t("dailyTitle")}</h2>
			<p class="muted">{t("dailyDays", { tz: series.timeZone })}</p>
			<label>
				{t("dailyGroup")}{" "}
				<select
					value={choice}
					onChange={(e) => setChoice((e.target as HTMLSelectElement).value)}
					data-testid="daily-group"
				>
					{choices.map((c) => (
						<option key={c.value} value={c.value}>
							{label(c)}
						</option>
					))}
				</select>
			</label>
			<svg
				class="chart"
				viewBox={`0 0 ${W} ${H}`}
				role="img"
				aria-label={t("dailyChartLabel")}
				data-testid="daily-chart"
			>
				<line x1={pad.l} y1={y(0)} x2={W - pad.r} y2={y(0)} stroke="#8a938d" />
				<text x={pad.l - 4} y={y(max) + 4} text-anchor="end" font-size="18">
					{fmtNumber(max)}
				</text>
				<text x={pad.l - 4} y={y(0) + 4} text-anchor="end" font-size="18">
					0
				</text>
				{rows.map((r, i) =>
					i % 3 === 0 ? (
						<text key={r.day} x={x(i)} y={H - 6} text-anchor="middle" font-size="18">
							{r.day.slice(5)}
						</text>
					) : null,
				)}
				{DAILY_SERIES.map((s) => (
					<polyline
						key={s}
						fill="none"
						stroke={COLORS[s]}
						stroke-width="2"
						points={rows.map((r, i) => `${x(i)},${y(r.counts[s])}`).join(" ")}
					/>
				))}
			</svg>
			<ul class="legend">
				{DAILY_SERIES.map((s) => (
					<li key={s}>
						<span class="swatch" style={{ background: COLORS[s] }} /> {t(LABELS[s])}
					</li>
				))}
			</ul>
			<details>
				<summary>{t("dailyTable")}</summary>
				<div class="table-wrap" {...scrollable(t("dailyTable"))}>
					<table data-testid="daily-table">
						<thead>
							<tr>
								<th scope="col">{t("when")}</th>
								{DAILY_COLUMNS.map((s) => (
									<th scope="col" key={s}>
										{t(LABELS[s])}
									</th>
								))}
							</tr>
						</thead>
						<tbody>
							{rows.map((r) => (
								<tr key={r.day}>
									<th scope="row">{r.day}</th>
									{DAILY_COLUMNS.map((s) => (
										<td key={s}>
											{fmtNumber(r.counts[s], s === "revenue" ? { maximumFractionDigits: 2 } : undefined)}
										</td>
									))}
								</tr>
							))}
						</tbody>
					</table>
				</div>
			</details>
		</section>
	);
}
