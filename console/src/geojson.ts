/** The GeoJSON shapes the console reads from `GET /v1/geofences` and draws. */
export type Position = number[];
export interface Point {
	type: "Point";
	coordinates: Position;
}
export interface Polygon {
	type: "Polygon";
	coordinates: Position[][];
}
export interface MultiPolygon {
	type: "MultiPolygon";
	coordinates: Position[][][];
}
export type Geometry = Point | Polygon | MultiPolygon;

export interface StoreProperties {
	id: string;
	name?: string;
	tags?: string[];
	radius?: number;
	dwellSeconds?: number;
	metadata?: Record<string, unknown>;
	[k: string]: unknown;
}

export interface Feature {
	type: "Feature";
	geometry: Geometry;
	properties: StoreProperties;
}

export interface FeatureCollection {
	type: "FeatureCollection";
	features: Feature[];
}
