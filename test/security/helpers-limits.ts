/**
 * Helpers for the body-limit and geofence-atomicity tests: request bodies streamed without a
 * Content-Length that count how much the Worker pulled, raw JSON requests, and large but valid
 * geofence uploads built to a byte size.
 */
import { SELF } from "cloudflare:test";
import { BASE, type Feature, type LatLng, offset, type Ring } from "../worker/helpers";

/** A body of `totalBytes` produced on demand, counting what the reader pulled. */
export interface CountingStream {
	stream: ReadableStream<Uint8Array>;
	/** Bytes handed to the reader so far. */
	pulled(): number;
	/** Whether the reader cancelled the stream. */
	cancelled(): boolean;
}

/**
 * A generator stream: `prefix`, then `fill` bytes up to `totalBytes`, in `chunkBytes` chunks,
 * produced only when the reader asks (so `pulled()` is what the Worker read, plus whatever the
 * runtime buffers between the two ends).
 */
export function countingStream(
	totalBytes: number,
	opts: { chunkBytes?: number; prefix?: string; fill?: number } = {},
): CountingStream {
	const chunkBytes = opts.chunkBytes ?? 64 * 1024;
	const prefix = new TextEncoder().encode(opts.prefix ?? "");
	const fill = new Uint8Array(chunkBytes).fill(opts.fill ?? 0x20);
	let pulled = 0;
	let cancelled = false;
	const stream = new ReadableStream<Uint8Array>({
		pull(controller) {
			if (pulled >= totalBytes) {
				controller.close();
				return;
			}
			let chunk: Uint8Array;
			if (pulled < prefix.byteLength) chunk = prefix.slice(pulled, pulled + chunkBytes);
			else chunk = fill.slice(0, Math.min(chunkBytes, totalBytes - pulled));
			pulled += chunk.byteLength;
			controller.enqueue(chunk);
		},
		cancel() {
			cancelled = true;
		},
	});
	return { stream, pulled: () => pulled, cancelled: () => cancelled };
}

/** A request whose body is a stream: sent chunked, with no Content-Length. */
export function sendStream(
	method: string,
	path: string,
	key: string,
	body: ReadableStream<Uint8Array>,
): Promise<Response> {
	return SELF.fetch(`${BASE}${path}`, {
		method,
		headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
		body,
	});
}

/** JSON nested `depth` levels deep: `{"a":{"a":...1...}}` or `[[...1...]]`. */
export function nested(depth: number, kind: "object" | "array" = "object"): string {
	return kind === "object"
		? `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`
		: `${"[".repeat(depth)}1${"]".repeat(depth)}`;
}

/** A closed ring approximating a circle with `n` distinct vertices, at full double precision. */
export function circleRing(center: LatLng, radius: number, n: number): Ring {
	const ring: Ring = [];
	for (let i = 0; i < n; i++) {
		const a = (2 * Math.PI * i) / n;
		const p = offset(center, radius * Math.sin(a), radius * Math.cos(a));
		ring.push([p.lng, p.lat]);
	}
	const first = ring[0] as [number, number];
	ring.push([first[0], first[1]]);
	return ring;
}

/** A valid Polygon fence of `vertices` vertices (about 38 bytes of JSON each). */
export function heavyFence(id: string, center: LatLng, vertices = 1_999, radius = 150): Feature {
	return {
		type: "Feature",
		geometry: { type: "Polygon", coordinates: [circleRing(center, radius, vertices)] },
		properties: { id },
	};
}

/**
 * Valid heavy fences whose FeatureCollection JSON is at most `maxBytes` long (and within one
 * fence of it), laid out on a grid `spacing` metres apart from `origin` (`perRow` a row).
 */
export function heavyFences(
	prefix: string,
	maxBytes: number,
	origin: LatLng,
	opts: { spacing?: number; perRow?: number; vertices?: number } = {},
): Feature[] {
	if (!(maxBytes > 0)) throw new Error(`heavyFences: no byte budget (${maxBytes})`);
	const spacing = opts.spacing ?? 3_000;
	const perRow = opts.perRow ?? 12;
	const features: Feature[] = [];
	let size = '{"type":"FeatureCollection","features":[]}'.length;
	for (let i = 0; ; i++) {
		const at = offset(origin, Math.floor(i / perRow) * spacing, (i % perRow) * spacing);
		const f = heavyFence(`${prefix}-${i}`, at, opts.vertices);
		const bytes = JSON.stringify(f).length + (i > 0 ? 1 : 0);
		if (size + bytes > maxBytes) return features;
		size += bytes;
		features.push(f);
	}
}

/** `{"type":"FeatureCollection","features":[...]}` padded with trailing spaces to exactly `bytes`. */
export function collectionOfSize(features: Feature[], bytes: number): string {
	const text = JSON.stringify({ type: "FeatureCollection", features });
	if (text.length > bytes) throw new Error(`the collection is ${text.length} bytes, more than ${bytes}`);
	return text + " ".repeat(bytes - text.length);
}
