/**
 * Request bodies are bounded before they are read whole: a chunked body past its route's limit
 * is refused with 413 after about the limit (the rest is never pulled), JSON nested past the
 * depth cap is a 400 before it is parsed deeper, a string that is not well-formed Unicode (a lone
 * surrogate from a `\ud800` escape, keys included) is a 400 naming its path, and an upload with
 * more JSON arrays and objects than a Worker can hold is a 413. None of them is a 5xx and none
 * changes anything.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH } from "../../worker/http.js";
import { MAX_UPLOAD_BYTES, MAX_UPLOAD_CONTAINERS } from "../../worker/routes/geofences.js";
import {
	call,
	callOk,
	createTenant,
	expectProblem,
	getUser,
	putUser,
	squareFence,
	type Tenant,
	unique,
	uploadFences,
	userKey,
} from "../worker/helpers";
import { countingStream, nested, sendStream } from "./helpers-limits";

/** The settings route's limit (the default of `body()` in worker/http.ts). */
const SETTINGS_LIMIT = 64 * 1024;
/** What may sit between the test's stream and the Worker's reader: a few 64 KiB chunks (it pulls limit + one). */
const PIPE_SLACK = 256 * 1024;
const HUGE = 300 * 1024 * 1024;
const MADRID = { lat: 40.4168, lng: -3.7038 };

let t: Tenant;

beforeAll(async () => {
	t = await createTenant("limits");
	await callOk("PUT", "/v1/settings", { key: t.secretKey, body: { maxAccuracyMeters: 77 } });
	await uploadFences(t, [squareFence("limits-kept", MADRID, 100, { name: "Kept" })]);
});

async function settings(): Promise<Record<string, unknown>> {
	return callOk("GET", "/v1/settings", { key: t.secretKey });
}

async function fenceIds(): Promise<string[]> {
	const page = await callOk<{ features: { properties: { id: string } }[] }>(
		"GET",
		"/v1/geofences?limit=1000",
		{
			key: t.secretKey,
		},
	);
	return page.features.map((f) => f.properties.id);
}

describe("a chunked body past its route's limit", () => {
	it("is refused 413 by PUT /v1/settings after about the limit, not read to the end", async () => {
		const before = await settings();
		const body = countingStream(HUGE);
		const res = await sendStream("PUT", "/v1/settings", t.secretKey, body.stream);
		await expectProblem(res, 413, "body_too_large");
		expect(body.pulled()).toBeGreaterThan(SETTINGS_LIMIT);
		expect(body.pulled()).toBeLessThan(SETTINGS_LIMIT + PIPE_SLACK);
		expect(await settings()).toEqual(before);
	});

	it("is refused 413 by PUT /v1/geofences after about the upload limit, not read to the end", async () => {
		const body = countingStream(HUGE, { prefix: '{"type":"FeatureCollection","features":[' });
		const res = await sendStream("PUT", "/v1/geofences", t.secretKey, body.stream);
		await expectProblem(res, 413, "body_too_large");
		expect(body.pulled()).toBeGreaterThan(MAX_UPLOAD_BYTES);
		expect(body.pulled()).toBeLessThan(MAX_UPLOAD_BYTES + PIPE_SLACK);
		expect(await fenceIds()).toEqual(["limits-kept"]);
	});

	it("is refused at once when Content-Length declares more than the limit", async () => {
		const res = await call("PUT", "/v1/settings", {
			key: t.secretKey,
			raw: `{"maxAccuracyMeters": 5${" ".repeat(SETTINGS_LIMIT)}}`,
		});
		await expectProblem(res, 413, "body_too_large");
		expect((await settings()).maxAccuracyMeters).toBe(77);
	});

	it("is read whole and accepted when it stays within the limit", async () => {
		const text = `{"maxAccuracyMeters": 78${" ".repeat(SETTINGS_LIMIT - 40)}}`;
		const body = countingStream(text.length, { prefix: text, chunkBytes: 1024 });
		const res = await sendStream("PUT", "/v1/settings", t.secretKey, body.stream);
		expect(res.status, await res.clone().text()).toBe(200);
		expect(body.pulled()).toBe(text.length);
		expect((await settings()).maxAccuracyMeters).toBe(78);
		await callOk("PUT", "/v1/settings", { key: t.secretKey, body: { maxAccuracyMeters: 77 } });
	});
});

