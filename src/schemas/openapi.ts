/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate requests,
 * so the document cannot drift from what the service accepts.
 */
import { z } from "zod";
import { AudienceConditionDoc } from "../audience/condition.js";
import { PROBLEM_TITLES } from "../errors.js";

/**
 * How a route authenticates: `app` is a user token for the person, or the publishable key where
 * the tenant allows it; `offerReporter` the publishable key or a user token; `webhook` an
 * X-Signature over the raw body.
 */
export type Auth = "none" | "admin" | "secret" | "publishable" | "app" | "offerReporter" | "webhook";

/**
 * Routes not yet declared with their handlers (worker/api.ts `endpoint`): their documentation
 * is kept here until their route file is converted, then the entry is deleted.
 */
export interface Operation {
	method: "get" | "put" | "post" | "patch" | "delete";
	path: string;
	summary: string;
	auth: Auth;
	operationId?: string;
	request?: z.ZodType;
	/** A body the route accepts (test/worker/openapi.test.ts parses it with `request`). */
	example?: unknown;
	response?: { status: number; schema?: z.ZodType; description: string; contentType?: string };
}

/** RFC 9457 problem document (worker/http.ts `problem`). */
export const ProblemSchema = z
	.object({
		type: z.string().meta({ example: "urn:edge-offers:problem:validation_failed" }),
		title: z.string().meta({ example: "Unprocessable Content" }),
		status: z.number().int().meta({ example: 422 }),
		code: z.string().meta({ description: "stable machine code", example: "validation_failed" }),
		detail: z.string().meta({ example: "The request does not match the schema." }),
		errors: z
			.array(
				z
					.object({
						path: z.array(z.union([z.string(), z.number()])),
						message: z.string(),
						code: z.string().optional(),
					})
					.catchall(z.unknown()),
			)
			.optional()
			.meta({ description: "per-field problems (validation)" }),
	})
	.meta({ description: "RFC 9457 problem; `code` is stable, `type` is urn:edge-offers:problem:<code>" });

export { PROBLEM_TITLES };

/** The content of every problem answer: a reference to the Problem component. */
export function problemContent(): Record<string, unknown> {
	return { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } };
}

const OPERATIONS: Operation[] = [];

/** The operations still documented here (for the examples test). */
export function undeclaredOperations(): readonly Operation[] {
	return OPERATIONS;
}

/** The audience grammar as a component (recursive: its own references point at the component). */
function audienceCondition(): unknown {
	const doc = JSON.stringify(schema(AudienceConditionDoc, "input")).replaceAll(
		'"#/$defs/AudienceCondition"',
		'"#/components/schemas/AudienceCondition"',
	);
	const parsed = JSON.parse(doc) as { $defs?: Record<string, unknown> };
	return parsed.$defs?.AudienceCondition;
}

export const SECURITY: Record<Auth, { [k: string]: string[] }[]> = {
	none: [],
	admin: [{ adminToken: [] }],
	secret: [{ secretKey: [] }, { consoleSession: [] }],
	publishable: [{ publishableKey: [] }],
	app: [{ userToken: [] }, { publishableKey: [] }],
	offerReporter: [{ publishableKey: [] }, { userToken: [] }],
	webhook: [{ webhookSignature: [] }],
};

function schema(s: z.ZodType, io: "input" | "output"): unknown {
	return z.toJSONSchema(s, { io, unrepresentable: "any", target: "draft-2020-12" });
}

/** The document's top level besides paths and components. */
export const DOCUMENT_INFO = {
	info: {
		title: "Edge offers",
		version: "1.2.0",
		license: { name: "MIT", identifier: "MIT" },
		description:
			"Location-aware offers on Cloudflare Workers. Every error is an RFC 9457 problem document (application/problem+json) with a stable `code`. Browser apps: the app routes (profile PUT, devices, pings, offer events, VAPID key, /sdk/) answer CORS for the tenant's allowedOrigins setting; a cross-origin request from another origin is refused with 403 origin_not_allowed (docs/web-sdk.md). A readable reference of this document is served at /docs.",
	},
	servers: [{ url: "/", description: "this deployment" }],
};

