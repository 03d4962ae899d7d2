/**
 * Staged imports (POST /v1/geofences/imports, chunks, commit): chunks validated as they arrive,
 * nothing live until the commit, all or nothing, resumable, idempotent, tenant-scoped.
 */
import { describe, expect, it } from "vitest";
import {
	call,
	callOk,
	circleFence,
	createTenant,
	eventsOf,
	expectProblem,
	type Feature,
	featureCollection,
	offset,
	postPings,
	putUser,
	type Tenant,
	unique,
	walker,
} from "./helpers";

const NANTES = { lat: 47.2184, lng: -1.5536 };

interface ImportView {
	id: string;
	status: "open" | "committed";
	chunks: { n: number; features: number }[];
	features: number;
	expiresAt: string;
}

interface CommitAnswer {
	created: number;
	updated: number;
	unchanged: number;
	upserted: number;
	version: number;
}

async function openImport(t: Tenant): Promise<string> {
	const r = await callOk<{ id: string; expiresAt: string }>(
		"POST",
		"/v1/geofences/imports",
		{ key: t.secretKey, body: {} },
		201,
	);
	expect(r.id).toMatch(/^imp_/);
	expect(Date.parse(r.expiresAt)).toBeGreaterThan(Date.now());
	return r.id;
}

function putChunk(t: Tenant, id: string, n: number, features: unknown[]): Promise<Response> {
	return call("PUT", `/v1/geofences/imports/${id}/chunks/${n}`, {
		key: t.secretKey,
		body: featureCollection(features),
	});
}

/** Stores on a line east of Nantes, 400 m apart. */
function stores(prefix: string, from: number, count: number, radius = 60): Feature[] {
	return Array.from({ length: count }, (_, i) =>
		circleFence(`${prefix}-${from + i}`, offset(NANTES, 0, 400 * (from + i)), radius),
	);
}

async function listedIds(t: Tenant): Promise<string[]> {
	const ids: string[] = [];
	for (let cursor: string | null = null; ; ) {
		const page: { features: Feature[]; nextCursor: string | null } = await callOk(
			"GET",
			`/v1/geofences?limit=500${cursor ? `&cursor=${cursor}` : ""}`,
			{ key: t.secretKey },
		);
		ids.push(...page.features.map((f) => f.properties.id));
		cursor = page.nextCursor;
		if (!cursor) return ids;
	}
}

