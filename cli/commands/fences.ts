/**
 * `fences validate`, `fences import` and `fences export`.
 *
 * An import reads and checks the whole file first (every bad line named, nothing sent), then
 * uploads it through the staged import API: open an import, send each chunk (a chunk sent again
 * replaces itself, so a retry or a resume is safe), and commit, which applies every chunk at once
 * or nothing. An interrupted import stays open on the service for 24 h; `--resume` sends only the
 * chunks it does not hold yet. A service without the import API gets the file in one
 * `PUT /v1/geofences` when it fits in one request.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ApiError, CliError, type Client } from "../api.js";
import { type CheckedFile, type Chunk, checkStores, chunkLimits, formatProblem } from "../check.js";
import { keyFingerprint } from "../config.js";
import type { Ctx } from "../context.js";
import { detectFormat, type ParsedStores, parseStores, type StoreFormat } from "../formats/index.js";
import { csvCell, writeWkt } from "../formats/write.js";
import { findImport, forgetImport, type ImportEntry, rememberImport } from "../import-state.js";
import { Progress } from "../progress.js";

export interface ChunkOptions {
	chunkFeatures?: number;
	chunkBytes?: number;
	format?: StoreFormat;
}

export interface ImportOptions extends ChunkOptions {
	resume?: boolean;
	json?: boolean;
}

/** The answer of a commit or of `PUT /v1/geofences`. */
export interface ImportResult {
	created?: number;
	updated?: number;
	unchanged: number;
	upserted: number;
	version: number;
}

