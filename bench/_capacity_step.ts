/**
 * One count of simulated clients for the capacity benchmarks: a fixed number of runs, each against
 * a freshly started target (a node, or a cluster) with the load generator (`client.ts load`) as a
 * process of its own, then the median of every figure over those runs and the verdict on the
 * medians. Shared by `capacity_bench.ts` (one node) and `cluster_bench.ts` (three).
 *
 * @module
 */
import type { LoadReport } from "../lib/client/load_stats.ts";
import { Proc } from "../tests/_harness.ts";
import { cpuPercent, delay, fmt, loadAverage, median, threadCpu } from "./_bench_util.ts";

/** Limits a count's medians must stay within. */
export interface Criteria {
  /** p99 of how late ticks start against their schedule: the whole loop's budget. */
  tick_late_p99_ms: number;
  /** p99 of how late the tick timer fires (event-loop lag). */
  loop_lag_p99_ms: number;
  /** p99 reply time, counted from each op's scheduled time. */
  reply_p99_ms: number;
  /** Fewer ticks per second than this means ticks were lost (skipped after a stall). */
  min_tick_rate_hz: number;
}

/** The criteria of the README's capacity figure. */
export const CRITERIA: Criteria = {
  tick_late_p99_ms: 20,
  loop_lag_p99_ms: 20,
  reply_p99_ms: 50,
  min_tick_rate_hz: 45,
};

/** What serves the load in one run, started fresh for it and stopped (disposed) after it. */
export interface LoadTarget extends AsyncDisposable {
  /** Generator flags that name the target (`--node=…` or `--registry=…`). */
  generatorArgs: string[];
  /** Processes whose CPU the run samples, by name. */
  pids: Record<string, number>;
}

/** Starts a target for a run with `clients` clients. */
export type StartTarget = (clients: number) => Promise<LoadTarget>;

/** How each run of a step is shaped. */
export interface RunShape {
  /** Measured seconds, after the warm-up. */
  measure: number;
  /** Warm-up seconds (not measured). */
  warmup: number;
  /** Connections the clients share (0: the generator's default). */
  connections: number;
}

/** One run: the generator's report and the CPU of every process. */
export interface Run {
  report: LoadReport;
  /** Percent of a core by thread kind, per target process, over the middle of the measured time. */
  cpu: Record<string, Record<string, number>>;
  /** The generator's CPU, same units. */
  genCpu?: Record<string, number>;
  /** What this run alone broke ("" when within every limit); the step's verdict is on medians. */
  reason: string;
  /** The machine's 1-minute load average as the run started (the machine is shared). */
  load1: number;
}

/** A step's figures: the median over its runs, except the counts of hard failures (summed). */
export interface StepFigures {
  connections: number;
  logged_in_min: number;
  ops_per_s: number;
  reply_p50_ms: number;
  reply_p99_ms: number;
  reply_max_ms: number;
  tick_late_p99_ms: number;
  tick_late_max_ms: number;
  ticks_late_over_20ms: number;
  loop_lag_p99_ms: number;
  /** The tick's own duration (tick() and the cluster's after-tick), largest 1-s window p99. */
  tick_duration_p99_ms: number;
  tick_rate_hz: number;
  ticks_counted_min: number;
  send_lag_p99_ms: number;
  skipped: number;
  /** Summed over runs: any is a failure. */
  errors: number;
  status_failures: number;
  /** Target processes' main and zeromq I/O threads, % of a core (summed over processes). */
  node_cpu_main: number;
  node_cpu_io: number;
  gen_cpu: number;
  /** Highest 1-minute load average at the start of a run. */
  load1_max: number;
}

/** One count of clients: its runs, their medians and the verdict. */
export interface Step {
  index: number;
  clients: number;
  runs: Run[];
  figures: StepFigures;
  pass: boolean;
  /** Why it failed ("" when it passed). */
  reason: string;
  seconds: number;
}

