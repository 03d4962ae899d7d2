import { SELF } from "cloudflare:test";
import { expect, it } from "vitest";

it("web-push works in workerd", async () => {
	const res = await SELF.fetch("https://x/healthz");
	const j = await res.json();
	console.log(j);
	expect(res.status).toBe(200);
});
