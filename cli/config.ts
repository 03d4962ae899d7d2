/**
 * Where the service and the key come from, first found wins: `--url`/`--key` flags, a profile
 * named with `--profile`, the `EDGE_OFFERS_URL`/`EDGE_OFFERS_KEY` environment, then a profile of
 * `~/.config/edge-offers/config.json` (`$XDG_CONFIG_HOME` and `EDGE_OFFERS_CONFIG_DIR` move it),
 * chosen with `--profile` or `EDGE_OFFERS_PROFILE` (default "default"). The file holds keys, so it
 * is written with mode 0600 in a 0700 directory, and read only when no one else can read it.
 */
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { CliError } from "./api.js";

export interface Profile {
	url?: string;
	key?: string;
	adminToken?: string;
	/** Saved by `tenants create`; not used by any command, kept so it is not lost. */
	webhookSecret?: string;
}

export interface ConfigFile {
	profiles: Record<string, Profile>;
}

export interface GlobalOptions {
	url?: string;
	key?: string;
	profile?: string;
	adminToken?: string;
}

export interface Resolved {
	url: string;
	key: string | undefined;
	keySource: string | undefined;
	adminToken: string | undefined;
	adminSource: string | undefined;
	profile: string;
}

export type Env = Record<string, string | undefined>;

/** The directory of the profile file and of the import state. */
export function configDir(env: Env = process.env): string {
	if (env.EDGE_OFFERS_CONFIG_DIR) return env.EDGE_OFFERS_CONFIG_DIR;
	const base = env.XDG_CONFIG_HOME || path.join(homedir(), ".config");
	return path.join(base, "edge-offers");
}

export function configFile(env: Env = process.env): string {
	return path.join(configDir(env), "config.json");
}

/** The profile file, or an empty one when there is none. Refuses a file others can read. */
export function readConfig(env: Env = process.env): ConfigFile {
	const file = configFile(env);
	let text: string;
	try {
		const mode = statSync(file).mode & 0o777;
		if (process.platform !== "win32" && (mode & 0o077) !== 0)
			throw new CliError(
				`${file} holds keys but is readable by others (mode ${mode.toString(8)}): run chmod 600 ${file}`,
			);
		text = readFileSync(file, "utf8");
	} catch (error) {
		if (error instanceof CliError) throw error;
		if ((error as NodeJS.ErrnoException).code === "ENOENT") return { profiles: {} };
		throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
	}
	try {
		const parsed = JSON.parse(text) as Partial<ConfigFile>;
		if (typeof parsed !== "object" || parsed === null || typeof parsed.profiles !== "object")
			throw new Error('expected {"profiles": {...}}');
		return { profiles: parsed.profiles ?? {} };
	} catch (error) {
		throw new CliError(`${file} is not a valid profile file: ${(error as Error).message}`);
	}
}

/** Writes the profile file atomically, mode 0600, its directory 0700. */
export function writeConfig(config: ConfigFile, env: Env = process.env): string {
	const dir = configDir(env);
	mkdirSync(dir, { recursive: true, mode: 0o700 });
	const file = configFile(env);
	const tmp = `${file}.${process.pid}.tmp`;
	writeFileSync(tmp, `${JSON.stringify(config, null, "\t")}\n`, { mode: 0o600 });
	chmodSync(tmp, 0o600);
	renameSync(tmp, file);
	return file;
}

/** Resolves the service URL, key and admin token for one run. */
export function resolveConfig(opts: GlobalOptions, env: Env = process.env): Resolved {
	const profileName = opts.profile || env.EDGE_OFFERS_PROFILE || "default";
	// Read only when needed: flags and environment alone work without a file.
	const needFile =
		!(opts.url ?? env.EDGE_OFFERS_URL) || !(opts.key ?? env.EDGE_OFFERS_KEY) || opts.profile !== undefined;
	const config = needFile ? readConfig(env) : { profiles: {} };
	const profile = config.profiles[profileName];
	if (opts.profile !== undefined && !profile)
		throw new CliError(
			`no profile "${opts.profile}" in ${configFile(env)}: create it with edge-offers config set --profile ${opts.profile}`,
		);
	const pick = (
		flag: string | undefined,
		flagName: string,
		envName: string,
		fromProfile: string | undefined,
		field: string,
	) => {
		const profileSource = `profile "${profileName}" (${field} in ${configFile(env)})`;
		if (flag) return { value: flag, source: flagName };
		// A profile named with --profile wins over the environment; the default profile does not.
		if (opts.profile !== undefined && fromProfile) return { value: fromProfile, source: profileSource };
		if (env[envName]) return { value: env[envName], source: envName };
		if (fromProfile) return { value: fromProfile, source: profileSource };
		return { value: undefined, source: undefined };
	};
	const url = pick(opts.url, "--url", "EDGE_OFFERS_URL", profile?.url, "url");
	const key = pick(opts.key, "--key", "EDGE_OFFERS_KEY", profile?.key, "key");
	const admin = pick(
		opts.adminToken,
		"--admin-token",
		"EDGE_OFFERS_ADMIN_TOKEN",
		profile?.adminToken,
		"adminToken",
	);
	const urlValue = url.value ?? "http://127.0.0.1:8787";
	try {
		const u = new URL(urlValue);
		if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)");
	} catch {
		throw new CliError(`the service URL "${urlValue}" (from ${url.source}) is not an http(s) URL`);
	}
	return {
		url: urlValue,
		key: key.value,
		keySource: key.source,
		adminToken: admin.value,
		adminSource: admin.source,
		profile: profileName,
	};
}

/** A short, non-reversible name for a key, to tell state entries apart without storing the key. */
export function keyFingerprint(key: string | undefined): string {
	return key ? createHash("sha256").update(key).digest("hex").slice(0, 12) : "none";
}

/** `sk_live…` shown as `sk_…(40 characters)`: never the key itself. */
export function maskKey(key: string | undefined): string {
	if (!key) return "(none)";
	const prefix = /^[a-z]+_/.exec(key)?.[0] ?? "";
	return `${prefix}…(${key.length} characters)`;
}
