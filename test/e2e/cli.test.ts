/**
 * The `edge-offers` command line, run for real (`npx edge-offers`, the package.json bin) as a
 * subprocess against the real dev server: a file with bad lines is refused whole with each line
 * named, a good one imports in several chunks, and importing it again changes nothing.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useE2eService } from "./harness.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const service = useE2eService({ name: "cli" });

interface Run {
	code: number | null;
	stdout: string;
	stderr: string;
}

let dir = "";

/** Runs `npx edge-offers ...args` with the tenant's key in the environment (never on the command line). */
async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
	const run = await new Promise<Run>((resolve, reject) => {
		const child = spawn("npx", ["edge-offers", ...args], {
			cwd: ROOT,
			env: {
				...process.env,
				PATH: `${path.join(ROOT, "node_modules", ".bin")}${path.delimiter}${process.env.PATH ?? ""}`,
				EDGE_OFFERS_URL: service.api().origin,
				EDGE_OFFERS_KEY: service.tenant().secretKey,
				EDGE_OFFERS_CONFIG_DIR: path.join(dir, "config"),
				...env,
			},
			stdio: ["ignore", "pipe", "pipe"],
		});
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (d) => {
			stdout += d;
		});
		child.stderr.on("data", (d) => {
			stderr += d;
		});
		child.on("error", reject);
		child.on("close", (code) => resolve({ code, stdout, stderr }));
	});
	// Whatever happens, the key is never printed.
	expect(run.stdout + run.stderr).not.toContain(service.tenant().secretKey);
	return run;
}

/** How many fences the tenant has (paging the list API). */
async function countFences(): Promise<number> {
	let n = 0;
	let cursor: string | null = null;
	do {
		const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
		const page = (await service.expectCall(
			200,
			"GET",
			`/v1/geofences?limit=1000${query}`,
			service.tenant().secretKey,
		)) as {
			features: unknown[];
			nextCursor: string | null;
		};
		n += page.features.length;
		cursor = page.nextCursor;
	} while (cursor);
	return n;
}

/** A CSV of `n` stores around Paris, deterministic. */
function storesCsv(n: number): string {
	const rows = ["id,name,lat,lng,radius,tags"];
	for (let i = 0; i < n; i++) {
		const lat = 48.8 + ((i * 37) % 1000) / 5000;
		const lng = 2.25 + ((i * 91) % 1000) / 4000;
		rows.push(
			`e2e-${String(i).padStart(5, "0")},Store ${i},${lat.toFixed(5)},${lng.toFixed(5)},${60 + (i % 5) * 20},grocery|beer`,
		);
	}
	return `${rows.join("\n")}\n`;
}

beforeAll(async () => {
	dir = await mkdtemp(path.join(tmpdir(), "edge-offers-e2e-cli-files-"));
});

afterAll(async () => {
	if (dir) await rm(dir, { recursive: true, force: true });
});

describe("edge-offers fences import", () => {
	it("refuses a CSV with bad lines, naming each line, and uploads nothing", async () => {
		const file = path.join(dir, "bad.csv");
		const good = storesCsv(50).trimEnd().split("\n");
		// Lines 12 and 30 of the file go bad: a radius under the minimum, a latitude that is not a number.
		good[11] = "e2e-bad-1,Too small,48.85,2.35,5,grocery";
		good[29] = "e2e-bad-2,No latitude,north,2.35,100,grocery";
		await writeFile(file, `${good.join("\n")}\n`);
		const run = await cli(["fences", "import", file]);
		expect(run.code).not.toBe(0);
		expect(run.stderr).toContain(`${file}:12: radius:`);
		expect(run.stderr).toContain(`${file}:30: lat: lat "north" is not a number`);
		expect(run.stderr).toMatch(/2 problem\(s\) on 2 line\(s\); nothing was uploaded/);
		expect(run.stdout).toBe("");
		expect(await countFences()).toBe(0);
	});

	it("imports a 2,000-store CSV in chunks, then the same file again is unchanged", async () => {
		const file = path.join(dir, "stores.csv");
		await writeFile(file, storesCsv(2000));
		const first = await cli(["fences", "import", file, "--chunk-features", "500"]);
		expect(first.stderr).toContain("4 chunk(s)");
		expect(first.stderr).toContain("uploading: 2000/2000 stores (100%) chunk 4/4");
		expect(first.stdout.trim()).toMatch(/^created 2000, updated 0, unchanged 0 \(geofence version \d+\)$/);
		expect(first.code).toBe(0);
		expect(await countFences()).toBe(2000);

		const again = await cli(["fences", "import", file, "--chunk-features", "500"]);
		expect(again.stdout.trim()).toMatch(/^created 0, updated 0, unchanged 2000 /);
		expect(again.code).toBe(0);
		// Nothing left to resume once committed.
		expect(JSON.parse(await readFile(path.join(dir, "config", "imports.json"), "utf8"))).toEqual({
			imports: [],
		});
	});

	it("imports KML and GeoJSON, and a GeoJSON export imports back unchanged", async () => {
		const kml = await cli(["fences", "import", "geofences/sample-stores.kml"]);
		expect(kml.stdout).toMatch(/^created 3, updated 0, unchanged 0 /);
		const exported = path.join(dir, "export.geojson");
		const exp = await cli(["fences", "export", "-o", exported]);
		expect(exp.code).toBe(0);
		const collection = JSON.parse(await readFile(exported, "utf8")) as { features: unknown[] };
		expect(collection.features).toHaveLength(2003);
		const back = await cli(["fences", "import", exported]);
		expect(back.stdout).toMatch(/^created 0, updated 0, unchanged 2003 /);
	});

	it("says what to do with a wrong key or an unreachable service, in one line", async () => {
		const file = "geofences/sample-stores.kml";
		const wrong = await cli(["fences", "import", file], { EDGE_OFFERS_KEY: "sk_wrong" });
		expect(wrong.code).toBe(1);
		expect(wrong.stderr).toMatch(/answered 401: the key was refused .* check EDGE_OFFERS_KEY/);
		expect(wrong.stderr).not.toContain("sk_wrong");
		const down = await cli(["fences", "import", file], { EDGE_OFFERS_URL: "http://127.0.0.1:9" });
		expect(down.code).toBe(1);
		expect(down.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9 .*check --url \/ EDGE_OFFERS_URL/);
	});
});

