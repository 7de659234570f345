/**
 * The world benchmark's second row: a node's tick as it runs, in-process. A master `GameNode` (its
 * `GameState` with the op log) and its `MasterPlane` get each tick's requests as encoded client
 * frames through `handleFrame` (decode, validation, client table, the write with its op-log record,
 * the reply encoded), then `tick()` (step, idle sweep) and the master's after-tick (op log drained
 * into an encoded replication update with a checksum part every 50th tick, acks, fencing). Left
 * out: the sockets (frames come from memory, replies and updates go to counters) and the event
 * loop around them — `bench:capacity` measures those.
 *
 * @module
 */
import { defaults, NODE_SCHEMA } from "../lib/config/mod.ts";
import { GameNode, ReadWorkers, requestLimits } from "../lib/node/mod.ts";
import { MasterPlane } from "../lib/node/cluster/mod.ts";
import { encodeEnvelope } from "../lib/protocol/mod.ts";
import { mulberry32 } from "../lib/random/mod.ts";
import type { PublisherSocket, RouterSocket } from "../lib/transport/mod.ts";
import {
  MAX_SPEED,
  ownSummary,
  RADIUS_M,
  randomVelocity,
  requestRates,
  type RunOptions,
  type RunResult,
  type Scenario,
  spawnPosition,
  tickSummary,
  worldSide,
} from "./_world_load.ts";

/** One run of a master node's ticks with `users` logged-in clients. */
export function runNodeTick(scenario: Scenario, users: number, options: RunOptions): RunResult {
  const rng = mulberry32(options.seed ^ Math.imul(users, 0x9e3779b1));
  const side = worldSide(users);
  const config = defaults(NODE_SCHEMA);
  config.data_dir = "";
  config.http_port = 0;
  config.mode = "cluster";
  config.role = "master";
  config.node_id = "bench-master";
  config.world.width = side;
  config.world.height = side;
  config.world.max_users = users;
  config.world.max_speed = MAX_SPEED;
  if (options.cellSize !== undefined) config.world.cell_size = options.cellSize;
  config.clients.max_clients = users;
  // The run is a few seconds of back-to-back ticks: no client may go idle behind the bench's back.
  config.clients.idle_timeout_ms = 3_600_000;

  // The node's spawn positions come from its `random`: two draws per login, x then y.
  let draw = 0;
  let spawn = { x: 0, y: 0 };
  const spawnRandom = () => {
    const first = draw % 2 === 0;
    if (first) spawn = spawnPosition(scenario, draw / 2, users, rng);
    draw++;
    return (first ? spawn.x : spawn.y) / side;
  };
  let sent = 0;
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
      maxResults: config.world.max_query_results,
      limits: requestLimits(config),
    })
    : undefined;
  const node = new GameNode({
    readers,
    config,
    send: (_peer, frame) => {
      sent += frame.length;
      return true;
    },
    random: spawnRandom,
    writePath: {
      whenDurable: (ack, fail) => plane.whenDurable(ack, fail),
      canAcknowledge: () => plane.canAcknowledge,
    },
  }, performance.now());
  // No sockets: the update is encoded as a master does, then only counted.
  const publisher = {
    publish: (_topic: string, frame: Uint8Array) => (sent += frame.length),
  } as unknown as PublisherSocket;
  const router = { send: () => true } as unknown as RouterSocket;
  const plane: MasterPlane = new MasterPlane({
    config,
    node,
    router,
    publisher,
    registryContact: () => performance.now(),
  });
  node.becomeMaster(1);
  plane.begin();

  const ids = Array.from({ length: users }, () => crypto.randomUUID());
  // One connection per client, as game clients have (and as the node's per-connection bounds expect).
  const peers = Array.from({ length: users }, (_, i) => {
    const peer = new Uint8Array(5);
    new DataView(peer.buffer).setUint32(1, i);
    return peer;
  });
  const peerOf = (u: number) => peers[u];
  const userIds = new Uint32Array(users);
  let requestId = 1;
  const now0 = performance.now();
  for (let u = 0; u < users; u++) {
    node.handleFrame(peerOf(u), [encodeEnvelope({ clientId: ids[u], requestId, login: {} })], now0);
    requestId++;
    userIds[u] = node.clients.get(ids[u])?.userId ?? 0;
    if (userIds[u] === 0) throw new Error(`Login ${u} failed`);
    const setVelocity = randomVelocity(rng);
    node.handleFrame(
      peerOf(u),
      [encodeEnvelope({ clientId: ids[u], requestId, setVelocity })],
      now0,
    );
    requestId++;
  }
  // What the setup wrote is in the snapshot a slave would start from.
  node.state.drainOps();
  const growthsAtStart = node.state.world.stats().poolGrowths;

  const rates = requestRates(users);
  const position = { id: 0, x: 0, y: 0, vx: 0, vy: 0, money: 0 };
  let queryDue = 0;
  let aoeDue = 0;
  let velocityDue = 0;
  let ops = 0;
  const times = new Float64Array(options.ticks);
  const own = new Float64Array(options.ticks);
  const frames: Uint8Array[][] = [];
  const owners: Uint8Array[] = [];
  for (let t = 0; t < options.warmup + options.ticks; t++) {
    // The tick's requests as clients would have sent them, encoded before the timing starts.
    frames.length = 0;
    owners.length = 0;
    const add = (u: number, body: Parameters<typeof encodeEnvelope>[0]) => {
      frames.push([encodeEnvelope({ ...body, clientId: ids[u], requestId: requestId++ })]);
      owners.push(peerOf(u));
    };
    for (queryDue += options.withoutQueries ? 0 : rates.queries; queryDue >= 1; queryDue--) {
      const u = Math.floor(rng() * users);
      node.state.world.getUser(userIds[u], position);
      add(u, { queryCircle: { x: position.x, y: position.y, radius: RADIUS_M } });
    }
    for (aoeDue += rates.aoes; aoeDue >= 1; aoeDue--) {
      add(Math.floor(rng() * users), { aoe: { radius: RADIUS_M, amount: 1 } });
    }
    for (velocityDue += rates.velocities; velocityDue >= 1; velocityDue--) {
      add(Math.floor(rng() * users), { setVelocity: randomVelocity(rng) });
    }

    const start = performance.now();
    for (let i = 0; i < frames.length; i++) node.handleFrame(owners[i], frames[i], start);
    node.tick(start);
    plane.afterTick(performance.now());
    const ownEnd = performance.now();
    // With readers the tick is over once its queries are answered too (they ran beside it).
    if (readers && !readers.waitIdle(10_000)) throw new Error("Readers did not answer");
    const elapsed = performance.now() - start;
    if (t >= options.warmup) own[t - options.warmup] = ownEnd - start;

    if (t >= options.warmup) {
      times[t - options.warmup] = elapsed;
      ops += frames.length;
    }
  }
  readers?.close();
  if (node.counters.errors > 0) {
    throw new Error(`${node.counters.errors} requests failed in the node row`);
  }
  if (sent < 0) throw new Error("unreachable: keeps the replies alive");
  let total = 0;
  for (const v of times) total += v;
  const stats = node.state.world.stats();
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
