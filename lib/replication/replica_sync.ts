/** One replication update as a slave receives it (the fields of the `ReplicationUpdate` message). */
export interface UpdateMessage {
  /** Epoch of the master that published it. */
  epoch: number;
  /** Sequence number; update N = ops applied before step N, then step N. */
  seq: number;
  /** The master's op log for this tick (`OpLogWriter` format). */
  ops: Uint8Array;
  /** Checksum of the master's state after this update, or 0 when not sent with this update. */
  checksum: number;
  /** Which part of the state `checksum` covers (user id % checksumParts); default 0. */
  checksumPart?: number;
  /** Parts the state's checksum is split into (absent, 0 or 1: `checksum` covers it whole). */
  checksumParts?: number;
  /** Node id of the publishing master (for logs). */
  masterId: string;
}

/** A snapshot as a slave receives it: the master's state exactly after update `seq`. */
export interface SnapshotMessage {
  /** Epoch of the master that took it. */
  epoch: number;
  /** The last update the snapshot includes. */
  seq: number;
  /** World bytes (`World.snapshot()`). */
  world: Uint8Array;
  /** Session bytes (`GameState.credentialsSnapshot()`). */
  credentials: Uint8Array;
}

/** The replicated state a {@linkcode ReplicaSync} drives; a `GameState` (lib/state) is one as it is. */
export interface ReplicaTarget {
  /** Applies one update's ops, then advances the world by one tick; throws when the ops do not fit. */
  applyUpdate(ops: Uint8Array): void;
  /** Replaces the whole state; throws when the bytes are corrupt. */
  restore(world: Uint8Array, credentials: Uint8Array): void;
  /**
   * A uint32 checksum of the state, comparable with the master's: of the whole state, or with
   * `parts` > 1 of the users whose id % parts === part.
   */
  checksum(part?: number, parts?: number): number;
}

/**
 * Why a snapshot is requested: `start`, `reset` (new master named), `epoch_change` (an update of a
 * higher epoch), `gap` (an update was missed), `buffer_gap` (the snapshot does not reach the buffered
 * updates), `drift` (checksum mismatch), `apply_failed` (the target threw), `bad_snapshot`,
 * `snapshot_timeout`, `silence` (no update while live).
 */
export type SnapshotReason =
  | "start"
  | "reset"
  | "epoch_change"
  | "gap"
  | "buffer_gap"
  | "drift"
  | "apply_failed"
  | "bad_snapshot"
  | "snapshot_timeout"
  | "silence";

/**
 * What the node must do after a call, in order: ask the master for a snapshot, record an update
 * that applied (`applied`, to persist it) or a snapshot that replaced the state (`restored`), ack
 * a sequence (once what it covers is durable, when the node persists), or log.
 */
export type SyncAction =
  | { type: "request_snapshot"; reason: string }
  | { type: "applied"; epoch: number; seq: number; ops: Uint8Array }
  | { type: "restored"; epoch: number; seq: number; world: Uint8Array; credentials: Uint8Array }
  | { type: "ack"; seq: number }
  | {
    type: "log";
    level: "debug" | "info" | "warn" | "error";
    message: string;
    fields?: Record<string, unknown>;
  };

/** Where a replica stands: not started, waiting for a snapshot, or applying updates as they come. */
export type ReplicaSyncState = "need_snapshot" | "awaiting_snapshot" | "live";

/** Options of {@linkcode ReplicaSync}. */
export interface ReplicaSyncOptions {
  /** While live, no update for this long (ms) means the stream is lost: request a snapshot. */
  silenceMs: number;
  /** A requested snapshot that has not arrived after this long (ms) is requested again. */
  snapshotTimeoutMs: number;
  /** Updates buffered while awaiting a snapshot; the oldest are dropped beyond it. Default 500 (10 s of 20 ms ticks). */
  maxBuffered?: number;
}

/** Counters of a {@linkcode ReplicaSync}, for metrics. */
export interface ReplicaSyncStats {
  /** Updates applied to the target. */
  applied: number;
  /** Updates ignored: duplicates, older epochs, before start, malformed. */
  ignored: number;
  /** Updates dropped from a full buffer while awaiting a snapshot. */
  bufferDropped: number;
  /** Snapshot requests emitted. */
  snapshotRequests: number;
  /** Snapshots restored. */
  snapshotsApplied: number;
  /** Snapshots ignored (stale, unexpected) or refused by the target. */
  snapshotsRejected: number;
  /** Checksum mismatches detected. */
  drifts: number;
  /** Updates the target refused (it threw). */
  applyFailures: number;
}

/** Default bound of the buffer used while awaiting a snapshot. */
const DEFAULT_MAX_BUFFERED = 500;

