// A small log-log line chart written as PNG with pngjs (pure JS): throughput of every engine
// against the number of fences. Text uses a built-in 5x7 pixel font (upper case, digits, a few
// signs), drawn at 2x.
import { writeFileSync } from "node:fs";
import { PNG } from "pngjs";

// 5x7 glyphs, one string of 7 rows of 5 bits per character.
const GLYPHS = {
	A: "01110 10001 10001 11111 10001 10001 10001",
	B: "11110 10001 10001 11110 10001 10001 11110",
	C: "01110 10001 10000 10000 10000 10001 01110",
	D: "11110 10001 10001 10001 10001 10001 11110",
	E: "11111 10000 10000 11110 10000 10000 11111",
	F: "11111 10000 10000 11110 10000 10000 10000",
	G: "01110 10001 10000 10111 10001 10001 01111",
	H: "10001 10001 10001 11111 10001 10001 10001",
	I: "01110 00100 00100 00100 00100 00100 01110",
	J: "00111 00010 00010 00010 00010 10010 01100",
	K: "10001 10010 10100 11000 10100 10010 10001",
	L: "10000 10000 10000 10000 10000 10000 11111",
	M: "10001 11011 10101 10101 10001 10001 10001",
	N: "10001 10001 11001 10101 10011 10001 10001",
	O: "01110 10001 10001 10001 10001 10001 01110",
	P: "11110 10001 10001 11110 10000 10000 10000",
	Q: "01110 10001 10001 10001 10101 10010 01101",
	R: "11110 10001 10001 11110 10100 10010 10001",
	S: "01111 10000 10000 01110 00001 00001 11110",
	T: "11111 00100 00100 00100 00100 00100 00100",
	U: "10001 10001 10001 10001 10001 10001 01110",
	V: "10001 10001 10001 10001 10001 01010 00100",
	W: "10001 10001 10001 10101 10101 10101 01010",
	X: "10001 10001 01010 00100 01010 10001 10001",
	Y: "10001 10001 01010 00100 00100 00100 00100",
	Z: "11111 00001 00010 00100 01000 10000 11111",
	0: "01110 10001 10011 10101 11001 10001 01110",
	1: "00100 01100 00100 00100 00100 00100 01110",
	2: "01110 10001 00001 00010 00100 01000 11111",
	3: "11111 00010 00100 00010 00001 10001 01110",
	4: "00010 00110 01010 10010 11111 00010 00010",
	5: "11111 10000 11110 00001 00001 10001 01110",
	6: "00110 01000 10000 11110 10001 10001 01110",
	7: "11111 00001 00010 00100 01000 01000 01000",
	8: "01110 10001 10001 01110 10001 10001 01110",
	9: "01110 10001 10001 01111 00001 00010 01100",
	" ": "00000 00000 00000 00000 00000 00000 00000",
	".": "00000 00000 00000 00000 00000 01100 01100",
	",": "00000 00000 00000 00000 01100 00100 01000",
	"-": "00000 00000 00000 11111 00000 00000 00000",
	"/": "00001 00001 00010 00100 01000 10000 10000",
	"(": "00010 00100 01000 01000 01000 00100 00010",
	")": "01000 00100 00010 00010 00010 00100 01000",
	":": "00000 01100 01100 00000 01100 01100 00000",
	"+": "00000 00100 00100 11111 00100 00100 00000",
	"=": "00000 00000 11111 00000 11111 00000 00000",
	"%": "11000 11001 00010 00100 01000 10011 00011",
	"^": "00100 01010 10001 00000 00000 00000 00000",
};

const COLORS = [
	[214, 39, 40],
	[31, 119, 180],
	[44, 160, 44],
	[148, 103, 189],
	[255, 127, 14],
	[140, 86, 75],
];

/**
 * Draws the chart.
 *
 * @param {string} path PNG file to write
 * @param {{ title: string, xLabel: string, yLabel: string, series: { name: string, points: [number, number][] }[] }} spec
 */
