/**
 * Metrics: tick duration statistics (load factor, p99) that nodes report and show.
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
export { TickStats, type TickSummary } from "./tick_stats.ts";
