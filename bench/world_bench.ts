/**
 * World benchmark (issue #3): how many users one world holds with a tick p99 ≤ 20 ms, in two rows.
 *
 * Load per simulated user: always moving; on average one circle query (radius 50 m) and one aoe
 * (radius 50 m) per second and a new velocity every 5 s, spread at random over 20 ms ticks
 * (users/50 queries, users/50 aoes and users/250 velocity changes per tick, on random users).
 * Each tick's requests are drawn before its timing starts, as clients would send them: a query is
 * centred on its user's last known position (read untimed, as the client knows where it is).
 *
 * - `engine`: the `World` alone — `step(0.02)` plus the tick's queryCircle, aoe and setVelocity
 *   calls. What the data structure costs, nothing else.
 * - `node`: a master node's tick as it runs (`_world_node_tick.ts`): the same requests as encoded
 *   client frames through `GameNode.handleFrame` (decode, validation, client table, `GameState`
 *   writes with their op-log records, encoded replies), then `tick()` and the master's after-tick
 *   (the op log drained into an encoded replication update, a checksum part every 50th tick, acks,
 *   fencing). Sockets and the event loop are left out; `bench:capacity` measures those.
 *
 * Both are timed with performance.now() per tick; percentiles cover the measured ticks after a
 * warm-up. No garbage collection is forced: a node does not get one either, so what the previous
 * run left behind may be collected during a measured tick. Scenarios: "uniform" spreads users
 * over a square whose area makes a 50 m circle hold ~8 users; "town" is the same world with 20% of
 * the users crowded into one 500 m square in its middle. For each user count the table gives tick
 * p50/p99/max, ops/s (requests per second of tick time), bytes per user (the world's typed arrays
 * divided by the users) and how often the record pool grew during the measured ticks.
 *
 * Each count is run `--runs` times (3; 1 with `--quick`) and judged on the median of its runs'
 * p99s — never on the better run; the row shows the run with the median p99 and every run's p99.
 * The search doubles the users until a count fails, then bisects to ~5%. The last line is a JSON
 * summary with both rows. Exit code 1 when a row's largest passing count is below its target
 * (engine: 250,000 uniform, 100,000 town; node: 10,000, the capacity target). `--quick` does not
 * search: it measures 8,000 users per row and scenario (3 runs of 200 ticks) and exits 1 when a
 * median p99 is above 20 ms. Runs are seeded (mulberry32).
 *
 *   deno task bench:world            full search (tens of minutes)
 *   deno task bench:world --quick    about ten seconds: 8,000 users per row, three runs each
 *   flags: --scenario=uniform|town   --row=engine|node   --users=N (one count, no search)
 *          --runs=N   --ticks=N   --warmup=N   --cell-size=M   --seed=S
 *          --read-workers=N (queries answered by N reader workers)
 *          --without-queries (the node row without its queries: what they cost)
 *
 * @module
 */
import { parseArgs } from "node:util";
import { mulberry32 } from "../lib/random/mod.ts";
import { setupLogging } from "../lib/log/mod.ts";
import { type UserRecord, World } from "../lib/world/mod.ts";
import { defaults, NODE_SCHEMA } from "../lib/config/mod.ts";
import { ReadWorkers, requestLimits } from "../lib/node/mod.ts";
import { loadAverage, median } from "./_bench_util.ts";
import {
  MAX_SPEED,
  ownSummary,
  P99_LIMIT_MS,
  RADIUS_M,
  randomVelocity,
  requestRates,
  type RunOptions,
  type RunResult,
  type Scenario,
  spawnPosition,
  TICK_S,
  tickSummary,
  USERS_PER_CIRCLE,
  worldSide,
} from "./_world_load.ts";
import { runNodeTick } from "./_world_node_tick.ts";

/** Which tick a row times. */
type Row = "engine" | "node";

/** Largest reply a node sends for one query (ids beyond it are counted, not written). */
const OUT_LENGTH = 1024;
/** The full search's targets per row and scenario. */
const TARGETS: Record<Row, Record<Scenario, number>> = {
  engine: { uniform: 250_000, town: 100_000 },
  node: { uniform: 10_000, town: 10_000 },
};
const QUICK_USERS = 8_000;

