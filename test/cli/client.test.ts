/**
 * The command's HTTP behaviour against a scripted stand-in for the API on 127.0.0.1 (the real
 * service is exercised in test/e2e/cli.test.ts): the single-request fallback for services
 * without the staged import API, --resume after a failure, Retry-After waits, one-line errors
 * that never show the key.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeCtx } from "../../cli/context.js";
import { main } from "../../cli/main.js";

interface Seen {
	method: string;
	url: string;
	body: string;
}
type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

let server: Server;
let origin = "";
let handler: Handler = (_req, _body, res) => res.writeHead(500).end();
const seen: Seen[] = [];
const dirs: string[] = [];

beforeAll(async () => {
	server = createServer((req, res) => {
		let body = "";
		req.on("data", (d) => {
			body += d;
		});
		req.on("end", () => {
			seen.push({ method: req.method ?? "", url: req.url ?? "", body });
			handler(req, body, res);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
afterEach(() => {
	seen.length = 0;
	for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
	res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));

/** Runs the command line in-process with its output captured. */
async function run(args: string[], key = "sk_test_secret_value") {
	const dir = mkdtempSync(path.join(tmpdir(), "edge-offers-cli-client-"));
	dirs.push(dir);
	const out: string[] = [];
	const err: string[] = [];
	const ctx = makeCtx(() => ({}), {
		EDGE_OFFERS_URL: origin,
		EDGE_OFFERS_KEY: key,
		EDGE_OFFERS_CONFIG_DIR: dir,
	});
	Object.assign(ctx, {
		out: (l: string) => out.push(l),
		err: (l: string) => err.push(l),
		stderr: { isTTY: false, write: (t: string) => err.push(t.trimEnd()) },
	});
	const writes: string[] = [];
	const realWrite = process.stderr.write.bind(process.stderr);
	// main() reports failures on process.stderr.
	process.stderr.write = ((chunk: string) => writes.push(String(chunk)) > 0) as typeof process.stderr.write;
	try {
		const code = await main(["node", "edge-offers", ...args], ctx);
		return { code, out: out.join("\n"), err: [...err, ...writes].join("\n"), dir };
	} finally {
		process.stderr.write = realWrite;
	}
}

function storesFile(n: number): string {
	const dir = mkdtempSync(path.join(tmpdir(), "edge-offers-cli-stores-"));
	dirs.push(dir);
	const file = path.join(dir, "stores.csv");
	const rows = ["id,lat,lng,radius", ...Array.from({ length: n }, (_, i) => `s${i},48.85,2.35,100`)];
	writeFileSync(file, `${rows.join("\n")}\n`);
	return file;
}

describe("fences import against a service without the staged import API", () => {
	it("sends a file that fits in one request with PUT /v1/geofences", async () => {
		handler = (req, _body, res) => {
			if (req.method === "PUT" && req.url === "/v1/geofences")
				return json(res, 200, { created: 3, updated: 0, unchanged: 0, upserted: 3, version: 7 });
			json(res, 404, { title: "Not Found" });
		};
		const result = await run(["fences", "import", storesFile(3)]);
		expect(result.out).toBe("created 3, updated 0, unchanged 0 (geofence version 7)");
		expect(result.code).toBe(0);
		const put = seen.find((s) => s.method === "PUT");
		expect(JSON.parse(put?.body ?? "{}").features).toHaveLength(3);
		expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
			"POST /v1/geofences/imports",
			"PUT /v1/geofences",
		]);
	});

	it("refuses a file that needs several requests, sending none", async () => {
		handler = (_req, _body, res) => json(res, 404, { title: "Not Found" });
		const result = await run(["fences", "import", storesFile(3), "--chunk-features", "2"]);
		expect(result.code).toBe(1);
		expect(result.err).toMatch(/no staged import API \(404\) and this file needs 2 requests/);
		expect(seen.filter((s) => s.method === "PUT")).toEqual([]);
	});
});

