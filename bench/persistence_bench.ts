/**
 * Persistence benchmark (issue #14): what durability costs and how fast a node comes back.
 *
 * 1. Write-ack latency, client-measured, with and without persistence: a single-mode node process
 *    (`data_dir` set: a reply waits for the tick that carries the write and its fdatasync; `""`: a
 *    single node replies at once) and, in the full run, a three-node cluster (registry + master +
 *    two slaves: a reply waits for a majority, each member's copy on disk with persistence). Closed
 *    loop: each client sends its next `set_velocity` when the previous one was answered.
 * 2. Sustained writes per second with persistence at 10,000 and 100,000 users (all moving): one
 *    process runs a master's tick loop on a real `GameState` and `Journal` (20 ms ticks, paced like
 *    the node's: apply the tick's writes, step, append, commit), at rising write rates. A rate is
 *    sustained when the tick p99 stays ≤ 20 ms and the update of each tick is durable (written and
 *    fdatasync'd) within 2 ticks at p99.
 * 3. A snapshot at 250,000 users (all moving, 5,000 writes/s going on): the same loop; the journal
 *    starts its snapshot on its own (interval), touches the room for the copy, copies the records,
 *    encodes a slice per tick and writes the file beside the event loop. Tick p50/p99/max before
 *    and while it runs, its copy time, slices, ticks and write time, and what a stop-the-world
 *    snapshot (`world.snapshot()` + `credentialsSnapshot()` in one go) would stall for.
 * 4. Recovery of 250,000 users plus one minute of log (3,000 ticks, all users moving, 1,000
 *    writes/s): `Journal.open` on a fresh state — snapshot restore, then replay through
 *    `GameState.applyUpdate` — timed, and the recovered checksum compared with the source's.
 *
 *   deno task bench:persistence            full run (a few minutes); --parts=3,4 runs only those
 *   deno task bench:persistence --quick    under ~20 s, small sizes; exits 1 when its own criterion
 *                                          fails: the recovered checksum differs, a tick's update
 *                                          never became durable, the durable lag p50 at 2,500
 *                                          writes/s is over a tick, a snapshot slice at 50,000 users
 *                                          took over 15 ms (or the tick p50 during it over 10 ms),
 *                                          or acks with fsync are missing or their p50 is over 45 ms.
 *                                          Medians and slices, not p99s: the machine is shared, and
 *                                          the full run reports the p99s
 *
 * Prints a table per part, then one JSON line. The machine is shared: the load average is printed.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { GameState, newToken } from "../lib/state/mod.ts";
import { decodeSnapshotFile, Journal } from "../lib/persist/mod.ts";
import { mulberry32, type Rng } from "../lib/random/mod.ts";
import { Pump } from "../lib/transport/mod.ts";
import { freePort, Proc, TempDir } from "../tests/_harness.ts";
import { openTestClient, testClientConfig } from "../tests/_clients.ts";
import { TestCluster } from "../tests/_cluster.ts";

const TICK_MS = 20;
const TICK_S = TICK_MS / 1000;
const WORLD_SIDE = 10_000;
const MAX_SPEED = 10;

function loadavg(): string {
  return Deno.loadavg().map((l) => l.toFixed(2)).join(" ");
}

function pct(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function r2(n: number): number {
  return Math.round(n * 100) / 100;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A state with `users` logged in at random places, all moving. */
function populate(users: number, rng: Rng): GameState {
  const state = new GameState({
    width: WORLD_SIDE,
    height: WORLD_SIDE,
    maxUsers: Math.ceil(users * 1.1) + 1000,
    maxSpeed: MAX_SPEED,
  }, TICK_S);
  for (let i = 0; i < users; i++) state.login(rng() * WORLD_SIDE, rng() * WORLD_SIDE, newToken());
  for (let id = 1; id <= users; id++) {
    state.setVelocity(id, (rng() * 2 - 1) * 7, (rng() * 2 - 1) * 7);
  }
  return state;
}

