import assert from "node:assert/strict";
import { DealerSocket } from "../lib/transport/mod.ts";
import { TestPump } from "./support/transport/test_pump.ts";
import { defaults, NODE_SCHEMA, type NodeConfig } from "../lib/config/mod.ts";
import { type GameNode, NodeServer } from "../lib/node/mod.ts";
import {
  decodeEnvelope,
  detectFormat,
  encodeEnvelope,
  type Envelope,
  type WireFormat,
} from "../lib/protocol/mod.ts";
import { mulberry32 } from "../lib/random/mod.ts";
import { fuzzFrames, type FuzzMessage } from "./support/fuzz_frames.ts";
import { type Checksums, ReferenceNode } from "./support/reference_node.ts";
import { RawWebSocket } from "./support/raw_websocket.ts";
import { freePort } from "./_harness.ts";

const TOTAL = 10_000;

/** A node for the fuzz runs: nothing may happen to a session behind the reference's back. */
function fuzzConfig(): NodeConfig {
  const config = defaults(NODE_SCHEMA);
  config.client_port = 0;
  config.http_port = 0;
  config.data_dir = "";
  config.log_level = "error";
  config.clients.max_frame_bytes = 4096;
  // The reference compares every status checksum with its own world at that moment.
  config.clients.checksum_interval_ms = 0;
  // No idle drops, no rate limit.
  config.clients.idle_timeout_ms = 3_600_000;
  config.clients.max_requests_per_second = 1_000_000;
  config.world.width = 1000;
  config.world.height = 1000;
  // GAMESERVER_TEST_READ_WORKERS=N: queries answered by N reader workers (the reference knows).
  config.clients.read_workers = Number(Deno.env.get("GAMESERVER_TEST_READ_WORKERS") ?? 0);
  return config;
}

type Observed = { type: "tick" } | ({ type: "frame" } & Checksums);

/**
 * Observes the real node, in the order it ran them: its checksum right before and after each
 * message it handled, and its ticks in between. Nothing else about it changes.
 */
function observe(node: GameNode): Observed[] {
  const events: Observed[] = [];
  const handleFrame = node.handleFrame.bind(node);
  node.handleFrame = (peer, frames, now, options) => {
    const before = node.state.checksum();
    handleFrame(peer, frames, now, options);
    events.push({ type: "frame", before, after: node.state.checksum() });
  };
  const tick = node.tick.bind(node);
  node.tick = (now) => {
    tick(now);
    events.push({ type: "tick" });
  };
  return events;
}

/** Feeds the events since the last call to the reference; returns the messages handled. */
function replay(
  events: Observed[],
  reference: ReferenceNode,
  message: { frames: Uint8Array[]; lane: number; reply: Envelope; format?: WireFormat },
): number {
  let handled = 0;
  for (const event of events.splice(0)) {
    if (event.type === "tick") reference.tick();
    else {
      handled++;
      reference.check(message.frames, message.lane, message.reply, {
        ...event,
        format: message.format,
      });
    }
  }
  return handled;
}

/** The run covered every outcome, and the worlds agree at the end. */
function assertCoverage(node: GameNode, reference: ReferenceNode, events: Observed[]): void {
  const c = reference.counts;
  assert.equal(c.rejected + c.refused + c.writes + c.reads, TOTAL, JSON.stringify(c));
  assert.ok(c.rejected >= 3000, `rejected ${c.rejected}`);
  assert.ok(c.refused >= 500, `refused ${c.refused}`);
  assert.ok(c.writes >= 500, `writes ${c.writes}`);
  assert.ok(c.resumes >= 10, `genuine resumes ${c.resumes}`);
  assert.ok(c.reads >= 500, `reads ${c.reads}`);
  for (const event of events.splice(0)) if (event.type === "tick") reference.tick();
  assert.equal(node.state.checksum(), reference.state.checksum());
  node.state.world.checkInvariants();
  assert.equal(node.counters.dropped, 0);
}

Deno.test("10,000 random and mutated frames: rejects change nothing, the rest match a reference", async (t) => {
  const config = fuzzConfig();
  await using pump = new TestPump();
  const server = await NodeServer.start(config, { pump });
  const node = server.node;
  const reference = new ReferenceNode(config);
  const events = observe(node);

  const endpoint = `tcp://127.0.0.1:${server.clientPort}`;
  let waiting: ((frames: Uint8Array[]) => void) | undefined;
  const lanes = Array.from({ length: 4 }, () =>
    DealerSocket.connect(pump, endpoint, (frames) => {
      const resolve = waiting;
      waiting = undefined;
      if (!resolve) throw new Error("A reply nobody waited for");
      resolve(frames);
    }));
  try {
    const next = fuzzFrames(mulberry32(42), {
      lanes: lanes.length,
      clientIds: Array.from({ length: 8 }, () => crypto.randomUUID()),
      known: reference.known,
      oversizeBytes: 5000,
    });
    await t.step("every frame gets the reply the reference predicts", async () => {
      // One message at a time: each reply and each checksum belongs to exactly one message.
      for (let i = 0; i < TOTAL; i++) {
        const { frames, lane } = next();
        const { promise, resolve } = Promise.withResolvers<Uint8Array[]>();
        waiting = resolve;
        lanes[lane].send(frames);
        const replyFrames = await pump.within(promise, 10_000, `the reply to message ${i}`);
        assert.equal(replyFrames.length, 1, "a reply is one frame");
        const reply: Envelope = decodeEnvelope(replyFrames[0]);
        const handled = replay(events, reference, { frames, lane, reply });
        assert.equal(handled, 1, `message ${i} was handled ${handled} times`);
        reference.settle();
      }
    });

    await t.step("the run covered every outcome, and the worlds agree at the end", () => {
      assertCoverage(node, reference, events);
    });
  } finally {
    for (const lane of lanes) lane.close();
    await server.close();
  }
});

