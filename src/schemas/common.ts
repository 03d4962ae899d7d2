import { z } from "zod";

/** Ids chosen by customers (stores, users, devices, campaigns): URL-safe, bounded. */
export const ExternalId = z
	.string()
	.min(1)
	.max(128)
	.regex(/^[A-Za-z0-9._:@-]+$/, "only A-Z a-z 0-9 . _ : @ - are allowed");

/** An IANA time zone name that this runtime's ICU knows, e.g. "Europe/Paris". */
export const TimeZone = z.string().min(1).max(64).refine(isTimeZone, { message: "not an IANA time zone" });

function isTimeZone(tz: string): boolean {
	try {
		new Intl.DateTimeFormat("en", { timeZone: tz });
		return true;
	} catch {
		return false;
	}
}

/** Earliest and latest instants the API accepts, to keep arithmetic sane. */
const MIN_MS = Date.UTC(2000, 0, 1);
const MAX_MS = Date.UTC(2200, 0, 1);

/** An instant on input: ISO 8601 with an offset, or epoch milliseconds. Parsed to epoch ms. */
export const Instant = z
	.union([z.number().int().min(MIN_MS).max(MAX_MS), z.iso.datetime({ offset: true })])
	.transform((v, ctx) => {
		const ms = typeof v === "number" ? v : Date.parse(v);
		if (!Number.isFinite(ms) || ms < MIN_MS || ms > MAX_MS) {
			ctx.addIssue({ code: "custom", message: "instant out of range" });
			return z.NEVER;
		}
		return ms;
	});

/** "HH:MM", 24-hour clock. */
export const ClockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "expected HH:MM");

/** Free-form JSON object kept alongside an entity, bounded in size. */
export const SmallJsonObject = (maxBytes: number) =>
	z.record(z.string().max(128), z.unknown()).refine((o) => JSON.stringify(o).length <= maxBytes, {
		message: `at most ${maxBytes} bytes as JSON`,
	});

/** `?limit=` on list endpoints. */
export const PageLimit = z
	.string()
	.regex(/^\d{1,4}$/, "expected a whole number")
	.transform(Number)
	.pipe(z.number().int().min(1).max(1000));
