import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api } from "../api.js";
import type { Feature, FeatureCollection } from "../geojson.js";
import { fmtNumber, t } from "../i18n.js";
import type { StoreMap } from "../map.js";
import { basemapUrl } from "../settings-local.js";
import { ConfirmButton, errorText, Status, scrollable } from "../ui.js";
import { DrawPanel } from "./draw.js";
import { EditStore } from "./edit-store.js";
import { ImportPanel } from "./import.js";

interface Page extends FeatureCollection {
	nextCursor: string | null;
}

const PAGE = 500;
/** Pause after the last keystroke before the service is asked. */
const SEARCH_DEBOUNCE_MS = 300;

export function Stores() {
	const [stores, setStores] = useState<Feature[]>([]);
	const [cursor, setCursor] = useState<string | null>(null);
	const [loading, setLoading] = useState(true);
	const [error, setError] = useState<string | null>(null);
	const [notice, setNotice] = useState<string | null>(null);
	const [query, setQuery] = useState("");
	const [tag, setTag] = useState("");
	const [editing, setEditing] = useState<Feature | null>(null);

	// The search runs on the service (GET /v1/geofences?q=&tag=), so it covers every store, not
	// only the pages loaded; the loaded list is filtered the same way at once while typing.
	const [filters, setFilters] = useState({ q: "", tag: "" });
	useEffect(() => {
		const next = { q: query.trim(), tag: tag.trim() };
		const timer = setTimeout(
			() => setFilters((f) => (f.q === next.q && f.tag === next.tag ? f : next)),
			SEARCH_DEBOUNCE_MS,
		);
		return () => clearTimeout(timer);
	}, [query, tag]);
	const latest = useRef(0);
	const load = async (from: string | null, reset: boolean) => {
		const ticket = ++latest.current;
		setLoading(true);
		setError(null);
		try {
			const qs = new URLSearchParams({ limit: String(PAGE) });
			if (from) qs.set("cursor", from);
			if (filters.q) qs.set("q", filters.q);
			if (filters.tag) qs.set("tag", filters.tag);
			const page = await api<Page>("GET", `/v1/geofences?${qs}`);
			// An older search answering late is dropped.
			if (ticket !== latest.current) return;
			setStores((s) => (reset ? page.features : [...s, ...page.features]));
			setCursor(page.nextCursor);
		} catch (e) {
			if (ticket === latest.current) setError(errorText(e));
		} finally {
			if (ticket === latest.current) setLoading(false);
		}
	};
	useEffect(() => void load(null, true), [filters]);

	const [knownTags, setKnownTags] = useState<string[]>([]);
	useEffect(
		() =>
			setKnownTags((k) => {
				const all = new Set([...k, ...stores.flatMap((s) => s.properties.tags ?? [])]);
				return all.size === k.length ? k : [...all].sort();
			}),
		[stores],
	);
	const shown = useMemo(() => {
		const q = query.trim().toLowerCase();
		const tg = tag.trim();
		return stores.filter(
			(s) =>
				(!tg || s.properties.tags?.includes(tg)) &&
				(!q ||
					s.properties.id.toLowerCase().includes(q) ||
					(s.properties.name ?? "").toLowerCase().includes(q)),
		);
	}, [stores, query, tag]);

	const mapRef = useRef<StoreMap | null>(null);
	const [mapReady, setMapReady] = useState(false);
	const remove = async (id: string) => {
		try {
			await api("DELETE", `/v1/geofences/${encodeURIComponent(id)}`);
			setStores((s) => s.filter((f) => f.properties.id !== id));
			setEditing((e) => (e?.properties.id === id ? null : e));
			setNotice(t("deleted", { id }));
		} catch (e) {
			setError(errorText(e));
		}
	};

	return (
		<>
			<h1>{t("navStores")}</h1>
			<ImportPanel onUploaded={() => void load(null, true)} />
			<section aria-label={t("navStores")} class="stores">
				<div class="filters">
					<label for="store-search" class="visually-hidden">
						{t("searchStores")}
					</label>
					<input
						id="store-search"
						type="search"
						placeholder={t("searchStores")}
						value={query}
						onInput={(e) => setQuery(e.currentTarget.value)}
					/>
					<label for="store-tag" class="visually-hidden">
						{t("tag")}
					</label>
					<input
						id="store-tag"
						list="store-tags"
						placeholder={t("tag")}
						value={tag}
						onInput={(e) => setTag(e.currentTarget.value)}
					/>
					<datalist id="store-tags">
						{knownTags.map((x) => (
							<option key={x} value={x} />
						))}
					</datalist>
				</div>
				{error && <Status kind="error">{error}</Status>}
				{notice && <Status kind="ok">{notice}</Status>}
				<MapView stores={shown} mapRef={mapRef} onReady={setMapReady} />
				<DrawPanel map={mapReady ? mapRef.current : null} onSaved={() => void load(null, true)} />
				{editing && (
					<EditStore
						feature={editing}
						map={mapReady ? mapRef.current : null}
						onSaved={(id) => {
							setEditing(null);
							setNotice(t("drawSaved", { id }));
							void load(null, true);
						}}
						onClose={() => setEditing(null)}
					/>
				)}
				<p class="muted" aria-live="polite">
					{t("storesCount", { shown: fmtNumber(shown.length), loaded: fmtNumber(stores.length) })}
				</p>
				{!loading && stores.length === 0 && !error && <p>{t("noStores")}</p>}
				{shown.length > 0 && (
					<div class="table-wrap" {...scrollable(t("navStores"))}>
						<table class="stores-table">
							<thead>
								<tr>
									<th scope="col">{t("id")}</th>
									<th scope="col">{t("name")}</th>
									<th scope="col">{t("tags")}</th>
									<th scope="col" class="col-shape">
										{t("shape")}
									</th>
									<th scope="col">
										<span class="visually-hidden">{t("storeActions")}</span>
									</th>
								</tr>
							</thead>
							<tbody>
								{shown.slice(0, 500).map((f) => (
									<tr key={f.properties.id}>
										<td>
											<button
												type="button"
												class="link"
												aria-label={t("showOnMap", { id: f.properties.id })}
												onClick={() => mapRef.current?.select(f.properties.id)}
											>
												{f.properties.id}
											</button>
										</td>
										<td>{f.properties.name}</td>
										<td>{(f.properties.tags ?? []).join(", ")}</td>
										<td class="col-shape">{shapeOf(f)}</td>
										<td class="row-actions">
											<button
												type="button"
												aria-label={t("editStoreOf", { id: f.properties.id })}
												onClick={() => {
													setNotice(null);
													setEditing(f);
													mapRef.current?.select(f.properties.id);
												}}
											>
												{t("edit")}
											</button>
											<ConfirmButton
												label={t("delete")}
												ariaLabel={`${t("delete")} ${f.properties.id}`}
												danger
												question={t("confirmDeleteStore", { id: f.properties.id })}
												onConfirm={() => remove(f.properties.id)}
											/>
										</td>
									</tr>
								))}
							</tbody>
						</table>
					</div>
				)}
				{loading && <Status>{t("loading")}</Status>}
				{cursor && !loading && (
					<button type="button" onClick={() => void load(cursor, false)}>
						{t("loadMore")}
					</button>
				)}
			</section>
		</>
	);
}

