/** Types for trace.mjs (plain JavaScript so `npm run replay` needs no build step). */

export declare const MAX_IMPLIED_SPEED: number;
export declare const STATIONARY_SPEED: number;

export interface TracePing {
	lat: number;
	lng: number;
	accuracy: number;
	offsetSeconds: number;
}

/** Great-circle distance in metres. */
export declare function distanceMeters(
	a: { lat: number; lng: number },
	b: { lat: number; lng: number },
): number;
/** `steps[i]` is the walker's speed from ping i-1 to ping i in m/s (`steps[0]` is 0). */
export declare function stepSpeeds(pings: TracePing[]): number[];
/** `m:ss` */
export declare function clock(seconds: number): string;
/** One line per ping (trace time, position, accuracy, events), then one per offer decision. */
export declare function describeAnswer(ping: TracePing, answer: unknown, sentAt: number): string[];
export declare function describeTrigger(trigger: unknown): string;
