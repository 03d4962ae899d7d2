/**
 * A stand-in push service for tests: an HTTP server on loopback that records
 * every request and answers 201 Created (RFC 8030 §5), or whatever a test
 * scripts for a path (410 Gone, 429 with Retry-After, ...).
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

/** One request the receiver got. */
export interface ReceivedPush {
	method: string;
	/** Path and query, as in the request line. */
	path: string;
	/** Lower-case header names; repeated headers joined with ", ". */
	headers: Record<string, string>;
	body: Uint8Array;
	/** Epoch milliseconds when the body was complete. */
	at: number;
	/** The status the receiver answered with. */
	status: number;
}

/** A running receiver. */
export interface PushReceiver {
	/** `http://127.0.0.1:<port>`. */
	origin: string;
	/** A distinct endpoint URL per subscription name. */
	endpointFor(name: string): string;
	/** Every request so far, oldest first. */
	received: ReceivedPush[];
	/**
	 * Answers every following request to `path` (a path or a full endpoint URL)
	 * with `status` and `headers`, until called again for that path.
	 */
	respondWith(path: string, status: number, headers?: Record<string, string>): void;
	/**
	 * Resolves with `received` once `predicate(received)` holds; rejects after `timeoutMs`.
	 */
	waitFor(
		predicate: (received: readonly ReceivedPush[]) => boolean,
		timeoutMs: number,
	): Promise<ReceivedPush[]>;
	/** Stops listening and drops open connections. */
	close(): Promise<void>;
}

/** Accepts a path or a full URL so tests can pass an endpoint as it is. */
function pathOf(pathOrUrl: string): string {
	if (/^https?:\/\//i.test(pathOrUrl)) {
		const url = new URL(pathOrUrl);
		return url.pathname + url.search;
	}
	return pathOrUrl;
}

function headersOf(req: IncomingMessage): Record<string, string> {
	const headers: Record<string, string> = {};
	for (const [name, value] of Object.entries(req.headers)) {
		if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
	}
	return headers;
}

/**
 * Starts a receiver on 127.0.0.1 with an ephemeral port.
 *
 * @returns The running receiver; call `close()` when done.
 */
export async function startPushReceiver(): Promise<PushReceiver> {
	const received: ReceivedPush[] = [];
	const scripted = new Map<string, { status: number; headers: Record<string, string> }>();
	const waiters = new Set<() => void>();

	const server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", (chunk: Buffer) => chunks.push(chunk));
		req.on("end", () => {
			const path = req.url ?? "/";
			const answer = scripted.get(path) ?? { status: 201, headers: {} };
			received.push({
				method: req.method ?? "",
				path,
				headers: headersOf(req),
				body: Uint8Array.from(Buffer.concat(chunks)),
				at: Date.now(),
				status: answer.status,
			});
			res.writeHead(answer.status, answer.headers);
			res.end();
			for (const wake of waiters) wake();
		});
	});
	await new Promise<void>((resolve, reject) => {
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => resolve());
	});
	const address = server.address();
	if (address === null || typeof address === "string") throw new Error("push receiver has no TCP address");
	const origin = `http://127.0.0.1:${(address satisfies AddressInfo).port}`;

	return {
		origin,
		received,
		endpointFor(name) {
			return `${origin}/push/${encodeURIComponent(name)}`;
		},
		respondWith(path, status, headers = {}) {
			scripted.set(pathOf(path), { status, headers });
		},
		waitFor(predicate, timeoutMs) {
			return new Promise((resolve, reject) => {
				if (predicate(received)) {
					resolve(received);
					return;
				}
				const check = () => {
					if (!predicate(received)) return;
					done();
					resolve(received);
				};
				const timer = setTimeout(() => {
					done();
					reject(
						new Error(
							`push receiver: condition not met within ${timeoutMs} ms (${received.length} received)`,
						),
					);
				}, timeoutMs);
				const done = () => {
					clearTimeout(timer);
					waiters.delete(check);
				};
				waiters.add(check);
			});
		},
		close() {
			return new Promise((resolve, reject) => {
				server.close((err) => (err ? reject(err) : resolve()));
				// Keep-alive sockets from workerd would otherwise hold close() open.
				server.closeAllConnections();
			});
		},
	};
}
