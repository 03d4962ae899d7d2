import type { z } from "zod";
import { AppError, INTERNAL_STATUS, PROBLEM_TITLES, type ProblemItem } from "../src/errors.js";
import { logError } from "./log.js";

/** JSON body with the right content type. */
export function json(body: unknown, status = 200, headers?: HeadersInit): Response {
	const h = new Headers(headers);
	h.set("content-type", "application/json; charset=utf-8");
	return new Response(JSON.stringify(body), { status, headers: h });
}

/** An RFC 9457 problem document; `type` carries the stable code. */
export function problem(status: number, code: string, detail: string, errors?: ProblemItem[]): Response {
	const body: Record<string, unknown> = {
		type: `urn:edge-offers:problem:${code}`,
		title: PROBLEM_TITLES[status] ?? "Error",
		status,
		code,
		detail,
	};
	if (errors) body.errors = errors;
	const headers: HeadersInit = { "content-type": "application/problem+json" };
	if (status === 401)
		return new Response(JSON.stringify(body), {
			status,
			headers: { ...headers, "www-authenticate": "Bearer" },
		});
	return new Response(JSON.stringify(body), { status, headers });
}

/**
 * The one place errors become responses: typed errors keep their status, anything else (and a
 * typed error of status 500: a programming or configuration error) is a 500 with no detail.
 */
export function toProblem(err: unknown): Response {
	if (err instanceof AppError && err.status !== INTERNAL_STATUS) {
		const res = problem(err.status, err.code, err.message, err.errors);
		if (err.retryAfterSeconds !== undefined) res.headers.set("retry-after", String(err.retryAfterSeconds));
		return res;
	}
	logError("unhandled", err);
	return problem(500, "internal", "Something went wrong on our side.");
}

/**
 * Deepest JSON nesting any route accepts (a top-level object is depth 1). The deepest legitimate
 * body is a MultiPolygon FeatureCollection upload at 8 levels (collection, features, feature,
 * geometry, coordinates, polygon, ring, position); user attributes add a few. Anything deeper is
 * refused before `JSON.parse`, so no later recursion (zod, canonical JSON, structured clone to a
 * Durable Object, SQLite's JSON functions) ever sees an unbounded depth.
 */
export const MAX_JSON_DEPTH = 64;

function tooLarge(maxBytes: number): AppError {
	return new AppError("body_too_large", 413, `The body exceeds ${maxBytes} bytes.`);
}

/**
 * Reads a request body as a stream, refusing it with 413 `body_too_large` as soon as it passes
 * `maxBytes`: a declared Content-Length past the limit is refused before anything is read, and a
 * chunked body is cancelled at the first chunk that crosses the limit, so the rest is never read
 * (or held in memory).
 *
 * @param req the request; its body is consumed
 * @param maxBytes the route's limit, in bytes
 * @returns the whole body (empty when there is none)
 * @throws AppError `body_too_large` (413)
 */
export async function readBytes(req: Request, maxBytes: number): Promise<Uint8Array> {
	const declared = Number(req.headers.get("content-length") ?? "");
	if (declared > maxBytes) {
		await req.body?.cancel().catch(() => undefined);
		throw tooLarge(maxBytes);
	}
	if (!req.body) return new Uint8Array(0);
	const reader = req.body.getReader();
	const chunks: Uint8Array[] = [];
	let total = 0;
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		total += value.byteLength;
		if (total > maxBytes) {
			await reader.cancel().catch(() => undefined);
			throw tooLarge(maxBytes);
		}
		chunks.push(value);
	}
	if (chunks.length === 1 && chunks[0]) return chunks[0];
	const out = new Uint8Array(total);
	let at = 0;
	for (const c of chunks) {
		out.set(c, at);
		at += c.byteLength;
	}
	return out;
}