describe("JSON nesting", () => {
	it("answers 400 json_too_deep for 2,000 levels in PUT /v1/settings and changes nothing", async () => {
		const before = await settings();
		for (const kind of ["object", "array"] as const) {
			const res = await call("PUT", "/v1/settings", { key: t.secretKey, raw: nested(2_000, kind) });
			await expectProblem(res, 400, "json_too_deep");
		}
		const inField = `{"caps": ${nested(2_000)}}`;
		await expectProblem(
			await call("PUT", "/v1/settings", { key: t.secretKey, raw: inField }),
			400,
			"json_too_deep",
		);
		expect(await settings()).toEqual(before);
	});

	it("answers 400 json_too_deep for attributes 2,000 deep in PUT /v1/users/{id} and changes nothing", async () => {
		const userId = unique("deep");
		await putUser(t, userId, { firstName: "Ada" });
		const before = await getUser(t, userId);
		for (const kind of ["object", "array"] as const) {
			const raw = `{"consent": {"location": true, "push": true}, "attributes": {"x": ${nested(2_000, kind)}}}`;
			const res = await call("PUT", `/v1/users/${userId}`, { key: await userKey(t, userId), raw });
			await expectProblem(res, 400, "json_too_deep");
		}
		expect(await getUser(t, userId)).toEqual(before);
	});

	it(`refuses one level past ${64} and no sooner`, async () => {
		expect(MAX_JSON_DEPTH).toBe(64);
		// 64 levels: parsed, then refused by the schema (422), not by the depth cap.
		const atCap = await call("PUT", "/v1/settings", { key: t.secretKey, raw: nested(MAX_JSON_DEPTH) });
		await expectProblem(atCap, 422, "validation_failed");
		const past = await call("PUT", "/v1/settings", { key: t.secretKey, raw: nested(MAX_JSON_DEPTH + 1) });
		await expectProblem(past, 400, "json_too_deep");
		// Brackets inside strings are text, not nesting.
		const inString = `{"timezone": "${"[{".repeat(1_000)}"}`;
		await expectProblem(await call("PUT", "/v1/settings", { key: t.secretKey, raw: inString }), 422);
	});
});

describe("well-formed Unicode", () => {
	it("answers 400 malformed_unicode for a lone surrogate in a first name, naming the path, and changes nothing", async () => {
		const userId = unique("surrogate");
		await putUser(t, userId, { firstName: "Ada" });
		const before = await getUser(t, userId);
		for (const name of ["\\ud800", "Ad\\udfffa", "\\udc00\\ud800", "x\\ud83d"]) {
			const raw = `{"consent": {"location": true, "push": true}, "firstName": "${name}"}`;
			const res = await call("PUT", `/v1/users/${userId}`, { key: await userKey(t, userId), raw });
			const problem = await expectProblem(res, 400, "malformed_unicode");
			expect(problem.errors?.[0]?.path, name).toEqual(["firstName"]);
		}
		expect(await getUser(t, userId)).toEqual(before);
	});

	it("checks keys too, and values deep in arrays", async () => {
		const userId = unique("surrogate-key");
		await putUser(t, userId);
		const key = await userKey(t, userId);
		const inKey = `{"consent": {"location": true, "push": true}, "attributes": {"\\udc00x": 1}}`;
		const p1 = await expectProblem(
			await call("PUT", `/v1/users/${userId}`, { key, raw: inKey }),
			400,
			"malformed_unicode",
		);
		expect(p1.errors?.[0]?.path).toEqual(["attributes", "\ufffdx"]);
		const inArray = `{"consent": {"location": true, "push": true}, "attributes": {"tags": [["ok", "\\ud800"]]}}`;
		const p2 = await expectProblem(
			await call("PUT", `/v1/users/${userId}`, { key, raw: inArray }),
			400,
			"malformed_unicode",
		);
		expect(p2.errors?.[0]?.path).toEqual(["attributes", "tags", 0, 1]);
	});

	it("answers 400 for a lone surrogate in settings and in a geofence name, storing nothing", async () => {
		const before = await settings();
		const res = await call("PUT", "/v1/settings", {
			key: t.secretKey,
			raw: '{"timezone": "Europe/\\ud800"}',
		});
		await expectProblem(res, 400, "malformed_unicode");
		expect(await settings()).toEqual(before);

		const fence = JSON.stringify({
			type: "FeatureCollection",
			features: [squareFence("limits-bad-name", MADRID, 50, { name: "SURROGATE" })],
		}).replace("SURROGATE", "\\udbff");
		await expectProblem(
			await call("PUT", "/v1/geofences", { key: t.secretKey, raw: fence }),
			400,
			"malformed_unicode",
		);
		expect(await fenceIds()).toEqual(["limits-kept"]);
	});

	it("accepts a surrogate pair written as escapes, and raw non-ASCII text", async () => {
		const userId = unique("pair");
		await putUser(t, userId);
		const raw = '{"consent": {"location": true, "push": true}, "firstName": "\\ud83d\\ude00 Zoë"}';
		await callOk("PUT", `/v1/users/${userId}`, { key: await userKey(t, userId), raw });
		expect(JSON.stringify(await getUser(t, userId))).toContain("😀 Zoë");
	});
});

describe("JSON value budget", () => {
	it("refuses an upload with more arrays and objects than a Worker can hold with 413, storing nothing", async () => {
		// 700,000 two-number positions in about 4 MB: far under the byte limit, far over what
		// the parsed tree (about 70 bytes a position, twice during validation) may take.
		const positions = "[0,0],".repeat(MAX_UPLOAD_CONTAINERS + 200_000);
		const raw = `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"dense"},"geometry":{"type":"Polygon","coordinates":[[${positions}[0,0]]]}}]}`;
		expect(raw.length).toBeLessThan(MAX_UPLOAD_BYTES);
		const res = await call("PUT", "/v1/geofences", { key: t.secretKey, raw });
		await expectProblem(res, 413, "json_too_large");
		expect(await fenceIds()).toEqual(["limits-kept"]);
	});
});
