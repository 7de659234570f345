/**
 * Replication benchmark (issue #5): how far behind a slave runs, and what the update stream costs.
 *
 * A master `GameState` holds N users, all moving, each sending one write per second (90%
 * set_velocity, 10% aoe of radius 50 m), spread evenly over 20 ms ticks. Every tick the master
 * steps the world, drains the op log and publishes a real `ReplicationUpdate` frame
 * (`encodeUpdate`) on a `PublisherSocket` bound to 127.0.0.1. A slave — a child Deno process
 * (this file with `--child`) running `ReplicaSync` over its own `GameState` — subscribes, asks for
 * a snapshot over a DEALER → ROUTER link (real `SnapshotRequest` / `SnapshotReply`), replays every
 * update and acks it (`ReplicaAck`), exactly as a cluster node does. The master checks durability
 * with an `AckTracker`, and sends a checksum with every 50th update, which the slave verifies.
 *
 * Lag = time from the master's publish to the slave having applied the update (ops + step). Both
 * processes stamp events with `performance.timeOrigin + performance.now()`: the same machine, the
 * same wall clock, sub-millisecond resolution. The slave reports its stamps on stdout at the end.
 * As a cross-check needing no shared clock, the table also gives the ack round trip (publish →
 * `ReplicaAck` back at the master), an upper bound of the lag.
 *
 * Bytes: `B/tick` is the mean `ReplicationUpdate` frame (plus its 1-byte topic frame), `B/s` the
 * bytes published per second of the measured window. The snapshot is the `SnapshotReply` cluster
 * frame (world + sessions). The alternative design, "per-tick deltas of changed users", is measured
 * for size only: every 10th tick the users whose id/x/y/vx/vy/money changed since the previous
 * tick are encoded (u32 id + five f64: 44 bytes each, bit-exact as replicas need; plus a 4-byte
 * count and the same framing) — with everyone moving that is every user.
 *
 *   deno task bench:replication            10,000 and 50,000 users, 20 s each (about a minute)
 *   deno task bench:replication --quick    2,000 users, 2 s: checks the benchmark works
 *   flags: --users=N[,N…]   --seconds=S   --tick-ms=MS   --seed=S
 *
 * Prints a table and, last, one JSON line `{"bench":"replication","results":[…]}`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { setImmediate } from "node:timers";
import { GameState } from "../lib/state/mod.ts";
import {
  AckTracker,
  ReplicaSync,
  type ReplicaSyncStats,
  type SyncAction,
} from "../lib/replication/mod.ts";
import { decodeCluster, decodeUpdate, encodeCluster, encodeUpdate } from "../lib/protocol/mod.ts";
import {
  DealerSocket,
  PublisherSocket,
  Pump,
  RouterSocket,
  SubscriberSocket,
} from "../lib/transport/mod.ts";
import { mulberry32 } from "../lib/random/mod.ts";

const RADIUS_M = 50;
const USERS_PER_CIRCLE = 8;
const MAX_SPEED = 10;
const WRITES_PER_USER_S = 1;
const AOE_SHARE = 0.1;
const CHECKSUM_EVERY = 50;
const DELTA_SAMPLE_EVERY = 10;
const EPOCH = 1;
const MASTER_ID = "bench-master";
const SLAVE_ID = "bench-slave";
const TOPIC = "u";
const TOPIC_BYTE = 0x75;
const TOPIC_FRAME = Uint8Array.of(TOPIC_BYTE);

/** How updates travel: PUB → SUB (the design), or ROUTER → DEALER when PUB/SUB is unusable. */
type UpdateMode = "pubsub" | "router";
/** Bytes of one user in a delta: u32 id + x, y, vx, vy, money as f64. */
const DELTA_RECORD = 44;
const P99_LAG_TICKS_LIMIT = 2;
const RATIO_LIMIT = 0.1;
/** Longest wait for the child to start and ask for its first snapshot. */
const CHILD_START_MS = 30_000;

// ------------------------------------------------------------------------------------------------
// Shared helpers

