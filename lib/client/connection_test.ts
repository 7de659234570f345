import assert from "node:assert/strict";
import { Pump, RouterSocket } from "../transport/mod.ts";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "../protocol/mod.ts";
import { CLIENT_SCHEMA, type ClientConfig, defaults } from "../config/mod.ts";
import { Connection, type ConnectionClock, type ConnectionEvent } from "./connection.ts";
import type { RequestError } from "./errors.ts";

// Real sockets on loopback (a fake node and a fake registry: ROUTERs of our own transport), a fake
// clock for every timer of the connection. Time only moves when a test advances it, so silence,
// timeouts and backoff delays are exact; only message delivery is awaited, with a generous bound.

/** Bound on waiting for a message to cross loopback, ms of real time. */
const WAIT_MS = 10_000;

/** Backoff 100–1000 ms with random 0.5: each delay is 3/4 of min·2ⁿ, capped at 3/4 of max. */
const DELAYS = [75, 150, 300, 600, 750, 750];

function testConfig(fields: Partial<ClientConfig>): ClientConfig {
  return {
    ...defaults(CLIENT_SCHEMA),
    heartbeat_interval_ms: 1000,
    server_timeout_ms: 3000,
    request_timeout_ms: 2000,
    reconnect_min_ms: 100,
    reconnect_max_ms: 1000,
    ...fields,
  };
}

/** Timers that fire only when {@linkcode advance} moves time past them, in time order. */
class FakeClock implements ConnectionClock {
  #now = 1000;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void; every?: number }>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    this.#timers.set(this.#nextId, { at: this.#now + ms, fn });
    return this.#nextId++;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  setInterval(fn: () => void, ms: number): number {
    this.#timers.set(this.#nextId, { at: this.#now + ms, fn, every: ms });
    return this.#nextId++;
  }

  clearInterval(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Timers waiting. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing each timer due on the way at its own time. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void; every?: number }] | undefined;
      for (const entry of this.#timers) if (!due || entry[1].at < due[1].at) due = entry;
      if (!due || due[1].at > end) break;
      const [id, timer] = due;
      this.#now = timer.at;
      if (timer.every === undefined) this.#timers.delete(id);
      else timer.at += timer.every;
      timer.fn();
    }
    this.#now = end;
  }
}

type Recorded = ConnectionEvent & { at: number };

/** Records a connection's events with the fake time they happened at. */
class EventLog {
  readonly events: Recorded[] = [];
  readonly #clock: FakeClock;
  #wake: (() => void) | undefined;

  constructor(clock: FakeClock) {
    this.#clock = clock;
  }

  readonly onEvent = (event: ConnectionEvent): void => {
    this.events.push({ ...event, at: this.#clock.now() });
    this.#wake?.();
  };

  of<T extends ConnectionEvent["type"]>(type: T): (Recorded & { type: T })[] {
    return this.events.filter((e): e is Recorded & { type: T } => e.type === type);
  }

  /** The `count`-th event of `type`, waiting (real time) for it to happen. */
  async nth<T extends ConnectionEvent["type"]>(
    type: T,
    count: number,
  ): Promise<Recorded & { type: T }> {
    const deadline = Date.now() + WAIT_MS;
    while (this.of(type).length < count) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no ${type} event #${count}; events: ${JSON.stringify(this.events)}`);
      }
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#wake = resolve;
      const timer = setTimeout(resolve, Math.min(left, 50));
      await promise;
      clearTimeout(timer);
    }
    return this.of(type)[count - 1];
  }
}

