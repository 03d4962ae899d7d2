import { Client } from "./api.js";
import { type Env, type GlobalOptions, type Resolved, resolveConfig } from "./config.js";
import type { ProgressSink } from "./progress.js";

/** What a command gets: output streams, the environment, and the configured client. */
export interface Ctx {
	out(line: string): void;
	err(line: string): void;
	stderr: ProgressSink;
	env: Env;
	quiet: boolean;
	config(): Resolved;
	client(): Client;
}

export function makeCtx(options: () => GlobalOptions & { quiet?: boolean }, env: Env = process.env): Ctx {
	let resolved: Resolved | undefined;
	let client: Client | undefined;
	const ctx: Ctx = {
		out: (line) => process.stdout.write(`${line}\n`),
		err: (line) => process.stderr.write(`${line}\n`),
		stderr: process.stderr,
		env,
		get quiet() {
			return options().quiet === true;
		},
		config() {
			resolved ??= resolveConfig(options(), env);
			return resolved;
		},
		client() {
			const c = ctx.config();
			client ??= new Client({
				url: c.url,
				key: c.key,
				keySource: c.keySource,
				onWait: (seconds, why) => ctx.err(`${why}: waiting ${seconds} s as the service asks (Retry-After)`),
			});
			return client;
		},
	};
	return ctx;
}
