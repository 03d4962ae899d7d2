import { describe, expect, it } from "vitest";
import { checkPushEndpoint, MAX_ENDPOINT_LENGTH } from "../../src/push/endpoint.js";

const prod = { allowInsecureLoopback: false };
const dev = { allowInsecureLoopback: true };

function codeOf(url: string, opts = prod): string {
	const result = checkPushEndpoint(url, opts);
	return result.ok ? "ok" : result.code;
}

describe("checkPushEndpoint in production", () => {
	it.each([
		"https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
		"https://android.googleapis.com/gcm/send/abc",
		"https://updates.push.services.mozilla.com/wpush/v2/gAAAAA",
		"https://push.services.mozilla.com/wpush/v1/abc",
		"https://db5p.notify.windows.com/w/?token=abc",
		"https://web.push.apple.com/QGh1c2g",
		"https://api.push.apple.com/3/device/abc",
		"https://FCM.googleapis.com:443/fcm/send/abc",
	])("accepts %s", (url) => {
		const result = checkPushEndpoint(url, prod);
		expect(result.ok).toBe(true);
		if (result.ok) expect(result.url).toBeInstanceOf(URL);
	});

	it.each([
		["", "invalid_url"],
		["not a url", "invalid_url"],
		["fcm.googleapis.com/fcm/send/abc", "invalid_url"],
		[" https://fcm.googleapis.com/fcm/send/abc", "invalid_url"],
		["https://fcm.googleapis.com/fcm/send/a\nb", "invalid_url"],
		["ftp://fcm.googleapis.com/x", "unsupported_scheme"],
		["javascript:alert(1)", "unsupported_scheme"],
		["data:text/plain,hi", "unsupported_scheme"],
		["file:///etc/passwd", "unsupported_scheme"],
		["http://fcm.googleapis.com/fcm/send/abc", "insecure_scheme"],
		["http://10.0.0.1/push", "insecure_scheme"],
		["https://user:pass@fcm.googleapis.com/fcm/send/abc", "credentials_in_url"],
		["https://user@fcm.googleapis.com/fcm/send/abc", "credentials_in_url"],
		["https://fcm.googleapis.com:8443/fcm/send/abc", "non_default_port"],
		["https://example.com/push", "unknown_push_service"],
		["https://evilfcm.googleapis.com/fcm/send/abc", "unknown_push_service"],
		["https://fcm.googleapis.com.evil.example/fcm/send/abc", "unknown_push_service"],
		["https://googleapis.com/fcm/send/abc", "unknown_push_service"],
		["https://10.0.0.1/push", "unknown_push_service"],
		["https://192.168.1.10/push", "unknown_push_service"],
		["https://169.254.169.254/latest/meta-data", "unknown_push_service"],
		["https://[fd00::1]/push", "unknown_push_service"],
		["https://127.0.0.1/push", "loopback_not_allowed"],
		["http://127.0.0.1:8787/push", "loopback_not_allowed"],
		["http://localhost:9000/push", "loopback_not_allowed"],
		["http://[::1]:9000/push", "loopback_not_allowed"],
	])("refuses %j with %s", (url, code) => {
		expect(codeOf(url)).toBe(code);
	});

	it("refuses endpoints longer than 2048 characters and accepts exactly 2048", () => {
		const base = "https://fcm.googleapis.com/fcm/send/";
		const exact = base + "a".repeat(MAX_ENDPOINT_LENGTH - base.length);
		expect(exact).toHaveLength(2048);
		expect(codeOf(exact)).toBe("ok");
		expect(codeOf(`${exact}a`)).toBe("url_too_long");
	});
});

describe("checkPushEndpoint with allowInsecureLoopback (local dev)", () => {
	it.each([
		"http://127.0.0.1:8787/push/d1",
		"https://127.0.0.1:9443/push/d1",
		"http://127.1.2.3/push",
		"http://localhost:3000/push",
		"http://[::1]:3000/push",
		// Every IPv4 spelling of loopback is canonicalised by the URL parser.
		"http://2130706433:3000/push",
		"http://0x7f.1:3000/push",
	])("accepts loopback %s", (url) => {
		expect(codeOf(url, dev)).toBe("ok");
	});

	it("still accepts known push services", () => {
		expect(codeOf("https://fcm.googleapis.com/fcm/send/abc", dev)).toBe("ok");
	});

	it.each([
		["http://10.0.0.1:8080/push", "insecure_scheme"],
		["http://192.168.0.2/push", "insecure_scheme"],
		["https://192.168.0.2/push", "unknown_push_service"],
		["http://0.0.0.0:8787/push", "insecure_scheme"],
		["http://[::ffff:127.0.0.1]/push", "insecure_scheme"],
		["http://localhost.evil.example/push", "insecure_scheme"],
		["http://user:pw@127.0.0.1:8787/push", "credentials_in_url"],
		["ws://127.0.0.1:8787/push", "unsupported_scheme"],
		["http://fcm.googleapis.com/fcm/send/abc", "insecure_scheme"],
	])("still refuses %j with %s", (url, code) => {
		expect(codeOf(url, dev)).toBe(code);
	});
});
