/**
 * The local dev server (scripts/lib/devserver.mjs, used by `npm start`, these suites and the
 * benchmarks) keeps its secrets off every command line: the process list is readable by
 * every local user. They live in a private `.dev.vars` file, generated once and never
 * overwritten, and wrangler gets them through a private per-run `--env-file`.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, loadDevSecrets, startDevServer } from "../../scripts/lib/devserver.mjs";

interface Proc {
	pid: number;
	pgid: number;
	args: string;
}

/** Every process whose command line this user may read (`ps -eo args`, from /proc). */
async function processes(): Promise<Proc[]> {
	const out: Proc[] = [];
	for (const entry of await readdir("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const args = (await readFile(`/proc/${entry}/cmdline`, "utf8")).replaceAll("\0", " ").trim();
			// Field 5 of stat is the process group; the command name (field 2) may hold spaces.
			const statLine = await readFile(`/proc/${entry}/stat`, "utf8");
			const pgid = Number(statLine.slice(statLine.lastIndexOf(")") + 2).split(" ")[2]);
			out.push({ pid: Number(entry), pgid, args });
		} catch {
			// Gone meanwhile, or not ours to read.
		}
	}
	return out;
}

async function modeOf(file: string): Promise<number> {
	return (await stat(file)).mode & 0o777;
}

const dirs: string[] = [];
async function tempDir(name: string): Promise<string> {
	const dir = await mkdtemp(path.join(tmpdir(), `edge-offers-e2e-devserver-${name}-`));
	dirs.push(dir);
	return dir;
}

afterAll(async () => {
	for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe("dev server secrets", () => {
	let server: DevServer | undefined;
	let persistDir = "";
	const serverLog: string[] = [];

	beforeAll(async () => {
		persistDir = await tempDir("run");
		server = await startDevServer({
			port: 0,
			persistDir,
			log: (line) => {
				serverLog.push(line);
				if (serverLog.length > 200) serverLog.shift();
			},
		});
	}, 180_000);

	afterAll(async () => {
		await server?.stop();
	});

	it("no secret is on the command line of wrangler, workerd or any other process", async () => {
		if (!server) throw new Error("dev server is not running");
		const secrets = await loadDevSecrets(persistDir);
		const values = {
			KEY_PEPPER: secrets.keyPepper,
			VAPID_PRIVATE_KEY: secrets.vapidPrivateKey,
			ADMIN_TOKEN: server.adminToken,
		};
		for (const value of Object.values(values)) expect(value.length).toBeGreaterThanOrEqual(32);

		const all = await processes();
		// wrangler is the one naming this server's own state directory; workerd runs in its group.
		const wrangler = all.filter((p) => p.args.includes(persistDir) && /wrangler/.test(p.args));
		expect(wrangler.length, "wrangler dev is found in the process list").toBeGreaterThan(0);
		const groups = new Set(wrangler.map((p) => p.pgid));
		const server_ = all.filter((p) => groups.has(p.pgid));
		expect(
			server_.some((p) => /\bworkerd\b/.test(p.args)),
			`workerd is found in wrangler's process group: ${server_.map((p) => p.args).join("\n")}`,
		).toBe(true);

		for (const p of all) {
			for (const [name, value] of Object.entries(values)) {
				expect(p.args.includes(value), `${name} appears on the command line of pid ${p.pid}`).toBe(false);
			}
		}
		for (const p of server_) expect(p.args, "wrangler gets its variables from a file").not.toMatch(/--var\b/);
	});

	it("the Worker runs with those secrets, from private files", async () => {
		if (!server) throw new Error("dev server is not running");
		const secrets = await loadDevSecrets(persistDir);
		expect(secrets.file).toBe(path.join(persistDir, ".dev.vars"));
		expect(await modeOf(secrets.file)).toBe(0o600);
		const runFiles = (await readdir(persistDir)).filter((f) => f.startsWith(".dev.vars.run-"));
		expect(runFiles).toHaveLength(1);
		expect(await modeOf(path.join(persistDir, runFiles[0] ?? ""))).toBe(0o600);

		const vapid = await fetch(`${server.origin}/v1/push/vapid-public-key`);
		expect(await vapid.json()).toEqual({ publicKey: secrets.vapidPublicKey });
		const tenant = await fetch(`${server.origin}/v1/tenants`, {
			method: "POST",
			headers: { authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" },
			body: JSON.stringify({ name: "e2e devserver" }),
		});
		expect(tenant.status, await tenant.clone().text()).toBe(201);
		expect(secrets.adminToken, "the token is the file's unless ADMIN_TOKEN is set").toBe(
			process.env.ADMIN_TOKEN || server.adminToken,
		);
	});

	it("stopping removes the per-run file and leaves the secrets", async () => {
		await server?.stop();
		const left = await readdir(persistDir);
		expect(left.filter((f) => f.startsWith(".dev.vars.run-"))).toEqual([]);
		expect(left).toContain(".dev.vars");
	});
});

describe("the .dev.vars file", () => {
	it("is created once, private, and given back unchanged", async () => {
		const dir = await tempDir("create");
		const first = await loadDevSecrets(dir);
		expect(first.file).toBe(path.join(dir, ".dev.vars"));
		expect(await modeOf(first.file)).toBe(0o600);
		const text = await readFile(first.file, "utf8");
		for (const name of ["KEY_PEPPER", "VAPID_PUBLIC_KEY", "VAPID_PRIVATE_KEY", "ADMIN_TOKEN"]) {
			expect(text).toMatch(new RegExp(`^${name}=`, "m"));
		}
		const again = await loadDevSecrets(dir);
		expect(again).toEqual(first);
		expect(await readFile(first.file, "utf8")).toBe(text);
	});

	it("keeps the user's values, adds only what is missing, and takes the keys of an earlier dev-secrets.json", async () => {
		const dir = await tempDir("merge");
		const legacy = {
			vapidPublicKey: "BLegacyPublic",
			vapidPrivateKey: "legacy-private",
			keyPepper: "legacy-pepper",
		};
		await writeFile(path.join(dir, "dev-secrets.json"), JSON.stringify(legacy));
		const mine = "# my own settings\nKEY_PEPPER='my pepper $HOME'\nFCM_SERVICE_ACCOUNT=\"{}\"";
		await writeFile(path.join(dir, ".dev.vars"), mine, { mode: 0o600 });

		const secrets = await loadDevSecrets(dir);
		expect(secrets.keyPepper).toBe("my pepper $HOME");
		expect(secrets.vapidPublicKey).toBe(legacy.vapidPublicKey);
		expect(secrets.vapidPrivateKey).toBe(legacy.vapidPrivateKey);
		expect(secrets.adminToken).toMatch(/^[\w-]{43}$/);
		expect(secrets.values.FCM_SERVICE_ACCOUNT).toBe("{}");
		const text = await readFile(secrets.file, "utf8");
		expect(text.startsWith(`${mine}\n`), "the user's lines are left as they were").toBe(true);
		expect(text.match(/^KEY_PEPPER=/gm)).toHaveLength(1);
	});

	it("is the repository's own for the default state directory", async () => {
		const cwd = await tempDir("cwd");
		const state = path.join(cwd, ".wrangler", "state");
		await mkdir(state, { recursive: true });
		expect((await loadDevSecrets(state, cwd)).file).toBe(path.join(cwd, ".dev.vars"));
		expect((await loadDevSecrets(path.join(cwd, "elsewhere"), cwd)).file).toBe(
			path.join(cwd, "elsewhere", ".dev.vars"),
		);
	});
});
