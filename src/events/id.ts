/**
 * Event ids: `evt_` + 10 characters of time (milliseconds, Crockford base32, like a ULID) +
 * 16 characters of randomness. They sort by creation time as strings; within one generator
 * (one person's object) they strictly increase even inside one millisecond, because the
 * random part is then incremented instead of drawn again (ULID's monotonic mode).
 */

import { AppError } from "../errors.js";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_LEN = 10;
const RAND_LEN = 16;

/**
 * Stable code of the one error this module throws: more ids asked for in one millisecond than
 * the random part holds.
 * Status 503 with Retry-After 1: the next millisecond has room again.
 */
export class EventIdError extends AppError {
	declare readonly code: "event_id_overflow";
	override readonly name = "EventIdError";
	constructor(message: string) {
		super("event_id_overflow", 503, message, undefined, 1);
	}
}

function encodeTime(ms: number): string {
	let out = "";
	let t = Math.floor(ms);
	for (let i = 0; i < TIME_LEN; i++) {
		out = ALPHABET[t % 32] + out;
		t = Math.floor(t / 32);
	}
	return out;
}

/** A generator of strictly increasing ids; `random` gives integers in [0, 32). */
export function eventIdGenerator(random: () => number = () => Math.floor(Math.random() * 32)) {
	let lastMs = -1;
	let last: number[] = [];
	return (nowMs: number): string => {
		// A clock that went back keeps the last time: ids never decrease.
		const ms = Math.max(nowMs, lastMs);
		if (ms === lastMs) {
			let i = RAND_LEN - 1;
			while (i >= 0 && last[i] === 31) {
				last[i] = 0;
				i--;
			}
			if (i < 0) throw new EventIdError("more ids in one millisecond than the random part holds");
			last[i] = (last[i] ?? 0) + 1;
		} else {
			// The first character stays below 16 so increments have room.
			last = Array.from({ length: RAND_LEN }, (_, k) => (k === 0 ? random() % 16 : random() % 32));
			lastMs = ms;
		}
		return `evt_${encodeTime(ms)}${last.map((d) => ALPHABET[d]).join("")}`;
	};
}

/** Whether a string is an event id of this shape. */
export function isEventId(s: string): boolean {
	return /^evt_[0-9A-HJKMNP-TV-Z]{26}$/.test(s);
}
