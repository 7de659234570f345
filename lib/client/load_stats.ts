/**
 * Pure statistics of the load generator: a fixed-size log-bucket latency histogram, per-operation
 * counters with errors by code, and the rendering of the final report (table and JSON) and of the
 * progress line. No clock, no I/O: the generator feeds it durations.
 *
 * @module
 */
import { DELAY_OVERFLOW_MS } from "../metrics/mod.ts";

/** Smallest latency told apart (ms); everything below lands in the first bucket. */
const MIN_MS = 0.001;
/** Buckets per doubling: bucket edges grow by 2^(1/16) ≈ 4.4 %, so a percentile is within ±2.2 %. */
const PER_OCTAVE = 16;
/** 27 doublings above MIN_MS reach ~134,000 ms; larger values land in the last bucket. */
const BUCKETS = 1 + 27 * PER_OCTAVE;

/**
 * A latency histogram with fixed log-spaced buckets: recording is O(1) and allocates nothing, any
 * percentile is within ±2.2 % of the exact value (clamped to the exact min and max), and histograms
 * merge by adding counts.
 */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS);
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = 0;

  /** Values recorded. */
  get count(): number {
    return this.#count;
  }

  /** Smallest value recorded (0 when empty). */
  get min(): number {
    return this.#count ? this.#min : 0;
  }

  /** Largest value recorded (0 when empty). */
  get max(): number {
    return this.#max;
  }

  /** Mean of the values recorded (0 when empty). */
  get mean(): number {
    return this.#count ? this.#sum / this.#count : 0;
  }

  /** Records one duration in ms (negative and non-finite values count as 0). */
  record(ms: number): void {
    const v = ms > 0 && ms < Infinity ? ms : 0;
    this.#counts[bucketOf(v)]++;
    this.#count++;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /**
   * The value at percentile `p` (0–100) by nearest rank: the geometric middle of the bucket holding
   * that rank, clamped to the recorded min and max. 0 when empty.
   */
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.#count));
    if (rank >= this.#count) return this.#max;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i];
      if (seen >= rank) {
        if (i === BUCKETS - 1) return this.#max; // the overflow bucket has no upper edge
        const value = i === 0 ? this.#min : MIN_MS * 2 ** ((i - 0.5) / PER_OCTAVE);
        return Math.min(this.#max, Math.max(this.#min, value));
      }
    }
    return this.#max;
  }

  /** Adds every value of `other` to this histogram. */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.#counts[i] += other.#counts[i];
    this.#count += other.#count;
    this.#sum += other.#sum;
    if (other.#count && other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  /** Forgets every value. */
  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#sum = 0;
    this.#min = Infinity;
    this.#max = 0;
  }
}

function bucketOf(ms: number): number {
  if (ms <= MIN_MS) return 0;
  const i = 1 + Math.floor(Math.log2(ms / MIN_MS) * PER_OCTAVE);
  return i < BUCKETS ? i : BUCKETS - 1;
}

