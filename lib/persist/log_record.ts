/**
 * The append-only log's format, pure (no I/O): a segment is a 36-byte header followed by records,
 * one per replication update, each self-checking. Little-endian:
 *
 * - header: magic "GSL1" u32, version u16, flags u16 (bit 0: `continues`), generation f64, base
 *   epoch f64, base seq f64, CRC-32 of the 32 bytes before it u32;
 * - record: ops length u32, epoch f64, seq f64, ops, CRC-32 of everything before it in the record
 *   u32 (24 bytes plus the ops).
 *
 * A segment's records follow its base position one by one (seq + 1 each, epochs never going down),
 * so a reader can tell a valid prefix from a torn or corrupt tail and from records of another history.
 *
 * @module
 */
import { crc32 } from "../checksum/mod.ts";
import type { Position } from "./position.ts";

/** One replication update as the log holds it. */
export interface LogRecord {
  /** Epoch of the master that published it. */
  epoch: number;
  /** Its sequence number. */
  seq: number;
  /** The master's op log for the tick (`OpLogWriter` format); empty for a tick without writes. */
  ops: Uint8Array;
}

/** What a segment's header says. */
export interface SegmentHeader {
  /** The generation: the snapshot this segment's records follow (0: the empty state). */
  generation: number;
  /** The position of that snapshot: the first record is `base.seq + 1`. */
  base: Position;
  /**
   * True when the snapshot is of this node's own state at the end of the previous segment, so a
   * reader may go on from that segment into this one without the snapshot.
   */
  continues: boolean;
}

/** How much of a segment was cut off, and why. */
export interface Discarded {
  /** Byte offset in the segment where the discarded tail starts. */
  at: number;
  /** Bytes discarded. */
  bytes: number;
  /** Records discarded: the bad one and the whole ones after it (a torn one counts as one). */
  records: number;
  /** Why the first discarded record was refused. */
  reason: string;
}

/** A segment read back: its header, the valid prefix of records, what was cut off. */
export interface SegmentScan {
  /** The header, or undefined when it is missing or corrupt (then nothing in the file counts). */
  header: SegmentHeader | undefined;
  /** The records of the valid prefix, in order (views into the scanned bytes). */
  records: LogRecord[];
  /** Length of the valid prefix: the header and whole, checked, in-sequence records. */
  validBytes: number;
  /** The tail after the valid prefix, when there is one. */
  discarded: Discarded | undefined;
}

/** Bytes of a segment header. */
export const SEGMENT_HEADER_BYTES = 36;
/** Bytes a record adds to its ops. */
export const RECORD_OVERHEAD = 24;
/** Largest ops a record may hold; a length field above it is corruption. */
export const MAX_RECORD_OPS = 64 * 1024 * 1024;

const SEGMENT_MAGIC = 0x314c5347; // "GSL1" little-endian
const SEGMENT_VERSION = 1;
const CONTINUES = 1;

/** The bytes of a segment header. */
export function encodeSegmentHeader(header: SegmentHeader): Uint8Array {
  const bytes = new Uint8Array(SEGMENT_HEADER_BYTES);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, SEGMENT_MAGIC, true);
  v.setUint16(4, SEGMENT_VERSION, true);
  v.setUint16(6, header.continues ? CONTINUES : 0, true);
  v.setFloat64(8, header.generation, true);
  v.setFloat64(16, header.base.epoch, true);
  v.setFloat64(24, header.base.seq, true);
  v.setUint32(32, crc32(bytes, 0, 32), true);
  return bytes;
}

/** Bytes `record` takes in a segment. */
export function recordBytes(record: LogRecord): number {
  return RECORD_OVERHEAD + record.ops.length;
}

/** Writes `record` into `into` at `at` (room for `recordBytes(record)` needed); returns the end. */
export function writeRecord(record: LogRecord, into: Uint8Array, at: number): number {
  const v = new DataView(into.buffer, into.byteOffset, into.byteLength);
  const n = record.ops.length;
  v.setUint32(at, n, true);
  v.setFloat64(at + 4, record.epoch, true);
  v.setFloat64(at + 12, record.seq, true);
  into.set(record.ops, at + 20);
  v.setUint32(at + 20 + n, crc32(into, at, at + 20 + n), true);
  return at + RECORD_OVERHEAD + n;
}

/** The bytes of one record. */
export function encodeRecord(record: LogRecord): Uint8Array {
  const out = new Uint8Array(recordBytes(record));
  writeRecord(record, out, 0);
  return out;
}