/** One run of the engine row. */
function runEngine(scenario: Scenario, users: number, options: RunOptions): RunResult {
  const rng = mulberry32(options.seed ^ Math.imul(users, 0x9e3779b1));
  const side = worldSide(users);
  const world = new World({
    width: side,
    height: side,
    maxUsers: users,
    maxSpeed: MAX_SPEED,
    cellSize: options.cellSize,
  });
  for (let i = 0; i < users; i++) {
    const id = world.allocateUserId();
    const { x, y } = spawnPosition(scenario, i, users, rng);
    world.addUser(id, x, y);
    const { vx, vy } = randomVelocity(rng);
    world.setVelocity(id, vx, vy);
  }

  const growthsAtStart = world.stats().poolGrowths;
  const out = new Uint32Array(OUT_LENGTH);
  let matched = 0;
  // With readers, the tick's queries go to them and run beside the step against the last tick.
  const readers = (options.readWorkers ?? 0) > 0
    ? ReadWorkers.start({
      count: options.readWorkers!,
      world: {
        width: side,
        height: side,
        maxUsers: users,
        maxSpeed: MAX_SPEED,
        cellSize: options.cellSize,
      },
      maxResults: OUT_LENGTH,
      limits: requestLimits(defaults(NODE_SCHEMA)),
    })
    : undefined;
  if (readers) {
    readers.onReply = (_ticket, total) => (matched += total);
    world.publishTo(readers.views);
  }
  const user: UserRecord = { id: 0, x: 0, y: 0, vx: 0, vy: 0, money: 0 };
  const rates = requestRates(users);
  // A tick's query centres, handed over as one batch per reader (one query costs less than a
  // handoff of its own: see bench/read_handoff_bench.ts and the README).
  const centres = (readers?.count ?? 0) > 0
    ? new Float64Array(2 * (Math.ceil(rates.queries) + 1))
    : undefined;
  // One tick's requests, drawn before its timing starts: what clients would send.
  const queryX = new Float64Array(Math.ceil(rates.queries) + 1);
  const queryY = new Float64Array(queryX.length);
  const aoeIds = new Uint32Array(Math.ceil(rates.aoes) + 1);
  const velocityIds = new Uint32Array(Math.ceil(rates.velocities) + 1);
  const velocityX = new Float64Array(velocityIds.length);
  const velocityY = new Float64Array(velocityIds.length);
  let queryDue = 0;
  let aoeDue = 0;
  let velocityDue = 0;
  let ops = 0;
  const times = new Float64Array(options.ticks);
  const own = new Float64Array(options.ticks);
  for (let t = 0; t < options.warmup + options.ticks; t++) {
    let queries = 0;
    for (queryDue += rates.queries; queryDue >= 1; queryDue--, queries++) {
      // A client queries around its own last known position.
      world.getUser(1 + Math.floor(rng() * users), user);
      queryX[queries] = user.x;
      queryY[queries] = user.y;
    }
    let aoes = 0;
    for (aoeDue += rates.aoes; aoeDue >= 1; aoeDue--) {
      aoeIds[aoes++] = 1 + Math.floor(rng() * users);
    }
    let velocities = 0;
    for (velocityDue += rates.velocities; velocityDue >= 1; velocityDue--, velocities++) {
      velocityIds[velocities] = 1 + Math.floor(rng() * users);
      const v = randomVelocity(rng);
      velocityX[velocities] = v.vx;
      velocityY[velocities] = v.vy;
    }

    const start = performance.now();
    if (readers && centres) {
      // Reader k answers queries [k·per, (k+1)·per).
      const per = Math.ceil(queries / readers.count);
      for (let k = 0; k * per < queries; k++) {
        const count = Math.min(per, queries - k * per);
        for (let i = 0; i < count; i++) {
          centres[2 * i] = queryX[k * per + i];
          centres[2 * i + 1] = queryY[k * per + i];
        }
        const batch = { radius: RADIUS_M, xy: centres, count };
        if (!readers.submitBatch(k, t, batch)) throw new Error("A reader's ring is full");
      }
    }
    world.step(TICK_S);
    if (!readers) {
      for (let i = 0; i < queries; i++) {
        matched += world.queryCircle(queryX[i], queryY[i], RADIUS_M, out);
      }
    }
    for (let i = 0; i < aoes; i++) matched += world.aoe(aoeIds[i], RADIUS_M, 1, out);
    for (let i = 0; i < velocities; i++) {
      world.setVelocity(velocityIds[i], velocityX[i], velocityY[i]);
    }
    let ownEnd = performance.now();
    if (readers) {
      world.publishTo(readers.views);
      ownEnd = performance.now();
      if (!readers.waitIdle(10_000)) throw new Error("Readers did not answer");
    }
    const elapsed = performance.now() - start;
    if (t >= options.warmup) own[t - options.warmup] = ownEnd - start;

    if (t >= options.warmup) {
      times[t - options.warmup] = elapsed;
      ops += queries + aoes + velocities;
    }
  }
  readers?.close();
  if (matched < 0) throw new Error("unreachable: keeps the query results alive");
  let total = 0;
  for (const v of times) total += v;
  const stats = world.stats();
  return {
    scenario,
    users,
    sideM: side,
    ...tickSummary(times),
    ...ownSummary(own, readers !== undefined),
    opsPerS: ops / (total / 1000),
    bytesPerUser: stats.bytes / users,
    poolGrowths: stats.poolGrowths - growthsAtStart,
  };
}

