import { fromIttyRouter } from "chanfana";
import { type IRequest, Router, type RouterType } from "itty-router";
import { DOCUMENT_INFO, registerComponents } from "../src/schemas/openapi.js";
import { toProblem } from "./http.js";

export type Args = [Env, ExecutionContext];
export type AppRouter = RouterType<IRequest, Args>;

/** A router whose uncaught errors all become problem documents. */
export function createRouter(): AppRouter {
	return Router<IRequest, Args>({ catch: toProblem });
}

/**
 * The same router, seen by chanfana: a route registered on it with an `endpoint(...)` class
 * (worker/api.ts) is routed by the underlying router AND becomes an operation of the OpenAPI
 * document (`api.schema`). Routes that are not API operations (static files, the console) are
 * registered on `api.original`, so they stay out of the document. chanfana serves no pages of its
 * own (its UIs load from a CDN): /openapi.json and /docs are ours (worker/routes/meta.ts).
 * `passthroughErrors`: every error reaches the router's `catch` (one problem format).
 */
export function apiRouter(router: AppRouter) {
	const api = fromIttyRouter(router, {
		docs_url: null,
		redoc_url: null,
		openapi_url: null,
		passthroughErrors: true,
		generateOperationIds: false,
		raiseUnknownParameters: false,
		schema: DOCUMENT_INFO,
	});
	registerComponents(api.registry);
	return api;
}

export type ApiRouter = ReturnType<typeof apiRouter>;
