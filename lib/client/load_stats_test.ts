import assert from "node:assert/strict";
import {
  formatProgress,
  formatReport,
  LatencyHistogram,
  type LoadReport,
  median,
  OpStats,
  percentileOfSorted,
  renderTable,
  summarize,
  tickRate,
} from "./load_stats.ts";

/** Exact nearest-rank percentile, for comparison. */
function exact(values: number[], p: number): number {
  return percentileOfSorted([...values].sort((a, b) => a - b), p);
}

Deno.test("LatencyHistogram percentiles are within 2.5 % of the exact values", () => {
  const h = new LatencyHistogram();
  const values: number[] = [];
  // Deterministic spread over four decades, like reply times.
  let seed = 12345;
  for (let i = 0; i < 20_000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const v = 0.05 * 10 ** (4 * (seed / 2 ** 31));
    values.push(v);
    h.record(v);
  }
  assert.equal(h.count, values.length);
  for (const p of [1, 10, 50, 90, 95, 99, 99.9]) {
    const want = exact(values, p);
    const got = h.percentile(p);
    assert.ok(Math.abs(got - want) / want <= 0.025, `p${p}: got ${got}, exact ${want}`);
  }
  assert.equal(h.max, Math.max(...values));
  assert.equal(h.min, Math.min(...values));
  assert.equal(h.percentile(100), h.max);
});

Deno.test("LatencyHistogram handles empty, zero, negative and huge values", () => {
  const h = new LatencyHistogram();
  assert.equal(h.percentile(99), 0);
  assert.equal(h.mean, 0);
  assert.equal(h.min, 0);
  h.record(0);
  h.record(-5);
  h.record(Number.NaN);
  assert.equal(h.count, 3);
  assert.equal(h.percentile(50), 0);
  h.record(1e9);
  assert.equal(h.max, 1e9);
  assert.equal(h.percentile(100), 1e9);
});

Deno.test("LatencyHistogram percentiles of a single value are that value", () => {
  const h = new LatencyHistogram();
  h.record(12.34);
  for (const p of [0, 50, 99, 100]) assert.equal(h.percentile(p), 12.34);
});

Deno.test("LatencyHistogram merge equals recording everything in one", () => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  const all = new LatencyHistogram();
  for (let i = 1; i <= 1000; i++) {
    (i % 3 === 0 ? a : b).record(i / 10);
    all.record(i / 10);
  }
  a.merge(b);
  assert.equal(a.count, all.count);
  assert.equal(a.max, all.max);
  assert.equal(a.min, all.min);
  assert.ok(Math.abs(a.mean - all.mean) < 1e-9);
  for (const p of [50, 95, 99]) assert.equal(a.percentile(p), all.percentile(p));
  a.reset();
  assert.equal(a.count, 0);
  assert.equal(a.percentile(50), 0);
});

Deno.test("percentileOfSorted() and median() use the nearest rank", () => {
  assert.equal(percentileOfSorted([], 50), 0);
  assert.equal(percentileOfSorted([1, 2, 3, 4], 50), 2);
  assert.equal(percentileOfSorted([1, 2, 3, 4], 99), 4);
  assert.equal(percentileOfSorted([1, 2, 3, 4], 0), 1);
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([]), 0);
});

Deno.test("OpStats counts successes, failures by code, and summarizes per second", () => {
  const s = new OpStats();
  for (let i = 0; i < 90; i++) s.success(2);
  for (let i = 0; i < 10; i++) s.failure(i < 7 ? "TIMEOUT" : "RATE_LIMITED");
  assert.equal(s.count, 100);
  assert.deepEqual(Object.fromEntries(s.errorCodes), { TIMEOUT: 7, RATE_LIMITED: 3 });
  const summary = summarize(s, 4);
  assert.equal(summary.count, 100);
  assert.equal(summary.ops_per_s, 25);
  assert.equal(summary.errors, 10);
  assert.equal(summary.p50_ms, 2);
  assert.equal(summary.max_ms, 2);
  assert.equal(summarize(s, 0).ops_per_s, 0);
  const other = new OpStats();
  other.failure("TIMEOUT");
  s.merge(other);
  assert.equal(s.errorCodes.get("TIMEOUT"), 8);
});