describe("fences import --resume", () => {
	it("after a failed chunk, sends only the chunks the service lacks, then commits", async () => {
		const file = storesFile(6);
		const chunks = new Map<number, number>();
		let failChunk2 = true;
		handler = (req, body, res) => {
			const url = req.url ?? "";
			if (req.method === "POST" && url === "/v1/geofences/imports")
				return json(res, 201, {
					id: "imp_abcdefghijklmnop",
					expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
				});
			const chunk = /\/chunks\/(\d+)$/.exec(url);
			if (req.method === "PUT" && chunk) {
				const n = Number(chunk[1]);
				if (n === 2 && failChunk2) return json(res, 500, { title: "boom", detail: "storage failed" });
				const features = JSON.parse(body).features.length;
				chunks.set(n, features);
				return json(res, 200, { chunk: n, features });
			}
			if (req.method === "GET" && url === "/v1/geofences/imports/imp_abcdefghijklmnop")
				return json(res, 200, {
					id: "imp_abcdefghijklmnop",
					status: "open",
					chunks: [...chunks].map(([n, features]) => ({ n, features })),
				});
			if (req.method === "POST" && url.endsWith("/commit"))
				return json(res, 200, { created: 6, updated: 0, unchanged: 0, upserted: 6, version: 2 });
			json(res, 404, {});
		};
		const first = await run(["fences", "import", file, "--chunk-features", "2"]);
		expect(first.code).toBe(1);
		expect(first.err).toMatch(/stays open for 24 h; run the same command with --resume/);
		expect(seen.some((s) => s.url.endsWith("/commit"))).toBe(false);

		// The same config directory: the state file remembers the import.
		failChunk2 = false;
		seen.length = 0;
		const dir = first.dir;
		const out: string[] = [];
		const ctx = makeCtx(() => ({}), {
			EDGE_OFFERS_URL: origin,
			EDGE_OFFERS_KEY: "sk_test_secret_value",
			EDGE_OFFERS_CONFIG_DIR: dir,
		});
		Object.assign(ctx, {
			out: (l: string) => out.push(l),
			err: () => undefined,
			stderr: { isTTY: false, write: () => true },
		});
		const code = await main(
			["node", "edge-offers", "fences", "import", file, "--chunk-features", "2", "--resume"],
			ctx,
		);
		expect(code).toBe(0);
		expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
			"GET /v1/geofences/imports/imp_abcdefghijklmnop",
			"PUT /v1/geofences/imports/imp_abcdefghijklmnop/chunks/2",
			"POST /v1/geofences/imports/imp_abcdefghijklmnop/commit",
		]);
		expect(out).toEqual(["created 6, updated 0, unchanged 0 (geofence version 2)"]);
	});
});

describe("errors and waits", () => {
	it("waits as Retry-After says on a 429, then goes on", async () => {
		let calls = 0;
		handler = (_req, _body, res) => {
			calls++;
			if (calls === 1) return json(res, 429, { title: "Too Many Requests" }, { "retry-after": "1" });
			json(res, 200, { campaigns: [] });
		};
		const started = Date.now();
		const result = await run(["campaigns", "list"]);
		expect(result.out).toBe("no campaigns");
		expect(Date.now() - started).toBeGreaterThanOrEqual(950);
		expect(result.err).toContain("rate limited (429): waiting 1 s as the service asks (Retry-After)");
	});

	it("says a refused key was refused, where it came from, and never shows it", async () => {
		handler = (_req, _body, res) => json(res, 401, { title: "Unauthorized", detail: "bad key" });
		const result = await run(["campaigns", "list"], "sk_live_do_not_print");
		expect(result.code).toBe(1);
		expect(result.err).toMatch(/answered 401: the key was refused .* check EDGE_OFFERS_KEY/);
		expect(result.err + result.out).not.toContain("sk_live_do_not_print");
	});
});

describe("users import", () => {
	function csvFile(text: string): string {
		const dir = mkdtempSync(path.join(tmpdir(), "edge-offers-cli-users-"));
		dirs.push(dir);
		const file = path.join(dir, "crm.csv");
		writeFileSync(file, text);
		return file;
	}

	it("names every bad line and sends nothing", async () => {
		handler = (_req, _body, res) => json(res, 200, { updated: 0 });
		const file = csvFile("userId,tier,age\nu1,gold,34\nbad id,silver,1\nu2,gold\nu1,silver,2\n");
		const r = await run(["users", "import", file]);
		expect(r.code).not.toBe(0);
		expect(r.err).toContain(`${file}:3: userId:`);
		expect(r.err).toContain(`${file}:4: 2 cells, the header has 3`);
		expect(r.err).toContain(`${file}:5: userId: the same person as line 2`);
		expect(r.err).toContain("nothing was sent");
		expect(seen).toEqual([]);
	});

	it("sends the people 1,000 a call with typed values and says how many were updated", async () => {
		handler = (_req, body, res) => {
			const users = (JSON.parse(body) as { users: unknown[] }).users;
			json(res, 200, { updated: users.length });
		};
		const rows = Array.from(
			{ length: 2500 },
			(_, i) => `u${i},${i % 2 ? "gold" : "silver"},${i},${i === 0 ? "null" : ""}`,
		);
		const file = csvFile(`userId,tier,age,store\n${rows.join("\n")}\n`);
		const r = await run(["users", "import", file]);
		expect(r.code).toBe(0);
		expect(r.out).toBe("updated 2500");
		expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(Array(3).fill("POST /v1/users/attributes"));
		const first = JSON.parse(seen[0]?.body ?? "{}") as { users: { userId: string; attributes: unknown }[] };
		expect(first.users).toHaveLength(1000);
		expect(first.users[0]).toEqual({ userId: "u0", attributes: { tier: "silver", age: 0, store: null } });
		expect(first.users[1]).toEqual({ userId: "u1", attributes: { tier: "gold", age: 1 } });
		expect(r.err).not.toContain("sk_test_secret_value");
	});
});
