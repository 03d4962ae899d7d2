/**
 * Binary snapshots of a built fence index, so a shard that wakes up answers its first ping from
 * the bytes it stored next to its fences instead of rebuilding from JSON.
 *
 * The index is already a handful of typed arrays (packed geometry, hash table, entry lists) plus
 * the sorted ids; a snapshot is those arrays one after the other behind a 64-byte header, each
 * section starting at a multiple of 64 bytes. Loading checks the header and the length, then
 * takes typed-array views over the bytes (a copy only when the bytes are not 8-byte aligned):
 * no per-fence work, and a lookup touches only the pages of the square it probes and of the
 * fences listed there. Ids are decoded one at a time when a match returns them.
 *
 * Layout (native byte order, little-endian everywhere Workers and Node run; a snapshot written
 * on the other order is refused):
 *
 * | bytes | content |
 * | ---: | --- |
 * | 0-3 | magic `GFIX` |
 * | 4 | format version ({@link SNAPSHOT_VERSION}) |
 * | 5 | bytes per id code unit: 1 when every id is Latin-1, else 2 (UTF-16) |
 * | 6-7 | 0 |
 * | 8-11 | 0x01020304 as a native uint32 (byte order probe) |
 * | 12-63 | int32: fences, geo length, base level, depth, homes, hash capacity, lists length, id code units, directory column, row, width, length, cells length |
 * | then | geo (float64), recordOf (int32), homes (int32), slots (int32, 3 per hash slot), lists (int32), directory (int32), cells (int32), id starts (int32, fences + 1), id code units |
 *
 * The fence metadata (name, tags, ...) is not part of the index and not part of a snapshot. A
 * change to the index's answers, not only to this layout, must bump the version.
 */
import { AppError, INTERNAL_STATUS } from "../errors.js";
import { GRID_MAX_LEVEL } from "./cover.js";
import { RECORD_ALIGN } from "./exact.js";

/** The snapshot format this code writes and reads. */
export const SNAPSHOT_VERSION = 1;

/** Stable codes of {@link FenceSnapshotError}. */
export type FenceSnapshotErrorCode = "unsupported_snapshot_version" | "invalid_snapshot";

/** A snapshot that cannot be loaded: another format version, or not a fence index snapshot. */
export class FenceSnapshotError extends AppError {
	declare readonly code: FenceSnapshotErrorCode;
	override readonly name = "FenceSnapshotError";

	/**
	 * @param code stable reason code
	 * @param message human-readable detail (not part of the contract)
	 */
	constructor(code: FenceSnapshotErrorCode, message: string) {
		super(code, INTERNAL_STATUS, message);
	}
}

/** The ids of an index's fences, fence number = rank in ascending id order. */
export interface FenceIds {
	readonly count: number;
	/** The id of fence `f`. */
	get(f: number): string;
	/** The fence number of `id`, or -1. */
	find(id: string): number;
}

/** What a built index is made of: the arrays a snapshot stores. */
export interface IndexParts {
	/** Packed fence records and where each starts (exact.ts). */
	readonly geo: Float64Array;
	readonly recordOf: Int32Array;
	/** Grid: base level, levels held below it, home levels to probe, hash slots, entry lists (index.ts). */
	readonly base: number;
	readonly depth: number;
	readonly homes: Int32Array;
	readonly slots: Int32Array;
	readonly lists: Int32Array;
	/**
	 * The base level's directory (index.ts), when there is one (`dirWidth` > 0): its first base
	 * column and row, its width in blocks, the blocks and the blocks' cells.
	 */
	readonly dirCol: number;
	readonly dirRow: number;
	readonly dirWidth: number;
	readonly dir: Int32Array;
	readonly cells: Int32Array;
	readonly ids: FenceIds;
}

/** Ids held as JS strings, ascending. */
export class SortedIds implements FenceIds {
	readonly count: number;
	private readonly ids: ReadonlyArray<string>;

	/** @param ids distinct ids in ascending order */
	constructor(ids: ReadonlyArray<string>) {
		this.ids = ids;
		this.count = ids.length;
	}

	get(f: number): string {
		return this.ids[f] ?? "";
	}

	find(id: string): number {
		let lo = 0;
		let hi = this.ids.length - 1;
		while (lo <= hi) {
			const mid = (lo + hi) >> 1;
			const at = this.ids[mid] ?? "";
			if (at === id) return mid;
			if (at < id) lo = mid + 1;
			else hi = mid - 1;
		}
		return -1;
	}
}

/** Ids held as UTF-16 code units (one byte each when all are Latin-1), decoded when asked for. */
class PackedIds implements FenceIds {
	readonly count: number;
	readonly starts: Int32Array;
	readonly units: Uint8Array | Uint16Array;
	// Decoded ids, by chunks of 1,024 fences made when first needed: a shard's first ping decodes
	// one id, not an array as long as the index.
	private readonly decoded: Array<Array<string | undefined> | undefined>;

	constructor(starts: Int32Array, units: Uint8Array | Uint16Array) {
		this.starts = starts;
		this.units = units;
		this.count = starts.length - 1;
		this.decoded = new Array(Math.ceil(this.count / 1024));
	}

