import { router } from "./app.js";
import { withCors } from "./cors.js";
import { sweepRetention } from "./retention.js";

export { GeoShardDO } from "./geoshard.js";
export { ShopperDO } from "./shopper.js";
export { WebhookOutboxDO } from "./webhooks-outbox.js";

export default {
	fetch: (req, env, ctx) => withCors(req, (r) => router.fetch(r, env, ctx)),
	scheduled: (controller, env, ctx) => ctx.waitUntil(sweepRetention(env, controller.scheduledTime)),
} satisfies ExportedHandler<Env>;
