import { describe, expect, it } from "vitest";
import { createNeighbourhood, leafOfKey } from "../../src/geo/neighbourhood.js";

describe("a neighbourhood copy across the replicas of its leaf", () => {
	it("names the leaf of a shard key", () => {
		expect(leafOfKey("851f8563fffffff/0")).toBe("851f8563fffffff");
		expect(leafOfKey("851f8563fffffff/15")).toBe("851f8563fffffff");
	});

	it("covers pings routed to another object of the same leaf, not to another leaf or version", () => {
		const stamp = { shard: "851f8563fffffff/0", version: 3, lat: 48.86, lng: 2.34, radius: 3000 };
		const n = createNeighbourhood(stamp, []);
		expect(n.covers(48.861, 2.341, "851f8563fffffff/0", 3)).toBe(true);
		expect(n.covers(48.861, 2.341, "851f8563fffffff/3", 3)).toBe(true);
		expect(n.covers(48.861, 2.341, "851f8567fffffff/0", 3)).toBe(false);
		expect(n.covers(48.861, 2.341, "851f8563fffffff/3", 4)).toBe(false);
		// Beyond radius minus the shard buffer from the centre: not covered.
		expect(n.covers(48.9, 2.34, "851f8563fffffff/0", 3)).toBe(false);
	});
});
