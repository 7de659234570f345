import type { GameState, StateSnapshotWriter } from "../state/mod.ts";
import { SnapshotSpace } from "../world/mod.ts";
import { crc32 } from "../checksum/mod.ts";
import { log } from "../log/mod.ts";
import { DataDir } from "./data_dir.ts";
import { JournalError, PersistError } from "./errors.ts";
import {
  encodeSegmentHeader,
  type LogRecord,
  recordBytes,
  SEGMENT_HEADER_BYTES,
  type SegmentHeader,
  writeRecord,
} from "./log_record.ts";
import { comparePositions, formatPosition, type Position } from "./position.ts";
import { recover, type RecoveryReport } from "./recovery.ts";
import { encodeSnapshotHeader } from "./snapshot_file.ts";

const logger = log("persist");

/** Options of {@linkcode Journal.open}. */
export interface JournalOptions {
  /** The node's data folder (created when missing). */
  dir: string;
  /** The node it belongs to (a folder of another node is refused). */
  nodeId: string;
  /** Start a snapshot this long (ms) after the previous one started, once the state moved on. */
  snapshotIntervalMs: number;
  /** …or as soon as the log segment holds this many bytes. */
  snapshotLogBytes: number;
  /** Encoding time a snapshot may take per tick, ms (default 2): what keeps the tick on time. */
  sliceMs?: number;
  /** Users encoded between two looks at the clock (default 1024). */
  sliceUsers?: number;
  /** Called once when a write or sync fails: from then on nothing becomes durable. */
  onFailure?: (error: Error) => void;
  /** The clock (default `performance.now`). */
  now?: () => number;
}

/** Figures for status, metrics and the benchmark. */
export interface JournalStats {
  /** Records appended since open. */
  records: number;
  /** Log bytes written since open. */
  logBytes: number;
  /** fdatasync calls on log segments (group commits). */
  syncs: number;
  /** Duration of the last group commit (write + fdatasync), ms. */
  lastCommitMs: number;
  /** Snapshots written since open (own and installed). */
  snapshots: number;
  /**
   * The last own snapshot: the copy of the world's records taken at its start (ms), the ticks it
   * was encoded over, the longest slice, and the time writing it took.
   */
  lastSnapshot:
    | {
      users: number;
      bytes: number;
      copyMs: number;
      ticks: number;
      maxSliceMs: number;
      writeMs: number;
    }
    | undefined;
}

type ResolvedOptions =
  & Required<Omit<JournalOptions, "onFailure">>
  & Pick<JournalOptions, "onFailure">;

/** Log records of one segment waiting to be written. */
interface Batch {
  segment: Segment;
  chunks: Uint8Array[];
  last: Position;
  /** Some record holds ops: the batch must be fsync'd before it counts as durable. */
  ops: boolean;
}

/** A log segment file. */
interface Segment {
  generation: number;
  path: string;
  file: Deno.FsFile | undefined;
  /** Records were written to it without an fdatasync since. */
  unsynced: boolean;
}

type Job =
  | { type: "flush"; batch: Batch }
  | { type: "rotate"; to: Segment; header: SegmentHeader }
  | {
    type: "install";
    generation: number;
    position: Position;
    world: Uint8Array;
    credentials: Uint8Array;
    to: Segment;
  };

/** A snapshot of the node's own state being encoded a slice per tick. */
interface OwnSnapshot {
  generation: number;
  position: Position;
  writer: StateSnapshotWriter;
  copyMs: number;
  users: number;
  ticks: number;
  maxSliceMs: number;
}

const WRITE_CHUNK = 1 << 20;
/** A large file is fdatasync'd every this many bytes: the log's own syncs never wait on much. */
const SYNC_EVERY = 8 << 20;

