/**
 * The Worker's routes, in matching order: built here (not in index.ts) so that a Node script can
 * import the same router to write its OpenAPI document (scripts/openapi.mjs).
 */
import { registerUndeclared } from "../src/schemas/openapi.js";
import { problem } from "./http.js";
import { apiRouter, createRouter } from "./router.js";
import { campaignRoutes } from "./routes/campaigns.js";
import { cartRoutes } from "./routes/cart.js";
import { consoleRoutes } from "./routes/console.js";
import { eventRoutes } from "./routes/events.js";
import { geofenceImportRoutes } from "./routes/geofence-imports.js";
import { geofenceRoutes } from "./routes/geofences.js";
import { liveRoutes } from "./routes/live.js";
import { metaRoutes } from "./routes/meta.js";
import { offerRoutes } from "./routes/offers.js";
import { statsRoutes } from "./routes/stats.js";
import { tenantRoutes } from "./routes/tenants.js";
import { userRoutes } from "./routes/users.js";
import { webhookRoutes } from "./routes/webhooks.js";
import { assetRoutes } from "./static/assets.js";

export const router = createRouter();
// Routes declared with worker/api.ts `endpoint` are registered on `api` (routed and documented).
export const api = apiRouter(router);
metaRoutes(api);
tenantRoutes(api);
geofenceRoutes(api);
geofenceImportRoutes(api);
campaignRoutes(api);
userRoutes(api);
cartRoutes(api);
offerRoutes(api);
statsRoutes(api);
consoleRoutes(api);
eventRoutes(api);
liveRoutes(api);
webhookRoutes(api);
assetRoutes(api);
// The documentation of routes not yet declared with `endpoint` (src/schemas/openapi.ts).
registerUndeclared(api.registry);
router.all("*", () => problem(404, "not_found", "No such route."));
