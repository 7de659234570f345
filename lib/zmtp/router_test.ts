import assert from "node:assert/strict";
import { DealerSocket } from "../transport/mod.ts";
import { TestPump } from "../../tests/support/transport/test_pump.ts";
import { bytes, text, until } from "../../tests/support/transport/test_util.ts";
import { RawDealer } from "../../tests/support/transport/raw_zmtp.ts";
import { commandFrame, concat, frame, greeting, readyCommand, ZmtpParser } from "./codec.ts";
import { ZmtpDealer } from "./dealer.ts";
import { ZmtpRouter, type ZmtpRouterOptions } from "./router.ts";
import { Reactor } from "./_reactor.ts";

type Router = ZmtpRouter;

/** Binds a ROUTER (raw sockets need Linux and --allow-ffi: the tests say so if missing). */
function bindRouter(
  endpoint: string,
  onMessage: (peer: Uint8Array, frames: Uint8Array[]) => void,
  options?: ZmtpRouterOptions,
): ZmtpRouter {
  const router = ZmtpRouter.bind(endpoint, onMessage, options);
  assert.ok(router, "raw sockets work here (Linux, --allow-ffi)");
  return router;
}

/** Closes `router` and waits until it has let go of everything. */
async function shut(router: Router): Promise<void> {
  router.close();
  await router.closed;
}

{
  /** An echo ROUTER: every message goes back to its sender. */
  const echoRouter = (options = {}): Router => {
    const router: Router = bindRouter("tcp://127.0.0.1:0", (peer, frames) => {
      router.send(peer, frames);
    }, options);
    return router;
  };

  Deno.test(`ZmtpRouter serves libzmq DEALERs and ours, each getting only its own replies`, async () => {
    await using pump = new TestPump();
    const router = echoRouter();
    const libzmqGot: string[] = [];
    const oursGot: Uint8Array[][] = [];
    const libzmq = DealerSocket.connect(pump, router.endpoint, (f) => libzmqGot.push(text(f[0])));
    const ours = ZmtpDealer.connect(router.endpoint, { onMessage: (f) => oursGot.push(f) });
    try {
      for (let i = 0; i < 200; i++) {
        libzmq.send(bytes(`z${i}`));
        ours.send(bytes(`o${i}`));
      }
      const big = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) & 255);
      ours.send([bytes("a"), big]);
      await pump.until(
        () => libzmqGot.length === 200 && oursGot.length === 201,
        10_000,
        "every echo",
      );
      assert.deepEqual(libzmqGot, [...Array(200)].map((_, i) => `z${i}`));
      assert.deepEqual(
        oursGot.slice(0, 200).map((f) => text(f[0])),
        [...Array(200)].map((_, i) => `o${i}`),
      );
      assert.deepEqual(oursGot[200][1], big);
      assert.equal(router.connectionCounts.accepted, 2);
      assert.equal(router.stats.received, 401);
    } finally {
      libzmq.close();
      ours.close();
      await shut(router);
    }
  });

  Deno.test(`ZmtpRouter: sends to gone or unknown peers fail and are counted; closes are counted`, async () => {
    let lastPeer: Uint8Array | undefined;
    const router = bindRouter("tcp://127.0.0.1:0", (peer) => (lastPeer = peer));
    const dealer = ZmtpDealer.connect(router.endpoint, { onMessage: () => {} });
    try {
      dealer.send(bytes("hi"));
      await until(() => lastPeer !== undefined, 10_000, "the message");
      assert.equal(lastPeer!.length, 5);
      assert.equal(lastPeer![0], 0);
      assert.equal(router.send(Uint8Array.of(0, 9, 9, 9, 9), bytes("x")), false);
      assert.equal(router.send(bytes("not an id"), bytes("x")), false);
      dealer.close();
      await until(() => router.connectionCounts.disconnected === 1, 10_000, "the close seen");
      assert.equal(router.send(lastPeer!, bytes("too late")), false);
      assert.equal(router.stats.unroutable, 3);
    } finally {
      dealer.close();
      await shut(router);
    }
  });

  Deno.test(`ZmtpRouter closes a connection that sends a frame over maxMessageSize`, async () => {
    const got: string[] = [];
    const router = bindRouter("tcp://127.0.0.1:0", (_peer, f) => got.push(text(f[0])), {
      maxMessageSize: 1000,
    });
    await using raw = await RawDealer.connect(router.port);
    try {
      await raw.send(bytes("small"));
      await raw.send(new Uint8Array(5000));
      assert.equal(await raw.closedByServer(10_000), true, "hung up on");
      assert.deepEqual(got, ["small"]);
      assert.equal(router.connectionCounts.disconnected, 1);
    } finally {
      await shut(router);
    }
  });

  Deno.test(`ZmtpRouter closes a peer that never finishes its handshake, and one that is not a DEALER`, async () => {
    const router = echoRouter({ handshakeTimeoutMs: 200 });
    try {
      // Silent after connecting (a half-open or slowloris peer).
      const silent = await Deno.connect({ hostname: "127.0.0.1", port: router.port });
      // A PUB socket's READY: a ROUTER does not talk to it.
      const pub = await Deno.connect({ hostname: "127.0.0.1", port: router.port });
      await pub.write(concat([greeting(), readyCommand({ "Socket-Type": "PUB" })]));
      await until(() => router.connectionCounts.disconnected === 2, 10_000, "both closed");
      for (const conn of [silent, pub]) {
        // Whatever was sent before the close (our greeting), then the end.
        const buffer = new Uint8Array(1024);
        while ((await conn.read(buffer)) !== null) { /* drain */ }
        conn.close();
      }
    } finally {
      await shut(router);
    }
  });

  Deno.test(`ZmtpRouter bounds what a peer that does not read can queue, and answers PINGs`, async () => {
    let peer: Uint8Array | undefined;
    const router = bindRouter("tcp://127.0.0.1:0", (p) => (peer = p), {
      sendHwm: 10,
      maxBacklogBytes: 100_000,
    });
    await using raw = await RawDealer.connect(router.port);
    try {
      await raw.send(bytes("hello"));
      await until(() => peer !== undefined, 10_000, "the message");
      // The peer reads nothing: the kernel's buffers fill, then our queue, then sends fail.
      const payload = new Uint8Array(64 * 1024);
      let accepted = 0;
      for (let i = 0; i < 2000 && router.send(peer!, payload); i++) {
        accepted++;
        if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5)); // let writes reach the kernel
      }
      assert.ok(accepted < 2000, `sends failed at last (${accepted} accepted)`);
      assert.ok(router.stats.overflowed >= 1);
      assert.ok(router.backlogBytes(peer!) > 0, "the backlog shows");
      assert.ok(router.backlogBytes(peer!) <= 100_000 + 10 * (64 * 1024 + 9));
    } finally {
      await shut(router);
    }

    const router2 = echoRouter();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: router2.port });
    try {
      const events: { name?: string; data?: Uint8Array }[] = [];
      const parser = new ZmtpParser(1 << 20, (e) => e.type === "command" && events.push(e));
      await conn.write(concat([
        greeting(),
        readyCommand({ "Socket-Type": "DEALER" }),
        commandFrame("PING", Uint8Array.of(0, 30, ...bytes("ctx"))),
      ]));
      const buffer = new Uint8Array(4096);
      while (!events.some((e) => e.name === "PONG")) {
        const n = await conn.read(buffer);
        if (n === null) break;
        parser.push(buffer.subarray(0, n));
      }
      assert.equal(text(events.find((e) => e.name === "PONG")?.data ?? bytes("")), "ctx");
    } finally {
      conn.close();
      await shut(router2);
    }
  });
}