/**
 * Reads a segment: its header and the longest prefix of whole, checksummed records that follow its
 * base position in sequence; everything after the first bad record is reported in `discarded` (a
 * record after a bad one cannot be applied without it). Never throws.
 */
export function scanSegment(bytes: Uint8Array): SegmentScan {
  const header = decodeSegmentHeader(bytes);
  if (typeof header === "string") {
    return {
      header: undefined,
      records: [],
      validBytes: 0,
      discarded: bytes.length === 0
        ? undefined
        : { at: 0, bytes: bytes.length, records: 0, reason: header },
    };
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: LogRecord[] = [];
  let p = SEGMENT_HEADER_BYTES;
  let last: Position = header.base;
  while (p < bytes.length) {
    const read = readRecord(bytes, v, p);
    let reason = typeof read === "string" ? read : undefined;
    if (read !== undefined && typeof read !== "string") {
      const r = read.record;
      if (r.seq !== last.seq + 1 || r.epoch < last.epoch) {
        reason = `record of epoch ${r.epoch} seq ${r.seq} does not follow epoch ${last.epoch} ` +
          `seq ${last.seq}`;
      } else {
        records.push(r);
        last = r;
        p = read.end;
        continue;
      }
    }
    return {
      header,
      records,
      validBytes: p,
      discarded: {
        at: p,
        bytes: bytes.length - p,
        records: countTail(bytes, v, p),
        reason: reason ?? "unreadable record",
      },
    };
  }
  return { header, records, validBytes: p, discarded: undefined };
}

/** The header of a segment, or why it cannot be used. */
function decodeSegmentHeader(bytes: Uint8Array): SegmentHeader | string {
  if (bytes.length < SEGMENT_HEADER_BYTES) {
    return `segment header truncated (${bytes.length} of ${SEGMENT_HEADER_BYTES} bytes)`;
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(32, true) !== crc32(bytes, 0, 32)) return "segment header checksum mismatch";
  if (v.getUint32(0, true) !== SEGMENT_MAGIC) return "not a log segment (bad magic)";
  const version = v.getUint16(4, true);
  if (version !== SEGMENT_VERSION) return `log segment version ${version} is not supported`;
  const generation = v.getFloat64(8, true);
  const epoch = v.getFloat64(16, true);
  const seq = v.getFloat64(24, true);
  if (![generation, epoch, seq].every(isCount)) return "segment header holds invalid numbers";
  return {
    generation,
    base: { epoch, seq },
    continues: (v.getUint16(6, true) & CONTINUES) !== 0,
  };
}

/** One record at `p`: the record and where it ends, a reason it is bad, or nothing when torn. */
function readRecord(
  bytes: Uint8Array,
  v: DataView,
  p: number,
): { record: LogRecord; end: number } | string {
  if (p + 20 > bytes.length) return `torn record header (${bytes.length - p} bytes)`;
  const n = v.getUint32(p, true);
  if (n > MAX_RECORD_OPS) return `record length ${n} is out of range`;
  const end = p + RECORD_OVERHEAD + n;
  if (end > bytes.length) return `torn record (${bytes.length - p} of ${end - p} bytes)`;
  if (v.getUint32(end - 4, true) !== crc32(bytes, p, end - 4)) return "record checksum mismatch";
  const epoch = v.getFloat64(p + 4, true);
  const seq = v.getFloat64(p + 12, true);
  if (!isCount(epoch) || !isCount(seq)) return "record holds an invalid epoch or seq";
  return { record: { epoch, seq, ops: bytes.subarray(p + 20, end - 4) }, end };
}

/**
 * How many records the tail from `p` held: the one at `p`, skipped by its length field when that
 * is plausible, then every whole record with a valid checksum after it; a torn remainder counts one.
 */
function countTail(bytes: Uint8Array, v: DataView, p: number): number {
  if (p >= bytes.length) return 0;
  let count = 1;
  if (p + 20 > bytes.length) return count;
  const n = v.getUint32(p, true);
  let q = p + RECORD_OVERHEAD + n;
  if (n > MAX_RECORD_OPS || q > bytes.length) return count;
  while (q < bytes.length) {
    const read = readRecord(bytes, v, q);
    count++;
    if (typeof read === "string") break;
    q = read.end;
  }
  return count;
}

function isCount(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 0;
}
