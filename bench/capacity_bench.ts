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
 * Two searches by default: `multiplexed` (the simulated clients share `--connections`, 8) and
 * `per-client` (each client on a connection of its own, as game clients are: one ZeroMQ DEALER, or
 * with `--transport=ws` one WebSocket, per client). Each search grows the client count until a
 * count fails, then bisects. It prints a row per count
 * (medians) with a row per run beneath, a summary, an in-process breakdown of the node's
 * per-request cost, and as the last line one JSON object. Exit code 1 when a search's largest
 * passing count is below its target (`--target`, 10,000 multiplexed; `--per-client-target`, 12,000
 * over ZeroMQ and 10,000 over WebSocket) or a run could not be made; `--quick` (CI) runs two small
 * counts once each per search and exits 1 unless all pass.
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
  padRow,
  runRow,
  type RunShape,
  runStep,
  type StartTarget,
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
  --modes=LIST        Searches to run: multiplexed (clients share --connections) and/or
                      per-client (each client on its own connection, as game clients are);
                      default both (per-client only with --transport=ws)
  --transport=T       zmq (default) or ws: clients speak WebSocket to the node's HTTP port
  --connections=M     Connections the simulated clients share in the multiplexed search
                      (default 8; 0 = the generator's own default of one per 250 clients, ≤ 64)
  --per-client-target=N  Exit 1 when fewer per-client clients pass (default 12000; ws 10000)
  --no-sensitivity    Skip the extra count at the maximum with one connection per 250 clients
  --budget=S          Stop searching after this many seconds (default 3600)
  --no-breakdown      Skip the in-process per-request cost breakdown
  --read-workers=N    Start the node with N reader workers (clients.read_workers; default 0)
  --node-engine=E     What serves the node's ZeroMQ client port: zmtp (default) or libzmq
                      (clients.zmq_engine)
  -h, --help          This help

Exit code 0 when the largest passing count reaches the target; 1 when it does not or a run could
not be made; 2 for bad flags.`;

/** One search: clients sharing `connections` (multiplexed) or each on its own (per-client). */
type Mode = "multiplexed" | "per-client";

interface BenchOptions extends RunShape {
  quick: boolean;
  /** The searches to run, in order. */
  modes: Mode[];
  /** The clients' transport: ZeroMQ, or WebSocket (one socket per client, so per-client only). */
  transport: "zmq" | "ws";
  /** Target of the per-client search. */
  perClientTarget: number;
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
  readWorkers: number;
  /** The node's `clients.zmq_engine`. */
  nodeEngine: "zmtp" | "libzmq";
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
      modes: { type: "string" },
      transport: { type: "string" },
      "per-client-target": { type: "string" },
      budget: { type: "string" },
      "no-breakdown": { type: "boolean" },
      "no-sensitivity": { type: "boolean" },
      "read-workers": { type: "string" },
      "node-engine": { type: "string" },
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
  const transport = values.transport ?? "zmq";
  if (transport !== "zmq" && transport !== "ws") throw new RangeError(`bad transport ${transport}`);
  const modes = (values.modes ?? (transport === "ws" ? "per-client" : "multiplexed,per-client"))
    .split(",").filter(Boolean);
  for (const m of modes) {
    if (m !== "multiplexed" && m !== "per-client") throw new RangeError(`bad mode ${m}`);
    if (m === "multiplexed" && transport === "ws") {
      throw new RangeError(
        "a WebSocket carries one client: --transport=ws needs --modes=per-client",
      );
    }
  }
  return {
    quick,
    modes: modes as Mode[],
    transport,
    perClientTarget: Math.round(
      num(values["per-client-target"], quick ? max : transport === "ws" ? 10_000 : 12_000, 0),
    ),
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
    readWorkers: Math.round(num(values["read-workers"], 0, 0)),
    nodeEngine: engineOf(values["node-engine"]),
  };
}

function engineOf(value: string | undefined): "zmtp" | "libzmq" {
  if (value === undefined || value === "zmtp" || value === "libzmq") return value ?? "zmtp";
  throw new RangeError(`--node-engine must be zmtp or libzmq, not ${value}`);
}

/**
 * A fresh single-mode node on a free loopback port (its HTTP port too, for WebSocket clients), with
 * `readWorkers` reader workers (`clients.read_workers`).
 */
function nodeStarter(
  transport: "zmq" | "ws",
  readWorkers = 0,
  engine: "zmtp" | "libzmq" = "zmtp",
): StartTarget {
  return async (clients: number) => {
    const port = freePort();
    const http = transport === "ws" ? freePort() : 0;
    const node = new Proc("node", "main.ts", [
      `--port=${port}`,
      `--http-port=${http}`,
      "--log-level=info",
      // Persistence has a bench of its own (bench:persistence); this one measures request handling.
      "--data-dir=",
      "--set",
      `clients.max_clients=${Math.max(100_000, clients * 2)}`,
      "--set",
      `world.max_users=${Math.max(200_000, clients * 2)}`,
      "--set",
      `clients.read_workers=${readWorkers}`,
      "--set",
      `clients.zmq_engine=${engine}`,
    ]);
    try {
      await node.waitFor(/listening for clients/, 20_000);
    } catch (err) {
      await node.stop();
      throw err;
    }
    return {
      generatorArgs: transport === "ws"
        ? [`--ws=ws://127.0.0.1:${http}/ws`]
        : [`--node=tcp://127.0.0.1:${port}`],
      pids: { node: node.pid },
      [Symbol.asyncDispose]: () => node.stop().then(() => {}),
    };
  };
}

