/**
 * `edge-offers`: the command line for retailers (docs/cli.md). Each command talks to the public
 * HTTP API only; the geofence validator is the service's own (src/geo/validate.ts).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { CliError } from "./api.js";
import { createTenantCommand, replayCommand, userTokenCommand, vapidCommand } from "./commands/admin.js";
import { applyCommand, listCommand, statsCommand } from "./commands/campaigns.js";
import {
	addWebhookCommand,
	deliveriesCommand,
	listWebhooksCommand,
	removeWebhookCommand,
	replayWebhookCommand,
	tailCommand,
} from "./commands/events.js";
import { exportCommand, importCommand, validateCommand } from "./commands/fences.js";
import { usersImportCommand } from "./commands/users.js";
import { configFile, maskKey, readConfig, writeConfig } from "./config.js";
import { type Ctx, makeCtx } from "./context.js";
import type { StoreFormat } from "./formats/index.js";

/** A positive whole number option. */
export function positiveInt(value: string): number {
	const n = Number(value);
	if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive whole number");
	return n;
}

/** A positive number option. */
export function positiveNumber(value: string): number {
	const n = Number(value);
	if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number");
	return n;
}

export function buildProgram(ctx?: Ctx): Command {
	const program = new Command("edge-offers");
	const context = ctx ?? makeCtx(() => program.opts());
	program
		.description("Command line for edge-offers retailers: stores, campaigns, events, webhooks.")
		.option("--url <url>", "service URL (else EDGE_OFFERS_URL, the profile, or http://127.0.0.1:8787)")
		.option(
			"--key <key>",
			"tenant secret key sk_... (prefer EDGE_OFFERS_KEY or a profile: flags show in the process list)",
		)
		.option(
			"--profile <name>",
			'profile of ~/.config/edge-offers/config.json (else EDGE_OFFERS_PROFILE or "default")',
		)
		.option(
			"--admin-token <token>",
			"admin token for tenants create (else EDGE_OFFERS_ADMIN_TOKEN or the profile)",
		)
		.option("-q, --quiet", "no progress or notes on stderr")
		.showHelpAfterError("(add --help for usage)")
		.exitOverride();

	const chunkOptions = (cmd: Command) =>
		cmd
			.addOption(
				new Option("--format <format>", "file format (default: from the extension)").choices([
					"csv",
					"geojson",
					"kml",
				]),
			)
			.option(
				"--chunk-features <n>",
				"most stores per upload request (default 2000, at most 10000)",
				positiveInt,
			)
			.option(
				"--chunk-bytes <n>",
				"most bytes per upload request (default and most: the service's 16 MiB)",
				positiveInt,
			);

	const fences = program.command("fences").description("store geofences: validate, import, export");
	chunkOptions(
		fences
			.command("validate")
			.argument("<file>", "a .csv, .geojson/.json or .kml file")
			.description(
				"check every store of a file with the service's validator; lists each bad line, sends nothing",
			),
	).action((file: string, opts: { format?: StoreFormat; chunkFeatures?: number; chunkBytes?: number }) =>
		validateCommand(context, file, opts),
	);
	chunkOptions(
		fences
			.command("import")
			.argument("<file>", "a .csv, .geojson/.json or .kml file")
			.description("check the whole file, then upload it in chunks as one all-or-nothing import")
			.option("--resume", "continue this file's interrupted import (chunks already sent are skipped)")
			.option("--json", "print the result as JSON"),
	).action(async (file: string, opts: Parameters<typeof importCommand>[2]) => {
		await importCommand(context, file, opts);
	});
	fences
		.command("export")
		.description("write every store as GeoJSON or CSV (the CSV fences import reads)")
		.addOption(
			new Option("--format <format>", "output format (default: from --output, else geojson)").choices([
				"geojson",
				"csv",
			]),
		)
		.option("-o, --output <file>", "write to this file instead of stdout")
		.option("--page-size <n>", "stores per request (1 to 1000)", positiveInt)
		.action(async (opts: { format?: string; output?: string; pageSize?: number }) => {
			await exportCommand(context, opts);
		});

	const campaigns = program.command("campaigns").description("campaigns: apply a file, list, stats");
	campaigns
		.command("apply")
		.argument(
			"<file>",
			"a .json, .yaml or .yml file: one campaign, a list, or {campaigns: [...]}, each with its id",
		)
		.description(
			"make the listed campaigns what the file says: prints the difference, then creates or patches",
		)
		.option("--dry-run", "print the difference only")
		.action(async (file: string, opts: { dryRun?: boolean }) => {
			await applyCommand(context, file, opts);
		});
	campaigns
		.command("list")
		.description("the tenant's campaigns")
		.option("--json", "as JSON")
		.action((opts: { json?: boolean }) => listCommand(context, opts));
	campaigns
		.command("stats")
		.argument("<id>", "campaign id")
		.description("the campaign's funnel, a row per variant, holdout and total")
		.option("--json", "as JSON")
		.action((id: string, opts: { json?: boolean }) => statsCommand(context, id, opts));

	program
		.command("tenants")
		.description("tenants (admin token)")
		.command("create")
		.description("create a tenant; its secret key and webhook secret are saved in a profile, never printed")
		.requiredOption("--name <name>", "the tenant's name")
		.option("--timezone <tz>", "IANA time zone, e.g. Europe/Paris")
		.option("--save-profile <profile>", "profile to save the keys in (default: from the name)")
		.action((opts: { name: string; timezone?: string; saveProfile?: string }) =>
			createTenantCommand(context, opts),
		);
	const users = program.command("users").description("people");
	users
		.command("import")
		.argument("<file>", "a CSV: userId, then one column per attribute (null removes a key, empty leaves it)")
		.description("set CRM attributes for many people (1,000 a call); the whole file is checked first")
		.option("--dry-run", "check the file and say what would be sent")
		.action((file: string, opts: { dryRun?: boolean }) => usersImportCommand(context, file, opts));
	users
		.command("token")
		.argument("<userId>", "the person's id")
		.description("mint a user token ut_... for that person's app (printed alone on stdout)")
		.option("--ttl <seconds>", "validity, 60 to 604800 (default 86400)", positiveInt)
		.action((userId: string, opts: { ttl?: number }) => userTokenCommand(context, userId, opts));
	program
		.command("vapid")
		.description("Web Push VAPID keys")
		.command("generate")
		.description("generate a VAPID key pair; prints the public key, writes both to a 0600 file")
		.option("--out <file>", "file for VAPID_PUBLIC_KEY= and VAPID_PRIVATE_KEY= lines", "vapid.env")
		.option("--force", "replace the file if it exists")
		.action((opts: { out: string; force?: boolean }) => vapidCommand(context, opts));
	program
		.command("replay")
		.argument("<file>", "a .gpx or .geojson trace (or the demo trace format of npm run replay)")
		.description("play a trace as one person's pings and print the events and offers of each as they happen")
		.option("--user <id>", "the person (default: the trace's userId, else replay-walker)")
		.option(
			"--speed <n>",
			"trace seconds per real second (default: up to 60, kept under 50 m/s)",
			positiveNumber,
		)
		.option("--accuracy <m>", "accuracy sent with each ping, in metres", positiveNumber, 10)
		.option("--interval <s>", "seconds between points that have no time", positiveNumber, 5)
		.action((file: string, opts: { user?: string; speed?: number; accuracy: number; interval: number }) =>
			replayCommand(context, file, opts),
		);

	program
		.command("events")
		.description("the tenant's events")
		.command("tail")
		.description("print events as they happen, like tail -f (GET /v1/events polled with its cursor)")
		.option("--since <when>", "start from 10m, 2h, 7d ago, an ISO 8601 time or epoch ms (default: now)")
		.option("--types <types>", "comma-separated types or families, e.g. geofence.entered,offer.*")
		.option("--no-follow", "print what there is and stop")
		.option("--interval <seconds>", "seconds between polls", positiveNumber, 2)
		.option("-n, --count <n>", "stop after this many events", positiveInt)
		.option("--json", "one JSON event a line (NDJSON)")
		.action(
			async (opts: {
				since?: string;
				types?: string;
				follow: boolean;
				interval: number;
				count?: number;
				json?: boolean;
			}) => {
				await tailCommand(context, opts);
			},
		);
	const webhooks = program.command("webhooks").description("signed webhooks out");
	webhooks
		.command("add")
		.argument("<url>", "https endpoint (http://127.0.0.1 or localhost only in local development)")
		.description("create a webhook; its signing secret goes to a 0600 file, never to the terminal")
		.option("--events <types>", "comma-separated types or families (default: all)")
		.option("--description <text>", "what it is for")
		.option("--secret-file <file>", "where to write the signing secret (default webhook-<id>.secret)")
		.action(async (url: string, opts: { events?: string; description?: string; secretFile?: string }) => {
			await addWebhookCommand(context, url, opts);
		});
	webhooks
		.command("list")
		.description("the tenant's webhooks")
		.option("--json", "as JSON")
		.action((opts: { json?: boolean }) => listWebhooksCommand(context, opts));
	webhooks
		.command("deliveries")
		.argument("<id>", "webhook id")
		.description("pending events and recent delivery attempts, newest first")
		.option("--limit <n>", "how many (1 to 1000)", positiveInt)
		.option("--json", "as JSON")
		.action((id: string, opts: { limit?: number; json?: boolean }) => deliveriesCommand(context, id, opts));
	webhooks
		.command("replay")
		.argument("<id>", "webhook id")
		.requiredOption("--since <when>", "10m, 2h, 7d ago, an ISO 8601 time or epoch ms")
		.description("deliver the webhook's events since then again")
		.action((id: string, opts: { since: string }) => replayWebhookCommand(context, id, opts.since));
	webhooks
		.command("remove")
		.argument("<id>", "webhook id")
		.description("delete a webhook (what waits for it is dropped)")
		.action((id: string) => removeWebhookCommand(context, id));

	const config = program.command("config").description("profiles in ~/.config/edge-offers/config.json");
	config
		.command("set")
		.description(
			"create or change a profile (the key is read from EDGE_OFFERS_KEY or stdin, never from a flag)",
		)
		.option("--url <url>", "service URL")
		.option("--key-from-env", "store EDGE_OFFERS_KEY as the profile's key")
		.option("--key-stdin", "read the key from the first line of stdin")
		.option("--admin-token-from-env", "store EDGE_OFFERS_ADMIN_TOKEN as the profile's admin token")
		.action(
			async (opts: {
				url?: string;
				keyFromEnv?: boolean;
				keyStdin?: boolean;
				adminTokenFromEnv?: boolean;
			}) => {
				const name = program.opts().profile || context.env.EDGE_OFFERS_PROFILE || "default";
				const file = readConfig(context.env);
				const profile = { ...file.profiles[name] };
				if (opts.url) profile.url = new URL(opts.url).toString().replace(/\/+$/, "");
				if (opts.keyFromEnv) {
					if (!context.env.EDGE_OFFERS_KEY) throw new CliError("EDGE_OFFERS_KEY is not set");
					profile.key = context.env.EDGE_OFFERS_KEY;
				}
				if (opts.keyStdin) {
					const line = (await readStdin()).split(/\r?\n/)[0]?.trim();
					if (!line) throw new CliError("no key on stdin");
					profile.key = line;
				}
				if (opts.adminTokenFromEnv) {
					if (!context.env.EDGE_OFFERS_ADMIN_TOKEN) throw new CliError("EDGE_OFFERS_ADMIN_TOKEN is not set");
					profile.adminToken = context.env.EDGE_OFFERS_ADMIN_TOKEN;
				}
				file.profiles[name] = profile;
				const written = writeConfig(file, context.env);
				context.out(
					`profile "${name}" saved in ${written} (mode 600): url ${profile.url ?? "(none)"}, key ${maskKey(profile.key)}`,
				);
			},
		);
	config
		.command("show")
		.description("where the URL and key come from for this run (keys are never shown)")
		.action(() => {
			const c = context.config();
			context.out(`config file: ${configFile(context.env)}`);
			context.out(`profile:     ${c.profile}`);
			context.out(`url:         ${c.url}`);
			context.out(`key:         ${maskKey(c.key)}${c.keySource ? ` from ${c.keySource}` : ""}`);
			context.out(`admin token: ${maskKey(c.adminToken)}${c.adminSource ? ` from ${c.adminSource}` : ""}`);
		});
	return program;
}

async function readStdin(): Promise<string> {
	const parts: Buffer[] = [];
	for await (const part of process.stdin) parts.push(part as Buffer);
	return Buffer.concat(parts).toString("utf8");
}

/** Runs the command line; resolves to the exit code. */
export async function main(argv: string[], ctx?: Ctx): Promise<number> {
	const program = buildProgram(ctx);
	try {
		await program.parseAsync(argv);
		return 0;
	} catch (error) {
		if (error instanceof CommanderError) return error.exitCode;
		if (error instanceof CliError) {
			process.stderr.write(`✘ ${error.message}\n`);
			return error.exitCode;
		}
		process.stderr.write(
			`✘ unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
		);
		return 1;
	}
}
