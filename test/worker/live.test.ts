/**
 * GET /v1/live: Server-Sent Events of the tenant's events. A fresh connection starts with who
 * is inside each store and the latest events, then pushes new events as they reach D1 with
 * `id:` = the event id; `Last-Event-ID` resumes after it; a connection ends with `event: bye`;
 * tenants are kept apart; keys in the URL and bad ids are refused.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { type SseMessage, SseReader } from "../../src/live/stream.js";
import {
	call,
	callOk,
	capturePush,
	createCampaign,
	createTenant,
	expectProblem,
	offset,
	postPings,
	registerPerson,
	squareFence,
	type Tenant,
	uploadFences,
	walker,
} from "./helpers";

const NANTES = { lat: 47.2184, lng: -1.5536 };
const AWAY = offset(NANTES, 500, 0);

interface Ev {
	id: string;
	type: string;
	userId: string;
	data: Record<string, unknown>;
}
interface Presence {
	since: string;
	stores: { id: string; name: string | null; people: { userId: string; at: string }[] }[];
	truncated: boolean;
}

afterEach(() => {
	vi.restoreAllMocks();
});

async function shop(prefix: string): Promise<Tenant> {
	const t = await createTenant(prefix);
	await uploadFences(t, [squareFence("store-n", NANTES, 100, { name: "Nantes Centre", tags: ["grocery"] })]);
	await createCampaign(t, "beer");
	return t;
}

/** An open live stream read message by message. */
class Live {
	readonly reader: ReadableStreamDefaultReader<Uint8Array>;
	readonly sse = new SseReader();
	readonly seen: SseMessage[] = [];
	private readonly decoder = new TextDecoder();
	ended = false;
	raw = "";
	constructor(readonly res: Response) {
		if (!res.body) throw new Error("no body");
		this.reader = res.body.getReader();
	}
	/** Reads until a message satisfies `pred` (returned) or the stream ends or the deadline passes. */
	async until(pred: (m: SseMessage) => boolean, ms = 8000): Promise<SseMessage> {
		const hit = this.seen.find(pred);
		if (hit) return hit;
		const deadline = Date.now() + ms;
		while (!this.ended && Date.now() < deadline) {
			const r = await Promise.race([
				this.reader.read(),
				new Promise<null>((ok) => setTimeout(() => ok(null), Math.max(1, deadline - Date.now()))),
			]);
			if (r === null) break;
			if (r.done) {
				this.ended = true;
				break;
			}
			const text = this.decoder.decode(r.value, { stream: true });
			this.raw += text;
			const fresh = this.sse.push(text);
			this.seen.push(...fresh);
			const found = fresh.find(pred);
			if (found) return found;
		}
		expect.fail(
			`no such message; saw ${JSON.stringify(this.seen.map((m) => [m.event, m.data.slice(0, 80)]))}`,
		);
	}
	events(): Ev[] {
		return this.seen.filter((m) => m.event === "message").map((m) => JSON.parse(m.data) as Ev);
	}
	async close() {
		await this.reader.cancel().catch(() => undefined);
	}
}

async function open(key: string, query = "", headers: Record<string, string> = {}): Promise<Live> {
	const res = await call("GET", `/v1/live${query}`, {
		key,
		headers: { accept: "text/event-stream", ...headers },
	});
	expect(res.status).toBe(200);
	expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
	expect(res.headers.get("cache-control")).toBe("no-store");
	return new Live(res);
}

const isType = (type: string, userId?: string) => (m: SseMessage) => {
	if (m.event !== "message") return false;
	const e = JSON.parse(m.data) as Ev;
	return e.type === type && (userId === undefined || e.userId === userId);
};