/** Side of a square world where a 50 m circle holds ~8 users (as in the world benchmark). */
function worldSide(users: number): number {
  return Math.sqrt(users * Math.PI * RADIUS_M * RADIUS_M / USERS_PER_CIRCLE);
}

function worldOptions(users: number) {
  const side = worldSide(users);
  return { width: side, height: side, maxUsers: users, maxSpeed: MAX_SPEED };
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes. */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function sortedOf(values: number[]): Float64Array {
  return Float64Array.from(values).sort();
}

const encoder = new TextEncoder();

function printLine(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

// ------------------------------------------------------------------------------------------------
// Child: the slave

interface ChildReport {
  /** [seq, applied wall ms, apply ms] per update applied live (not replayed after a snapshot). */
  applied: number[][];
  snapshots: { seq: number; restoreMs: number }[];
  stats: ReplicaSyncStats;
  /** Updates whose checksum the slave compared with its own. */
  verified: number;
  lastSeq: number;
}

async function child(flags: Record<string, string | boolean | undefined>): Promise<never> {
  const pubEndpoint = String(flags.pub);
  const routerEndpoint = String(flags.router);
  const mode: UpdateMode = flags.mode === "router" ? "router" : "pubsub";
  const users = Number(flags.users);
  const tickS = Number(flags["tick-ms"]) / 1000;
  const until = Number(flags.until);
  const deadline = setTimeout(() => {
    printLine("DEADLINE");
    Deno.exit(3);
  }, Number(flags["max-seconds"]) * 1000);
  Deno.unrefTimer(deadline);
  // The parent closes stdin (or dies): leave at once.
  (async () => {
    try {
      for await (const _ of Deno.stdin.readable) { /* discard */ }
    } catch { /* closed */ }
    Deno.exit(0);
  })();

  const inner = new GameState(worldOptions(users), tickS);
  let lastApplyMs = 0;
  let lastRestoreMs = 0;
  let verified = 0;
  const sync = new ReplicaSync({
    applyUpdate(ops) {
      const t0 = performance.now();
      inner.applyUpdate(ops);
      lastApplyMs = performance.now() - t0;
    },
    restore(world, credentials) {
      const t0 = performance.now();
      inner.restore(world, credentials);
      lastRestoreMs = performance.now() - t0;
    },
    checksum() {
      // ReplicaSync asks only for updates that carry the master's checksum.
      verified++;
      return inner.checksum();
    },
  }, { silenceMs: 1000, snapshotTimeoutMs: 3000, maxBuffered: 1000 });

  const report: ChildReport = {
    applied: [],
    snapshots: [],
    stats: sync.stats,
    verified: 0,
    lastSeq: 0,
  };
  const { promise: finished, resolve: finish } = Promise.withResolvers<void>();
  const pump = new Pump();
  const handle = (actions: SyncAction[]) => {
    for (const action of actions) {
      if (action.type === "ack") {
        dealer.send(
          encodeCluster({ epoch: EPOCH, replicaAck: { nodeId: SLAVE_ID, seq: action.seq } }),
        );
      } else if (action.type === "request_snapshot") {
        dealer.send(encodeCluster({ epoch: EPOCH, snapshotRequest: { nodeId: SLAVE_ID } }));
        if (action.reason !== "start") {
          console.error(`slave: snapshot requested (${action.reason})`);
        }
      } else if (action.type === "log" && (action.level === "warn" || action.level === "error")) {
        console.error(`slave ${action.level}: ${action.message} ${JSON.stringify(action.fields)}`);
      }
    }
    if (sync.lastSeq >= until && sync.state === "live") finish();
  };
  const dealer = DealerSocket.connect(pump, routerEndpoint, (frames) => {
    if (frames.length === 2 && frames[0].length === 1 && frames[0][0] === TOPIC_BYTE) {
      onUpdate(frames[1]); // router mode: updates come on this link, tagged like the PUB topic
      return;
    }
    const message = decodeCluster(frames[frames.length - 1]);
    const s = message.snapshotReply;
    if (!s) return;
    const actions = sync.onSnapshot({
      epoch: message.epoch ?? 0,
      seq: s.seq ?? 0,
      world: s.world ?? new Uint8Array(),
      credentials: s.sessions ?? new Uint8Array(),
    }, performance.now());
    report.snapshots.push({ seq: s.seq ?? 0, restoreMs: lastRestoreMs });
    handle(actions);
  });
  function onUpdate(payload: Uint8Array): void {
    const u = decodeUpdate(payload);
    const seq = u.seq ?? 0;
    const before = sync.lastSeq;
    const actions = sync.onUpdate({
      epoch: u.epoch ?? 0,
      seq,
      ops: u.ops ?? new Uint8Array(),
      checksum: u.checksum ?? 0,
      masterId: u.masterId ?? "",
    }, performance.now());
    if (sync.lastSeq === seq && before !== seq) report.applied.push([seq, wallNow(), lastApplyMs]);
    handle(actions);
  }
  if (mode === "pubsub") {
    SubscriberSocket.connect(pump, pubEndpoint, [TOPIC], (_topic, payload) => onUpdate(payload), {
      receiveHwm: 100_000,
    });
  }
  const ticker = setInterval(() => handle(sync.tick(performance.now())), 100);
  handle(sync.start(EPOCH, performance.now()));
  await finished;
  clearInterval(ticker);
  report.stats = sync.stats;
  report.verified = verified;
  report.lastSeq = sync.lastSeq;
  printLine("RESULT " + JSON.stringify(report));
  await pump[Symbol.asyncDispose]();
  Deno.exit(0);
}

// ------------------------------------------------------------------------------------------------
// Probe: can this process open a PUB and a SUB through lib/transport?

async function probe(): Promise<never> {
  const pump = new Pump();
  const publisher = await PublisherSocket.bind(pump, "tcp://127.0.0.1:0");
  SubscriberSocket.connect(pump, publisher.endpoint, [TOPIC], () => {});
  await pump[Symbol.asyncDispose]();
  Deno.exit(0);
}

/** Runs the probe in a child process: a transport bug may crash (segfault) rather than throw. */
async function pubSubWorks(): Promise<{ ok: boolean; detail: string }> {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--probe"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      proc.kill("SIGKILL");
    } catch { /* exited */ }
  }, 20_000);
  try {
    const [status, stderr] = await Promise.all([proc.status, new Response(proc.stderr).text()]);
    const detail = status.signal !== null
      ? `killed by ${status.signal}`
      : `exit code ${status.code}${stderr.trim() ? `: ${stderr.trim().split("\n")[0]}` : ""}`;
    return { ok: status.success, detail };
  } finally {
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------------------------------------
// Parent: the master

interface RunOptions {
  seconds: number;
  warmupTicks: number;
  tickMs: number;
  seed: number;
}

interface RunResult {
  users: number;
  ticks: number;
  lagP50: number;
  lagP99: number;
  lagMax: number;
  ackP50: number;
  ackP99: number;
  applyP99: number;
  masterP99: number;
  bytesPerTick: number;
  bytesPerS: number;
  snapshotBytes: number;
  restoreMs: number;
  deltaBytesPerTick: number;
  late: number;
  snapshotRequests: number;
  ackTimeouts: number;
  /** Measured updates the slave did not apply live (they came inside a snapshot). */
  missed: number;
  drifts: number;
  verified: number;
  converged: boolean;
}

/** Reads `RESULT {json}` from the child's stdout (other lines are echoed). */
async function readResult(stream: ReadableStream<Uint8Array>): Promise<ChildReport | undefined> {
  let buffered = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.startsWith("RESULT ")) return JSON.parse(line.slice(7)) as ChildReport;
      if (line.trim() !== "") console.error(`slave: ${line}`);
    }
  }
  return undefined;
}

