/**
 * A typed error with a stable machine code. The Worker maps it to an RFC 9457
 * problem document; nothing else about it reaches a client.
 */
export class AppError extends Error {
	override readonly name = "AppError";
	constructor(
		/** Stable code, e.g. `not_found`; clients and tests match on it. */
		readonly code: string,
		/** HTTP status the Worker answers with. */
		readonly status: number,
		message: string,
		/** Per-field problems, for validation failures. */
		readonly errors?: ProblemItem[],
		/** For 429 and 503: when to try again, sent as `Retry-After`. */
		readonly retryAfterSeconds?: number,
	) {
		super(message);
	}
}

/** One field-level problem inside a problem document's `errors[]`. */
export interface ProblemItem {
	path: (string | number)[];
	message: string;
	code?: string;
	[extra: string]: unknown;
}
