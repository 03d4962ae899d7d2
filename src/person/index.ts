/**
 * The person core: one person's state and the pure transitions of it (src/person/step.ts), run
 * by the thin Durable Object shell in worker/shopper.ts.
 */
export * from "./audience.js";
export * from "./delivery.js";
export * from "./state.js";
export * from "./step.js";
export * from "./view.js";
