/** What {@linkcode ChecksumBatch.add} did with a request: answer it now, it waits, or it is refused. */
export type ChecksumAdmission = "now" | "wait" | "full";

/**
 * Requests for the state checksum (a pass over every user), batched so that at most one checksum
 * is computed per interval: the first request after a quiet interval is answered at once, later
 * ones wait for the next checksum, which answers them all. Reads no clock: every call gets `now`.
 */
export class ChecksumBatch<T> {
  readonly #intervalMs: number;
  readonly #maxWaiters: number;
  #waiters: T[] = [];
  #nextAt = -Infinity;

  /** At most one checksum per `intervalMs`; at most `maxWaiters` requests wait for it. */
  constructor(intervalMs: number, maxWaiters: number) {
    this.#intervalMs = intervalMs;
    this.#maxWaiters = maxWaiters;
  }

  /**
   * Adds a request: `"now"` when the checksum is to be computed at once (then {@linkcode take} the
   * batch), `"wait"` when it waits for the next, `"full"` (not added) when too many wait already.
   */
  add(waiter: T, now: number): ChecksumAdmission {
    if (this.#waiters.length === 0 && now >= this.#nextAt) {
      this.#waiters.push(waiter);
      return "now";
    }
    if (this.#waiters.length >= this.#maxWaiters) return "full";
    this.#waiters.push(waiter);
    return "wait";
  }

  /** True when requests wait and the interval since the last checksum is over. */
  due(now: number): boolean {
    return this.#waiters.length > 0 && now >= this.#nextAt;
  }

  /** Takes every waiting request, for a checksum computed at `now`: the next interval starts. */
  take(now: number): T[] {
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#nextAt = now + this.#intervalMs;
    return waiters;
  }
}