/** A count measured `runs` times: the run with the median p99 stands for it. */
interface Count {
  row: Row;
  median: RunResult;
  p99s: number[];
  pass: boolean;
}

function measureCount(
  row: Row,
  scenario: Scenario,
  users: number,
  o: RunOptions & { runs: number },
) {
  const results: RunResult[] = [];
  for (let r = 0; r < o.runs; r++) {
    results.push(
      row === "engine" ? runEngine(scenario, users, o) : runNodeTick(scenario, users, o),
    );
  }
  const p99s = results.map((r) => r.p99);
  const mid = median(p99s);
  const chosen = results.find((r) => r.p99 === mid)!;
  const count: Count = { row, median: chosen, p99s, pass: mid <= P99_LIMIT_MS };
  console.log(formatRow(count));
  return count;
}

function formatRow(c: Count, verdict = c.pass ? "yes" : "no"): string {
  const r = c.median;
  return [
    c.row.padEnd(6),
    r.scenario.padEnd(8),
    String(r.users).padStart(9),
    r.sideM.toFixed(0).padStart(7),
    r.p50.toFixed(2).padStart(7),
    r.p99.toFixed(2).padStart(7),
    r.max.toFixed(2).padStart(7),
    Math.round(r.opsPerS).toString().padStart(10),
    r.bytesPerUser.toFixed(1).padStart(7),
    String(r.poolGrowths).padStart(7),
    c.p99s.map((p) => p.toFixed(1)).join("/").padStart(16),
    verdict +
    (r.ownP99 === undefined
      ? ""
      : `  (node thread alone: p50 ${r.ownP50!.toFixed(2)} p99 ${r.ownP99.toFixed(2)})`),
  ].join("  ");
}

const HEADER = [
  "row".padEnd(6),
  "scenario".padEnd(8),
  "users".padStart(9),
  "side_m".padStart(7),
  "p50_ms".padStart(7),
  "p99_ms".padStart(7),
  "max_ms".padStart(7),
  "ops/s".padStart(10),
  "B/user".padStart(7),
  "growths".padStart(7),
  "runs' p99_ms".padStart(16),
  "median p99<=20ms",
].join("  ");

/** Doubles the user count until a count fails, then bisects to ~5%. */
function search(
  row: Row,
  scenario: Scenario,
  range: { start: number; cap: number },
  options: RunOptions & { runs: number },
): { best: Count | undefined; capped: boolean } {
  let best: Count | undefined;
  let lo = 0;
  let hi = Infinity;
  const measure = (users: number): void => {
    const c = measureCount(row, scenario, users, options);
    if (c.pass) {
      lo = users;
      best = c;
    } else {
      hi = users;
    }
  };
  for (let users = range.start; hi === Infinity && users <= range.cap; users *= 2) measure(users);
  if (lo === 0 && hi !== Infinity) {
    // Even the first count failed: halve until one passes.
    for (let users = Math.floor(hi / 2); lo === 0 && users >= 100; users = Math.floor(users / 2)) {
      measure(users);
    }
  }
  while (lo > 0 && hi !== Infinity && (hi - lo) / lo > 0.05) {
    const step = Math.max(100, Math.round(lo * 0.05 / 4 / 100) * 100);
    const mid = Math.round((lo + hi) / 2 / step) * step;
    if (mid <= lo || mid >= hi) break;
    measure(mid);
  }
  return { best, capped: hi === Infinity };
}

