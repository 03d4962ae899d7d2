/**
 * Uploads a checked file through the staged import API: open an import, send each chunk
 * (a chunk sent again replaces itself, so a retry is safe), then commit all at once. Where the
 * service has no import API yet (404), chunks go to `PUT /v1/geofences` one after the other:
 * each is atomic, the whole file is not.
 */
import { ApiError, api } from "./api.js";
import type { RawFeature } from "./importer.js";

export interface UploadResult {
	created?: number;
	updated?: number;
	unchanged: number;
	upserted: number;
	version: number;
}

export type Progress = (done: number, total: number) => void;

const collection = (features: RawFeature[]) => ({ type: "FeatureCollection", features });

/** Sends every chunk and commits; `onProgress` after each chunk. */
export async function uploadStores(
	features: RawFeature[],
	chunks: [number, number][],
	onProgress: Progress,
): Promise<UploadResult> {
	let importId: string | null = null;
	try {
		importId = (await api<{ id: string }>("POST", "/v1/geofences/imports", {})).id;
	} catch (e) {
		if (!(e instanceof ApiError && (e.status === 404 || e.status === 405))) throw e;
	}
	onProgress(0, chunks.length);
	if (importId === null) {
		const total: UploadResult = { unchanged: 0, upserted: 0, version: 0 };
		for (const [n, [start, end]] of chunks.entries()) {
			const r = await api<UploadResult>("PUT", "/v1/geofences", collection(features.slice(start, end)));
			total.unchanged += r.unchanged;
			total.upserted += r.upserted;
			total.version = r.version;
			onProgress(n + 1, chunks.length);
		}
		return total;
	}
	const path = `/v1/geofences/imports/${encodeURIComponent(importId)}`;
	try {
		for (const [n, [start, end]] of chunks.entries()) {
			await api("PUT", `${path}/chunks/${n}`, collection(features.slice(start, end)));
			onProgress(n + 1, chunks.length);
		}
		return await api<UploadResult>("POST", `${path}/commit`, {});
	} catch (e) {
		// Nothing went live: drop the staged chunks rather than leave them for 24 h.
		await api("DELETE", path).catch(() => undefined);
		throw e;
	}
}
