/**
 * Outgoing webhooks in workerd: CRUD with the secret shown once, tenants kept apart, target
 * refusals (SSRF) outside local development, signed ordered delivery through the outbox
 * object, retries, redirects not followed, 410 disabling, the deliveries log and replays.
 * The outbox object runs in the test isolate, so its `fetch` to the (public-looking)
 * endpoint is answered here; nothing leaves the machine.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { EventSchema } from "../../src/events/types.js";
import { verifySignature } from "../../src/webhook/signature.js";
import {
	call,
	callOk,
	createCampaign,
	createTenant,
	expectProblem,
	offset,
	PUSH_ORIGIN,
	postPings,
	registerPerson,
	squareFence,
	type Tenant,
	uploadFences,
	walker,
} from "./helpers";

const NANTES = { lat: 47.2184, lng: -1.5536 };
const AWAY = offset(NANTES, 400, 0);
const HOOK_ORIGIN = "https://hooks.example.com";

interface Received {
	path: string;
	headers: Record<string, string>;
	body: string;
	redirect: string | undefined;
	status: number;
}

interface Created {
	id: string;
	url: string;
	events: string[];
	secret: string;
	status: string;
}

interface Delivery {
	eventId: string;
	eventType: string;
	status: number | null;
	attempt: number;
	outcome: string;
	nextRetryAt: string | null;
	error: string | null;
}

afterEach(() => {
	vi.restoreAllMocks();
});

/**
 * Answers the outbox's requests to {@link HOOK_ORIGIN}: each path's scripted statuses in
 * turn (200 once they run out). Offer pushes to the loopback push endpoints are accepted
 * (201), as a push service would; nothing else is expected.
 */
function captureHooks() {
	const original = globalThis.fetch;
	const received: Received[] = [];
	const script = new Map<string, number[]>();
	const gates = new Map<string, Promise<void>>();
	vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
		const req = new Request(input, init);
		if (req.url.startsWith(`${PUSH_ORIGIN}/push/`)) return new Response(null, { status: 201 });
		if (!req.url.startsWith(HOOK_ORIGIN)) return original(input, init);
		const path = new URL(req.url).pathname;
		const headers: Record<string, string> = {};
		req.headers.forEach((v, k) => {
			headers[k] = v;
		});
		const status = script.get(path)?.shift() ?? 200;
		received.push({ path, headers, body: await req.text(), redirect: init?.redirect, status });
		// A held path answers only once released: a slow endpoint.
		await gates.get(path);
		return new Response(status === 302 ? null : "ok", {
			status,
			headers: status === 302 ? { location: "http://169.254.169.254/latest/meta-data" } : {},
		});
	});
	return {
		received,
		to: (path: string) => received.filter((r) => r.path === path),
		script: (path: string, statuses: number[]) => script.set(path, statuses),
		/** Holds every answer on `path` until the returned function is called. */
		hold(path: string): () => void {
			let release = () => {};
			gates.set(
				path,
				new Promise<void>((r) => {
					release = r;
				}),
			);
			return () => {
				gates.delete(path);
				release();
			};
		},
	};
}

async function until<T>(what: string, probe: () => Promise<T | null> | T | null, ms = 8000): Promise<T> {
	const deadline = Date.now() + ms;
	for (;;) {
		const v = await probe();
		if (v !== null) return v;
		if (Date.now() > deadline) expect.fail(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 20));
	}
}

async function shop(prefix: string): Promise<Tenant> {
	const t = await createTenant(prefix);
	await uploadFences(t, [squareFence("store-n", NANTES, 100, { name: "Nantes", tags: ["grocery"] })]);
	await createCampaign(t, "beer");
	return t;
}

function createHook(t: Tenant, path: string, events: string[]): Promise<Created> {
	return callOk<Created>(
		"POST",
		"/v1/webhooks",
		{ key: t.secretKey, body: { url: HOOK_ORIGIN + path, events } },
		201,
	);
}