describe("edge-offers campaigns, events and webhooks", () => {
	const campaign = (priority: number) => `campaigns:
  - id: e2e-cli-beer
    name: Cold beer nearby
    priority: ${priority}
    trigger: {type: geofence, on: enter, tags: [beer]}
    variants:
      - {id: a, weight: 1, title: "Beer is -20%", body: "At {{ geofence.name }}"}
`;

	it("campaigns apply creates, then is idempotent, and --dry-run changes nothing", async () => {
		const file = path.join(dir, "campaigns.yaml");
		await writeFile(file, campaign(10));
		const first = await cli(["campaigns", "apply", file]);
		expect(first.stdout).toContain("+ create e2e-cli-beer");
		expect(first.stdout).toContain("1 created, 0 updated, 0 unchanged");
		const again = await cli(["campaigns", "apply", file]);
		expect(again.stdout).toContain("= unchanged e2e-cli-beer");
		expect(again.stdout).toContain("0 created, 0 updated, 1 unchanged");
		await writeFile(file, campaign(20));
		const dry = await cli(["campaigns", "apply", file, "--dry-run"]);
		expect(dry.stdout).toContain("    priority: 10 → 20");
		expect(dry.stdout).toContain("(dry run: nothing was changed)");
		const stored = (await service.expectCall(
			200,
			"GET",
			"/v1/campaigns/e2e-cli-beer",
			service.tenant().secretKey,
		)) as {
			priority: number;
		};
		expect(stored.priority).toBe(10);
		const list = await cli(["campaigns", "list"]);
		expect(list.stdout).toMatch(/e2e-cli-beer\s+Cold beer nearby\s+active\s+10/);
		const stats = await cli(["campaigns", "stats", "e2e-cli-beer"]);
		expect(stats.code).toBe(0);
		expect(stats.stdout).toMatch(/^variant a\s/m);
	});

	it("events tail prints an enter, and a webhook added by the command receives it", async () => {
		const received: { eventId: string | undefined; body: string }[] = [];
		const receiver: Server = createServer((req, res) => {
			let body = "";
			req.on("data", (d) => {
				body += d;
			});
			req.on("end", () => {
				received.push({ eventId: req.headers["x-event-id"] as string | undefined, body });
				res.writeHead(200).end();
			});
		});
		await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
		try {
			const port = (receiver.address() as { port: number }).port;
			const secretFile = path.join(dir, "hook.secret");
			const added = await cli([
				"webhooks",
				"add",
				`http://127.0.0.1:${port}/hook`,
				"--events",
				"geofence.*",
				"--secret-file",
				secretFile,
			]);
			expect(added.code).toBe(0);
			const id = /webhook (\S+) →/.exec(added.stdout)?.[1] ?? "";
			expect((await readFile(secretFile, "utf8")).trim()).toMatch(/^whsec_/);
			expect(added.stdout).not.toMatch(/whsec_[A-Za-z0-9]/);
			expect((await cli(["webhooks", "list"])).stdout).toContain(`http://127.0.0.1:${port}/hook`);

			// A person walks into e2e-00000 (48.8, 2.25; imported above).
			const token = await service.userToken("cli-walker");
			await service.expectCall(200, "PUT", "/v1/users/cli-walker", token, {
				consent: { location: true, push: true },
			});
			await service.expectCall(200, "POST", "/v1/pings", token, {
				userId: "cli-walker",
				pings: [{ lat: 48.8, lng: 2.25, accuracy: 10, timestamp: Date.now() }],
			});
			// Follows until the event is there (the first poll may come before it is stored).
			const tail = await cli([
				"events",
				"tail",
				"--since",
				"10m",
				"--types",
				"geofence.*",
				"-n",
				"1",
				"--interval",
				"1",
			]);
			expect(tail.stdout).toMatch(/geofence\.entered\s+cli-walker\s+geofenceId=e2e-00000/);

			const deadline = Date.now() + 30_000;
			while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
			expect(received[0]?.body).toContain('"geofence.entered"');
			const deliveries = await cli(["webhooks", "deliveries", id]);
			expect(deliveries.stdout).toMatch(/geofence\.entered\s+cli-walker\s+1\s+200\s+delivered/);
		} finally {
			await new Promise((resolve) => receiver.close(resolve));
		}
	});
});
