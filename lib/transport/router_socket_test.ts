import assert from "node:assert/strict";
import { BindError, DealerSocket, InvalidOptionError, RouterSocket } from "./mod.ts";
import { startEchoServer } from "../../tests/support/transport/child_process.ts";
import {
  bytes,
  countdown,
  socketModes,
  text,
  until,
} from "../../tests/support/transport/test_util.ts";
import { RawDealer } from "../../tests/support/transport/raw_zmtp.ts";
import { TestPump } from "../../tests/support/transport/test_pump.ts";

function requestId(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0);
}

function request(id: number): Uint8Array {
  const frame = new Uint8Array(32);
  new DataView(frame.buffer).setUint32(0, id);
  return frame;
}

/** Every test runs over each way plain sockets reach libzmq here. */
const SOCKET_MODES = await socketModes();

for (const sockets of SOCKET_MODES) {
  Deno.test(`RouterSocket carries 10,000 round trips to another process, sequential and pipelined [${sockets}]`, async (t) => {
    const { server, port } = await startEchoServer([`--backend=${sockets}`]);
    await using pump = new TestPump({ sockets });
    try {
      const endpoint = `tcp://127.0.0.1:${port}`;

      await t.step("one client, one request at a time", async () => {
        const total = 10_000;
        const seen = new Uint8Array(total);
        let next = 0;
        let duplicates = 0;
        const done = countdown(total);
        const client = DealerSocket.connect(pump, endpoint, (frames) => {
          const id = requestId(frames[0]);
          if (id !== next - 1 || seen[id] === 1) duplicates++;
          seen[id] = 1;
          done.tick();
          if (next < total) assert.equal(client.send(request(next++)), true);
        });
        try {
          assert.equal(client.send(request(next++)), true);
          await pump.within(
            done.reached,
            40_000,
            `10,000 sequential replies (got ${done.count()})`,
          );
          assert.equal(duplicates, 0);
          assert.equal(seen.reduce((a, b) => a + b, 0), total);
          assert.equal(client.stats.dropped, 0);
        } finally {
          client.close();
        }
      });

      await t.step("ten clients with 100 requests in flight each", async () => {
        const total = 10_000;
        const seen = new Uint8Array(total);
        let next = 0;
        let duplicates = 0;
        const done = countdown(total);
        const clients: DealerSocket[] = [];
        try {
          for (let c = 0; c < 10; c++) {
            const client = DealerSocket.connect(pump, endpoint, (frames) => {
              const id = requestId(frames[0]);
              if (seen[id] === 1) duplicates++;
              seen[id] = 1;
              done.tick();
              if (next < total) client.send(request(next++));
            });
            clients.push(client);
          }
          for (let w = 0; w < 100; w++) for (const client of clients) client.send(request(next++));
          await pump.within(done.reached, 40_000, `10,000 pipelined replies (got ${done.count()})`);
          assert.equal(duplicates, 0);
          assert.equal(seen.reduce((a, b) => a + b, 0), total);
          assert.equal(clients.reduce((sum, c) => sum + c.stats.dropped, 0), 0);
        } finally {
          for (const client of clients) client.close();
        }
      });
    } finally {
      await server.stop();
    }
  });

  Deno.test(`RouterSocket.bind on port 0 reports the real endpoint and port [${sockets}]`, async () => {
    await using pump = new TestPump({ sockets });
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", () => {});
    assert.ok(router.port > 0);
    assert.equal(router.endpoint, `tcp://127.0.0.1:${router.port}`);
    await assert.rejects(
      RouterSocket.bind(pump, router.endpoint, () => {}),
      (error: unknown) => error instanceof BindError && error.endpoint === router.endpoint,
    );
  });

  Deno.test(`RouterSocket.send to an unknown peer returns false and counts it [${sockets}]`, async () => {
    await using pump = new TestPump({ sockets });
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", () => {});
    assert.equal(router.send(bytes("nobody"), [bytes("hello")]), false);
    if (!pump.stats.syncSettle) {
      // Runtimes without synchronous promise inspection report the drop a microtask later.
      await Promise.resolve();
    }
    assert.equal(router.stats.unroutable, 1);
    assert.equal(router.stats.dropped, 1);
    assert.equal(pump.stats.unroutable, 1);
  });

  Deno.test(`RouterSocket replies reach the right peer by routing id [${sockets}]`, async () => {
    await using pump = new TestPump({ sockets });
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
      router.send(peer, [bytes(`${text(peer)}:${text(frames[0])}`)]);
    });
    const replies: string[] = [];
    const done = countdown(2);
    const a = DealerSocket.connect(pump, router.endpoint, (f) => {
      replies.push(text(f[0]));
      done.tick();
    }, { routingId: "alice" });
    const b = DealerSocket.connect(pump, router.endpoint, (f) => {
      replies.push(text(f[0]));
      done.tick();
    }, { routingId: "bob" });
    a.send(bytes("1"));
    b.send([bytes("2")]);
    await pump.within(done.reached, 10_000, "two replies");
    assert.deepEqual(replies.sort(), ["alice:1", "bob:2"]);
    // A send after close is a counted drop, not an exception.
    router.close();
    router.close();
    assert.equal(router.send(bytes("alice"), bytes("late")), false);
  });

  Deno.test(`RouterSocket: a reconnecting peer with the same routing id takes over [${sockets}]`, async () => {
    await using pump = new TestPump({ sockets });
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
      router.send(peer, [bytes(`${text(peer)}:${text(frames[0])}`)]);
    });
    const first: string[] = [];
    const old = DealerSocket.connect(pump, router.endpoint, (f) => first.push(text(f[0])), {
      routingId: "carol",
    });
    const freshReply = countdown(1);
    const second: string[] = [];
    old.send(bytes("1"));
    await pump.until(() => first.length === 1, 10_000, "the first connection's reply");
    const fresh = DealerSocket.connect(pump, router.endpoint, (f) => {
      second.push(text(f[0]));
      freshReply.tick();
    }, { routingId: "carol" });
    fresh.send(bytes("2"));
    await pump.within(freshReply.reached, 10_000, "the new connection's reply");
    assert.deepEqual(second, ["carol:2"], "the reply goes to the connection that took over");
    assert.deepEqual(first, ["carol:1"]);
    old.close();
    fresh.close();
  });

  Deno.test(`RouterSocket never delivers a message larger than maxMessageSize [${sockets}]`, async () => {
    await using pump = new TestPump({ sockets });
    const got: number[] = [];
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
      got.push(frames[0].length);
      router.send(peer, frames);
    }, { maxMessageSize: 1000 });
    const replies: number[] = [];
    const big = DealerSocket.connect(pump, router.endpoint, (f) => replies.push(f[0].length));
    big.send(new Uint8Array(5000));
    const small = DealerSocket.connect(pump, router.endpoint, (f) => replies.push(f[0].length));
    small.send(new Uint8Array(10));
    await pump.until(() => replies.length === 1, 10_000, "the small message's reply");
    assert.deepEqual(got, [10], "the oversized message never reaches the handler");
    assert.deepEqual(replies, [10]);
    big.close();
    small.close();
  });

  Deno.test(`RouterSocket with batchSends carries 10,000 pipelined round trips, none lost [${sockets}]`, async () => {
    await using pump = new TestPump({ sockets });
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
      assert.equal(router.send(peer, frames), true);
    }, { batchSends: true });
    const total = 10_000;
    const seen = new Uint8Array(total);
    let next = 0;
    let duplicates = 0;
    const done = countdown(total);
    const clients: DealerSocket[] = [];
    try {
      for (let c = 0; c < 10; c++) {
        const client = DealerSocket.connect(pump, router.endpoint, (frames) => {
          const id = requestId(frames[0]);
          if (seen[id] === 1) duplicates++;
          seen[id] = 1;
          done.tick();
          if (next < total) client.send(request(next++));
        });
        clients.push(client);
      }
      for (let w = 0; w < 100; w++) for (const client of clients) client.send(request(next++));
      await pump.within(done.reached, 40_000, `10,000 batched replies (got ${done.count()})`);
      assert.equal(duplicates, 0);
      assert.equal(seen.reduce((a, b) => a + b, 0), total);
      assert.equal(router.stats.sent, total);
      assert.equal(router.stats.dropped, 0);
    } finally {
      for (const client of clients) client.close();
    }
  });

  Deno.test(`RouterSocket with batchSends flushes a reply sent from a timer promptly [${sockets}]`, async () => {
    // No periodic sweep within the test's bounds: only the flush itself may send the reply.
    await using pump = new TestPump({ sockets, sweepIntervalMs: 60_000 });
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
      // Answered later, outside the handler (as the node acknowledges durable writes).
      setTimeout(() => assert.equal(router.send(peer, [bytes(`ack:${text(frames[0])}`)]), true), 0);
    }, { batchSends: true });
    const replies: string[] = [];
    const done = countdown(3);
    const client = DealerSocket.connect(pump, router.endpoint, (frames) => {
      replies.push(text(frames[0]));
      done.tick();
    });
    try {
      // One at a time: each reply must leave without further traffic to push it out.
      for (const id of ["1", "2", "3"]) {
        const before = done.count();
        client.send(bytes(id));
        await pump.within(
          (async () => {
            while (done.count() === before) await new Promise((r) => setTimeout(r, 1));
          })(),
          2_000,
          `the timer reply to ${id}`,
        );
      }
      await pump.within(done.reached, 2_000, "three replies");
      assert.deepEqual(replies, ["ack:1", "ack:2", "ack:3"]);
    } finally {
      client.close();
    }
  });

  Deno.test(`RouterSocket with batchSends: full queue returns false, drops at flush are counted [${sockets}]`, async () => {
    await using pump = new TestPump({ sockets });
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", () => {}, {
      batchSends: true,
      maxQueuedSends: 2,
    });
    assert.equal(router.send(bytes("nobody"), bytes("a")), true);
    assert.equal(router.send(bytes("nobody"), bytes("b")), true);
    assert.equal(router.send(bytes("nobody"), bytes("c")), false);
    assert.equal(router.stats.dropped, 1);
    // The queue is flushed in a microtask (no pump sweep needed): both sends are unroutable.
    await Promise.resolve();
    if (!pump.stats.syncSettle) await Promise.resolve();
    assert.equal(router.stats.dropped, 3);
    assert.equal(router.stats.unroutable, 2);
    assert.equal(router.stats.sent, 0);
    await assert.rejects(
      RouterSocket.bind(pump, "tcp://127.0.0.1:0", () => {}, { maxQueuedSends: 0 }),
      InvalidOptionError,
    );
  });
}