	get(f: number): string {
		let chunk = this.decoded[f >> 10];
		if (chunk === undefined) {
			chunk = new Array<string | undefined>(1024);
			this.decoded[f >> 10] = chunk;
		}
		let id = chunk[f & 1023];
		if (id === undefined) {
			id = "";
			const end = this.starts[f + 1] ?? 0;
			// In pieces: fromCharCode takes its units as arguments.
			for (let i = this.starts[f] ?? 0; i < end; i += 4096) {
				id += String.fromCharCode(...this.units.subarray(i, Math.min(end, i + 4096)));
			}
			chunk[f & 1023] = id;
		}
		return id;
	}

	/** Compares `id` with fence `f`'s id in code-unit order (JS's `<` on strings). */
	private compare(id: string, f: number): number {
		const start = this.starts[f] ?? 0;
		const length = (this.starts[f + 1] ?? 0) - start;
		const n = Math.min(length, id.length);
		for (let i = 0; i < n; i++) {
			const d = id.charCodeAt(i) - (this.units[start + i] ?? 0);
			if (d !== 0) return d;
		}
		return id.length - length;
	}

	find(id: string): number {
		let lo = 0;
		let hi = this.count - 1;
		while (lo <= hi) {
			const mid = (lo + hi) >> 1;
			const c = this.compare(id, mid);
			if (c === 0) return mid;
			if (c > 0) lo = mid + 1;
			else hi = mid - 1;
		}
		return -1;
	}
}

const MAGIC = [0x47, 0x46, 0x49, 0x58];
const BYTE_ORDER_PROBE = 0x01020304;
const HEADER_BYTES = 64;
const HEADER_INTS = 13;
type Sections = [number, number, number, number, number, number, number, number, number];
const SECTION_ALIGN = 64;
const MAX_DEPTH = 5;

interface Sizes {
	count: number;
	geoLength: number;
	homesLength: number;
	capacity: number;
	listsLength: number;
	dirLength: number;
	cellsLength: number;
	idUnits: number;
	idWidth: 1 | 2;
}

/** Byte offsets of the sections and the total length. */
function layoutOf(z: Sizes): { offsets: number[]; total: number } {
	const bytes = [
		8 * z.geoLength,
		4 * z.count,
		4 * z.homesLength,
		12 * z.capacity,
		4 * z.listsLength,
		4 * z.dirLength,
		4 * z.cellsLength,
		4 * (z.count + 1),
		z.idWidth * z.idUnits,
	];
	const offsets: number[] = [];
	let at = HEADER_BYTES;
	for (const b of bytes) {
		offsets.push(at);
		at = Math.ceil((at + b) / SECTION_ALIGN) * SECTION_ALIGN;
	}
	return { offsets, total: at };
}

/**
 * Encodes an index's parts (see the module comment for the layout).
 *
 * @param parts the parts of a built or loaded index
 * @returns the snapshot bytes
 */
export function encodeSnapshot(parts: IndexParts): Uint8Array {
	const { ids } = parts;
	let starts: Int32Array;
	let units: Uint8Array | Uint16Array;
	if (ids instanceof PackedIds) {
		starts = ids.starts;
		units = ids.units;
	} else {
		starts = new Int32Array(ids.count + 1);
		let total = 0;
		let wide = false;
		for (let f = 0; f < ids.count; f++) {
			const id = ids.get(f);
			for (let i = 0; i < id.length && !wide; i++) if (id.charCodeAt(i) > 0xff) wide = true;
			total += id.length;
			starts[f + 1] = total;
		}
		units = wide ? new Uint16Array(total) : new Uint8Array(total);
		for (let f = 0; f < ids.count; f++) {
			const id = ids.get(f);
			const at = starts[f] ?? 0;
			for (let i = 0; i < id.length; i++) units[at + i] = id.charCodeAt(i);
		}
	}
	const sizes: Sizes = {
		count: ids.count,
		geoLength: parts.geo.length,
		homesLength: parts.homes.length,
		capacity: parts.slots.length / 3,
		listsLength: parts.lists.length,
		dirLength: parts.dir.length,
		cellsLength: parts.cells.length,
		idUnits: units.length,
		idWidth: units instanceof Uint16Array ? 2 : 1,
	};
	const { offsets, total } = layoutOf(sizes);
	const out = new Uint8Array(total);
	const buffer = out.buffer;
	out.set(MAGIC, 0);
	out[4] = SNAPSHOT_VERSION;
	out[5] = sizes.idWidth;
	new Uint32Array(buffer, 8, 1)[0] = BYTE_ORDER_PROBE;
	new Int32Array(buffer, 12, HEADER_INTS).set([
		sizes.count,
		sizes.geoLength,
		parts.base,
		parts.depth,
		sizes.homesLength,
		sizes.capacity,
		sizes.listsLength,
		sizes.idUnits,
		parts.dirCol,
		parts.dirRow,
		parts.dirWidth,
		sizes.dirLength,
		sizes.cellsLength,
	]);
	const [geoAt, recordAt, homesAt, slotsAt, listsAt, dirAt, cellsAt, startsAt, unitsAt] = offsets as Sections;
	new Float64Array(buffer, geoAt, sizes.geoLength).set(parts.geo);
	new Int32Array(buffer, recordAt, sizes.count).set(parts.recordOf);
	new Int32Array(buffer, homesAt, sizes.homesLength).set(parts.homes);
	new Int32Array(buffer, slotsAt, 3 * sizes.capacity).set(parts.slots);
	new Int32Array(buffer, listsAt, sizes.listsLength).set(parts.lists);
	new Int32Array(buffer, dirAt, sizes.dirLength).set(parts.dir);
	new Int32Array(buffer, cellsAt, sizes.cellsLength).set(parts.cells);
	new Int32Array(buffer, startsAt, sizes.count + 1).set(starts);
	if (units instanceof Uint16Array) new Uint16Array(buffer, unitsAt, sizes.idUnits).set(units);
	else out.set(units, unitsAt);
	return out;
}