/** One search's outcome. */
interface Search {
  mode: Mode;
  target: number;
  steps: Step[];
  best: Step | undefined;
  failure: string | undefined;
  /** Multiplexed only: the maximum again over many more connections. */
  sensitivity?: Step;
}

/** Grows the client count until a count fails, then bisects; prints a row per count. */
async function search(opts: BenchOptions, mode: Mode, started: number): Promise<Search> {
  const quick = opts.quick;
  const target = mode === "per-client" ? opts.perClientTarget : opts.target;
  const start = nodeStarter(opts.transport, opts.readWorkers, opts.nodeEngine);
  const connectionsFor = (clients: number) => mode === "per-client" ? clients : opts.connections;
  const run = (index: number, clients: number, connections = connectionsFor(clients)) =>
    runStep(index, clients, { ...opts, connections, criteria: CRITERIA, start });
  console.log("");
  console.log(
    `${mode} (${opts.transport}${
      mode === "multiplexed" ? `, ${opts.connections} connections` : ", one connection per client"
    }): start ${opts.start} clients, ×${opts.growth} until a count fails, then bisect to ±${opts.precision}; ` +
      `${opts.runs} run(s) per count, judged on medians; ${opts.warmup} s warm-up + ${opts.measure} s measured per run; ` +
      `${opts.readWorkers} read worker(s); node engine ${opts.nodeEngine}; load average ${loadAverage()}`,
  );
  console.log(padRow(STEP_HEADER));
  const steps: Step[] = [];
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
  console.log(`Summary, ${mode} (sorted by clients; medians over each count's runs):`);
  const sorted = [...steps].sort((a, b) => a.clients - b.clients);
  for (const line of renderTable(STEP_HEADER, sorted.map(stepRow))) console.log(line);
  if (best) {
    const f = best.figures;
    console.log(
      `max_clients ${mode} ${best.clients} (${best.runs.length} runs, medians): ${
        Math.round(f.ops_per_s)
      } ops/s, ` +
        `reply p50 ${fmt(f.reply_p50_ms)} / p99 ${
          fmt(f.reply_p99_ms)
        } ms from the scheduled time, ` +
        `tick start late p99 ≤ ${fmt(f.tick_late_p99_ms)} ms (max ≤ ${fmt(f.tick_late_max_ms)}), ` +
        `loop lag p99 ≤ ${fmt(f.loop_lag_p99_ms)} ms, ${fmt(f.tick_rate_hz)} ticks/s`,
    );
  } else {
    console.log(`max_clients ${mode} 0: no count passed`);
  }
  // The same load over many more connections: the node's cost per reply grows with the number of
  // peers it answers, so show how much.
  let sensitivity: Step | undefined;
  if (mode === "multiplexed" && opts.sensitivity && best && failure === undefined) {
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
  return { mode, target, steps: sorted, best, failure, sensitivity };
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
  console.log(
    `capacity: ${opts.modes.join(" and ")} over ${opts.transport}; load average ${loadAtStart}`,
  );
  const searches: Search[] = [];
  for (const mode of opts.modes) searches.push(await search(opts, mode, started));

  let breakdown: Record<string, number> | undefined;
  if (opts.breakdown && searches.every((s) => s.failure === undefined)) {
    breakdown = await measureBreakdown(searches[0]?.best?.clients ?? opts.start, quick);
    console.log("");
    console.log("Node per-request cost without the transport (in-process GameNode.handleFrame):");
    for (const [k, v] of Object.entries(breakdown)) console.log(`  ${k.padEnd(34)} ${v}`);
  }
  const loadAtEnd = loadAverage();
  console.log("");
  const verdicts = searches.map((s) => {
    const max = s.best?.clients ?? 0;
    const pass = s.failure === undefined && max >= s.target;
    console.log(
      `criterion ${s.mode} (${opts.transport}): max_clients ${max} ${
        pass ? "≥" : "<"
      } target ${s.target}: ${pass ? "pass" : "FAIL"}`,
    );
    return pass;
  });
  console.log(`load average at start ${loadAtStart}, at end ${loadAtEnd}`);
  const pass = verdicts.every(Boolean);
  const json = (s: Search) => ({
    mode: s.mode,
    target: s.target,
    max_clients: s.best?.clients ?? 0,
    pass: s.failure === undefined && (s.best?.clients ?? 0) >= s.target,
    at_max: s.best ? stepJson(s.best) : null,
    steps: s.steps.map(stepJson),
    connections_sensitivity: s.sensitivity ? stepJson(s.sensitivity) : undefined,
    error: s.failure,
  });
  const byMode = (m: Mode) => searches.find((s) => s.mode === m);
  console.log(JSON.stringify({
    bench: "capacity",
    quick,
    pass,
    transport: opts.transport,
    read_workers: opts.readWorkers,
    node_engine: opts.nodeEngine,
    runs_per_count: opts.runs,
    criteria: CRITERIA,
    max_clients_multiplexed: byMode("multiplexed")?.best?.clients,
    max_clients_per_client: byMode("per-client")?.best?.clients,
    searches: searches.map(json),
    breakdown,
    load_average_start: loadAtStart,
    load_average_end: loadAtEnd,
    elapsed_s: Math.round((performance.now() - started) / 1000),
  }));
  return pass ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
