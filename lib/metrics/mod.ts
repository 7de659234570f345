/**
 * Metrics: tick duration statistics (load factor, p99) that nodes report and show, cumulative
 * delay histograms (how late ticks start) that a reader subtracts over its own window, and the
 * Prometheus side (`prom-client`): a registry per process whose families read those figures at
 * scrape time ({@linkcode registerCollected}, {@linkcode registerHistogram}).
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
export {
  BUCKET_EDGES_SECONDS,
  type CollectedFamily,
  type CollectedHistogram,
  type HistogramSeries,
  type Labels,
  type MetricsRegistry,
  metricsResponse,
  newMetricsRegistry,
  registerCollected,
  registerHistogram,
  type Sample,
} from "./prometheus.ts";
