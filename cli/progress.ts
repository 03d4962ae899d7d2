/**
 * Progress on stderr: a redrawn bar on a terminal, one plain line per step otherwise (logs, CI),
 * so stdout keeps only the result.
 */

export interface ProgressSink {
	isTTY?: boolean;
	columns?: number;
	write(text: string): unknown;
}

export class Progress {
	#last = "";
	readonly #started = Date.now();

	constructor(
		readonly label: string,
		readonly total: number,
		readonly unit: string,
		readonly out: ProgressSink = process.stderr,
		readonly quiet = false,
	) {}

	/** `done` of `total` units finished; `note` says what was just done. */
	update(done: number, note = ""): void {
		if (this.quiet) return;
		const pct = this.total > 0 ? Math.floor((done / this.total) * 100) : 100;
		if (this.out.isTTY) {
			const width = Math.max(10, Math.min(30, (this.out.columns ?? 80) - 60));
			const filled = Math.round((pct / 100) * width);
			const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
			const seconds = ((Date.now() - this.#started) / 1000).toFixed(1);
			const line = `${this.label} ${bar} ${pct}% ${done}/${this.total} ${this.unit} ${seconds}s ${note}`;
			this.out.write(`\r\x1b[2K${line.slice(0, (this.out.columns ?? 120) - 1)}`);
			this.#last = line;
		} else {
			this.out.write(
				`${this.label}: ${done}/${this.total} ${this.unit} (${pct}%)${note ? ` ${note}` : ""}\n`,
			);
		}
	}

	/** Ends the bar's line (a terminal) so later output starts on its own line. */
	done(): void {
		if (!this.quiet && this.out.isTTY && this.#last) this.out.write("\n");
		this.#last = "";
	}
}
