/**
 * The stores map, loaded only when the Stores page shows it (MapLibre is most of the
 * console's weight). The basemap is a setting; without one the map is a plain background,
 * so the fences still draw offline and in tests. Circles are drawn as polygons in metres.
 */
import {
	type GeoJSONSource,
	Map as MapLibreMap,
	NavigationControl,
	type StyleSpecification,
	setWorkerUrl,
} from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
// MapLibre loads its worker from next to its own module, which bundling moves: point it at the
// copy Vite emits (a hashed file under /console/assets/, same origin, so CSP 'self' allows it).
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?url";
import {
	type GeoJSONStoreFeatures,
	TerraDraw,
	TerraDrawCircleMode,
	TerraDrawPolygonMode,
	TerraDrawSelectMode,
} from "terra-draw";
import { TerraDrawMapLibreGLAdapter } from "terra-draw-maplibre-gl-adapter";
import { bounds, circleRing, drawableFences } from "./geo.js";
import type { FeatureCollection } from "./geojson.js";

setWorkerUrl(workerUrl);

const PLAIN_STYLE: StyleSpecification = {
	version: 8,
	sources: {},
	layers: [{ id: "background", type: "background", paint: { "background-color": "#eef0ea" } }],
};

/** A shape drawn on the map, in the API's terms: a polygon, or a circle as centre and radius. */
export type DrawnShape =
	| { type: "Polygon"; coordinates: number[][][] }
	| { type: "Point"; coordinates: number[]; radius: number };

export interface StoreMap {
	setStores(fc: FeatureCollection): void;
	/**
	 * Lets the user draw one polygon (click the corners, click the first one or press Enter to
	 * close) or circle (click the centre, move, click again). Resolves with the shape, or null
	 * when cancelled (Escape, or {@link StoreMap.stopDrawing}).
	 */
	draw(mode: "polygon" | "circle"): Promise<DrawnShape | null>;
	stopDrawing(): void;
	/**
	 * Puts a stored shape on the map for editing: a polygon's corners can be dragged, added (drag
	 * a midpoint) or removed; a circle can be moved (drag it) and resized (drag its edge).
	 * `onChange` gets the shape after each change (a polygon's outer ring only: terra-draw edits
	 * no holes). Any drawing or editing under way stops first.
	 */
	edit(shape: DrawnShape, onChange: (shape: DrawnShape) => void): ShapeEditor;
	select(id: string): void;
	destroy(): void;
}

/** An edit under way on the map. */
export interface ShapeEditor {
	/** Shows the shape typed in the form (the map follows the fields). */
	update(shape: DrawnShape): void;
	/** Ends the edit and removes the editing layers. */
	stop(): void;
}

