// The floor for `npm run bench:e2e`: a minimal Worker -> Durable Object -> Durable Object
// program with the service's shape and none of its work (no auth, no validation, no storage,
// no D1, no matching). The Worker reads the ping body (the same `POST /v1/pings` JSON the
// service gets), calls the person's object, which calls the object of the ping's coarse cell,
// and answers what the service answers for a ping that changes nothing.
import { DurableObject } from "cloudflare:workers";

/** The second hop: answers at once. */
export class CellDO extends DurableObject {
	async locate(lat, lng) {
		return { inside: [], lat, lng };
	}
}

/** The person's object: one call to the cell's object per ping. */
export class PersonDO extends DurableObject {
	async ping(body) {
		const p = body.pings[0];
		// About 11 km cells: a few dozen objects for the benchmark's people, like the shards.
		const cell = `${Math.floor(p.lat * 10)}:${Math.floor(p.lng * 10)}`;
		await this.env.CELL.get(this.env.CELL.idFromName(cell)).locate(p.lat, p.lng);
		return { received: body.pings.length, events: [], offers: [], rejected: [] };
	}
}

export default {
	async fetch(req, env) {
		const url = new URL(req.url);
		if (url.pathname === "/healthz") return new Response("ok");
		if (url.pathname !== "/v1/pings" || req.method !== "POST")
			return new Response("not found", { status: 404 });
		const body = JSON.parse(await req.text());
		const person = env.PERSON.get(env.PERSON.idFromName(String(body.userId)));
		return Response.json(await person.ping(body));
	},
};