interface LoadedFile {
	file: string;
	hash: string;
	parsed: ParsedStores;
	checked: CheckedFile;
	ms: number;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Reads, parses and checks a store file; prints every problem and throws when there is one. */
export function loadAndCheck(ctx: Ctx, file: string, opts: ChunkOptions): LoadedFile {
	const started = performance.now();
	let bytes: Buffer;
	try {
		bytes = readFileSync(file);
	} catch (error) {
		throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
	}
	const text = bytes.toString("utf8");
	const format = opts.format ?? detectFormat(file, text);
	const parsed = parseStores(format, text);
	const checked = checkStores(parsed, chunkLimits(opts));
	const ms = performance.now() - started;
	if (checked.problems.length > 0) {
		for (const p of checked.problems) ctx.err(formatProblem(file, p));
		const lines = new Set(checked.problems.map((p) => p.line)).size;
		throw new CliError(
			`${file}: ${checked.problems.length} problem(s) on ${lines} line(s); nothing was uploaded`,
		);
	}
	return { file, hash: createHash("sha256").update(bytes).digest("hex"), parsed, checked, ms };
}

/** `fences validate FILE` */
export function validateCommand(ctx: Ctx, file: string, opts: ChunkOptions): void {
	const loaded = loadAndCheck(ctx, file, opts);
	const { checked } = loaded;
	ctx.out(
		`${file}: ${checked.features} stores (${loaded.parsed.format}), all valid; an import sends ${checked.chunks.length} chunk(s), ${mib(checked.bytes)} (checked in ${seconds(loaded.ms)})`,
	);
}

/** `fences import FILE` */
export async function importCommand(ctx: Ctx, file: string, opts: ImportOptions): Promise<ImportResult> {
	const loaded = loadAndCheck(ctx, file, opts);
	const { checked } = loaded;
	const client = ctx.client();
	const limits = chunkLimits(opts);
	const where = { url: client.url, keyFp: keyFingerprint(ctx.config().key), fileHash: loaded.hash };
	if (!ctx.quiet)
		ctx.err(
			`${file}: ${checked.features} stores valid (checked in ${seconds(loaded.ms)}); ${checked.chunks.length} chunk(s), ${mib(checked.bytes)}`,
		);
	const started = performance.now();

	// An interrupted import of this same file: continue it (--resume) or drop it.
	const earlier = findImport(where, ctx.env);
	let importId: string | null = null;
	let have = new Map<number, number>();
	if (earlier && opts.resume) {
		if (earlier.chunkFeatures !== limits.maxFeatures || earlier.chunkBytes !== limits.maxBytes)
			throw new CliError(
				`the interrupted import was cut with --chunk-features ${earlier.chunkFeatures} --chunk-bytes ${earlier.chunkBytes}: resume with the same options`,
			);
		const status = await client.request<{
			status: string;
			chunks: { n: number; features: number }[];
			result?: ImportResult;
		}>("GET", `/v1/geofences/imports/${encodeURIComponent(earlier.importId)}`, { accept: [404, 410] });
		if (status.status === 200 && status.body.status === "committed" && status.body.result) {
			forgetImport(where, ctx.env);
			ctx.err(`import ${earlier.importId} was already committed`);
			return report(ctx, status.body.result, opts, started, 0);
		}
		if (status.status === 200 && status.body.status === "open") {
			importId = earlier.importId;
			have = new Map(status.body.chunks.map((c) => [c.n, c.features]));
			ctx.err(
				`resuming import ${importId}: the service holds ${have.size} of ${checked.chunks.length} chunk(s)`,
			);
		} else {
			ctx.err(`import ${earlier.importId} is no longer open on the service; starting again`);
			forgetImport(where, ctx.env);
		}
	} else if (earlier) {
		// Not resuming: the old staged chunks are dropped rather than left for 24 h.
		await client.request("DELETE", `/v1/geofences/imports/${encodeURIComponent(earlier.importId)}`, {
			accept: [404, 409, 410],
		});
		forgetImport(where, ctx.env);
		if (!ctx.quiet)
			ctx.err(
				`dropped the interrupted import ${earlier.importId} of this file (use --resume to continue one)`,
			);
	} else if (opts.resume && !ctx.quiet)
		ctx.err("no interrupted import of this file to resume; starting a new one");

	if (importId === null) {
		const opened = await client.request<{ id: string; expiresAt: string }>("POST", "/v1/geofences/imports", {
			body: {},
			accept: [404, 405],
		});
		if (opened.status === 404 || opened.status === 405)
			return singleRequest(ctx, client, loaded, opts, started);
		importId = opened.body.id;
		const entry: ImportEntry = {
			...where,
			file: path.resolve(file),
			importId,
			chunkFeatures: limits.maxFeatures,
			chunkBytes: limits.maxBytes,
			chunks: checked.chunks.length,
			startedAt: new Date().toISOString(),
			expiresAt: opened.body.expiresAt,
		};
		rememberImport(entry, ctx.env);
	}

	const base = `/v1/geofences/imports/${encodeURIComponent(importId)}`;
	const progress = new Progress("uploading", checked.features, "stores", ctx.stderr, ctx.quiet);
	let done = 0;
	let sent = 0;
	try {
		for (const [n, chunk] of checked.chunks.entries()) {
			const count = chunk.end - chunk.start;
			if (have.get(n) === count) {
				done += count;
				progress.update(done, `chunk ${n + 1}/${checked.chunks.length} already there`);
				continue;
			}
			const answer = await client.request<{ features: number }>("PUT", `${base}/chunks/${n}`, {
				rawBody: chunk.body,
			});
			if (answer.body.features !== count)
				throw new CliError(`chunk ${n} was stored with ${answer.body.features} stores, expected ${count}`);
			done += count;
			sent++;
			progress.update(done, `chunk ${n + 1}/${checked.chunks.length}`);
		}
		// The service may hold chunks past the end (the file was re-cut): none should be there.
		for (const n of have.keys())
			if (n >= checked.chunks.length)
				throw new CliError(
					`import ${importId} holds a chunk ${n} this file does not have; run without --resume`,
				);
		progress.done();
		if (!ctx.quiet) ctx.err(`committing ${checked.features} stores...`);
		const result = await client.send<ImportResult>("POST", `${base}/commit`, {});
		forgetImport(where, ctx.env);
		return report(ctx, result, opts, started, sent);
	} catch (error) {
		progress.done();
		if (error instanceof ApiError && error.status === 422) {
			// Refused as invalid (the service's rules changed since this command was built): nothing to resume.
			await client.request("DELETE", base, { accept: [404, 409, 410] }).catch(() => undefined);
			forgetImport(where, ctx.env);
			explainRefusal(ctx, loaded, error);
			throw new CliError(`${error.message}; the import was dropped, nothing was changed`);
		}
		throw new CliError(
			`${error instanceof Error ? error.message : String(error)}\nnothing is live yet: the import ${importId} stays open for 24 h; run the same command with --resume to continue it`,
		);
	}
}

/** Without the staged import API: the whole file in one `PUT /v1/geofences`, if it fits. */
async function singleRequest(
	ctx: Ctx,
	client: Client,
	loaded: LoadedFile,
	opts: ImportOptions,
	started: number,
): Promise<ImportResult> {
	const { checked } = loaded;
	const whole = checked.chunks.length === 1 ? checked.chunks[0] : undefined;
	if (!whole)
		throw new CliError(
			`the service has no staged import API (404) and this file needs ${checked.chunks.length} requests; upgrade the service, or import it in parts of at most ${chunkLimits(opts).maxFeatures} stores`,
		);
	if (!ctx.quiet) ctx.err("the service has no staged import API: sending the file in one request");
	try {
		const result = await client.request<ImportResult>("PUT", "/v1/geofences", { rawBody: whole.body });
		return report(ctx, result.body, opts, started, 1);
	} catch (error) {
		if (error instanceof ApiError && error.status === 422) explainRefusal(ctx, loaded, error, whole);
		throw error;
	}
}

/** Names the file lines of a 422 from the service (index within the chunk). */
function explainRefusal(ctx: Ctx, loaded: LoadedFile, error: ApiError, only?: Chunk): void {
	const match = /chunks\/(\d+)/.exec(error.pathname);
	const chunk = only ?? (match ? loaded.checked.chunks[Number(match[1])] : undefined);
	for (const e of error.problem?.errors ?? []) {
		const source =
			chunk && typeof e.index === "number" ? loaded.parsed.features[chunk.start + e.index] : undefined;
		const pathText = Array.isArray(e.path) ? e.path.slice(2).join(".") : String(e.path ?? "");
		ctx.err(
			formatProblem(loaded.file, {
				line: source?.line ?? null,
				id: e.id ?? null,
				field: pathText,
				message: e.message ?? "",
			}),
		);
	}
}

function report(
	ctx: Ctx,
	result: ImportResult,
	opts: ImportOptions,
	started: number,
	sent: number,
): ImportResult {
	if (opts.json) ctx.out(JSON.stringify(result));
	else if (result.created !== undefined)
		ctx.out(
			`created ${result.created}, updated ${result.updated ?? 0}, unchanged ${result.unchanged} (geofence version ${result.version})`,
		);
	else
		ctx.out(
			`upserted ${result.upserted}, unchanged ${result.unchanged} (geofence version ${result.version})`,
		);
	if (!ctx.quiet) ctx.err(`done in ${seconds(performance.now() - started)} (${sent} chunk request(s) sent)`);
	return result;
}

// ---------------------------------------------------------------------------
// Export

interface StoredFeature {
	type: "Feature";
	geometry: { type: string; coordinates: unknown };
	properties: {
		id: string;
		name?: string;
		tags?: string[];
		radius?: number;
		dwellSeconds?: number;
		metadata?: Record<string, unknown>;
	};
}

export interface ExportOptions {
	format?: string;
	output?: string;
	pageSize?: number;
}

/** Every fence of the tenant, paging `GET /v1/geofences` with its cursor. */
export async function* allFences(client: Client, pageSize = 1000): AsyncGenerator<StoredFeature[]> {
	let cursor: string | undefined;
	do {
		const page = await client.get<{ features: StoredFeature[]; nextCursor: string | null }>("/v1/geofences", {
			query: { limit: pageSize, cursor },
		});
		yield page.features;
		cursor = page.nextCursor ?? undefined;
	} while (cursor);
}

/** `fences export` */
export async function exportCommand(ctx: Ctx, opts: ExportOptions): Promise<number> {
	const format = (
		opts.format ?? (opts.output?.toLowerCase().endsWith(".csv") ? "csv" : "geojson")
	).toLowerCase();
	if (format !== "csv" && format !== "geojson")
		throw new CliError(`--format must be geojson or csv, not ${format}`);
	const pageSize = opts.pageSize ?? 1000;
	if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000)
		throw new CliError("--page-size must be 1 to 1000");
	const features: StoredFeature[] = [];
	for await (const page of allFences(ctx.client(), pageSize)) {
		features.push(...page);
		if (!ctx.quiet && opts.output) ctx.err(`exported ${features.length} stores...`);
	}
	const text =
		format === "csv"
			? toCsv(features)
			: `${JSON.stringify({ type: "FeatureCollection", features }, null, 1)}\n`;
	if (opts.output) {
		writeFileSync(opts.output, text);
		if (!ctx.quiet) ctx.err(`wrote ${features.length} stores to ${opts.output}`);
	} else process.stdout.write(text);
	return features.length;
}

