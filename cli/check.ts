/**
 * Checks a whole store file before anything is sent, with the service's own validator
 * (src/geo/validate.ts, the code `PUT /v1/geofences` and the import chunks run), and plans the
 * chunks the upload will send: each under the service's body limits (bytes, JSON containers,
 * features per request). The validator runs on exactly those chunks, so what passes here passes
 * there; ids used twice anywhere in the file are caught too (the service would refuse them only
 * at commit time when they sit in different chunks).
 */

import { validateFeatureCollection } from "../src/geo/validate.js";
import { GEOFENCE_LIMITS } from "../src/schemas/geofence.js";
import { MAX_UPLOAD_BYTES, MAX_UPLOAD_CONTAINERS } from "../worker/routes/geofences.js";
import type { LineProblem, ParsedStores } from "./formats/index.js";

/** Features per chunk unless told otherwise: small enough for a useful progress bar. */
export const DEFAULT_CHUNK_FEATURES = 2_000;
/** `{"type":"FeatureCollection","features":[` and `]}` around the features. */
const ENVELOPE_BYTES = Buffer.byteLength('{"type":"FeatureCollection","features":[]}');

export interface ChunkLimits {
	/** Largest request body in bytes (at most the service's MAX_UPLOAD_BYTES). */
	maxBytes: number;
	/** Most features a chunk (at most the service's per-request maximum). */
	maxFeatures: number;
	/** Most JSON arrays and objects a chunk (the service's MAX_UPLOAD_CONTAINERS). */
	maxContainers: number;
}

export const SERVICE_LIMITS: ChunkLimits = {
	maxBytes: MAX_UPLOAD_BYTES,
	maxFeatures: GEOFENCE_LIMITS.maxFeatures,
	maxContainers: MAX_UPLOAD_CONTAINERS,
};

/** Limits for a run: the service's, tightened by the user's options. */
export function chunkLimits(options: { chunkFeatures?: number; chunkBytes?: number } = {}): ChunkLimits {
	return {
		maxBytes: Math.min(options.chunkBytes ?? SERVICE_LIMITS.maxBytes, SERVICE_LIMITS.maxBytes),
		maxFeatures: Math.min(options.chunkFeatures ?? DEFAULT_CHUNK_FEATURES, SERVICE_LIMITS.maxFeatures),
		maxContainers: SERVICE_LIMITS.maxContainers,
	};
}

/** One planned request: features `[start, end)` and its exact JSON body. */
export interface Chunk {
	start: number;
	end: number;
	body: string;
	bytes: number;
}

export interface CheckedFile {
	/** Problems with their lines, sorted by line; empty when the file can be uploaded. */
	problems: LineProblem[];
	chunks: Chunk[];
	features: number;
	bytes: number;
}

/** JSON arrays and objects in a value (what the service's container limit counts). */
function containers(value: unknown): number {
	if (typeof value !== "object" || value === null) return 0;
	let n = 1;
	for (const v of Array.isArray(value) ? value : Object.values(value)) n += containers(v);
	return n;
}

/** Validates the whole file and plans its chunks. Never sends anything. */
export function checkStores(parsed: ParsedStores, limits: ChunkLimits = chunkLimits()): CheckedFile {
	const problems = [...parsed.problems];
	const { features } = parsed;
	if (features.length === 0 && problems.length === 0)
		problems.push({ line: null, id: null, field: "", message: "the file holds no stores" });

	// Plan: cut before a feature that would take the chunk past any limit. A collection and its
	// features array are 2 containers.
	const chunks: Chunk[] = [];
	const texts = features.map((f) => JSON.stringify(f.feature));
	let start = 0;
	let bytes = ENVELOPE_BYTES;
	let boxes = 2;
	const close = (end: number) => {
		const body = `{"type":"FeatureCollection","features":[${texts.slice(start, end).join(",")}]}`;
		chunks.push({ start, end, body, bytes: Buffer.byteLength(body) });
	};
	for (let i = 0; i < features.length; i++) {
		const size = Buffer.byteLength(texts[i] ?? "") + (i > start ? 1 : 0);
		const count = containers(features[i]?.feature);
		if (ENVELOPE_BYTES + size > limits.maxBytes || 2 + count > limits.maxContainers) {
			const f = features[i];
			problems.push({
				line: f?.line ?? null,
				id: typeof f?.feature.properties?.id === "string" ? f.feature.properties.id : null,
				field: "geometry",
				message: `this store alone is larger than one request may be (${size} bytes, ${count} JSON arrays and objects)`,
			});
		}
		if (
			i > start &&
			(i - start >= limits.maxFeatures ||
				bytes + size > limits.maxBytes ||
				boxes + count > limits.maxContainers)
		) {
			close(i);
			start = i;
			bytes = ENVELOPE_BYTES;
			boxes = 2;
		}
		bytes += Buffer.byteLength(texts[i] ?? "") + (i > start ? 1 : 0);
		boxes += count;
	}
	if (start < features.length) close(features.length);

	for (const chunk of chunks) {
		const result = validateFeatureCollection({
			type: "FeatureCollection",
			features: features.slice(chunk.start, chunk.end).map((f) => f.feature),
		});
		if (result.ok) continue;
		for (const e of result.errors) {
			// Duplicates are checked over the whole file below, with both lines named.
			if (e.code === "duplicate_id") continue;
			const source = e.index === null ? undefined : features[chunk.start + e.index];
			problems.push({
				line: source?.line ?? null,
				id: e.id,
				field: source ? parsed.fieldName(e.path.slice(2), source.feature) : e.path.join("."),
				message: e.message,
			});
		}
	}

	const firstLine = new Map<string, number>();
	for (const f of features) {
		const id = f.feature?.properties?.id;
		if (typeof id !== "string" || id === "") continue;
		const first = firstLine.get(id);
		if (first === undefined) firstLine.set(id, f.line);
		else
			problems.push({
				line: f.line,
				id,
				field: parsed.fieldName(["properties", "id"], f.feature),
				message: `id ${id} is already used on line ${first}`,
			});
	}
	problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
	return {
		problems,
		chunks: problems.length > 0 ? [] : chunks,
		features: features.length,
		bytes: chunks.reduce((s, c) => s + c.bytes, 0),
	};
}

/** `line 12: radius: Radius must be at least 10 (store-7)` */
export function formatProblem(file: string, p: LineProblem): string {
	const where = p.line === null ? file : `${file}:${p.line}`;
	const field = p.field ? `${p.field}: ` : "";
	const id = p.id ? ` (id ${p.id})` : "";
	return `${where}: ${field}${p.message}${id}`;
}
