/**
 * The HTTP client of the command line: JSON in and out, the key as a bearer token (never
 * printed), 429 and busy answers retried after `Retry-After`, and every failure turned into one
 * line that says what to do.
 */

/** A failure the command reports as is (one line, what to do) and exits non-zero. */
export class CliError extends Error {
	constructor(
		message: string,
		readonly exitCode = 1,
	) {
		super(message);
		this.name = "CliError";
	}
}

/** A non-2xx answer, with its problem document. */
export class ApiError extends CliError {
	constructor(
		readonly method: string,
		readonly pathname: string,
		readonly status: number,
		readonly problem: Problem | null,
		message: string,
	) {
		super(message);
		this.name = "ApiError";
	}
}

/** RFC 9457 problem document as the service writes it. */
export interface Problem {
	type?: string;
	title?: string;
	status?: number;
	detail?: string;
	code?: string;
	errors?: {
		index?: number | null;
		id?: string | null;
		path?: (string | number)[] | string;
		message?: string;
	}[];
}

export interface ClientOptions {
	url: string;
	key?: string | undefined;
	/** Where the key came from, named in the 401 hint (e.g. "EDGE_OFFERS_KEY"). */
	keySource?: string | undefined;
	/** Told each wait for a 429 or busy answer. */
	onWait?: ((seconds: number, why: string) => void) | undefined;
	/** Most waits for one request (429, 503) before giving up. */
	maxRetries?: number;
	/** How long to keep waiting while the tenant's geofences are busy (409), in ms (default 6 min). */
	busyTimeoutMs?: number;
	fetch?: typeof fetch;
}

export interface RequestOptions {
	body?: unknown;
	/** A body already serialized as JSON (geofence chunks). */
	rawBody?: string;
	/** Another bearer token for this request (the admin token). */
	token?: string;
	/** Statuses answered without throwing (the body is returned as is). */
	accept?: number[];
	query?: Record<string, string | number | undefined>;
	headers?: Record<string, string>;
	timeoutMs?: number;
}

export interface Answer<T> {
	status: number;
	body: T;
	headers: Headers;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Seconds to wait from a `Retry-After` header (seconds or an HTTP date), at least 1, at most 120. */
export function retryAfterSeconds(value: string | null, fallback = 2): number {
	if (!value) return fallback;
	const n = Number(value);
	const seconds = Number.isFinite(n) ? n : (Date.parse(value) - Date.now()) / 1000;
	return Number.isFinite(seconds) ? Math.min(120, Math.max(1, Math.ceil(seconds))) : fallback;
}

export class Client {
	readonly url: string;
	readonly #key: string | undefined;

	constructor(readonly options: ClientOptions) {
		this.url = options.url.replace(/\/+$/, "");
		this.#key = options.key;
	}

