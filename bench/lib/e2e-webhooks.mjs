// The end-to-end benchmark's webhook receiver: an HTTP server on 127.0.0.1 (port 0) that records
// every delivery, and the matching of deliveries to the pings that caused them. Each enter of the
// rates is a fresh person/fence pair, so a `geofence.entered` (or `offer.sent`) event is matched
// to its ping by the event's `userId` and `data.geofenceId`; latency runs from sending the ping
// to the receiver having the whole request. Every delivery's `X-Signature` is checked with the
// webhook's secret (the service's own verifier, passed in); a bad one is a failure.
import { createServer } from "node:http";
import { summarize } from "./e2e-load.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @returns {Promise<{ origin: string, hits: { at: number, headers: Record<string, string | undefined>, body: Buffer }[], close(): Promise<void> }>} */
export function startWebhookReceiver() {
	const hits = [];
	const server = createServer((req, res) => {
		const chunks = [];
		req.on("data", (c) => chunks.push(c));
		req.on("end", () => {
			hits.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks) });
			res.writeHead(200, { "content-type": "text/plain" }).end("ok");
		});
	});
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const { port } = server.address();
			resolve({
				origin: `http://127.0.0.1:${port}`,
				hits,
				close: () => new Promise((done) => server.close(() => done())),
			});
		});
	});
}

/**
 * Reads the receiver's deliveries as they come: verifies each signature, keeps the first arrival
 * of each event type per person and fence, counts duplicates (same event id again: allowed by
 * at-least-once delivery, reported) and bad signatures or bodies.
 *
 * @param {{ hits: any[] }} receiver
 * @param {string} secret the webhook's secret
 * @param {(header: string | null, body: Uint8Array, secrets: string[], nowMs: number) => Promise<{ ok: boolean, code?: string }>} verify
 */
export function webhookLog(receiver, secret, verify) {
	const first = new Map(); // `${type} ${userId} ${geofenceId}` -> arrival ms
	const ids = new Set();
	const counts = { received: 0, badSignatures: 0, badBodies: 0, duplicates: 0, byType: {} };
	const badSamples = [];
	let read = 0;
	const ingest = async () => {
		for (; read < receiver.hits.length; read++) {
			const hit = receiver.hits[read];
			counts.received++;
			const verdict = await verify(hit.headers["x-signature"] ?? null, hit.body, [secret], hit.at);
			if (!verdict.ok) {
				counts.badSignatures++;
				if (badSamples.length < 3) badSamples.push(verdict.code);
				continue;
			}
			let event;
			try {
				event = JSON.parse(hit.body.toString("utf8"));
			} catch {
				event = null;
			}
			if (
				typeof event?.id !== "string" ||
				typeof event.type !== "string" ||
				event.id !== hit.headers["x-event-id"]
			) {
				counts.badBodies++;
				continue;
			}
			counts.byType[event.type] = (counts.byType[event.type] ?? 0) + 1;
			if (ids.has(event.id)) {
				counts.duplicates++;
				continue;
			}
			ids.add(event.id);
			const key = `${event.type} ${event.userId} ${event.data?.geofenceId}`;
			if (!first.has(key)) first.set(key, hit.at);
		}
	};
	/** Ping-to-webhook of these enter requests for one event type: matched latencies and the rest. */
	const match = (enters, type) => {
		const ms = [];
		for (const r of enters) {
			const at = first.get(`${type} ${r.userId} ${r.fenceId}`);
			if (at !== undefined) ms.push(at - r.sentAt);
		}
		return { ...summarize(ms), matched: ms.length, unmatched: enters.length - ms.length };
	};
	/** Waits (polling, until `deadline`) for the webhooks of these enters, then matches them. */
	const collect = async (enters, types, deadline, signal) => {
		for (;;) {
			await ingest();
			const missing = enters.some((r) => types.some((t) => !first.has(`${t} ${r.userId} ${r.fenceId}`)));
			if (!missing || Date.now() > deadline || signal?.aborted) break;
			await sleep(50);
		}
		return Object.fromEntries(types.map((t) => [t, match(enters, t)]));
	};
	/**
	 * Deliveries for no enter made (`known`: keys `${userId} ${geofenceId}` of every enter), except
	 * for the people in `unchecked` (whose visits the run does not track).
	 */
	const unexpected = (known, unchecked) =>
		[...first.keys()].filter((k) => {
			const [, userId, geofenceId] = k.split(" ");
			return !unchecked.has(userId) && !known.has(`${userId} ${geofenceId}`);
		}).length;
	return { ingest, collect, unexpected, counts, badSamples };
}