/**
 * The slave side of replication, as a pure state machine: feed it updates, snapshots and the time;
 * it applies what it can to its {@linkcode ReplicaTarget} and returns the actions for the node
 * (request a snapshot, record what applied, ack, log). No sockets, no timers, never throws on bad
 * input.
 *
 * Rules: updates of the current epoch apply strictly in sequence; a gap, a higher epoch, a checksum
 * mismatch or a target that throws leads to a snapshot request; older epochs and duplicates are
 * ignored. While awaiting a snapshot, updates are buffered (bounded, oldest dropped) and those newer
 * than the snapshot are applied right after restoring it. Every update that applied and passed its
 * checksum yields an `applied` action, every restored snapshot a `restored` one, before the ack
 * that covers them. Acks are coalesced: at most one per call, for the last sequence the replica holds.
 */
export class ReplicaSync {
  readonly #target: ReplicaTarget;
  readonly #silenceMs: number;
  readonly #snapshotTimeoutMs: number;
  readonly #maxBuffered: number;
  #state: ReplicaSyncState = "need_snapshot";
  #epoch = 0;
  #lastSeq = 0;
  #masterId = "";
  #buffer: UpdateMessage[] = [];
  #lastUpdateAt = 0;
  #requestedAt = 0;
  #attempts = 0;
  #overflowLogged = false;
  /** A bad checksum part was logged; cleared by the next valid one. */
  #badPartLogged = false;
  readonly #stats: ReplicaSyncStats = {
    applied: 0,
    ignored: 0,
    bufferDropped: 0,
    snapshotRequests: 0,
    snapshotsApplied: 0,
    snapshotsRejected: 0,
    drifts: 0,
    applyFailures: 0,
  };

  /** Creates a replica in state `need_snapshot`; call `start()` or `reset()` to begin. */
  constructor(target: ReplicaTarget, options: ReplicaSyncOptions) {
    if (!(options.silenceMs > 0)) throw new RangeError("silenceMs must be positive");
    if (!(options.snapshotTimeoutMs > 0)) {
      throw new RangeError("snapshotTimeoutMs must be positive");
    }
    const maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    if (!Number.isInteger(maxBuffered) || maxBuffered < 0) {
      throw new RangeError("maxBuffered must be a non-negative integer");
    }
    this.#target = target;
    this.#silenceMs = options.silenceMs;
    this.#snapshotTimeoutMs = options.snapshotTimeoutMs;
    this.#maxBuffered = maxBuffered;
  }

  /** Where the replica stands. */
  get state(): ReplicaSyncState {
    return this.#state;
  }

  /** The last sequence the replica holds (applied, or restored from a snapshot); 0 before any. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** The epoch the replica follows. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Node id of the master the last accepted update came from ("" before any). */
  get masterId(): string {
    return this.#masterId;
  }

  /** When the last update applied or snapshot restored arrived (the time handed in; 0 before any). */
  get lastUpdateAt(): number {
    return this.#lastUpdateAt;
  }

  /** Updates buffered while awaiting a snapshot. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** A copy of the counters. */
  get stats(): ReplicaSyncStats {
    return { ...this.#stats };
  }

  /** Begins following the master of `epoch`: requests the first snapshot. */
  start(epoch: number, now: number): SyncAction[] {
    return this.#follow(epoch, now, "start");
  }

  /** Handles one update from the subscription. */
  onUpdate(update: UpdateMessage, now: number): SyncAction[] {
    const actions: SyncAction[] = [];
    if (this.#state === "need_snapshot") {
      this.#stats.ignored++;
      return actions;
    }
    if (
      !isSequence(update.epoch) || !isSequence(update.seq) || !(update.ops instanceof Uint8Array)
    ) {
      this.#stats.ignored++;
      actions.push(log("warn", "Malformed replication update ignored", {
        epoch: update.epoch,
        seq: update.seq,
      }));
      return actions;
    }
    if (update.epoch < this.#epoch) {
      this.#stats.ignored++;
      actions.push(log("debug", "Update of an older epoch ignored", {
        epoch: update.epoch,
        current: this.#epoch,
        seq: update.seq,
        masterId: update.masterId,
      }));
      return actions;
    }
    if (update.epoch > this.#epoch) {
      actions.push(log("info", "A new master publishes: following its epoch", {
        epoch: update.epoch,
        previous: this.#epoch,
        masterId: update.masterId,
      }));
      this.#epoch = update.epoch;
      this.#masterId = update.masterId;
      this.#buffer = [];
      this.#bufferUpdate(update, actions);
      actions.push(this.#request("epoch_change", now));
      return actions;
    }
    if (update.masterId !== "") this.#masterId = update.masterId;
    if (this.#state === "awaiting_snapshot") {
      this.#bufferUpdate(update, actions);
      return actions;
    }
    // Live.
    if (update.seq <= this.#lastSeq) {
      this.#stats.ignored++;
      actions.push(log("debug", "Duplicate update ignored", {
        seq: update.seq,
        lastSeq: this.#lastSeq,
      }));
      return actions;
    }
    if (update.seq !== this.#lastSeq + 1) {
      actions.push(log("warn", "Replication gap: updates were missed", {
        expected: this.#lastSeq + 1,
        got: update.seq,
        missed: update.seq - this.#lastSeq - 1,
      }));
      this.#buffer = [];
      this.#bufferUpdate(update, actions);
      actions.push(this.#request("gap", now));
      return actions;
    }
    if (this.#apply(update, now, actions)) actions.push({ type: "ack", seq: this.#lastSeq });
    return actions;
  }

  /** Handles a snapshot reply: restores it, then applies the buffered updates newer than it. */
  onSnapshot(snapshot: SnapshotMessage, now: number): SyncAction[] {
    const actions: SyncAction[] = [];
    if (this.#state !== "awaiting_snapshot") {
      // A late answer to an earlier request: the replica is already in step (or not started).
      this.#stats.snapshotsRejected++;
      actions.push(log("debug", "Unexpected snapshot ignored", {
        state: this.#state,
        seq: snapshot.seq,
      }));
      return actions;
    }
    if (!isSequence(snapshot.epoch) || !isSequence(snapshot.seq)) {
      this.#stats.snapshotsRejected++;
      actions.push(log("warn", "Malformed snapshot ignored", {
        epoch: snapshot.epoch,
        seq: snapshot.seq,
      }));
      return actions;
    }
    if (snapshot.epoch < this.#epoch) {
      this.#stats.snapshotsRejected++;
      actions.push(log("debug", "Snapshot of an older epoch ignored", {
        epoch: snapshot.epoch,
        current: this.#epoch,
      }));
      return actions;
    }
    if (snapshot.epoch > this.#epoch) {
      // The new master answered before its first update arrived: the buffer is the old master's.
      this.#epoch = snapshot.epoch;
      this.#buffer = [];
    }
    try {
      this.#target.restore(snapshot.world, snapshot.credentials);
    } catch (error) {
      this.#stats.snapshotsRejected++;
      actions.push(log("error", "Snapshot could not be restored", {
        seq: snapshot.seq,
        error: errorText(error),
      }));
      actions.push(this.#request("bad_snapshot", now));
      return actions;
    }
    this.#stats.snapshotsApplied++;
    this.#state = "live";
    this.#lastSeq = snapshot.seq;
    actions.push({
      type: "restored",
      epoch: this.#epoch,
      seq: snapshot.seq,
      world: snapshot.world,
      credentials: snapshot.credentials,
    });
    this.#lastUpdateAt = now;
    this.#attempts = 0;
    const buffer = this.#buffer;
    this.#buffer = [];
    actions.push(log("info", "Snapshot restored", {
      epoch: this.#epoch,
      seq: snapshot.seq,
      bytes: snapshot.world.length + snapshot.credentials.length,
      buffered: buffer.length,
    }));
    let ackSeq = snapshot.seq;
    for (let i = 0; i < buffer.length; i++) {
      const update = buffer[i];
      if (update.seq <= this.#lastSeq) continue;
      if (update.seq !== this.#lastSeq + 1) {
        actions.push(log("warn", "Snapshot is older than the buffered updates", {
          snapshotSeq: snapshot.seq,
          expected: this.#lastSeq + 1,
          got: update.seq,
        }));
        // Keep the rest: a newer snapshot may still reach them.
        this.#buffer = buffer.slice(i);
        actions.push(this.#request("buffer_gap", now));
        break;
      }
      if (!this.#apply(update, now, actions)) break;
      ackSeq = this.#lastSeq;
    }
    // The state after the snapshot (and the updates that applied cleanly) is held here: ack it.
    actions.push({ type: "ack", seq: ackSeq });
    return actions;
  }

  /** Checks the clocks: silence while live, or a snapshot that does not come, leads to a request. */
  tick(now: number): SyncAction[] {
    if (this.#state === "live" && now - this.#lastUpdateAt >= this.#silenceMs) {
      this.#buffer = [];
      return [
        log("warn", "No replication update received: asking for a snapshot", {
          silentMs: Math.round(now - this.#lastUpdateAt),
          lastSeq: this.#lastSeq,
        }),
        this.#request("silence", now),
      ];
    }
    if (this.#state === "awaiting_snapshot" && now - this.#requestedAt >= this.#snapshotTimeoutMs) {
      return [
        log("warn", "Snapshot did not arrive: asking again", {
          waitedMs: Math.round(now - this.#requestedAt),
          attempts: this.#attempts,
          buffered: this.#buffer.length,
        }),
        this.#request("snapshot_timeout", now),
      ];
    }
    return [];
  }

  /**
   * The master changed (the registry named a new one for `epoch`): drops buffered updates of older
   * epochs and requests a snapshot from the new master. An `epoch` below the current one is ignored.
   */
  reset(epoch: number, now: number): SyncAction[] {
    return this.#follow(epoch, now, "reset");
  }

  #follow(epoch: number, now: number, reason: SnapshotReason): SyncAction[] {
    if (!isSequence(epoch)) {
      throw new RangeError(`epoch must be a non-negative integer, got ${epoch}`);
    }
    if (epoch < this.#epoch) {
      return [log("warn", "Master change to an older epoch ignored", {
        epoch,
        current: this.#epoch,
      })];
    }
    this.#epoch = epoch;
    // Updates already received from the new master stay useful; the old master's do not.
    this.#buffer = this.#buffer.filter((u) => u.epoch >= epoch);
    return [this.#request(reason, now)];
  }

  /** Applies one in-order update; false (and a snapshot request in `actions`) when it went wrong. */
  #apply(update: UpdateMessage, now: number, actions: SyncAction[]): boolean {
    try {
      this.#target.applyUpdate(update.ops);
    } catch (error) {
      this.#stats.applyFailures++;
      actions.push(log("error", "Replication update could not be applied", {
        seq: update.seq,
        bytes: update.ops.length,
        error: errorText(error),
      }));
      this.#buffer = [];
      actions.push(this.#request("apply_failed", now));
      return false;
    }
    this.#stats.applied++;
    this.#lastUpdateAt = now;
    const parts = (update.checksumParts ?? 0) > 1 ? update.checksumParts! : 1;
    const part = parts > 1 ? update.checksumPart ?? 0 : 0;
    const validPart = Number.isInteger(parts) && Number.isInteger(part) && part >= 0 &&
      part < parts;
    if (update.checksum !== 0 && !validPart) {
      // Logged once until a valid one comes: a master that always sends it must not flood the log.
      if (!this.#badPartLogged) {
        this.#badPartLogged = true;
        actions.push(log("warn", "Replication update names a checksum part that does not exist", {
          seq: update.seq,
          part,
          parts,
        }));
      }
    } else if (update.checksum !== 0) {
      this.#badPartLogged = false;
      let local: number;
      try {
        local = this.#target.checksum(part, parts) >>> 0;
      } catch (error) {
        local = Number.NaN;
        actions.push(log("error", "Checksum of the replica failed", { error: errorText(error) }));
      }
      if (local !== update.checksum >>> 0) {
        this.#stats.drifts++;
        actions.push(log("error", "Replica drifted from the master: checksum mismatch", {
          seq: update.seq,
          part: `${part}/${parts}`,
          master: update.checksum >>> 0,
          replica: local,
        }));
        this.#buffer = [];
        actions.push(this.#request("drift", now));
        return false;
      }
    }
    this.#lastSeq = update.seq;
    actions.push({ type: "applied", epoch: this.#epoch, seq: update.seq, ops: update.ops });
    return true;
  }

  #bufferUpdate(update: UpdateMessage, actions: SyncAction[]): void {
    const buffer = this.#buffer;
    const last = buffer[buffer.length - 1];
    if (last !== undefined && update.seq <= last.seq) {
      this.#stats.ignored++;
      return;
    }
    if (this.#maxBuffered === 0) {
      this.#stats.bufferDropped++;
      return;
    }
    buffer.push(update);
    if (buffer.length > this.#maxBuffered) {
      // The newest updates are the ones a snapshot taken later will need.
      buffer.shift();
      this.#stats.bufferDropped++;
      if (!this.#overflowLogged) {
        this.#overflowLogged = true;
        actions.push(
          log("warn", "Update buffer full while awaiting a snapshot: dropping the oldest", {
            maxBuffered: this.#maxBuffered,
          }),
        );
      }
    }
  }

  #request(reason: SnapshotReason, now: number): SyncAction {
    this.#state = "awaiting_snapshot";
    this.#requestedAt = now;
    this.#attempts++;
    this.#overflowLogged = false;
    this.#stats.snapshotRequests++;
    return { type: "request_snapshot", reason };
  }
}

function isSequence(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function log(
  level: "debug" | "info" | "warn" | "error",
  message: string,
  fields?: Record<string, unknown>,
): SyncAction {
  return fields === undefined
    ? { type: "log", level, message }
    : { type: "log", level, message, fields };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
