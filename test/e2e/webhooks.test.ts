/**
 * Outgoing webhooks end to end, through the public HTTP API only: a real `wrangler dev`
 * (workerd, D1, Durable Objects, alarms) delivers people's events to a local HTTP receiver on
 * 127.0.0.1 (allowed because the dev server runs with LOCAL_DEV=true). Measures the time
 * from a ping that enters a store to the webhook received, checks signatures and order per
 * person, a 500 retried, and a 410 disabling the endpoint. No fixed sleeps: every wait polls
 * against a deadline.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { EventSchema } from "../../src/events/types.js";
import { verifySignature } from "../../src/webhook/signature.js";
import { useE2eService } from "./harness.js";

const { tenant, userToken, expectCall } = useE2eService({ name: "webhooks" });

const STORE = { lat: 43.6045, lng: 1.4442 };
/** 400 m north: outside the store's 60 m circle by far. */
const AWAY = { lat: STORE.lat + 400 / 111_320, lng: STORE.lng };

interface Hit {
	path: string;
	at: number;
	status: number;
	headers: Record<string, string>;
	body: string;
}

/** A local webhook receiver: records every request, answers each path's scripted statuses in turn, then 200. */
function startReceiver(): Promise<{
	server: Server;
	origin: string;
	hits: Hit[];
	script: Map<string, number[]>;
}> {
	const hits: Hit[] = [];
	const script = new Map<string, number[]>();
	const server = createServer((req, res) => {
		const at = performance.now();
		const chunks: Buffer[] = [];
		req.on("data", (c: Buffer) => chunks.push(c));
		req.on("end", () => {
			const path = req.url ?? "";
			const status = script.get(path)?.shift() ?? 200;
			const headers: Record<string, string> = {};
			for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
			hits.push({ path, at, status, headers, body: Buffer.concat(chunks).toString("utf8") });
			res.writeHead(status, { "content-type": "text/plain" }).end("ok");
		});
	});
	return new Promise((resolve) =>
		server.listen(0, "127.0.0.1", () => {
			const { port } = server.address() as AddressInfo;
			resolve({ server, origin: `http://127.0.0.1:${port}`, hits, script });
		}),
	);
}

let receiver: Awaited<ReturnType<typeof startReceiver>>;

async function until<T>(what: string, probe: () => Promise<T | null> | T | null, ms = 10_000): Promise<T> {
	const deadline = Date.now() + ms;
	for (;;) {
		const v = await probe();
		if (v !== null) return v;
		if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 5));
	}
}

const CreatedSchema = z.object({ id: z.string(), secret: z.string().startsWith("whsec_") });

async function createHook(path: string, events: string[]): Promise<z.infer<typeof CreatedSchema>> {
	return CreatedSchema.parse(
		await expectCall(201, "POST", "/v1/webhooks", tenant().secretKey, {
			url: receiver.origin + path,
			events,
		}),
	);
}

/** A person with location consent, and a clock for believable pings. */
async function person(userId: string) {
	const ut = await userToken(userId);
	await expectCall(200, "PUT", `/v1/users/${userId}`, ut, { consent: { location: true, push: false } });
	let t = Date.now() - 20 * 60_000;
	return {
		/** One ping 60 s after the previous one; resolves when the service answered. */
		async ping(p: { lat: number; lng: number }): Promise<void> {
			t += 60_000;
			await expectCall(200, "POST", "/v1/pings", ut, {
				userId,
				pings: [{ lat: p.lat, lng: p.lng, accuracy: 5, timestamp: t }],
			});
		},
	};
}

function typesOf(hits: Hit[]): string[] {
	return hits.map((h) => EventSchema.parse(JSON.parse(h.body)).type);
}

beforeAll(async () => {
	receiver = await startReceiver();
	await expectCall(200, "PUT", "/v1/geofences", tenant().secretKey, {
		type: "FeatureCollection",
		features: [
			{
				type: "Feature",
				geometry: { type: "Point", coordinates: [STORE.lng, STORE.lat] },
				properties: { id: "toulouse-capitole", name: "Toulouse Capitole", radius: 60 },
			},
		],
	});
});

afterAll(async () => {
	await new Promise((r) => receiver?.server.close(r));
});

