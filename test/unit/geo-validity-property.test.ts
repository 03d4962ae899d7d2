/**
 * The upload validator's verdict on polygon topology (valid or not) must be JTS's: jsts, the
 * JavaScript port of JTS, is the oracle here and only here (never imported by src/ or worker/).
 *
 * Inputs are snapped to a coarse grid of exactly representable coordinates (multiples of 1/64 of a
 * degree), so vertices land exactly on other rings' edges and vertices and degenerate touches
 * (at a vertex, along an edge, rings equal, holes meeting at a point) actually happen: on a fine
 * random grid they never would. The grid keeps clear of the service's own earlier rules, which
 * are not OGC's and which jsts knows nothing of: coordinates stay inside [-180, 180] x [-90, 90],
 * every ring spans far less than 180° of longitude (antimeridian rule), fences stay far below
 * 2,000 vertices, and every ring is closed with at least 4 positions (a shorter or open ring
 * would not even be a jsts LinearRing). Rings collapsing to fewer than 3 distinct vertices or to a
 * line are generated on purpose: both sides call them invalid (`degenerate_ring` here, "too few
 * points" or "self-intersection" there).
 */

import fc from "fast-check";
import GeometryFactory from "jsts/org/locationtech/jts/geom/GeometryFactory.js";
import GeoJSONReader from "jsts/org/locationtech/jts/io/GeoJSONReader.js";
import IsValidOp from "jsts/org/locationtech/jts/operation/valid/IsValidOp.js";
import { describe, expect, it } from "vitest";
import type { Position } from "../../src/geo/types.js";
import { validateFeatureCollection } from "../../src/geo/validate.js";
import { orient2d } from "../../src/geo/validity.js";

// Seeded so a failure replays exactly; change SEED to explore other cases.
const SEED = 0x0c5f_0008;
const reader = new GeoJSONReader(new GeometryFactory());

type Grid = [number, number];
type Geometry =
	| { type: "Polygon"; coordinates: Position[][] }
	| { type: "MultiPolygon"; coordinates: Position[][][] };

const toPosition = ([x, y]: Grid): Position => [2 + x / 64, 48 + y / 64];

/** A closed ring from open grid points. */
function close(points: Grid[]): Position[] {
	const ring = points.map(toPosition);
	const first = ring[0];
	if (first !== undefined) ring.push([first[0], first[1]]);
	return ring;
}

function jstsValid(geometry: Geometry): boolean {
	return new IsValidOp(reader.read(geometry)).isValid();
}

const GEOMETRY_CODES = new Set([
	"self_intersection",
	"degenerate_ring",
	"hole_outside_shell",
	"holes_overlap",
	"nested_holes",
	"disconnected_interior",
	"parts_overlap",
	"shared_edge",
	"duplicate_ring",
]);

/** Our verdict, checking on the way that a refusal is about geometry and points into it. */
function ourVerdict(geometry: Geometry): boolean {
	const result = validateFeatureCollection({
		type: "FeatureCollection",
		features: [{ type: "Feature", geometry, properties: { id: "f" } }],
	});
	if (result.ok) return true;
	for (const e of result.errors) {
		expect(GEOMETRY_CODES.has(e.code), `${e.code}: ${e.message}`).toBe(true);
		expect(e.path.slice(0, 4)).toEqual(["features", 0, "geometry", "coordinates"]);
	}
	return false;
}

// ---------------------------------------------------------------------------------------------
// Generators, on grid points; a box is [x0, y0, x1, y1].

type Box = [number, number, number, number];

const boxOf = (points: Grid[]): Box => [
	Math.min(...points.map((p) => p[0])),
	Math.min(...points.map((p) => p[1])),
	Math.max(...points.map((p) => p[0])),
	Math.max(...points.map((p) => p[1])),
];

const pointIn = ([x0, y0, x1, y1]: Box): fc.Arbitrary<Grid> =>
	fc.tuple(fc.integer({ min: x0, max: x1 }), fc.integer({ min: y0, max: y1 }));

