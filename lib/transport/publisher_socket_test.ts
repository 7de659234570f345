import assert from "node:assert/strict";
import { PublisherSocket, SubscriberSocket } from "./mod.ts";
import { text } from "../../tests/support/transport/test_util.ts";
import { TestPump } from "../../tests/support/transport/test_pump.ts";
import { startChild } from "../../tests/support/transport/child_process.ts";
import { eventually } from "../../tests/_harness.ts";

/**
 * Publishes probes on `topic` until `live` settles (the subscriber has one): the subscription is
 * then live (no slow joiner).
 */
async function handshake(
  publisher: PublisherSocket,
  { pump, topic, live }: { pump: TestPump; topic: string; live: Promise<unknown> },
): Promise<void> {
  let settled = false;
  live.then(() => settled = true, () => settled = true);
  const probe = new Uint8Array([0xff]);
  const timer = setInterval(() => {
    if (!settled) publisher.publish(topic, probe);
  }, 10);
  try {
    await pump.within(live, 10_000, "the subscription to become live");
  } finally {
    clearInterval(timer);
  }
}

Deno.test("PUB/SUB delivers 2,000 messages of 20 KB in order once subscribed", async () => {
  await using pump = new TestPump();
  const publisher = await PublisherSocket.bind(pump, "tcp://127.0.0.1:0");
  assert.ok(publisher.port > 0);
  const total = 2_000;
  const size = 20 * 1024;
  const live = Promise.withResolvers<void>();
  const done = Promise.withResolvers<void>();
  const order: number[] = [];
  let corrupt = 0;
  let otherTopics = 0;
  SubscriberSocket.connect(pump, publisher.endpoint, ["world."], (topic, payload) => {
    if (text(topic) !== "world.delta") {
      otherTopics++;
      return;
    }
    if (payload.length === 1) {
      live.resolve();
      return;
    }
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const seq = view.getUint32(0);
    if (payload.length !== size || payload[size - 1] !== (seq & 0xff)) corrupt++;
    order.push(seq);
    if (order.length === total) done.resolve();
  });

  await handshake(publisher, { pump, topic: "world.delta", live: live.promise });
  const started = performance.now();
  for (let seq = 0; seq < total; seq++) {
    const payload = new Uint8Array(size);
    new DataView(payload.buffer).setUint32(0, seq);
    payload[size - 1] = seq & 0xff;
    assert.equal(publisher.publish("world.delta", payload), true);
    publisher.publish("chat", payload.subarray(0, 4)); // filtered out by the subscription
  }
  await pump.within(done.promise, 30_000, `2,000 messages (got ${order.length})`);
  const elapsedMs = performance.now() - started;
  assert.equal(corrupt, 0);
  assert.equal(otherTopics, 0);
  assert.deepEqual(order, Array.from({ length: total }, (_, i) => i));
  console.log(`2,000 × 20 KB in ${elapsedMs.toFixed(0)} ms`);
});

Deno.test("SubscriberSocket.reconnect follows a new publisher with the same topics", async () => {
  await using pump = new TestPump();
  const first = await PublisherSocket.bind(pump, "tcp://127.0.0.1:0");
  const second = await PublisherSocket.bind(pump, "tcp://127.0.0.1:0");
  let live = Promise.withResolvers<string>();
  const subscriber = SubscriberSocket.connect(pump, first.endpoint, ["t"], (topic, payload) => {
    live.resolve(`${text(topic)}:${payload[0]}`);
  });
  await handshake(first, { pump, topic: "t", live: live.promise });
  assert.equal(await live.promise, "t:255");
  live = Promise.withResolvers<string>();
  subscriber.reconnect(second.endpoint);
  assert.equal(subscriber.endpoint, second.endpoint);
  await handshake(second, { pump, topic: "t", live: live.promise });
  assert.equal(subscriber.stats.received >= 2, true);
  subscriber.close();
  subscriber.close();
  first.close();
  assert.equal(first.publish("t", new Uint8Array(1)), false);
});

/** ESTABLISHED TCP connections whose local port is `port` (the server's side of each). */
function establishedOn(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  let count = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let table = "";
    try {
      table = Deno.readTextFileSync(file);
    } catch { /* no IPv6 */ }
    for (const line of table.split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (local?.endsWith(`:${hex}`) && state === "01") count++;
    }
  }
  return count;
}

Deno.test({
  name:
    "a subscriber that answers no heartbeat (frozen) is disconnected, and comes back once resumed",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using pump = new TestPump();
    const publisher = await PublisherSocket.bind(pump, "tcp://127.0.0.1:0", {
      peerTimeoutMs: 600,
    });
    const child = startChild("subscriber_child.ts", [publisher.endpoint]);
    const payload = new Uint8Array(1024);
    const timer = setInterval(() => publisher.publish("u", payload), 10);
    try {
      await child.nextLine("received", 20_000);
      assert.equal(establishedOn(publisher.port), 1);
      Deno.kill(child.child.pid, "SIGSTOP");
      await eventually(
        "the frozen subscriber disconnected",
        () => establishedOn(publisher.port) === 0 || undefined,
        15_000,
      );
      Deno.kill(child.child.pid, "SIGCONT");
      await eventually(
        "the resumed subscriber connected again",
        () => establishedOn(publisher.port) === 1 || undefined,
        15_000,
      );
      // It receives again over the new connection.
      const before = child.lines.length;
      await eventually(
        "messages over the new connection",
        () => child.lines.length > before || undefined,
        15_000,
      );
    } finally {
      clearInterval(timer);
      Deno.kill(child.child.pid, "SIGCONT");
      await child.stop();
    }
  },
});