describe("webhooks delivered by the dev server", () => {
	it("an enter reaches a healthy endpoint within 1 s, signed", async () => {
		const hook = await createHook("/fast", ["geofence.entered"]);
		const latencies: number[] = [];
		/** How long the ping request itself took (the events are stored and handed to the outbox before it answers). */
		const answered: number[] = [];
		for (let i = 0; i < 10; i++) {
			const userId = `fast-${i}`;
			const p = await person(userId);
			const before = receiver.hits.filter((h) => h.path === "/fast").length;
			const t0 = performance.now();
			await p.ping(STORE);
			answered.push(performance.now() - t0);
			const hit = await until(
				"the enter",
				() => receiver.hits.filter((h) => h.path === "/fast")[before] ?? null,
				5000,
			);
			latencies.push(hit.at - t0);
			const event = EventSchema.parse(JSON.parse(hit.body));
			expect(event).toMatchObject({
				type: "geofence.entered",
				userId,
				data: { geofenceId: "toulouse-capitole" },
			});
			expect(hit.headers["x-event-id"]).toBe(event.id);
			const verdict = await verifySignature(
				hit.headers["x-signature"] ?? null,
				new TextEncoder().encode(hit.body),
				[hook.secret],
				Date.now(),
			);
			expect(verdict.ok).toBe(true);
		}
		const sorted = [...latencies].sort((a, b) => a - b);
		console.log(
			`ping to webhook received (ms, ${sorted.length} enters): ${sorted.map((x) => x.toFixed(1)).join(", ")}; median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)}, max ${sorted.at(-1)?.toFixed(1)}`,
		);
		console.log(`ping answered in (ms): ${answered.map((x) => x.toFixed(1)).join(", ")}`);
		for (const ms of latencies) expect(ms).toBeLessThan(1000);
	});

	it("keeps each person's order: interleaved visits arrive in the order they happened", async () => {
		await createHook("/order", ["geofence.entered", "geofence.exited"]);
		const a = await person("order-a");
		const b = await person("order-b");
		for (let round = 0; round < 3; round++) {
			await Promise.all([a.ping(STORE), b.ping(STORE)]);
			await Promise.all([a.ping(AWAY), b.ping(AWAY)]);
		}
		const hits = await until("12 events", () => {
			const h = receiver.hits.filter((x) => x.path === "/order");
			return h.length >= 12 ? h : null;
		});
		for (const userId of ["order-a", "order-b"]) {
			const mine = hits.filter((h) => JSON.parse(h.body).userId === userId);
			expect(typesOf(mine)).toEqual([
				"geofence.entered",
				"geofence.exited",
				"geofence.entered",
				"geofence.exited",
				"geofence.entered",
				"geofence.exited",
			]);
			// The ids increase in delivery order: the order the person's object wrote them.
			const ids = mine.map((h) => h.headers["x-event-id"] ?? "");
			expect([...ids].sort()).toEqual(ids);
		}
	});

	it("retries a 500, then delivers the same event, the person's next event after it", async () => {
		receiver.script.set("/flaky", [500]);
		const hook = await createHook("/flaky", ["geofence.entered", "geofence.exited"]);
		const p = await person("flaky-1");
		await p.ping(STORE);
		await p.ping(AWAY);
		const hits = await until("three attempts", () => {
			const h = receiver.hits.filter((x) => x.path === "/flaky");
			return h.length >= 3 ? h : null;
		});
		expect(hits.map((h) => [EventSchema.parse(JSON.parse(h.body)).type, h.status])).toEqual([
			["geofence.entered", 500],
			["geofence.entered", 200],
			["geofence.exited", 200],
		]);
		expect(hits[0]?.headers["x-event-id"]).toBe(hits[1]?.headers["x-event-id"]);
		const retryDelay = (hits[1]?.at ?? 0) - (hits[0]?.at ?? 0);
		console.log(`first retry after a 500: ${retryDelay.toFixed(0)} ms (backoff 1-2 s with jitter)`);
		expect(retryDelay).toBeGreaterThanOrEqual(900);
		const log = z
			.object({
				deliveries: z.array(
					z.object({ outcome: z.string(), status: z.number().nullable(), attempt: z.number() }),
				),
			})
			.parse(await expectCall(200, "GET", `/v1/webhooks/${hook.id}/deliveries`, tenant().secretKey));
		expect(log.deliveries.map((d) => [d.outcome, d.status, d.attempt])).toEqual(
			expect.arrayContaining([
				["retrying", 500, 1],
				["delivered", 200, 2],
			]),
		);
	});

	it("a 410 disables the webhook and nothing more is sent to it", async () => {
		receiver.script.set("/gone", [410]);
		const hook = await createHook("/gone", ["geofence.entered", "geofence.exited"]);
		const p = await person("gone-1");
		await p.ping(STORE);
		const view = await until("disabled", async () => {
			const w = z
				.object({ status: z.string() })
				.parse(await expectCall(200, "GET", `/v1/webhooks/${hook.id}`, tenant().secretKey));
			return w.status === "disabled" ? w : null;
		});
		expect(view.status).toBe("disabled");
		// The exit is stored (the export has it) yet never reaches the disabled endpoint.
		await p.ping(AWAY);
		await until("the exit stored", async () => {
			const page = z
				.object({ events: z.array(EventSchema) })
				.parse(await expectCall(200, "GET", "/v1/events?types=geofence.exited", tenant().secretKey));
			return page.events.some((e) => e.userId === "gone-1") ? true : null;
		});
		expect(receiver.hits.filter((h) => h.path === "/gone").length).toBe(1);
	});
});
