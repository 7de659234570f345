/** Options of {@linkcode IdleWheel} (and of `LivenessTracker`, which files its peers in one). */
export interface LivenessTrackerOptions {
  /** A peer silent this long (ms) is expired. */
  timeoutMs: number;
  /** Buckets per timeout: more buckets, earlier detection (default 8, so at most timeout/8 late). */
  buckets?: number;
}

/** Something that carries the time it was last heard from (whole ms; its owner sets it). */
export interface Seen {
  lastSeen: number;
}

/**
 * A lazy timer wheel for objects that carry their own last-seen time (`LivenessTracker` files its
 * peers' records in one; the client table files its entries directly):
 * traffic is recorded by setting `item.lastSeen` — no map lookup, which on a node with 30,000
 * clients was two hash-table misses per request. Items are filed once in time buckets; `expire()`
 * looks only at buckets that are due, files again what was heard from since, and drops what its
 * owner no longer watches (no `remove()`: the owner's own table says). Pure: the caller passes the
 * time.
 */
export class IdleWheel<T extends Seen> {
  readonly #timeoutMs: number;
  readonly #width: number;
  readonly #buckets = new Map<number, T[]>();
  #nextBucket = Number.NaN;
  #cursor = 0;

  /** Creates a wheel for the given timeout. */
  constructor(options: LivenessTrackerOptions) {
    if (!(options.timeoutMs > 0)) throw new RangeError("timeoutMs must be positive");
    this.#timeoutMs = options.timeoutMs;
    this.#width = Math.max(1, options.timeoutMs / (options.buckets ?? 8));
  }

  /** The timeout in ms. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** Starts watching `item`, heard from at `now` (sets its `lastSeen`). */
  add(item: T, now: number): void {
    item.lastSeen = Math.floor(now);
    this.#file(item, item.lastSeen);
  }

  /** Forgets every item. */
  clear(): void {
    this.#buckets.clear();
    this.#nextBucket = Number.NaN;
    this.#cursor = 0;
  }

  /**
   * Returns the items silent for at least the timeout at `now` that `watched` still holds (they
   * are watched no more), files again those heard from since, and drops the rest. Looks at no
   * more than `budget` items (default: no limit); the rest waits for the next call.
   */
  expire(now: number, watched: (item: T) => boolean, budget = Infinity): T[] {
    const expired: T[] = [];
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
        const item = bucket[this.#cursor++];
        looked++;
        if (!watched(item)) continue;
        if (now - item.lastSeen >= this.#timeoutMs) expired.push(item);
        else this.#file(item, item.lastSeen);
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

  #file(item: T, time: number): void {
    const index = Math.floor(time / this.#width);
    let bucket = this.#buckets.get(index);
    if (!bucket) {
      bucket = [];
      this.#buckets.set(index, bucket);
    }
    bucket.push(item);
    if (Number.isNaN(this.#nextBucket) || index < this.#nextBucket) {
      // Only possible when time goes backwards or on the first item: restart the scan there.
      this.#nextBucket = index;
      this.#cursor = 0;
    }
  }
}
