/**
 * Requests per second over a sliding window of whole seconds, for an object that wants to know
 * whether it is hot (a fence shard deciding it needs replicas). Pure: the caller passes the
 * clock. Memory is one counter a second of the window, whatever the rate.
 */
export class RateWindow {
	private readonly counts: Uint32Array;
	/** The second (epoch seconds) the newest slot counts; slots older than the window are zeroed on the way. */
	private newest = Number.NEGATIVE_INFINITY;

	/** How far back the rate looks, in seconds. */
	readonly seconds: number;

	/** @param seconds how far back the rate looks (at least 1) */
	constructor(seconds: number) {
		this.seconds = seconds;
		if (!Number.isInteger(seconds) || seconds < 1) throw new RangeError("seconds must be a positive integer");
		this.counts = new Uint32Array(seconds);
	}

	/**
	 * Counts one request at `nowMs` and returns the mean rate over the window that ends now, in
	 * requests per second. A clock that goes back counts in the newest second.
	 */
	hit(nowMs: number): number {
		this.advance(Math.floor(nowMs / 1000));
		const slot = ((this.newest % this.seconds) + this.seconds) % this.seconds;
		this.counts[slot] = (this.counts[slot] ?? 0) + 1;
		return this.rate();
	}

	/** The mean rate over the window as of the last {@link hit} or {@link advance}, requests per second. */
	rate(): number {
		let sum = 0;
		for (const c of this.counts) sum += c;
		return sum / this.seconds;
	}

	/** The busiest second of the window, requests in it (a surge shows here before in the mean). */
	peak(): number {
		let max = 0;
		for (const c of this.counts) if (c > max) max = c;
		return max;
	}

	/** Moves the window to end at `second`, dropping the seconds that fell out of it. */
	advance(second: number): void {
		if (second <= this.newest) return;
		const gap = second - this.newest;
		if (gap >= this.seconds) this.counts.fill(0);
		else
			for (let s = this.newest + 1; s <= second; s++) {
				this.counts[((s % this.seconds) + this.seconds) % this.seconds] = 0;
			}
		this.newest = second;
	}
}
