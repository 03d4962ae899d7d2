/**
 * `users import FILE.csv`: CRM attributes for many people (`POST /v1/users/attributes`, 1,000 a
 * call). The whole file is read and checked first (src/audience/csv.ts: a `userId` column, then
 * one column per attribute; numbers, `true`/`false`, `null` removes a key, an empty cell leaves
 * it); any bad line is named with its line number and nothing is sent.
 */
import { readFileSync } from "node:fs";
import { attributeBatches, parseAttributesCsv } from "../../src/audience/csv.js";
import { CliError } from "../api.js";
import type { Ctx } from "../context.js";
import { Progress } from "../progress.js";

export interface UsersImportOptions {
	dryRun?: boolean;
}

/** `users import FILE.csv` */
export async function usersImportCommand(ctx: Ctx, file: string, opts: UsersImportOptions): Promise<void> {
	let text: string;
	try {
		text = readFileSync(file, "utf8");
	} catch (error) {
		throw new CliError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
	}
	const parsed = parseAttributesCsv(text);
	if (!parsed.ok) {
		for (const e of parsed.errors)
			ctx.err(`${file}:${e.line}: ${e.column ? `${e.column}: ` : ""}${e.message}`);
		throw new CliError(`${parsed.errors.length} problem(s) in ${file}; nothing was sent`);
	}
	const batches = attributeBatches(parsed.people);
	if (opts.dryRun) {
		ctx.out(`${parsed.people.length} people in ${batches.length} call(s); nothing sent (--dry-run)`);
		return;
	}
	const progress = new Progress("users", parsed.people.length, "people", ctx.stderr, ctx.quiet);
	let done = 0;
	let updated = 0;
	let skipped = 0;
	for (const body of batches) {
		const answer = await ctx
			.client()
			.send<{ updated: number; skippedErased?: number }>("POST", "/v1/users/attributes", body);
		updated += answer.updated;
		skipped += answer.skippedErased ?? 0;
		done += body.users.length;
		progress.update(done);
	}
	progress.done();
	ctx.out(`updated ${updated}${skipped > 0 ? `, skipped ${skipped} erased` : ""}`);
}
