import assert from "node:assert/strict";
import { ConnectError, DealerSocket, InvalidOptionError, Pump, RouterSocket } from "./mod.ts";
import { bytes, socketModes, text } from "../../tests/support/transport/test_util.ts";
import { TestPump } from "../../tests/support/transport/test_pump.ts";

/** Every test runs over each way plain sockets reach libzmq here. */
const SOCKET_MODES = await socketModes();

for (const sockets of SOCKET_MODES) {
  Deno.test(`DealerSocket.reconnect switches to another server with the same handler [${sockets}]`, async () => {
    await using pump = new TestPump({ sockets });
    const serve = (name: string) =>
      RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
        routers[name].send(peer, [bytes(`${name}:${text(frames[0])}`)]);
      });
    const routers: Record<string, RouterSocket> = {};
    routers.a = await serve("a");
    routers.b = await serve("b");

    let waiting = Promise.withResolvers<string>();
    const client = DealerSocket.connect(pump, routers.a.endpoint, (frames) => {
      waiting.resolve(text(frames[0]));
    }, { routingId: "player-1" });

    client.send(bytes("hello"));
    assert.equal(await pump.within(waiting.promise, 10_000, "reply from a"), "a:hello");

    waiting = Promise.withResolvers<string>();
    client.reconnect(routers.b.endpoint);
    assert.equal(client.endpoint, routers.b.endpoint);
    client.send(bytes("again"));
    assert.equal(await pump.within(waiting.promise, 10_000, "reply from b"), "b:again");

    // After switching, server a no longer reaches the client (once it has seen the disconnect).
    await pump.until(
      () => !routers.a.send(bytes("player-1"), bytes("stale")),
      10_000,
      "server a to notice the client left",
    );
    assert.equal(client.stats.received, 2);
    assert.equal(client.stats.sent, 2);
    client.close();
    client.reconnect(routers.a.endpoint); // no-op once closed
    assert.equal(client.closed, true);
  });

  Deno.test(`DealerSocket.connect rejects a malformed endpoint with ConnectError [${sockets}]`, async () => {
    await using pump = new TestPump({ sockets });
    assert.throws(
      () => DealerSocket.connect(pump, "nonsense://x", () => {}),
      (error: unknown) => error instanceof ConnectError && error.endpoint === "nonsense://x",
    );
    assert.equal(pump.stats.sockets, 0);
  });

  Deno.test(`DealerSocket.send returns false once its queue is full [${sockets}]`, async () => {
    await using pump = new TestPump({ sockets });
    // Nobody listens on this port: messages queue up to sendHwm, then sends fail fast.
    const probe = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", () => {});
    const endpoint = probe.endpoint;
    probe.close();
    const client = DealerSocket.connect(pump, endpoint, () => {}, { sendHwm: 5 });
    const results = Array.from({ length: 20 }, () => client.send(bytes("x")));
    // zeromq.js sockets without synchronous promise inspection report outcomes later.
    if (!pump.stats.syncSettle && pump.stats.socketMode !== "ffi") return;
    assert.ok(results.slice(0, 5).every((ok) => ok));
    assert.equal(results.at(-1), false);
    assert.equal(client.stats.dropped, results.filter((ok) => !ok).length);
  });

  Deno.test(`out-of-range options throw InvalidOptionError and create no socket [${sockets}]`, async () => {
    await using pump = new TestPump({ sockets });
    for (const options of [{ sendHwm: -1 }, { linger: 0.5 }, { routingId: "" }]) {
      assert.throws(
        () => DealerSocket.connect(pump, "tcp://127.0.0.1:1", () => {}, options),
        InvalidOptionError,
      );
    }
    assert.throws(() => new Pump({ maxBatch: Number.NaN }), InvalidOptionError);
    assert.equal(pump.stats.sockets, 0);
  });
}