/** `count` random velocity writes, as a tick's clients would send them. */
function writes(state: GameState, users: number, count: number, rng: Rng): void {
  for (let i = 0; i < count; i++) {
    const id = 1 + Math.floor(rng() * users);
    state.setVelocity(id, (rng() * 2 - 1) * 7, (rng() * 2 - 1) * 7);
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Write-ack latency

interface AckResult {
  setup: string;
  persisted: boolean;
  clients: number;
  acks: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
}

async function measureAcks(
  endpoint: string,
  clients: number,
  seconds: number,
): Promise<{ latencies: number[]; errors: number }> {
  await using pump = new Pump();
  const sessions = [];
  for (let i = 0; i < clients; i++) {
    const client = await openTestClient(pump, testClientConfig({ node: endpoint }));
    const login = await client.session.login();
    if (!login.ok) throw new Error(`login failed: ${login.error.message}`);
    sessions.push(client);
  }
  const latencies: number[] = [];
  let errors = 0;
  const warmupEnd = performance.now() + 500;
  const end = warmupEnd + seconds * 1000;
  await Promise.all(sessions.map(async (c, i) => {
    let k = 0;
    while (performance.now() < end) {
      const start = performance.now();
      const out = await c.session.setVelocity(((++k + i) % 7) + 1, 0);
      const ms = performance.now() - start;
      if (!out.ok) errors++;
      else if (start >= warmupEnd) latencies.push(ms);
    }
  }));
  for (const c of sessions) c.connection.close();
  return { latencies, errors };
}

async function singleAcks(persisted: boolean, clients: number, seconds: number) {
  await using dir = new TempDir();
  const port = freePort();
  await using node = new Proc("node", "main.ts", [
    `--port=${port}`,
    "--http-port=0",
    `--data-dir=${persisted ? `${dir.path}/data` : ""}`,
  ]);
  await node.waitFor(/listening for clients/, 20_000);
  const { latencies, errors } = await measureAcks(`tcp://127.0.0.1:${port}`, clients, seconds);
  return ackRow("single node", persisted, clients, latencies, errors);
}

async function clusterAcks(persisted: boolean, clients: number, seconds: number) {
  await using cluster = new TestCluster();
  await cluster.startRegistry();
  const extra = persisted ? {} : { data_dir: "" };
  const master = cluster.spawnNode("master", "master", extra);
  await master.waitFor(/Registered with registry/);
  for (const s of ["slave1", "slave2"]) {
    const p = cluster.spawnNode(s, "slave", extra);
    await p.waitFor(/Snapshot applied/, 30_000);
  }
  const { latencies, errors } = await measureAcks(
    cluster.clientEndpoint("master"),
    clients,
    seconds,
  );
  return ackRow("3-node cluster", persisted, clients, latencies, errors);
}

function ackRow(
  setup: string,
  persisted: boolean,
  clients: number,
  latencies: number[],
  errors: number,
): AckResult {
  return {
    setup,
    persisted,
    clients,
    acks: latencies.length,
    errors,
    p50: r2(pct(latencies, 0.5)),
    p99: r2(pct(latencies, 0.99)),
    max: r2(Math.max(...latencies)),
  };
}

// ---------------------------------------------------------------------------------------------
// 2./3. A master's tick loop on a real GameState and Journal

interface LoopResult {
  ticks: number;
  tickP50: number;
  tickP99: number;
  tickMax: number;
  /** From the end of a tick to its update being durable, ms. */
  lagP50: number;
  lagP99: number;
  /** Ticks whose update never became durable (must be 0). */
  notDurable: number;
  syncs: number;
  writesPerS: number;
}

/**
 * Runs 20 ms ticks like a node (paced by timers): `perTick` writes, a step, append and commit, the
 * journal's afterTick. Stops when `until` says so; returns the figures of the ticks `measure` kept.
 */
async function tickLoop(
  state: GameState,
  journal: Journal,
  options: {
    users: number;
    perTick: number;
    rng: Rng;
    until: (tick: number) => boolean;
    phase?: (tick: number) => string;
  },
): Promise<Map<string, LoopResult>> {
  const phases = new Map<string, { ticks: number[]; lags: number[] }>();
  let seq = journal.held.seq;
  const epoch = journal.held.epoch;
  let next = performance.now() + TICK_MS;
  for (let tick = 0; !options.until(tick); tick++) {
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    next += TICK_MS;
    if (next < performance.now() - 5 * TICK_MS) next = performance.now() + TICK_MS;
    const name = options.phase?.(tick) ?? "all";
    let p = phases.get(name);
    if (!p) phases.set(name, p = { ticks: [], lags: [] });
    const start = performance.now();
    writes(state, options.users, options.perTick, options.rng);
    state.step();
    const ops = state.drainOps();
    seq++;
    journal.append({ epoch, seq, ops });
    journal.commit();
    const tickEnd = performance.now();
    const lags = p.lags;
    journal.whenDurable({ epoch, seq }, () => lags.push(performance.now() - tickEnd));
    journal.afterTick();
    p.ticks.push(performance.now() - start);
  }
  await journal.settled();
  const out = new Map<string, LoopResult>();
  for (const [name, p] of phases) {
    out.set(name, {
      ticks: p.ticks.length,
      notDurable: p.ticks.length - p.lags.length,
      tickP50: r2(pct(p.ticks, 0.5)),
      tickP99: r2(pct(p.ticks, 0.99)),
      tickMax: r2(Math.max(...p.ticks)),
      lagP50: r2(pct(p.lags, 0.5)),
      lagP99: r2(pct(p.lags, 0.99)),
      syncs: 0,
      writesPerS: Math.round(options.perTick / TICK_S),
    });
  }
  return out;
}

interface SustainedRow extends LoopResult {
  users: number;
  sustained: boolean;
}

async function sustained(users: number, rates: number[], seconds: number, dir: string) {
  const rng = mulberry32(users);
  const state = populate(users, rng);
  state.drainOps();
  const { journal } = Journal.open(state, {
    dir: `${dir}/sustained-${users}`,
    nodeId: "bench",
    snapshotIntervalMs: 1e12,
    snapshotLogBytes: 1e15,
  });
  const rows: SustainedRow[] = [];
  try {
    // Warm-up (JIT, the populate's garbage, the first syncs): half a second, not measured.
    await tickLoop(state, journal, { users, perTick: 10, rng, until: (t) => t >= 25 });
    for (const perS of rates) {
      const perTick = Math.round(perS * TICK_S);
      const ticks = Math.round(seconds * 1000 / TICK_MS);
      const syncs = journal.stats.syncs;
      const r = (await tickLoop(state, journal, { users, perTick, rng, until: (t) => t >= ticks }))
        .get("all")!;
      r.syncs = journal.stats.syncs - syncs;
      const ok = r.tickP99 <= 20 && r.lagP99 <= 2 * TICK_MS;
      rows.push({ ...r, users, sustained: ok });
      console.log(
        `| ${users.toLocaleString("en")} | ${
          r.writesPerS.toLocaleString("en")
        } | ${r.tickP50} / ${r.tickP99} | ${r.lagP50} / ${r.lagP99} | ${r.syncs} of ${r.ticks} | ${
          ok ? "yes" : "no"
        } |`,
      );
      if (!ok && rows.filter((x) => !x.sustained).length >= 2) break;
    }
  } finally {
    await journal.close();
  }
  return rows;
}

interface SnapshotResult {
  users: number;
  writesPerS: number;
  before: LoopResult;
  during: LoopResult;
  copyMs: number;
  sliceTicks: number;
  maxSliceMs: number;
  writeMs: number;
  snapshotMs: number;
  bytes: number;
  stopTheWorldMs: number;
}

async function snapshotDuringTicks(users: number, dir: string): Promise<SnapshotResult> {
  const rng = mulberry32(users + 1);
  const state = populate(users, rng);
  state.drainOps();
  const stopStart = performance.now();
  const world = state.world.snapshot();
  const credentials = state.credentialsSnapshot();
  const stopTheWorldMs = performance.now() - stopStart;
  void world;
  void credentials;
  const { journal } = Journal.open(state, {
    dir: `${dir}/snapshot-${users}`,
    nodeId: "bench",
    snapshotIntervalMs: 3000,
    snapshotLogBytes: 1e15,
  });
  const opened = performance.now();
  const perTick = 100; // 5,000 writes/s go on meanwhile
  let doneAt = -1;
  let snapshotEnd = 0;
  try {
    const phases = await tickLoop(state, journal, {
      users,
      perTick,
      rng,
      until: (t) => doneAt >= 0 && t >= doneAt + 25,
      // "during": from the tick the snapshot is due (the room for the copy is touched first) until
      // it is on disk.
      phase: (t) => {
        if (doneAt >= 0) return "after";
        if (journal.stats.snapshots > 0 && !journal.snapshotting) {
          doneAt = t;
          snapshotEnd = performance.now();
          return "after";
        }
        const since = performance.now() - opened;
        // The first second warms up (JIT, the first syncs): not counted.
        return since >= 3000 - TICK_MS ? "during" : since < 1000 ? "warmup" : "before";
      },
    });
    const snapshotStart = opened + 3000;
    const s = journal.stats.lastSnapshot!;
    return {
      users,
      writesPerS: perTick / TICK_S,
      before: phases.get("before")!,
      during: phases.get("during")!,
      copyMs: s.copyMs,
      sliceTicks: s.ticks,
      maxSliceMs: s.maxSliceMs,
      writeMs: s.writeMs,
      snapshotMs: Math.round(snapshotEnd - snapshotStart),
      bytes: s.bytes,
      stopTheWorldMs: r2(stopTheWorldMs),
    };
  } finally {
    await journal.close();
  }
}

interface RecoveryResult {
  users: number;
  logSeconds: number;
  logBytes: number;
  snapshotBytes: number;
  buildMs: number;
  recoveryMs: number;
  restoreMs: number;
  replayMs: number;
  replayed: number;
  checksumOk: boolean;
}

async function recovery(users: number, logSeconds: number, dir: string): Promise<RecoveryResult> {
  const path = `${dir}/recovery-${users}`;
  const rng = mulberry32(users + 2);
  const built = performance.now();
  const state = populate(users, rng);
  state.drainOps();
  {
    const { journal } = Journal.open(state, {
      dir: path,
      nodeId: "bench",
      snapshotIntervalMs: 1e12,
      snapshotLogBytes: 1e15,
    });
    // The source's history: its own snapshot, then a minute of ticks (offline, no pacing).
    journal.snapshotNow();
    while (journal.snapshotting) {
      journal.afterTick();
      await journal.settled();
    }
    const ticks = Math.round(logSeconds * 1000 / TICK_MS);
    const perTick = 20; // 1,000 writes/s
    for (let t = 0; t < ticks; t++) {
      writes(state, users, perTick, rng);
      state.step();
      const seq = journal.held.seq + 1;
      journal.append({ epoch: 1, seq, ops: state.drainOps() });
      journal.commit();
      if (t % 100 === 0) await journal.settled();
    }
    await journal.close();
  }
  const buildMs = performance.now() - built;
  const expected = state.checksum();
  const files = [...Deno.readDirSync(path)];
  const size = (re: RegExp) =>
    files.filter((f) => re.test(f.name)).reduce(
      (n, f) => n + Deno.statSync(`${path}/${f.name}`).size,
      0,
    );
  // The snapshot alone, for the split between restore and replay.
  const snapshotFile = files.find((f) => /\.snap$/.test(f.name))!.name;
  const restoreStart = performance.now();
  {
    const file = decodeSnapshotFile(Deno.readFileSync(`${path}/${snapshotFile}`));
    if (typeof file === "string") throw new Error(file);
    new GameState(optionsOf(users), TICK_S).restore(file.world, file.credentials);
  }
  const restoreMs = performance.now() - restoreStart;
  const target = new GameState(optionsOf(users), TICK_S);
  const start = performance.now();
  const { journal, report } = Journal.open(target, {
    dir: path,
    nodeId: "bench",
    snapshotIntervalMs: 1e12,
    snapshotLogBytes: 1e15,
  });
  const recoveryMs = performance.now() - start;
  await journal.close();
  return {
    users,
    logSeconds,
    logBytes: size(/\.wal$/),
    snapshotBytes: size(/\.snap$/),
    buildMs: Math.round(buildMs),
    recoveryMs: Math.round(recoveryMs),
    restoreMs: Math.round(restoreMs),
    replayMs: Math.round(recoveryMs - restoreMs),
    replayed: report.replayed,
    checksumOk: target.checksum() === expected,
  };
}

function optionsOf(users: number) {
  return {
    width: WORLD_SIDE,
    height: WORLD_SIDE,
    maxUsers: Math.ceil(users * 1.1) + 1000,
    maxSpeed: MAX_SPEED,
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      parts: { type: "string", default: "1,2,3,4" },
    },
  });
  const quick = values.quick;
  const parts = new Set(values.parts.split(",").map(Number));
  const startedAt = performance.now();
  console.log(
    `Persistence bench${
      quick ? " (quick)" : ""
    }: Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ` +
      `load average ${loadavg()}`,
  );
  await using dir = new TempDir();
  const failures: string[] = [];

  const acks = parts.has(1) ? await partAcks(quick, failures) : undefined;
  const sustainedOut = parts.has(2) ? await partSustained(quick, dir.path, failures) : undefined;
  const snap = parts.has(3) ? await partSnapshot(quick, dir.path, failures) : undefined;
  const rec = parts.has(4) ? await partRecovery(quick, dir.path, failures) : undefined;

  const seconds = Math.round((performance.now() - startedAt) / 1000);
  console.log(`\nload average at the end ${loadavg()}; ${seconds} s`);
  if (failures.length > 0) console.log(`FAILED: ${failures.join("; ")}`);
  console.log(JSON.stringify({
    bench: "persistence",
    quick,
    loadavg: Deno.loadavg(),
    ack_latency: acks,
    sustained: sustainedOut,
    snapshot: snap,
    recovery: rec,
    ok: failures.length === 0,
    failures,
  }));
  return failures.length === 0 ? 0 : 1;
}

