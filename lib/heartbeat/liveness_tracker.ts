import { IdleWheel, type LivenessTrackerOptions } from "./idle_wheel.ts";

export type { LivenessTrackerOptions } from "./idle_wheel.ts";

/** A tracked peer: its key and when it was last heard from (whole ms). */
interface Peer<K> {
  readonly key: K;
  lastSeen: number;
}

/**
 * Tracks when each peer was last heard from and reports the ones silent past a timeout.
 *
 * Any traffic counts as a heartbeat: `touch()` is O(1) and never re-files the peer. Peers are filed in
 * time buckets (a lazy timer wheel, {@linkcode IdleWheel}); `expire()` looks only at buckets that
 * are due and takes an optional budget, so a check spread over ticks never sweeps every peer in one
 * callback — the stall that capped a peer server at 4,000 clients. Pure: the caller passes the time.
 */
export class LivenessTracker<K> {
  readonly #wheel: IdleWheel<Peer<K>>;
  readonly #peers = new Map<K, Peer<K>>();

  /** Creates a tracker for the given timeout. */
  constructor(options: LivenessTrackerOptions) {
    this.#wheel = new IdleWheel(options);
  }

  /** The timeout in ms. */
  get timeoutMs(): number {
    return this.#wheel.timeoutMs;
  }

  /** How many peers are tracked. */
  get size(): number {
    return this.#peers.size;
  }

  /** Records traffic from `key` at `now`; starts tracking it if new. */
  touch(key: K, now: number): void {
    const peer = this.#peers.get(key);
    // Whole milliseconds: a small integer is stored as is, a fraction would be a new heap number
    // per touch, which thousands of peers keep alive across young-generation collections.
    if (peer) peer.lastSeen = Math.floor(now);
    else {
      const added = { key, lastSeen: 0 };
      this.#peers.set(key, added);
      this.#wheel.add(added, now);
    }
  }

  /** True when `key` is tracked. */
  has(key: K): boolean {
    return this.#peers.has(key);
  }

  /** When `key` was last heard from, or undefined. */
  lastSeen(key: K): number | undefined {
    return this.#peers.get(key)?.lastSeen;
  }

  /** Stops tracking `key` (it is never reported as expired). */
  remove(key: K): boolean {
    return this.#peers.delete(key);
  }

  /** Stops tracking every peer. */
  clear(): void {
    this.#peers.clear();
    this.#wheel.clear();
  }

  /**
   * Returns the peers silent for at least the timeout at `now` and stops tracking them.
   * Looks at no more than `budget` peers (default: no limit); the rest waits for the next call.
   */
  expire(now: number, budget = Infinity): K[] {
    const expired = this.#wheel.expire(now, this.#tracks, budget);
    const keys: K[] = new Array(expired.length);
    for (let i = 0; i < expired.length; i++) {
      keys[i] = expired[i].key;
      this.#peers.delete(keys[i]);
    }
    return keys;
  }

  readonly #tracks = (peer: Peer<K>) => this.#peers.get(peer.key) === peer;
}
