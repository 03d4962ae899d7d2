import { afterEach, describe, expect, it, vi } from "vitest";
import { errorCounts, logError, logInfo } from "../../worker/log.js";

describe("structured logs", () => {
	afterEach(() => vi.restoreAllMocks());

	it("writes one JSON line an error, with its event, a per-event count, the error's name and a bounded message", () => {
		const lines: string[] = [];
		vi.spyOn(console, "error").mockImplementation((line: string) => lines.push(line));
		const before = errorCounts().test_failure ?? 0;
		logError("test_failure", new TypeError("x".repeat(1000)), { tenantId: "tn_1" });
		logError("test_failure", "plain", { key: "abc/0" });
		const [a, b] = lines.map((l) => JSON.parse(l));
		expect(a).toMatchObject({ level: "error", event: "test_failure", count: before + 1, tenantId: "tn_1" });
		expect(a.error.name).toBe("TypeError");
		expect(a.error.message).toHaveLength(300);
		expect(b).toMatchObject({ count: before + 2, key: "abc/0", error: { name: "string", message: "plain" } });
		expect(errorCounts().test_failure).toBe(before + 2);
	});

	it("writes info records as JSON without counting them", () => {
		const lines: string[] = [];
		vi.spyOn(console, "log").mockImplementation((line: string) => lines.push(line));
		logInfo("test_info", { replicas: 2 });
		expect(JSON.parse(lines[0] ?? "")).toEqual({ level: "info", event: "test_info", replicas: 2 });
		expect(errorCounts().test_info).toBeUndefined();
	});
});