Deno.test("renderTable() pads columns and formatReport() shows every operation", () => {
  const lines = renderTable(["op", "n"], [["query", "7"], ["aoe", "12345"]]);
  assert.equal(lines.length, 4);
  assert.ok(lines.every((l) => l.length === lines[0].length));
  const op = { count: 1, ops_per_s: 1, errors: 0, p50_ms: 1, p95_ms: 1, p99_ms: 1, max_ms: 1 };
  const report: LoadReport = {
    target: "tcp://127.0.0.1:7000",
    clients: 1,
    connections: 1,
    logged_in: 1,
    measured_s: 1,
    warmup_s: 0,
    login_s: 0.1,
    ops: { login: op, query_circle: op },
    total: op,
    errors: { TIMEOUT: 2 },
    reconnects: 0,
    skipped: 0,
    send_lag_p99_ms: 1,
    send_lag_max_ms: 1,
    status_failures: 1,
    node: null,
    nodes: [],
  };
  const text = formatReport(report);
  assert.match(text, /query_circle/);
  assert.match(text, /TIMEOUT 2/);
  assert.match(text, /no status reply/);
  assert.match(text, /failed status polls 1/);
});

Deno.test("tickRate counts ticks over the node's own uptime across the measured window", () => {
  // Status replies at 1 s intervals (generator ms), a 50 Hz node, one reply 40 ms after the end.
  const samples = [
    { at: 1_000, tick: 50, uptimeS: 1 },
    { at: 2_000, tick: 100, uptimeS: 2 },
    { at: 3_000, tick: 150, uptimeS: 3 },
    { at: 3_040, tick: 152, uptimeS: 3.04 },
  ];
  // Window [2000, 3040]: from the reply at 2 s to the final one, 1.04 s of node time.
  const rate = tickRate(samples, 2_000, 3_040);
  assert.ok(Math.abs(rate.seconds - 1.04) < 1e-9 && Math.abs(rate.hz - 50) < 1e-9);
  // Only one reply inside the window: the one before it opens the span.
  const late = tickRate(samples, 3_020, 3_040);
  assert.ok(Math.abs(late.hz - 50) < 1e-9 && Math.abs(late.seconds - 0.04) < 1e-9);
  // Two replies inside: they bound the span (the generator asks for one as measuring starts).
  assert.ok(Math.abs(tickRate(samples, 2_500, 3_040).seconds - 0.04) < 1e-9);
  // Fewer than two samples in all, or a span of zero: no rate rather than a made-up one.
  assert.deepEqual(tickRate(samples.slice(0, 1), 0, 5_000), { hz: 0, seconds: 0 });
  assert.deepEqual(tickRate([], 0, 5_000), { hz: 0, seconds: 0 });
  assert.deepEqual(
    tickRate([{ at: 1, tick: 5, uptimeS: 1 }, { at: 2, tick: 5, uptimeS: 1 }], 0, 5),
    { hz: 0, seconds: 0 },
  );
});

Deno.test("formatProgress() shows the run's second, and the nodes once they answered", () => {
  const progress = {
    elapsedMs: 2600,
    phase: "warm-up",
    loggedIn: 40,
    clients: 50,
    connected: 2,
    connections: 3,
    opsPerS: 99.6,
    replyP99Ms: 1.234,
    inFlight: 4,
    errors: 1,
    skipped: 2,
    reconnects: 0,
    nodes: [],
  };
  assert.equal(
    formatProgress(progress),
    "load 3s [warm-up] clients 40/50 logged in, connections 2/3, 100 ops/s, reply p99 1.2 ms, " +
      "in flight 4, errors 1, skipped 2, reconnects 0",
  );
  const nodes = [{ tickP99: 0.5, sessions: 20 }, { tickP99: 1.237, sessions: 25 }];
  assert.match(formatProgress({ ...progress, nodes }), /; node tick p99 1\.24 ms, sessions 45$/);
});
