/** Options of {@linkcode AckTracker}. */
export interface AckTrackerOptions {
  /**
   * Replicas that must hold a write before it is acknowledged: -1 = auto (1 while any replica is
   * live, else 0); 0 = never wait; n > 0 = n, degraded to the live replicas (see `required()`).
   */
  minReplicas: number;
  /**
   * The majority rule: exactly this many replicas (of those set with `setReplicas()`, live or not)
   * must hold a write, never fewer; overrides `minReplicas`. A cluster of n members uses
   * ⌊n/2⌋ (a majority counting the master itself).
   */
  quorum?: number;
  /** A write not durable after this long (ms) fails with `TIMEOUT`. */
  timeoutMs: number;
  /**
   * The node persists its own history: a write is also held back until `setLocalDurable()` says
   * the master's own disk holds its update (the master's copy counts toward the majority only once
   * it is synced). Default false: the master's copy counts at once.
   */
  local?: boolean;
}

interface Waiter {
  seq: number;
  deadline: number;
  ack: () => void;
  fail: (code: "TIMEOUT", message: string) => void;
}

/** Compact the waiter queue once this many settled entries sit at its front. */
const COMPACT_AT = 1024;

/**
 * The master side of write durability, pure: each write waits for the update that carries it
 * (`seq`) to be acknowledged by `required()` live replicas, then its `ack` runs; after `timeoutMs`
 * its `fail` runs instead. Every callback runs exactly once.
 *
 * The majority rule (`quorum`, the cluster default): a write is acknowledged once `quorum` of the
 * replicas named by `setReplicas()` acknowledged it, whether or not they are live; with fewer acks it
 * waits and then fails. Nothing degrades, so a master cut off from a majority cannot acknowledge.
 *
 * Degrade policy (an explicit opt-in, `minReplicas = n` without a quorum): `required()` is `min(n, live)`, `required()` is `min(n, live)`, so fewer live replicas
 * than asked for lower the bar instead of refusing writes (Redis' `min-replicas-to-write` refuses);
 * it is never 0 while a replica is live. With no live replica at all nothing is waited for, and
 * writes waiting when the last replica leaves are acknowledged: the promise is "replicated to the
 * required live slaves, when there are any". A master that steps down calls `failAll()` first.
 *
 * Waiters are kept sorted by `seq` (writes arrive in sequence order), so an ack settles a prefix
 * of the queue: O(settled + replicas·log replicas) per ack.
 */
export class AckTracker {
  readonly #minReplicas: number;
  readonly #quorum: number | undefined;
  readonly #timeoutMs: number;
  /** Highest seq acknowledged by each live replica (0 before its first ack). */
  #acked = new Map<string, number>();
  #waiters: Waiter[] = [];
  #head = 0;
  /** Highest seq held by `required()` replicas (Infinity when nothing is required). */
  #durable = Number.POSITIVE_INFINITY;
  /** Highest seq on the master's own disk (Infinity when it does not persist). */
  #local = Number.POSITIVE_INFINITY;

  /** Creates a tracker with no replicas (so writes are acknowledged at once until `setReplicas()`). */
  constructor(options: AckTrackerOptions) {
    if (!Number.isInteger(options.minReplicas) || options.minReplicas < -1) {
      throw new RangeError(
        `minReplicas must be -1 (auto) or an integer >= 0, got ${options.minReplicas}`,
      );
    }
    if (!(options.timeoutMs > 0)) throw new RangeError("timeoutMs must be positive");
    if (
      options.quorum !== undefined && (!Number.isInteger(options.quorum) || options.quorum < 0)
    ) {
      throw new RangeError(`quorum must be an integer >= 0, got ${options.quorum}`);
    }
    this.#minReplicas = options.minReplicas;
    this.#quorum = options.quorum;
    if (options.quorum !== undefined && options.quorum > 0) this.#durable = 0;
    if (options.local) this.#local = 0;
    this.#timeoutMs = options.timeoutMs;
  }

  /** Writes waiting for acknowledgement. */
  get pending(): number {
    return this.#waiters.length - this.#head;
  }

