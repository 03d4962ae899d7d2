import { z } from "zod";
import { AppError } from "../errors.js";
import { ClockTime, TimeZone } from "./common.js";

/** A browser origin (`https://shop.example`, `http://localhost:3000`) or `*`. */
const Origin = z
	.string()
	.max(256)
	.refine((o) => o === "*" || isOrigin(o), { message: "expected an origin like https://shop.example" });

function isOrigin(o: string): boolean {
	try {
		const u = new URL(o);
		return (u.protocol === "https:" || u.protocol === "http:") && u.origin === o;
	} catch {
		return false;
	}
}

/** Tenant settings; every field optional on PUT, merged over what is in force. */
export const SettingsSchema = z.strictObject({
	timezone: TimeZone,
	/** Pings less accurate than this are unusable. Capped so exit hysteresis stays within a shard's buffer. */
	maxAccuracyMeters: z.number().int().min(5).max(1000),
	caps: z.strictObject({
		perDay: z.number().int().min(0).max(100),
		perWeek: z.number().int().min(0).max(500),
	}),
	minIntervalSeconds: z
		.number()
		.int()
		.min(0)
		.max(7 * 86400),
	quietHours: z.strictObject({ start: ClockTime, end: ClockTime }).nullable(),
	purchaseSuppressionDays: z.number().int().min(0).max(365),
	attributionWindowSeconds: z
		.number()
		.int()
		.min(60)
		.max(30 * 86400),
	/**
	 * How apps authenticate: `user_token` (a token minted by the tenant's back end for one
	 * person) or `publishable` (the publishable key alone, for tenants created before tokens).
	 */
	clientAuth: z.enum(["user_token", "publishable"]),
	/** Registering one more device removes the person's least recently seen one. */
	maxDevicesPerUser: z.number().int().min(1).max(100),
	/** Decisions, offers, their events and cart events older than this are deleted daily. */
	retentionDays: z.number().int().min(1).max(3650),
	/** Browser origins allowed by CORS on the app routes; `["*"]` only with user tokens. */
	allowedOrigins: z.array(Origin).max(50),
});
export type Settings = z.infer<typeof SettingsSchema>;

/** `["*"]` lets any page act for a person, so it needs tokens that name the person. */
const wildcardNeedsTokens = (s: { clientAuth?: string; allowedOrigins?: string[] }) =>
	!s.allowedOrigins?.includes("*") || (s.clientAuth === "user_token" && s.allowedOrigins.length === 1);

export const SettingsPatchSchema = z.strictObject({
	timezone: TimeZone.optional(),
	maxAccuracyMeters: SettingsSchema.shape.maxAccuracyMeters.optional(),
	caps: SettingsSchema.shape.caps.partial().optional(),
	minIntervalSeconds: SettingsSchema.shape.minIntervalSeconds.optional(),
	quietHours: SettingsSchema.shape.quietHours.optional(),
	purchaseSuppressionDays: SettingsSchema.shape.purchaseSuppressionDays.optional(),
	attributionWindowSeconds: SettingsSchema.shape.attributionWindowSeconds.optional(),
	clientAuth: SettingsSchema.shape.clientAuth.optional(),
	maxDevicesPerUser: SettingsSchema.shape.maxDevicesPerUser.optional(),
	retentionDays: SettingsSchema.shape.retentionDays.optional(),
	allowedOrigins: SettingsSchema.shape.allowedOrigins.optional(),
});
export type SettingsPatch = z.infer<typeof SettingsPatchSchema>;

/** The defaults from the API contract. */
export function defaultSettings(timezone = "UTC"): Settings {
	return {
		timezone,
		maxAccuracyMeters: 100,
		caps: { perDay: 2, perWeek: 5 },
		minIntervalSeconds: 3600,
		quietHours: { start: "21:00", end: "09:00" },
		purchaseSuppressionDays: 7,
		attributionWindowSeconds: 86400,
		clientAuth: "user_token",
		maxDevicesPerUser: 10,
		retentionDays: 90,
		allowedOrigins: [],
	};
}

/**
 * Settings as stored: tenants created before v1.1 have no `clientAuth` and keep the
 * publishable-key mode they were built against until they switch; the other v1.1 fields
 * take their defaults.
 */
export function storedSettings(raw: unknown): Settings {
	const o = raw !== null && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
	const d = defaultSettings();
	return SettingsSchema.parse({
		clientAuth: "publishable",
		maxDevicesPerUser: d.maxDevicesPerUser,
		retentionDays: d.retentionDays,
		allowedOrigins: d.allowedOrigins,
		...o,
	});
}

/**
 * Applies a validated patch; nested `caps` merge field by field. A result that breaks a
 * rule between fields (`["*"]` origins without user tokens) is an {@link AppError} 422.
 */
export function mergeSettings(current: Settings, patch: SettingsPatch): Settings {
	const next = SettingsSchema.parse({
		...current,
		...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
		caps: { ...current.caps, ...(patch.caps ?? {}) },
	});
	if (!wildcardNeedsTokens(next))
		throw new AppError("validation_failed", 422, 'allowedOrigins ["*"] needs clientAuth "user_token".', [
			{
				path: ["allowedOrigins"],
				message: '["*"] (alone) is allowed only with clientAuth "user_token"',
				code: "wildcard_needs_user_tokens",
			},
		]);
	return next;
}
