/**
 * Capacity benchmark: the most simulated clients one single-mode node serves at a 20 ms tick.
 *
 * Every run starts a fresh node process (`main.ts` on a free loopback port) and runs the load
 * generator (`client.ts load`) as a second process: every client logs in, then does one circle query
 * and one AOE per second (r = 50 m) and changes its velocity every 5 s. Each client count is run a
 * fixed number of times (`--runs`, 3 by default) and judged on the median of each figure over its
 * runs — never on the better run. A count passes when, over the measured seconds after the warm-up:
 *
 * - ticks start on time: the p99 of how late each tick started against the node's fixed 20 ms
 *   schedule is ≤ 20 ms. The budget is the whole loop — request handling that holds the event loop
 *   delays the next tick, though `tick()` itself stays quick — so this is counted by the node for
 *   every tick (cumulative delay buckets in its status, subtracted between the status at the start
 *   and at the end of the measured time), not sampled;
 * - the event loop keeps up: the p99 of how late the tick timer fired is ≤ 20 ms;
 * - replies come back in time: p99 ≤ 50 ms, counted from when each op was due, not from when the
 *   generator got round to sending it (no coordinated omission);
 * - no ticks were lost (≥ 45 ticks/s), no request failed, every status poll of the node answered
 *   within 2 s, every client logged in, and the generator dropped no op for being over 1 s late.
 *
 * The search grows the client count until a count fails, then bisects. It prints a row per count
 * (medians) with a row per run beneath, a summary, an in-process breakdown of the node's
 * per-request cost, and as the last line one JSON object. Exit code 1 when the largest passing
 * count is below `--target` (or a run could not be made); `--quick` (CI) runs two small counts once
 * each and exits 1 unless both pass.
 *
 * Reading a row: `late p99`/`late max` are tick start lateness (bucket upper edges, so "≤"),
 * `lag p99` the timer's lag, `tick p99` the tick's own duration (largest 1-s window p99),
 * `st.fail` failed status polls; `node cpu main/io %` is the node's JS thread and zeromq I/O thread
 * over the measured window (from /proc), `gen cpu %` the generator's — it shares the two cores;
 * `load` the machine's 1-minute load average as a run started (a step: its highest), since other
 * work on the machine moves the p99s as much as the node does.
 *
 * ```sh
 * deno task bench:capacity            # full search (20–40 minutes)
 * deno task bench:capacity --quick    # CI: two short small counts
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { renderTable } from "../lib/client/load_stats.ts";
import { freePort, Proc } from "../tests/_harness.ts";
import { fmt, loadAverage } from "./_bench_util.ts";
import { measureBreakdown } from "./_capacity_breakdown.ts";
import {
  CRITERIA,
  type LoadTarget,
  padRow,
  runRow,
  type RunShape,
  runStep,
  type Step,
  STEP_HEADER,
  stepJson,
  stepRow,
} from "./_capacity_step.ts";

const HELP = `Capacity benchmark: the most simulated clients one node serves at a 20 ms tick.

Usage: deno task bench:capacity [flags]

  --quick             CI form: two short small counts, one run each; exit 1 unless both pass
  --runs=N            Runs per client count; the verdict is on their medians (default 3)
  --start=N           First count's clients (default 2000)
  --max=N             Never try more clients than this (default 60000)
  --target=N          Exit 1 when fewer clients than this pass (default 10000)
  --growth=F          Client count factor between counts until one fails (default 1.5)
  --precision=N       Stop bisecting when the gap is at most N clients (default 500)
  --measure=S         Measured seconds per run, after the warm-up (default 10)
  --warmup=S          Warm-up seconds per run, not measured (default 5)
  --connections=M     Connections the simulated clients share (default 8; 0 = the generator's
                      own default of one per 250 clients, ≤ 64)
  --no-sensitivity    Skip the extra count at the maximum with one connection per 250 clients
  --budget=S          Stop searching after this many seconds (default 3600)
  --no-breakdown      Skip the in-process per-request cost breakdown
  -h, --help          This help

Exit code 0 when the largest passing count reaches the target; 1 when it does not or a run could
not be made; 2 for bad flags.`;

interface BenchOptions extends RunShape {
  quick: boolean;
  runs: number;
  start: number;
  max: number;
  target: number;
  growth: number;
  precision: number;
  budget: number;
  maxSteps: number;
  breakdown: boolean;
  sensitivity: boolean;
}

function parseOptions(args: string[]): BenchOptions | undefined {
  const values = parseArgs({
    args,
    options: {
      quick: { type: "boolean" },
      runs: { type: "string" },
      start: { type: "string" },
      max: { type: "string" },
      target: { type: "string" },
      growth: { type: "string" },
      precision: { type: "string" },
      measure: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string" },
      budget: { type: "string" },
      "no-breakdown": { type: "boolean" },
      "no-sensitivity": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  }).values;
  if (values.help) return undefined;
  const quick = values.quick === true;
  const num = (v: string | undefined, def: number, min: number): number => {
    const n = v === undefined ? def : Number(v);
    if (!Number.isFinite(n) || n < min) throw new RangeError(`bad number ${v}`);
    return n;
  };
  const max = Math.round(num(values.max, quick ? 400 : 60_000, 1));
  return {
    quick,
    runs: Math.round(num(values.runs, quick ? 1 : 3, 1)),
    start: Math.round(num(values.start, quick ? 200 : 2000, 1)),
    max,
    target: Math.round(num(values.target, quick ? max : 10_000, 0)),
    growth: Math.max(num(values.growth, 1.5, 1.01), quick ? 2 : 1.01),
    precision: Math.round(num(values.precision, 500, 1)),
    measure: num(values.measure, quick ? 2 : 10, 1),
    warmup: num(values.warmup, quick ? 1 : 5, 0),
    connections: Math.round(num(values.connections, 8, 0)),
    budget: num(values.budget, quick ? 120 : 3600, 10),
    maxSteps: quick ? 2 : 30,
    breakdown: values["no-breakdown"] !== true,
    sensitivity: !quick && values["no-sensitivity"] !== true,
  };
}

/** A fresh single-mode node on a free loopback port. */
async function startNode(clients: number): Promise<LoadTarget> {
  const port = freePort();
  const node = new Proc("node", "main.ts", [
    `--port=${port}`,
    "--http-port=0",
    "--log-level=info",
    // Persistence has a bench of its own (bench:persistence); this one measures request handling.
    "--data-dir=",
    "--set",
    `clients.max_clients=${Math.max(100_000, clients * 2)}`,
    "--set",
    `world.max_users=${Math.max(200_000, clients * 2)}`,
  ]);
  try {
    await node.waitFor(/listening for clients/, 20_000);
  } catch (err) {
    await node.stop();
    throw err;
  }
  return {
    generatorArgs: [`--node=tcp://127.0.0.1:${port}`],
    pids: { node: node.pid },
    [Symbol.asyncDispose]: () => node.stop().then(() => {}),
  };
}

