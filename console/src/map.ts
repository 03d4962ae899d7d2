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
import { TerraDraw, TerraDrawCircleMode, TerraDrawPolygonMode } from "terra-draw";
import { TerraDrawMapLibreGLAdapter } from "terra-draw-maplibre-gl-adapter";
import { bounds, drawableFences } from "./geo.js";
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
	select(id: string): void;
	destroy(): void;
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
): DrawnShape | null {
	if (geometry.type !== "Polygon") return null;
	const rings = geometry.coordinates as number[][][];
	const radiusKm = properties.radiusKilometers;
	if (typeof radiusKm === "number") {
		const ring = (rings[0] ?? []).slice(0, -1);
		const n = Math.max(1, ring.length);
		const lng = ring.reduce((a, p) => a + (p[0] ?? 0), 0) / n;
		const lat = ring.reduce((a, p) => a + (p[1] ?? 0), 0) / n;
		return { type: "Point", coordinates: [round(lng), round(lat)], radius: Math.round(radiusKm * 1000) };
	}
	return { type: "Polygon", coordinates: rings.map((r) => r.map(([x = 0, y = 0]) => [round(x), round(y)])) };
}

/** 7 decimals: about 1 cm. */
function round(x: number): number {
	return Math.round(x * 1e7) / 1e7;
}
