/**
 * The console's only way to the service: the public HTTP API, with the console session token
 * (`cs_…`) held in this module's memory. Never in the URL, never in localStorage or
 * sessionStorage: a reload or closing the tab signs out.
 */

/** One item of a problem document's `errors[]`. */
export interface ProblemItem {
	path: (string | number)[];
	message: string;
	code?: string;
	index?: number | null;
	id?: string | null;
}

/** A refused request, carrying the API's problem document. */
export class ApiError extends Error {
	override readonly name = "ApiError";
	constructor(
		readonly status: number,
		readonly code: string,
		detail: string,
		readonly errors: ProblemItem[] = [],
	) {
		super(detail);
	}
}

let session: { token: string; expiresAt: number } | null = null;
const listeners = new Set<() => void>();

/** Called when the session starts or ends (including when the service refuses it). */
export function onSessionChange(fn: () => void): () => void {
	listeners.add(fn);
	return () => listeners.delete(fn);
}

function setSession(next: typeof session): void {
	session = next;
	for (const fn of listeners) fn();
}

export function signedIn(): boolean {
	return session !== null && session.expiresAt > Date.now();
}

/** The API's origin: the console is served by the same Worker. */
const base = typeof location === "undefined" ? "" : location.origin;

async function send(
	method: string,
	path: string,
	body: unknown,
	token: string | null,
	signal?: AbortSignal,
): Promise<Response> {
	const headers: Record<string, string> = { accept: "application/json" };
	if (token) headers.authorization = `Bearer ${token}`;
	if (body !== undefined) headers["content-type"] = "application/json";
	try {
		return await fetch(base + path, {
			method,
			headers,
			body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
			credentials: "omit",
			cache: "no-store",
			signal: signal ?? null,
		});
	} catch (e) {
		if (e instanceof DOMException && e.name === "AbortError") throw e;
		throw new ApiError(0, "network", e instanceof Error ? e.message : "network error");
	}
}

async function toError(res: Response): Promise<ApiError> {
	const text = await res.text();
	try {
		const p = JSON.parse(text) as { code?: string; detail?: string; title?: string; errors?: ProblemItem[] };
		return new ApiError(
			res.status,
			p.code ?? String(res.status),
			p.detail ?? p.title ?? res.statusText,
			Array.isArray(p.errors) ? p.errors : [],
		);
	} catch {
		return new ApiError(res.status, String(res.status), text.slice(0, 200) || res.statusText);
	}
}

/**
 * Exchanges the secret key for a console session. The key is sent once, in a header, and is
 * not kept anywhere by the console.
 */
export async function signIn(secretKey: string): Promise<void> {
	const res = await send("POST", "/v1/console/sessions", {}, secretKey.trim());
	if (!res.ok) throw await toError(res);
	const s = (await res.json()) as { token: string; expiresAt: string };
	setSession({ token: s.token, expiresAt: Date.parse(s.expiresAt) });
}

/** Ends the session on the service (best effort) and forgets it here. */
export async function signOut(): Promise<void> {
	const token = session?.token ?? null;
	setSession(null);
	if (token) await send("DELETE", "/v1/console/sessions/current", undefined, token).catch(() => undefined);
}

/**
 * A request with the session. A 401 ends the session here too (expired or revoked, for instance
 * after the secret key was rotated with no grace period), so the sign-in form shows again.
 */
export async function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
	const token = session?.token ?? null;
	if (!token || !signedIn()) {
		setSession(null);
		throw new ApiError(401, "unauthorized", "not signed in");
	}
	const res = await send(method, path, body, token, signal);
	if (res.status === 401) {
		setSession(null);
		throw await toError(res);
	}
	if (!res.ok) throw await toError(res);
	if (res.status === 204) return undefined as T;
	const text = await res.text();
	return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * A streamed GET with the session (the live feed): the response, its body not read. fetch() and
 * not EventSource, so the session token travels in the Authorization header, never in the URL.
 * A 401 ends the session here like {@link api}.
 */
export async function apiStream(
	path: string,
	headers: Record<string, string>,
	signal: AbortSignal,
): Promise<Response> {
	const token = session?.token ?? null;
	if (!token || !signedIn()) {
		setSession(null);
		throw new ApiError(401, "unauthorized", "not signed in");
	}
	let res: Response;
	try {
		res = await fetch(base + path, {
			headers: { ...headers, accept: "text/event-stream", authorization: `Bearer ${token}` },
			credentials: "omit",
			cache: "no-store",
			signal,
		});
	} catch (e) {
		if (e instanceof DOMException && e.name === "AbortError") throw e;
		throw new ApiError(0, "network", e instanceof Error ? e.message : "network error");
	}
	if (res.status === 401) setSession(null);
	if (!res.ok) throw await toError(res);
	return res;
}

/** A response body as a downloadable Blob (exports). */
export async function apiBlob(path: string): Promise<Blob> {
	const token = session?.token ?? null;
	if (!token) throw new ApiError(401, "unauthorized", "not signed in");
	const res = await send("GET", path, undefined, token);
	if (!res.ok) throw await toError(res);
	return res.blob();
}

/** `errors[].path` as the dotted key the forms use (`variants.0.title`). */
export function pathKey(path: readonly (string | number)[]): string {
	return path.join(".");
}
