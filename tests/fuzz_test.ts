import assert from "node:assert/strict";
import { DealerSocket } from "../lib/transport/mod.ts";
import { TestPump } from "./support/transport/test_pump.ts";
import { defaults, NODE_SCHEMA } from "../lib/config/mod.ts";
import { NodeServer } from "../lib/node/mod.ts";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "../lib/protocol/mod.ts";
import { mulberry32 } from "../lib/random/mod.ts";
import { fuzzFrames } from "./support/fuzz_frames.ts";
import { type Checksums, ReferenceNode } from "./support/reference_node.ts";

Deno.test("10,000 random and mutated frames: rejects change nothing, the rest match a reference", async (t) => {
  const config = defaults(NODE_SCHEMA);
  config.client_port = 0;
  config.http_port = 0;
  config.data_dir = "";
  config.log_level = "error";
  config.clients.max_frame_bytes = 4096;
  // The reference compares every status checksum with its own world at that moment.
  config.clients.checksum_interval_ms = 0;
  // Nothing may happen to a session behind the reference's back: no idle drops, no rate limit.
  config.clients.idle_timeout_ms = 3_600_000;
  config.clients.max_requests_per_second = 1_000_000;
  config.world.width = 1000;
  config.world.height = 1000;
  await using pump = new TestPump();
  const server = await NodeServer.start(config, { pump });
  const node = server.node;
  const reference = new ReferenceNode(config);

  // Observe the real node, in the order it ran them: its checksum right before and after each
  // message it handled, and its ticks in between. Nothing else about it changes.
  const events: ({ type: "tick" } | ({ type: "frame" } & Checksums))[] = [];
  const handleFrame = node.handleFrame.bind(node);
  node.handleFrame = (peer, frames, now) => {
    const before = node.state.checksum();
    handleFrame(peer, frames, now);
    events.push({ type: "frame", before, after: node.state.checksum() });
  };
  const tick = node.tick.bind(node);
  node.tick = (now) => {
    tick(now);
    events.push({ type: "tick" });
  };

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
    const total = 10_000;
    await t.step("every frame gets the reply the reference predicts", async () => {
      // One message at a time: each reply and each checksum belongs to exactly one message.
      for (let i = 0; i < total; i++) {
        const { frames, lane } = next();
        const { promise, resolve } = Promise.withResolvers<Uint8Array[]>();
        waiting = resolve;
        lanes[lane].send(frames);
        const replyFrames = await pump.within(promise, 10_000, `the reply to message ${i}`);
        assert.equal(replyFrames.length, 1, "a reply is one frame");
        const reply: Envelope = decodeEnvelope(replyFrames[0]);
        let handled = 0;
        for (const event of events.splice(0)) {
          if (event.type === "tick") reference.tick();
          else {
            handled++;
            reference.check(frames, lane, reply, event);
          }
        }
        assert.equal(handled, 1, `message ${i} was handled ${handled} times`);
      }
    });

    await t.step("the run covered every outcome, and the worlds agree at the end", () => {
      const c = reference.counts;
      assert.equal(c.rejected + c.refused + c.writes + c.reads, total, JSON.stringify(c));
      assert.ok(c.rejected >= 3000, `rejected ${c.rejected}`);
      assert.ok(c.refused >= 500, `refused ${c.refused}`);
      assert.ok(c.writes >= 500, `writes ${c.writes}`);
      assert.ok(c.resumes >= 10, `genuine resumes ${c.resumes}`);
      assert.ok(c.reads >= 500, `reads ${c.reads}`);
      for (const event of events.splice(0)) if (event.type === "tick") reference.tick();
      assert.equal(node.state.checksum(), reference.state.checksum());
      node.state.world.checkInvariants();
      assert.equal(node.counters.dropped, 0);
    });
  } finally {
    for (const lane of lanes) lane.close();
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
