/**
 * Properties of the person core (src/person/step.ts) over random sequences of inputs, driven
 * the way the shell drives it (plan, lookup, step, deliver, step the results):
 * - caps (per day, per week), the minimum interval and quiet hours are never broken;
 * - cooldowns per campaign and fence hold;
 * - each trigger has at most one winner, exactly one when another campaign lost on priority,
 *   and every offer sent has exactly one send effect;
 * - erasure leaves the tombstone only, and no effect that names the person or their data;
 * - the same inputs replayed give the same states, effects and replies, and a step never
 *   changes the state it was given;
 * - campaignsNeeded never says "no campaigns" for a batch that fires an event, and when it says
 *   so, the campaigns would have changed nothing.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
	type DecisionRecord,
	type DeliveryOutcome,
	type DeliveryResult,
	emptyState,
	type PersonInput,
	type PersonState,
	type StepResult,
	step,
} from "../../src/person/index.js";
import { isQuietTime } from "../../src/pressure/policy.js";
import type { Campaign } from "../../src/schemas/campaign.js";
import type { Settings } from "../../src/schemas/settings.js";
import {
	allRules,
	campaign,
	deepFreeze,
	effectsOf,
	fence,
	inside,
	pingsInput,
	registered,
	SETTINGS,
	T0,
	TENANT,
	USER,
} from "./person-fixtures.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const FENCES = {
	f1: fence("f1", { dwellSeconds: 120 }),
	f2: fence("f2"),
	f3: fence("f3", { tags: ["pharmacy"] }),
};
const FENCE_IDS = Object.keys(FENCES);

const GEOFENCE_CAMPAIGNS: Campaign[] = [
	campaign({
		id: "enter-a",
		priority: 2,
		cooldownSeconds: 7200,
		trigger: { type: "geofence", on: "enter", tags: ["grocery"] },
	}),
	campaign({
		id: "enter-b",
		priority: 1,
		holdoutPercent: 30,
		cooldownSeconds: 3 * 3600,
		trigger: { type: "geofence", on: "enter" },
	}),
	campaign({ id: "dwell", trigger: { type: "geofence", on: "dwell", dwellSeconds: 300 } }),
	campaign({ id: "exit", cooldownSeconds: 600, trigger: { type: "geofence", on: "exit" } }),
	campaign({
		id: "txn",
		cooldownSeconds: 1800,
		priority: 5,
		ignoreCaps: true,
		trigger: { type: "geofence", on: "enter", geofenceIds: ["f3"] },
	}),
];
const CART_CAMPAIGNS: Campaign[] = [
	campaign({ id: "chips", trigger: { type: "cart", whenCartHas: { skus: ["beer"] } } }),
	campaign({ id: "nuts", priority: 1, trigger: { type: "cart", whenCartHas: { skus: ["beer", "milk"] } } }),
];

type Command =
	| { kind: "pings"; steps: { back: number; where: string[] }[] }
	| { kind: "alarm" }
	| { kind: "cart"; type: "item_added" | "purchase" | "item_removed"; sku: string }
	| { kind: "consent"; location: boolean }
	| { kind: "device" }
	| { kind: "report" };

const command: fc.Arbitrary<Command> = fc.oneof(
	{
		weight: 5,
		arbitrary: fc.record({
			kind: fc.constant("pings" as const),
			steps: fc.array(fc.record({ back: fc.integer({ min: 0, max: 240 }), where: fc.subarray(FENCE_IDS) }), {
				minLength: 1,
				maxLength: 3,
			}),
		}),
	},
	{ weight: 2, arbitrary: fc.constant({ kind: "alarm" as const }) },
	{
		weight: 2,
		arbitrary: fc.record({
			kind: fc.constant("cart" as const),
			type: fc.constantFrom("item_added" as const, "purchase" as const, "item_removed" as const),
			sku: fc.constantFrom("beer", "milk"),
		}),
	},
	{ weight: 1, arbitrary: fc.record({ kind: fc.constant("consent" as const), location: fc.boolean() }) },
	{ weight: 1, arbitrary: fc.constant({ kind: "device" as const }) },
	{ weight: 1, arbitrary: fc.constant({ kind: "report" as const }) },
);

const outcome: fc.Arbitrary<DeliveryOutcome> = fc.oneof(
	{ weight: 6, arbitrary: fc.constant({ kind: "accepted" as const }) },
	{ weight: 1, arbitrary: fc.constant({ kind: "gone" as const }) },
	{ weight: 2, arbitrary: fc.constant({ kind: "retry" as const, retryAtMs: null }) },
	{ weight: 1, arbitrary: fc.constant({ kind: "failed" as const, code: "http_400" }) },
);

const hhmm = fc.integer({ min: 0, max: 23 }).map((h) => `${String(h).padStart(2, "0")}:00`);
const settings: fc.Arbitrary<Settings> = fc
	.record({
		perDay: fc.integer({ min: 0, max: 3 }),
		perWeek: fc.integer({ min: 0, max: 6 }),
		minIntervalSeconds: fc.constantFrom(0, 60, 1800, 7200),
		quietHours: fc.option(fc.record({ start: hhmm, end: hhmm }), { nil: null }),
	})
	.map(({ perDay, perWeek, ...rest }) => ({ ...SETTINGS, caps: { perDay, perWeek }, ...rest }));

const scenario = fc.record({
	settings,
	/** Time before each command, ms (up to 9 hours, so days and weeks go by). */
	plan: fc.array(fc.record({ wait: fc.integer({ min: 0, max: 9 * HOUR }), command }), {
		minLength: 1,
		maxLength: 40,
	}),
	outcomes: fc.array(outcome, { minLength: 1, maxLength: 8 }),
	seeds: fc.array(fc.stringMatching(/^[0-9a-f]{32}$/), { minLength: 1, maxLength: 4 }),
	jitter: fc.double({ min: 0, max: 0.999, noNaN: true }),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

