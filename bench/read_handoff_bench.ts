/**
 * Read handoff benchmark (issue 18): what the node's thread pays for a circle query it answers
 * itself against one it hands to a reader worker. Two single-mode nodes in one process hold the
 * same 8,000 users (a 50 m circle holds ~8); each round gives both the same batch of query frames
 * (one per user, users/50 a tick as in bench:world), interleaved A/B so that the machine's load
 * hits both alike. Per query: the node thread's time in `handleFrame` (decode, admission, then the
 * query, reply and encoding, or the handoff), and for the readers the time until every reply is
 * back (`waitIdle`) — both thread CPU figures from /proc for the node thread and the rest.
 *
 *   deno run -A bench/read_handoff_bench.ts [--users=8000] [--rounds=400] [--read-workers=1]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { defaults, NODE_SCHEMA } from "../lib/config/mod.ts";
import { GameNode, ReadWorkers, requestLimits } from "../lib/node/mod.ts";
import { encodeEnvelope } from "../lib/protocol/mod.ts";
import { mulberry32 } from "../lib/random/mod.ts";
import { setupLogging } from "../lib/log/mod.ts";
import { loadAverage, median } from "./_bench_util.ts";
import { MAX_SPEED, RADIUS_M, randomVelocity, requestRates, worldSide } from "./_world_load.ts";

/** One node with `users` logged-in, moving users (same seed: same world). */
function makeNode(users: number, readers: ReadWorkers | undefined) {
  const rng = mulberry32(7);
  const side = worldSide(users);
  const config = defaults(NODE_SCHEMA);
  config.data_dir = "";
  config.world.width = side;
  config.world.height = side;
  config.world.max_users = users;
  config.world.max_speed = MAX_SPEED;
  config.clients.max_clients = users;
  config.clients.idle_timeout_ms = 3_600_000;
  config.clients.max_requests_per_second = 1_000_000;
  let sent = 0;
  const node = new GameNode({
    config,
    send: (_peer, frame) => {
      sent += frame.length;
      return true;
    },
    random: rng,
    readers,
  }, 0);
  const ids = Array.from(
    { length: users },
    (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
  );
  const peers = ids.map((_, i) =>
    new Uint8Array([0, i >>> 24, i >>> 16 & 255, i >>> 8 & 255, i & 255])
  );
  for (let u = 0; u < users; u++) {
    node.handleFrame(peers[u], [encodeEnvelope({ clientId: ids[u], requestId: 1, login: {} })], 0);
    node.handleFrame(peers[u], [
      encodeEnvelope({ clientId: ids[u], requestId: 2, setVelocity: randomVelocity(rng) }),
    ], 0);
  }
  node.tick(0);
  return { node, ids, peers, sentBytes: () => sent };
}

/** CPU ms of this process's threads: [node thread, all others]. */
function threadCpu(): [number, number] {
  let main = 0;
  let rest = 0;
  const self = Deno.readTextFileSync("/proc/self/stat").split(" ")[0];
  for (const t of Deno.readDirSync("/proc/self/task")) {
    const f = Deno.readTextFileSync(`/proc/self/task/${t.name}/stat`).split(") ")[1].split(" ");
    const ms = (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms
    if (t.name === self) main += ms;
    else rest += ms;
  }
  return [main, rest];
}

function main(): void {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      users: { type: "string", default: "8000" },
      rounds: { type: "string", default: "400" },
      "read-workers": { type: "string", default: "1" },
    },
  });
  setupLogging({ level: "error" });
  const users = Number(values.users);
  const rounds = Number(values.rounds);
  const count = Number(values["read-workers"]);
  const side = worldSide(users);
  const readers = ReadWorkers.start({
    count,
    world: { width: side, height: side, maxUsers: users, maxSpeed: MAX_SPEED },
    maxResults: 1000,
    limits: requestLimits(defaults(NODE_SCHEMA)),
  });
  const a = makeNode(users, undefined);
  const b = makeNode(users, readers);
  const perRound = Math.round(requestRates(users).queries);
  const rng = mulberry32(11);
  const local: number[] = [];
  const handed: number[] = [];
  const answered: number[] = [];
  const cpu = { local: [0, 0], handed: [0, 0] };
  const position = { id: 0, x: 0, y: 0, vx: 0, vy: 0, money: 0 };
  console.log(
    `read handoff bench: ${users} users, ${perRound} circle queries (r ${RADIUS_M} m) per round, ` +
      `${rounds} rounds, ${count} read worker(s); load average ${loadAverage()}`,
  );
  let requestId = 10;
  for (let r = 0; r < rounds; r++) {
    const batch: { u: number; frame: Uint8Array }[] = [];
    for (let i = 0; i < perRound; i++) {
      const u = Math.floor(rng() * users);
      a.node.state.world.getUser(u + 1, position);
      const frame = encodeEnvelope({
        clientId: a.ids[u],
        requestId: requestId++,
        queryCircle: { x: position.x, y: position.y, radius: RADIUS_M },
      });
      batch.push({ u, frame });
    }
    const warm = r >= rounds / 10;
    // A: answered on the node's thread.
    let c0 = threadCpu();
    let t0 = performance.now();
    for (const { u, frame } of batch) a.node.handleFrame(a.peers[u], [frame], 0);
    let t1 = performance.now();
    let c1 = threadCpu();
    if (warm) {
      local.push((t1 - t0) * 1000 / perRound);
      cpu.local[0] += c1[0] - c0[0];
      cpu.local[1] += c1[1] - c0[1];
    }
    // B: handed to the readers, then every reply back.
    c0 = threadCpu();
    t0 = performance.now();
    for (const { u, frame } of batch) b.node.handleFrame(b.peers[u], [frame], 0);
    t1 = performance.now();
    if (!readers.waitIdle(10_000)) throw new Error("Readers did not answer");
    const t2 = performance.now();
    c1 = threadCpu();
    if (warm) {
      handed.push((t1 - t0) * 1000 / perRound);
      answered.push((t2 - t0) * 1000 / perRound);
      cpu.handed[0] += c1[0] - c0[0];
      cpu.handed[1] += c1[1] - c0[1];
    }
    a.node.tick(0);
    b.node.tick(0);
  }
  readers.close();
  for (const x of [a, b]) {
    if (x.node.counters.errors > 0) throw new Error(`${x.node.counters.errors} requests failed`);
  }
  const n = local.length * perRound;
  const us = (ms: number) => (ms * 1000 / n).toFixed(1);
  console.log(`per query, medians of ${local.length} rounds (µs):`);
  console.log(`  answered on the node thread:        ${median(local).toFixed(2)}`);
  console.log(`  handed to a reader (node thread):   ${median(handed).toFixed(2)}`);
  console.log(`  handed, until every reply is back:  ${median(answered).toFixed(2)}`);
  console.log(
    `per query, thread CPU from /proc (µs, 10 ms resolution): local node ${us(cpu.local[0])}, ` +
      `handed node ${us(cpu.handed[0])} + workers ${us(cpu.handed[1])}`,
  );
  if (a.sentBytes() !== b.sentBytes()) {
    console.log(`replies differ: ${a.sentBytes()} bytes vs ${b.sentBytes()}`);
  }
  console.log(JSON.stringify({
    bench: "read_handoff",
    users,
    queries_per_round: perRound,
    rounds,
    read_workers: count,
    local_us: Number(median(local).toFixed(2)),
    handed_us: Number(median(handed).toFixed(2)),
    handed_until_answered_us: Number(median(answered).toFixed(2)),
    load_average: loadAverage(),
  }));
}

if (import.meta.main) main();