async function deliveries(t: Tenant, id: string): Promise<Delivery[]> {
	return (
		await callOk<{ deliveries: Delivery[] }>("GET", `/v1/webhooks/${id}/deliveries`, { key: t.secretKey })
	).deliveries;
}

async function walkIn(t: Tenant, out = false): Promise<string> {
	const p = await registerPerson(t, "w");
	const w = walker(10 * 60_000, 60_000);
	await postPings(t, p.userId, [w.at(NANTES)], p.deviceId);
	if (out) await postPings(t, p.userId, [w.at(AWAY)], p.deviceId);
	return p.userId;
}

const ALL = [
	"geofence.entered",
	"geofence.exited",
	"geofence.dwelled",
	"offer.sent",
	"offer.suppressed",
	"offer.displayed",
	"offer.clicked",
	"cart.conversion",
];

describe("webhook endpoints", () => {
	it("creates with a secret shown once, lists, reads and deletes", async () => {
		const t = await createTenant("wh-crud");
		const made = await createHook(t, "/crud", ["geofence.entered", "offer.sent"]);
		expect(made.id).toMatch(/^wh_/);
		expect(made.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
		expect(made.status).toBe("active");
		const list = await callOk<{ webhooks: Record<string, unknown>[] }>("GET", "/v1/webhooks", {
			key: t.secretKey,
		});
		expect(list.webhooks.map((w) => w.id)).toEqual([made.id]);
		const one = await callOk<Record<string, unknown>>("GET", `/v1/webhooks/${made.id}`, { key: t.secretKey });
		expect(one).toMatchObject({
			id: made.id,
			url: `${HOOK_ORIGIN}/crud`,
			events: ["geofence.entered", "offer.sent"],
		});
		// The secret is never shown again.
		expect(JSON.stringify(list)).not.toContain(made.secret);
		expect(JSON.stringify(one)).not.toContain(made.secret);
		expect(Object.keys(one)).not.toContain("secret");

		expect((await call("DELETE", `/v1/webhooks/${made.id}`, { key: t.secretKey })).status).toBe(204);
		await expectProblem(await call("GET", `/v1/webhooks/${made.id}`, { key: t.secretKey }), 404, "not_found");
	});

	it("keeps tenants apart: another tenant's webhook is unknown (404) everywhere", async () => {
		const a = await createTenant("wh-iso-a");
		const b = await createTenant("wh-iso-b");
		const made = await createHook(a, "/iso", ["offer.sent"]);
		for (const [method, path, body] of [
			["GET", `/v1/webhooks/${made.id}`, undefined],
			["DELETE", `/v1/webhooks/${made.id}`, undefined],
			["GET", `/v1/webhooks/${made.id}/deliveries`, undefined],
			["POST", `/v1/webhooks/${made.id}/replay`, { since: new Date(0).toISOString() }],
		] as const)
			await expectProblem(await call(method, path, { key: b.secretKey, body }), 404, "not_found");
		expect(
			(await callOk<{ webhooks: unknown[] }>("GET", "/v1/webhooks", { key: b.secretKey })).webhooks,
		).toEqual([]);
		// Still there for its owner.
		await callOk("GET", `/v1/webhooks/${made.id}`, { key: a.secretKey });
		await expectProblem(await call("GET", "/v1/webhooks", { key: a.publishableKey }), 401);
	});

	it("refuses private, loopback, link-local and internal targets, plain http and credentials", async () => {
		const t = await createTenant("wh-ssrf");
		const refused: [string, string][] = [
			["http://hooks.example.com/x", "https_required"],
			["ftp://hooks.example.com/x", "https_required"],
			["https://127.0.0.1/x", "loopback_not_allowed"],
			["http://127.0.0.1:8787/x", "loopback_not_allowed"],
			["https://localhost/x", "loopback_not_allowed"],
			["https://api.localhost/x", "loopback_not_allowed"],
			["https://[::1]/x", "loopback_not_allowed"],
			// Numeric spellings of 127.0.0.1, normalised by the URL parser.
			["https://2130706433/x", "loopback_not_allowed"],
			["https://0x7f.1/x", "loopback_not_allowed"],
			["https://10.1.2.3/x", "private_address"],
			["https://172.16.0.1/x", "private_address"],
			["https://192.168.1.1/x", "private_address"],
			["https://100.64.0.1/x", "private_address"],
			["https://169.254.169.254/latest/meta-data", "private_address"],
			["https://0.0.0.0/x", "private_address"],
			["https://[fd00::1]/x", "private_address"],
			["https://[fe80::1]/x", "private_address"],
			["https://[::ffff:10.0.0.1]/x", "private_address"],
			["https://[::ffff:169.254.169.254]/x", "private_address"],
			["https://metadata.google.internal/x", "internal_hostname"],
			["https://printer.local/x", "internal_hostname"],
			["https://intranet/x", "internal_hostname"],
			["https://user:pass@hooks.example.com/x", "credentials_in_url"],
			["not a url", "malformed_url"],
		];
		for (const [url, code] of refused) {
			const res = await call("POST", "/v1/webhooks", {
				key: t.secretKey,
				body: { url, events: ["offer.sent"] },
			});
			const p = await expectProblem(res, 422, "validation_failed");
			expect(p.errors?.[0]?.path, url).toEqual(["url"]);
			expect(p.errors?.[0]?.code, url).toBe(code);
		}
		for (const url of ["https://hooks.example.com/x", "https://93.184.215.14/x", "https://[2606:4700::1]/x"])
			await callOk("POST", "/v1/webhooks", { key: t.secretKey, body: { url, events: ["offer.sent"] } }, 201);
		await expectProblem(
			await call("POST", "/v1/webhooks", { key: t.secretKey, body: { url: HOOK_ORIGIN, events: ["nope"] } }),
			422,
		);
		await expectProblem(
			await call("POST", "/v1/webhooks", { key: t.secretKey, body: { url: HOOK_ORIGIN, events: [] } }),
			422,
		);
		expect(
			(await callOk<{ webhooks: unknown[] }>("GET", "/v1/webhooks", { key: t.secretKey })).webhooks.length,
		).toBe(3);
	});
});

// Deliveries wait for retries (1 to 2 s each): more than the default 5 s on a busy machine.
describe("delivery", { timeout: 30_000 }, () => {
	it("delivers a walk-in signed, with X-Event-Id, in the person's order, only the chosen types", async () => {
		const hooks = captureHooks();
		const t = await shop("wh-sign");
		const all = await createHook(t, "/all", ALL);
		const sentOnly = await createHook(t, "/sent", ["offer.sent"]);
		const userId = await walkIn(t, true);
		const got = await until("three deliveries", () =>
			hooks.to("/all").length >= 3 ? hooks.to("/all") : null,
		);
		const bodies = got.map((r) => EventSchema.parse(JSON.parse(r.body)));
		expect(bodies.map((e) => e.type)).toEqual(["geofence.entered", "offer.sent", "geofence.exited"]);
		expect(bodies.every((e) => e.userId === userId)).toBe(true);
		for (const r of got) {
			expect(r.headers["content-type"]).toBe("application/json");
			expect(r.headers["x-event-id"]).toBe(EventSchema.parse(JSON.parse(r.body)).id);
			expect(r.redirect).toBe("manual");
			const ok = await verifySignature(
				r.headers["x-signature"] ?? null,
				new TextEncoder().encode(r.body),
				[all.secret],
				Date.now(),
			);
			expect(ok).toEqual({ ok: true, secretIndex: 0 });
			// Another webhook's secret does not verify it.
			const other = await verifySignature(
				r.headers["x-signature"] ?? null,
				new TextEncoder().encode(r.body),
				[sentOnly.secret],
				Date.now(),
			);
			expect(other).toEqual({ ok: false, code: "bad_signature" });
		}
		const sent = await until("offer.sent delivery", () =>
			hooks.to("/sent").length >= 1 ? hooks.to("/sent") : null,
		);
		expect(sent.map((r) => JSON.parse(r.body).type)).toEqual(["offer.sent"]);
		const log = await until("the log", async () => {
			const d = await deliveries(t, all.id);
			return d.filter((x) => x.outcome === "delivered").length >= 3 ? d : null;
		});
		expect(log[0]).toMatchObject({ status: 200, attempt: 1, outcome: "delivered", error: null });
	});

	it("retries a 500 then delivers, keeping the person's later events behind it", async () => {
		const hooks = captureHooks();
		const t = await shop("wh-retry");
		hooks.script("/flaky", [500]);
		const made = await createHook(t, "/flaky", ALL);
		await walkIn(t, true);
		const got = await until(
			"four attempts",
			() => (hooks.to("/flaky").length >= 4 ? hooks.to("/flaky") : null),
			15_000,
		);
		const seq = got.map((r) => [JSON.parse(r.body).type, r.status]);
		// The first event failed once and went again first; the others waited for it.
		expect(seq).toEqual([
			["geofence.entered", 500],
			["geofence.entered", 200],
			["offer.sent", 200],
			["geofence.exited", 200],
		]);
		expect(got[0]?.headers["x-event-id"]).toBe(got[1]?.headers["x-event-id"]);
		const log = await deliveries(t, made.id);
		const first = log.filter((d) => d.eventType === "geofence.entered");
		expect(first.map((d) => [d.outcome, d.status, d.attempt])).toEqual(
			expect.arrayContaining([
				["retrying", 500, 1],
				["delivered", 200, 2],
			]),
		);
		const retrying = first.find((d) => d.outcome === "retrying");
		expect(retrying?.error).toBe("HTTP 500");
		expect(retrying?.nextRetryAt).not.toBeNull();
	});

	it("a hanging endpoint is never on the ping path and holds back only its person's next event", async () => {
		const hooks = captureHooks();
		const t = await shop("wh-slow");
		const release = hooks.hold("/slow");
		await createHook(t, "/slow", ["geofence.entered", "geofence.exited"]);
		const p = await registerPerson(t, "s");
		const w = walker(10 * 60_000, 60_000);
		await postPings(t, p.userId, [w.at(NANTES)], p.deviceId);
		await until("the endpoint holding the enter", () => (hooks.to("/slow").length === 1 ? true : null));
		// While the endpoint holds the enter, the person's exit and another person's enter are answered at once.
		const started = Date.now();
		await postPings(t, p.userId, [w.at(AWAY)], p.deviceId);
		const q = await registerPerson(t, "q");
		await postPings(t, q.userId, [walker(10 * 60_000, 60_000).at(NANTES)], q.deviceId);
		expect(Date.now() - started).toBeLessThan(3000);
		// Stored all the same.
		const stored = await callOk<{ events: { userId: string }[] }>("GET", "/v1/events?types=geofence.*", {
			key: t.secretKey,
		});
		expect(stored.events.length).toBe(3);
		// Another person's event for the same endpoint does not wait for the held request either.
		await until("the other person's enter, while the first request hangs", () =>
			hooks.to("/slow").some((r) => JSON.parse(r.body).userId === q.userId) ? true : null,
		);
		expect(hooks.to("/slow").filter((r) => JSON.parse(r.body).userId === p.userId).length).toBe(1);
		release();
		const mine = await until("the exit after the enter", () => {
			const m = hooks.to("/slow").filter((r) => JSON.parse(r.body).userId === p.userId);
			return m.length >= 2 ? m : null;
		});
		expect(mine.map((r) => JSON.parse(r.body).type)).toEqual(["geofence.entered", "geofence.exited"]);
	});

	it("never follows a redirect: a 302 is a failed attempt, retried", async () => {
		const hooks = captureHooks();
		const t = await shop("wh-redirect");
		hooks.script("/moved", [302]);
		const made = await createHook(t, "/moved", ["geofence.entered"]);
		await walkIn(t);
		await until("the retry", () => (hooks.to("/moved").length >= 2 ? true : null), 15_000);
		// Only the endpoint itself was asked: never the redirect's target.
		expect(hooks.received.every((r) => r.path === "/moved")).toBe(true);
		const log = await deliveries(t, made.id);
		expect(
			log.some((d) => d.status === 302 && d.outcome === "retrying" && d.error === "redirect not followed"),
		).toBe(true);
	});

	it("a 410 disables the webhook: nothing more is sent to it", async () => {
		const hooks = captureHooks();
		const t = await shop("wh-gone");
		hooks.script("/gone", [410]);
		const made = await createHook(t, "/gone", ALL);
		await walkIn(t, true);
		const view = await until("disabled", async () => {
			const w = await callOk<{ status: string; disabledReason: string | null }>(
				"GET",
				`/v1/webhooks/${made.id}`,
				{
					key: t.secretKey,
				},
			);
			return w.status === "disabled" ? w : null;
		});
		expect(view.disabledReason).toMatch(/410/);
		const log = await deliveries(t, made.id);
		expect(log.some((d) => d.status === 410 && d.outcome === "disabled")).toBe(true);
		// A later walk-in produces events, none of them reach the disabled endpoint.
		await walkIn(t);
		await until("the new events stored", async () => {
			const e = await callOk<{ events: unknown[] }>("GET", "/v1/events?types=geofence.entered", {
				key: t.secretKey,
			});
			return e.events.length >= 2 ? true : null;
		});
		await until("the drain to finish", async () => {
			const e = await callOk<{ events: unknown[] }>("GET", "/v1/events?types=offer.sent", {
				key: t.secretKey,
			});
			return e.events.length >= 2 ? true : null;
		});
		expect(hooks.to("/gone").length).toBe(1);
		await expectProblem(
			await call("POST", `/v1/webhooks/${made.id}/replay`, {
				key: t.secretKey,
				body: { since: "2026-01-01T00:00:00Z" },
			}),
			409,
			"webhook_disabled",
		);
	});

	it("replays events since a time: delivered again with the same ids", async () => {
		const hooks = captureHooks();
		const t = await shop("wh-replay");
		const made = await createHook(t, "/replay", ["geofence.entered", "offer.sent"]);
		const before = new Date(Date.now() - 60_000).toISOString();
		await walkIn(t);
		const first = await until("first delivery", () =>
			hooks.to("/replay").length >= 2 ? [...hooks.to("/replay")] : null,
		);
		const res = await call("POST", `/v1/webhooks/${made.id}/replay`, {
			key: t.secretKey,
			body: { since: before },
		});
		expect(res.status).toBe(202);
		const again = await until("replayed", () =>
			hooks.to("/replay").length >= 4 ? hooks.to("/replay").slice(2) : null,
		);
		expect(again.map((r) => r.headers["x-event-id"])).toEqual(first.map((r) => r.headers["x-event-id"]));
		await expectProblem(
			await call("POST", `/v1/webhooks/${made.id}/replay`, { key: t.secretKey, body: { since: "soon" } }),
			422,
		);
	});

	it("a deleted webhook receives nothing more", async () => {
		const hooks = captureHooks();
		const t = await shop("wh-deleted");
		const made = await createHook(t, "/deleted", ALL);
		expect((await call("DELETE", `/v1/webhooks/${made.id}`, { key: t.secretKey })).status).toBe(204);
		await walkIn(t);
		await until("events stored", async () => {
			const e = await callOk<{ events: unknown[] }>("GET", "/v1/events?types=offer.sent", {
				key: t.secretKey,
			});
			return e.events.length >= 1 ? true : null;
		});
		expect(hooks.to("/deleted")).toEqual([]);
	});
});

describe("OpenAPI", () => {
	it("documents the events export and every webhook route", async () => {
		const doc = await callOk<{ paths: Record<string, Record<string, unknown>> }>("GET", "/openapi.json");
		for (const [method, path] of [
			["get", "/v1/events"],
			["post", "/v1/webhooks"],
			["get", "/v1/webhooks"],
			["get", "/v1/webhooks/{id}"],
			["delete", "/v1/webhooks/{id}"],
			["get", "/v1/webhooks/{id}/deliveries"],
			["post", "/v1/webhooks/{id}/replay"],
		] as const)
			expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
	});
});