interface Trace {
	state: PersonState;
	/** Every step's result, in order (first steps and delivery steps). */
	results: { at: number; result: StepResult }[];
	/** Every decision, with when it was made. */
	decisions: { at: number; record: DecisionRecord; sends: number }[];
}

/** Runs a scenario from a registered person, as the shell would; checks the invariants of each step on the way. */
function play(sc: Scenario, from: PersonState = registered(), t0 = T0): Trace {
	let s = from;
	let now = t0;
	let n = 0;
	const results: Trace["results"] = [];
	const decisions: Trace["decisions"] = [];
	const nextSeed = () => sc.seeds[n++ % sc.seeds.length] as string;
	const run = (input: PersonInput, stepSettings: Settings | null, campaigns: Campaign[]): void => {
		const before = JSON.stringify(s);
		// A step never changes the state it was given (it shares its parts with the state it
		// returns): frozen, a write into it throws where it is made.
		let r = step(deepFreeze(s), input, now, stepSettings);
		expect(JSON.stringify(s)).toBe(before);
		if (r.needs) {
			// Only an alarm may lack campaigns: for pings, campaignsNeeded must have said so.
			expect(input.kind).toBe("alarm");
			r = step(s, { ...input, campaigns } as PersonInput, now, stepSettings);
		}
		results.push({ at: now, result: r });
		s = r.state;
		const sends = effectsOf(r, "send");
		for (const record of effectsOf(r, "record").flatMap((e) => e.records))
			decisions.push({
				at: now,
				record,
				sends: sends.filter((x) => x.offer.offerId === record.offer?.id).length,
			});
		const copies: DeliveryResult[] = [];
		for (const e of sends)
			for (const t of e.offer.targets)
				copies.push({
					copy: {
						offerId: e.offer.offerId,
						deviceId: t.deviceId,
						message: { transport: t.transport, payload: "{}" } as never,
						topic: e.offer.topic,
						expiresAt: e.offer.expiresAt,
						attempt: 0,
						nextAt: now,
					},
					first: true,
					outcome: sc.outcomes[copies.length % sc.outcomes.length] as DeliveryOutcome,
					jitter: sc.jitter,
				});
		for (const e of effectsOf(r, "retry"))
			for (const copy of e.copies)
				copies.push({
					copy,
					first: false,
					outcome: sc.outcomes[copies.length % sc.outcomes.length] as DeliveryOutcome,
					jitter: sc.jitter,
				});
		if (copies.length > 0) {
			const d = step(deepFreeze(s), { kind: "delivered", results: copies }, now, null);
			results.push({ at: now, result: d });
			s = d.state;
		}
	};
	for (const { wait, command: c } of sc.plan) {
		now += wait;
		switch (c.kind) {
			case "pings": {
				const steps = c.steps.map((x) => ({ t: now - x.back * 1000, where: inside(...x.where) }));
				const input = pingsInput(s, steps, now, {
					campaigns: GEOFENCE_CAMPAIGNS,
					fences: FENCES,
					seed: nextSeed(),
					settings: sc.settings,
				});
				run(input, sc.settings, GEOFENCE_CAMPAIGNS);
				break;
			}
			case "alarm":
				run({ kind: "alarm", campaigns: null, fcm: true, seed: nextSeed() }, sc.settings, GEOFENCE_CAMPAIGNS);
				break;
			case "cart":
				run(
					{
						kind: "cart",
						tenantId: TENANT,
						userId: USER,
						event: {
							eventId: `e${now}-${n++}`,
							type: c.type,
							items: [{ sku: c.sku, price: 2 }],
							occurredAt: now,
						},
						rules: allRules(CART_CAMPAIGNS),
						fcm: true,
						seed: nextSeed(),
					},
					sc.settings,
					CART_CAMPAIGNS,
				);
				break;
			case "consent":
				run(
					{
						kind: "profile",
						tenantId: TENANT,
						userId: USER,
						profile: { firstName: "Ana", consent: { location: c.location, push: true } },
					},
					null,
					[],
				);
				break;
			case "device":
				run(
					{
						kind: "device",
						deviceId: "web-1",
						device: {
							platform: "web",
							webPush: { endpoint: "https://push.example/ep1", keys: { p256dh: "p", auth: "a" } },
						},
						maxDevices: 10,
					},
					null,
					[],
				);
				break;
			case "report":
				run(
					{
						kind: "offerReport",
						tenantId: TENANT,
						userId: USER,
						report: { type: "displayed", offerId: "o1", campaignId: "enter-a", variantId: "a", action: null },
					},
					null,
					[],
				);
				break;
		}
	}
	return { state: s, results, decisions };
}

