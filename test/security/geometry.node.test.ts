/**
 * Finding 8, "Valid geometry only": invalid polygons that the upload validator used to accept and
 * that then matched pings wrongly. Each case is uploaded behind valid fences, so the 422 must name
 * the right feature, ring (and position where the fault sits on a vertex) and a stable code.
 */
import { describe, expect, it } from "vitest";
import type { Position } from "../../src/geo/types.js";
import { validateFeatureCollection } from "../../src/geo/validate.js";

// Local grid in thousandths of a degree around Paris; equal grid points are equal doubles, so the
// touches below are exact.
const at = (x: number, y: number): Position => [2.35 + x / 1000, 48.85 + y / 1000];

function ring(...points: Array<[number, number]>): Position[] {
	const out = points.map(([x, y]) => at(x, y));
	const first = out[0];
	if (first !== undefined) out.push([first[0], first[1]]);
	return out;
}

const box = (x0: number, y0: number, x1: number, y1: number): Position[] =>
	ring([x0, y0], [x1, y0], [x1, y1], [x0, y1]);

const polygon = (id: string, rings: Position[][]) => ({
	type: "Feature",
	geometry: { type: "Polygon", coordinates: rings },
	properties: { id },
});

const multiPolygon = (id: string, parts: Position[][][]) => ({
	type: "Feature",
	geometry: { type: "MultiPolygon", coordinates: parts },
	properties: { id },
});

const VALID = [
	polygon("ok-0", [box(0, 0, 10, 10)]),
	polygon("ok-1", [box(0, 0, 10, 10), box(2, 2, 4, 4)]),
	multiPolygon("ok-2", [[box(0, 0, 10, 10), box(2, 2, 8, 8)], [box(3, 3, 7, 7)]]),
];

/** The errors of an upload whose fourth feature (index 3) is the bad one. */
function refusal(bad: unknown) {
	const result = validateFeatureCollection({ type: "FeatureCollection", features: [...VALID, bad] });
	expect(result.ok).toBe(false);
	return result.ok ? [] : result.errors.map(({ index, id, path, code }) => ({ index, id, path, code }));
}

const C = ["features", 3, "geometry", "coordinates"];

describe("finding 8: invalid polygons are refused with feature, ring and code", () => {
	it("overlapping holes", () => {
		const bad = polygon("holes-overlap", [box(0, 0, 10, 10), box(1, 1, 5, 5), box(3, 3, 7, 7)]);
		expect(refusal(bad)).toEqual([{ index: 3, id: "holes-overlap", path: [...C, 2], code: "holes_overlap" }]);
	});

	it("a hole inside a hole", () => {
		const bad = polygon("nested", [box(0, 0, 10, 10), box(1, 1, 9, 9), box(3, 3, 5, 5)]);
		expect(refusal(bad)).toEqual([{ index: 3, id: "nested", path: [...C, 2], code: "nested_holes" }]);
	});

	it("a hole leaving its shell through two vertices", () => {
		// The shell has a V-shaped notch whose two side vertices (7.5, 7) and (8.5, 7) lie on the hole's
		// top edge: the hole crosses the shell there without any proper edge crossing, and every hole
		// vertex and edge midpoint is inside the shell, yet the hole covers the notch tip outside it.
		const shell = ring([0, 0], [10, 0], [10, 10], [9, 10], [8.5, 7], [8, 6], [7.5, 7], [7, 10], [0, 10]);
		const hole = ring([1, 7], [9.5, 7], [5, 2]);
		expect(refusal(polygon("leaves", [shell, hole]))).toEqual([
			{ index: 3, id: "leaves", path: [...C, 1], code: "hole_outside_shell" },
		]);
	});

	it("a hole equal to its shell (reversed and starting elsewhere)", () => {
		const shell = box(0, 0, 10, 10);
		const hole = ring([10, 10], [10, 0], [0, 0], [0, 10]);
		expect(refusal(polygon("same", [shell, hole]))).toEqual([
			{ index: 3, id: "same", path: [...C, 1], code: "duplicate_ring" },
		]);
	});

	it("overlapping MultiPolygon parts", () => {
		const bad = multiPolygon("parts", [[box(0, 0, 10, 10)], [box(5, 5, 15, 15)]]);
		expect(refusal(bad)).toEqual([{ index: 3, id: "parts", path: [...C, 1, 0], code: "parts_overlap" }]);
	});

	it("a MultiPolygon part inside another part, not in its hole", () => {
		const bad = multiPolygon("inside", [[box(0, 0, 10, 10), box(1, 1, 3, 3)], [box(5, 5, 7, 7)]]);
		expect(refusal(bad)).toEqual([{ index: 3, id: "inside", path: [...C, 1, 0], code: "parts_overlap" }]);
	});

	it("a hole touching its shell at two vertices (the interior falls apart)", () => {
		const hole = ring([0, 5], [5, 3], [10, 5], [5, 7]);
		expect(refusal(polygon("split", [box(0, 0, 10, 10), hole]))).toEqual([
			{ index: 3, id: "split", path: [...C, 1, 2], code: "disconnected_interior" },
		]);
	});

	it("a hole sharing an edge with its shell", () => {
		const hole = box(0, 2, 3, 4);
		expect(refusal(polygon("edge", [box(0, 0, 10, 10), hole]))).toEqual([
			{ index: 3, id: "edge", path: [...C, 1, 3], code: "shared_edge" },
		]);
	});

	it("still accepts a hole touching its shell at one vertex and a part in another part's hole", () => {
		const touching = polygon("touch", [box(0, 0, 10, 10), ring([0, 5], [3, 4], [3, 6])]);
		const island = multiPolygon("island", [
			[box(0, 0, 10, 10), box(2, 2, 8, 8)],
			[ring([2, 2], [7, 3], [3, 7])],
		]);
		const result = validateFeatureCollection({ type: "FeatureCollection", features: [touching, island] });
		expect(result.ok ? [] : result.errors).toEqual([]);
	});
});
