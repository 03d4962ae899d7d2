/**
 * The small state file that lets `fences import --resume` continue an interrupted import:
 * `imports.json` next to the profile file (mode 0600), one entry per service, key and file
 * content, holding the open import's id and how the file was cut into chunks. It never holds a
 * key: entries are told apart by a hash of it.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { configDir, type Env } from "./config.js";

export interface ImportEntry {
	url: string;
	/** {@link keyFingerprint} of the key that opened the import. */
	keyFp: string;
	/** sha256 of the file's bytes. */
	fileHash: string;
	file: string;
	importId: string;
	chunkFeatures: number;
	chunkBytes: number;
	chunks: number;
	startedAt: string;
	expiresAt?: string;
}

export function stateFile(env: Env = process.env): string {
	return path.join(configDir(env), "imports.json");
}

function load(env: Env): ImportEntry[] {
	try {
		const parsed = JSON.parse(readFileSync(stateFile(env), "utf8")) as { imports?: ImportEntry[] };
		return Array.isArray(parsed.imports) ? parsed.imports : [];
	} catch {
		return [];
	}
}

function save(entries: ImportEntry[], env: Env): void {
	mkdirSync(configDir(env), { recursive: true, mode: 0o700 });
	const file = stateFile(env);
	const tmp = `${file}.${process.pid}.tmp`;
	// Entries past their import's 24 h are of no use.
	const live = entries.filter((e) => !e.expiresAt || Date.parse(e.expiresAt) > Date.now());
	writeFileSync(tmp, `${JSON.stringify({ imports: live }, null, "\t")}\n`, { mode: 0o600 });
	renameSync(tmp, file);
}

const same = (
	a: Pick<ImportEntry, "url" | "keyFp" | "fileHash">,
	b: Pick<ImportEntry, "url" | "keyFp" | "fileHash">,
) => a.url === b.url && a.keyFp === b.keyFp && a.fileHash === b.fileHash;

/** The open import of this file on this service with this key, if one was left. */
export function findImport(
	where: Pick<ImportEntry, "url" | "keyFp" | "fileHash">,
	env: Env = process.env,
): ImportEntry | undefined {
	return load(env).find((e) => same(e, where));
}

export function rememberImport(entry: ImportEntry, env: Env = process.env): void {
	save([...load(env).filter((e) => !same(e, entry)), entry], env);
}

export function forgetImport(
	where: Pick<ImportEntry, "url" | "keyFp" | "fileHash">,
	env: Env = process.env,
): void {
	const entries = load(env);
	if (entries.some((e) => same(e, where)))
		save(
			entries.filter((e) => !same(e, where)),
			env,
		);
}
