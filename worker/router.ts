import { type IRequest, Router, type RouterType } from "itty-router";
import { toProblem } from "./http.js";

export type Args = [Env, ExecutionContext];
export type AppRouter = RouterType<IRequest, Args>;

/** A router whose uncaught errors all become problem documents. */
export function createRouter(): AppRouter {
	return Router<IRequest, Args>({ catch: toProblem });
}