// No filter: a flat box (from a flat shell) would never pass one. A flat draw is widened instead.
const rectangle = (box: Box): fc.Arbitrary<Grid[]> =>
	fc.tuple(pointIn(box), pointIn(box)).map(([a, b]): Grid[] => {
		const x0 = Math.min(a[0], b[0]);
		const y0 = Math.min(a[1], b[1]);
		const x1 = Math.max(a[0], b[0], x0 + 1);
		const y1 = Math.max(a[1], b[1], y0 + 1);
		return [
			[x0, y0],
			[x1, y0],
			[x1, y1],
			[x0, y1],
		];
	});

/** Points sorted by angle around their mean: usually a simple (star-shaped) ring, sometimes not. */
const byAngle = (points: Grid[]): Grid[] => {
	const cx = points.reduce((s, p) => s + p[0], 0) / points.length;
	const cy = points.reduce((s, p) => s + p[1], 0) / points.length;
	return [...points].sort((a, b) => Math.atan2(a[1] - cy, a[0] - cx) - Math.atan2(b[1] - cy, b[0] - cx));
};

const star = (box: Box): fc.Arbitrary<Grid[]> =>
	fc.array(pointIn(box), { minLength: 3, maxLength: 8 }).map(byAngle);

const anyRing = (box: Box): fc.Arbitrary<Grid[]> => fc.array(pointIn(box), { minLength: 3, maxLength: 6 });

const shape = (box: Box): fc.Arbitrary<Grid[]> =>
	fc.oneof(
		{ arbitrary: rectangle(box), weight: 4 },
		{ arbitrary: fc.tuple(pointIn(box), pointIn(box), pointIn(box)).map((t): Grid[] => [...t]), weight: 3 },
		{ arbitrary: star(box), weight: 4 },
		{ arbitrary: anyRing(box), weight: 1 },
	);

/** The same ring, maybe reversed and starting at another vertex. */
const sameRing = (points: Grid[]): fc.Arbitrary<Grid[]> =>
	fc.tuple(fc.boolean(), fc.nat(points.length - 1)).map(([reverse, shift]) => {
		const turned = [...points.slice(shift), ...points.slice(0, shift)];
		return reverse ? turned.reverse() : turned;
	});

/**
 * A smaller copy of a ring, scaled about its centre and snapped: inside a star-shaped ring (or
 * touching it where snapping lands on it), the way a hole sits in a shell or an island in a lake.
 */
const shrunk = (outer: Grid[]): fc.Arbitrary<Grid[]> =>
	fc.constantFrom(1 / 3, 1 / 2, 2 / 3).map((f) => {
		const cx = outer.reduce((s, p) => s + p[0], 0) / outer.length;
		const cy = outer.reduce((s, p) => s + p[1], 0) / outer.length;
		return outer.map(([x, y]): Grid => [Math.round(cx + (x - cx) * f), Math.round(cy + (y - cy) * f)]);
	});

/** Holes drawn in the shell's box (inside, crossing, touching), equal to the shell, or nested. */
const holes = (shell: Grid[], maxHoles: number): fc.Arbitrary<Grid[][]> =>
	fc.integer({ min: 0, max: maxHoles }).chain((count) => {
		const box = boxOf(shell);
		// A shrunk copy pinned back onto the shell at one or two vertices: touches at one point
		// (valid) or two (the interior falls apart).
		const touching = fc
			.tuple(shrunk(shell), fc.subarray([...shell.keys()], { minLength: 1, maxLength: 2 }))
			.map(([inner, pinned]) => inner.map((p, k): Grid => (pinned.includes(k) ? (shell[k] ?? p) : p)));
		const one = (previous: Grid[] | undefined): fc.Arbitrary<Grid[]> =>
			fc.oneof(
				{ arbitrary: shape(box), weight: 3 },
				{ arbitrary: touching, weight: 4 },
				{ arbitrary: sameRing(shell), weight: 1 },
				{ arbitrary: shrunk(shell), weight: 2 },
				{ arbitrary: shrunk(previous ?? shell), weight: 2 },
			);
		let acc: fc.Arbitrary<Grid[][]> = fc.constant([]);
		for (let k = 0; k < count; k++)
			acc = acc.chain((list) => one(list[list.length - 1]).map((hole) => [...list, hole]));
		return acc;
	});

