// Small helpers shared by the scripts that talk to a running service (npm start, npm run replay).

import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";

/** A non-2xx answer from the API, with its RFC 9457 problem document when there is one. */
export class ApiError extends Error {
	/**
	 * @param {string} what the request, e.g. `POST /v1/tenants`
	 * @param {number} status
	 * @param {unknown} body the parsed JSON answer, or its text
	 */
	constructor(what, status, body) {
		super(`${what} answered ${status}`);
		this.name = "ApiError";
		this.what = what;
		this.status = status;
		this.body = body;
	}
}

/** The service did not answer at all (not started, wrong port, timed out). */
export class UnreachableError extends Error {
	/**
	 * @param {string} origin
	 * @param {unknown} cause
	 */
	constructor(origin, cause) {
		const reason = cause instanceof Error ? String(cause.cause ?? cause.message) : String(cause);
		super(`cannot reach the service at ${origin} (${reason}); is npm start running?`);
		this.name = "UnreachableError";
	}
}

/**
 * Calls the API and returns the parsed JSON answer (undefined for an empty body).
 *
 * @param {string} origin e.g. `http://127.0.0.1:8787`
 * @param {string} method
 * @param {string} pathname
 * @param {{ token?: string, body?: unknown }} [opts]
 * @returns {Promise<any>}
 * @throws {ApiError | UnreachableError}
 */
export async function apiRequest(origin, method, pathname, { token, body } = {}) {
	/** @type {Record<string, string>} */
	const headers = { accept: "application/json" };
	if (token) headers.authorization = `Bearer ${token}`;
	if (body !== undefined) headers["content-type"] = "application/json";
	let res;
	try {
		res = await fetch(`${origin}${pathname}`, {
			method,
			headers,
			body: body === undefined ? undefined : JSON.stringify(body),
			signal: AbortSignal.timeout(30_000),
		});
	} catch (error) {
		throw new UnreachableError(origin, error);
	}
	const text = await res.text();
	/** @type {unknown} */
	let parsed = text;
	try {
		parsed = text === "" ? undefined : JSON.parse(text);
	} catch {
		// Not JSON: keep the text for the error message.
	}
	if (!res.ok) throw new ApiError(`${method} ${pathname}`, res.status, parsed);
	return parsed;
}

/**
 * Renders an API error readably: status, the problem's title and detail, and one line per
 * entry of `errors[]` (validation issues, or the per-feature geofence problems).
 *
 * @param {ApiError} error
 * @returns {string}
 */
export function formatApiError(error) {
	const body = /** @type {any} */ (error.body);
	const lines = [`${error.what} failed: ${error.status}${body?.title ? ` ${body.title}` : ""}`];
	if (body && typeof body === "object") {
		if (body.detail) lines.push(`  ${body.detail}`);
		if (typeof body.type === "string" && body.type !== "about:blank") lines.push(`  type: ${body.type}`);
		for (const item of Array.isArray(body.errors) ? body.errors : []) {
			const where = Array.isArray(item?.path) && item.path.length > 0 ? item.path.join(".") : "(body)";
			const id = item?.id ? ` [${item.id}]` : "";
			lines.push(`  - ${where}${id}: ${item?.message ?? item?.code ?? JSON.stringify(item)}`);
		}
	} else if (typeof body === "string" && body.trim() !== "") {
		lines.push(`  ${body.trim().slice(0, 500)}`);
	}
	return lines.join("\n");
}

/**
 * @param {unknown} error
 * @returns {string} a one- or multi-line message for the console
 */
export function describeError(error) {
	if (error instanceof ApiError) return formatApiError(error);
	return error instanceof Error ? error.message : String(error);
}

/**
 * @param {string} file
 * @returns {Promise<any>} the parsed file, or undefined when it is missing or not JSON
 */
export async function readJsonIfAny(file) {
	try {
		return JSON.parse(await readFile(file, "utf8"));
	} catch {
		return undefined;
	}
}

/**
 * Writes JSON readable by the owner only (for files holding API keys or push secrets).
 *
 * @param {string} file
 * @param {unknown} value
 */
export async function writePrivateJson(file, value) {
	await mkdir(path.dirname(file), { recursive: true });
	const tmp = `${file}.${process.pid}.tmp`;
	await writeFile(tmp, `${JSON.stringify(value, null, "\t")}\n`, { mode: 0o600 });
	await rename(tmp, file);
	await chmod(file, 0o600);
}