function main(): number {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      scenario: { type: "string" },
      row: { type: "string" },
      users: { type: "string" },
      runs: { type: "string" },
      ticks: { type: "string" },
      warmup: { type: "string" },
      "cell-size": { type: "string" },
      seed: { type: "string" },
      "read-workers": { type: "string" },
      "without-queries": { type: "boolean", default: false },
    },
  });
  const quick = values.quick;
  const options = {
    runs: Number(values.runs ?? 3),
    ticks: Number(values.ticks ?? (quick ? 200 : 500)),
    warmup: Number(values.warmup ?? (quick ? 20 : 100)),
    seed: Number(values.seed ?? 1),
    cellSize: values["cell-size"] === undefined ? undefined : Number(values["cell-size"]),
    readWorkers: Number(values["read-workers"] ?? 0),
    withoutQueries: values["without-queries"],
  };
  const scenarios =
    (values.scenario === undefined ? ["uniform", "town"] : [values.scenario]) as Scenario[];
  const rows = (values.row === undefined ? ["engine", "node"] : [values.row]) as Row[];
  for (const s of scenarios) {
    if (s !== "uniform" && s !== "town") throw new Error(`Unknown scenario ${s}`);
  }
  for (const r of rows) if (r !== "engine" && r !== "node") throw new Error(`Unknown row ${r}`);
  setupLogging({ level: "error" });
  const loadAtStart = loadAverage();
  console.log(
    `world bench: tick ${
      TICK_S * 1000
    } ms, ${options.ticks} measured ticks after ${options.warmup} ` +
      `warm-up, ${options.runs} run(s) per count judged on the median p99, radius ${RADIUS_M} m, ` +
      `${USERS_PER_CIRCLE} users per circle, maxSpeed ${MAX_SPEED} m/s, cellSize ` +
      `${options.cellSize ?? "default"}, ${options.readWorkers} read worker(s)${
        options.withoutQueries ? ", node row without its queries" : ""
      }, no forced GC${quick ? ", quick" : ""}; load average ${loadAtStart}`,
  );
  console.log(HEADER);

  const summary: { row: Row; scenario: Scenario; best?: Count; capped: boolean; target: number }[] =
    [];
  for (const row of rows) {
    for (const scenario of scenarios) {
      if (values.users !== undefined || quick) {
        const users = quick ? QUICK_USERS : Number(values.users);
        const c = measureCount(row, scenario, users, options);
        summary.push({ row, scenario, best: c.pass ? c : undefined, capped: false, target: users });
        continue;
      }
      const start = row === "node" ? 10_000 : scenario === "uniform" ? 50_000 : 25_000;
      const cap = 8_000_000;
      const { best, capped } = search(row, scenario, { start, cap }, options);
      summary.push({
        row,
        scenario,
        best,
        capped,
        target: TARGETS[row][scenario],
      });
    }
  }

  console.log("");
  console.log("largest user count with a median tick p99 <= 20 ms:");
  console.log(HEADER);
  for (const { row, scenario, best, capped } of summary) {
    if (best === undefined) console.log(`${row.padEnd(6)}  ${scenario.padEnd(8)}  none`);
    else console.log(formatRow(best, capped ? "yes (search capped)" : "yes"));
  }
  const results = summary.map(({ row, scenario, best, capped, target }) => ({
    row,
    scenario,
    max_users_p99_le_20ms: best?.median.users ?? 0,
    target,
    pass: (best?.median.users ?? 0) >= target,
    p99_ms_at_max: best === undefined ? null : Number(best.median.p99.toFixed(2)),
    runs_p99_ms_at_max: best?.p99s.map((p) => Number(p.toFixed(2))) ?? [],
    bytes_per_user: best === undefined ? null : Number(best.median.bytesPerUser.toFixed(1)),
    ...(best?.median.ownP99 === undefined ? {} : {
      node_thread_p50_ms: Number(best.median.ownP50!.toFixed(2)),
      node_thread_p99_ms: Number(best.median.ownP99.toFixed(2)),
    }),
    ...(capped ? { capped: true } : {}),
  }));
  const pass = results.every((r) => r.pass);
  for (const r of results.filter((r) => !r.pass)) {
    console.log(
      `FAIL ${r.row} ${r.scenario}: ${r.max_users_p99_le_20ms} users < target ${r.target}`,
    );
  }
  const loadAtEnd = loadAverage();
  console.log(`load average at the start ${loadAtStart}, at the end ${loadAtEnd}`);
  console.log(JSON.stringify({
    bench: "world",
    quick,
    pass,
    runs_per_count: options.runs,
    read_workers: options.readWorkers,
    results,
    load_average_start: loadAtStart,
    load_average_end: loadAtEnd,
  }));
  return pass ? 0 : 1;
}

if (import.meta.main) Deno.exit(main());
