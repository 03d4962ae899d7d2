import { withCors } from "./cors.js";
import { problem } from "./http.js";
import { sweepRetention } from "./retention.js";
import { createRouter } from "./router.js";
import { campaignRoutes } from "./routes/campaigns.js";
import { cartRoutes } from "./routes/cart.js";
import { consoleRoutes } from "./routes/console.js";
import { eventRoutes } from "./routes/events.js";
import { geofenceImportRoutes } from "./routes/geofence-imports.js";
import { geofenceRoutes } from "./routes/geofences.js";
import { metaRoutes } from "./routes/meta.js";
import { offerRoutes } from "./routes/offers.js";
import { statsRoutes } from "./routes/stats.js";
import { tenantRoutes } from "./routes/tenants.js";
import { userRoutes } from "./routes/users.js";
import { webhookRoutes } from "./routes/webhooks.js";
import { assetRoutes } from "./static/assets.js";

export { GeoShardDO } from "./geoshard.js";
export { ShopperDO } from "./shopper.js";
export { WebhookOutboxDO } from "./webhooks-outbox.js";

const router = createRouter();
metaRoutes(router);
tenantRoutes(router);
geofenceRoutes(router);
geofenceImportRoutes(router);
campaignRoutes(router);
userRoutes(router);
cartRoutes(router);
offerRoutes(router);
statsRoutes(router);
consoleRoutes(router);
eventRoutes(router);
webhookRoutes(router);
assetRoutes(router);
router.all("*", () => problem(404, "not_found", "No such route."));

export default {
	fetch: (req, env, ctx) => withCors(req, (r) => router.fetch(r, env, ctx)),
	scheduled: (controller, env, ctx) => ctx.waitUntil(sweepRetention(env, controller.scheduledTime)),
} satisfies ExportedHandler<Env>;