function shapeOf(f: Feature): string {
	if (f.geometry.type === "Point") return t("circle", { radius: fmtNumber(f.properties.radius ?? 0) });
	return f.geometry.type === "Polygon" ? t("polygon") : t("multiPolygon");
}

/** The map, imported on first use so the first load stays small. */
function MapView({
	stores,
	mapRef,
	onReady,
}: {
	stores: Feature[];
	mapRef: { current: StoreMap | null };
	onReady: (ready: boolean) => void;
}) {
	const el = useRef<HTMLElement>(null);
	const [state, setState] = useState<"loading" | "ready" | string>("loading");
	const latest = useRef(stores);
	latest.current = stores;
	useEffect(() => {
		let cancelled = false;
		import("../map.js")
			.then(({ createStoreMap }) => {
				if (cancelled || !el.current) return;
				const m = createStoreMap(el.current, basemapUrl());
				mapRef.current = m;
				m.setStores({ type: "FeatureCollection", features: latest.current });
				setState("ready");
				onReady(true);
			})
			.catch((e: unknown) => !cancelled && setState(e instanceof Error ? e.message : String(e)));
		return () => {
			cancelled = true;
			mapRef.current?.destroy();
			mapRef.current = null;
			onReady(false);
		};
	}, [mapRef, onReady]);
	useEffect(() => {
		mapRef.current?.setStores({ type: "FeatureCollection", features: stores });
	}, [stores, mapRef]);
	return (
		<div class="map-box">
			<section ref={el} class="map" aria-label={t("map")} data-testid="store-map" />
			{state === "loading" && <Status>{t("mapLoading")}</Status>}
			{state !== "loading" && state !== "ready" && (
				<Status kind="error">{t("mapUnavailable", { reason: state })}</Status>
			)}
		</div>
	);
}