/** The value at percentile `p` (0–100) of an ascending array, by nearest rank (0 when empty). */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((Math.min(100, Math.max(0, p)) / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** The median of some numbers (0 when empty); does not change its argument. */
export function median(values: readonly number[]): number {
  return percentileOfSorted([...values].sort((a, b) => a - b), 50);
}

/** Counters and latencies of one operation. */
export class OpStats {
  /** Replies that were results. */
  ok = 0;
  /** Requests that failed (error replies, timeouts, lost connections). */
  errors = 0;
  /** Errors by code. */
  readonly errorCodes = new Map<string, number>();
  /** Reply times of successful requests. */
  readonly latency = new LatencyHistogram();

  /** Requests finished, successful or not. */
  get count(): number {
    return this.ok + this.errors;
  }

  /** Records a successful reply after `ms`. */
  success(ms: number): void {
    this.ok++;
    this.latency.record(ms);
  }

  /** Records a failure with its error code. */
  failure(code: string): void {
    this.errors++;
    this.errorCodes.set(code, (this.errorCodes.get(code) ?? 0) + 1);
  }

  /** Adds another operation's figures to these. */
  merge(other: OpStats): void {
    this.ok += other.ok;
    this.errors += other.errors;
    for (const [code, n] of other.errorCodes) {
      this.errorCodes.set(code, (this.errorCodes.get(code) ?? 0) + n);
    }
    this.latency.merge(other.latency);
  }

  /** Forgets everything. */
  reset(): void {
    this.ok = 0;
    this.errors = 0;
    this.errorCodes.clear();
    this.latency.reset();
  }
}

/** One row of the report: an operation's figures over the measured time. */
export interface OpSummary {
  count: number;
  ops_per_s: number;
  errors: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
}

/** Summarises `stats` over `seconds`. */
export function summarize(stats: OpStats, seconds: number): OpSummary {
  const h = stats.latency;
  return {
    count: stats.count,
    ops_per_s: round(seconds > 0 ? stats.count / seconds : 0, 1),
    errors: stats.errors,
    p50_ms: round(h.percentile(50)),
    p95_ms: round(h.percentile(95)),
    p99_ms: round(h.percentile(99)),
    max_ms: round(h.max),
  };
}

/** What one node said about itself. */
export interface NodeFigures {
  node_id: string;
  role: string;
  /** Client ids the node knows, logged in or not (its status calls them connections). */
  connections: number;
  sessions: number;
  users: number;
  /** The node's p99 tick duration over its last 1-s window, at the end of the run. */
  tick_p99_ms: number;
  tick_avg_ms: number;
  /** Median and largest per-window p99 tick duration seen during the measured time. */
  tick_p99_ms_median: number;
  tick_p99_ms_max: number;
  /** World ticks per second during the measured time (nominal 1 / tick_time). */
  tick_rate_hz: number;
  /** Node seconds `tick_rate_hz` was counted over (about the measured time; 0: no rate). */
  tick_rate_s: number;
  /** Most sessions seen in any status sample (and at the end). */
  sessions_max: number;
  /**
   * Ticks the node counted between its status at the start of the measured time and its last
   * status (0: fewer than two status replies in that span, so no delay figures).
   */
  ticks_counted: number;
  /**
   * How late those ticks started against the node's fixed tick schedule (the whole loop's budget,
   * request handling included): p99 and largest, each the upper edge of its delay bucket.
   */
  tick_late_p99_ms: number;
  tick_late_max_ms: number;
  /** Of those ticks, how many started more than 20 ms (one default tick) late. */
  ticks_late_over_20ms: number;
  /** How late the node's tick timer fired after its due time (event-loop lag): p99 and largest. */
  loop_lag_p99_ms: number;
  loop_lag_max_ms: number;
}

/** The whole report of a load run: what `--json` style consumers read from the last stdout line. */
export interface LoadReport {
  target: string;
  clients: number;
  connections: number;
  logged_in: number;
  /** Seconds the statistics cover (after the warm-up). */
  measured_s: number;
  warmup_s: number;
  /** Seconds from start to the first moment every client was logged in (-1: never). */
  login_s: number;
  ops: Record<string, OpSummary>;
  /** The periodic operations together (set_velocity, query_circle, aoe, keepalive pings). */
  total: OpSummary;
  errors: Record<string, number>;
  reconnects: number;
  /** Scheduled operations not sent: generator overloaded or its connection down. */
  skipped: number;
  /** How late operations were sent after their scheduled time (generator health). */
  send_lag_p99_ms: number;
  send_lag_max_ms: number;
  /** Status polls of the nodes that failed (timed out or refused) once measuring began. */
  status_failures: number;
  /** Sum over nodes (sessions, connections), most loaded node (tick figures). */
  node: NodeFigures | null;
  nodes: NodeFigures[];
}

/** One status reply of a node: when it arrived (generator ms), its tick count and uptime (s). */
export interface TickSample {
  at: number;
  tick: number;
  uptimeS: number;
}

/**
 * A node's tick rate over the measured time [`from`, `to`] (generator ms): ticks between the first
 * status sample that arrived at or after `from` and the last one, divided by the node's own uptime
 * between them; when fewer than two samples arrived in the window, the last one before `from` opens
 * it. Whole ticks over a span of s seconds are exact to ±1/s Hz, so the span is what keeps the rate
 * honest: over a 50 ms span one tick more or less is ±20 Hz. `hz` and `seconds` are 0 without two
 * samples. Samples must be in arrival order.
 */
export function tickRate(
  samples: readonly TickSample[],
  from: number,
  to: number,
): { hz: number; seconds: number } {
  const span = measuredSpan(samples, from, to);
  if (span === undefined) return { hz: 0, seconds: 0 };
  const [first, last] = span;
  const seconds = samples[last].uptimeS - samples[first].uptimeS;
  if (!(seconds > 0)) return { hz: 0, seconds: 0 };
  return { hz: (samples[last].tick - samples[first].tick) / seconds, seconds };
}

/**
 * The two samples that bound the measured time [`from`, `to`] (see {@linkcode tickRate}): indexes
 * of the first sample that arrived in it (or the one before, when only one did) and the last; none
 * without two samples.
 */
export function measuredSpan(
  samples: readonly { at: number }[],
  from: number,
  to: number,
): [number, number] | undefined {
  let first = samples.findIndex((s) => s.at >= from && s.at <= to);
  const last = samples.findLastIndex((s) => s.at >= from && s.at <= to);
  if (first >= 0 && first === last) first--; // in arrival order: the one before arrived before `from`
  if (first < 0 || last <= first) return undefined;
  return [first, last];
}

/** Renders the human part of the report: one row per operation, then errors and node figures. */
export function formatReport(report: LoadReport): string {
  const lines: string[] = [];
  lines.push(
    `Load on ${report.target}: ${report.logged_in}/${report.clients} clients logged in over ${report.connections} connection(s), measured ${report.measured_s} s (after ${report.warmup_s} s warm-up)`,
  );
  const header = ["operation", "count", "ops/s", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"];
  const rows = Object.entries(report.ops).map(([name, s]) => [name, s]);
  rows.push(["total", report.total]);
  const table = rows.map(([name, s]) => {
    const o = s as OpSummary;
    return [
      name as string,
      String(o.count),
      String(o.ops_per_s),
      String(o.errors),
      fixed(o.p50_ms),
      fixed(o.p95_ms),
      fixed(o.p99_ms),
      fixed(o.max_ms),
    ];
  });
  lines.push(...renderTable(header, table));
  const errors = Object.entries(report.errors);
  lines.push(
    `errors: ${errors.length ? errors.map(([c, n]) => `${c} ${n}`).join(", ") : "none"}; ` +
      `reconnects ${report.reconnects}; skipped ${report.skipped}; ` +
      `send lag p99 ${fixed(report.send_lag_p99_ms)} ms (max ${fixed(report.send_lag_max_ms)}); ` +
      `failed status polls ${report.status_failures}`,
  );
  for (const n of report.nodes) {
    lines.push(
      `node ${n.node_id} (${n.role}): client ids ${n.connections}, sessions ${n.sessions} (max ${n.sessions_max}), users ${n.users}, ` +
        `tick p99 ${fixed(n.tick_p99_ms)} ms at the end (median ${
          fixed(n.tick_p99_ms_median)
        }, max ${fixed(n.tick_p99_ms_max)}), tick avg ${fixed(n.tick_avg_ms)} ms, ${
          fixed(n.tick_rate_hz)
        } ticks/s over ${fixed(n.tick_rate_s)} s; tick start late p99 ≤ ${
          delay(n.tick_late_p99_ms)
        } ms (max ≤ ${
          delay(n.tick_late_max_ms)
        }, ${n.ticks_late_over_20ms} of ${n.ticks_counted} ` +
        `ticks > 20 ms), loop lag p99 ≤ ${delay(n.loop_lag_p99_ms)} ms (max ≤ ${
          delay(n.loop_lag_max_ms)
        })`,
    );
  }
  if (report.nodes.length === 0) lines.push("node: no status reply");
  return lines.join("\n");
}

/** What the progress line shows, once a second while a load runs. */
export interface Progress {
  /** Since the run started, ms. */
  elapsedMs: number;
  /** "login", "warm-up", "N s left" or "running". */
  phase: string;
  loggedIn: number;
  clients: number;
  connected: number;
  connections: number;
  opsPerS: number;
  replyP99Ms: number;
  inFlight: number;
  errors: number;
  skipped: number;
  reconnects: number;
  /** Each node's latest status sample (none before the first reply). */
  nodes: readonly { tickP99: number; sessions: number }[];
}

/** Renders the progress line (stderr, once a second). */
export function formatProgress(p: Progress): string {
  const nodes = p.nodes;
  return `load ${Math.round(p.elapsedMs / 1000)}s [${p.phase}] ` +
    `clients ${p.loggedIn}/${p.clients} logged in, ` +
    `connections ${p.connected}/${p.connections}, ${Math.round(p.opsPerS)} ops/s, ` +
    `reply p99 ${round(p.replyP99Ms, 1)} ms, in flight ${p.inFlight}, ` +
    `errors ${p.errors}, skipped ${p.skipped}, reconnects ${p.reconnects}` +
    (nodes.length
      ? `; node tick p99 ${round(Math.max(...nodes.map((s) => s.tickP99)), 2)} ms, sessions ${
        nodes.reduce((a, s) => a + s.sessions, 0)
      }`
      : "");
}

/** Renders rows under a header, columns padded (first left-aligned, the rest right-aligned). */
export function renderTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

/** Rounds to `digits` decimals. */
export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** A delay bucket's upper edge as text (the overflow bucket has none). */
function delay(ms: number): string {
  return ms >= DELAY_OVERFLOW_MS ? "∞" : fixed(ms);
}

function fixed(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}