describe("GET /v1/live", { timeout: 60_000 }, () => {
	it("starts with presence and the latest events, pushes new ones with their id, ends with bye, resumes", async () => {
		const t = await shop("live-push");
		const other = await shop("live-other");
		capturePush();
		const ana = await registerPerson(t, "ana");
		const wa = walker(10 * 60_000, 60_000);
		await postPings(t, ana.userId, [wa.at(NANTES)], ana.deviceId);
		// Wait for Ana's enter to reach the events store.
		const feed = async () =>
			(await callOk<{ events: Ev[] }>("GET", "/v1/events?types=geofence.*", { key: t.secretKey })).events;
		for (let i = 0; i < 200 && !(await feed()).some((e) => e.userId === ana.userId); i++)
			await new Promise((r) => setTimeout(r, 25));

		const live = await open(t.secretKey, "?seconds=6");
		await live.until((m) => m.event === "presence");
		expect(live.sse.retry).toBe(2000);
		const presence = JSON.parse(live.seen.find((m) => m.event === "presence")?.data ?? "{}") as Presence;
		expect(presence.truncated).toBe(false);
		expect(presence.stores).toEqual([
			{ id: "store-n", name: "Nantes Centre", people: [{ userId: ana.userId, at: expect.any(String) }] },
		]);
		// The latest events come next, each with its id.
		const anaEnter = await live.until(isType("geofence.entered", ana.userId));
		const anaEnterEvent = JSON.parse(anaEnter.data) as Ev;
		expect(anaEnter.id).toBe(anaEnterEvent.id);
		expect(anaEnterEvent.data).toMatchObject({ geofenceId: "store-n", geofenceName: "Nantes Centre" });

		// Ben walks in while the stream is open: his enter is pushed, then Ana walks out.
		const ben = await registerPerson(t, "ben");
		await postPings(t, ben.userId, [walker(5 * 60_000, 60_000).at(NANTES)], ben.deviceId);
		const benEnter = await live.until(isType("geofence.entered", ben.userId));
		expect(JSON.parse(benEnter.data)).toMatchObject({ userId: ben.userId, type: "geofence.entered" });
		expect(benEnter.id).toMatch(/^evt_[0-9A-Z]{26}$/);
		await postPings(t, ana.userId, [wa.at(AWAY)], ana.deviceId);
		const anaExit = await live.until(isType("geofence.exited", ana.userId));
		// Pushed in the order they were stored, ids increasing.
		const ids = live.seen.filter((m) => m.event === "message").map((m) => m.id ?? "");
		expect([...ids].sort()).toEqual(ids);
		// The other tenant's events never appear here.
		const otherPerson = await registerPerson(other, "zoe");
		await postPings(other, otherPerson.userId, [walker().at(NANTES)], otherPerson.deviceId);
		// The connection ends at its time with bye.
		await live.until((m) => m.event === "bye", 12_000);
		expect(live.events().every((e) => e.userId === ana.userId || e.userId === ben.userId)).toBe(true);
		await live.close();

		// Resuming after Ana's enter: no presence snapshot, every later event once, Ben's enter included.
		const resumed = await open(t.secretKey, "?seconds=2", { "last-event-id": anaEnter.id ?? "" });
		await resumed.until(isType("geofence.exited", ana.userId));
		await resumed.until((m) => m.event === "bye", 6000);
		expect(resumed.seen.some((m) => m.event === "presence")).toBe(false);
		const after = resumed.events();
		expect(after.map((e) => e.id)).not.toContain(anaEnter.id);
		expect(after.map((e) => e.id)).toContain(benEnter.id);
		expect(new Set(after.map((e) => e.id)).size).toBe(after.length);
		expect(after.at(-1)?.id ?? "").toBe([...after.map((e) => e.id)].sort().at(-1));
		expect(after.some((e) => e.id === anaExit.id)).toBe(true);

		// A fresh connection with a console session (cs_) sees Ben inside, Ana no longer.
		const session = await callOk<{ token: string }>(
			"POST",
			"/v1/console/sessions",
			{ key: t.secretKey, body: {} },
			201,
		);
		const fresh = await open(session.token, "?seconds=1");
		const snap = JSON.parse((await fresh.until((m) => m.event === "presence")).data) as Presence;
		expect(snap.stores.map((s) => [s.id, s.people.map((p) => p.userId)])).toEqual([
			["store-n", [ben.userId]],
		]);
		await fresh.until((m) => m.event === "bye", 5000);

		// The other tenant's stream: its own person only.
		const theirs = await open(other.secretKey, "?seconds=1&types=geofence.*");
		const theirSnap = JSON.parse((await theirs.until((m) => m.event === "presence")).data) as Presence;
		expect(theirSnap.stores.flatMap((s) => s.people.map((p) => p.userId))).not.toContain(ben.userId);
		await theirs.until((m) => m.event === "bye", 5000);
		expect(theirs.events().every((e) => e.userId === otherPerson.userId)).toBe(true);
	});

	it("refuses no key, an app's key, a key in the URL, bad ids and unknown parameters", async () => {
		const t = await createTenant("live-auth");
		await expectProblem(await call("GET", "/v1/live"), 401);
		await expectProblem(await call("GET", "/v1/live", { key: t.publishableKey }), 401);
		// The secret key is never read from the URL: the parameter is refused, and without a header 401.
		await expectProblem(await call("GET", `/v1/live?key=${t.secretKey}`), 401);
		await expectProblem(await call("GET", `/v1/live?key=${t.secretKey}`, { key: t.secretKey }), 422);
		await expectProblem(
			await call("GET", "/v1/live", { key: t.secretKey, headers: { "last-event-id": "x y!" } }),
			422,
		);
		for (const q of ["?seconds=0", "?seconds=301", "?types=geofence.teleported", "?since=yesterday"])
			await expectProblem(await call("GET", `/v1/live${q}`, { key: t.secretKey }), 422, "validation_failed");
		// An id no longer stored (or another tenant's) starts afresh, with the presence snapshot.
		const live = await open(t.secretKey, "?seconds=1", { "last-event-id": "evt_00000000000000000000000000" });
		await live.until((m) => m.event === "presence");
		await live.until((m) => m.event === "bye", 5000);
	});
});