/** What chanfana's registry (zod-to-openapi's OpenAPIRegistry) offers that this module uses. */
export interface DocRegistry {
	registerPath(route: Record<string, unknown>): void;
	registerComponent(
		type: "schemas" | "securitySchemes",
		name: string,
		component: Record<string, unknown>,
	): unknown;
}

/** Shared components: the problem document, the audience grammar, the security schemes. */
export function registerComponents(registry: DocRegistry): void {
	registry.registerComponent(
		"schemas",
		"Problem",
		schema(ProblemSchema, "output") as Record<string, unknown>,
	);
	registry.registerComponent("schemas", "AudienceCondition", audienceCondition() as Record<string, unknown>);
	const schemes: Record<string, Record<string, unknown>> = {
		adminToken: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN secret" },
		secretKey: { type: "http", scheme: "bearer", description: "tenant secret key sk_..." },
		consoleSession: {
			type: "http",
			scheme: "bearer",
			description: "console session token cs_..., accepted wherever the secret key is",
		},
		publishableKey: { type: "http", scheme: "bearer", description: "tenant publishable key pk_..." },
		userToken: {
			type: "http",
			scheme: "bearer",
			bearerFormat: "ut_ + JWT",
			description: "user token ut_..., minted with the secret key for one person",
		},
		webhookSignature: {
			type: "apiKey",
			in: "header",
			name: "X-Signature",
			description: "t=<unix>,v1=<hex HMAC-SHA256 of `<t>.<raw body>`> with the tenant's webhook secret",
		},
	};
	for (const [name, scheme] of Object.entries(schemes))
		registry.registerComponent("securitySchemes", name, scheme);
}

function operationId(op: Operation): string {
	if (op.operationId) return op.operationId;
	const words = op.path
		.split("/")
		.filter((w) => w && w !== "v1")
		.map((w) => (w.startsWith("{") ? `by-${w.slice(1, -1)}` : w))
		.join("-")
		.split(/[-_.]/)
		.filter(Boolean);
	return [op.method, ...words].map((w, i) => (i === 0 ? w : w[0]?.toUpperCase() + w.slice(1))).join("");
}

/** Registers the operations of routes not yet declared with `endpoint` (see {@link Operation}). */
export function registerUndeclared(registry: DocRegistry): void {
	for (const op of OPERATIONS) {
		const names = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
		const responses: Record<string, unknown> = {};
		if (op.response) {
			responses[String(op.response.status)] = {
				description: op.response.description,
				...(op.response.schema
					? { content: { [op.response.contentType ?? "application/json"]: { schema: op.response.schema } } }
					: {}),
			};
		}
		const problems = new Set<number>(op.auth === "none" ? [] : [401]);
		if (op.request) for (const s of [400, 413, 422]) problems.add(s);
		if (names.length > 0) problems.add(404);
		for (const s of [...problems].sort((a, b) => a - b))
			responses[String(s)] = { description: PROBLEM_TITLES[s] ?? "Error", content: problemContent() };
		responses.default = { description: "Unexpected error", content: problemContent() };
		registry.registerPath({
			method: op.method,
			path: op.path,
			operationId: operationId(op),
			summary: op.summary,
			tags: [op.path.split("/")[op.path.startsWith("/v1/") ? 2 : 1]?.replace(/\.\w+$/, "") ?? "meta"],
			security: SECURITY[op.auth],
			...(names.length > 0
				? { request: { params: z.object(Object.fromEntries(names.map((n) => [n, z.string()]))) } }
				: {}),
			...(op.request
				? {
						request: {
							...(names.length > 0
								? { params: z.object(Object.fromEntries(names.map((n) => [n, z.string()]))) }
								: {}),
							body: {
								required: true,
								content: {
									"application/json": {
										schema: op.request,
										...(op.example !== undefined ? { example: op.example } : {}),
									},
								},
							},
						},
					}
				: {}),
			responses,
		});
	}
}
