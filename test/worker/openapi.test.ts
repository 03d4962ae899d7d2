/**
 * Routes that describe themselves (worker/api.ts): the served document comes from the same specs
 * that validate requests, and says what a client needs (operation ids, typed answers, problem
 * answers, examples that the route accepts, declared parameters).
 */
import { describe, expect, it } from "vitest";
import { undeclaredOperations } from "../../src/schemas/openapi";
import { SPECS } from "../../worker/api";
import "../../worker/app";
import { call, callOk, expectProblem } from "./helpers";

interface Operation {
	operationId?: string;
	security?: unknown[];
	parameters?: { name: string; in: string; schema?: unknown; required?: boolean }[];
	requestBody?: { content: Record<string, { schema?: unknown; example?: unknown }> };
	responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
type Doc = {
	paths: Record<string, Record<string, Operation>>;
	components: { schemas: Record<string, unknown> };
};

describe("declared routes", () => {
	it("every request body example is accepted by the route's own schema", () => {
		const withBody = SPECS.filter((s) => s.body);
		expect(withBody.length).toBeGreaterThan(0);
		for (const spec of withBody) {
			const r = spec.body?.schema.safeParse(spec.body.example);
			expect(r?.success, `${spec.operationId}: ${JSON.stringify(r?.error?.issues)}`).toBe(true);
		}
	});

	it("every example of a route not yet declared with endpoint is accepted by its schema", () => {
		for (const op of undeclaredOperations()) {
			if (!op.request) continue;
			expect(op.example, `${op.method} ${op.path}`).toBeDefined();
			const r = op.request?.safeParse(op.example);
			expect(r?.success, `${op.method} ${op.path}: ${JSON.stringify(r?.error?.issues)}`).toBe(true);
		}
	});

	it("operation ids are unique", () => {
		const ids = SPECS.map((s) => s.operationId);
		expect(new Set(ids).size).toBe(ids.length);
	});
});

describe("GET /openapi.json", () => {
	it("lists every declared route with its id, parameters, example, typed answer and problem answers", async () => {
		const doc = await callOk<Doc>("GET", "/openapi.json");
		const ops = Object.values(doc.paths).flatMap((p) => Object.values(p));
		const byId = new Map(ops.map((o) => [o.operationId, o]));
		expect(ops.every((o) => typeof o.operationId === "string")).toBe(true);
		for (const spec of SPECS) {
			const op = byId.get(spec.operationId);
			expect(op, spec.operationId).toBeDefined();
			if (!op) continue;
			const names = (op.parameters ?? []).map((p) => `${p.in}:${p.name}`);
			for (const k of Object.keys(spec.params?.shape ?? {}))
				expect(names, spec.operationId).toContain(`path:${k}`);
			for (const k of Object.keys(spec.query?.shape ?? {}))
				expect(names, spec.operationId).toContain(`query:${k}`);
			for (const k of Object.keys(spec.headers?.shape ?? {}))
				expect(names, spec.operationId).toContain(`header:${k}`);
			if (spec.body)
				expect(op.requestBody?.content["application/json"]?.example, spec.operationId).toEqual(
					spec.body.example,
				);
			for (const [status, r] of Object.entries(spec.responses))
				if (r.schema) expect(op.responses[status]?.content, `${spec.operationId} ${status}`).toBeDefined();
			const problems = Object.entries(op.responses).filter(([s]) => s === "default" || s >= "400");
			expect(problems.length, spec.operationId).toBeGreaterThan(0);
			for (const [, r] of problems)
				expect(r.content?.["application/problem+json"]?.schema).toEqual({
					$ref: "#/components/schemas/Problem",
				});
			if (spec.auth !== "none") expect(op.security?.length, spec.operationId).toBeGreaterThan(0);
		}
		expect(doc.components.schemas.Problem).toBeDefined();
	});

	it("is the same document on every call", async () => {
		const a = await callOk<Doc>("GET", "/openapi.json");
		const b = await callOk<Doc>("GET", "/openapi.json");
		expect(b).toEqual(a);
	});
});

describe("GET /docs", () => {
	it("serves the reference page, unauthenticated, with its script and styles from this origin only", async () => {
		const page = await call("GET", "/docs");
		expect(page.status).toBe(200);
		expect(page.headers.get("content-type")).toMatch(/^text\/html/);
		expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
		expect(page.headers.get("content-security-policy")).toContain("connect-src 'self'");
		const html = await page.text();
		expect(html).toContain('src="/docs/reference.js"');
		expect(html).toContain('href="/openapi.json"');
		const js = await call("GET", "/docs/reference.js");
		expect(js.status).toBe(200);
		expect(js.headers.get("content-type")).toMatch(/javascript/);
		// The renderer reads the served document and inserts its text as text only.
		const source = await js.text();
		expect(source).toContain('fetch("/openapi.json"');
		expect(source).not.toContain("innerHTML");
		expect((await call("GET", "/docs/reference.css")).status).toBe(200);
		await expectProblem(await call("GET", "/docs/other.js"), 404, "not_found");
	});
});
