// What one request costs on the platform's meters, read from wrangler's local trace store:
// Durable Object calls, D1 rows read and written, Durable Object storage operations, and the
// subrequests (rate-limit bindings, the push), per request. Only for a phase of the benchmark
// run with local tracing on (it costs CPU: the CPU figures are measured with it off).
//
// With local observability on (wrangler's default, `X_LOCAL_OBSERVABILITY`), workerd streams a
// trace of every invocation to a collector that stores spans in SQLite, and the local explorer
// answers read-only SQL over them at `/cdn-cgi/explorer/api/local/observability/query`. A
// request's trace holds its Worker invocation (the root span), the Durable Object invocations it
// caused (spans with `faas.trigger` = `jsrpc`, named by `jsrpc.method`), their storage calls
// (`durable_object_storage_*`, SQL ones with rows read and written), D1 queries (with rows read
// and written) and fetch subrequests. The benchmark tags each request of a phase with a query
// string (`/v1/pings?bench=<phase>`, which the service ignores) to find its traces.
//
// workerd reports `cpu_time_ms` = 0 for every invocation locally: Worker CPU time is not
// available this way (the benchmark measures process CPU instead).

const QUERY_PATH = "/cdn-cgi/explorer/api/local/observability/query";

/**
 * Runs one read-only SQL query against the trace store.
 *
 * @param {string} origin the dev server
 * @param {string} sql
 * @param {unknown[]} params
 * @returns {Promise<Record<string, unknown>[]>} rows as objects
 */
export async function traceQuery(origin, sql, params = []) {
	const res = await fetch(`${origin}${QUERY_PATH}`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ sql, params }),
		signal: AbortSignal.timeout(30_000),
	});
	const body = await res.json().catch(() => null);
	if (!res.ok || !body?.success)
		throw new Error(
			`trace query answered ${res.status}: ${JSON.stringify(body?.errors ?? body).slice(0, 300)}`,
		);
	const { columns, rows } = body.result;
	return rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])));
}

/**
 * The phase's requests whose trace is complete so far: a root span (the Worker's invocation)
 * and the person's Durable Object invocation (`pings`), which every ping request makes.
 */
const COMPLETE = `WITH roots AS (
	SELECT trace_id FROM spans
	WHERE parent_id IS NULL AND json_extract(attributes, '$."url.full"') LIKE ?
), complete AS (
	SELECT trace_id FROM roots
	WHERE EXISTS (
		SELECT 1 FROM spans p
		WHERE p.trace_id = roots.trace_id AND p.kind = 'jsrpc'
			AND json_extract(p.attributes, '$."faas.trigger"') = 'jsrpc'
			AND json_extract(p.attributes, '$."jsrpc.method"') = 'pings'
	)
)`;

async function stored(origin, like) {
	const [row] = await traceQuery(
		origin,
		`${COMPLETE} SELECT (SELECT count(*) FROM roots) AS roots, (SELECT count(*) FROM complete) AS complete`,
		[like],
	);
	return { roots: Number(row?.roots ?? 0), complete: Number(row?.complete ?? 0) };
}

const j = (path) => `json_extract(s.attributes, '$."${path}"')`;

