import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api.js";
import { fmtDate, fmtNumber, t } from "../i18n.js";
import { crowd, emptyLive, foldEvents, type LiveEvent, type LiveState, nextSince } from "../live.js";
import { errorText, Status, scrollable } from "../ui.js";

/** How often the feed is read. */
const POLL_MS = 5_000;
/** How far back the page starts: presence is rebuilt from the enter and exit events of this window. */
const WINDOW_MS = 12 * 3600_000;
/** Pages read per poll at most (1,000 events each). */
const MAX_PAGES = 5;

/**
 * Who is inside each store and the latest events, read from the events feed every few
 * seconds (GET /v1/events with `since`, overlapping, de-duplicated by event id).
 */
export function Live() {
	const [state, setState] = useState<LiveState>(emptyLive);
	const [error, setError] = useState<string | null>(null);
	const [loaded, setLoaded] = useState(false);
	const ref = useRef(state);
	ref.current = state;
	useEffect(() => {
		const opened = Date.now();
		let stopped = false;
		let timer: ReturnType<typeof setTimeout> | undefined;
		const ac = new AbortController();
		const poll = async () => {
			try {
				let cursor: string | null = null;
				const since = ref.current.newest
					? nextSince(ref.current, opened)
					: new Date(opened - WINDOW_MS).toISOString();
				for (let page = 0; page < MAX_PAGES; page++) {
					const qs = new URLSearchParams({ since, limit: "1000" });
					if (cursor) qs.set("cursor", cursor);
					const r: { events: LiveEvent[]; nextCursor: string | null } = await api(
						"GET",
						`/v1/events?${qs}`,
						undefined,
						ac.signal,
					);
					const next = foldEvents(ref.current, r.events);
					ref.current = next;
					setState(next);
					cursor = r.nextCursor;
					if (!cursor) break;
				}
				setError(null);
				setLoaded(true);
			} catch (e) {
				if (stopped) return;
				setError(errorText(e));
			}
			if (!stopped) timer = setTimeout(poll, POLL_MS);
		};
		void poll();
		return () => {
			stopped = true;
			ac.abort();
			clearTimeout(timer);
		};
	}, []);
	const stores = crowd(state);
	return (
		<>
			<h1>{t("liveTitle")}</h1>
			<p class="muted">{t("liveHelp")}</p>
			{error && <Status kind="error">{error}</Status>}
			{!loaded && !error && <Status>{t("loading")}</Status>}
			<section class="panel" aria-labelledby="live-inside">
				<h2 id="live-inside">{t("insideNow")}</h2>
				{stores.length === 0 ? (
					<p>{t("nobodyInside")}</p>
				) : (
					<ul class="bars" data-testid="live-inside">
						{stores.map((s) => (
							<li key={s.id}>
								{s.name} <small class="muted">{s.id}</small>: <strong>{fmtNumber(s.people)}</strong>
								<span class="bar" style={{ width: `${(100 * s.people) / (stores[0]?.people || 1)}%` }} />
							</li>
						))}
					</ul>
				)}
			</section>
			<section aria-labelledby="live-latest">
				<h2 id="live-latest">{t("latestEvents")}</h2>
				<div class="table-wrap" {...scrollable(t("latestEvents"))}>
					<table data-testid="live-events">
						<thead>
							<tr>
								<th scope="col">{t("when")}</th>
								<th scope="col">{t("event")}</th>
								<th scope="col">{t("userId")}</th>
								<th scope="col">{t("details")}</th>
							</tr>
						</thead>
						<tbody>
							{state.latest.map((e) => (
								<tr key={e.id}>
									<td>{fmtDate(e.createdAt)}</td>
									<td>
										<code>{e.type}</code>
									</td>
									<td>{e.userId}</td>
									<td>{details(e)}</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			</section>
		</>
	);
}

function details(e: LiveEvent): string {
	const d = e.data;
	return ["geofenceName", "geofenceId", "campaignId", "variantId", "reason", "action", "revenue"]
		.filter((k) => d[k] !== undefined && d[k] !== null)
		.map((k) => String(d[k]))
		.join(" · ");
}
