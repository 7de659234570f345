/** Options of {@linkcode LivenessTracker}. */
export interface LivenessTrackerOptions {
  /** A peer silent this long (ms) is expired. */
  timeoutMs: number;
  /** Buckets per timeout: more buckets, earlier detection (default 8, so at most timeout/8 late). */
  buckets?: number;
}

/**
 * Tracks when each peer was last heard from and reports the ones silent past a timeout.
 *
 * Any traffic counts as a heartbeat: `touch()` is O(1) and never re-files the peer. Peers are filed in
 * time buckets (a lazy timer wheel); `expire()` looks only at buckets that are due and takes an
 * optional budget, so a check spread over ticks never sweeps every peer in one callback — the stall
 * that capped a peer server at 4,000 clients. Pure: the caller passes the time.
 */
export class LivenessTracker<K> {
  readonly #timeoutMs: number;
  readonly #width: number;
  readonly #lastSeen = new Map<K, number>();
  readonly #buckets = new Map<number, K[]>();
  #nextBucket = Number.NaN;
  #cursor = 0;

  /** Creates a tracker for the given timeout. */
  constructor(options: LivenessTrackerOptions) {
    if (!(options.timeoutMs > 0)) throw new RangeError("timeoutMs must be positive");
    this.#timeoutMs = options.timeoutMs;
    this.#width = Math.max(1, options.timeoutMs / (options.buckets ?? 8));
  }

  /** The timeout in ms. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** How many peers are tracked. */
  get size(): number {
    return this.#lastSeen.size;
  }

  /** Records traffic from `key` at `now`; starts tracking it if new. */
  touch(key: K, now: number): void {
    // One lookup: a new key grows the map. Whole milliseconds: a small integer is stored in the
    // map as is, a fraction would be a new heap number per touch, which thousands of peers keep
    // alive across young-generation collections.
    const size = this.#lastSeen.size;
    this.#lastSeen.set(key, Math.floor(now));
    if (this.#lastSeen.size !== size) this.#file(key, now);
  }

  /** True when `key` is tracked. */
  has(key: K): boolean {
    return this.#lastSeen.has(key);
  }

  /** When `key` was last heard from, or undefined. */
  lastSeen(key: K): number | undefined {
    return this.#lastSeen.get(key);
  }

  /** Stops tracking `key` (it is never reported as expired). */
  remove(key: K): boolean {
    return this.#lastSeen.delete(key);
  }

  /** Stops tracking every peer. */
  clear(): void {
    this.#lastSeen.clear();
    this.#buckets.clear();
    this.#nextBucket = Number.NaN;
    this.#cursor = 0;
  }

  /**
   * Returns the peers silent for at least the timeout at `now` and stops tracking them.
   * Looks at no more than `budget` peers (default: no limit); the rest waits for the next call.
   */
  expire(now: number, budget = Infinity): K[] {
    const expired: K[] = [];
    if (Number.isNaN(this.#nextBucket)) return expired;
    const dueBefore = Math.floor((now - this.#timeoutMs) / this.#width);
    let looked = 0;
    while (this.#nextBucket < dueBefore && looked < budget) {
      const bucket = this.#buckets.get(this.#nextBucket);
      if (!bucket) {
        this.#advance();
        continue;
      }
      while (this.#cursor < bucket.length && looked < budget) {
        const key = bucket[this.#cursor++];
        looked++;
        const seen = this.#lastSeen.get(key);
        if (seen === undefined) continue;
        if (now - seen >= this.#timeoutMs) {
          this.#lastSeen.delete(key);
          expired.push(key);
        } else {
          this.#file(key, seen);
        }
      }
      if (this.#cursor >= bucket.length) this.#advance();
    }
    return expired;
  }

  #advance(): void {
    this.#buckets.delete(this.#nextBucket);
    this.#cursor = 0;
    this.#nextBucket = this.#buckets.size === 0 ? Number.NaN : this.#nextBucket + 1;
  }

  #file(key: K, time: number): void {
    const index = Math.floor(time / this.#width);
    let bucket = this.#buckets.get(index);
    if (!bucket) {
      bucket = [];
      this.#buckets.set(index, bucket);
    }
    bucket.push(key);
    if (Number.isNaN(this.#nextBucket) || index < this.#nextBucket) {
      // Only possible when time goes backwards or on the first key: restart the scan there.
      this.#nextBucket = index;
      this.#cursor = 0;
    }
  }
}
