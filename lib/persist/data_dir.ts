/**
 * The data folder of one node, the only file I/O of persistence (besides the open log segment the
 * journal appends to): an exclusive lock, the owner's node id, and the snapshot and log files by
 * generation. Layout:
 *
 * - `LOCK` — held (flock) while a process uses the folder; `NODE` — the node id it belongs to;
 * - `snapshot-<generation>.snap` — a snapshot (`snapshot_file.ts`), written to `.tmp` then renamed;
 * - `log-<generation>.wal` — the log segment of the updates after that snapshot (`log_record.ts`);
 * - `*.corrupt`, `*.unused` — files recovery could not use, kept for an operator until they are
 *   older than every snapshot kept.
 *
 * @module
 */
import { PersistError } from "./errors.ts";
import type { RecoveryFiles } from "./recovery.ts";

const SNAPSHOT = /^snapshot-(\d{12})\.snap$/;
const LOG = /^log-(\d{12})\.wal$/;
const ASIDE = /^(?:snapshot|log)-(\d{12})\.(?:snap|wal)\.(?:corrupt|unused)$/;
const TMP = /\.tmp$/;

/** A node's data folder, locked for this process while open. */
export class DataDir implements RecoveryFiles {
  /** The folder. */
  readonly path: string;
  readonly #lock: Deno.FsFile;
  #snapshots: number[] = [];
  #logs: number[] = [];

  private constructor(path: string, lock: Deno.FsFile) {
    this.path = path;
    this.#lock = lock;
    this.rescan();
  }

  /**
   * Opens (creating when missing) the data folder of node `nodeId`: locks it, checks it belongs to
   * that node (or claims it) and removes leftover temporary files. Throws {@linkcode PersistError}
   * when another process holds it, it belongs to another node, or it cannot be used.
   */
  static open(path: string, nodeId: string): DataDir {
    let lock: Deno.FsFile;
    try {
      Deno.mkdirSync(path, { recursive: true });
      lock = Deno.openSync(`${path}/LOCK`, { read: true, write: true, create: true });
    } catch (err) {
      throw new PersistError(`Cannot open data_dir ${path}: ${err}`, { cause: err });
    }
    if (!lock.tryLockSync(true)) {
      lock.close();
      throw new PersistError(
        `data_dir ${path} is in use by another process; give each node its own data_dir`,
      );
    }
    try {
      const owner = readOwner(path);
      if (owner === undefined) {
        atomicWriteSync(`${path}/NODE`, new TextEncoder().encode(`${nodeId}\n`));
      } else if (owner !== nodeId) {
        throw new PersistError(
          `data_dir ${path} belongs to node ${owner}, not ${nodeId}; point data_dir elsewhere`,
        );
      }
      for (const entry of Deno.readDirSync(path)) {
        if (entry.isFile && TMP.test(entry.name)) Deno.removeSync(`${path}/${entry.name}`);
      }
      return new DataDir(path, lock);
    } catch (err) {
      lock.close();
      if (err instanceof PersistError) throw err;
      throw new PersistError(`Cannot use data_dir ${path}: ${err}`, { cause: err });
    }
  }

  /** Generations with a snapshot file, as of the last `rescan()`. */
  get snapshots(): readonly number[] {
    return this.#snapshots;
  }

  /** Generations with a log segment, as of the last `rescan()`. */
  get logs(): readonly number[] {
    return this.#logs;
  }

  /** Lists the folder again. */
  rescan(): void {
    const snapshots: number[] = [];
    const logs: number[] = [];
    for (const entry of Deno.readDirSync(this.path)) {
      if (!entry.isFile) continue;
      const s = SNAPSHOT.exec(entry.name);
      if (s) snapshots.push(Number(s[1]));
      const l = LOG.exec(entry.name);
      if (l) logs.push(Number(l[1]));
    }
    this.#snapshots = snapshots.sort((a, b) => a - b);
    this.#logs = logs.sort((a, b) => a - b);
  }

  /** Path of snapshot `generation`. */
  snapshotPath(generation: number): string {
    return `${this.path}/snapshot-${pad(generation)}.snap`;
  }

  /** Path of log segment `generation`. */
  logPath(generation: number): string {
    return `${this.path}/log-${pad(generation)}.wal`;
  }

  /** The bytes of snapshot `generation`. */
  readSnapshot(generation: number): Uint8Array {
    return Deno.readFileSync(this.snapshotPath(generation));
  }

  /** The bytes of log segment `generation`. */
  readLog(generation: number): Uint8Array {
    return Deno.readFileSync(this.logPath(generation));
  }

  /** Renames a file recovery could not use to `<name>.<why>`, out of the way of new ones. */
  setAside(path: string, why: "corrupt" | "unused"): void {
    Deno.renameSync(path, `${path}.${why}`);
  }

  /** Cuts a file to its first `length` bytes and makes that durable. */
  truncate(path: string, length: number): void {
    const file = Deno.openSync(path, { write: true });
    try {
      file.truncateSync(length);
      file.syncSync();
    } finally {
      file.close();
    }
  }

  /**
   * Removes every snapshot older than `oldestKept` and every log segment and set-aside file older
   * than it; returns the names removed. Async: runs beside the tick.
   */
  async removeOlderThan(oldestKept: number): Promise<string[]> {
    const removed: string[] = [];
    for await (const entry of Deno.readDir(this.path)) {
      if (!entry.isFile) continue;
      const m = SNAPSHOT.exec(entry.name) ?? LOG.exec(entry.name) ?? ASIDE.exec(entry.name);
      if (!m || Number(m[1]) >= oldestKept) continue;
      try {
        await Deno.remove(`${this.path}/${entry.name}`);
        removed.push(entry.name);
      } catch (err) {
        // Two cleanups may overlap (a master's snapshot installed while one of our own is written).
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
    if (removed.length > 0) await this.syncFolder();
    this.rescan();
    return removed;
  }

  /** Fsyncs the folder, so file creations, renames and removals in it survive a power cut. */
  async syncFolder(): Promise<void> {
    const dir = await Deno.open(this.path, { read: true });
    try {
      await dir.sync();
    } finally {
      dir.close();
    }
  }

  /** Releases the lock. */
  close(): void {
    try {
      this.#lock.unlockSync();
    } finally {
      this.#lock.close();
    }
  }
}

/** A generation as the 12 digits of file names. */
function pad(generation: number): string {
  return String(generation).padStart(12, "0");
}

function readOwner(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(`${path}/NODE`).trim();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** Writes a small file whole or not at all: temporary file, fsync, rename, folder fsync. */
function atomicWriteSync(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp`;
  const file = Deno.openSync(tmp, { write: true, create: true, truncate: true });
  try {
    for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
    file.syncSync();
  } finally {
    file.close();
  }
  Deno.renameSync(tmp, path);
  const dir = Deno.openSync(path.slice(0, path.lastIndexOf("/")) || "/", { read: true });
  try {
    dir.syncSync();
  } finally {
    dir.close();
  }
}
