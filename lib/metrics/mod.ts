/**
 * Metrics: tick duration statistics (load factor, p99) that nodes report and show, and cumulative
 * delay histograms (how late ticks start) that a reader subtracts over its own window.
 *
 * ```ts
 * import { TickStats } from "./mod.ts";
 * const stats = new TickStats(20);
 * stats.record(4.2);
 * stats.roll().loadFactor; // 0.21
 * ```
 *
 * @module
 */
export {
  DELAY_BUCKETS,
  DELAY_EDGES_MS,
  DELAY_OVERFLOW_MS,
  delayCountsBetween,
  DelayHistogram,
  delayPercentile,
  delaysOver,
} from "./delay_histogram.ts";
export { TickStats, type TickSummary } from "./tick_stats.ts";