/** Delta-size sampler: remembers every user's fields after one tick, encodes the changes after the next. */
class DeltaSampler {
  readonly #ids: Uint32Array;
  readonly #prev: Float64Array;
  readonly #buffer: Uint8Array;
  readonly #view: DataView;
  readonly sizes: number[] = [];

  constructor(users: number) {
    this.#ids = new Uint32Array(users);
    this.#prev = new Float64Array(users * 5);
    this.#buffer = new Uint8Array(4 + users * DELTA_RECORD);
    this.#view = new DataView(this.#buffer.buffer);
  }

  remember(state: GameState): void {
    const ids = this.#ids;
    const prev = this.#prev;
    let i = 0;
    state.world.forEachUser((id, x, y, vx, vy, money) => {
      ids[i] = id;
      const o = i * 5;
      prev[o] = x;
      prev[o + 1] = y;
      prev[o + 2] = vx;
      prev[o + 3] = vy;
      prev[o + 4] = money;
      i++;
    });
  }

  /** Encodes the changed users (slots do not move: nobody logs out in this benchmark). */
  encode(state: GameState): void {
    const ids = this.#ids;
    const prev = this.#prev;
    const v = this.#view;
    let i = 0;
    let p = 4;
    let changed = 0;
    state.world.forEachUser((id, x, y, vx, vy, money) => {
      const o = i * 5;
      if (
        ids[i] !== id || prev[o] !== x || prev[o + 1] !== y || prev[o + 2] !== vx ||
        prev[o + 3] !== vy || prev[o + 4] !== money
      ) {
        v.setUint32(p, id, true);
        v.setFloat64(p + 4, x, true);
        v.setFloat64(p + 12, y, true);
        v.setFloat64(p + 20, vx, true);
        v.setFloat64(p + 28, vy, true);
        v.setFloat64(p + 36, money, true);
        p += DELTA_RECORD;
        changed++;
      }
      i++;
    });
    v.setUint32(0, changed, true);
    this.sizes.push(p);
  }
}