  /**
   * The highest seq acknowledged writes may carry: held by `required()` live replicas and, with
   * `local`, on the master's own disk (Infinity when nothing is required).
   */
  get durableSeq(): number {
    return Math.min(this.#durable, this.#local);
  }

  /**
   * A new term: nothing of it is on the master's disk yet (with `local`). The node's history may
   * have been replaced meanwhile (a snapshot from another master), so old figures do not carry over.
   */
  resetLocalDurable(): void {
    if (this.#local !== Number.POSITIVE_INFINITY) this.#local = 0;
  }

  /** The master's own disk holds every update up to `seq` (with `local`; ignored otherwise). */
  setLocalDurable(seq: number): void {
    if (!(seq > this.#local)) return;
    this.#local = seq;
    this.#settle();
  }

  /** The live replicas. */
  get replicas(): string[] {
    return [...this.#acked.keys()];
  }

  /** The highest seq `nodeId` acknowledged, or undefined when it is not a live replica. */
  ackedSeq(nodeId: string): number | undefined {
    return this.#acked.get(nodeId);
  }

  /**
   * Replicas that must hold a write: with a quorum, the quorum; else auto → min(1, live);
   * n → min(n, live); 0 → 0.
   */
  required(): number {
    if (this.#quorum !== undefined) return this.#quorum;
    const live = this.#acked.size;
    if (this.#minReplicas < 0) return live > 0 ? 1 : 0;
    return Math.min(this.#minReplicas, live);
  }

  /**
   * Sets the live replicas. Kept ones keep their acks; a removed replica's acks no longer count
   * (re-added, it starts from scratch). Waiters that are now durable are acknowledged.
   */
  setReplicas(nodeIds: Iterable<string>): void {
    const next = new Map<string, number>();
    for (const id of nodeIds) next.set(id, this.#acked.get(id) ?? 0);
    this.#acked = next;
    this.#recompute();
    this.#settle();
  }

  /**
   * Calls `ack` once `required()` live replicas acknowledged `seq` or later (at once when that is
   * already so, or when none is required), or `fail("TIMEOUT", …)` after `timeoutMs`.
   */
  waitFor(
    seq: number,
    ack: () => void,
    fail: (code: "TIMEOUT", message: string) => void,
    now: number,
  ): void {
    if (seq <= this.durableSeq) {
      ack();
      return;
    }
    const waiter: Waiter = { seq, deadline: now + this.#timeoutMs, ack, fail };
    const waiters = this.#waiters;
    if (waiters.length === this.#head || waiters[waiters.length - 1].seq <= seq) {
      waiters.push(waiter);
      return;
    }
    // Out of order (should not happen: seqs grow): insert in place to keep the queue sorted.
    let lo = this.#head;
    let hi = waiters.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (waiters[mid].seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    waiters.splice(lo, 0, waiter);
  }

  /** Records that `nodeId` holds every update up to `seq`; unknown (not live) replicas are ignored. */
  onAck(nodeId: string, seq: number, _now: number): void {
    const previous = this.#acked.get(nodeId);
    if (previous === undefined || !(seq > previous)) return;
    this.#acked.set(nodeId, seq);
    if (this.required() === 1) {
      // The common case: the durable seq is the highest ack.
      if (seq > this.#durable) this.#durable = seq;
    } else this.#recompute();
    this.#settle();
  }

  /** Fails the waiters whose time is up (older than `timeoutMs`). */
  tick(now: number): void {
    const waiters = this.#waiters;
    const errors: unknown[] = [];
    while (this.#head < waiters.length && waiters[this.#head].deadline <= now) {
      const w = waiters[this.#head++];
      const required = this.required();
      call(
        () =>
          w.fail(
            "TIMEOUT",
            `Write (update ${w.seq}) not acknowledged by ${required} replica${
              required === 1 ? "" : "s"
            } within ${this.#timeoutMs} ms`,
          ),
        errors,
      );
    }
    this.#compact();
    rethrow(errors);
  }

  /** Fails every waiter at once with `TIMEOUT` and `message` (the master steps down or closes). */
  failAll(message: string): void {
    const waiters = this.#waiters;
    const errors: unknown[] = [];
    const start = this.#head;
    this.#waiters = [];
    this.#head = 0;
    for (let i = start; i < waiters.length; i++) {
      call(() => waiters[i].fail("TIMEOUT", message), errors);
    }
    rethrow(errors);
  }

  #recompute(): void {
    const k = this.required();
    if (k === 0) {
      this.#durable = Number.POSITIVE_INFINITY;
      return;
    }
    // The k-th highest ack: every write up to it is held by k replicas. Replica counts are small.
    const seqs = [...this.#acked.values()].sort((a, b) => b - a);
    // Fewer replicas than the quorum: nothing is durable.
    this.#durable = seqs[k - 1] ?? 0;
  }

  #settle(): void {
    const waiters = this.#waiters;
    const durable = this.durableSeq;
    const errors: unknown[] = [];
    while (this.#head < waiters.length && waiters[this.#head].seq <= durable) {
      const w = waiters[this.#head++];
      call(w.ack, errors);
    }
    this.#compact();
    rethrow(errors);
  }

  #compact(): void {
    if (this.#head === this.#waiters.length) {
      this.#waiters = [];
      this.#head = 0;
    } else if (this.#head >= COMPACT_AT && this.#head * 2 >= this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** Runs a callback; its error is kept so the others still run and the queue stays consistent. */
function call(fn: () => void, errors: unknown[]): void {
  try {
    fn();
  } catch (error) {
    errors.push(error);
  }
}

function rethrow(errors: unknown[]): void {
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, "Write callbacks threw");
}