/** Polls `done` in real time until it holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Lets promise callbacks run (what they do was decided by the fake clock already). */
function flush(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A node that answers pings with pongs (unless muted) and status requests; can push notices. */
class FakeNode implements AsyncDisposable {
  readonly nodeId: string;
  /** Drop every request without answering. */
  mute = false;
  pings = 0;
  readonly #router: RouterSocket;
  readonly #peers = new Map<string, Uint8Array>();

  private constructor(nodeId: string, router: RouterSocket) {
    this.nodeId = nodeId;
    this.#router = router;
  }

  static async start(pump: Pump, nodeId: string): Promise<FakeNode> {
    // No client knows the endpoint before bind() returns: `node` exists before any request.
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
      node.onRequest(peer, decodeEnvelope(frames[frames.length - 1]));
    });
    const node = new FakeNode(nodeId, router);
    return node;
  }

  get endpoint(): string {
    return this.#router.endpoint;
  }

  get port(): number {
    return this.#router.port;
  }

  onRequest(peer: Uint8Array, request: Envelope): void {
    this.#peers.set(peer.join(","), peer);
    if (request.ping) this.pings++;
    if (this.mute) return;
    const reply: Envelope = { clientId: request.clientId, requestId: request.requestId };
    if (request.ping) reply.pong = { nodeId: this.nodeId, role: "ROLE_MASTER" };
    else if (request.status) reply.statusReply = { nodeId: this.nodeId };
    else reply.error = { code: "UNKNOWN_OPERATION", message: "Not in this fake" };
    this.#router.send(peer, [encodeEnvelope(reply)]);
  }

  /** Pushes a notice to every client that ever sent something. */
  notify(notice: NonNullable<Envelope["notice"]>): void {
    for (const peer of this.#peers.values()) {
      this.#router.send(peer, [encodeEnvelope({ clientId: "", requestId: 0, notice })]);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#router.close();
    return Promise.resolve();
  }
}

/** A registry's discovery port that answers each discover request with the next of `answers`. */
async function fakeRegistry(
  pump: Pump,
  answers: (FakeNode | "none")[],
): Promise<RouterSocket & { asked: Envelope[] }> {
  const asked: Envelope[] = [];
  const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
    const request = decodeEnvelope(frames[frames.length - 1]);
    asked.push(request);
    const answer = answers[Math.min(asked.length, answers.length) - 1];
    const reply: Envelope = answer === "none"
      ? { error: { code: "NO_NODE_AVAILABLE", message: "No live node" } }
      : {
        discoverReply: {
          node: { nodeId: answer.nodeId, host: "127.0.0.1", clientPort: answer.port },
        },
      };
    router.send(peer, [encodeEnvelope({ clientId: request.clientId, requestId: 1, ...reply })]);
  });
  return Object.assign(router, { asked });
}

/** A connection on the fake clock with its event log (random 0.5: delays are {@linkcode DELAYS}). */
function connect(pump: Pump, config: ClientConfig, clientId = "conn") {
  const clock = new FakeClock();
  const log = new EventLog(clock);
  const connection = new Connection({
    pump,
    config,
    clientId,
    onEvent: log.onEvent,
    random: () => 0.5,
    clock,
  });
  return { clock, log, connection };
}

Deno.test("Connection pings when idle, reconnects after the node falls silent", async (t) => {
  await using pump = new Pump();
  await using node = await FakeNode.start(pump, "node-a");
  const { clock, log, connection } = connect(pump, testConfig({ node: node.endpoint }));
  await using _ = connection;
  connection.start();

  await t.step("connects: a ping, the pong, one connected event", async () => {
    const connected = await log.nth("connected", 1);
    assert.deepEqual(log.events.map((e) => e.type), ["connecting", "connected"]);
    assert.deepEqual(log.events[0], {
      type: "connecting",
      endpoint: node.endpoint,
      attempt: 0,
      nodeId: undefined,
      at: 1000,
    });
    assert.equal(connected.nodeId, "node-a");
    assert.equal(connected.role, "ROLE_MASTER");
    assert.equal(connected.reconnect, false);
    assert.ok(connection.connected);
    assert.equal(connection.nodeId, "node-a");
    assert.equal(node.pings, 1);
  });

  await t.step("sends a heartbeat once idle for heartbeat_interval_ms", async () => {
    clock.advance(999);
    assert.equal(connection.counters.sent, 0, "requests only; pings are not counted");
    clock.advance(1);
    await until(() => node.pings === 2 && connection.counters.received === 2, "second pong");
  });

  await t.step("declares the node lost once silent for more than server_timeout_ms", () => {
    node.mute = true;
    // The last pong arrived at 2000; housekeeping runs every 100 ms from 1000.
    clock.advance(3000);
    assert.equal(log.of("lost").length, 0, "3000 ms of silence is not more than the timeout");
    clock.advance(100);
    const [lost] = log.of("lost");
    assert.deepEqual(lost, {
      type: "lost",
      endpoint: node.endpoint,
      reason: "node silent for 3100 ms",
      at: 5100,
    });
    assert.equal(connection.connected, false);
  });

  await t.step("tries again after the first backoff delay and reconnects", async () => {
    node.mute = false;
    clock.advance(DELAYS[0] - 1);
    assert.equal(log.of("connecting").length, 1, "not before the backoff delay");
    clock.advance(1);
    assert.deepEqual(log.of("connecting")[1], {
      type: "connecting",
      endpoint: node.endpoint,
      attempt: 1,
      nodeId: undefined,
      at: 5100 + DELAYS[0],
    });
    const again = await log.nth("connected", 2);
    assert.equal(again.reconnect, true);
    assert.equal(connection.counters.reconnects, 1);
  });
});