describe("staged geofence imports", () => {
	it("applies every chunk at once on commit, nothing before, and says what changed", async () => {
		const t = await createTenant("imp-basic");
		const id = await openImport(t);
		expect((await putChunk(t, id, 0, stores("s", 0, 30))).status).toBe(200);
		const second = await putChunk(t, id, 1, stores("s", 30, 20));
		expect(await second.json()).toEqual({ chunk: 1, features: 20 });
		// Nothing is live before the commit.
		expect(await listedIds(t)).toEqual([]);
		const view = await callOk<ImportView>("GET", `/v1/geofences/imports/${id}`, { key: t.secretKey });
		expect(view).toMatchObject({
			status: "open",
			features: 50,
			chunks: [
				{ n: 0, features: 30 },
				{ n: 1, features: 20 },
			],
		});
		const done = await callOk<CommitAnswer>("POST", `/v1/geofences/imports/${id}/commit`, {
			key: t.secretKey,
		});
		expect(done).toEqual({
			created: 50,
			updated: 0,
			unchanged: 0,
			upserted: 50,
			version: expect.any(Number),
		});
		expect((await listedIds(t)).length).toBe(50);
		// A commit sent again answers the same and changes nothing.
		expect(await callOk("POST", `/v1/geofences/imports/${id}/commit`, { key: t.secretKey })).toEqual(done);
		// Chunks can't be added to a committed import.
		await expectProblem(await putChunk(t, id, 2, stores("s", 50, 1)), 409, "import_committed");

		// The same network again: unchanged; then one store moved and one new: updated 1, created 1.
		const again = await openImport(t);
		await putChunk(t, again, 0, stores("s", 0, 50));
		expect(await callOk("POST", `/v1/geofences/imports/${again}/commit`, { key: t.secretKey })).toMatchObject(
			{
				created: 0,
				updated: 0,
				unchanged: 50,
				upserted: 0,
			},
		);
		const third = await openImport(t);
		await putChunk(t, third, 0, [...stores("s", 1, 49), ...stores("s", 0, 1, 90), ...stores("s", 50, 1)]);
		expect(await callOk("POST", `/v1/geofences/imports/${third}/commit`, { key: t.secretKey })).toMatchObject(
			{
				created: 1,
				updated: 1,
				unchanged: 49,
			},
		);
	});

	it("matches pings at the imported stores after the commit", async () => {
		const t = await createTenant("imp-ping");
		const id = await openImport(t);
		await putChunk(t, id, 0, stores("p", 0, 5));
		await putChunk(t, id, 1, stores("p", 5, 5));
		await callOk("POST", `/v1/geofences/imports/${id}/commit`, { key: t.secretKey });
		const userId = unique("u");
		await putUser(t, userId);
		const w = walker();
		const inside = offset(NANTES, 0, 400 * 7);
		expect(eventsOf(await postPings(t, userId, [w.at(offset(inside, 300, 0)), w.at(inside)]))).toEqual([
			"enter:p-7",
		]);
	});

	it("refuses a bad chunk with every bad feature, keeps the good chunks, and resumes", async () => {
		const t = await createTenant("imp-bad");
		const id = await openImport(t);
		await putChunk(t, id, 0, stores("b", 0, 10));
		const bad = [
			...stores("b", 10, 3),
			{ type: "Feature", geometry: { type: "Point", coordinates: [1, 2] } },
		];
		const res = await putChunk(t, id, 1, bad);
		const problem = await expectProblem(res, 422, "invalid_geofences");
		expect(problem.errors?.some((e) => (e as { index?: number }).index === 3)).toBe(true);
		let view = await callOk<ImportView>("GET", `/v1/geofences/imports/${id}`, { key: t.secretKey });
		expect(view.chunks).toEqual([{ n: 0, features: 10 }]);
		// The chunk sent again, fixed; then chunk 0 sent again replaces itself (a retry).
		expect((await putChunk(t, id, 1, stores("b", 10, 3))).status).toBe(200);
		expect((await putChunk(t, id, 0, stores("b", 0, 10))).status).toBe(200);
		view = await callOk<ImportView>("GET", `/v1/geofences/imports/${id}`, { key: t.secretKey });
		expect(view.features).toBe(13);
		expect(await callOk("POST", `/v1/geofences/imports/${id}/commit`, { key: t.secretKey })).toMatchObject({
			created: 13,
		});
	});

	it("refuses a commit whose chunks share an id, storing nothing and staying open", async () => {
		const t = await createTenant("imp-dup");
		const id = await openImport(t);
		await putChunk(t, id, 0, stores("d", 0, 5));
		await putChunk(t, id, 1, stores("d", 4, 5));
		const problem = await expectProblem(
			await call("POST", `/v1/geofences/imports/${id}/commit`, { key: t.secretKey }),
			422,
			"invalid_geofences",
		);
		expect(JSON.stringify(problem.errors)).toContain("d-4");
		expect(await listedIds(t)).toEqual([]);
		await putChunk(t, id, 1, stores("d", 5, 4));
		expect(await callOk("POST", `/v1/geofences/imports/${id}/commit`, { key: t.secretKey })).toMatchObject({
			created: 9,
		});
	});

	it("keeps tenants apart, checks ids and keys, and deletes an open import", async () => {
		const a = await createTenant("imp-a");
		const b = await createTenant("imp-b");
		const id = await openImport(a);
		await putChunk(a, id, 0, stores("a", 0, 2));
		// Another tenant's key: 404 everywhere, and its commit changes nothing for either tenant.
		await expectProblem(await call("GET", `/v1/geofences/imports/${id}`, { key: b.secretKey }), 404);
		await expectProblem(await putChunk(b, id, 1, stores("x", 0, 1)), 404);
		await expectProblem(await call("POST", `/v1/geofences/imports/${id}/commit`, { key: b.secretKey }), 404);
		await expectProblem(await call("DELETE", `/v1/geofences/imports/${id}`, { key: b.secretKey }), 404);
		// No key, the publishable key, a malformed id or chunk number.
		await expectProblem(await call("POST", "/v1/geofences/imports", { body: {} }), 401);
		await expectProblem(
			await call("POST", "/v1/geofences/imports", { key: a.publishableKey, body: {} }),
			401,
		);
		await expectProblem(await call("GET", "/v1/geofences/imports/nope", { key: a.secretKey }), 422);
		await expectProblem(await putChunk(a, id, 10_000, stores("a", 2, 1)), 422);
		await expectProblem(
			await call("PUT", `/v1/geofences/imports/${id}/chunks/-1`, {
				key: a.secretKey,
				body: featureCollection([]),
			}),
			422,
		);
		// An empty import can't be committed.
		const empty = await openImport(a);
		await expectProblem(
			await call("POST", `/v1/geofences/imports/${empty}/commit`, { key: a.secretKey }),
			422,
			"empty_import",
		);
		expect((await call("DELETE", `/v1/geofences/imports/${id}`, { key: a.secretKey })).status).toBe(204);
		await expectProblem(await call("GET", `/v1/geofences/imports/${id}`, { key: a.secretKey }), 404);
		expect(await listedIds(a)).toEqual([]);
		expect(await listedIds(b)).toEqual([]);
	});
});