/** Runs `runs` runs of `clients` clients, each against a fresh target, and judges their medians. */
export async function runStep(
  index: number,
  clients: number,
  options: RunShape & { runs: number; criteria: Criteria; start: StartTarget },
): Promise<Step> {
  const t0 = performance.now();
  const runs: Run[] = [];
  for (let r = 0; r < options.runs; r++) {
    runs.push(await runOnce(clients, options, options.criteria, options.start));
  }
  const figures = stepFigures(runs);
  const reason = verdict(figures, clients, options.criteria);
  return {
    index,
    clients,
    runs,
    figures,
    pass: reason === "",
    reason,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The medians over runs (hard failures summed). */
export function stepFigures(runs: Run[]): StepFigures {
  const m = (pick: (r: Run) => number) => median(runs.map(pick));
  const node = (r: Run) => r.report.node;
  const cpu = (r: Run, kind: string) =>
    Object.values(r.cpu).reduce((sum, threads) => sum + (threads[kind] ?? 0), 0);
  return {
    connections: runs[0]?.report.connections ?? 0,
    logged_in_min: Math.min(...runs.map((r) => r.report.logged_in)),
    ops_per_s: m((r) => r.report.total.ops_per_s),
    reply_p50_ms: m((r) => r.report.total.p50_ms),
    reply_p99_ms: m((r) => r.report.total.p99_ms),
    reply_max_ms: m((r) => r.report.total.max_ms),
    tick_late_p99_ms: m((r) => node(r)?.tick_late_p99_ms ?? Number.MAX_VALUE),
    tick_late_max_ms: m((r) => node(r)?.tick_late_max_ms ?? Number.MAX_VALUE),
    ticks_late_over_20ms: m((r) => node(r)?.ticks_late_over_20ms ?? 0),
    loop_lag_p99_ms: m((r) => node(r)?.loop_lag_p99_ms ?? Number.MAX_VALUE),
    tick_duration_p99_ms: m((r) => node(r)?.tick_p99_ms_max ?? 0),
    tick_rate_hz: m((r) => node(r)?.tick_rate_hz ?? 0),
    ticks_counted_min: Math.min(...runs.map((r) => node(r)?.ticks_counted ?? 0)),
    send_lag_p99_ms: m((r) => r.report.send_lag_p99_ms),
    skipped: m((r) => r.report.skipped),
    errors: runs.reduce((sum, r) => sum + errorCount(r.report), 0),
    status_failures: runs.reduce((sum, r) => sum + r.report.status_failures, 0),
    node_cpu_main: m((r) => cpu(r, "main")),
    node_cpu_io: m((r) => cpu(r, "io")),
    gen_cpu: m((r) => (r.genCpu?.main ?? 0) + (r.genCpu?.io ?? 0)),
    load1_max: Math.max(...runs.map((r) => r.load1)),
  };
}

/** Why figures fail the criteria ("" when they pass). */
export function verdict(f: StepFigures, clients: number, c: Criteria): string {
  const reasons: string[] = [];
  if (f.logged_in_min < clients) reasons.push(`only ${f.logged_in_min} logged in`);
  if (f.errors > 0) reasons.push(`${f.errors} errors`);
  if (f.status_failures > 0) reasons.push(`${f.status_failures} status polls failed`);
  if (f.ticks_counted_min === 0) reasons.push("no node status over the measured time");
  if (f.reply_p99_ms > c.reply_p99_ms) reasons.push(`reply p99 ${fmt(f.reply_p99_ms)} ms`);
  if (f.tick_late_p99_ms > c.tick_late_p99_ms) {
    reasons.push(`ticks start late p99 ≤ ${fmt(f.tick_late_p99_ms)} ms`);
  }
  if (f.loop_lag_p99_ms > c.loop_lag_p99_ms) {
    reasons.push(`loop lag p99 ≤ ${fmt(f.loop_lag_p99_ms)} ms`);
  }
  if (f.tick_rate_hz < c.min_tick_rate_hz) reasons.push(`${fmt(f.tick_rate_hz)} ticks/s`);
  if (f.skipped > 0) reasons.push(`generator dropped ${f.skipped} late ops`);
  return reasons.join("; ");
}

function errorCount(report: LoadReport): number {
  return Object.values(report.errors).reduce((a, b) => a + b, 0);
}

/** One run: a fresh target, the generator for warm-up + measure seconds, then both stopped. */
async function runOnce(
  clients: number,
  shape: RunShape,
  criteria: Criteria,
  start: StartTarget,
): Promise<Run> {
  const load1 = Number(loadAverage().split(" ")[0]) || 0;
  await using target = await start(clients);
  const duration = shape.warmup + shape.measure;
  await using gen = new Proc("load", "client.ts", [
    "load",
    ...target.generatorArgs,
    `--clients=${clients}`,
    `--connections=${shape.connections}`,
    // Raw sockets for the generator's thousands of connections (Deno TCP's pending reads slow its GC).
    "--zmq-engine=epoll",
    `--duration=${duration}`,
    `--warmup=${shape.warmup}`,
    "--query-rate=1",
    "--aoe-rate=1",
    "--velocity-every=5",
    "--radius=50",
    "--logout=false",
    "--log-level=warning",
  ]);
  // CPU of every process over the middle of the measured window (/proc, Linux only).
  const cpu: Record<string, Record<string, number>> = {};
  let genCpu: Record<string, number> | undefined;
  const sampling = (async () => {
    try {
      await gen.waitFor(/\[\d+ s left\]/, 120_000);
    } catch {
      return;
    }
    const window = Math.max(1, shape.measure - 2);
    const before = Object.entries(target.pids).map(([name, pid]) => [name, pid, threadCpu(pid)]);
    const g0 = threadCpu(gen.pid);
    const s0 = performance.now();
    await Promise.race([delay(window * 1000), gen.status]);
    const seconds = (performance.now() - s0) / 1000;
    if (seconds < 0.5) return;
    for (const [name, pid, b] of before as [string, number, Map<string, number>][]) {
      const p = b ? cpuPercent(b, threadCpu(pid), seconds) : undefined;
      if (p) cpu[name] = p;
    }
    if (g0) genCpu = cpuPercent(g0, threadCpu(gen.pid), seconds);
  })();
  const limitMs = (duration + 90) * 1000;
  const status = await Promise.race([gen.status, delay(limitMs).then(() => undefined)]);
  await sampling;
  if (status === undefined) {
    gen.kill("SIGKILL");
    throw new Error(`load generator did not finish within ${limitMs / 1000} s`);
  }
  if (status.code !== 0) {
    throw new Error(
      `load generator exited with ${status.code}: ${gen.lines.slice(-5).join(" | ")}`,
    );
  }
  const last = gen.stdout.findLast((l) => l.startsWith('{"load"'));
  if (!last) throw new Error("load generator printed no JSON line");
  const report = (JSON.parse(last) as { load: LoadReport }).load;
  const reason = verdict(
    stepFigures([{ report, cpu, genCpu, reason: "", load1 }]),
    clients,
    criteria,
  );
  return { report, cpu, genCpu, reason, load1 };
}

/** The columns of a step row. */
export const STEP_HEADER = [
  "step",
  "clients",
  "runs",
  "conns",
  "ops/s",
  "p50 ms",
  "p99 ms",
  "late p99",
  "late max",
  "lag p99",
  "tick p99",
  "ticks/s",
  "errors",
  "st.fail",
  "node cpu main/io %",
  "gen cpu %",
  "load",
  "verdict",
];

/** A step as a table row (medians over its runs). */
export function stepRow(step: Step): string[] {
  const f = step.figures;
  return [
    String(step.index),
    String(step.clients),
    String(step.runs.length),
    ...figureCells(f),
    f.load1_max.toFixed(2),
    step.pass ? "pass" : `FAIL ${step.reason}`,
  ];
}

/** The figure columns a step row and a run row share. */
function figureCells(f: ReturnType<typeof stepFigures>): string[] {
  return [
    String(f.connections),
    String(Math.round(f.ops_per_s)),
    fmt(f.reply_p50_ms),
    fmt(f.reply_p99_ms),
    fmt(f.tick_late_p99_ms),
    fmt(f.tick_late_max_ms),
    fmt(f.loop_lag_p99_ms),
    fmt(f.tick_duration_p99_ms),
    fmt(f.tick_rate_hz),
    String(f.errors),
    String(f.status_failures),
    `${f.node_cpu_main}/${f.node_cpu_io}`,
    String(f.gen_cpu),
  ];
}

/** A run as a table row (indented under its step). */
export function runRow(run: Run, n: number): string[] {
  const f = stepFigures([run]);
  return [
    `  run ${n}`,
    "",
    "",
    ...figureCells(f),
    run.load1.toFixed(2),
    run.reason === "" ? "within limits" : run.reason,
  ];
}

/** A row padded to the header's column widths (for rows printed as they come). */
export function padRow(cells: string[]): string {
  return cells.map((c, i) => {
    const w = Math.max(STEP_HEADER[i].length, 5);
    return i === 0 || i === cells.length - 1 ? c.padEnd(w) : c.padStart(w);
  }).join("  ");
}

/** A step in the JSON line: its medians, verdict and each run's own figures. */
export function stepJson(step: Step): Record<string, unknown> {
  return {
    clients: step.clients,
    pass: step.pass,
    reason: step.reason,
    median: step.figures,
    runs: step.runs.map((r) => ({ reason: r.reason, ...stepFigures([r]) })),
  };
}