/**
 * A fuzz message as a WebSocket carries it: one message of one kind. JSON-looking frames go as text
 * (their bytes as the node then sees them), the rest as binary; one in twenty goes in the other
 * kind (protobuf as text, JSON as binary); a message of several frames, which a WebSocket cannot
 * carry, goes as its first frame in the other kind.
 */
function asWebSocket(message: FuzzMessage, random: () => number) {
  const frame = message.frames[0];
  const json = detectFormat(frame) === "json";
  const swap = message.frames.length !== 1 || random() < 0.05;
  const text = json !== swap;
  const data = text ? new TextDecoder().decode(frame) : frame;
  const bytes = text ? new TextEncoder().encode(data as string) : frame;
  return { data, frames: [bytes], format: (text ? "json" : "binary") as WireFormat };
}

Deno.test("10,000 random and mutated frames over WebSocket: the same replies, and the node serves on", async (t) => {
  const config = fuzzConfig();
  config.http_port = freePort();
  await using pump = new TestPump();
  const server = await NodeServer.start(config, { pump });
  const node = server.node;
  const reference = new ReferenceNode(config);
  const events = observe(node);
  const url = `ws://127.0.0.1:${server.httpPort}/ws`;
  const lanes = await Promise.all(Array.from({ length: 4 }, () => RawWebSocket.open(url)));
  try {
    const next = fuzzFrames(mulberry32(42), {
      lanes: lanes.length,
      clientIds: Array.from({ length: 8 }, () => crypto.randomUUID()),
      known: reference.known,
      oversizeBytes: 5000,
    });
    const kinds = mulberry32(7);
    await t.step("every message gets the reply the reference predicts, in its kind", async () => {
      for (let i = 0; i < TOTAL; i++) {
        const message = next();
        const { data, frames, format } = asWebSocket(message, kinds);
        lanes[message.lane].send(data);
        const reply = await lanes[message.lane].reply(format);
        const handled = replay(events, reference, { frames, lane: message.lane, reply, format });
        assert.equal(handled, 1, `message ${i} was handled ${handled} times`);
        reference.settle();
      }
    });

    await t.step("the run covered every outcome, and the worlds agree at the end", () => {
      assertCoverage(node, reference, events);
      assert.equal(server.transports.ws.open, 4, "no socket was closed");
    });

    await t.step(
      "a message over the hard cap closes only its socket; the node serves on",
      async () => {
        lanes[0].send(new Uint8Array(config.clients.frame_disconnect_bytes + 1));
        assert.equal((await lanes[0].closed).code, 1009);
        const pong = await lanes[1].request(crypto.randomUUID(), { ping: {} }, "json");
        assert.ok(pong.pong);
        await using fresh = await RawWebSocket.open(url);
        assert.ok((await fresh.request(crypto.randomUUID(), { status: {} }, "binary")).statusReply);
      },
    );
  } finally {
    for (const lane of lanes) await lane.close();
    await server.close();
  }
});

Deno.test("a flood from one client is rate-limited with a reply per request; others are served", async () => {
  const config = defaults(NODE_SCHEMA);
  config.client_port = 0;
  config.http_port = 0;
  config.data_dir = "";
  config.log_level = "error";
  config.clients.max_requests_per_second = 200;
  await using pump = new TestPump();
  const server = await NodeServer.start(config, { pump });
  const endpoint = `tcp://127.0.0.1:${server.clientPort}`;
  const codes = new Map<string, number>();
  const total = 1000;
  let replies = 0;
  const done = Promise.withResolvers<void>();
  const flooder = DealerSocket.connect(pump, endpoint, (frames) => {
    const reply = decodeEnvelope(frames[0]);
    const code = reply.error?.code ?? "OK";
    codes.set(code, (codes.get(code) ?? 0) + 1);
    if (++replies === total) done.resolve();
  });
  try {
    const clientId = crypto.randomUUID();
    for (let i = 1; i <= total; i++) {
      flooder.send(encodeEnvelope({ clientId, requestId: i, ping: {} }));
    }
    const timer = setTimeout(
      () => done.reject(new Error(`only ${replies}/${total} replies`)),
      20_000,
    );
    try {
      await Promise.race([done.promise, pump.failed]);
    } finally {
      clearTimeout(timer);
    }
    assert.ok((codes.get("RATE_LIMITED") ?? 0) > 0, JSON.stringify([...codes]));
    assert.ok((codes.get("OK") ?? 0) >= 200);

    const other = Promise.withResolvers<Envelope>();
    const polite = DealerSocket.connect(
      pump,
      endpoint,
      (frames) => other.resolve(decodeEnvelope(frames[0])),
    );
    polite.send(encodeEnvelope({ clientId: crypto.randomUUID(), requestId: 1, ping: {} }));
    const reply = await pump.within(other.promise, 10_000, "the polite client's pong");
    polite.close();
    assert.ok(reply.pong, JSON.stringify(reply));
  } finally {
    flooder.close();
    await server.close();
  }
});
