/**
 * The one error type of the service: a stable machine code and the HTTP status it answers
 * with. The Worker maps it to an RFC 9457 problem document (worker/http.ts `toProblem`);
 * nothing else about it reaches a client.
 *
 * The pure core's errors are subclasses with their own names and codes (PushError,
 * FcmError, TemplateError, CartError, EventIdError, SignatureError): callers match on
 * `code`, never on the message. Status 500 marks a programming or configuration error: the
 * Worker logs it and answers a plain `internal` problem without its detail.
 */
export class AppError extends Error {
	override readonly name: string = "AppError";
	/** Stable code, e.g. `not_found`; clients and tests match on it. */
	readonly code: string;
	/** HTTP status the Worker answers with. */
	readonly status: number;
	/** Per-field problems, for validation failures. */
	readonly errors?: ProblemItem[];
	/** For 429 and 503: when to try again, sent as `Retry-After`. */
	readonly retryAfterSeconds?: number;

	// Plain fields, no parameter properties: the benchmarks load src/ with Node's type stripping.
	/**
	 * @param code stable code
	 * @param status HTTP status
	 * @param message the problem's `detail` (for status 500: logged only)
	 * @param errors per-field problems
	 * @param retryAfterSeconds for 429 and 503
	 * @param options standard error options (`cause`)
	 */
	constructor(
		code: string,
		status: number,
		message: string,
		errors?: ProblemItem[],
		retryAfterSeconds?: number,
		options?: ErrorOptions,
	) {
		super(message, options);
		this.code = code;
		this.status = status;
		this.errors = errors;
		this.retryAfterSeconds = retryAfterSeconds;
	}
}

/** The status of a programming or configuration error: answered as `internal`, detail logged only. */
export const INTERNAL_STATUS = 500;

/** One field-level problem inside a problem document's `errors[]`. */
export interface ProblemItem {
	path: (string | number)[];
	message: string;
	code?: string;
	[extra: string]: unknown;
}

/** Titles of problem documents by status (worker/http.ts answers with them; the OpenAPI document names them). */
export const PROBLEM_TITLES: Record<number, string> = {
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	409: "Conflict",
	413: "Content Too Large",
	415: "Unsupported Media Type",
	422: "Unprocessable Content",
	429: "Too Many Requests",
	500: "Internal Server Error",
	502: "Bad Gateway",
	503: "Service Unavailable",
};
