// Walking traces played against the service as pings: distances, speeds and how each ping's
// answer reads. Shared by `npm run replay` (scripts/replay.mjs) and `edge-offers replay`.

/** The service discards a ping implying more than 100 m/s; keep well below that. */
export const MAX_IMPLIED_SPEED = 50;
/** Slower than this between two pings, the walker is standing still (a stay in a shop). */
export const STATIONARY_SPEED = 0.5;
const EARTH_RADIUS_M = 6_371_008.8;

/**
 * @typedef {{ lat: number, lng: number, accuracy: number, offsetSeconds: number }} TracePing
 */

/**
 * Great-circle distance in metres.
 *
 * @param {{ lat: number, lng: number }} a
 * @param {{ lat: number, lng: number }} b
 * @returns {number}
 */
export function distanceMeters(a, b) {
	const rad = Math.PI / 180;
	const h =
		Math.sin(((b.lat - a.lat) * rad) / 2) ** 2 +
		Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(((b.lng - a.lng) * rad) / 2) ** 2;
	return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * The walker's speed from each ping to the next, in m/s.
 *
 * @param {TracePing[]} pings
 * @returns {number[]} `steps[i]` is the speed from ping i-1 to ping i (`steps[0]` is 0)
 */
export function stepSpeeds(pings) {
	return pings.map((p, i) => {
		const prev = pings[i - 1];
		return prev ? distanceMeters(prev, p) / (p.offsetSeconds - prev.offsetSeconds) : 0;
	});
}

/**
 * @param {number} seconds
 * @returns {string} `m:ss`
 */
export function clock(seconds) {
	const s = Math.round(seconds);
	return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * One line per ping: trace time, position, accuracy, then what the service answered.
 *
 * @param {TracePing} ping
 * @param {any} answer
 * @param {number} sentAt epoch ms the ping's timestamp was set to
 * @returns {string[]}
 */
export function describeAnswer(ping, answer, sentAt) {
	const wall = new Date(sentAt).toTimeString().slice(0, 8);
	const head = `${wall} t+${clock(ping.offsetSeconds).padStart(5)}  ${ping.lat.toFixed(5)}, ${ping.lng.toFixed(5)} ±${ping.accuracy} m`;
	/** @type {string[]} */
	const parts = [];
	for (const event of Array.isArray(answer?.events) ? answer.events : []) {
		const earlier = typeof event.at === "string" && Date.parse(event.at) < sentAt - 1_000;
		parts.push(
			`${event.type} ${event.geofenceId}${earlier ? ` (at ${event.at.slice(11, 19)}Z, by alarm)` : ""}`,
		);
	}
	const offers = Array.isArray(answer?.offers) ? answer.offers : [];
	const lines = [parts.length > 0 ? `${head}  ${parts.join(", ")}` : head];
	for (const offer of offers) {
		const variant = offer.variantId ? `/${offer.variantId}` : "";
		const reason = offer.reason ? ` (${offer.reason})` : "";
		const id = offer.offerId ? ` offer ${offer.offerId}` : "";
		lines.push(`                   → ${offer.campaignId}${variant}: ${offer.decision}${reason}${id}`);
	}
	return lines;
}

/**
 * @param {any} trigger a decision's trigger as the API returns it
 * @returns {string}
 */
export function describeTrigger(trigger) {
	if (typeof trigger === "string") return trigger;
	if (trigger?.geofenceId) return `${trigger.type ?? "geofence"} ${trigger.geofenceId}`;
	return JSON.stringify(trigger);
}