const RUNS = { numRuns: 150 };

describe("the person core over random inputs", () => {
	it("never breaks the caps, the minimum interval or quiet hours", () => {
		let sent = 0;
		fc.assert(
			fc.property(scenario, (sc) => {
				const { settings: st } = sc;
				const counted = play(sc)
					.decisions.filter(
						(d) => d.record.decision.decision === "sent" && !d.record.decision.campaign.ignoreCaps,
					)
					.map((d) => d.at);
				sent += counted.length;
				for (const [i, t] of counted.entries()) {
					const before = counted.slice(0, i + 1);
					expect(before.filter((x) => t - x < DAY).length).toBeLessThanOrEqual(st.caps.perDay);
					expect(before.filter((x) => t - x < 7 * DAY).length).toBeLessThanOrEqual(st.caps.perWeek);
					const prev = counted[i - 1];
					if (prev !== undefined && st.minIntervalSeconds > 0)
						expect(t - prev).toBeGreaterThanOrEqual(st.minIntervalSeconds * 1000);
					expect(isQuietTime(t, st.quietHours, st.timezone)).toBe(false);
				}
			}),
			RUNS,
		);
		// Not vacuous: offers counted by the caps did go out.
		expect(sent).toBeGreaterThan(50);
	});

	it("sends at most one offer per trigger (exactly one when another lost on priority), each by one send", () => {
		let contested = 0;
		fc.assert(
			fc.property(scenario, (sc) => {
				const byTrigger = new Map<object, DecisionRecord["decision"][]>();
				for (const { record, sends } of play(sc).decisions) {
					const list = byTrigger.get(record.trigger) ?? [];
					list.push(record.decision);
					byTrigger.set(record.trigger, list);
					expect(sends).toBe(record.decision.decision === "sent" ? 1 : 0);
					if (record.decision.decision === "sent") expect(record.offer?.id).toMatch(/^[0-9a-f-]{36}$/);
					else expect(record.offer).toBeNull();
				}
				for (const decisions of byTrigger.values()) {
					const winners = decisions.filter((d) => d.decision !== "suppressed").length;
					expect(winners).toBeLessThanOrEqual(1);
					if (decisions.some((d) => d.decision === "suppressed" && d.reason === "lower_priority")) {
						contested += 1;
						expect(winners).toBe(1);
					}
				}
			}),
			RUNS,
		);
		expect(contested).toBeGreaterThan(10);
	});

	it("keeps every campaign's cooldown per fence (a holdout counts as an exposure)", () => {
		let repeats = 0;
		fc.assert(
			fc.property(scenario, (sc) => {
				const last = new Map<string, number>();
				for (const { at, record } of play(sc).decisions) {
					const d = record.decision;
					if (d.decision === "suppressed") continue;
					const prev = last.get(d.cooldownKey);
					if (prev !== undefined && d.campaign.cooldownSeconds > 0) {
						repeats += 1;
						expect(at - prev).toBeGreaterThanOrEqual(d.campaign.cooldownSeconds * 1000);
					}
					last.set(d.cooldownKey, at);
				}
			}),
			RUNS,
		);
		expect(repeats).toBeGreaterThan(10);
	});

	it("leaves nothing after erasure, and stores nothing for the erased person afterwards", () => {
		fc.assert(
			fc.property(scenario, scenario, (before, after) => {
				const lived = play(before);
				const at = T0 + 400 * DAY;
				const r = step(lived.state, { kind: "erase" }, at, null);
				expect(r.state).toEqual({ ...emptyState(), erasedAt: at });
				expect(r.effects).toEqual([
					{ type: "eraseAll" },
					{ type: "write", keys: ["erasedAt"] },
					{ type: "alarm", at: null },
				]);
				const text = JSON.stringify(r);
				for (const secret of [USER, TENANT, "web-1", "Ana", "push.example", ...FENCE_IDS])
					expect(text).not.toContain(secret);
				// Whatever comes next (short of the person's own app registering them again), nothing is kept.
				const plan = after.plan.filter((p) => p.command.kind !== "consent" && p.command.kind !== "device");
				const next = play({ ...after, plan }, r.state, at + 1);
				expect(next.state).toEqual(r.state);
				for (const { result } of next.results) expect(result.effects).toEqual([]);
			}),
			{ numRuns: 100 },
		);
	});

	it("gives the same states, effects and replies for the same inputs", () => {
		fc.assert(
			fc.property(scenario, (sc) => {
				const a = play(sc);
				const b = play(sc);
				expect(JSON.stringify(b.state)).toBe(JSON.stringify(a.state));
				expect(JSON.stringify(b.results)).toBe(JSON.stringify(a.results));
			}),
			{ numRuns: 100 },
		);
	});

	it("asks for campaigns for every batch that fires an event (and they change nothing otherwise)", () => {
		let fired = 0;
		fc.assert(
			fc.property(
				scenario,
				fc.array(
					fc.record({
						back: fc.integer({ min: 0, max: 600 }),
						where: fc.subarray(FENCE_IDS),
						near: fc.boolean(),
					}),
					{ minLength: 1, maxLength: 4 },
				),
				fc.integer({ min: 0, max: 2 * HOUR }),
				(sc, batch, wait) => {
					const { state } = play(sc);
					const now = T0 + sc.plan.reduce((t, p) => t + p.wait, 0) + wait;
					// "near": outside the fences named, but within the exit margin of every other.
					const steps = batch.map((x) => ({
						t: now - x.back * 1000,
						where: x.near ? { inside: x.where, distanceTo: () => 10 } : inside(...x.where),
					}));
					const withCampaigns = pingsInput(state, steps, now, {
						campaigns: GEOFENCE_CAMPAIGNS,
						fences: FENCES,
						settings: sc.settings,
					});
					const a = step(state, { ...withCampaigns, campaigns: null }, now, sc.settings);
					if (a.needs) {
						fired += 1;
						expect(withCampaigns.campaigns).not.toBeNull();
					} else {
						const b = step(state, { ...withCampaigns, campaigns: GEOFENCE_CAMPAIGNS }, now, sc.settings);
						expect(JSON.stringify(b)).toBe(JSON.stringify(a));
					}
				},
			),
			{ numRuns: 200 },
		);
		// Not vacuous: events fired in many of the batches.
		expect(fired).toBeGreaterThan(20);
	});
});
