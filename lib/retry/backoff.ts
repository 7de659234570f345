/** Options of {@linkcode Backoff}. */
export interface BackoffOptions {
  /** First delay, ms. */
  minMs: number;
  /** Largest delay, ms. */
  maxMs: number;
  /** Random numbers in [0, 1) (injectable for tests). */
  random?: () => number;
}

/**
 * Exponential backoff with jitter: the n-th delay is drawn from [d/2, d] where d = min·2ⁿ capped at
 * max, so a crowd of clients that lost the same node does not come back in lockstep. Pure.
 */
export class Backoff {
  readonly #options: BackoffOptions;
  readonly #random: () => number;
  #attempt = 0;

  /** Creates a backoff. */
  constructor(options: BackoffOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /** Attempts made since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt, ms. */
  next(): number {
    const ceiling = Math.min(this.#options.maxMs, this.#options.minMs * 2 ** this.#attempt);
    this.#attempt++;
    return Math.round(ceiling / 2 + this.#random() * (ceiling / 2));
  }

  /** Starts again from the first delay (after a success). */
  reset(): void {
    this.#attempt = 0;
  }
}
