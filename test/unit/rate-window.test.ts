import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RateWindow } from "../../src/limits/rate-window.js";

describe("RateWindow", () => {
	it("averages the requests of the last N whole seconds", () => {
		const w = new RateWindow(10);
		const t0 = 1_700_000_000_000;
		for (let i = 0; i < 50; i++) w.hit(t0 + i * 10); // 50 in the first second
		expect(w.rate()).toBe(5);
		for (let s = 1; s < 10; s++) w.hit(t0 + s * 1000); // one more in each of the next 9 seconds
		expect(w.rate()).toBeCloseTo(5.9);
		// The first second leaves the window.
		expect(w.hit(t0 + 10_000)).toBeCloseTo(1);
		// A long pause forgets everything.
		expect(w.hit(t0 + 60_000)).toBeCloseTo(0.1);
	});

	it("reports the busiest second of the window", () => {
		const w = new RateWindow(10);
		const t0 = 1_700_000_000_000;
		for (let i = 0; i < 30; i++) w.hit(t0 + i);
		for (let i = 0; i < 7; i++) w.hit(t0 + 3000 + i);
		expect(w.peak()).toBe(30);
		expect(w.rate()).toBeCloseTo(3.7);
		w.hit(t0 + 10_500); // the first second leaves the window
		expect(w.peak()).toBe(7);
	});

	it("refuses a window that is not a positive whole number of seconds", () => {
		expect(() => new RateWindow(0)).toThrow(RangeError);
		expect(() => new RateWindow(1.5)).toThrow(RangeError);
	});

	it("equals a count of the hits in the window, for any increasing clock", () => {
		fc.assert(
			fc.property(
				fc.integer({ min: 1, max: 20 }),
				fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 300 }),
				(seconds, steps) => {
					const w = new RateWindow(seconds);
					const times: number[] = [];
					let t = 1_000_000_000;
					for (const step of steps) {
						t += step;
						times.push(t);
						const got = w.hit(t);
						const now = Math.floor(t / 1000);
						const inWindow = times.filter((x) => Math.floor(x / 1000) > now - seconds).length;
						expect(got).toBeCloseTo(inWindow / seconds, 9);
					}
				},
			),
		);
	});
});