const GRID: Box = [0, 0, 24, 24];

const polygonRings = (box: Box, maxHoles: number): fc.Arbitrary<Grid[][]> =>
	shape(box).chain((shell) => holes(shell, maxHoles).map((hs) => [shell, ...hs]));

const polygon: fc.Arbitrary<Geometry> = polygonRings(GRID, 3).map((rings) => ({
	type: "Polygon",
	coordinates: rings.map(close),
}));

/**
 * Parts in quadrants of the grid, so they are often apart yet touch or share edges where quadrants
 * meet, sometimes in a box straddling them all (overlaps), sometimes in another part's hole.
 */
const QUADRANTS: Box[] = [
	[0, 0, 12, 12],
	[12, 0, 24, 12],
	[0, 12, 12, 24],
	[12, 12, 24, 24],
	[6, 6, 18, 18],
];

const multiPolygon: fc.Arbitrary<Geometry> = fc
	.shuffledSubarray(QUADRANTS, { minLength: 1, maxLength: 3 })
	.chain(([first = GRID, ...others]) =>
		polygonRings(first, 1).chain((head) => {
			const lake = head[1];
			const island =
				lake === undefined
					? []
					: [
							fc.oneof(
								polygonRings(boxOf(lake), 1),
								shrunk(lake).chain((shell) => holes(shell, 1).map((hs) => [shell, ...hs])),
							),
						];
			const rest = others.map((box) => polygonRings(box, 1));
			const tail = fc.oneof(fc.tuple(...rest), fc.tuple(...island, ...rest));
			return tail.map((parts) => [head, ...parts]);
		}),
	)
	.filter((parts) => parts.length > 1)
	.map((parts) => ({ type: "MultiPolygon", coordinates: parts.map((rings) => rings.map(close)) }));

// ---------------------------------------------------------------------------------------------

describe("polygon validity agrees with JTS (jsts IsValidOp)", () => {
	it("on random polygons with holes", () => {
		let valid = 0;
		fc.assert(
			fc.property(polygon, (geometry) => {
				const theirs = jstsValid(geometry);
				if (theirs) valid++;
				expect(ourVerdict(geometry), JSON.stringify(geometry)).toBe(theirs);
			}),
			{ seed: SEED, numRuns: 600 },
		);
		// Both verdicts must be well represented, or the property proves little.
		expect(valid).toBeGreaterThan(100);
		expect(valid).toBeLessThan(500);
	}, 20_000);

	it("on random MultiPolygons", () => {
		let valid = 0;
		fc.assert(
			fc.property(multiPolygon, (geometry) => {
				const theirs = jstsValid(geometry);
				if (theirs) valid++;
				expect(ourVerdict(geometry), JSON.stringify(geometry)).toBe(theirs);
			}),
			{ seed: SEED + 1, numRuns: 400 },
		);
		expect(valid).toBeGreaterThan(40);
		expect(valid).toBeLessThan(360);
	}, 20_000);
});

// ---------------------------------------------------------------------------------------------

const r = (...points: Grid[]): Position[] => close(points);
const sq = (x0: number, y0: number, x1: number, y1: number): Position[] =>
	r([x0, y0], [x1, y0], [x1, y1], [x0, y1]);
const P = (...rings: Position[][]): Geometry => ({ type: "Polygon", coordinates: rings });
const M = (...parts: Position[][][]): Geometry => ({ type: "MultiPolygon", coordinates: parts });

