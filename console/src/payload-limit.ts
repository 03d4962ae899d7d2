/**
 * The Web Push plaintext limit, as src/push/payload.ts has it (that module uses node:crypto
 * for topics, so it is not bundled; test/unit/console-payload.test.ts keeps the two equal).
 */
export const MAX_PAYLOAD_BYTES = 3993;
/** What push services take on the wire, for the meter's label. */
export const PUSH_RECORD_BYTES = 4096;