/** Nearest-rank percentile of an ascending array. */
function pct(sorted, p) {
	if (sorted.length === 0) return null;
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Everything the traced requests of one phase caused, per request, over the requests whose
 * trace is complete (a trace's spans are stored as its invocations end, some a while later).
 *
 * @param {string} origin
 * @param {string} tag the phase's `bench=` value
 * @param {number} requests how many requests the phase sent (answered 200)
 * @param {{ waitMs?: number, window?: [number, number] }} [opts] how long to wait for the collector
 *   to store every trace; the phase's start and end (epoch ms), to count every Durable Object
 *   invocation that started then, whichever trace it was stored under
 */
export async function phaseCosts(origin, tag, requests, opts = {}) {
	const like = `%bench=${tag}%`;
	const deadline = Date.now() + (opts.waitMs ?? 12_000);
	let seen = await stored(origin, like);
	while (seen.complete < requests && Date.now() < deadline) {
		await new Promise((r) => setTimeout(r, 1_000));
		seen = await stored(origin, like);
	}
	// Spans of a trace can land a moment after its root.
	await new Promise((r) => setTimeout(r, 1_000));
	const rows = await traceQuery(
		origin,
		`${COMPLETE}
		SELECT s.kind AS kind, s.name AS name,
			${j("faas.trigger")} AS trigger,
			${j("jsrpc.method")} AS method,
			CASE WHEN s.kind = 'fetch' THEN
				substr(${j("url.full")}, 8, instr(substr(${j("url.full")}, 8), '/') - 1) END AS host,
			count(*) AS n,
			sum(coalesce(${j("cloudflare.d1.response.rows_read")}, 0)) AS d1RowsRead,
			sum(coalesce(${j("cloudflare.d1.response.rows_written")}, 0)) AS d1RowsWritten,
			sum(coalesce(${j("cloudflare.durable_object.response.rows_read")}, 0)) AS doSqlRowsRead,
			sum(coalesce(${j("cloudflare.durable_object.response.rows_written")}, 0)) AS doSqlRowsWritten,
			-- key-value storage calls: how many keys each named (a put of n keys writes n rows)
			sum(CASE WHEN s.name IN ('durable_object_storage_get', 'durable_object_storage_put', 'durable_object_storage_delete')
				THEN coalesce(${j("cloudflare.durable_object.kv.query.keys.count")}, 1) ELSE 0 END) AS kvKeys
		FROM spans s
		WHERE s.trace_id IN (SELECT trace_id FROM complete)
			-- miniflare's local Durable Object wrapper records each object's name: not the service's
			AND coalesce(${j("db.query.text")}, '') NOT LIKE '%miniflare_do_name%'
		GROUP BY kind, name, trigger, method, host
		ORDER BY n DESC`,
		[like],
	);
	// Wall time of each Durable Object invocation (traced locally: an upper bound of its work).
	const walls = await traceQuery(
		origin,
		`${COMPLETE}
		SELECT ${j("jsrpc.method")} AS method, s.duration_ms AS ms
		FROM spans s
		WHERE s.trace_id IN (SELECT trace_id FROM complete) AND s.kind = 'jsrpc'
			AND ${j("faas.trigger")} = 'jsrpc' AND s.duration_ms IS NOT NULL`,
		[like],
	);
	const byMethod = new Map();
	for (const w of walls) {
		const list = byMethod.get(w.method) ?? [];
		list.push(Number(w.ms));
		byMethod.set(w.method, list);
	}
	const wallMs = {};
	for (const [m, list] of byMethod) {
		list.sort((a, b) => a - b);
		wallMs[m] = { n: list.length, p50: pct(list, 50), p90: pct(list, 90), max: list.at(-1) };
	}
	// Wall time of the request (the Worker's invocation) and of the person's object, by whether
	// the person's object called a shard or answered from its neighbourhood copy.
	const split = await traceQuery(
		origin,
		`${COMPLETE}
		SELECT r.duration_ms AS rootMs,
			(SELECT max(p.duration_ms) FROM spans p WHERE p.trace_id = r.trace_id AND p.kind = 'jsrpc'
				AND json_extract(p.attributes, '$."jsrpc.method"') = 'pings') AS personMs,
			EXISTS (SELECT 1 FROM spans q WHERE q.trace_id = r.trace_id AND q.kind = 'jsrpc'
				AND json_extract(q.attributes, '$."faas.trigger"') = 'jsrpc'
				AND json_extract(q.attributes, '$."jsrpc.method"') = 'query') AS shard
		FROM spans r
		WHERE r.parent_id IS NULL AND r.trace_id IN (SELECT trace_id FROM complete) AND r.duration_ms IS NOT NULL`,
		[like],
	);
	const bySource = {};
	for (const [name, flag] of [
		["local", 0],
		["shard", 1],
	]) {
		const rows = split.filter((r) => Number(r.shard) === flag);
		const root = rows.map((r) => Number(r.rootMs)).sort((a, b) => a - b);
		const person = rows
			.map((r) => Number(r.personMs))
			.filter((x) => Number.isFinite(x))
			.sort((a, b) => a - b);
		bySource[name] = {
			n: rows.length,
			requestMsP50: pct(root, 50),
			requestMsP90: pct(root, 90),
			personMsP50: pct(person, 50),
			personMsP90: pct(person, 90),
		};
	}
	let inWindow = null;
	if (opts.window) {
		const counted = await traceQuery(
			origin,
			`SELECT CASE WHEN s.parent_id IS NULL THEN 'root:' || s.name ELSE ${j("jsrpc.method")} END AS what,
				count(*) AS n
			FROM spans s
			WHERE s.start_ms BETWEEN ? AND ?
				AND ((s.kind = 'jsrpc' AND ${j("faas.trigger")} = 'jsrpc') OR s.parent_id IS NULL)
			GROUP BY what`,
			opts.window,
		);
		inWindow = Object.fromEntries(counted.map((r) => [String(r.what), Number(r.n)]));
	}
	return {
		...summarizeSpans(rows, seen.complete, requests),
		tracedRoots: seen.roots,
		durableObjectWallMs: wallMs,
		latencyBySource: bySource,
		invocationsInWindow: inWindow,
	};
}

/**
 * Per-request figures from the grouped spans of a phase.
 *
 * @param {Record<string, any>[]} rows grouped spans
 * @param {number} traced requests whose trace is complete
 * @param {number} requests requests the phase sent
 */
export function summarizeSpans(rows, traced, requests) {
	const per = (n) => (traced > 0 ? Number((n / traced).toFixed(3)) : null);
	const sum = (pred, field = "n") => rows.filter(pred).reduce((s, r) => s + Number(r[field] ?? 0), 0);
	const invocations = (r) => r.trigger === "jsrpc" && r.kind === "jsrpc";
	/** Durable Object invocations by RPC method (the service's: `pings` ShopperDO, `query` GeoShardDO). */
	const calls = {};
	for (const r of rows.filter(invocations)) {
		const m = String(r.method ?? "?");
		calls[m] = (calls[m] ?? 0) + Number(r.n);
	}
	const doCallsByMethod = Object.fromEntries(Object.entries(calls).map(([m, n]) => [m, per(n)]));
	const storageOps = {};
	for (const r of rows.filter((x) => String(x.name).startsWith("durable_object_storage_"))) {
		const op = String(r.name).replace("durable_object_storage_", "");
		storageOps[op] = (storageOps[op] ?? 0) + Number(r.n);
	}
	/** Keys named by key-value calls (a key put is a row written, a key got a row read). */
	const kvKeys = {};
	for (const r of rows.filter((x) => String(x.name).startsWith("durable_object_storage_"))) {
		const op = String(r.name).replace("durable_object_storage_", "");
		if (Number(r.kvKeys ?? 0) > 0) kvKeys[op] = (kvKeys[op] ?? 0) + Number(r.kvKeys);
	}
	// Rows written by storage: keys put or deleted, alarms set or deleted, SQL rows written.
	const rowsWritten =
		(kvKeys.put ?? 0) +
		(kvKeys.delete ?? 0) +
		(storageOps.setAlarm ?? 0) +
		(storageOps.deleteAlarm ?? 0) +
		sum((r) => String(r.name) === "durable_object_storage_exec", "doSqlRowsWritten");
	for (const op of Object.keys(kvKeys)) kvKeys[op] = per(kvKeys[op]);
	for (const op of Object.keys(storageOps)) storageOps[op] = per(storageOps[op]);
	const d1Queries = {};
	for (const r of rows.filter((x) => x.kind === "d1"))
		d1Queries[String(r.name)] = (d1Queries[String(r.name)] ?? 0) + Number(r.n);
	for (const q of Object.keys(d1Queries)) d1Queries[q] = per(d1Queries[q]);
	const subrequests = {};
	for (const r of rows.filter((x) => x.kind === "fetch")) {
		const host = String(r.host ?? "?");
		// Bindings are named hosts (ratelimit, d1); the push service is the receiver on loopback.
		const what = /^[a-z0-9-]+$/.test(host) ? host : "push service";
		subrequests[what] = (subrequests[what] ?? 0) + Number(r.n);
	}
	for (const h of Object.keys(subrequests)) subrequests[h] = per(subrequests[h]);
	return {
		requests,
		traced,
		perRequest: {
			durableObjectCalls: per(sum(invocations)),
			durableObjectCallsByMethod: doCallsByMethod,
			d1RowsRead: per(sum((r) => r.kind === "d1", "d1RowsRead")),
			d1RowsWritten: per(sum((r) => r.kind === "d1", "d1RowsWritten")),
			d1Queries,
			doSqlRowsRead: per(sum(() => true, "doSqlRowsRead")),
			doSqlRowsWritten: per(sum(() => true, "doSqlRowsWritten")),
			storageOps,
			kvKeys,
			storageRowsWritten: per(rowsWritten),
			subrequests,
		},
	};
}
