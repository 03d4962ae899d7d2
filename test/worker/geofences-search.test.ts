/**
 * GET /v1/geofences?q=&tag=: search over every stored fence (not one page), paged by the same
 * cursor, tenant-scoped; and the 422 of an upload with no features says so.
 */
import { describe, expect, it } from "vitest";
import { call, callOk, circleFence, createTenant, featureCollection, offset, uploadFences } from "./helpers";

const BORDEAUX = { lat: 44.8378, lng: -0.5792 };

interface Page {
	features: { properties: { id: string; name: string; tags: string[] } }[];
	nextCursor: string | null;
}

async function ids(key: string, query: string): Promise<string[]> {
	const out: string[] = [];
	let cursor: string | null = null;
	for (let i = 0; i < 20; i++) {
		const page: Page = await callOk<Page>(
			"GET",
			`/v1/geofences?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
			{ key },
		);
		out.push(...page.features.map((f) => f.properties.id));
		cursor = page.nextCursor;
		if (!cursor) return out;
	}
	throw new Error("too many pages");
}

describe("GET /v1/geofences search", () => {
	it("finds fences by id or name text and by tag, across pages, in one tenant only", async () => {
		const t = await createTenant("search");
		const other = await createTenant("search-other");
		const stores = [
			circleFence("bx-001", offset(BORDEAUX, 0, 0), 50, {
				name: "Chartrons Market",
				tags: ["bordeaux", "market"],
			}),
			circleFence("bx-002", offset(BORDEAUX, 500, 0), 50, { name: "Saint-Pierre", tags: ["bordeaux"] }),
			circleFence("bx-003", offset(BORDEAUX, 1000, 0), 50, { name: "Gare St-Jean 100%", tags: ["station"] }),
			circleFence("market-hall", offset(BORDEAUX, 1500, 0), 50, { name: "Capucins", tags: ["market_hall"] }),
			...Array.from({ length: 7 }, (_, i) =>
				circleFence(`zz-${i}`, offset(BORDEAUX, 0, 300 * (i + 1)), 40, {
					name: `Kiosk market ${i}`,
					tags: ["kiosk"],
				}),
			),
		];
		await uploadFences(t, stores);
		await uploadFences(other, [
			circleFence("bx-009", BORDEAUX, 50, { name: "Chartrons Other", tags: ["bordeaux"] }),
		]);

		// Name, case-insensitive; id; both kinds in one answer, in id order, over several pages.
		expect(await ids(t.secretKey, "q=CHARTRONS")).toEqual(["bx-001"]);
		expect(await ids(t.secretKey, "q=bx-00&limit=2")).toEqual(["bx-001", "bx-002", "bx-003"]);
		expect(await ids(t.secretKey, "q=market&limit=3")).toEqual([
			"bx-001",
			"market-hall",
			...Array.from({ length: 7 }, (_, i) => `zz-${i}`),
		]);
		// The text is matched literally: % and _ are not wildcards.
		expect(await ids(t.secretKey, `q=${encodeURIComponent("100%")}`)).toEqual(["bx-003"]);
		expect(await ids(t.secretKey, "q=t_p")).toEqual([]);
		// Tags match whole tags only; with q, both must hold.
		expect(await ids(t.secretKey, "tag=market")).toEqual(["bx-001"]);
		expect(await ids(t.secretKey, "tag=bordeaux")).toEqual(["bx-001", "bx-002"]);
		expect(await ids(t.secretKey, "tag=bordeaux&q=saint")).toEqual(["bx-002"]);
		expect(await ids(t.secretKey, "tag=kiosk&limit=4")).toHaveLength(7);
		expect(await ids(t.secretKey, "tag=nowhere")).toEqual([]);
		// Without filters, everything (the other tenant's store is never listed).
		expect(await ids(t.secretKey, "limit=5")).toHaveLength(stores.length);
		expect(await ids(other.secretKey, "q=chartrons")).toEqual(["bx-009"]);
	});

	it("refuses an empty or oversized search with 422 naming the parameter", async () => {
		const t = await createTenant("search-bad");
		for (const [query, param] of [
			["q=", "q"],
			[`q=${"x".repeat(201)}`, "q"],
			["tag=", "tag"],
		] as const) {
			const res = await call("GET", `/v1/geofences?${query}`, { key: t.secretKey });
			expect(res.status, query).toBe(422);
			const body = (await res.json()) as { errors?: { path: (string | number)[] }[] };
			expect(body.errors?.[0]?.path, query).toEqual([param]);
		}
	});

	it("an upload with no features says the collection is invalid, not a feature", async () => {
		const t = await createTenant("empty-upload");
		const res = await call("PUT", "/v1/geofences", { key: t.secretKey, body: featureCollection([]) });
		expect(res.status).toBe(422);
		const body = (await res.json()) as { code: string; detail: string };
		expect(body.code).toBe("invalid_geofences");
		expect(body.detail).toBe("The upload is not a valid FeatureCollection; nothing was stored.");
	});
});