export function createStoreMap(container: HTMLElement, styleUrl: string | null): StoreMap {
	const map = new MapLibreMap({
		container,
		style: styleUrl || PLAIN_STYLE,
		center: [2.35, 48.86],
		zoom: 11,
		attributionControl: styleUrl ? {} : false,
		cooperativeGestures: false,
	});
	map.addControl(new NavigationControl({ showCompass: false }), "top-right");
	let data: FeatureCollection = { type: "FeatureCollection", features: [] };
	let stopDrawing: (() => void) | null = null;
	let ready = false;
	const draw = () => {
		const drawn = drawableFences(data);
		const src = map.getSource("stores") as GeoJSONSource | undefined;
		if (src) src.setData(drawn as unknown as Parameters<GeoJSONSource["setData"]>[0]);
		container.dataset.storeCount = String(drawn.features.length);
	};
	map.on("load", () => {
		map.addSource("stores", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
		map.addLayer({
			id: "stores-fill",
			type: "fill",
			source: "stores",
			paint: { "fill-color": "#1f6f5c", "fill-opacity": 0.25 },
		});
		map.addLayer({
			id: "stores-line",
			type: "line",
			source: "stores",
			paint: { "line-color": "#12493c", "line-width": 1.5 },
		});
		map.addLayer({
			id: "stores-selected",
			type: "line",
			source: "stores",
			paint: { "line-color": "#c2410c", "line-width": 3 },
			filter: ["==", ["get", "id"], ""],
		});
		ready = true;
		draw();
		fitAll();
		// Ready once the fences are on screen (tests and screenshots wait for this).
		map.once("idle", () => {
			container.dataset.mapReady = "true";
		});
	});
	const fitAll = () => {
		const b = bounds(data);
		if (b) map.fitBounds(b, { padding: 30, maxZoom: 16, duration: 0 });
	};
	return {
		setStores(fc) {
			const first = data.features.length === 0;
			data = fc;
			if (!ready) return;
			draw();
			if (first) fitAll();
		},
		select(id) {
			const f = data.features.find((x) => x.properties.id === id);
			if (!f || !ready) return;
			map.setFilter("stores-selected", ["==", ["get", "id"], id]);
			const b = bounds({ type: "FeatureCollection", features: [f] });
			if (b) map.fitBounds(b, { padding: 60, maxZoom: 16, duration: 300 });
		},
		draw(mode) {
			stopDrawing?.();
			return new Promise((resolve) => {
				const td = new TerraDraw({
					adapter: new TerraDrawMapLibreGLAdapter({ map }),
					modes: [new TerraDrawPolygonMode(), new TerraDrawCircleMode()],
				});
				let settled = false;
				const finish = (shape: DrawnShape | null) => {
					if (settled) return;
					settled = true;
					stopDrawing = null;
					// The adapter's own layers go with it; the stores' layers stay.
					td.stop();
					delete container.dataset.drawing;
					resolve(shape);
				};
				stopDrawing = () => finish(null);
				td.start();
				td.setMode(mode);
				container.dataset.drawing = mode;
				td.on("finish", (id) => {
					const f = td.getSnapshotFeature(id);
					finish(f ? toShape(f.geometry, f.properties) : null);
				});
			});
		},
		stopDrawing() {
			stopDrawing?.();
		},
		edit(shape, onChange) {
			stopDrawing?.();
			const td = new TerraDraw({
				adapter: new TerraDrawMapLibreGLAdapter({ map }),
				modes: [
					new TerraDrawPolygonMode(),
					new TerraDrawCircleMode(),
					new TerraDrawSelectMode({
						allowManualDeselection: false,
						flags: {
							polygon: {
								feature: {
									draggable: true,
									coordinates: { draggable: true, midpoints: true, deletable: true },
								},
							},
							circle: { feature: { draggable: true, coordinates: { resizable: "center-fixed" } } },
						},
					}),
				],
			});
			td.start();
			td.setMode("select");
			let id: string | number | null = null;
			let applying = false;
			const put = (s: DrawnShape) => {
				applying = true;
				try {
					if (id !== null) td.removeFeatures([id]);
					const [v] = td.addFeatures([{ ...toTerra(s), id: td.getFeatureId() }]);
					id = v?.valid && v.id !== undefined ? v.id : null;
					// Says why when terra-draw refuses the shape (seen by tests; the fields still work).
					if (id === null) container.dataset.editRefused = v?.reason ?? "refused";
					else delete container.dataset.editRefused;
					if (id !== null) td.selectFeature(id);
				} finally {
					applying = false;
				}
			};
			put(shape);
			td.on("change", (ids, type) => {
				if (applying || id === null || type !== "update" || !ids.includes(id)) return;
				const f = td.getSnapshotFeature(id);
				const next = f ? toShape(f.geometry, f.properties, true) : null;
				if (next) onChange(next);
			});
			container.dataset.editing = shape.type === "Point" ? "circle" : "polygon";
			let stopped = false;
			const stop = () => {
				if (stopped) return;
				stopped = true;
				stopDrawing = null;
				td.stop();
				delete container.dataset.editing;
			};
			stopDrawing = stop;
			return {
				update(s) {
					if (!stopped) put(s);
				},
				stop,
			};
		},
		destroy() {
			stopDrawing?.();
			map.remove();
		},
	};
}

/**
 * A terra-draw feature as the API takes it. Its circle mode draws a polygon with the radius in
 * its properties: the API wants the centre and radius (an exact circle, not a 64-gon).
 */
function toShape(
	geometry: { type: string; coordinates: unknown },
	properties: Record<string, unknown>,
	radiusFromRing = false,
): DrawnShape | null {
	if (geometry.type !== "Polygon") return null;
	const rings = geometry.coordinates as number[][][];
	const radiusKm = properties.radiusKilometers;
	if (typeof radiusKm === "number" || properties.mode === "circle") {
		const ring = (rings[0] ?? []).slice(0, -1);
		const n = Math.max(1, ring.length);
		const lng = ring.reduce((a, p) => a + (p[0] ?? 0), 0) / n;
		const lat = ring.reduce((a, p) => a + (p[1] ?? 0), 0) / n;
		// A resized circle's ring is the truth (its radius property may lag behind the drag).
		const meters =
			radiusFromRing || typeof radiusKm !== "number"
				? ring.reduce((a, p) => a + haversine(lng, lat, p[0] ?? 0, p[1] ?? 0), 0) / n
				: radiusKm * 1000;
		return { type: "Point", coordinates: [round(lng), round(lat)], radius: Math.round(meters) };
	}
	return { type: "Polygon", coordinates: rings.map((r) => r.map(([x = 0, y = 0]) => [round(x), round(y)])) };
}

/** 7 decimals: about 1 cm. */
function round(x: number): number {
	return Math.round(x * 1e7) / 1e7;
}

/** Great-circle distance in metres. */
function haversine(lng1: number, lat1: number, lng2: number, lat2: number): number {
	const r = Math.PI / 180;
	const a =
		Math.sin(((lat2 - lat1) * r) / 2) ** 2 +
		Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lng2 - lng1) * r) / 2) ** 2;
	return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(a)));
}

/**
 * A shape as a terra-draw feature of the mode that edits it: a circle as its ring, a polygon's
 * outer ring only (terra-draw edits no holes; the caller keeps them), 7 decimals (terra-draw
 * refuses coordinates more precise than its adapter's).
 */
function toTerra(s: DrawnShape): GeoJSONStoreFeatures {
	const r = (ring: number[][]) => ring.map(([x = 0, y = 0]) => [round(x), round(y)]);
	const [lng = 0, lat = 0] = s.coordinates as number[];
	return s.type === "Point"
		? {
				type: "Feature",
				geometry: { type: "Polygon", coordinates: [r(circleRing(lng, lat, s.radius))] },
				properties: { mode: "circle", radiusKilometers: s.radius / 1000 },
			}
		: {
				type: "Feature",
				geometry: { type: "Polygon", coordinates: [r(s.coordinates[0] ?? [])] },
				properties: { mode: "polygon" },
			};
}
