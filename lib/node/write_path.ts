import type { Envelope, ErrorCode } from "../protocol/mod.ts";

/**
 * A write a slave hands to the master; `done` receives the master's reply envelope (for a login, with
 * the user's resume generation) exactly once.
 */
export interface ForwardedWrite {
  clientId: string;
  requestId: number;
  /** The client's request, re-encoded for the master. */
  request: Envelope;
  /** The user this client's session is bound to here (0 = none). */
  userId: number;
  done: (reply: Envelope, generation?: number) => void;
}

/** How a node performs writes: locally (single, master) or by forwarding to the master (slave). */
export interface WritePath {
  /** Slave: send the write to the master; false when no master is reachable. */
  forward?: (write: ForwardedWrite) => boolean;
  /**
   * Master (and a single node that persists): call `ack` with the replication sequence that carries
   * the writes applied so far, once a majority holds it (on disk, with persistence), or `fail`
   * (timeout, step-down).
   */
  whenDurable?: (
    ack: (seq: number) => void,
    fail: (code: ErrorCode, message: string) => void,
  ) => void;
  /** Slave: ask the master to remove a vanished client's user unless it was resumed since. */
  expire?: (userId: number, generation: number) => void;
  /** Master: false while fenced (cut off from registry and every slave): writes are refused. */
  canAcknowledge?: () => boolean;
}