export function drawChart(path, spec) {
	const W = 1000;
	const H = 600;
	const png = new PNG({ width: W, height: H });
	const px = (x, y, [r, g, b]) => {
		if (x < 0 || y < 0 || x >= W || y >= H) return;
		const i = (W * Math.round(y) + Math.round(x)) << 2;
		png.data[i] = r;
		png.data[i + 1] = g;
		png.data[i + 2] = b;
		png.data[i + 3] = 255;
	};
	for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px(x, y, [255, 255, 255]);
	const text = (s, x, y, color = [30, 30, 30], scale = 2) => {
		let cx = x;
		for (const ch of s.toUpperCase()) {
			const glyph = GLYPHS[ch] ?? GLYPHS[" "];
			const rows = glyph.split(" ");
			for (let r = 0; r < 7; r++)
				for (let c = 0; c < 5; c++)
					if (rows[r][c] === "1")
						for (let dy = 0; dy < scale; dy++)
							for (let dx = 0; dx < scale; dx++) px(cx + c * scale + dx, y + r * scale + dy, color);
			cx += 6 * scale;
		}
		return cx - x;
	};
	const width = (s, scale = 2) => s.length * 6 * scale;
	const line = (x0, y0, x1, y1, color, thick = 1) => {
		const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
		for (let i = 0; i <= n; i++) {
			const x = x0 + ((x1 - x0) * i) / n;
			const y = y0 + ((y1 - y0) * i) / n;
			for (let d = -(thick >> 1); d <= thick >> 1; d++) {
				px(x, y + d, color);
				px(x + d, y, color);
			}
		}
	};

	const left = 110;
	const right = W - 270;
	const top = 76;
	const bottom = H - 70;
	const all = spec.series.flatMap((s) => s.points);
	const xs = all.map((p) => p[0]);
	const ys = all.map((p) => p[1]).filter((y) => y > 0);
	const x0 = Math.floor(Math.log10(Math.min(...xs)));
	const x1 = Math.ceil(Math.log10(Math.max(...xs)));
	const y0 = Math.floor(Math.log10(Math.min(...ys)));
	const y1 = Math.ceil(Math.log10(Math.max(...ys)));
	const X = (x) => left + ((Math.log10(x) - x0) / Math.max(1, x1 - x0)) * (right - left);
	const Y = (y) => bottom - ((Math.log10(y) - y0) / Math.max(1, y1 - y0)) * (bottom - top);
	const grid = [225, 225, 225];
	const short = (v) => (v >= 1e6 ? `${v / 1e6}M` : v >= 1e3 ? `${v / 1e3}K` : `${v}`);
	for (let e = y0; e <= y1; e++) {
		line(left, Y(10 ** e), right, Y(10 ** e), grid);
		const label = short(10 ** e);
		text(label, left - 10 - width(label), Y(10 ** e) - 7);
	}
	for (let e = x0; e <= x1; e++) {
		line(X(10 ** e), top, X(10 ** e), bottom, grid);
		const label = short(10 ** e);
		text(label, X(10 ** e) - width(label) / 2, bottom + 10);
	}
	line(left, bottom, right, bottom, [80, 80, 80]);
	line(left, top, left, bottom, [80, 80, 80]);
	text(spec.title, (W - width(spec.title)) / 2, 12);
	text(spec.xLabel, (left + right - width(spec.xLabel)) / 2, H - 32);
	text(spec.yLabel, 12, top - 28);
	spec.series.forEach((s, i) => {
		const color = COLORS[i % COLORS.length];
		const pts = s.points.filter((p) => p[1] > 0).sort((a, b) => a[0] - b[0]);
		for (let k = 1; k < pts.length; k++)
			line(X(pts[k - 1][0]), Y(pts[k - 1][1]), X(pts[k][0]), Y(pts[k][1]), color, 3);
		for (const [x, y] of pts)
			for (let dy = -4; dy <= 4; dy++) for (let dx = -4; dx <= 4; dx++) px(X(x) + dx, Y(y) + dy, color);
		const ly = top + 10 + i * 30;
		line(right + 20, ly + 7, right + 50, ly + 7, color, 3);
		text(s.name, right + 58, ly);
	});
	writeFileSync(path, PNG.sync.write(png));
}