/** Options of {@link parseJsonBytes} and {@link readJson}. */
export interface JsonLimits {
	/** What an empty (or all-whitespace) body means; without it, an empty body is malformed JSON. */
	emptyAs?: unknown;
	/** Deepest nesting allowed; {@link MAX_JSON_DEPTH} by default. */
	maxDepth?: number;
	/**
	 * Most arrays and objects allowed in the whole body (none by default). Each costs tens of bytes
	 * once parsed, however short its text (`[0,0],` is 6 bytes), so routes whose byte limit is large
	 * also bound this to bound the memory of the parsed tree.
	 */
	maxContainers?: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const LOWER_U = 0x75;

/**
 * One pass over the raw bytes, outside strings, before anything is parsed: nesting depth and
 * number of containers, and whether any `\uD800`-`\uDFFF` escape appears (the only way JSON
 * text decoded as strict UTF-8 can produce a lone surrogate, so the tree is walked for one only
 * then). UTF-8 continuation bytes are never ASCII, so scanning bytes is exact.
 */
function scanJson(bytes: Uint8Array, maxDepth: number, maxContainers: number): { surrogateEscape: boolean } {
	let depth = 0;
	let containers = 0;
	let inString = false;
	let surrogateEscape = false;
	const n = bytes.length;
	for (let i = 0; i < n; i++) {
		const b = bytes[i] as number;
		if (inString) {
			if (b === BACKSLASH) {
				// `\uD8..`-`\uDF..`: a surrogate half, possibly lone.
				if (bytes[i + 1] === LOWER_U && ((bytes[i + 2] as number) | 0x20) === 0x64) {
					const c = (bytes[i + 3] as number) | 0x20;
					if ((c >= 0x38 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) surrogateEscape = true;
				}
				i++;
			} else if (b === QUOTE) inString = false;
		} else if (b === QUOTE) inString = true;
		else if (b === OPEN_BRACKET || b === OPEN_BRACE) {
			depth++;
			containers++;
			if (depth > maxDepth)
				throw new AppError("json_too_deep", 400, `The body nests JSON more than ${maxDepth} levels deep.`);
			if (containers > maxContainers)
				throw new AppError(
					"json_too_large",
					413,
					`The body holds more than ${maxContainers} JSON arrays and objects.`,
				);
		} else if (b === CLOSE_BRACKET || b === CLOSE_BRACE) depth--;
	}
	return { surrogateEscape };
}

/**
 * The path of the first string (key or value) that is not well-formed Unicode, or null. `path` is
 * a shared stack, copied only when a bad string is found: the walk may cover a whole upload.
 */
function malformedStringPath(value: unknown, path: (string | number)[]): (string | number)[] | null {
	if (typeof value === "string") return value.isWellFormed() ? null : [...path];
	if (value === null || typeof value !== "object") return null;
	if (Array.isArray(value)) {
		for (let i = 0; i < value.length; i++) {
			path.push(i);
			const found = malformedStringPath(value[i], path);
			path.pop();
			if (found) return found;
		}
		return null;
	}
	for (const [k, v] of Object.entries(value)) {
		// A bad key is named in its well-formed form, so the problem document is well-formed too.
		if (!k.isWellFormed()) return [...path, k.toWellFormed()];
		path.push(k);
		const found = malformedStringPath(v, path);
		path.pop();
		if (found) return found;
	}
	return null;
}

/**
 * Parses a JSON body already read (for instance a signed one, whose raw bytes are needed too):
 * strict UTF-8, bounded nesting (and containers, when asked) checked before parsing, and every
 * string, keys included, well-formed Unicode.
 *
 * @throws AppError `malformed_json` (400), `json_too_deep` (400), `json_too_large` (413),
 *   `malformed_unicode` (400, naming the path of the first bad string)
 */
export function parseJsonBytes(bytes: Uint8Array, opts: JsonLimits = {}): unknown {
	const { surrogateEscape } = scanJson(
		bytes,
		opts.maxDepth ?? MAX_JSON_DEPTH,
		opts.maxContainers ?? Number.POSITIVE_INFINITY,
	);
	let text: string;
	try {
		text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
	} catch {
		throw new AppError("malformed_json", 400, "The body is not valid UTF-8.");
	}
	if (opts.emptyAs !== undefined && text.trim() === "") return opts.emptyAs;
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch {
		throw new AppError("malformed_json", 400, "The body is not valid JSON.");
	}
	if (surrogateEscape) {
		const path = malformedStringPath(value, []);
		if (path)
			throw new AppError(
				"malformed_unicode",
				400,
				"A string is not well-formed Unicode (a lone surrogate).",
				[{ path, message: "not well-formed Unicode: a lone surrogate", code: "malformed_unicode" }],
			);
	}
	return value;
}

/**
 * Reads a JSON body, bounded in size while it streams (see {@link readBytes}) and in shape
 * before it is parsed (see {@link parseJsonBytes}); bad input is a 4xx that stores nothing.
 */
export async function readJson(req: Request, maxBytes: number, opts: JsonLimits = {}): Promise<unknown> {
	const type = req.headers.get("content-type") ?? "";
	if (type && !/^application\/(.+\+)?json\b/i.test(type)) {
		await req.body?.cancel().catch(() => undefined);
		throw new AppError("unsupported_media_type", 415, "Send the body as application/json.");
	}
	return parseJsonBytes(await readBytes(req, maxBytes), opts);
}

/** Validates with zod; failures become a 422 listing every issue with its path. */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
	const r = schema.safeParse(input);
	if (r.success) return r.data;
	throw new AppError(
		"validation_failed",
		422,
		"The request does not match the schema.",
		r.error.issues.map((i) => ({
			path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)),
			message: i.message,
			code: i.code,
		})),
	);
}

/** Reads, then validates a JSON body. */
export async function body<S extends z.ZodType>(
	req: Request,
	schema: S,
	maxBytes = 64 * 1024,
): Promise<z.output<S>> {
	return parse(schema, await readJson(req, maxBytes));
}

/** ISO 8601 for output. */
export function iso(ms: number): string {
	return new Date(ms).toISOString();
}