const ADVERSARIAL: Array<[string, Geometry, boolean]> = [
	["hole touching the shell at a vertex", P(sq(0, 0, 8, 8), r([0, 0], [3, 1], [1, 3])), true],
	["hole touching a shell edge at its vertex", P(sq(0, 0, 8, 8), r([0, 4], [3, 3], [3, 5])), true],
	["hole touching the shell at two vertices", P(sq(0, 0, 8, 8), r([0, 4], [4, 2], [8, 4], [4, 6])), false],
	["hole sharing part of a shell edge", P(sq(0, 0, 8, 8), sq(0, 2, 3, 4)), false],
	["hole equal to the shell", P(sq(0, 0, 8, 8), sq(0, 0, 8, 8)), false],
	["hole equal to the shell, reversed", P(sq(0, 0, 8, 8), r([0, 8], [8, 8], [8, 0], [0, 0])), false],
	["hole outside the shell", P(sq(0, 0, 4, 4), sq(5, 5, 6, 6)), false],
	["hole outside, touching the shell at a vertex", P(sq(0, 0, 4, 4), r([4, 4], [6, 5], [5, 6])), false],
	["hole crossing the shell", P(sq(0, 0, 4, 4), sq(2, 2, 6, 3)), false],
	[
		"hole leaving a notched shell through two of its vertices",
		P(
			r([0, 0], [20, 0], [20, 20], [18, 20], [17, 14], [16, 12], [15, 14], [14, 20], [0, 20]),
			r([2, 14], [19, 14], [10, 4]),
		),
		false,
	],
	["two holes touching at a vertex", P(sq(0, 0, 10, 10), sq(1, 1, 4, 4), sq(4, 4, 7, 7)), true],
	["two holes sharing an edge", P(sq(0, 0, 10, 10), sq(1, 1, 4, 4), sq(4, 1, 7, 4)), false],
	["overlapping holes", P(sq(0, 0, 10, 10), sq(1, 1, 5, 5), sq(3, 3, 7, 7)), false],
	["nested holes", P(sq(0, 0, 10, 10), sq(1, 1, 9, 9), sq(3, 3, 5, 5)), false],
	["nested holes, inner listed first", P(sq(0, 0, 10, 10), sq(3, 3, 5, 5), sq(1, 1, 9, 9)), false],
	["nested holes touching", P(sq(0, 0, 10, 10), sq(1, 1, 9, 9), r([1, 1], [4, 2], [2, 4])), false],
	[
		"three holes meeting at one point",
		P(sq(0, 0, 10, 10), r([5, 5], [2, 4], [2, 6]), r([5, 5], [8, 4], [8, 6]), r([5, 5], [4, 8], [6, 8])),
		true,
	],
	[
		"a loop of four holes touching corner to corner",
		P(sq(0, 0, 10, 10), sq(4, 2, 6, 4), sq(6, 4, 8, 6), sq(4, 6, 6, 8), sq(2, 4, 4, 6)),
		false,
	],
	[
		"a chain shell - hole - hole - shell",
		P(sq(0, 0, 12, 12), r([0, 6], [6, 5], [5, 7]), r([6, 5], [12, 6], [7, 7])),
		false,
	],
	["inverted shell (self-touching ring)", P(r([0, 0], [8, 0], [4, 4], [8, 8], [0, 8], [4, 4])), false],
	["bow-tie", P(r([0, 0], [4, 4], [4, 0], [0, 4])), false],
	["spike out of an edge", P(r([0, 0], [8, 0], [8, 8], [4, 8], [4, 12], [4, 8], [0, 8])), false],
	["spike into the interior", P(r([0, 0], [8, 0], [8, 8], [4, 8], [4, 4], [4, 8], [0, 8])), false],
	["collinear vertex on an edge", P(r([0, 0], [4, 0], [8, 0], [8, 8], [0, 8])), true],
	[
		"ring through a vertex twice",
		P(r([0, 0], [4, 0], [4, 4], [8, 4], [8, 8], [4, 8], [4, 4], [0, 4])),
		false,
	],
	["parts apart", M([sq(0, 0, 2, 2)], [sq(4, 4, 6, 6)]), true],
	["parts touching at a corner", M([sq(0, 0, 2, 2)], [sq(2, 2, 4, 4)]), true],
	["parts touching at two points", M([sq(0, 0, 4, 4)], [r([0, 4], [2, 6], [4, 4], [2, 8])]), true],
	["parts sharing an edge", M([sq(0, 0, 2, 2)], [sq(2, 0, 4, 2)]), false],
	["parts sharing part of an edge", M([sq(0, 0, 2, 2)], [sq(2, 1, 4, 3)]), false],
	["overlapping parts", M([sq(0, 0, 4, 4)], [sq(2, 2, 6, 6)]), false],
	["equal parts", M([sq(0, 0, 4, 4)], [sq(0, 0, 4, 4)]), false],
	["part inside a part", M([sq(0, 0, 8, 8)], [sq(2, 2, 4, 4)]), false],
	["part touching another's edge with a vertex", M([sq(0, 0, 4, 4)], [r([4, 2], [6, 0], [6, 4])]), true],
	[
		"part entering another through two vertices",
		M([sq(0, 0, 4, 4)], [r([2, 4], [3, 2], [4, 4], [4, 6], [1, 6])]),
		false,
	],
	["part in another part's hole", M([sq(0, 0, 10, 10), sq(2, 2, 8, 8)], [sq(3, 3, 7, 7)]), true],
	[
		"part in a hole touching it at two points",
		M([sq(0, 0, 10, 10), sq(2, 2, 8, 8)], [r([2, 5], [5, 3], [8, 5], [5, 7])]),
		true,
	],
	["part filling another part's hole", M([sq(0, 0, 10, 10), sq(2, 2, 8, 8)], [sq(2, 2, 8, 8)]), false],
	["part larger than the hole it sits in", M([sq(0, 0, 10, 10), sq(2, 2, 8, 8)], [sq(1, 1, 9, 9)]), false],
];

