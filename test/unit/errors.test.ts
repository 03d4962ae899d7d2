/**
 * One problem error type: the pure core's errors are AppErrors with a stable code and status,
 * and the Worker's one mapping (worker/http.ts toProblem) answers them as problem documents.
 */
import { describe, expect, it, vi } from "vitest";
import { AppError, INTERNAL_STATUS } from "../../src/errors.js";
import { EventIdError } from "../../src/events/id.js";
import { parseTemplate, TemplateError } from "../../src/offers/template.js";
import { FcmError } from "../../src/push/fcm.js";
import { PushError } from "../../src/push/payload.js";
import { CartError } from "../../src/rules/cart.js";
import { SignatureError, signPayload } from "../../src/webhook/signature.js";
import { toProblem } from "../../worker/http.js";

const caught = async (f: () => unknown): Promise<unknown> => {
	try {
		await f();
	} catch (e) {
		return e;
	}
	throw new Error("expected a throw");
};

describe("the core's errors are AppErrors", () => {
	const cases: [AppError, string, string, number][] = [
		[new SignatureError("invalid_signing_input", "m"), "SignatureError", "invalid_signing_input", 500],
		[new PushError("payload_too_large", "m"), "PushError", "payload_too_large", 500],
		[new FcmError("oauth_failed", "m"), "FcmError", "oauth_failed", 500],
		[new TemplateError("unclosed_tag", "m"), "TemplateError", "unclosed_tag", 422],
		[new CartError("invalid_cart_event", "m"), "CartError", "invalid_cart_event", 422],
		[new EventIdError("m"), "EventIdError", "event_id_overflow", 503],
	];
	for (const [err, name, code, status] of cases) {
		it(`${name}: name, code, status, message`, () => {
			expect(err).toBeInstanceOf(AppError);
			expect(err).toBeInstanceOf(Error);
			expect(err.name).toBe(name);
			expect(err.code).toBe(code);
			expect(err.status).toBe(status);
			expect(err.message).toBe("m");
		});
	}

	it("push and FCM errors default their message to the code and keep a cause", () => {
		const cause = new Error("under");
		const p = new PushError("invalid_topic", undefined, { cause });
		expect(p.message).toBe("invalid_topic");
		expect(p.cause).toBe(cause);
		const f = new FcmError("invalid_service_account", undefined, { cause });
		expect(f.message).toBe("invalid_service_account");
		expect(f.cause).toBe(cause);
	});

	it("only an event id overflow asks to retry", () => {
		expect(new EventIdError("m").retryAfterSeconds).toBe(1);
		expect(new CartError("invalid_cart_event", "m").retryAfterSeconds).toBeUndefined();
	});

	it("the functions throw them", async () => {
		const t = await caught(() => parseTemplate("{{ x"));
		expect(t).toBeInstanceOf(TemplateError);
		expect(t).toMatchObject({ code: "unclosed_tag", status: 422 });
		const s = await caught(() => signPayload("", "{}", 1));
		expect(s).toBeInstanceOf(SignatureError);
		expect(s).toMatchObject({ code: "invalid_signing_input", status: INTERNAL_STATUS });
	});
});

describe("toProblem", () => {
	it("answers a 422 core error with its code and message", async () => {
		const res = toProblem(new TemplateError("unknown_filter", 'unknown filter "x"'));
		expect(res.status).toBe(422);
		expect(res.headers.get("content-type")).toBe("application/problem+json");
		expect(await res.json()).toEqual({
			type: "urn:edge-offers:problem:unknown_filter",
			title: "Unprocessable Content",
			status: 422,
			code: "unknown_filter",
			detail: 'unknown filter "x"',
		});
	});

	it("answers a 503 core error with Retry-After", async () => {
		const res = toProblem(new EventIdError("full"));
		expect(res.status).toBe(503);
		expect(res.headers.get("retry-after")).toBe("1");
		expect(await res.json()).toMatchObject({ code: "event_id_overflow" });
	});

	it("answers a status 500 error as internal, its detail only logged", async () => {
		const log = vi.spyOn(console, "error").mockImplementation(() => {});
		try {
			const res = toProblem(new FcmError("invalid_service_account", "private_key is not a PKCS#8 PEM"));
			expect(res.status).toBe(500);
			const body = await res.json();
			expect(body).toMatchObject({ code: "internal", detail: "Something went wrong on our side." });
			expect(JSON.stringify(body)).not.toContain("PKCS");
			// Logged as one structured line (worker/log.ts), with the error's name and message.
			expect(log).toHaveBeenCalledTimes(1);
			const line = JSON.parse(String(log.mock.calls[0]?.[0]));
			expect(line).toMatchObject({
				level: "error",
				event: "unhandled",
				error: { name: "FcmError", message: "private_key is not a PKCS#8 PEM" },
			});
		} finally {
			log.mockRestore();
		}
	});

	it("keeps an AppError's own status, code and Retry-After", async () => {
		const res = toProblem(new AppError("rate_limited", 429, "Too many.", undefined, 10));
		expect(res.status).toBe(429);
		expect(res.headers.get("retry-after")).toBe("10");
		expect(await res.json()).toMatchObject({ code: "rate_limited", detail: "Too many." });
	});
});
