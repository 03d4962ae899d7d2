import { useEffect, useState } from "preact/hooks";
import { SseReader } from "../../../src/live/sse.js";
import type { PresenceSnapshot } from "../../../src/live/stream.js";
import { ApiError, apiStream } from "../api.js";
import { fmtDate, fmtNumber, t } from "../i18n.js";
import { crowd, emptyLive, foldEvents, fromPresence, type LiveEvent, type LiveState } from "../live.js";
import { errorText, Status, scrollable } from "../ui.js";

/** Longest wait before reconnecting after failures (doubles from the server's retry hint). */
const MAX_BACKOFF_MS = 30_000;

/**
 * Who is inside each store and the latest events, pushed by the service (GET /v1/live,
 * Server-Sent Events read with fetch() so the session stays in the Authorization header). The
 * stream starts with the presence snapshot and the latest events; each connection lasts a few
 * minutes, then the page reconnects with the last event id and misses nothing.
 */
export function Live() {
	const [state, setState] = useState<LiveState>(emptyLive);
	const [error, setError] = useState<string | null>(null);
	const [loaded, setLoaded] = useState(false);
	const [connected, setConnected] = useState(false);
	const [truncated, setTruncated] = useState(false);
	useEffect(() => {
		const ac = new AbortController();
		let current = emptyLive();
		let lastId: string | null = null;
		let failures = 0;
		let retry = 2_000;
		const apply = (next: LiveState) => {
			current = next;
			setState(next);
		};
		const connect = async (): Promise<void> => {
			const res = await apiStream("/v1/live", lastId ? { "last-event-id": lastId } : {}, ac.signal);
			const body = res.body;
			if (!body) throw new ApiError(0, "network", "no stream");
			const reader = body.getReader();
			const decoder = new TextDecoder();
			const sse = new SseReader();
			setConnected(true);
			setError(null);
			for (;;) {
				const { done, value } = await reader.read();
				if (done) break;
				const batch: LiveEvent[] = [];
				let stop = false;
				for (const m of sse.push(decoder.decode(value, { stream: true }))) {
					if (m.event === "presence") {
						// Events before the snapshot are already in it: fold the batch so far first.
						if (batch.length) apply(foldEvents(current, batch.splice(0)));
						const snap = JSON.parse(m.data) as PresenceSnapshot;
						setTruncated(snap.truncated);
						apply(fromPresence(snap));
					} else if (m.event === "message") batch.push(JSON.parse(m.data) as LiveEvent);
					else if (m.event === "bye" && (JSON.parse(m.data) as { reconnect?: boolean }).reconnect === false)
						stop = true;
				}
				if (batch.length) apply(foldEvents(current, batch));
				lastId = sse.lastId || lastId;
				if (sse.retry !== null) retry = sse.retry;
				failures = 0;
				setLoaded(true);
				if (stop) throw new ApiError(401, "unauthorized", "session ended");
			}
		};
		const run = async () => {
			while (!ac.signal.aborted) {
				try {
					await connect();
				} catch (e) {
					if (ac.signal.aborted) return;
					setConnected(false);
					if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
						setError(errorText(e));
						return;
					}
					failures += 1;
					setError(t("liveReconnecting"));
				}
				if (ac.signal.aborted) return;
				const wait = Math.min(MAX_BACKOFF_MS, retry * 2 ** Math.min(failures, 4));
				await new Promise((r) => setTimeout(r, failures === 0 ? retry : wait));
			}
		};
		void run();
		return () => ac.abort();
	}, []);
	const stores = crowd(state);
	return (
		<>
			<h1>{t("liveTitle")}</h1>
			<p class="muted">{t("liveHelp")}</p>
			{error && <Status kind="error">{error}</Status>}
			{!loaded && !error && <Status>{t("loading")}</Status>}
			{connected && (
				<p class="muted" data-testid="live-status">
					{t("liveConnected")}
				</p>
			)}
			{truncated && <p class="muted">{t("liveTruncated")}</p>}
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