describe("polygon validity agrees with JTS on adversarial cases", () => {
	it.each(ADVERSARIAL)("%s", (_, geometry, expected) => {
		expect(jstsValid(geometry)).toBe(expected);
		expect(ourVerdict(geometry)).toBe(expected);
	});

	it("decides touching versus crossing exactly, one unit in the last place away", () => {
		// Shell edge from (0, 0) to (1, 1): the hole vertex sits on it, or one ulp to either side.
		const shell: Position[] = [
			[0, 0],
			[2, 0],
			[1, 1],
			[0, 0],
		];
		const hole = (y: number): Position[] => [
			[0.5, y],
			[1, 0.25],
			[1.2, 0.25],
			[0.5, y],
		];
		const on = 0.5;
		const inside = on - 2 ** -54;
		const outside = on + 2 ** -53;
		for (const [y, expected] of [
			[on, true],
			[inside, true],
			[outside, false],
		] as const) {
			const geometry = P(shell, hole(y));
			expect(jstsValid(geometry), `y = ${y}`).toBe(expected);
			expect(ourVerdict(geometry), `y = ${y}`).toBe(expected);
		}
	});

	it("orient2d is exact where the floating-point determinant is wrong", () => {
		// Shewchuk's classic: points near (0.5, 0.5) on the line y = x; the naive determinant
		// (b - a) x (c - a) misjudges some of them. Compare with exact rational arithmetic.
		const exact = (ax: number, ay: number, bx: number, by: number, cx: number, cy: number): number => {
			const s = 2n ** 1100n;
			const big = (v: number): bigint => {
				// v = m * 2^e with an integer m: scale by 2^1100 so every double here is an integer.
				let m = v;
				let e = 0;
				while (!Number.isInteger(m)) {
					m *= 2;
					e++;
				}
				return (BigInt(m) * s) / 2n ** BigInt(e);
			};
			const d = (big(ax) - big(cx)) * (big(by) - big(cy)) - (big(ay) - big(cy)) * (big(bx) - big(cx));
			return d > 0n ? 1 : d < 0n ? -1 : 0;
		};
		let naiveWrong = 0;
		for (let i = 0; i < 64; i++) {
			for (let j = 0; j < 64; j++) {
				const px = 0.5 + i * 2 ** -53;
				const py = 0.5 + j * 2 ** -53;
				const args = [px, py, 12, 12, 24, 24] as const;
				const truth = exact(...args);
				expect(orient2d(...args)).toBe(truth);
				const naive = Math.sign((12 - px) * (24 - py) - (12 - py) * (24 - px));
				if (naive !== truth) naiveWrong++;
			}
		}
		expect(naiveWrong).toBeGreaterThan(0);
	});
});