Deno.test("ZmtpRouter sends what a full peer could not take once it reads again, without retrying meanwhile", async () => {
  let peer: Uint8Array | undefined;
  const router = bindRouter("tcp://127.0.0.1:0", (p) => (peer ??= p), {
    sendHwm: 1,
    maxBacklogBytes: 256 << 20,
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.port });
  try {
    const got: number[] = [];
    const parser = new ZmtpParser(1 << 20, (e) => {
      if (e.type === "message") {
        got.push(new DataView(e.frames[0].buffer, e.frames[0].byteOffset).getUint32(0));
      }
    });
    await conn.write(
      concat([greeting(), readyCommand({ "Socket-Type": "DEALER" }), frame(bytes("hi"))]),
    );
    await until(() => peer !== undefined, 10_000, "the peer's first message");
    // 800 replies of 64 KB (52 MB): more than loopback's socket buffers hold while the peer reads
    // nothing (up to 4 MB sent + 32 MB received here), so the rest waits in the router's queue.
    const count = 800;
    for (let i = 0; i < count; i++) {
      const payload = new Uint8Array(64 * 1024);
      new DataView(payload.buffer).setUint32(0, i);
      assert.ok(router.send(peer!, payload), `reply ${i} queued`);
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1)); // let bursts reach the kernel
    }
    await until(() => router.backlogBytes(peer!) > 0, 10_000, "a backlog the kernel refused");
    // Every write of the process's raw sockets goes through the reactor's send: count them.
    const reactor = Reactor.get()!;
    let sends = 0;
    const send = reactor.send;
    reactor.send = (fd, bytes) => (sends++, send.call(reactor, fd, bytes));
    try {
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      reactor.send = send;
    }
    assert.equal(sends, 0, "no write is tried while the peer reads nothing");
    // The peer reads: every reply arrives, in order, and the queue empties.
    const buffer = new Uint8Array(1 << 16);
    while (got.length < count) {
      const n = await conn.read(buffer);
      if (n === null) break;
      parser.push(buffer.subarray(0, n));
    }
    assert.deepEqual(got, [...Array(count).keys()], "every reply, in order");
    assert.equal(router.backlogBytes(peer!), 0);
  } finally {
    conn.close();
    await shut(router);
  }
});

Deno.test("ZmtpRouter binds IPv6 addresses, and declines a host name (the node then uses libzmq)", async () => {
  assert.equal(ZmtpRouter.bind("tcp://localhost:0", () => {}), undefined);
  let router: ZmtpRouter | undefined;
  try {
    router = ZmtpRouter.bind("tcp://[::1]:0", (peer, frames) => void router!.send(peer, frames));
  } catch (error) {
    // A machine without IPv6 loopback cannot run this part.
    if (!(error instanceof Error && /errno (97|99)/.test(error.message))) throw error;
    return;
  }
  assert.ok(router);
  assert.equal(router.endpoint, `tcp://[::1]:${router.port}`);
  const got: string[] = [];
  const dealer = ZmtpDealer.connect(router.endpoint, { onMessage: (f) => got.push(text(f[0])) });
  try {
    dealer.send(bytes("over IPv6"));
    await until(() => got.length === 1, 10_000, "the echo over IPv6");
    assert.deepEqual(got, ["over IPv6"]);
  } finally {
    dealer.close();
    await shut(router);
  }
});