Deno.test("Connection backs off more after each failed attempt, and from the start after a success", async () => {
  await using pump = new Pump();
  await using node = await FakeNode.start(pump, "node-a");
  node.mute = true;
  const { clock, log, connection } = connect(pump, testConfig({ node: node.endpoint }));
  await using _ = connection;
  connection.start();
  while (log.of("connecting").length < 6) clock.advance(25);
  const lost = log.of("lost");
  const connecting = log.of("connecting");
  assert.deepEqual(connecting.map((e) => e.attempt), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(lost.map((e, i) => connecting[i + 1].at - e.at), DELAYS.slice(0, 5));
  for (const [i, e] of lost.entries()) {
    assert.equal(e.reason, `no answer from ${node.endpoint} within 3000 ms`);
    // Each attempt waits for an answer for more than server_timeout_ms (housekeeping granularity).
    assert.ok(e.at - connecting[i].at > 3000 && e.at - connecting[i].at <= 3100);
  }

  // The node answers again: the next heartbeat gets a pong, and the backoff starts over.
  node.mute = false;
  clock.advance(1100);
  await log.nth("connected", 1);
  node.mute = true;
  const before = log.of("lost").length;
  while (log.of("lost").length === before) clock.advance(100);
  const lostAt = log.of("lost")[before].at;
  while (log.of("connecting").length === 6) clock.advance(25);
  assert.equal(log.of("connecting")[6].at - lostAt, DELAYS[0]);
  assert.equal(log.of("connecting")[6].attempt, 1);
});

Deno.test("Connection rediscovers a node through the registry when its node shuts down", async (t) => {
  await using pump = new Pump();
  await using a = await FakeNode.start(pump, "node-a");
  await using b = await FakeNode.start(pump, "node-b");
  await using registry = await fakeRegistry(pump, [a, b]);
  const config = testConfig({ registry: [registry.endpoint], want_master: true });
  const { clock, log, connection } = connect(pump, config, "client-1");
  await using _ = connection;
  connection.start();

  await t.step("the registry names node A", async () => {
    await log.nth("connected", 1);
    assert.deepEqual(log.of("connecting").map((e) => [e.endpoint, e.nodeId, e.attempt]), [
      [a.endpoint, "node-a", 0],
    ]);
    assert.equal(registry.asked[0].clientId, "client-1");
    assert.equal(registry.asked[0].discover?.wantMaster, true);
  });

  await t.step("other notices are reported and change nothing", async () => {
    a.notify({ kind: "NOTICE_KIND_SESSION_DROPPED", message: "Idle" });
    await log.nth("notice", 1);
    assert.ok(connection.connected);
    assert.equal(log.of("lost").length, 0);
  });

  await t.step("node A's shutdown notice is reported, then the node is lost", async () => {
    a.notify({ kind: "NOTICE_KIND_SHUTDOWN", message: "Bye" });
    const lost = await log.nth("lost", 1);
    assert.deepEqual(log.of("notice").map((e) => [e.kind, e.message]), [
      ["NOTICE_KIND_SESSION_DROPPED", "Idle"],
      ["NOTICE_KIND_SHUTDOWN", "Bye"],
    ]);
    assert.equal(lost.reason, "node node-a is shutting down");
    assert.equal(connection.connected, false);
  });

  await t.step("after the backoff delay the registry is asked again and names node B", async () => {
    clock.advance(DELAYS[0] - 1);
    assert.equal(registry.asked.length, 1);
    clock.advance(1);
    const connected = await log.nth("connected", 2);
    assert.equal(registry.asked.length, 2);
    assert.deepEqual(log.of("connecting")[1], {
      type: "connecting",
      endpoint: b.endpoint,
      attempt: 1,
      nodeId: "node-b",
      at: log.of("lost")[0].at + DELAYS[0],
    });
    assert.equal(connected.nodeId, "node-b");
    assert.equal(connected.reconnect, true);
    assert.equal(connection.endpoint, b.endpoint);
  });
});

Deno.test("Connection retries a discovery that failed with growing delays", async () => {
  await using pump = new Pump();
  await using node = await FakeNode.start(pump, "node-a");
  await using registry = await fakeRegistry(pump, ["none", "none", node]);
  const { clock, log, connection } = connect(pump, testConfig({ registry: [registry.endpoint] }));
  await using _ = connection;
  connection.start();

  const first = await log.nth("discovery_failed", 1);
  assert.equal(first.retryInMs, DELAYS[0]);
  assert.match(first.reason, /NO_NODE_AVAILABLE: No live node/);
  assert.match(first.reason, new RegExp(registry.endpoint));
  clock.advance(DELAYS[0]);
  assert.equal((await log.nth("discovery_failed", 2)).retryInMs, DELAYS[1]);
  clock.advance(DELAYS[1]);
  await log.nth("connected", 1);
  assert.deepEqual(log.events.map((e) => e.type), [
    "discovery_failed",
    "discovery_failed",
    "connecting",
    "connected",
  ]);
  assert.equal(log.of("connecting")[0].attempt, 2);
  assert.equal(registry.asked.length, 3);
});

Deno.test("Connection requests: matched replies, timeouts by the clock, failures on loss and close", async (t) => {
  await using pump = new Pump();
  await using node = await FakeNode.start(pump, "node-a");
  const { clock, connection } = connect(pump, testConfig({ node: node.endpoint }));
  await using _ = connection;
  connection.start();
  await connection.ready(WAIT_MS);

  await t.step("a reply resolves the request of its client", async () => {
    const reply = await connection.request("client-x", { status: {} });
    assert.equal(reply.clientId, "client-x");
    assert.equal(reply.statusReply?.nodeId, "node-a");
    assert.equal(connection.counters.sent, 1);
  });

  await t.step("no reply within the timeout: TIMEOUT once the clock passes it", async () => {
    node.mute = true;
    const pending = connection.request("client-x", { status: {} }, 500);
    const settled = pending.then(() => "resolved", (err: RequestError) => err.code);
    clock.advance(499);
    assert.equal(connection.counters.timeouts, 0);
    clock.advance(1);
    assert.equal(connection.counters.timeouts, 1);
    assert.equal(await settled, "TIMEOUT");
  });

  await t.step("a lost node fails what is pending with UNAVAILABLE", async () => {
    const pending = connection.request("client-y", { status: {} }, 60_000);
    clock.advance(3000);
    await assert.rejects(pending, (err: RequestError) => {
      assert.equal(err.code, "UNAVAILABLE");
      assert.match(err.message, /^Connection lost: node silent for/);
      return true;
    });
  });

  await t.step("close() is final: requests fail, no timer is left", async () => {
    connection.close();
    connection.close();
    await assert.rejects(connection.request("client-x", { status: {} }), /Connection closed/);
    assert.equal(clock.pending, 0);
  });
});

Deno.test("Connection.ready() rejects when no node answers in time, by the clock", async () => {
  await using pump = new Pump();
  await using node = await FakeNode.start(pump, "node-a");
  node.mute = true;
  const { clock, connection } = connect(pump, testConfig({ node: node.endpoint }));
  await using _ = connection;
  connection.start();
  let outcome: string | undefined;
  connection.ready(500).then(() => outcome = "ready", (err: RequestError) => outcome = err.message);
  clock.advance(499);
  await flush();
  assert.equal(outcome, undefined);
  clock.advance(1);
  await flush();
  assert.equal(outcome, "No node answered within 500 ms");
});