async function partAcks(quick: boolean, failures: string[]): Promise<AckResult[]> {
  console.log("\n1. write-ack latency (client-measured, closed loop, set_velocity)\n");
  const acks: AckResult[] = [];
  const ackSeconds = quick ? 2 : 10;
  const ackClients = quick ? 10 : 50;
  for (const persisted of [false, true]) {
    acks.push(await singleAcks(persisted, ackClients, ackSeconds));
  }
  if (!quick) {
    for (const persisted of [false, true]) {
      acks.push(await clusterAcks(persisted, ackClients, ackSeconds));
    }
  }
  console.log("| setup | persistence | clients | acks | errors | p50 ms | p99 ms | max ms |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const a of acks) {
    console.log(
      `| ${a.setup} | ${
        a.persisted ? "data_dir, fdatasync per tick" : "none"
      } | ${a.clients} | ${a.acks} | ${a.errors} | ${a.p50} | ${a.p99} | ${a.max} |`,
    );
  }
  const synced = acks.find((a) => a.persisted)!;
  if (quick && !(synced.acks > 0 && synced.p50 <= 45)) {
    failures.push(`acks with fsync: ${synced.acks} acks, p50 ${synced.p50} ms (> 45 or none)`);
  }
  return acks;
}

async function partSustained(quick: boolean, dir: string, failures: string[]) {
  console.log(
    "\n2. sustained writes per second with persistence (20 ms ticks, all users moving)\n",
  );
  console.log(
    "| users | writes/s | tick p50 / p99 ms | durable lag p50 / p99 ms | fdatasyncs | sustained |",
  );
  console.log("|---|---|---|---|---|---|");
  const rows: SustainedRow[] = [];
  const sizes = quick ? [10_000] : [10_000, 100_000];
  const rates = quick ? [2_500, 10_000] : [2_500, 10_000, 25_000, 50_000, 100_000, 200_000];
  for (const users of sizes) rows.push(...await sustained(users, rates, quick ? 1 : 4, dir));
  const best = sizes.map((users) => ({
    users,
    writesPerS: Math.max(
      0,
      ...rows.filter((r) => r.users === users && r.sustained).map((r) => r.writesPerS),
    ),
  }));
  const base = rows.find((r) => r.users === 10_000 && r.writesPerS === 2_500);
  if (quick && !(base && base.lagP50 <= TICK_MS)) {
    failures.push(`durable lag p50 at 2,500 writes/s: ${base?.lagP50} ms (> ${TICK_MS})`);
  }
  const lost = rows.reduce((n, r) => n + r.notDurable, 0);
  if (lost > 0) failures.push(`${lost} tick updates never became durable`);
  return { rows, best };
}