	/** Whether a key is configured (the key itself never leaves this object except in requests). */
	get hasKey(): boolean {
		return Boolean(this.#key);
	}

	/** Calls the API; throws {@link ApiError} or {@link CliError} with a one-line explanation. */
	async request<T = unknown>(
		method: string,
		pathname: string,
		opts: RequestOptions = {},
	): Promise<Answer<T>> {
		const token = opts.token ?? this.#key;
		const url = new URL(this.url + pathname);
		for (const [k, v] of Object.entries(opts.query ?? {}))
			if (v !== undefined) url.searchParams.set(k, String(v));
		const headers: Record<string, string> = { accept: "application/json", ...opts.headers };
		if (token) headers.authorization = `Bearer ${token}`;
		const body = opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
		if (body !== undefined) headers["content-type"] = "application/json";
		const doFetch = this.options.fetch ?? fetch;
		const maxRetries = this.options.maxRetries ?? 10;
		const started = Date.now();
		for (let attempt = 0; ; attempt++) {
			let res: Response;
			try {
				res = await doFetch(url, {
					method,
					headers,
					body,
					signal: AbortSignal.timeout(opts.timeoutMs ?? 120_000),
				});
			} catch (error) {
				const cause =
					error instanceof Error
						? String((error as { cause?: unknown }).cause ?? error.message)
						: String(error);
				if (error instanceof Error && error.name === "TimeoutError")
					throw new CliError(
						`${method} ${pathname}: no answer from ${this.url} in time; try again, or check the service`,
					);
				throw new CliError(
					`cannot reach ${this.url} (${cause}): check --url / EDGE_OFFERS_URL and that the service is running`,
				);
			}
			// Too many requests or a failing service: wait as told, a few times. The tenant's geofences
			// busy with another change (409 with Retry-After): wait up to `busyTimeoutMs`, since a change
			// whose holder vanished (a restarted isolate) releases its lock after 5 minutes.
			const busyLock = res.status === 409 && res.headers.has("retry-after");
			const retryable = res.status === 429 || res.status === 503 || busyLock;
			const inTime = busyLock
				? Date.now() - started < (this.options.busyTimeoutMs ?? 6 * 60_000)
				: attempt < maxRetries;
			if (retryable && inTime && !opts.accept?.includes(res.status)) {
				const seconds = retryAfterSeconds(res.headers.get("retry-after"), Math.min(30, 2 ** attempt));
				await res.body?.cancel();
				this.options.onWait?.(
					seconds,
					res.status === 429
						? "rate limited (429)"
						: busyLock
							? "another change to the geofences is in progress (409)"
							: `service unavailable (${res.status})`,
				);
				await sleep(seconds * 1000);
				continue;
			}
			const text = await res.text();
			let parsed: unknown = text;
			try {
				parsed = text === "" ? null : JSON.parse(text);
			} catch {
				// Not JSON: kept as text for the message.
			}
			if (res.ok || opts.accept?.includes(res.status))
				return { status: res.status, body: parsed as T, headers: res.headers };
			throw this.#error(method, pathname, res.status, parsed, Boolean(opts.token));
		}
	}

	async get<T = unknown>(pathname: string, opts: RequestOptions = {}): Promise<T> {
		return (await this.request<T>("GET", pathname, opts)).body;
	}

	async send<T = unknown>(
		method: string,
		pathname: string,
		body?: unknown,
		opts: RequestOptions = {},
	): Promise<T> {
		return (await this.request<T>(method, pathname, { ...opts, body })).body;
	}

	#error(method: string, pathname: string, status: number, body: unknown, ownToken: boolean): ApiError {
		const problem = typeof body === "object" && body !== null ? (body as Problem) : null;
		const detail = problem?.detail ?? problem?.title ?? (typeof body === "string" ? body.slice(0, 200) : "");
		const what = `${method} ${pathname} answered ${status}`;
		let hint: string;
		if (status === 401)
			hint = ownToken
				? "the admin token was refused: check EDGE_OFFERS_ADMIN_TOKEN / --admin-token"
				: this.#key
					? `the key was refused (wrong, rotated or for another service): check ${this.options.keySource ?? "the key"}`
					: "no key given: set EDGE_OFFERS_KEY, pass --key, or use a profile (edge-offers config set)";
		else if (status === 403) hint = "this key may not do that (a secret key sk_... is needed)";
		else if (status === 404) hint = detail || "not found (or not this tenant's)";
		else if (status === 429) hint = "rate limited and still refused after waiting; try again later";
		else if (status === 413)
			hint = `${detail || "the request is too large"}; use smaller chunks (--chunk-features)`;
		else if (status >= 500)
			hint = `${detail || "the service failed"}; try again (nothing was changed if it says so)`;
		else hint = detail || "refused";
		return new ApiError(method, pathname, status, problem, `${what}: ${hint}`);
	}
}

/** The validation problems of an error answer, one line each (`path: message`). */
export function problemLines(error: ApiError, max = 50): string[] {
	const items = error.problem?.errors ?? [];
	const lines = items.slice(0, max).map((e) => {
		const path = Array.isArray(e.path) ? e.path.join(".") : (e.path ?? "");
		return `  ${path ? `${path}: ` : ""}${e.message ?? ""}`;
	});
	if (items.length > max) lines.push(`  ... and ${items.length - max} more`);
	return lines;
}