/**
 * A node's durable history in its data folder: the append-only log of the replication updates it
 * holds and the snapshots that bound it. The node appends each update as it publishes or applies it
 * (`append`), and once per tick hands the batch over (`commit`): it is written and fdatasync'd beside
 * the event loop (one fsync per tick that carries writes; a tick without ops needs none, losing it
 * to a crash loses only movement), and `whenDurable` callbacks run once it is on disk. That is what
 * gates acknowledgements: the master counts itself toward the majority, and a slave acks, only for
 * updates this journal says are durable.
 *
 * Snapshots: every `snapshotIntervalMs` (or `snapshotLogBytes` of log) `afterTick` starts one of the
 * state as of that tick: the log moves on to a new segment at once, and the snapshot is encoded a
 * slice per tick (`sliceMs`) and written beside the event loop; then files older than the previous
 * snapshot are removed (at most two snapshots, and the log since the older one). A slave that takes
 * a master's snapshot `install`s it: it replaces the history, written before anything after it
 * counts as durable.
 *
 * Recovery (`open`): the newest snapshot that passes its checks, falling back to an older one, then
 * the log from there, cut at the first torn, corrupt or out-of-sequence record (see `recover`).
 */
export class Journal {
  readonly #dir: DataDir;
  readonly #state: GameState;
  readonly #options: ResolvedOptions;
  readonly #jobs: Job[] = [];
  #running = false;
  #idle: PromiseWithResolvers<void> | undefined;
  #snapshotWrites: Promise<void> = Promise.resolve();
  /** The segment appends go to. */
  #segment: Segment;
  /** The segment the writer has open (behind `#segment` while a rotation is queued). */
  #writing: Segment;
  #batch: Batch;
  #held: Position;
  #durable: Position;
  #waiters: { position: Position; done: () => void }[] = [];
  #nextGeneration: number;
  #segmentBytes: number;
  #lastSnapshotStart: number;
  #lastSnapshotPosition: Position;
  #own: OwnSnapshot | undefined;
  #ownWriting = false;
  /** Room for the world's record copy, touched ahead and kept for every snapshot. */
  readonly #space = new SnapshotSpace();
  #failed: Error | undefined;
  #closed = false;
  readonly #stats: JournalStats = {
    records: 0,
    logBytes: 0,
    syncs: 0,
    lastCommitMs: 0,
    snapshots: 0,
    lastSnapshot: undefined,
  };

  private constructor(
    dir: DataDir,
    state: GameState,
    options: ResolvedOptions,
    segment: Segment,
    report: RecoveryReport,
    segmentBytes: number,
  ) {
    this.#dir = dir;
    this.#state = state;
    this.#options = options;
    this.#segment = segment;
    this.#writing = segment;
    this.#held = report.position;
    this.#durable = report.position;
    this.#batch = newBatch(segment, report.position);
    this.#nextGeneration = Math.max(report.nextGeneration, segment.generation + 1);
    this.#segmentBytes = segmentBytes;
    this.#lastSnapshotStart = options.now();
    this.#lastSnapshotPosition = report.position;
  }

  /**
   * Opens the data folder, rebuilds `state` (fresh and empty) from it and readies the log for
   * appending; the report says where the state stands and what was cut or set aside. Throws
   * {@linkcode PersistError} when the folder cannot be used (exit 2).
   */
  static open(
    state: GameState,
    options: JournalOptions,
  ): { journal: Journal; report: RecoveryReport } {
    const resolved = {
      sliceMs: 2,
      sliceUsers: 1024,
      now: () => performance.now(),
      ...options,
    };
    const dir = DataDir.open(options.dir, options.nodeId);
    try {
      const report = recover(dir, state);
      for (const g of report.corruptSnapshots) dir.setAside(dir.snapshotPath(g), "corrupt");
      for (const g of report.unusedLogs) dir.setAside(dir.logPath(g), "unused");
      let segment: Segment;
      let bytes: number;
      if (report.tail) {
        const path = dir.logPath(report.tail.generation);
        if (Deno.statSync(path).size !== report.tail.validBytes) {
          dir.truncate(path, report.tail.validBytes);
        }
        segment = {
          generation: report.tail.generation,
          path,
          file: Deno.openSync(path, { write: true, append: true }),
          unsynced: false,
        };
        bytes = report.tail.validBytes;
      } else {
        const generation = report.snapshot ?? 0;
        segment = createSegmentSync(dir, generation, {
          generation,
          base: report.position,
          continues: false,
        });
        bytes = SEGMENT_HEADER_BYTES;
      }
      dir.rescan();
      return { journal: new Journal(dir, state, resolved, segment, report, bytes), report };
    } catch (err) {
      dir.close();
      if (err instanceof PersistError) throw err;
      throw new PersistError(`Cannot recover from data_dir ${options.dir}: ${err}`, { cause: err });
    }
  }

  /** The data folder. */
  get dir(): string {
    return this.#dir.path;
  }

  /** The position of the last update appended or installed. */
  get held(): Position {
    return this.#held;
  }

  /** The position up to which everything held is on disk (what a crash now would recover). */
  get durable(): Position {
    return this.#durable;
  }

  /** The error that stopped the journal, if one did. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  /** Counters. */
  get stats(): Readonly<JournalStats> {
    return this.#stats;
  }

  /** True while a snapshot of the node's own state is being encoded or written. */
  get snapshotting(): boolean {
    return this.#own !== undefined || this.#ownWriting;
  }

  /**
   * Appends one replication update (published or applied: the state now includes it). It follows
   * the last one held: seq + 1, same or newer epoch. Written at the next `commit()`.
   */
  append(record: LogRecord): void {
    if (this.#failed || this.#closed) return;
    if (record.seq !== this.#held.seq + 1 || record.epoch < this.#held.epoch) {
      throw new Error(
        `Journal: ${formatPosition(record)} does not follow ${formatPosition(this.#held)}`,
      );
    }
    const bytes = new Uint8Array(recordBytes(record));
    writeRecord(record, bytes, 0);
    const batch = this.#batch;
    batch.chunks.push(bytes);
    batch.last = { epoch: record.epoch, seq: record.seq };
    if (record.ops.length > 0) batch.ops = true;
    this.#held = batch.last;
    this.#segmentBytes += bytes.length;
    this.#stats.records++;
  }

  /** Group commit: hands the records appended since the last call to the writer. */
  commit(): void {
    if (this.#batch.chunks.length === 0 || this.#failed) return;
    const batch = this.#batch;
    this.#batch = newBatch(this.#segment, batch.last);
    this.#enqueue({ type: "flush", batch });
  }

  /**
   * Calls `done` once `position` is durable (at once when it already is). Never called when the
   * journal fails, or for positions of a history an `install` replaced.
   */
  whenDurable(position: Position, done: () => void): void {
    if (this.#failed) return;
    if (comparePositions(position, this.#durable) <= 0) {
      done();
      return;
    }
    this.#waiters.push({ position, done });
  }

  /**
   * The state was replaced by a master's snapshot at `position` (this node follows a new master, or
   * fell out of step): the snapshot starts a new generation and segment, and becomes durable before
   * anything appended after it. Waiters of the replaced history are dropped.
   */
  install(position: Position, world: Uint8Array, credentials: Uint8Array): void {
    if (this.#failed || this.#closed) return;
    this.commit();
    this.#waiters = [];
    this.#own = undefined;
    const generation = this.#nextGeneration++;
    const to: Segment = {
      generation,
      path: this.#dir.logPath(generation),
      file: undefined,
      unsynced: false,
    };
    this.#enqueue({ type: "install", generation, position, world, credentials, to });
    this.#segment = to;
    this.#batch = newBatch(to, position);
    this.#held = position;
    this.#segmentBytes = SEGMENT_HEADER_BYTES;
    this.#lastSnapshotStart = this.#options.now();
    this.#lastSnapshotPosition = position;
  }

  /**
   * Once per tick, right after the tick's update was appended (the state is exactly at `held`):
   * starts a snapshot when one is due, or encodes the next slice of the one in progress.
   */
  afterTick(): void {
    if (this.#failed || this.#closed) return;
    const own = this.#own;
    if (own) {
      this.#encodeSlice(own);
      return;
    }
    if (this.#ownWriting) return;
    const now = this.#options.now();
    const moved = comparePositions(this.#held, this.#lastSnapshotPosition) > 0;
    const due = now - this.#lastSnapshotStart >= this.#options.snapshotIntervalMs ||
      this.#segmentBytes >= this.#options.snapshotLogBytes;
    if (!moved || !due) return;
    // The room for the copy is touched first, a slice per tick: fresh memory faults page by page.
    const need = this.#state.world.snapshotPositions;
    const clock = this.#options.now;
    let ready = false;
    do ready = this.#space.prepare(need, 4096); while (
      !ready && clock() - now < this.#options.sliceMs
    );
    if (ready) this.snapshotNow();
  }

  /**
   * Starts a snapshot of the state as it is now (which must be exactly `held`: no write applied
   * since the last append); false when one is already in progress. Encoded by later `afterTick()`s.
   * (`afterTick()` starts one only once the room for the world's copy is touched; called directly,
   * the copy may land in fresh memory and cost more.)
   */
  snapshotNow(): boolean {
    if (this.#own || this.#ownWriting || this.#failed || this.#closed) return false;
    if (this.#state.pendingOps !== 0) return false;
    this.commit();
    const generation = this.#nextGeneration++;
    const position = this.#held;
    const to: Segment = {
      generation,
      path: this.#dir.logPath(generation),
      file: undefined,
      unsynced: false,
    };
    // The log moves on at once: the new segment continues the old one, so until the snapshot is
    // on disk, recovery goes from the previous snapshot through both segments.
    this.#enqueue({ type: "rotate", to, header: { generation, base: position, continues: true } });
    this.#segment = to;
    this.#batch = newBatch(to, position);
    this.#segmentBytes = SEGMENT_HEADER_BYTES;
    this.#lastSnapshotStart = this.#options.now();
    this.#lastSnapshotPosition = position;
    const clock = this.#options.now;
    const copyStart = clock();
    const writer = this.#state.snapshotWriter(this.#space);
    this.#own = {
      generation,
      position,
      writer,
      copyMs: clock() - copyStart,
      users: this.#state.world.size,
      ticks: 0,
      maxSliceMs: 0,
    };
    return true;
  }

  /** Resolves once everything committed so far (and any snapshot being written) is on disk. */
  async settled(): Promise<void> {
    while (this.#running) {
      this.#idle ??= Promise.withResolvers<void>();
      await this.#idle.promise;
    }
    await this.#snapshotWrites;
  }

  /**
   * Commits and syncs what is held (an orderly stop loses nothing, not even idle ticks), waits for
   * the writers, and releases the folder. A snapshot still being encoded is abandoned. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.commit();
    this.#closed = true;
    this.#own = undefined;
    await this.settled().catch(() => {});
    const segment = this.#writing;
    try {
      if (segment.file && segment.unsynced && !this.#failed) segment.file.syncDataSync();
    } catch (err) {
      logger.error("Final sync of the log failed: {error}", { error: String(err) });
    }
    segment.file?.close();
    segment.file = undefined;
    this.#dir.close();
  }

  #encodeSlice(own: OwnSnapshot): void {
    if (own.writer.cancelled) {
      this.#own = undefined;
      return;
    }
    const clock = this.#options.now;
    const start = clock();
    let done = false;
    do done = own.writer.step(this.#options.sliceUsers); while (
      !done && clock() - start < this.#options.sliceMs
    );
    own.ticks++;
    own.maxSliceMs = Math.max(own.maxSliceMs, clock() - start);
    if (!done) return;
    this.#own = undefined;
    this.#ownWriting = true;
    const writer = own.writer;
    const begun = clock();
    this.#snapshotWrites = this.#snapshotWrites
      .then(() =>
        this.#writeSnapshot(own.generation, own.position, writer.world, writer.credentials, {
          credentialsCrc: writer.credentialsCrc,
        })
      )
      .then(() => {
        const last = {
          users: own.users,
          bytes: writer.world.length + writer.credentials.length,
          copyMs: round(own.copyMs),
          ticks: own.ticks,
          maxSliceMs: round(own.maxSliceMs),
          writeMs: round(clock() - begun),
        };
        this.#stats.lastSnapshot = last;
        logger.info(
          "Snapshot {generation} on disk: {position}, {users} users, {bytes} bytes; copied in {copyMs} ms, encoded over {ticks} ticks (longest slice {maxSliceMs} ms), written in {writeMs} ms",
          { generation: own.generation, position: formatPosition(own.position), ...last },
        );
      })
      .catch((err) => this.#fail(err))
      .finally(() => {
        this.#ownWriting = false;
      });
  }

  #enqueue(job: Job): void {
    this.#jobs.push(job);
    if (this.#running) return;
    this.#running = true;
    this.#run().catch((err) => this.#fail(err));
  }

  async #run(): Promise<void> {
    try {
      while (this.#jobs.length > 0 && !this.#failed) {
        const job = this.#jobs.shift()!;
        if (job.type === "flush") {
          // Group commit: every batch of the same segment queued behind it goes in one write + sync.
          const batches = [job.batch];
          while (
            this.#jobs[0]?.type === "flush" && this.#jobs[0].batch.segment === job.batch.segment
          ) {
            batches.push((this.#jobs.shift() as { batch: Batch }).batch);
          }
          await this.#flush(batches);
        } else if (job.type === "rotate") {
          await this.#rotate(job.to, job.header);
        } else {
          await this.#install(job);
        }
      }
    } finally {
      this.#running = false;
      this.#idle?.resolve();
      this.#idle = undefined;
    }
  }

  async #flush(batches: Batch[]): Promise<void> {
    const start = this.#options.now();
    const segment = batches[0].segment;
    const file = segment.file;
    if (!file) throw new Error(`Log segment ${segment.generation} is not open`);
    let length = 0;
    for (const b of batches) for (const c of b.chunks) length += c.length;
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const b of batches) {
      for (const c of b.chunks) {
        bytes.set(c, at);
        at += c.length;
      }
    }
    await writeAll(file, bytes);
    if (batches.some((b) => b.ops)) {
      await file.syncData();
      segment.unsynced = false;
      this.#stats.syncs++;
    } else segment.unsynced = true;
    this.#stats.logBytes += length;
    this.#stats.lastCommitMs = this.#options.now() - start;
    this.#advance(batches[batches.length - 1].last);
  }

  async #rotate(to: Segment, header: SegmentHeader): Promise<void> {
    const from = this.#writing;
    // The old segment's last records (idle ticks, never synced) must be on disk before anything in
    // the next one counts: recovery only goes on into a segment that starts where the last ended.
    if (from.file && from.unsynced) await from.file.syncData();
    from.file?.close();
    from.file = undefined;
    await createSegment(this.#dir, to, header);
    this.#writing = to;
  }

  async #install(job: Extract<Job, { type: "install" }>): Promise<void> {
    const start = this.#options.now();
    await this.#writeSnapshot(job.generation, job.position, job.world, job.credentials, {});
    const from = this.#writing;
    from.file?.close();
    from.file = undefined;
    await createSegment(this.#dir, job.to, {
      generation: job.generation,
      base: job.position,
      continues: false,
    });
    this.#writing = job.to;
    logger.info(
      "Master's snapshot on disk as generation {generation}: {position}, {bytes} bytes in {ms} ms",
      {
        generation: job.generation,
        position: formatPosition(job.position),
        bytes: job.world.length + job.credentials.length,
        ms: round(this.#options.now() - start),
      },
    );
    // Recovery would now start from this snapshot: that is the durable position.
    this.#durable = job.position;
    this.#advance(job.position);
  }

  async #writeSnapshot(
    generation: number,
    position: Position,
    world: Uint8Array,
    credentials: Uint8Array,
    known: { credentialsCrc?: number },
  ): Promise<void> {
    const header = encodeSnapshotHeader({
      generation,
      position,
      worldBytes: world.length,
      credentialsBytes: credentials.length,
      credentialsCrc: known.credentialsCrc ?? crc32(credentials),
    });
    const path = this.#dir.snapshotPath(generation);
    const tmp = `${path}.tmp`;
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let sinceSync = 0;
      for (const part of [header, world, credentials]) {
        for (let at = 0; at < part.length; at += WRITE_CHUNK) {
          const chunk = part.subarray(at, Math.min(part.length, at + WRITE_CHUNK));
          await writeAll(file, chunk);
          sinceSync += chunk.length;
          // Bounded dirty data: the log's fsyncs never have to push a whole snapshot out first.
          if (sinceSync >= SYNC_EVERY) {
            await file.syncData();
            sinceSync = 0;
          }
        }
      }
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
    await this.#dir.syncFolder();
    this.#stats.snapshots++;
    // At most two snapshots: the newest and the one before (the fallback), with the log since.
    this.#dir.rescan();
    const kept = this.#dir.snapshots;
    if (kept.length > 2) {
      const removed = await this.#dir.removeOlderThan(kept[kept.length - 2]);
      logger.debug("Removed {files}", { files: removed.join(", ") });
    }
  }

  /** Everything up to `position` is on disk: run the waiters it satisfies. */
  #advance(position: Position): void {
    if (comparePositions(position, this.#durable) > 0) this.#durable = position;
    const waiters = this.#waiters;
    let n = 0;
    while (n < waiters.length && comparePositions(waiters[n].position, this.#durable) <= 0) n++;
    if (n === 0) return;
    const ready = waiters.splice(0, n);
    for (const w of ready) {
      try {
        w.done();
      } catch (err) {
        logger.error("A durability callback threw: {error}", { error: String(err) });
      }
    }
  }

  #fail(err: unknown): void {
    if (this.#failed) return;
    const error = err instanceof Error ? err : new Error(String(err));
    this.#failed = new JournalError(`Persistence failed: ${error.message}`, { cause: error });
    this.#waiters = [];
    logger.error("Writing to {dir} failed: {error}; nothing is acknowledged any more", {
      dir: this.#dir.path,
      error: error.message,
    });
    this.#options.onFailure?.(this.#failed);
  }
}

function newBatch(segment: Segment, last: Position): Batch {
  return { segment, chunks: [], last, ops: false };
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
}

/** Creates a segment file with its header, durably (file and folder fsync'd), and opens it. */
async function createSegment(dir: DataDir, segment: Segment, header: SegmentHeader): Promise<void> {
  const file = await Deno.open(segment.path, { write: true, create: true, truncate: true });
  await writeAll(file, encodeSegmentHeader(header));
  await file.syncData();
  await dir.syncFolder();
  segment.file = file;
  segment.unsynced = false;
}

function createSegmentSync(dir: DataDir, generation: number, header: SegmentHeader): Segment {
  const path = dir.logPath(generation);
  const file = Deno.openSync(path, { write: true, create: true, truncate: true });
  const bytes = encodeSegmentHeader(header);
  for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
  file.syncSync();
  const folder = Deno.openSync(dir.path, { read: true });
  try {
    folder.syncSync();
  } finally {
    folder.close();
  }
  return { generation, path, file, unsynced: false };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