function invalid(message: string): FenceSnapshotError {
	return new FenceSnapshotError("invalid_snapshot", message);
}

/**
 * Decodes a snapshot into the parts of an index: views over the bytes, no per-fence work.
 *
 * @param input the bytes {@link encodeSnapshot} wrote (as stored: any offset in any buffer)
 * @returns the parts
 * @throws FenceSnapshotError `unsupported_snapshot_version` for another format version,
 *   `invalid_snapshot` when the bytes are not a whole snapshot
 */
export function decodeSnapshot(input: Uint8Array | ArrayBuffer): IndexParts {
	let bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
	if (bytes.length < HEADER_BYTES || MAGIC.some((b, i) => bytes[i] !== b)) {
		throw invalid("not a fence index snapshot");
	}
	if (bytes[4] !== SNAPSHOT_VERSION) {
		throw new FenceSnapshotError(
			"unsupported_snapshot_version",
			`snapshot format version ${bytes[4]}, this code reads ${SNAPSHOT_VERSION}`,
		);
	}
	// Typed-array views need aligned offsets: a copy (one straight copy) only when they would not be.
	if (bytes.byteOffset % 8 !== 0) bytes = bytes.slice();
	const { buffer, byteOffset } = bytes;
	if (new Uint32Array(buffer, byteOffset + 8, 1)[0] !== BYTE_ORDER_PROBE) {
		throw invalid("snapshot written in another byte order");
	}
	const header = Array.from(new Int32Array(buffer, byteOffset + 12, HEADER_INTS));
	const [count, geoLength, base, depth, homesLength, capacity, listsLength, idUnits] = header as [
		number,
		number,
		number,
		number,
		number,
		number,
		number,
		number,
	];
	const [dirCol, dirRow, dirWidth, dirLength, cellsLength] = header.slice(8) as [
		number,
		number,
		number,
		number,
		number,
	];
	const idWidth = bytes[5];
	if (
		(idWidth !== 1 && idWidth !== 2) ||
		count < 0 ||
		geoLength < 0 ||
		geoLength % RECORD_ALIGN !== 0 ||
		base < 0 ||
		base > GRID_MAX_LEVEL ||
		depth < 0 ||
		depth > Math.min(MAX_DEPTH, base) ||
		homesLength < 1 ||
		capacity < 1 ||
		(capacity & (capacity - 1)) !== 0 ||
		listsLength < 0 ||
		idUnits < 0 ||
		dirWidth < 0 ||
		dirLength < 0 ||
		cellsLength < 0 ||
		cellsLength % 16 !== 0 ||
		(dirWidth === 0 ? dirLength !== 0 : dirLength % dirWidth !== 0)
	) {
		throw invalid("inconsistent snapshot header");
	}
	const { offsets, total } = layoutOf({
		count,
		geoLength,
		homesLength,
		capacity,
		listsLength,
		dirLength,
		cellsLength,
		idUnits,
		idWidth,
	});
	if (total !== bytes.length) throw invalid(`snapshot of ${bytes.length} bytes, its header says ${total}`);
	const [geoAt, recordAt, homesAt, slotsAt, listsAt, dirAt, cellsAt, startsAt, unitsAt] = offsets.map(
		(o) => o + byteOffset,
	) as Sections;
	const starts = new Int32Array(buffer, startsAt, count + 1);
	return {
		geo: new Float64Array(buffer, geoAt, geoLength),
		recordOf: new Int32Array(buffer, recordAt, count),
		base,
		depth,
		homes: new Int32Array(buffer, homesAt, homesLength),
		slots: new Int32Array(buffer, slotsAt, 3 * capacity),
		lists: new Int32Array(buffer, listsAt, listsLength),
		dirCol,
		dirRow,
		dirWidth,
		dir: new Int32Array(buffer, dirAt, dirLength),
		cells: new Int32Array(buffer, cellsAt, cellsLength),
		ids: new PackedIds(
			starts,
			idWidth === 2 ? new Uint16Array(buffer, unitsAt, idUnits) : new Uint8Array(buffer, unitsAt, idUnits),
		),
	};
}
