import assert from "node:assert/strict";
import { defaults, NODE_SCHEMA, type NodeConfig } from "../config/mod.ts";
import { decodeEnvelope, encodeEnvelope, type Envelope, type WireFormat } from "../protocol/mod.ts";
import { mulberry32, type Rng } from "../random/mod.ts";
import { World } from "../world/mod.ts";
import { GameNode, requestLimits } from "./game_node.ts";
import { ReadWorkers } from "./read_workers.ts";

const CLIENTS = 40;
const SIDE = 1000;

function testConfig(): NodeConfig {
  const config = defaults(NODE_SCHEMA);
  config.data_dir = "";
  config.world.width = SIDE;
  config.world.height = SIDE;
  config.world.max_users = 1000;
  config.world.max_query_results = 50;
  config.clients.max_requests_per_second = 1_000_000;
  config.clients.idle_timeout_ms = 3_600_000;
  return config;
}

function startReaders(config: NodeConfig, count: number): ReadWorkers {
  const w = config.world;
  return ReadWorkers.start({
    count,
    world: { width: w.width, height: w.height, maxUsers: w.max_users, maxSpeed: w.max_speed },
    maxResults: w.max_query_results,
    limits: requestLimits(config),
  });
}

/** A node whose replies are collected per peer, with `clients` clients, each on its own peer. */
function testNode(readers?: ReadWorkers, clients = CLIENTS) {
  const config = testConfig();
  const sent = new Map<number, Uint8Array[]>();
  const node = new GameNode({
    config,
    send: (peer, frame) => {
      const c = peer[0] | peer[1] << 8;
      const list = sent.get(c) ?? [];
      list.push(frame);
      sent.set(c, list);
      return true;
    },
    random: mulberry32(3),
    readers,
  }, 0);
  const ids = Array.from(
    { length: clients },
    (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
  );
  let requestId = 1;
  const send = (c: number, body: Envelope, format: WireFormat = "binary") => {
    const id = requestId++;
    node.handleFrame(
      new Uint8Array([c]),
      [encodeEnvelope({ ...body, clientId: ids[c], requestId: id }, format)],
      0,
    );
    return id;
  };
  const sendRaw = (c: number, frame: Uint8Array) =>
    node.handleFrame(new Uint8Array([c]), [frame], 0);
  return { node, sent, send, sendRaw, config };
}

/** One random query body. */
function randomQuery(rng: Rng): Envelope {
  const x = rng() * SIDE;
  const y = rng() * SIDE;
  return rng() < 0.5
    ? { queryCircle: { x, y, radius: 20 + rng() * 300 } }
    : { queryRect: { x1: x, y1: y, x2: x + (rng() - 0.5) * 600, y2: y + (rng() - 0.5) * 600 } };
}

/** One tick's writes: velocities, aoes, now and then a logout and a new login. */
function randomWrites(rng: Rng, send: (c: number, body: Envelope) => number): void {
  for (let k = 0; k < 10; k++) {
    const c = Math.floor(rng() * CLIENTS);
    const roll = rng();
    if (roll < 0.6) send(c, { setVelocity: { vx: (rng() - 0.5) * 80, vy: (rng() - 0.5) * 80 } });
    else if (roll < 0.95) send(c, { aoe: { radius: 20 + rng() * 30, amount: 5 } });
    else {
      send(c, { logout: {} });
      send(c, { login: {} });
    }
  }
}

Deno.test("seeded operations give the same query replies, tick by tick, with 0 and 2 readers", () => {
  const readers = startReaders(testConfig(), 2);
  try {
    const alone = testNode();
    const read = testNode(readers);
    for (const n of [alone, read]) {
      for (let c = 0; c < CLIENTS; c++) n.send(c, { login: {} });
      n.node.tick(0);
    }
    const rngs = [mulberry32(77), mulberry32(77)];
    for (let tick = 0; tick < 60; tick++) {
      [alone, read].forEach((n, i) => {
        const rng = rngs[i];
        // Queries first, answered against the last tick (the readers') or the live world, which
        // no write has changed since that tick.
        for (let q = 0; q < 20; q++) {
          n.send(Math.floor(rng() * CLIENTS), randomQuery(rng), rng() < 0.2 ? "json" : "binary");
        }
        if (n === read) assert.ok(readers.waitIdle(10_000), "the readers answer");
        randomWrites(rng, n.send);
        n.node.tick(tick * 20);
      });
    }
    assert.equal(read.node.counters.errors, alone.node.counters.errors);
    for (let c = 0; c < CLIENTS; c++) {
      const a = alone.sent.get(c)!;
      const b = read.sent.get(c)!;
      assert.equal(b.length, a.length, `client ${c}: as many replies`);
      for (let i = 0; i < a.length; i++) {
        // Session tokens are random: the query replies are compared byte for byte, the rest by kind.
        const msg = decodeEnvelope(a[i]).msg;
        assert.equal(decodeEnvelope(b[i]).msg, msg, `client ${c}, reply ${i}`);
        if (msg === "queryReply") assert.deepEqual([...b[i]], [...a[i]], `client ${c}, reply ${i}`);
      }
    }
  } finally {
    readers.close();
  }
});

Deno.test("a query that does not decode or validate gets the same error from a reader", () => {
  const readers = startReaders(testConfig(), 1);
  try {
    const alone = testNode();
    const read = testNode(readers);
    const id = "00000000-0000-4000-8000-000000000001";
    const good = encodeEnvelope({
      clientId: id,
      requestId: 9,
      queryCircle: { x: 1, y: 2, radius: 3 },
    });
    // The envelope's own fields are plain (the node's thread admits it on them); what is wrong is
    // inside the query, which only the reader decodes.
    const frames = [
      encodeEnvelope({ clientId: id, requestId: 1, queryCircle: { x: 1, y: 2, radius: 1e9 } }),
      encodeEnvelope({ clientId: id, requestId: 2, queryCircle: { x: NaN, y: 2, radius: 3 } }),
      encodeEnvelope({ clientId: id, requestId: 3, queryRect: { x1: 0, y1: 0, x2: Infinity } }),
      // query_circle (field 14) holding 3 bytes of a truncated double.
      new Uint8Array([...good.subarray(0, 40), 0x72, 3, 0x09, 0, 0]),
      good,
    ];
    // Every one goes to the reader (its ids peeked), none is decoded on the node's thread.
    let handed = 0;
    const inner = readers.onReply;
    readers.onReply = (ticket, total, version, frame, error) => {
      handed++;
      inner(ticket, total, version, frame, error);
    };
    for (const n of [alone, read]) {
      for (const frame of frames) n.sendRaw(1, frame);
    }
    assert.ok(readers.waitIdle(10_000), "the reader answers");
    assert.equal(handed, frames.length);
    const a = alone.sent.get(1)!.map((f) => decodeEnvelope(f));
    const b = read.sent.get(1)!.map((f) => decodeEnvelope(f));
    assert.deepEqual(b, a);
    assert.deepEqual(a.map((e) => e.error?.code ?? e.msg), [
      "INVALID_ARGUMENT",
      "INVALID_ARGUMENT",
      "INVALID_ARGUMENT",
      "BAD_FRAME",
      "queryReply",
    ]);
    assert.equal(read.node.counters.errors, 4);
    assert.equal(read.node.counters.errors, alone.node.counters.errors);
    assert.equal(read.node.counters.badFrames, 1);
    assert.equal(read.node.counters.badFrames, alone.node.counters.badFrames);
    // Counted alike: errors by code, and replies by op (a refused frame as one that did not parse).
    const figures = (n: typeof read) => ({
      errors: [...n.node.requests.errors()],
      ops: [...n.node.requests.of("zmq").durations.keys()].sort(),
    });
    assert.deepEqual(figures(read), figures(alone));
  } finally {
    readers.close();
  }
});

Deno.test("readers answer from whole ticks while the node goes on writing and ticking", () => {
  const readers = startReaders(testConfig(), 2);
  try {
    const clients = 600;
    const n = testNode(readers, clients);
    for (let c = 0; c < clients; c++) n.send(c, { login: {} });
    // Each published version's world (as snapshot bytes), for the replay; each query with the
    // oldest version its reply may come from.
    const worlds = new Map<number, Uint8Array>();
    const copy = () => n.node.state.world.snapshot();
    worlds.set(readers.views.version, copy());
    const queries = new Map<number, { body: Envelope; oldest: number }>();
    const versions = new Map<number, number>();
    const inner = readers.onReply;
    readers.onReply = (ticket, total, version, frame, error) => {
      versions.set(decodeEnvelope(frame).requestId ?? 0, version);
      inner(ticket, total, version, frame, error);
    };
    const rng = mulberry32(5);
    for (let tick = 0; tick < 240; tick++) {
      // Every third tick a burst of queries; then at once writes and ticks: readers work meanwhile,
      // often behind the writer (a publish then skips the slot a reader holds).
      for (let q = 0; tick % 3 === 0 && q < 60; q++) {
        const body = randomQuery(rng);
        const c = Math.floor(rng() * clients);
        const id = n.send(c, body);
        queries.set(id, { body, oldest: readers.views.version });
      }
      randomWrites(rng, (c, body) => n.send(c * 15, body));
      const before = readers.views.version;
      n.node.tick(tick * 20);
      if (readers.views.version !== before) worlds.set(readers.views.version, copy());
    }
    // A publish is skipped while a reader still holds the older slot; the next tick's goes through.
    for (let tick = 240; !readers.waitIdle(100); tick++) {
      assert.ok(tick < 400, "the readers answer");
      const before = readers.views.version;
      n.node.tick(tick * 20);
      if (readers.views.version !== before) worlds.set(readers.views.version, copy());
    }
    const out = new Uint32Array(1000);
    let checked = 0;
    for (const frames of n.sent.values()) {
      for (const frame of frames) {
        const reply = decodeEnvelope(frame);
        const query = queries.get(reply.requestId ?? 0);
        if (!query) continue;
        const version = versions.get(reply.requestId ?? 0)!;
        assert.ok(version >= query.oldest, "never older than the view published before the query");
        const bytes = worlds.get(version);
        if (!bytes) throw new Error(`Version ${version} was not published by a tick`);
        const world = World.fromSnapshot(bytes, n.node.state.world);
        const q = query.body;
        const total = q.queryCircle
          ? world.queryCircle(q.queryCircle.x!, q.queryCircle.y!, q.queryCircle.radius!, out)
          : world.queryRect(
            q.queryRect!.x1!,
            q.queryRect!.y1!,
            q.queryRect!.x2!,
            q.queryRect!.y2!,
            out,
          );
        assert.equal(reply.queryReply?.total ?? 0, total);
        const users = reply.queryReply?.users ?? [];
        assert.equal(users.length, Math.min(total, 50));
        const expected = new Set(out.subarray(0, Math.min(total, out.length)));
        for (const u of users) {
          assert.ok(expected.has(u.id!), `user ${u.id} matches in version ${version}`);
          const record = world.getUser(u.id!);
          if (!record) throw new Error(`User ${u.id} is not in version ${version}`);
          assert.deepEqual(
            [u.x ?? 0, u.y ?? 0, u.vx ?? 0, u.vy ?? 0, u.money ?? 0],
            [record.x, record.y, record.vx, record.vy, record.money],
          );
        }
        checked++;
      }
    }
    assert.equal(checked, queries.size, "every query was answered");
  } finally {
    readers.close();
  }
});

Deno.test("a client's query after its acknowledged write sees the write", () => {
  const readers = startReaders(testConfig(), 1);
  try {
    const n = testNode(readers);
    n.node.tick(0);
    n.send(0, { login: {} });
    const login = decodeEnvelope(n.sent.get(0)![0]);
    const userId = login.loginReply!.userId!;
    // Acknowledged, not yet in a published view: the query waits for the next tick's.
    n.send(0, { queryRect: { x1: 0, y1: 0, x2: SIDE, y2: SIDE } });
    n.node.tick(20);
    assert.ok(readers.waitIdle(10_000));
    const first = decodeEnvelope(n.sent.get(0)![1]);
    assert.ok(first.queryReply?.users?.some((u) => u.id === userId), JSON.stringify(first));
    n.send(0, { setVelocity: { vx: 7, vy: -3 } });
    assert.equal(decodeEnvelope(n.sent.get(0)![2]).msg, "setVelocityReply");
    n.send(0, { queryRect: { x1: 0, y1: 0, x2: SIDE, y2: SIDE } });
    n.node.tick(40);
    assert.ok(readers.waitIdle(10_000));
    const second = decodeEnvelope(n.sent.get(0)![3]);
    const me = second.queryReply?.users?.find((u) => u.id === userId);
    assert.deepEqual([me?.vx, me?.vy], [7, -3]);
    // Another client's read is not held back by it.
    n.send(1, { queryCircle: { x: 1, y: 1, radius: 1 } });
    assert.ok(readers.waitIdle(10_000));
    assert.equal(decodeEnvelope(n.sent.get(1)![0]).msg, "queryReply");
  } finally {
    readers.close();
  }
});
