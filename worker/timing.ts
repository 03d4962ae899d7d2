/**
 * Time spent in the phases of one request, sent back as `Server-Timing` (RFC-style
 * `name;dur=ms`, summed per name) so a client or benchmark can see where a slow request went.
 * In Workers the clock moves only across I/O, so a phase of pure computation is counted in the
 * next phase that waits on something: read the figures as "up to the end of this phase".
 */
export class Timing {
	private readonly totals = new Map<string, number>();
	private last = Date.now();

	/** Ends the current phase under `name` (added to what `name` already counted). */
	lap(name: string): void {
		const now = Date.now();
		this.totals.set(name, (this.totals.get(name) ?? 0) + (now - this.last));
		this.last = now;
	}

	/** The `Server-Timing` header value. */
	header(): string {
		return [...this.totals].map(([name, ms]) => `${name};dur=${ms}`).join(", ");
	}
}