async function main(args: string[]): Promise<number> {
  let opts: BenchOptions | undefined;
  try {
    opts = parseOptions(args);
  } catch (err) {
    console.error(`capacity_bench: ${(err as Error).message} (see --help)`);
    return 2;
  }
  if (opts === undefined) {
    console.log(HELP);
    return 0;
  }
  const quick = opts.quick;
  const started = performance.now();
  const loadAtStart = loadAverage();
  const steps: Step[] = [];
  const run = (index: number, clients: number, connections = opts.connections) =>
    runStep(index, clients, {
      ...opts,
      connections,
      criteria: CRITERIA,
      start: startNode,
    });
  console.log(
    `capacity: start ${opts.start} clients, ×${opts.growth} until a count fails, then bisect to ±${opts.precision}; ` +
      `${opts.runs} run(s) per count, judged on medians; ${opts.warmup} s warm-up + ${opts.measure} s measured per run; ` +
      `load average ${loadAtStart}`,
  );
  console.log(padRow(STEP_HEADER));

  let lo = 0; // largest passing count
  let hi = Infinity; // smallest failing count
  let next = opts.start;
  let failure: string | undefined;
  while (steps.length < opts.maxSteps) {
    if ((performance.now() - started) / 1000 > opts.budget) {
      console.log(`(time budget of ${opts.budget} s spent: search stopped)`);
      break;
    }
    let step: Step;
    try {
      step = await run(steps.length + 1, next);
    } catch (err) {
      failure = (err as Error).message;
      console.log(`count ${next} could not run: ${failure}`);
      break;
    }
    steps.push(step);
    console.log(padRow(stepRow(step)));
    if (step.runs.length > 1) step.runs.forEach((r, i) => console.log(padRow(runRow(r, i + 1))));
    if (step.pass) lo = Math.max(lo, step.clients);
    else hi = Math.min(hi, step.clients);
    if (hi === Infinity) {
      if (step.clients >= opts.max) break;
      next = Math.min(opts.max, Math.round(step.clients * opts.growth / 100) * 100);
      if (next <= step.clients) next = step.clients + 1;
      continue;
    }
    if (quick) break;
    if (hi - lo <= Math.max(opts.precision, lo * 0.05)) break;
    const mid = Math.round((lo + hi) / 2 / 100) * 100;
    next = mid > lo && mid < hi ? mid : Math.round((lo + hi) / 2);
    if (next <= lo || next >= hi) break;
  }

  const best = steps.filter((s) => s.pass).sort((a, b) => b.clients - a.clients)[0];
  console.log("");
  console.log("Summary (sorted by clients; medians over each count's runs):");
  const sorted = [...steps].sort((a, b) => a.clients - b.clients);
  for (const line of renderTable(STEP_HEADER, sorted.map(stepRow))) console.log(line);
  console.log("");
  if (best) {
    const f = best.figures;
    console.log(
      `max_clients ${best.clients} (${best.runs.length} runs, medians): ${
        Math.round(f.ops_per_s)
      } ops/s, ` +
        `reply p50 ${fmt(f.reply_p50_ms)} / p99 ${
          fmt(f.reply_p99_ms)
        } ms from the scheduled time, ` +
        `tick start late p99 ≤ ${fmt(f.tick_late_p99_ms)} ms (max ≤ ${fmt(f.tick_late_max_ms)}), ` +
        `loop lag p99 ≤ ${fmt(f.loop_lag_p99_ms)} ms, ${fmt(f.tick_rate_hz)} ticks/s`,
    );
  } else {
    console.log("max_clients 0: no count passed");
  }
  // The same load over many more connections: the node's cost per reply grows with the number of
  // peers it answers, so show how much.
  let sensitivity: Step | undefined;
  if (opts.sensitivity && best && failure === undefined) {
    const many = Math.min(64, Math.ceil(best.clients / 250));
    if (many !== opts.connections) {
      try {
        sensitivity = await run(steps.length + 1, best.clients, many);
        console.log(
          `Same ${best.clients} clients over ${many} connections instead of ${opts.connections}:`,
        );
        for (const line of renderTable(STEP_HEADER, [stepRow(sensitivity)])) console.log(line);
      } catch (err) {
        console.log(`sensitivity count could not run: ${(err as Error).message}`);
      }
    }
  }
  let breakdown: Record<string, number> | undefined;
  if (opts.breakdown && failure === undefined) {
    breakdown = await measureBreakdown(best?.clients ?? opts.start, quick);
    console.log("");
    console.log("Node per-request cost without the transport (in-process GameNode.handleFrame):");
    for (const [k, v] of Object.entries(breakdown)) console.log(`  ${k.padEnd(34)} ${v}`);
  }
  const maxClients = best?.clients ?? 0;
  const pass = failure === undefined && maxClients >= opts.target;
  const loadAtEnd = loadAverage();
  console.log(
    `criterion: max_clients ${maxClients} ${pass ? "≥" : "<"} target ${opts.target}: ` +
      `${pass ? "pass" : "FAIL"}; load average at start ${loadAtStart}, at end ${loadAtEnd}`,
  );
  console.log(JSON.stringify({
    bench: "capacity",
    quick,
    pass,
    target: opts.target,
    max_clients: maxClients,
    runs_per_count: opts.runs,
    criteria: CRITERIA,
    at_max: best ? stepJson(best) : null,
    steps: sorted.map(stepJson),
    connections_sensitivity: sensitivity ? stepJson(sensitivity) : undefined,
    breakdown,
    error: failure,
    load_average_start: loadAtStart,
    load_average_end: loadAtEnd,
    elapsed_s: Math.round((performance.now() - started) / 1000),
  }));
  return pass ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