/** Fences as the CSV `fences import` reads: circles as lat/lng/radius, polygons as WKT, metadata as extra columns. */
export function toCsv(features: StoredFeature[]): string {
	const metaKeys = [...new Set(features.flatMap((f) => Object.keys(f.properties.metadata ?? {})))].sort();
	const fixed = ["id", "name", "lat", "lng", "radius", "tags", "dwellSeconds", "wkt"];
	const extra = metaKeys.filter((k) => !fixed.includes(k.toLowerCase()));
	const rows = [[...fixed, ...extra].map(csvCell).join(",")];
	for (const f of features) {
		const p = f.properties;
		const point = f.geometry.type === "Point" ? (f.geometry.coordinates as number[]) : null;
		const cells = [
			p.id,
			p.name ?? "",
			point ? String(point[1]) : "",
			point ? String(point[0]) : "",
			p.radius === undefined ? "" : String(p.radius),
			(p.tags ?? []).join("|"),
			p.dwellSeconds === undefined ? "" : String(p.dwellSeconds),
			point ? "" : writeWkt(f.geometry),
			...extra.map((k) => {
				const v = p.metadata?.[k];
				return v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v);
			}),
		];
		rows.push(cells.map(csvCell).join(","));
	}
	return `${rows.join("\n")}\n`;
}
