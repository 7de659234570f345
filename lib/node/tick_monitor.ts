import { log } from "../log/mod.ts";
import { DelayHistogram, TickStats } from "../metrics/mod.ts";

const logger = log("node");

/**
 * A node's tick timing: how long ticks take, how late they start, how late their timer fires, and
 * a warning (at most every 5 s) when they run late on average. Reads no clock: it gets `now`.
 */
export class TickMonitor {
  /** Tick durations. */
  readonly ticks: TickStats;
  /** How late each tick started against the fixed tick schedule, since the start. */
  readonly tickLate: DelayHistogram = new DelayHistogram();
  /** How late each tick's timer fired after the time it was set for (event-loop lag). */
  readonly loopLag: DelayHistogram = new DelayHistogram();
  /** How long each tick took, since the start (a Prometheus histogram; `ticks` keeps the window). */
  readonly tickDuration: DelayHistogram = new DelayHistogram();
  readonly #tickMs: number;
  #lastOverloadLog = -Infinity;

  /** Watches ticks meant to take at most `tickMs`. */
  constructor(tickMs: number) {
    this.#tickMs = tickMs;
    this.ticks = new TickStats(tickMs);
  }

  /** Counts how late a tick started, against the schedule and against its timer. */
  recordStart(lateMs: number, loopLagMs: number): void {
    this.tickLate.record(lateMs);
    this.loopLag.record(loopLagMs);
  }

  /** Counts one tick duration and warns (at most every 5 s) when ticks run late on average. */
  record(durationMs: number, now: number): void {
    this.ticks.record(durationMs);
    this.tickDuration.record(durationMs);
    const tickMs = this.#tickMs;
    if (durationMs > tickMs && now - this.#lastOverloadLog > 5000) {
      const summary = this.ticks.last;
      if (summary.loadFactor > 1 || durationMs > 2 * tickMs) {
        this.#lastOverloadLog = now;
        logger.warn(
          "Overload: tick took {durationMs} ms (tick_time {tickMs} ms, average {avgMs} ms, load factor {load})",
          {
            durationMs: round(durationMs),
            tickMs,
            avgMs: round(summary.avgMs),
            load: round(summary.loadFactor),
          },
        );
      }
    }
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
