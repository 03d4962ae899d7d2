/** The pure parts of the commands: campaign files and their diff, event times and lines, tables. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { retryAfterSeconds } from "../../cli/api.js";
import { describePlan, diff, planApply, readCampaignFile } from "../../cli/commands/campaigns.js";
import { formatEvent, parseSince } from "../../cli/commands/events.js";
import { table } from "../../cli/table.js";

const yaml = `campaigns:
  - id: beer
    name: Cold beer
    trigger: {type: geofence, on: enter, tags: [beer]}
    variants:
      - {id: a, weight: 1, title: Beer, body: "-20%"}
  - id: bad
    name: Bad
    trigger:
      type: geofence
      on: sideways
    variants:
      - {id: a, weight: 1, title: t, body: b}
`;

describe("campaigns apply", () => {
	it("names each problem of the file by its line, and changes nothing", () => {
		expect(() => readCampaignFile("c.yaml", yaml)).toThrow(
			/^c\.yaml:11: bad: trigger\.on: .*\n1 problem\(s\); nothing was changed$/,
		);
		expect(() => readCampaignFile("c.json", '[{"name": "x"}]')).toThrow(/c\.json:1: campaign 1 has no id/);
		expect(() => readCampaignFile("c.json", '{"id": "x",\n "name": [}')).toThrow(
			/c\.json:2: not valid JSON or YAML/,
		);
	});

	it("the sample campaigns (one per trigger type) pass the service's schema", () => {
		const text = readFileSync("geofences/sample-campaigns.yaml", "utf8");
		const campaigns = readCampaignFile("geofences/sample-campaigns.yaml", text);
		expect(campaigns.map((c) => [c.id, (c.trigger as { type: string }).type])).toEqual([
			["beer-near-store", "geofence"],
			["chips-then-beer", "cart"],
		]);
	});

	it("fills the service's defaults, so an unchanged file plans nothing", () => {
		const [beer] = readCampaignFile("c.yaml", yaml.split("  - id: bad")[0] ?? "");
		expect(beer).toMatchObject({
			id: "beer",
			status: "active",
			priority: 0,
			holdoutPercent: 0,
			ttlSeconds: 1800,
		});
		const current = [{ ...beer }, { id: "other", name: "Other" }];
		const plan = planApply(beer ? [beer] : [], current as never);
		expect(plan).toMatchObject({ create: [], update: [], unchanged: ["beer"], untouched: ["other"] });
	});

	it("patches only the fields that differ and prints each change by path", () => {
		const [want] = readCampaignFile(
			"c.json",
			'{"id": "beer", "name": "Cold beer", "priority": 5, "trigger": {"type": "geofence", "on": "enter"}, "variants": [{"id": "a", "weight": 1, "title": "New", "body": "b"}]}',
		);
		const have = {
			...want,
			priority: 1,
			variants: [{ id: "a", weight: 1, title: "Old", body: "b" }],
			audience: { interest: "beer" },
		};
		const plan = planApply(want ? [want] : [], [have] as never);
		expect(plan.update[0]?.patch).toEqual({ priority: 5, variants: want?.variants, audience: null });
		expect(describePlan(plan)).toEqual([
			"~ update beer:",
			"    priority: 1 → 5",
			'    variants[0].title: "Old" → "New"',
			'    audience: {"interest":"beer"} → (none)',
		]);
		expect(diff([1, 2], [1, 2, 3])).toEqual([{ path: "(whole)", before: [1, 2], after: [1, 2, 3] }]);
	});
});

describe("events", () => {
	it("reads --since as a duration, an ISO time or epoch ms", () => {
		const now = Date.parse("2026-12-02T12:00:00Z");
		expect(parseSince("10m", now)).toBe("2026-12-02T11:50:00.000Z");
		expect(parseSince("2d", now)).toBe("2026-11-30T12:00:00.000Z");
		expect(parseSince("2026-12-01T08:00:00+01:00", now)).toBe("2026-12-01T07:00:00.000Z");
		expect(parseSince("0", now)).toBe("1970-01-01T00:00:00.000Z");
		expect(() => parseSince("yesterday", now)).toThrow(/--since/);
	});

	it("prints an event on one line with its data", () => {
		expect(
			formatEvent({
				id: "evt_1",
				type: "geofence.exited",
				createdAt: "2026-12-02T12:00:00.000Z",
				userId: "alice",
				data: { geofenceId: "s1", visitSeconds: 754 },
			}),
		).toBe("2026-12-02T12:00:00.000Z  geofence.exited   alice  geofenceId=s1 visitSeconds=754");
	});
});

describe("helpers", () => {
	it("aligns tables, numbers to the right", () => {
		expect(
			table(
				["id", "n"],
				[
					["a", 5],
					["bbb", 10],
				],
			).split("\n"),
		).toEqual(["id    n", "---  --", "a     5", "bbb  10"]);
	});

	it("waits as Retry-After says, within bounds", () => {
		expect(retryAfterSeconds("7")).toBe(7);
		expect(retryAfterSeconds(null, 3)).toBe(3);
		expect(retryAfterSeconds("100000")).toBe(120);
		expect(retryAfterSeconds(new Date(Date.now() + 5_000).toUTCString())).toBeGreaterThanOrEqual(4);
	});
});