async function run(users: number, options: RunOptions, mode: UpdateMode): Promise<RunResult> {
  const { tickMs } = options;
  const tickS = tickMs / 1000;
  const rng = mulberry32(options.seed ^ Math.imul(users, 0x9e3779b1));
  const world = worldOptions(users);
  const state = new GameState(world, tickS);
  const setRandomVelocity = (id: number) => {
    // Uniform direction, speed in [0.2, 1] × max: every user keeps moving.
    const angle = rng() * 2 * Math.PI;
    const speed = MAX_SPEED * (0.2 + 0.8 * rng());
    state.setVelocity(id, speed * Math.cos(angle), speed * Math.sin(angle));
  };
  for (let i = 0; i < users; i++) {
    let token = "";
    for (let b = 0; b < 16; b++) token += Math.floor(rng() * 256).toString(16).padStart(2, "0");
    const result = state.login(rng() * world.width, rng() * world.height, token);
    if (!result.ok) throw new Error(`Login ${i} failed: ${result.reason}`);
    setRandomVelocity(result.userId);
  }
  // The setup is in the state the slave gets with its first snapshot (seq 0).
  state.drainOps();

  const measureTicks = Math.round(options.seconds * 1000 / tickMs);
  const until = options.warmupTicks + measureTicks;
  const maxTicks = until + Math.round(10_000 / tickMs);
  const publishWall = new Float64Array(maxTicks + 1);
  const frameBytes = new Float64Array(maxTicks + 1);
  const ackMs = new Float64Array(maxTicks + 1).fill(Number.NaN);
  const masterMs: number[] = [];
  const sampler = new DeltaSampler(users);
  let seq = 0;
  let snapshotBytes = 0;
  let snapshotRequests = 0;
  let ackTimeouts = 0;
  let late = 0;
  const snapshotPeers: Uint8Array[] = [];
  const acks = new AckTracker({ minReplicas: -1, timeoutMs: 5000 });
  acks.setReplicas([SLAVE_ID]);

  let slavePeer: Uint8Array | undefined;
  await using pump = new Pump();
  const publisher = mode === "pubsub"
    ? await PublisherSocket.bind(pump, "tcp://127.0.0.1:0", { sendHwm: 100_000 })
    : undefined;
  const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
    const message = decodeCluster(frames[frames.length - 1]);
    if (message.snapshotRequest) {
      snapshotRequests++;
      slavePeer = Uint8Array.from(peer);
      snapshotPeers.push(slavePeer);
    } else if (message.replicaAck) {
      acks.onAck(message.replicaAck.nodeId ?? "", message.replicaAck.seq ?? 0, performance.now());
    }
  });
  /** Serves queued snapshot requests; called only right after a publish, when the op log is empty. */
  const serveSnapshots = () => {
    if (snapshotPeers.length === 0) return;
    if (state.pendingOps !== 0) throw new Error("Snapshot with unpublished ops");
    const frame = encodeCluster({
      epoch: EPOCH,
      snapshotReply: { seq, world: state.world.snapshot(), sessions: state.credentialsSnapshot() },
    });
    snapshotBytes = frame.length;
    for (const peer of snapshotPeers.splice(0)) router.send(peer, frame);
  };

  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--child",
      `--mode=${mode}`,
      `--pub=${publisher?.endpoint ?? ""}`,
      `--router=${router.endpoint}`,
      `--users=${users}`,
      `--tick-ms=${tickMs}`,
      `--until=${until}`,
      `--max-seconds=${Math.ceil(CHILD_START_MS / 1000 + (maxTicks * tickMs) / 1000 + 30)}`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  });
  const proc = command.spawn();
  try {
    let childReport: ChildReport | undefined;
    let childDone = false;
    const reading = readResult(proc.stdout).then((r) => {
      childReport = r;
      childDone = true;
    });

    // Start ticking once the slave has connected and asked for its first snapshot (seq 0).
    const waitStart = performance.now();
    while (snapshotPeers.length === 0 && !childDone) {
      if (performance.now() - waitStart > CHILD_START_MS) {
        throw new Error(`The slave did not ask for a snapshot within ${CHILD_START_MS} ms`);
      }
      await sleep(5);
    }
    serveSnapshots();

    const writesPerTick = users * WRITES_PER_USER_S * tickS;
    const out = new Uint32Array(256);
    let writesDue = 0;
    let next = performance.now();
    const hardDeadline = next + maxTicks * tickMs * 2 + 10_000;
    while (!childDone && seq < maxTicks && performance.now() < hardDeadline) {
      const t0 = performance.now();
      if (t0 - next > tickMs) late++;
      // The writes that arrived since the last tick (applied at once on a real master).
      for (writesDue += writesPerTick; writesDue >= 1; writesDue--) {
        const id = 1 + Math.floor(rng() * users);
        if (rng() < AOE_SHARE) state.aoe(id, RADIUS_M, 1, out);
        else setRandomVelocity(id);
      }
      state.step();
      const ops = state.drainOps();
      seq++;
      // The last measured update always carries one: the run ends on a verified state.
      const withChecksum = seq % CHECKSUM_EVERY === 0 || seq === until;
      const checksum = withChecksum ? state.checksum() : 0;
      const frame = encodeUpdate({ epoch: EPOCH, seq, ops, checksum, masterId: MASTER_ID });
      const published = seq;
      publishWall[seq] = wallNow();
      const publishedAt = performance.now();
      if (publisher !== undefined) publisher.publish(TOPIC, frame);
      else if (slavePeer !== undefined) router.send(slavePeer, [TOPIC_FRAME, frame]);
      frameBytes[seq] = frame.length + TOPIC.length;
      masterMs.push(publishedAt - t0);
      acks.waitFor(
        seq,
        () => {
          ackMs[published] = performance.now() - publishedAt;
        },
        () => ackTimeouts++,
        publishedAt,
      );
      serveSnapshots();
      // Alternative design, size only: sample the delta of one tick in ten.
      if (seq % DELTA_SAMPLE_EVERY === DELTA_SAMPLE_EVERY - 1) sampler.remember(state);
      else if (seq % DELTA_SAMPLE_EVERY === 0) sampler.encode(state);
      acks.tick(performance.now());

      next += tickMs;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
    // Let the slave report (it stops at `until`).
    const reportDeadline = performance.now() + 15_000;
    while (!childDone && performance.now() < reportDeadline) await sleep(10);
    if (childReport === undefined) throw new Error("The slave did not report");
    const report: ChildReport = childReport;
    await reading;

    // The measured window: after the warm-up, up to `until`.
    const first = options.warmupTicks + 1;
    const lags: number[] = [];
    const applies: number[] = [];
    for (const [s, wall, apply] of report.applied) {
      if (s < first || s > until) continue;
      lags.push(wall - publishWall[s]);
      applies.push(apply);
    }
    const acksMeasured: number[] = [];
    let bytes = 0;
    for (let s = first; s <= until; s++) {
      if (!Number.isNaN(ackMs[s])) acksMeasured.push(ackMs[s]);
      bytes += frameBytes[s];
    }
    const windowS = (publishWall[until] - publishWall[first - 1]) / 1000;
    const lag = sortedOf(lags);
    const ack = sortedOf(acksMeasured);
    const deltaPayload = sampler.sizes.length === 0
      ? 0
      : Math.round(sampler.sizes.reduce((a, b) => a + b) / sampler.sizes.length);
    // The same framing as an op-log update (fields, tags, length prefix, topic).
    const deltaFrame = encodeUpdate({
      epoch: EPOCH,
      seq: until,
      ops: new Uint8Array(deltaPayload),
      checksum: 0,
      masterId: MASTER_ID,
    }).length + TOPIC.length;
    return {
      users,
      ticks: lags.length,
      lagP50: quantile(lag, 0.5),
      lagP99: quantile(lag, 0.99),
      lagMax: lag[lag.length - 1] ?? Number.NaN,
      ackP50: quantile(ack, 0.5),
      ackP99: quantile(ack, 0.99),
      applyP99: quantile(sortedOf(applies), 0.99),
      masterP99: quantile(sortedOf(masterMs.slice(first - 1, until)), 0.99),
      bytesPerTick: bytes / (until - first + 1),
      bytesPerS: bytes / windowS,
      snapshotBytes,
      restoreMs: report.snapshots[0]?.restoreMs ?? Number.NaN,
      deltaBytesPerTick: deltaFrame,
      late,
      snapshotRequests,
      ackTimeouts,
      missed: measureTicks - lags.length,
      drifts: report.stats.drifts,
      verified: report.verified,
      converged: report.stats.drifts === 0 && report.verified > 0 && report.lastSeq >= until,
    };
  } finally {
    try {
      await proc.stdin.close();
    } catch { /* already closed */ }
    try {
      proc.kill("SIGKILL");
    } catch { /* already exited */ }
    await Promise.race([proc.status, sleep(5000)]);
  }
}

