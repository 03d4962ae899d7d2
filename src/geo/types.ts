/**
 * Core geo types. Inside the core a location is always a {@link LatLng}; the `[lng, lat]`
 * order exists only in GeoJSON geometry (what clients send and turf reads).
 */

/** A WGS 84 location in degrees. */
export interface LatLng {
	lat: number;
	lng: number;
}

/** A GeoJSON position as the core keeps it: `[lng, lat]`, altitude dropped. */
export type Position = [lng: number, lat: number];

/** A GeoJSON Point: the centre of a circular fence. */
export interface PointGeometry {
	type: "Point";
	coordinates: Position;
}

/** A GeoJSON Polygon: the first ring is the shell, the others are holes; every ring is closed. */
export interface PolygonGeometry {
	type: "Polygon";
	coordinates: Position[][];
}

/** A GeoJSON MultiPolygon: a point is inside when it is inside any of the polygons. */
export interface MultiPolygonGeometry {
	type: "MultiPolygon";
	coordinates: Position[][][];
}

/** The geometries a fence may have. */
export type FenceGeometry = PointGeometry | PolygonGeometry | MultiPolygonGeometry;

/** A validated, normalized fence (what storage and the index keep). */
export interface Fence {
	/** The retailer's own store id (1 to 128 of `A-Za-z0-9._:-`). */
	id: string;
	/** Display name; the id when the upload gave none. */
	name: string;
	tags: string[];
	/** Dwell threshold in seconds, or null when the fence has none. */
	dwellSeconds: number | null;
	/** Free-form JSON object, at most 4 KB serialized. */
	metadata: Record<string, unknown>;
	geometry: FenceGeometry;
	/** Circle radius in metres for a Point geometry; null for polygons. */
	radius: number | null;
}
