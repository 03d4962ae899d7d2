/** Plain text tables for the terminal: numbers right-aligned, everything else left. */

export type Cell = string | number | null | undefined;

export function table(headers: string[], rows: Cell[][]): string {
	const text = rows.map((r) => r.map((c) => (c === null || c === undefined ? "" : String(c))));
	const numeric = headers.map(
		(_, i) =>
			rows.length > 0 && rows.every((r) => r[i] === undefined || r[i] === null || typeof r[i] === "number"),
	);
	const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
	const line = (cells: string[]) =>
		cells
			.map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
			.join("  ")
			.trimEnd();
	return [line(headers), line(widths.map((w) => "-".repeat(w))), ...text.map(line)].join("\n");
}

/** A value shortened to one line for a diff or a table. */
export function brief(value: unknown, max = 70): string {
	const s = value === undefined ? "(none)" : JSON.stringify(value);
	return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
