/**
 * Routes that describe themselves. Each route is declared once with {@link endpoint}: the zod
 * schemas of its path parameters, query, headers and body, and its answers. The same spec
 * validates the request (through {@link Ctx}) and becomes the route's operation in the OpenAPI
 * 3.1 document, which chanfana generates from every route registered on the {@link ApiRouter}
 * (served at /openapi.json, rendered at /docs).
 *
 * chanfana's own request validation (`getValidatedData`) is not used: it reads the body with
 * `request.json()` (no size limit before parsing) and answers its own error format. Instead
 * {@link Ctx} reads the body with the service's bounded readers (worker/http.ts: size, depth,
 * UTF-8 checked before parsing) and validates with the declared schema, so every refusal is
 * the service's problem document (400/413/415/422). Errors pass through chanfana
 * (`passthroughErrors`) to the router's `catch`, the one place errors become problems.
 */
import { OpenAPIRoute } from "chanfana";
import type { IRequest } from "itty-router";
import type { z } from "zod";
import { type Auth, PROBLEM_TITLES, problemContent, SECURITY } from "../src/schemas/openapi.js";
import { type JsonLimits, parse, readJson } from "./http.js";

export type { Auth };

/** A JSON request body: its schema, the byte limit read before parsing, and a valid example. */
export interface BodySpec<S extends z.ZodType = z.ZodType> {
	schema: S;
	/** Refused with 413 `body_too_large` past this many bytes, before anything is parsed. */
	maxBytes: number;
	/** A body the route accepts (a test parses every example with its schema). */
	example: z.input<S>;
	/** What an empty body means (every field optional); without it an empty body is malformed JSON. */
	emptyAs?: unknown;
	limits?: Omit<JsonLimits, "emptyAs">;
	description?: string;
	/** Documented only: the route reads the raw body itself (signed bodies). */
	raw?: boolean;
}

/** One answer of the route. `schema` absent: no body (204, 302) or not JSON. */
export interface ResponseSpec {
	description: string;
	schema?: z.ZodType;
	/** Content type of the body; application/json by default. */
	contentType?: string;
	/** Other representations of the same answer (e.g. NDJSON of the events). */
	alternatives?: Record<string, z.ZodType>;
	headers?: Record<string, { description: string; schema: { type: "string" | "integer" } }>;
}

/** Everything the document says about one route, and everything its validation uses. */
export interface Spec {
	operationId: string;
	summary: string;
	description?: string;
	tags: string[];
	auth: Auth;
	params?: z.ZodObject;
	query?: z.ZodObject;
	/** Request headers besides Authorization (which the security scheme declares). */
	headers?: z.ZodObject;
	body?: BodySpec;
	/** Success answers by status. */
	responses: Record<number, ResponseSpec>;
	/** Problem (application/problem+json) answers by status, besides those every route may give. */
	problems: number[];
}

type Out<S> = S extends z.ZodType ? z.output<S> : Record<string, never>;

/** What a handler gets: the request, bindings, and lazy validators (called after authentication, in the route's order). */
export interface Ctx<S extends Spec> {
	req: IRequest;
	env: Env;
	exec: ExecutionContext;
	/** The path parameters, validated (422 `validation_failed` with each bad parameter's path). */
	params(): Out<S["params"]>;
	/** The query, validated; a repeated parameter is read once (its first value). */
	query(): Out<S["query"]>;
	/** Declared request headers, validated. */
	headers(): Out<S["headers"]>;
	/** The body read within its byte limit, parsed, then validated. */
	body(): Promise<S["body"] extends { schema: infer B extends z.ZodType } ? z.output<B> : never>;
}

export type Handler<S extends Spec> = (c: Ctx<S>) => Response | Promise<Response>;

/** Every declared spec, in registration order (the examples test walks them). */
export const SPECS: Spec[] = [];

function pick(shape: z.ZodObject, get: (k: string) => string | null | undefined): Record<string, unknown> {
	const raw: Record<string, unknown> = {};
	for (const k of Object.keys(shape.shape)) {
		const v = get(k);
		if (v !== null && v !== undefined) raw[k] = v;
	}
	return raw;
}

