import { DurableObject } from "cloudflare:workers";
import webpush from "web-push";

export class ShopperDO extends DurableObject {}
export class GeoShardDO extends DurableObject {}

export default {
	async fetch(req: Request): Promise<Response> {
		const keys = webpush.generateVAPIDKeys();
		const sub = {
			endpoint: "https://push.example.com/abc",
			keys: {
				p256dh: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
				auth: "tBHItJI5svbpez7KI4CCXg",
			},
		};
		const details = webpush.generateRequestDetails(sub, "hello", {
			vapidDetails: { subject: "mailto:a@b.c", publicKey: keys.publicKey, privateKey: keys.privateKey },
			TTL: 60,
			urgency: "high",
			topic: "abc",
		});
		return Response.json({ url: req.url, headers: details.headers, bodyLen: details.body?.length });
	},
} satisfies ExportedHandler<Env>;
