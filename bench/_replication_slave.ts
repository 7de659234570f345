/**
 * The replication benchmark's slave: a child Deno process running `ReplicaSync` over its own
 * `GameState`, exactly as a cluster node does — it subscribes, asks for a snapshot over a DEALER →
 * ROUTER link, replays every update and acks it. It stamps the moment each update's seq became part
 * of its state, however it got there: applied live, applied from its buffer once a gap filled, or
 * held by a snapshot it restored. Also the PUB/SUB probe (`--probe`), and what master and slave
 * share.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { GameState } from "../lib/state/mod.ts";
import { ReplicaSync, type ReplicaSyncStats, type SyncAction } from "../lib/replication/mod.ts";
import { decodeCluster, decodeUpdate, encodeCluster } from "../lib/protocol/mod.ts";
import { DealerSocket, PublisherSocket, Pump, SubscriberSocket } from "../lib/transport/mod.ts";

/** Radius and crowding of the world, as in the world benchmark. */
const RADIUS_M = 50;
const USERS_PER_CIRCLE = 8;
/** Largest speed, m/s. */
export const MAX_SPEED = 10;
/** The master's epoch and the node ids in the messages. */
export const EPOCH = 1;
export const MASTER_ID = "bench-master";
export const SLAVE_ID = "bench-slave";
/** The topic updates are published under, and the same as a frame (router mode). */
export const TOPIC = "u";
export const TOPIC_BYTE = 0x75;
export const TOPIC_FRAME = Uint8Array.of(TOPIC_BYTE);

/** How updates travel: PUB → SUB (the design), or ROUTER → DEALER when PUB/SUB is unusable. */
export type UpdateMode = "pubsub" | "router";

/** How a seq became part of the slave's state. */
export const LIVE = 0;
export const FROM_BUFFER = 1;
export const FROM_SNAPSHOT = 2;

/** What the slave reports on stdout at the end (`RESULT {json}`). */
export interface ChildReport {
  /** [seq, wall ms when it became part of the state, apply ms (live only), how] per seq. */
  applied: number[][];
  snapshots: { seq: number; restoreMs: number }[];
  stats: ReplicaSyncStats;
  /** Updates whose checksum the slave compared with its own. */
  verified: number;
  lastSeq: number;
}

/** Side of a square world where a 50 m circle holds ~8 users (as in the world benchmark). */
export function worldOptions(users: number) {
  const side = Math.sqrt(users * Math.PI * RADIUS_M * RADIUS_M / USERS_PER_CIRCLE);
  return { width: side, height: side, maxUsers: users, maxSpeed: MAX_SPEED };
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

const encoder = new TextEncoder();

/** Writes a whole line to stdout, synchronously. */
export function printLine(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

async function slave(flags: Record<string, string | boolean | undefined>): Promise<never> {
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
  // Every seq up to here is stamped: each later one once, when it first became part of the state.
  let stampedUpTo = 0;
  let snapshotSeq = -1;
  const stamp = (liveSeq: number) => {
    const wall = wallNow();
    for (let s = stampedUpTo + 1; s <= sync.lastSeq; s++) {
      const how = s <= snapshotSeq ? FROM_SNAPSHOT : s === liveSeq ? LIVE : FROM_BUFFER;
      report.applied.push([s, wall, how === LIVE ? lastApplyMs : 0, how]);
    }
    stampedUpTo = Math.max(stampedUpTo, sync.lastSeq);
  };
  const { promise: finished, resolve: finish } = Promise.withResolvers<void>();
  const pump = new Pump();
  const handle = (actions: SyncAction[], liveSeq = -1) => {
    stamp(liveSeq);
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
    snapshotSeq = s.seq ?? 0;
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
    const actions = sync.onUpdate({
      epoch: u.epoch ?? 0,
      seq: u.seq ?? 0,
      ops: u.ops ?? new Uint8Array(),
      checksum: u.checksum ?? 0,
      masterId: u.masterId ?? "",
    }, performance.now());
    handle(actions, u.seq ?? 0);
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

/** Can this process open a PUB and a SUB through lib/transport? (Run in a child: a crash is a no.) */
async function probe(): Promise<never> {
  const pump = new Pump();
  const publisher = await PublisherSocket.bind(pump, "tcp://127.0.0.1:0");
  SubscriberSocket.connect(pump, publisher.endpoint, [TOPIC], () => {});
  await pump[Symbol.asyncDispose]();
  Deno.exit(0);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      probe: { type: "boolean", default: false },
      mode: { type: "string" },
      pub: { type: "string" },
      router: { type: "string" },
      users: { type: "string" },
      "tick-ms": { type: "string" },
      until: { type: "string" },
      "max-seconds": { type: "string" },
    },
  });
  if (values.probe) await probe();
  await slave(values);
}