if (SOCKET_MODES.includes("ffi")) {
  Deno.test("RouterSocket holds at most maxBacklogBytes for a peer that does not read, then drops [ffi]", async () => {
    await using pump = new TestPump({ sockets: "ffi" });
    const reply = new Uint8Array(10_000);
    let peer: Uint8Array | undefined;
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (p) => (peer = p), {
      batchSends: true,
      sendHwm: 4,
      maxBacklogBytes: 100_000,
    });
    // A hand-written DEALER that sends one request and never reads a reply.
    await using dealer = await RawDealer.connect(router.port);
    await dealer.send(bytes("hello"));
    await until(() => peer !== undefined, 10_000, "the request");
    // Far more than the kernel's socket buffers take: the backlog fills, then sends drop.
    let most = 0;
    const total = 5000;
    for (let i = 0; i < total; i++) {
      router.send(peer!, reply);
      if (i % 50 === 49) {
        await new Promise((r) => setTimeout(r, 1));
        most = Math.max(most, router.backlogBytes(peer!));
      }
    }
    await until(() => router.stats.overflowed > 0, 10_000, "a send beyond the backlog");
    assert.ok(most <= 100_000, `held ${most} bytes`);
    assert.ok(router.backlogBytes(peer!) <= 100_000);
    // What zeromq took, what is held and what was dropped add up to what was sent.
    const held = router.backlogBytes(peer!) / reply.length;
    assert.equal(router.stats.sent + held + router.stats.dropped, total);
    assert.equal(router.stats.dropped, router.stats.overflowed);
    dealer.close();
    // A peer gone: its backlog is dropped at the next try.
    await until(() => router.backlogBytes(peer!) === 0, 10_000, "the backlog dropped");
    assert.equal(router.stats.sent + router.stats.dropped, total);
  });

  Deno.test("RouterSocket counts connections opened and closed, also by a message over maxMessageSize [ffi]", async () => {
    await using pump = new TestPump({ sockets: "ffi" });
    let received = 0;
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", () => received++, {
      maxMessageSize: 1000,
      countConnections: true,
    });
    await using polite = await RawDealer.connect(router.port);
    await polite.send(bytes("hello"));
    await until(() => received === 1, 10_000, "the first message");
    await until(() => router.connectionCounts.accepted === 1, 10_000, "one accepted");
    polite.close();
    await until(() => router.connectionCounts.disconnected === 1, 10_000, "one closed");
    await using rude = await RawDealer.connect(router.port);
    await rude.send(new Uint8Array(5000));
    // zeromq hangs up on it: the frame is never delivered.
    assert.equal(await rude.closedByServer(10_000), true);
    await until(() => router.connectionCounts.disconnected === 2, 10_000, "the rude one closed");
    assert.equal(router.connectionCounts.accepted, 2);
    assert.equal(received, 1);
  });

  Deno.test("RouterSocket with a small sendHwm and a backlog delivers a burst to a reader in order [ffi]", async () => {
    await using pump = new TestPump({ sockets: "ffi" });
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer) => {
      // One request, 2,000 replies at once: far beyond sendHwm, within the backlog.
      for (let i = 0; i < 2000; i++) router.send(peer, bytes(String(i)));
    }, { batchSends: true, sendHwm: 4, maxBacklogBytes: 1_000_000 });
    const got: number[] = [];
    const done = countdown(2000);
    const client = DealerSocket.connect(pump, router.endpoint, (frames) => {
      got.push(Number(text(frames[0])));
      done.tick();
    });
    try {
      client.send(bytes("go"));
      await pump.within(done.reached, 20_000, `2,000 replies (got ${done.count()})`);
      assert.deepEqual(got, Array.from({ length: 2000 }, (_, i) => i));
      assert.equal(router.stats.dropped, 0);
      assert.equal(router.stats.sent, 2000);
    } finally {
      client.close();
    }
  });
}
