/**
 * Persistence of a node's replicated state in its `data_dir`: an append-only log of the replication
 * updates (one checksummed record per update, group-committed once per tick) and snapshots of the
 * whole state that start a new log segment. This folder's pure half encodes and checks the files;
 * its adapter half writes, syncs and recovers them.
 *
 * ```ts
 * import { encodeRecord, encodeSegmentHeader, scanSegment } from "./mod.ts";
 * const header = encodeSegmentHeader({ generation: 0, base: { epoch: 0, seq: 0 }, continues: false });
 * const record = encodeRecord({ epoch: 1, seq: 1, ops: new Uint8Array() });
 * const scan = scanSegment(new Uint8Array([...header, ...record]));
 * console.assert(scan.records.length === 1 && scan.discarded === undefined);
 * ```
 *
 * @module
 */
export { JournalError, PersistError } from "./errors.ts";
export { Journal, type JournalOptions, type JournalStats } from "./journal.ts";
export {
  recover,
  type RecoveryFiles,
  type RecoveryReport,
  type RecoveryTail,
  type RecoveryTarget,
} from "./recovery.ts";
export { DataDir } from "./data_dir.ts";
export { comparePositions, formatPosition, ORIGIN, type Position } from "./position.ts";
export {
  type Discarded,
  encodeRecord,
  encodeSegmentHeader,
  type LogRecord,
  MAX_RECORD_OPS,
  RECORD_OVERHEAD,
  recordBytes,
  scanSegment,
  SEGMENT_HEADER_BYTES,
  type SegmentHeader,
  type SegmentScan,
  writeRecord,
} from "./log_record.ts";
export {
  decodeSnapshotFile,
  encodeSnapshotFile,
  encodeSnapshotHeader,
  SNAPSHOT_HEADER_BYTES,
  type SnapshotFile,
  type SnapshotHeader,
} from "./snapshot_file.ts";
