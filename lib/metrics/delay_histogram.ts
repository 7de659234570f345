/**
 * Upper edges (ms) of the buckets of a {@linkcode DelayHistogram}; one more bucket holds everything
 * above the last edge. 20 ms (one tick at the default tick time) is an edge, so "late by more than
 * a tick" is an exact count.
 */
export const DELAY_EDGES_MS: readonly number[] = [
  0.5,
  1,
  2,
  3,
  5,
  7.5,
  10,
  15,
  20,
  30,
  40,
  50,
  75,
  100,
  150,
  200,
  300,
  500,
  1000,
  2000,
  5000,
  60000,
];

/**
 * What {@linkcode delayPercentile} answers for a rank above the last edge: larger than any delay,
 * and unlike `Infinity` it survives JSON.
 */
export const DELAY_OVERFLOW_MS: number = Number.MAX_VALUE;

/** Buckets of a {@linkcode DelayHistogram}: one per edge plus the overflow bucket. */
export const DELAY_BUCKETS: number = DELAY_EDGES_MS.length + 1;

/**
 * Counts of delays since the start, in fixed buckets ({@linkcode DELAY_EDGES_MS}): recording is a
 * short scan and allocates nothing, and the counts only grow, so whoever reads them twice gets the
 * exact distribution in between by subtracting ({@linkcode delayCountsBetween}) — no window of the
 * node's choosing, nothing lost between two polls.
 */
export class DelayHistogram {
  readonly #counts = new Uint32Array(DELAY_BUCKETS);
  #sum = 0;

  /** Records one delay in ms (negative counts as 0). */
  record(ms: number): void {
    let i = 0;
    while (i < DELAY_EDGES_MS.length && ms > DELAY_EDGES_MS[i]) i++;
    this.#counts[i]++;
    if (ms > 0) this.#sum += ms;
  }

  /** The sum of every delay recorded, ms (negative ones as 0): a Prometheus histogram's `_sum`. */
  get sum(): number {
    return this.#sum;
  }

  /** The counts per bucket since the start (a copy). */
  counts(): number[] {
    return Array.from(this.#counts);
  }
}

/**
 * The counts recorded between two readings of the same histogram (`later` minus `earlier`); an
 * empty or missing `earlier` counts from the start.
 */
export function delayCountsBetween(
  earlier: readonly number[] | undefined,
  later: readonly number[],
): number[] {
  return later.map((n, i) => Math.max(0, n - (earlier?.[i] ?? 0)));
}

/**
 * The delay at percentile `p` (0–100) of bucket counts, as the upper edge of the bucket holding
 * that rank: an upper bound, never an underestimate. {@linkcode DELAY_OVERFLOW_MS} when the rank is
 * in the overflow bucket; 0 when there are no counts.
 */
export function delayPercentile(counts: readonly number[], p: number): number {
  let total = 0;
  for (const n of counts) total += n;
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= rank) return i < DELAY_EDGES_MS.length ? DELAY_EDGES_MS[i] : DELAY_OVERFLOW_MS;
  }
  return DELAY_OVERFLOW_MS;
}

/** How many of the counted delays exceed `ms` (which should be one of {@linkcode DELAY_EDGES_MS}). */
export function delaysOver(counts: readonly number[], ms: number): number {
  let n = 0;
  for (let i = 0; i < counts.length; i++) {
    const lower = i === 0 ? 0 : DELAY_EDGES_MS[i - 1];
    if (lower >= ms) n += counts[i];
  }
  return n;
}
