/**
 * Headless Chromium for the browser tests (shared by every suite in test/browser/): Debian's
 * `chromium` driven by playwright-core. When the binary is missing it is installed with apt-get
 * (as root, as CI runs), so a fresh machine needs no manual step.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium } from "playwright-core";

/** Where Debian's package puts it. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Makes sure Chromium is installed: `apt-get update` then `apt-get install -y chromium` when
 * the binary is missing. Without root (or apt-get) it fails with what to run instead.
 */
export function ensureChromium(log: (line: string) => void = console.log): string {
	if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
	const root = typeof process.getuid === "function" && process.getuid() === 0;
	if (!root || !existsSync("/usr/bin/apt-get"))
		throw new Error(
			`Chromium is missing at ${CHROMIUM_PATH}: install it (sudo apt-get install -y chromium) or set CHROMIUM_PATH`,
		);
	log(`installing chromium with apt-get (missing at ${CHROMIUM_PATH})…`);
	const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
	execFileSync("apt-get", ["update"], { stdio: "inherit", env });
	execFileSync("apt-get", ["install", "-y", "--no-install-recommends", "chromium"], {
		stdio: "inherit",
		env,
	});
	if (!existsSync(CHROMIUM_PATH))
		throw new Error(`apt-get installed chromium but ${CHROMIUM_PATH} is still missing`);
	return CHROMIUM_PATH;
}

/** Launches headless Chromium (installing it first if needed). Close it in `afterAll`. */
export async function launchChromium(): Promise<Browser> {
	return chromium.launch({
		executablePath: ensureChromium(),
		headless: true,
		// Containers run as root, where Chromium's sandbox cannot start.
		args: ["--no-sandbox"],
	});
}

/** A fresh context (own storage, service workers, permissions); close it when done. */
export function newContext(browser: Browser, options: BrowserContextOptions = {}): Promise<BrowserContext> {
	return browser.newContext({ serviceWorkers: "allow", ...options });
}

/** vitest globalSetup (vitest.browser.config.ts): install Chromium once, before any suite starts. */
export function setup(): void {
	ensureChromium();
}