async function partSnapshot(quick: boolean, dir: string, failures: string[]) {
  console.log("\n3. a snapshot while ticking (5,000 writes/s going on)\n");
  const snap = await snapshotDuringTicks(quick ? 50_000 : 250_000, dir);
  console.log(
    "| users | tick p50 / p99 / max before | tick p50 / p99 / max during | durable lag p99 before / during | copy ms | slices (ticks) | longest slice ms | write ms | snapshot start to on disk ms | bytes | stop-the-world snapshot ms |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  console.log(
    `| ${
      snap.users.toLocaleString("en")
    } | ${snap.before.tickP50} / ${snap.before.tickP99} / ${snap.before.tickMax} | ${snap.during.tickP50} / ${snap.during.tickP99} / ${snap.during.tickMax} | ${snap.before.lagP99} / ${snap.during.lagP99} | ${snap.copyMs} | ${snap.sliceTicks} | ${snap.maxSliceMs} | ${snap.writeMs} | ${snap.snapshotMs} | ${
      snap.bytes.toLocaleString("en")
    } | ${snap.stopTheWorldMs} |`,
  );
  // Its own slices must stay short: well under a stop-the-world snapshot of the same world measured
  // in the same run (25 ms or more at 50,000 users), so another process's burst on the shared cores,
  // which lengthens both, does not decide the verdict; a snapshot taken in one go fails it.
  const sliceLimit = Math.max(15, 0.6 * snap.stopTheWorldMs);
  if (quick && !(snap.maxSliceMs <= sliceLimit && snap.during.tickP50 <= 10)) {
    failures.push(
      `snapshot at ${snap.users} users: longest slice ${snap.maxSliceMs} ms (> ${
        Math.round(sliceLimit * 10) / 10
      }: 60% of a stop-the-world snapshot, at least 15) or tick p50 ${snap.during.tickP50} ms (> 10)`,
    );
  }
  const lost = snap.before.notDurable + snap.during.notDurable;
  if (lost > 0) failures.push(`${lost} tick updates never became durable around the snapshot`);
  return snap;
}

async function partRecovery(quick: boolean, dir: string, failures: string[]) {
  console.log("\n4. recovery (Journal.open: snapshot restore + log replay)\n");
  const rec = await recovery(quick ? 20_000 : 250_000, quick ? 10 : 60, dir);
  console.log(
    "| users | log | snapshot bytes | log bytes | recovery ms | of which restore ms | replay ms | updates replayed | checksum |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|");
  console.log(
    `| ${rec.users.toLocaleString("en")} | ${rec.logSeconds} s | ${
      rec.snapshotBytes.toLocaleString("en")
    } | ${
      rec.logBytes.toLocaleString("en")
    } | ${rec.recoveryMs} | ${rec.restoreMs} | ${rec.replayMs} | ${rec.replayed} | ${
      rec.checksumOk ? "equal" : "DIFFERENT"
    } |`,
  );
  if (!rec.checksumOk) failures.push("the recovered state's checksum differs from the source's");
  return rec;
}

if (import.meta.main) Deno.exit(await main());
