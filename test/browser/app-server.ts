/**
 * A stand-in for a retailer's web site: a static server on its own loopback port (so its
 * pages are on another origin than the service), serving a blank page and the SDK's service
 * worker copied from dist/assets, as a site would host it.
 */
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import path from "node:path";
import { OUT_DIR } from "../../scripts/build.mjs";

export interface AppServer {
	/** `http://127.0.0.1:<port>`. */
	origin: string;
	close(): Promise<void>;
}

const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Shop</h1></body></html>`;

/**
 * Starts the site. Extra pages can be served with `pages` (path to HTML).
 *
 * @param pages more HTML pages, by path
 */
export async function startAppServer(pages: Record<string, string> = {}): Promise<AppServer> {
	const sw = await readFile(path.join(OUT_DIR, "sdk", "edge-offers-sw.js"), "utf8");
	const server: Server = createServer((req, res) => {
		const url = new URL(req.url ?? "/", "http://x");
		const page = url.pathname === "/" ? PAGE : pages[url.pathname];
		if (page !== undefined) {
			res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
			res.end(page);
		} else if (url.pathname === "/edge-offers-sw.js") {
			res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" });
			res.end(sw);
		} else res.writeHead(404).end();
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const address = server.address();
	if (!address || typeof address === "string") throw new Error("no port");
	return {
		origin: `http://127.0.0.1:${address.port}`,
		close: () =>
			new Promise((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}
