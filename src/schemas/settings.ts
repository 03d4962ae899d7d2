import { z } from "zod";
import { ClockTime, TimeZone } from "./common.js";

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
});
export type Settings = z.infer<typeof SettingsSchema>;

export const SettingsPatchSchema = z.strictObject({
	timezone: TimeZone.optional(),
	maxAccuracyMeters: SettingsSchema.shape.maxAccuracyMeters.optional(),
	caps: SettingsSchema.shape.caps.partial().optional(),
	minIntervalSeconds: SettingsSchema.shape.minIntervalSeconds.optional(),
	quietHours: SettingsSchema.shape.quietHours.optional(),
	purchaseSuppressionDays: SettingsSchema.shape.purchaseSuppressionDays.optional(),
	attributionWindowSeconds: SettingsSchema.shape.attributionWindowSeconds.optional(),
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
	};
}

/** Applies a validated patch; nested `caps` merge field by field. */
export function mergeSettings(current: Settings, patch: SettingsPatch): Settings {
	return SettingsSchema.parse({
		...current,
		...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
		caps: { ...current.caps, ...(patch.caps ?? {}) },
	});
}
