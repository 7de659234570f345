/**
 * Recovery of a node's state from its files, as pure logic over a {@linkcode RecoveryFiles} view
 * (the data folder adapter provides one; tests use bytes in memory).
 *
 * @module
 */
import { scanSegment, type SegmentHeader } from "./log_record.ts";
import { comparePositions, formatPosition, ORIGIN, type Position } from "./position.ts";
import { decodeSnapshotFile } from "./snapshot_file.ts";
import { PersistError } from "./errors.ts";

/** The files recovery reads, by generation. */
export interface RecoveryFiles {
  /** Generations that have a snapshot file. */
  readonly snapshots: readonly number[];
  /** Generations that have a log segment. */
  readonly logs: readonly number[];
  /** The bytes of a snapshot file. */
  readSnapshot(generation: number): Uint8Array;
  /** The bytes of a log segment. */
  readLog(generation: number): Uint8Array;
}

/** What recovery rebuilds: a `GameState` is one as it is. */
export interface RecoveryTarget {
  /** Replaces the whole state; throws (changing nothing) when the bytes are corrupt. */
  restore(world: Uint8Array, credentials: Uint8Array): void;
  /** Applies one update's ops, then one step. */
  applyUpdate(ops: Uint8Array): void;
}

/** The log segment recovery ended in, where appending goes on. */
export interface RecoveryTail {
  /** Its generation. */
  generation: number;
  /** Its header. */
  header: SegmentHeader;
  /** Bytes of its valid prefix: anything after it is cut off before appending. */
  validBytes: number;
}

/** What recovery did. */
export interface RecoveryReport {
  /** The position the state was rebuilt to. */
  position: Position;
  /** The snapshot generation it started from (undefined: the empty state). */
  snapshot: number | undefined;
  /** Log records replayed on top of it. */
  replayed: number;
  /** Generations of the log segments replayed, in order. */
  segments: number[];
  /** Where to go on appending; undefined: start a segment for `snapshot`'s generation (or 0). */
  tail: RecoveryTail | undefined;
  /** Snapshot generations that failed their checks (to move aside). */
  corruptSnapshots: number[];
  /** Log generations after the end of recovery, never replayed (to move aside). */
  unusedLogs: number[];
  /** Records and bytes cut off or left unused in total. */
  discarded: { records: number; bytes: number };
  /** One line per thing that was not as written: a fallback, a cut, an unused file. */
  problems: string[];
  /** The first generation no file uses yet. */
  nextGeneration: number;
}

/**
 * Rebuilds `target` (a fresh, empty state) from the newest snapshot that passes its checks, falling
 * back to older ones, then replays its log segment and every later one that continues it, up to the
 * first record that is torn, corrupt or out of sequence. Throws {@linkcode PersistError} when a
 * record that passed its checks cannot be applied (then the state is not trustworthy: an operator
 * decides); anything else is reported in `problems` and recovery goes on with what is valid.
 */
export function recover(files: RecoveryFiles, target: RecoveryTarget): RecoveryReport {
  const snapshots = [...files.snapshots].sort((a, b) => b - a);
  const logs = new Set(files.logs);
  const problems: string[] = [];
  const corruptSnapshots: number[] = [];
  const discarded = { records: 0, bytes: 0 };
  let start: { generation: number | undefined; position: Position } = {
    generation: undefined,
    position: ORIGIN,
  };
  for (const generation of snapshots) {
    const why = restoreSnapshot(files, generation, target);
    if (typeof why !== "string") {
      start = { generation, position: why };
      break;
    }
    corruptSnapshots.push(generation);
    problems.push(`snapshot ${generation} is unusable (${why}): falling back to an older one`);
  }
  if (snapshots.length > 0 && start.generation === undefined) {
    problems.push("no snapshot is usable: starting from the empty state");
  }
  let position = start.position;
  let replayed = 0;
  const segments: number[] = [];
  let tail: RecoveryTail | undefined;
  for (let generation = start.generation ?? 0; logs.has(generation); generation++) {
    const scan = scanSegment(files.readLog(generation));
    const header = scan.header;
    const first = generation === (start.generation ?? 0);
    if (!header) {
      problems.push(`log ${generation} is unusable: ${scan.discarded?.reason ?? "empty file"}`);
      break;
    }
    if (comparePositions(header.base, position) !== 0 || (!first && !header.continues)) {
      // A segment of another history (a snapshot taken from a new master): not ours to replay.
      if (!first) break;
      problems.push(
        `log ${generation} starts at ${formatPosition(header.base)}, its snapshot is at ` +
          formatPosition(position),
      );
      break;
    }
    for (const record of scan.records) {
      try {
        target.applyUpdate(record.ops);
      } catch (err) {
        throw new PersistError(
          `Log ${generation}: the record of ${formatPosition(record)} passed its checksum but ` +
            `cannot be applied (${(err as Error).message}); the state is not trustworthy`,
          { cause: err },
        );
      }
      position = { epoch: record.epoch, seq: record.seq };
      replayed++;
    }
    segments.push(generation);
    tail = { generation, header, validBytes: scan.validBytes };
    if (scan.discarded) {
      const d = scan.discarded;
      discarded.records += d.records;
      discarded.bytes += d.bytes;
      problems.push(
        `log ${generation}: cut ${d.records} record${d.records === 1 ? "" : "s"} (${d.bytes} ` +
          `bytes) from byte ${d.at}: ${d.reason}`,
      );
      break;
    }
  }
  // Segments after the last one replayed hold nothing that follows the recovered state.
  const last = tail?.generation ?? (start.generation ?? 0) - 1;
  const unusedLogs = [...logs].filter((g) => g > last).sort((a, b) => a - b);
  for (const g of unusedLogs) {
    const bytes = files.readLog(g);
    const scan = scanSegment(bytes);
    const records = scan.records.length + (scan.discarded?.records ?? 0);
    discarded.records += records;
    discarded.bytes += bytes.length;
    problems.push(
      `log ${g} (${records} records, ${bytes.length} bytes) is not replayed: set aside`,
    );
  }
  const all = [...files.snapshots, ...files.logs];
  return {
    position,
    snapshot: start.generation,
    replayed,
    segments,
    tail,
    corruptSnapshots,
    unusedLogs,
    discarded,
    problems,
    nextGeneration: all.length === 0 ? 1 : Math.max(...all) + 1,
  };
}

/** Restores snapshot `generation` into `target`: its position, or why it cannot be used. */
function restoreSnapshot(
  files: RecoveryFiles,
  generation: number,
  target: RecoveryTarget,
): Position | string {
  let bytes: Uint8Array;
  try {
    bytes = files.readSnapshot(generation);
  } catch (err) {
    return `cannot be read: ${(err as Error).message}`;
  }
  const file = decodeSnapshotFile(bytes);
  if (typeof file === "string") return file;
  if (file.generation !== generation) return `its header says generation ${file.generation}`;
  try {
    target.restore(file.world, file.credentials);
  } catch (err) {
    return (err as Error).message;
  }
  return file.position;
}
