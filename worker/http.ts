import type { z } from "zod";
import { AppError, type ProblemItem } from "../src/errors.js";

/** JSON body with the right content type. */
export function json(body: unknown, status = 200, headers?: HeadersInit): Response {
	const h = new Headers(headers);
	h.set("content-type", "application/json; charset=utf-8");
	return new Response(JSON.stringify(body), { status, headers: h });
}

const TITLES: Record<number, string> = {
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	409: "Conflict",
	413: "Content Too Large",
	429: "Too Many Requests",
	415: "Unsupported Media Type",
	422: "Unprocessable Content",
	500: "Internal Server Error",
	502: "Bad Gateway",
	503: "Service Unavailable",
};

/** An RFC 9457 problem document; `type` carries the stable code. */
export function problem(status: number, code: string, detail: string, errors?: ProblemItem[]): Response {
	const body: Record<string, unknown> = {
		type: `urn:edge-offers:problem:${code}`,
		title: TITLES[status] ?? "Error",
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

/** The one place errors become responses: typed errors keep their status, anything else is a 500 with no detail. */
export function toProblem(err: unknown): Response {
	if (err instanceof AppError) {
		const res = problem(err.status, err.code, err.message, err.errors);
		if (err.retryAfterSeconds !== undefined) res.headers.set("retry-after", String(err.retryAfterSeconds));
		return res;
	}
	console.error("unhandled", err instanceof Error ? `${err.name}: ${err.message}` : typeof err);
	return problem(500, "internal", "Something went wrong on our side.");
}

/** Reads a JSON body, bounded in size; malformed input is a 400 that stores nothing. */
export async function readJson(
	req: Request,
	maxBytes: number,
	opts: { emptyAs?: unknown } = {},
): Promise<unknown> {
	const type = req.headers.get("content-type") ?? "";
	if (type && !/^application\/(.+\+)?json\b/i.test(type)) {
		throw new AppError("unsupported_media_type", 415, "Send the body as application/json.");
	}
	const declared = Number(req.headers.get("content-length") ?? "0");
	if (declared > maxBytes) throw new AppError("body_too_large", 413, `The body exceeds ${maxBytes} bytes.`);
	const buf = await req.arrayBuffer();
	if (buf.byteLength > maxBytes)
		throw new AppError("body_too_large", 413, `The body exceeds ${maxBytes} bytes.`);
	let text: string;
	try {
		text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(buf);
	} catch {
		throw new AppError("malformed_json", 400, "The body is not valid UTF-8.");
	}
	if (opts.emptyAs !== undefined && text.trim() === "") return opts.emptyAs;
	try {
		return JSON.parse(text);
	} catch {
		throw new AppError("malformed_json", 400, "The body is not valid JSON.");
	}
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
