/** Summary of tick durations over a window. */
export interface TickSummary {
  /** Ticks in the window. */
  count: number;
  avgMs: number;
  p99Ms: number;
  maxMs: number;
  /** avgMs / tick time: above 1 the node cannot keep up. */
  loadFactor: number;
}

/**
 * Collects tick durations and summarises them per window (one window per registry report). Keeps a
 * fixed ring of samples, so recording allocates nothing.
 */
export class TickStats {
  readonly #tickMs: number;
  readonly #samples: Float64Array;
  #count = 0;
  #sum = 0;
  #max = 0;
  #last: TickSummary;

  /** Creates stats for ticks of `tickMs`, keeping up to `capacity` samples per window. */
  constructor(tickMs: number, capacity = 4096) {
    this.#tickMs = tickMs;
    this.#samples = new Float64Array(capacity);
    this.#last = { count: 0, avgMs: 0, p99Ms: 0, maxMs: 0, loadFactor: 0 };
  }

  /** Records one tick's duration. */
  record(durationMs: number): void {
    if (this.#count < this.#samples.length) this.#samples[this.#count] = durationMs;
    this.#count++;
    this.#sum += durationMs;
    if (durationMs > this.#max) this.#max = durationMs;
  }

  /** The summary of the last closed window. */
  get last(): TickSummary {
    return this.#last;
  }

  /** Closes the current window and returns its summary (the previous one when it had no ticks). */
  roll(): TickSummary {
    if (this.#count === 0) return this.#last;
    const n = Math.min(this.#count, this.#samples.length);
    const sorted = this.#samples.slice(0, n).sort();
    const avg = this.#sum / this.#count;
    this.#last = {
      count: this.#count,
      avgMs: avg,
      // Nearest rank: the ceil(0.99·n)-th smallest (integer maths, so 100 samples give the 99th).
      p99Ms: sorted[Math.ceil((n * 99) / 100) - 1],
      maxMs: this.#max,
      loadFactor: avg / this.#tickMs,
    };
    this.#count = 0;
    this.#sum = 0;
    this.#max = 0;
    return this.#last;
  }
}
