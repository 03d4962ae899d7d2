/** Where the command line takes its URL and key from, and the profile file's protection. */
import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { maskKey, readConfig, resolveConfig, writeConfig } from "../../cli/config.js";

const dirs: string[] = [];
function env(extra: Record<string, string> = {}): Record<string, string> {
	const dir = mkdtempSync(path.join(tmpdir(), "edge-offers-cli-config-"));
	dirs.push(dir);
	return { EDGE_OFFERS_CONFIG_DIR: dir, ...extra };
}
afterEach(() => {
	for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("configuration", () => {
	it("takes flags, then a named profile, then the environment, then the default profile", () => {
		const e = env({ EDGE_OFFERS_URL: "http://env.test", EDGE_OFFERS_KEY: "sk_env" });
		writeConfig(
			{
				profiles: {
					default: { url: "http://default.test", key: "sk_default" },
					prod: { url: "https://prod.test", key: "sk_prod" },
				},
			},
			e,
		);
		expect(resolveConfig({}, e)).toMatchObject({
			url: "http://env.test",
			key: "sk_env",
			keySource: "EDGE_OFFERS_KEY",
		});
		expect(resolveConfig({ profile: "prod" }, e)).toMatchObject({ url: "https://prod.test", key: "sk_prod" });
		expect(resolveConfig({ profile: "prod", key: "sk_flag" }, e)).toMatchObject({
			key: "sk_flag",
			keySource: "--key",
		});
		const bare = { EDGE_OFFERS_CONFIG_DIR: e.EDGE_OFFERS_CONFIG_DIR };
		expect(resolveConfig({}, bare)).toMatchObject({ url: "http://default.test", key: "sk_default" });
		expect(() => resolveConfig({ profile: "missing" }, e)).toThrow(/no profile "missing"/);
		expect(() => resolveConfig({ url: "ftp://x" }, e)).toThrow(/not an http\(s\) URL/);
	});

	it("writes the profile file with mode 600 and refuses one others can read", () => {
		const e = env();
		const file = writeConfig({ profiles: { default: { key: "sk_secret" } } }, e);
		expect(statSync(file).mode & 0o777).toBe(0o600);
		expect(readConfig(e).profiles.default?.key).toBe("sk_secret");
		chmodSync(file, 0o644);
		expect(() => readConfig(e)).toThrow(/readable by others .* chmod 600/);
	});

	it("masks keys", () => {
		expect(maskKey("sk_abcdefghijkl")).toBe("sk_…(15 characters)");
		expect(maskKey("sk_abcdefghijkl")).not.toContain("abc");
		expect(maskKey(undefined)).toBe("(none)");
	});
});
