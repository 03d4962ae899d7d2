/**
 * Server-Sent Events text: the writer the Worker uses and an incremental reader (the console
 * reads `GET /v1/live` with fetch(), not EventSource, so it can send the session in a header).
 * No imports, so the console's bundle takes only this.
 */

/** One SSE message. `data` is JSON on one line (JSON.stringify never emits a raw newline). */
export function sseMessage(m: { id?: string; event?: string; data: unknown }): string {
	let out = "";
	if (m.id !== undefined) out += `id: ${m.id.replace(/[\r\n]/g, "")}\n`;
	if (m.event !== undefined) out += `event: ${m.event.replace(/[\r\n]/g, "")}\n`;
	return `${out}data: ${JSON.stringify(m.data)}\n\n`;
}

/** A comment line (keeps proxies and the client's idle timer from closing the stream). */
export function sseComment(text: string): string {
	return `: ${text.replace(/[\r\n]/g, " ")}\n\n`;
}

/** A message as a reader sees it. */
export interface SseMessage {
	id: string | null;
	event: string;
	data: string;
}

/**
 * An incremental SSE reader (the WHATWG parsing rules: `\n`, `\r\n` or `\r` line ends, comments,
 * `data` lines joined with `\n`, `id` kept across messages, a message dispatched on a blank line).
 * Feed it text chunks as they arrive; it returns the messages completed by each chunk.
 */
export class SseReader {
	private buffer = "";
	private data: string[] = [];
	private event = "";
	private sawData = false;
	/** The last `id:` seen (what a reconnection sends as Last-Event-ID). */
	lastId: string | null = null;
	/** The last `retry:` in ms, if the server sent one. */
	retry: number | null = null;

	push(chunk: string): SseMessage[] {
		this.buffer += chunk;
		const out: SseMessage[] = [];
		for (;;) {
			const m = /\r\n|\r|\n/.exec(this.buffer);
			if (!m) break;
			// A lone \r at the end may be the first half of \r\n: wait for more.
			if (m[0] === "\r" && m.index === this.buffer.length - 1) break;
			const line = this.buffer.slice(0, m.index);
			this.buffer = this.buffer.slice(m.index + m[0].length);
			const msg = this.line(line);
			if (msg) out.push(msg);
		}
		return out;
	}

	private line(line: string): SseMessage | null {
		if (line === "") {
			if (!this.sawData) {
				this.event = "";
				return null;
			}
			const msg = { id: this.lastId, event: this.event || "message", data: this.data.join("\n") };
			this.data = [];
			this.event = "";
			this.sawData = false;
			return msg;
		}
		if (line.startsWith(":")) return null;
		const colon = line.indexOf(":");
		const field = colon < 0 ? line : line.slice(0, colon);
		let value = colon < 0 ? "" : line.slice(colon + 1);
		if (value.startsWith(" ")) value = value.slice(1);
		if (field === "data") {
			this.data.push(value);
			this.sawData = true;
		} else if (field === "event") this.event = value;
		else if (field === "id" && !value.includes("\0")) this.lastId = value;
		else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
		return null;
	}
}