function context<S extends Spec>(spec: S, req: IRequest, env: Env, exec: ExecutionContext): Ctx<S> {
	return {
		req,
		env,
		exec,
		params: () =>
			(spec.params
				? parse(
						spec.params,
						pick(spec.params, (k) => req.params[k]),
					)
				: {}) as never,
		query: () => {
			if (!spec.query) return {} as never;
			const url = new URL(req.url);
			return parse(
				spec.query,
				pick(spec.query, (k) => url.searchParams.get(k)),
			) as never;
		},
		headers: () =>
			(spec.headers
				? parse(
						spec.headers,
						pick(spec.headers, (k) => req.headers.get(k)),
					)
				: {}) as never,
		body: async () => {
			const b = spec.body;
			if (!b) throw new Error(`${spec.operationId} declares no body`);
			return parse(
				b.schema,
				await readJson(req, b.maxBytes, {
					...b.limits,
					...(b.emptyAs !== undefined ? { emptyAs: b.emptyAs } : {}),
				}),
			) as never;
		},
	};
}

/** Statuses any route with this authentication may answer, besides its own. */
function authProblems(auth: Auth): number[] {
	if (auth === "none") return [];
	if (auth === "webhook") return [401];
	// 403: a key of another kind, or an origin the tenant does not allow.
	return [401, 403];
}

/** The chanfana schema of a spec (zod-to-openapi's RouteConfig without method and path). */
function toSchema(spec: Spec): Record<string, unknown> {
	const responses: Record<string, unknown> = {};
	for (const [status, r] of Object.entries(spec.responses)) {
		const content: Record<string, unknown> = {};
		if (r.schema) content[r.contentType ?? "application/json"] = { schema: r.schema };
		for (const [type, schema] of Object.entries(r.alternatives ?? {})) content[type] = { schema };
		responses[status] = {
			description: r.description,
			...(r.headers ? { headers: r.headers } : {}),
			...(Object.keys(content).length > 0 ? { content } : {}),
		};
	}
	const bodyProblems = spec.body ? (spec.body.raw ? [400, 413, 422] : [400, 413, 415, 422]) : [];
	const validates = spec.params || spec.query || spec.headers ? [422] : [];
	const statuses = new Set([...authProblems(spec.auth), ...bodyProblems, ...validates, ...spec.problems]);
	for (const status of [...statuses].sort((a, b) => a - b))
		responses[String(status)] = { description: PROBLEM_TITLES[status] ?? "Error", content: problemContent() };
	responses.default = { description: "Unexpected error", content: problemContent() };
	return {
		operationId: spec.operationId,
		summary: spec.summary,
		...(spec.description ? { description: spec.description } : {}),
		tags: spec.tags,
		security: SECURITY[spec.auth],
		request: {
			...(spec.params ? { params: spec.params } : {}),
			...(spec.query ? { query: spec.query } : {}),
			...(spec.headers ? { headers: spec.headers } : {}),
			...(spec.body
				? {
						body: {
							required: spec.body.emptyAs === undefined,
							...(spec.body.description ? { description: spec.body.description } : {}),
							content: { "application/json": { schema: spec.body.schema, example: spec.body.example } },
						},
					}
				: {}),
		},
		responses,
	};
}

/**
 * Declares a route: returns the chanfana endpoint class to register on the {@link ApiRouter}
 * (`api.post("/v1/x/:id", endpoint(spec, handler))`).
 */
export function endpoint<S extends Spec>(
	spec: S,
	handle: Handler<S>,
): typeof OpenAPIRoute<[IRequest, Env, ExecutionContext]> {
	SPECS.push(spec);
	const schema = toSchema(spec);
	class Endpoint extends OpenAPIRoute<[IRequest, Env, ExecutionContext]> {
		override schema = schema;
		override async handle(req: IRequest, env: Env, exec: ExecutionContext): Promise<Response> {
			return handle(context(spec, req, env, exec));
		}
	}
	Object.defineProperty(Endpoint, "name", { value: spec.operationId });
	return Endpoint;
}
