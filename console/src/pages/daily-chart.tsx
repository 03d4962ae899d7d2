import { useMemo } from "preact/hooks";
import { api } from "../api.js";
import { DAILY_SERIES, type DailySeries, dailyFunnel, dayOf } from "../daily.js";
import { fmtNumber, t } from "../i18n.js";
import type { LiveEvent } from "../live.js";
import { errorText, Status, scrollable, useLoad } from "../ui.js";

/** Days shown. */
const DAYS = 14;
/** Pages of 1,000 events read at most. */
const MAX_PAGES = 10;
const COLORS: Record<DailySeries, string> = {
	"offer.sent": "#17614f",
	"offer.suppressed": "#b45309",
	"offer.displayed": "#2563eb",
	"offer.clicked": "#7c3aed",
	"cart.conversion": "#be123c",
};
const LABELS: Record<DailySeries, "sent" | "suppressed" | "displayed" | "clicked" | "converted"> = {
	"offer.sent": "sent",
	"offer.suppressed": "suppressed",
	"offer.displayed": "displayed",
	"offer.clicked": "clicked",
	"cart.conversion": "converted",
};

/** The campaign's funnel over the last 14 days, from the events feed, as a line chart and a table. */
export function DailyChart({ campaignId }: { campaignId: string }) {
	const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
	const { data, error, loading } = useLoad(
		async (signal) => {
			const since = new Date(Date.now() - DAYS * 86_400_000).toISOString();
			const events: LiveEvent[] = [];
			let cursor: string | null = null;
			for (let i = 0; i < MAX_PAGES; i++) {
				const qs = new URLSearchParams({ since, limit: "1000", types: "offer.*,cart.conversion" });
				if (cursor) qs.set("cursor", cursor);
				const r: { events: LiveEvent[]; nextCursor: string | null } = await api(
					"GET",
					`/v1/events?${qs}`,
					undefined,
					signal,
				);
				events.push(...r.events);
				cursor = r.nextCursor;
				if (!cursor) break;
			}
			return { events, truncated: cursor !== null };
		},
		[campaignId],
	);
	const rows = useMemo(() => {
		if (!data) return [];
		const to = dayOf(new Date().toISOString(), tz);
		const from = dayOf(new Date(Date.now() - (DAYS - 1) * 86_400_000).toISOString(), tz);
		return dailyFunnel(data.events, campaignId, tz, from, to);
	}, [data, campaignId, tz]);
	if (loading) return <Status>{t("loading")}</Status>;
	if (error !== undefined) return <Status kind="error">{errorText(error)}</Status>;
	const max = Math.max(1, ...rows.flatMap((r) => DAILY_SERIES.map((s) => r.counts[s])));
	const W = 700;
	const H = 220;
	const pad = { l: 44, r: 8, t: 12, b: 30 };
	const x = (i: number) => pad.l + (i * (W - pad.l - pad.r)) / Math.max(1, rows.length - 1);
	const y = (v: number) => H - pad.b - (v * (H - pad.t - pad.b)) / max;
	return (
		<section class="panel" aria-labelledby="daily-title">
			<h2 id="daily-title">{t("dailyTitle")}</h2>
			{data?.truncated && <p class="muted">{t("dailyTruncated")}</p>}
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
								{DAILY_SERIES.map((s) => (
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
									{DAILY_SERIES.map((s) => (
										<td key={s}>{fmtNumber(r.counts[s])}</td>
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
