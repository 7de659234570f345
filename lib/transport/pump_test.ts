import assert from "node:assert/strict";
import {
  DealerSocket,
  HandlerError,
  InvalidOptionError,
  Pump,
  PumpClosedError,
  type PumpWaitMode,
  RouterSocket,
  type TransportError,
} from "./mod.ts";
import { startChild } from "../../tests/support/transport/child_process.ts";
import {
  bytes,
  countdown,
  socketModes,
  text,
  waitModes,
  within,
} from "../../tests/support/transport/test_util.ts";
import { TestPump } from "../../tests/support/transport/test_pump.ts";

Deno.test("a handler that throws does not stop the pump", async () => {
  const errors: TransportError[] = [];
  await using pump = new Pump({ onError: (error) => errors.push(error) });
  const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
    if (text(frames[0]) === "bad") throw new Error("malformed");
    router.send(peer, frames);
  });
  const replies: string[] = [];
  const done = countdown(2);
  const client = DealerSocket.connect(pump, router.endpoint, (frames) => {
    replies.push(text(frames[0]));
    done.tick();
    if (text(frames[0]) === "after") throw new Error("client handler fails too");
  });
  client.send(bytes("before"));
  client.send(bytes("bad"));
  client.send(bytes("after"));
  await within(done.reached, 10_000, "replies around the bad message");
  assert.deepEqual(replies, ["before", "after"]);
  assert.equal(pump.stats.handlerErrors, 2);
  assert.ok(errors.every((e) => e instanceof HandlerError));
  assert.deepEqual(errors.map((e) => (e as HandlerError).socketKind), ["router", "dealer"]);
  assert.match(errors[0].message, /^The router message handler threw: malformed$/);
  assert.equal((errors[0].cause as Error).message, "malformed");
});

for (const wait of await waitModes()) {
  Deno.test(`pump in ${wait} mode carries request/reply and reports its mode`, async () => {
    await using pump = new TestPump({ wait });
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
      router.send(peer, frames);
    });
    const total = 500;
    const done = countdown(total);
    let next = 0;
    const client = DealerSocket.connect(pump, router.endpoint, () => {
      done.tick();
      if (next < total) client.send(bytes(String(next++)));
    });
    client.send(bytes(String(next++)));
    await pump.within(done.reached, 20_000, `${total} round trips`);
    assert.equal(pump.stats.mode, wait);
    assert.equal(pump.stats.received, 2 * total);
  });
}

for (const sockets of await socketModes()) {
  Deno.test(`pump with sockets=${sockets} carries request/reply and reports it`, async () => {
    await using pump = new TestPump({ sockets });
    assert.equal(pump.stats.socketMode, sockets);
    const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
      // Several frames in, several frames out, empty ones included.
      router.send(peer, [...frames, new Uint8Array(0), bytes(`${frames.length}`)]);
    });
    const replies: string[][] = [];
    const done = countdown(3);
    const client = DealerSocket.connect(pump, router.endpoint, (frames) => {
      replies.push(frames.map(text));
      done.tick();
    });
    const big = "x".repeat(300_000); // beyond any small-message optimisation
    assert.equal(client.send(bytes("one")), true);
    assert.equal(client.send([bytes("a"), bytes("b")]), true);
    assert.equal(client.send(bytes(big)), true);
    await pump.within(done.reached, 10_000, "three replies");
    assert.deepEqual(replies, [["one", "", "1"], ["a", "b", "", "2"], [big, "", "1"]]);
    assert.equal(pump.stats.received, 6);
    assert.equal(router.stats.sent, 3);
    assert.equal(client.stats.sent, 3);
  });
}

Deno.test("pump rejects an unknown sockets option", () => {
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new Pump({ sockets: "napi" as any }), InvalidOptionError);
});

Deno.test("timer mode serves many sockets, also once they have gone cold", async () => {
  await using pump = new TestPump({ wait: "timer", maxColdPolls: 8 });
  const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
    router.send(peer, frames);
  });
  const clients: DealerSocket[] = [];
  let done = countdown(40);
  for (let i = 0; i < 40; i++) {
    clients.push(DealerSocket.connect(pump, router.endpoint, () => done.tick()));
  }
  for (const client of clients) client.send(bytes("x"));
  await pump.within(done.reached, 20_000, "a reply on each of 40 hot sockets");
  // Sockets silent for a second are polled round robin, 8 per sweep: they must still be served.
  assert.equal(pump.stats.sockets, 41);
  await pump.until(() => pump.stats.coldSockets === 41, 5_000, "all 41 sockets to go cold");
  done = countdown(40);
  for (const client of clients) client.send(bytes("y"));
  await pump.within(done.reached, 20_000, "a reply on each of 40 cold sockets");
});

Deno.test("disposing the pump closes its sockets and refuses new ones", async () => {
  const pump = new Pump();
  const router = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", () => {});
  const client = DealerSocket.connect(pump, router.endpoint, () => {});
  assert.equal(pump.stats.sockets, 2);
  await pump[Symbol.asyncDispose]();
  await pump[Symbol.asyncDispose]();
  assert.equal(router.closed, true);
  assert.equal(client.closed, true);
  assert.equal(pump.stats.sockets, 0);
  assert.equal(client.send(bytes("late")), false);
  assert.throws(() => DealerSocket.connect(pump, router.endpoint, () => {}), PumpClosedError);
  await assert.rejects(RouterSocket.bind(pump, "tcp://127.0.0.1:0", () => {}), PumpClosedError);
});

for (const wait of ["auto", "timer"] satisfies PumpWaitMode[]) {
  Deno.test(`a process exits by itself after disposing its pump (${wait})`, async () => {
    const child = startChild("./dispose_child.ts", [`--wait=${wait}`]);
    try {
      const mode = await child.nextLine("DISPOSED", 20_000);
      assert.ok(mode === "epoll" || mode === "timer");
      const status = await within(child.child.status, 10_000, "the child to exit on its own");
      assert.equal(status.code, 0);
    } finally {
      await child.stop();
    }
  });
}