// ------------------------------------------------------------------------------------------------
// Report

const COLUMNS: [string, number][] = [
  ["users", 7],
  ["ticks", 6],
  ["lag_p50_ms", 10],
  ["lag_p99_ms", 10],
  ["lag_max_ms", 10],
  ["p99_ticks", 9],
  ["ack_p99_ms", 10],
  ["apply_p99", 9],
  ["master_p99", 10],
  ["B/tick", 8],
  ["B/s", 9],
  ["snapshot_B", 10],
  ["tick/snap", 9],
  ["delta_B/tick", 12],
  ["delta/oplog", 11],
  ["ok", 3],
];

function row(cells: string[]): string {
  return cells.map((c, i) => c.padStart(COLUMNS[i][1])).join("  ");
}

function formatRow(r: RunResult, tickMs: number): string {
  const ok = r.lagP99 / tickMs <= P99_LAG_TICKS_LIMIT &&
    r.bytesPerTick / r.snapshotBytes <= RATIO_LIMIT && r.converged;
  return row([
    String(r.users),
    String(r.ticks),
    r.lagP50.toFixed(2),
    r.lagP99.toFixed(2),
    r.lagMax.toFixed(2),
    (r.lagP99 / tickMs).toFixed(2),
    r.ackP99.toFixed(2),
    r.applyP99.toFixed(2),
    r.masterP99.toFixed(2),
    Math.round(r.bytesPerTick).toString(),
    Math.round(r.bytesPerS).toString(),
    String(r.snapshotBytes),
    `${(100 * r.bytesPerTick / r.snapshotBytes).toFixed(2)}%`,
    Math.round(r.deltaBytesPerTick).toString(),
    `${(r.deltaBytesPerTick / r.bytesPerTick).toFixed(0)}x`,
    ok ? "yes" : "NO",
  ]);
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      child: { type: "boolean", default: false },
      probe: { type: "boolean", default: false },
      mode: { type: "string" },
      users: { type: "string" },
      seconds: { type: "string" },
      "tick-ms": { type: "string" },
      seed: { type: "string" },
      // Child flags.
      pub: { type: "string" },
      router: { type: "string" },
      until: { type: "string" },
      "max-seconds": { type: "string" },
    },
  });
  if (values.child) await child(values);
  if (values.probe) await probe();
  const quick = values.quick;
  const userCounts = (values.users ?? (quick ? "2000" : "10000,50000")).split(",").map(Number);
  const tickMs = Number(values["tick-ms"] ?? 20);
  const options: RunOptions = {
    seconds: Number(values.seconds ?? (quick ? 2 : 20)),
    warmupTicks: Math.round((quick ? 500 : 2000) / tickMs),
    tickMs,
    seed: Number(values.seed ?? 1),
  };
  for (const n of userCounts) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`Bad --users value ${n}`);
  }
  if (!(tickMs > 0) || !(options.seconds > 0)) {
    throw new Error("--tick-ms and --seconds must be > 0");
  }
  console.log(
    `replication bench: tick ${tickMs} ms, ${options.seconds} s measured after ${
      options.warmupTicks * tickMs / 1000
    } s warm-up, ${WRITES_PER_USER_S} write/user/s (${100 - AOE_SHARE * 100}% set_velocity, ${
      AOE_SHARE * 100
    }% aoe), all users moving, master → slave child process over 127.0.0.1${
      quick ? ", quick" : ""
    }`,
  );
  console.log(
    "lag = master publish → slave applied (shared wall clock); ack = publish → ReplicaAck at master",
  );
  let mode: UpdateMode = values.mode === "router" ? "router" : "pubsub";
  if (mode === "pubsub") {
    const probed = await pubSubWorks();
    if (!probed.ok) {
      mode = "router";
      console.log(
        `NOTE: PublisherSocket/SubscriberSocket crash in this build of lib/transport ` +
          `(probe: ${probed.detail}); updates travel ROUTER → DEALER instead (same frames, same ` +
          `TCP path, per-peer queue)`,
      );
    }
  }
  console.log(`update transport: ${mode === "pubsub" ? "PUB → SUB" : "ROUTER → DEALER"}`);
  console.log(row(COLUMNS.map(([name]) => name)));
  const results: RunResult[] = [];
  for (const users of userCounts) {
    const r = await run(users, options, mode);
    results.push(r);
    console.log(formatRow(r, tickMs));
    console.log(
      `  ${r.verified} checksums verified by the slave, ${r.drifts} drifts, ${r.snapshotRequests} ` +
        `snapshot request(s), snapshot restore ${
          r.restoreMs.toFixed(1)
        } ms, ${r.missed} measured ` +
        `updates not applied live, ${r.ackTimeouts} ack timeouts, ${r.late} master ticks > 1 tick late`,
    );
  }
  console.log("");
  console.log(
    `targets: lag p99 <= ${P99_LAG_TICKS_LIMIT} ticks, update bytes per tick <= ${
      RATIO_LIMIT * 100
    }% of a snapshot; delta/oplog = how many times larger per-tick deltas of changed users are`,
  );
  console.log(JSON.stringify({
    bench: "replication",
    results: results.map((r) => ({
      users: r.users,
      lag_p50_ms: round(r.lagP50, 3),
      lag_p99_ms: round(r.lagP99, 3),
      lag_p99_ticks: round(r.lagP99 / tickMs, 3),
      ack_p99_ms: round(r.ackP99, 3),
      bytes_per_s: Math.round(r.bytesPerS),
      bytes_per_tick: Math.round(r.bytesPerTick),
      snapshot_bytes: r.snapshotBytes,
      tick_to_snapshot_ratio: round(r.bytesPerTick / r.snapshotBytes, 5),
      delta_bytes_per_tick: Math.round(r.deltaBytesPerTick),
      converged: r.converged,
      transport: mode,
    })),
  }));
}

if (import.meta.main) await main();
