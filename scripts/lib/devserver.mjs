// Starts the Worker locally with `wrangler dev` (workerd, D1 and Durable Objects persisted on
// disk), with migrations applied and dev secrets in place. Used by `npm start` and by the
// end-to-end tests, so both run exactly the same way.
//
// Secrets never appear on a command line (the process list is readable by every local user):
// they are kept in a `.dev.vars` file (the repository's for `npm start`, the state
// directory's otherwise), and each run hands wrangler a private `--env-file` holding the
// Worker's variables for that run.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, unlinkSync } from "node:fs";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import webpush from "web-push";

/** The repository root (this file lives in scripts/lib/). */
export const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));

const DEFAULT_PERSIST_DIR = path.join(".wrangler", "state");
const WRANGLER_CLI = path.join(PROJECT_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const MIN_NODE = [22, 12];
const HEALTHZ_TIMEOUT_MS = 90_000;
const MIGRATIONS_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 10_000;
const KEPT_OUTPUT_LINES = 40;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Coloured wrangler output would leave escape codes in logs and error messages.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;
// wrangler logs every request; our own start-up polling would crowd out the useful lines.
const HEALTHZ_REQUEST_LINE = /\bGET \/healthz\b/;

/**
 * An error from starting the dev server, with a stable `code`:
 * `NODE_TOO_OLD`, `WRANGLER_MISSING`, `BAD_OPTION`, `PORT_IN_USE`, `MIGRATIONS_FAILED`,
 * `WRANGLER_EXITED`, `HEALTHZ_TIMEOUT` or `ABORTED`. `output` holds the last wrangler lines.
 */
export class DevServerError extends Error {
	/**
	 * @param {string} code
	 * @param {string} message
	 * @param {string[]} [output]
	 */
	constructor(code, message, output = []) {
		super(output.length > 0 ? `${message}\nLast wrangler output:\n  ${output.join("\n  ")}` : message);
		this.name = "DevServerError";
		this.code = code;
		this.output = output;
	}
}

/**
 * @typedef {object} DevServerOptions
 * @property {number} [port] Port on 127.0.0.1; `0` picks a free one. Default: `PORT`, else 8787.
 * @property {string} [persistDir] D1 and Durable Object state, relative to `cwd`. Default
 *   `.wrangler/state`, whose secrets are kept in `<cwd>/.dev.vars`; any other directory keeps
 *   its own in `<persistDir>/.dev.vars`.
 * @property {Record<string, string>} [vars] Extra Worker vars; they override the generated ones
 *   (the secrets, `ADMIN_TOKEN` included, `LOCAL_DEV`, `ALLOW_INSECURE_LOOPBACK_PUSH`, `PUBLIC_BASE_URL`).
 * @property {(line: string, source: "wrangler" | "devserver") => void} [log] Receives wrangler's
 *   output lines and the dev server's own progress lines.
 * @property {string} [cwd] Directory holding wrangler.toml. Default: the repository root.
 * @property {number} [timeoutMs] How long to wait for `GET /healthz`. Default 90 000.
 * @property {AbortSignal} [signal] Cancels the start-up (wrangler is stopped, the promise rejects
 *   with code `ABORTED`); it has no effect once the server is up: use `stop()` then.
 */

/**
 * @typedef {object} DevServer
 * @property {string} origin For example `http://127.0.0.1:8787`.
 * @property {string} adminToken The `ADMIN_TOKEN` the Worker runs with.
 * @property {() => Promise<void>} stop Ends wrangler and workerd (the whole process group);
 *   resolves once they are gone. Safe to call more than once.
 * @property {Promise<{ code: number | null, signal: string | null }>} exited Settles when
 *   wrangler exits, whether through `stop()` or on its own.
 */

/**
 * Applies the D1 migrations, then runs `wrangler dev` on 127.0.0.1 until `GET /healthz`
 * answers 200.
 *
 * @param {DevServerOptions} [options]
 * @returns {Promise<DevServer>}
 */
export async function startDevServer(options = {}) {
	assertNodeVersion();
	if (!existsSync(WRANGLER_CLI)) {
		throw new DevServerError(
			"WRANGLER_MISSING",
			`wrangler is not installed (${WRANGLER_CLI}); run npm install`,
		);
	}
	const log = options.log ?? (() => {});
	const cwd = path.resolve(options.cwd ?? PROJECT_ROOT);
	const persistDir = path.resolve(cwd, options.persistDir ?? DEFAULT_PERSIST_DIR);
	const vars = checkVars(options.vars ?? {});
	const timeoutMs = options.timeoutMs ?? HEALTHZ_TIMEOUT_MS;
	const signal = options.signal;
	throwIfAborted(signal);
	const port = await choosePort(options.port ?? portFromEnv());

	await mkdir(persistDir, { recursive: true });
	const secrets = await loadDevSecrets(persistDir, cwd);
	const env = childEnv();
	const origin = `http://127.0.0.1:${port}`;
	/** @type {Record<string, string>} */
	const workerVars = {
		...secrets.values,
		LOCAL_DEV: "true",
		ALLOW_INSECURE_LOOPBACK_PUSH: "true",
		PUBLIC_BASE_URL: origin,
		...(process.env.ADMIN_TOKEN ? { ADMIN_TOKEN: process.env.ADMIN_TOKEN } : {}),
		...vars,
	};
	const adminToken = vars.ADMIN_TOKEN || process.env.ADMIN_TOKEN || secrets.adminToken;
	workerVars.ADMIN_TOKEN = adminToken;

	log(`applying migrations… (state in ${path.relative(cwd, persistDir) || "."})`, "devserver");
	await applyMigrations({ cwd, persistDir, env, log, signal });
	throwIfAborted(signal);

	// Secrets never go on a command line (any local user can read those): wrangler reads them
	// from this file, readable by the owner only, which exists while the server runs.
	const runVarsFile = path.join(persistDir, `.dev.vars.run-${port}`);
	await writePrivateFile(
		runVarsFile,
		formatDotenv(
			workerVars,
			"Written by scripts/lib/devserver.mjs for one wrangler dev run; deleted when it stops.",
		),
	);
	const removeRunVars = () => {
		try {
			unlinkSync(runVarsFile);
		} catch {
			// Already gone.
		}
	};
	const args = [
		"dev",
		"--local",
		"--ip",
		"127.0.0.1",
		"--port",
		String(port),
		"--persist-to",
		persistDir,
		"--show-interactive-dev-session=false",
		// With --env-file, wrangler reads neither .dev.vars nor .env by itself; the file's values
		// override wrangler.toml [vars].
		"--env-file",
		runVarsFile,
	];
	log(`starting wrangler dev on 127.0.0.1:${port}…`, "devserver");
	const proc = runWrangler(args, { cwd, env, log, detached: true });
	const stop = once(async () => {
		await killGroup(proc);
		removeRunVars();
	});
	// If the caller never stops us (a crashed test run), do not leave workerd behind.
	const onExit = () => {
		signalGroup(proc.child, "SIGTERM");
		removeRunVars();
	};
	process.once("exit", onExit);
	proc.exited.then(() => {
		process.removeListener("exit", onExit);
		removeRunVars();
	});

	try {
		await waitForHealthz(origin, proc, timeoutMs, signal);
	} catch (error) {
		await stop();
		throw error;
	}
	log(`ready on ${origin}`, "devserver");
	return { origin, adminToken, stop, exited: proc.exited };
}

/** The secrets a local run needs, generated once and then kept. */
const SECRET_NAMES = ["KEY_PEPPER", "VAPID_PUBLIC_KEY", "VAPID_PRIVATE_KEY", "ADMIN_TOKEN"];

/**
 * Where the dev secrets of a state directory live: the repository's `.dev.vars` for the
 * default state (`npm start`), else `.dev.vars` inside the state directory itself, so servers
 * on other state directories (end-to-end tests, benchmarks) never share or clobber a file.
 *
 * @param {string} persistDir absolute
 * @param {string} cwd absolute, the directory holding wrangler.toml
 * @returns {string}
 */
function devVarsFileFor(persistDir, cwd = PROJECT_ROOT) {
	const isDefault = path.resolve(persistDir) === path.resolve(cwd, DEFAULT_PERSIST_DIR);
	return isDefault ? path.join(cwd, ".dev.vars") : path.join(persistDir, ".dev.vars");
}

/**
 * The dev secrets that must survive restarts: VAPID keys (existing push subscriptions are
 * bound to them), the pepper the Worker hashes API keys with and derives user-token keys from
 * (stored keys stop matching if it changes), and the admin token. Read from the `.dev.vars`
 * file of {@link devVarsFileFor} (created readable by the owner only); a secret missing there
 * is taken from the `dev-secrets.json` earlier versions kept in the state directory, else
 * generated, and appended. Values already in the file are never changed.
 *
 * @param {string} persistDir
 * @param {string} [cwd] the directory holding wrangler.toml (default: the repository root)
 * @returns {Promise<{ vapidPublicKey: string, vapidPrivateKey: string, keyPepper: string, adminToken: string, file: string, values: Record<string, string> }>}
 *   `values`: every variable of the file, the user's own included
 */
export async function loadDevSecrets(persistDir, cwd = PROJECT_ROOT) {
	const dir = path.resolve(cwd, persistDir);
	const file = devVarsFileFor(dir, path.resolve(cwd));
	for (let attempt = 0; ; attempt++) {
		/** @type {string | undefined} */
		let text;
		try {
			text = await readFile(file, "utf8");
		} catch (error) {
			if (/** @type {NodeJS.ErrnoException} */ (error).code !== "ENOENT") {
				throw new DevServerError("BAD_OPTION", `cannot read ${file}: ${describe(error)}`);
			}
		}
		const values = text === undefined ? {} : parseDotenv(text);
		const missing = SECRET_NAMES.filter((name) => !values[name]);
		if (missing.length > 0) {
			const legacy = await readLegacySecrets(path.join(dir, "dev-secrets.json"));
			/** @type {Record<string, string>} */
			const added = {};
			const vapid = missing.includes("VAPID_PUBLIC_KEY") || missing.includes("VAPID_PRIVATE_KEY");
			if (vapid && !values.VAPID_PUBLIC_KEY && !values.VAPID_PRIVATE_KEY) {
				// A key pair: both from the same place.
				const keys = legacy.vapid ?? webpush.generateVAPIDKeys();
				added.VAPID_PUBLIC_KEY = keys.publicKey;
				added.VAPID_PRIVATE_KEY = keys.privateKey;
			} else if (vapid) {
				throw new DevServerError(
					"BAD_OPTION",
					`${file} has only one of VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY; set both, or remove both to generate a pair`,
				);
			}
			if (missing.includes("KEY_PEPPER")) added.KEY_PEPPER = legacy.keyPepper ?? randomToken();
			if (missing.includes("ADMIN_TOKEN")) added.ADMIN_TOKEN = randomToken();
			const header =
				text === undefined
					? "# Local secrets for wrangler dev, generated by scripts/lib/devserver.mjs (npm start).\n" +
						"# Keep this file private; edit values freely: they are never overwritten.\n"
					: "";
			const separator = text === undefined || text === "" || text.endsWith("\n") ? "" : "\n";
			const next = `${text ?? ""}${separator}${header}${formatDotenv(added)}`;
			try {
				await mkdir(path.dirname(file), { recursive: true });
				if (text === undefined) {
					// wx: a server starting at the same moment may have created it; then read that one.
					await writeFile(file, next, { mode: 0o600, flag: "wx" });
				} else {
					await writePrivateFile(file, next);
				}
			} catch (error) {
				if (/** @type {NodeJS.ErrnoException} */ (error).code === "EEXIST" && attempt < 3) continue;
				throw new DevServerError("BAD_OPTION", `cannot write ${file}: ${describe(error)}`);
			}
			Object.assign(values, added);
		}
		return {
			vapidPublicKey: String(values.VAPID_PUBLIC_KEY),
			vapidPrivateKey: String(values.VAPID_PRIVATE_KEY),
			keyPepper: String(values.KEY_PEPPER),
			adminToken: String(values.ADMIN_TOKEN),
			file,
			values,
		};
	}
}

/**
 * The pepper and VAPID keys of the `dev-secrets.json` earlier versions kept, if any, so a
 * state directory made by them keeps working (its stored key hashes and subscriptions).
 *
 * @param {string} file
 * @returns {Promise<{ keyPepper?: string, vapid?: { publicKey: string, privateKey: string } }>}
 */
async function readLegacySecrets(file) {
	/** @type {any} */
	let stored;
	try {
		stored = JSON.parse(await readFile(file, "utf8"));
	} catch {
		return {};
	}
	const isKey = (/** @type {unknown} */ v) => typeof v === "string" && v.length > 0;
	return {
		keyPepper: isKey(stored?.keyPepper) ? stored.keyPepper : undefined,
		vapid:
			isKey(stored?.vapidPublicKey) && isKey(stored?.vapidPrivateKey)
				? { publicKey: stored.vapidPublicKey, privateKey: stored.vapidPrivateKey }
				: undefined,
	};
}

// The dotenv 16 grammar wrangler parses .dev.vars and --env-file files with.
const DOTENV_LINE =
	/(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/gm;

/**
 * Parses a `.dev.vars` file as wrangler does (dotenv 16, no variable expansion).
 *
 * @param {string} text
 * @returns {Record<string, string>}
 */
function parseDotenv(text) {
	/** @type {Record<string, string>} */
	const out = {};
	const lines = text.replace(/\r\n?/g, "\n");
	for (const match of lines.matchAll(DOTENV_LINE)) {
		const key = /** @type {string} */ (match[1]);
		let value = (match[2] ?? "").trim();
		const quote = value[0];
		value = value.replace(/^(['"`])([\s\S]*)\1$/gm, "$2");
		if (quote === '"') value = value.replace(/\\n/g, "\n").replace(/\\r/g, "\r");
		out[key] = value;
	}
	return out;
}

/**
 * Writes variables in a form that wrangler's `--env-file` reading (dotenv 16, then
 * dotenv-expand, which would replace `$NAME`) gives back exactly.
 *
 * @param {Record<string, string>} vars
 * @param {string} [comment]
 * @returns {string}
 */
function formatDotenv(vars, comment) {
	const lines = comment ? [`# ${comment}`] : [];
	for (const [name, raw] of Object.entries(vars)) {
		// dotenv-expand turns `\$` back into `$` and expands nothing escaped so.
		const value = raw.replace(/\$/g, "\\$");
		let quoted;
		if (!value.includes("'")) quoted = `'${value}'`;
		else if (!value.includes("`")) quoted = `\`${value}\``;
		else if (!value.includes('"') && !/\\[nr]/.test(value)) quoted = `"${value}"`;
		else
			throw new DevServerError(
				"BAD_OPTION",
				`${name} holds ', \` and " at once: wrangler's env files cannot carry such a value`,
			);
		lines.push(`${name}=${quoted}`);
	}
	return `${lines.join("\n")}\n`;
}

/**
 * Replaces a file atomically with one readable by the owner only.
 *
 * @param {string} file
 * @param {string} text
 */
async function writePrivateFile(file, text) {
	const tmp = `${file}.${process.pid}.tmp`;
	await writeFile(tmp, text, { mode: 0o600 });
	await chmod(tmp, 0o600);
	await rename(tmp, file);
}

/** @param {unknown} error */
function describe(error) {
	return error instanceof Error ? error.message : String(error);
}

/** @param {AbortSignal | undefined} signal */
function throwIfAborted(signal) {
	if (signal?.aborted) throw new DevServerError("ABORTED", "the dev server start-up was cancelled");
}

/** @returns {string} 32 random bytes, base64url. */
function randomToken() {
	return randomBytes(32).toString("base64url");
}

function assertNodeVersion() {
	const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
	const [needMajor = 0, needMinor = 0] = MIN_NODE;
	if (major < needMajor || (major === needMajor && minor < needMinor)) {
		throw new DevServerError(
			"NODE_TOO_OLD",
			`wrangler needs Node ${MIN_NODE.join(".")} or later; this is Node ${process.versions.node}`,
		);
	}
}

/**
 * @param {Record<string, string>} vars
 * @returns {Record<string, string>}
 */
function checkVars(vars) {
	for (const [name, value] of Object.entries(vars)) {
		if (!VAR_NAME.test(name) || typeof value !== "string") {
			throw new DevServerError("BAD_OPTION", `vars.${name} must be a string under a plain variable name`);
		}
	}
	return vars;
}

/** @returns {number} */
function portFromEnv() {
	const raw = process.env.PORT;
	return raw === undefined || raw === "" ? 8787 : Number(raw);
}

/**
 * @param {number} requested
 * @returns {Promise<number>}
 */
async function choosePort(requested) {
	if (!Number.isInteger(requested) || requested < 0 || requested > 65535) {
		throw new DevServerError("BAD_OPTION", `port must be an integer from 0 to 65535, not ${requested}`);
	}
	try {
		return await listenOnce(requested);
	} catch {
		// Checked up front: otherwise /healthz could be answered by whatever already holds the port.
		throw new DevServerError(
			"PORT_IN_USE",
			`port ${requested} on 127.0.0.1 is already in use (another npm start?); set PORT to another port`,
		);
	}
}

/**
 * Listens on the port and closes again; with 0 the system picks a free port.
 *
 * @param {number} port
 * @returns {Promise<number>} the port that was free
 */
function listenOnce(port) {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once("error", reject);
		server.listen({ port, host: "127.0.0.1", exclusive: true }, () => {
			const address = server.address();
			const free = typeof address === "object" && address ? address.port : port;
			server.close(() => resolve(free));
		});
	});
}

/** @returns {NodeJS.ProcessEnv} */
function childEnv() {
	const bin = path.join(PROJECT_ROOT, "node_modules", ".bin");
	/** @type {NodeJS.ProcessEnv} */
	const env = {
		...process.env,
		PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}`,
		WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? "false",
		WRANGLER_NO_SKILLS_UPDATE_PROMPTS: process.env.WRANGLER_NO_SKILLS_UPDATE_PROMPTS ?? "true",
		// The Worker's variables come from the --env-file only: never skipped, and never mixed
		// with (or, for a name set in both, replaced by) this process's environment.
		CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: "true",
		CLOUDFLARE_INCLUDE_PROCESS_ENV: "false",
	};
	// wrangler has no use for them; they reach the Worker through the env file.
	for (const name of SECRET_NAMES) delete env[name];
	return env;
}

/**
 * @typedef {object} WranglerProcess
 * @property {import("node:child_process").ChildProcess} child
 * @property {string[]} tail the last output lines, escape codes removed
 * @property {Promise<{ code: number | null, signal: string | null }>} exited
 * @property {{ starting: boolean }} state while `starting`, health-check request lines are dropped
 */

/**
 * Runs the project's wrangler with the Node running this script (wrangler needs a current
 * one; a `node` found first on PATH may be older), stdin closed so it never prompts.
 *
 * @param {string[]} args
 * @param {{ cwd: string, env: NodeJS.ProcessEnv, log: (line: string, source: "wrangler" | "devserver") => void, detached: boolean }} opts
 * @returns {WranglerProcess}
 */
function runWrangler(args, { cwd, env, log, detached }) {
	const child = spawn(process.execPath, [WRANGLER_CLI, ...args], {
		cwd,
		env,
		detached,
		stdio: ["ignore", "pipe", "pipe"],
	});
	/** @type {string[]} */
	const tail = [];
	const state = { starting: true };
	for (const stream of [child.stdout, child.stderr]) {
		createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (raw) => {
			const line = raw.replace(ANSI, "").trimEnd();
			if (line.trim() === "" || (state.starting && HEALTHZ_REQUEST_LINE.test(line))) return;
			tail.push(line);
			if (tail.length > KEPT_OUTPUT_LINES) tail.shift();
			log(line, "wrangler");
		});
	}
	/** @type {Promise<{ code: number | null, signal: string | null }>} */
	const exited = new Promise((resolve) => {
		child.once("error", (error) => {
			tail.push(`could not run wrangler: ${error.message}`);
			resolve({ code: null, signal: null });
		});
		child.once("exit", (code, signal) => resolve({ code, signal }));
	});
	return { child, tail, exited, state };
}

/**
 * @param {{ cwd: string, persistDir: string, env: NodeJS.ProcessEnv, log: (line: string, source: "wrangler" | "devserver") => void, signal: AbortSignal | undefined }} opts
 */
async function applyMigrations({ cwd, persistDir, env, log, signal }) {
	const proc = runWrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir], {
		cwd,
		// CI makes wrangler skip its confirmation prompt.
		env: { ...env, CI: "true" },
		log,
		detached: false,
	});
	const timer = setTimeout(() => proc.child.kill("SIGKILL"), MIGRATIONS_TIMEOUT_MS);
	const cancel = () => proc.child.kill("SIGTERM");
	signal?.addEventListener("abort", cancel, { once: true });
	const exit = await proc.exited;
	clearTimeout(timer);
	signal?.removeEventListener("abort", cancel);
	throwIfAborted(signal);
	if (exit.code !== 0) {
		const how = exit.signal ? `was killed (${exit.signal})` : `exited with code ${exit.code}`;
		throw new DevServerError("MIGRATIONS_FAILED", `wrangler d1 migrations apply ${how}`, proc.tail);
	}
}

/**
 * @param {string} origin
 * @param {WranglerProcess} proc
 * @param {number} timeoutMs
 * @param {AbortSignal | undefined} signal
 */
async function waitForHealthz(origin, proc, timeoutMs, signal) {
	const deadline = Date.now() + timeoutMs;
	let exit = /** @type {{ code: number | null, signal: string | null } | undefined} */ (undefined);
	proc.exited.then((result) => {
		exit = result;
	});
	let last = "no answer yet";
	while (Date.now() < deadline) {
		throwIfAborted(signal);
		if (exit) {
			const how = exit.signal ? `was killed (${exit.signal})` : `exited with code ${exit.code}`;
			throw new DevServerError(
				"WRANGLER_EXITED",
				`wrangler dev ${how} before GET /healthz answered`,
				proc.tail,
			);
		}
		try {
			const timeout = AbortSignal.timeout(2_000);
			const res = await fetch(`${origin}/healthz`, {
				signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
			});
			await res.body?.cancel();
			if (res.status === 200) {
				proc.state.starting = false;
				return;
			}
			last = `last answer: ${res.status}`;
		} catch (error) {
			last = `last attempt: ${error instanceof Error ? (error.cause ?? error).toString() : String(error)}`;
		}
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
	throwIfAborted(signal);
	throw new DevServerError(
		"HEALTHZ_TIMEOUT",
		`GET ${origin}/healthz did not answer 200 within ${Math.round(timeoutMs / 1000)} s (${last})`,
		proc.tail,
	);
}

/**
 * @param {import("node:child_process").ChildProcess} child
 * @param {NodeJS.Signals | 0} signal
 * @returns {boolean} whether the process group still existed
 */
function signalGroup(child, signal) {
	if (child.pid === undefined) return false;
	try {
		process.kill(-child.pid, signal);
		return true;
	} catch {
		return false;
	}
}

/**
 * Ends wrangler and everything it started (workerd), politely first.
 *
 * @param {WranglerProcess} proc
 */
async function killGroup(proc) {
	if (!signalGroup(proc.child, "SIGTERM")) {
		await proc.exited;
		return;
	}
	const deadline = Date.now() + STOP_GRACE_MS;
	let killed = false;
	for (;;) {
		const exited = proc.child.exitCode !== null || proc.child.signalCode !== null;
		// The group outlives wrangler while workerd is still shutting down.
		if (exited && !signalGroup(proc.child, 0)) break;
		if (!killed && Date.now() > deadline) {
			signalGroup(proc.child, "SIGKILL");
			killed = true;
		}
		if (killed && Date.now() > deadline + STOP_GRACE_MS) break;
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	await proc.exited;
}

/**
 * @template T
 * @param {() => Promise<T>} fn
 * @returns {() => Promise<T>}
 */
function once(fn) {
	/** @type {Promise<T> | undefined} */
	let result;
	return () => {
		result ??= fn();
		return result;
	};
}
