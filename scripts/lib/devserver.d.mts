/** Types for devserver.mjs (plain JavaScript so `npm start` needs no build step). */

/** The repository root. */
export declare const PROJECT_ROOT: string;

/** Stable codes of {@link DevServerError}. */
export type DevServerErrorCode =
	| "NODE_TOO_OLD"
	| "WRANGLER_MISSING"
	| "BAD_OPTION"
	| "PORT_IN_USE"
	| "MIGRATIONS_FAILED"
	| "WRANGLER_EXITED"
	| "HEALTHZ_TIMEOUT"
	| "ABORTED";

/** An error from starting the dev server; `output` holds the last wrangler lines. */
export declare class DevServerError extends Error {
	constructor(code: DevServerErrorCode, message: string, output?: string[]);
	readonly code: DevServerErrorCode;
	readonly output: string[];
}

export interface DevServerOptions {
	/** Port on 127.0.0.1; `0` picks a free one. Default: `PORT`, else 8787. */
	port?: number;
	/**
	 * D1 and Durable Object state, relative to `cwd`. Default `.wrangler/state`, whose secrets
	 * are kept in `<cwd>/.dev.vars`; any other directory keeps its own in `<persistDir>/.dev.vars`.
	 */
	persistDir?: string;
	/**
	 * Extra Worker vars; they override the generated ones (the secrets, `ADMIN_TOKEN` included,
	 * `LOCAL_DEV`, `ALLOW_INSECURE_LOOPBACK_PUSH`, `PUBLIC_BASE_URL`). Passed to wrangler in a
	 * private file, never on its command line.
	 */
	vars?: Record<string, string>;
	/** Receives wrangler's output lines and the dev server's own progress lines. */
	log?: (line: string, source: "wrangler" | "devserver") => void;
	/** Directory holding wrangler.toml. Default: the repository root. */
	cwd?: string;
	/** How long to wait for `GET /healthz` to answer 200, in ms. Default 90 000. */
	timeoutMs?: number;
	/** Cancels the start-up (wrangler is stopped, the promise rejects with code `ABORTED`); no effect once up. */
	signal?: AbortSignal;
}

export interface DevServer {
	/** For example `http://127.0.0.1:8787`. */
	origin: string;
	/** The `ADMIN_TOKEN` the Worker runs with. */
	adminToken: string;
	/** Ends wrangler and workerd (the whole process group); resolves once they are gone. Idempotent. */
	stop(): Promise<void>;
	/** Settles when wrangler exits, whether through `stop()` or on its own. */
	exited: Promise<{ code: number | null; signal: string | null }>;
}

/** Applies the D1 migrations, then runs `wrangler dev` until `GET /healthz` answers 200. */
export declare function startDevServer(options?: DevServerOptions): Promise<DevServer>;

/**
 * Reads the dev secrets (VAPID keys, key pepper, admin token), generating and appending the
 * missing ones: from `<cwd>/.dev.vars` for the default state directory (`.wrangler/state`),
 * else from `<persistDir>/.dev.vars`. Values already in the file are never changed.
 */
export declare function loadDevSecrets(
	persistDir: string,
	/** The directory holding wrangler.toml. Default: the repository root. */
	cwd?: string,
): Promise<{
	vapidPublicKey: string;
	vapidPrivateKey: string;
	keyPepper: string;
	adminToken: string;
	/** The `.dev.vars` file they are kept in. */
	file: string;
	/** Every variable of that file, the user's own included. */
	values: Record<string, string>;
}>;
