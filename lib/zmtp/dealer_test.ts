import assert from "node:assert/strict";
import { RouterSocket } from "../transport/mod.ts";
import { TestPump } from "../../tests/support/transport/test_pump.ts";
import { bytes, text, until } from "../../tests/support/transport/test_util.ts";
import { freePort } from "../../tests/_harness.ts";
import { commandFrame, frame, greeting, readyCommand, ZmtpParser } from "./codec.ts";
import { parseTcpEndpoint, ZmtpDealer, type ZmtpDealerOptions } from "./dealer.ts";
import { type Dealer, RawZmtpDealer } from "./raw_dealer.ts";

/** Both DEALERs: on Deno's TCP, and on a raw socket in the process's epoll set. */
const KINDS: [string, (endpoint: string, options: ZmtpDealerOptions) => Dealer][] = [
  ["deno tcp", (e, o) => ZmtpDealer.connect(e, o)],
  ["raw", (e, o) => {
    const dealer = RawZmtpDealer.connect(e, o);
    assert.ok(dealer, "raw sockets work here (Linux, --allow-ffi)");
    return dealer;
  }],
];

/** Closes `dealer` and waits until nothing of it is left running. */
async function shut(dealer: Dealer): Promise<void> {
  dealer.close();
  if (dealer instanceof RawZmtpDealer) await dealer.closed;
}

Deno.test("parseTcpEndpoint reads host and port, IPv6 in brackets, and refuses the rest", () => {
  assert.deepEqual(parseTcpEndpoint("tcp://127.0.0.1:7000"), { hostname: "127.0.0.1", port: 7000 });
  assert.deepEqual(parseTcpEndpoint("tcp://[::1]:7000"), { hostname: "::1", port: 7000 });
  assert.deepEqual(parseTcpEndpoint("tcp://node-a:1"), { hostname: "node-a", port: 1 });
  for (const bad of ["ws://h:1", "tcp://h", "tcp://h:0", "tcp://h:70000", "h:1", "tcp://h:1/x"]) {
    assert.throws(() => parseTcpEndpoint(bad), RangeError, bad);
  }
});

/** A hand-written ZMTP server on Deno TCP: `script` runs with the accepted connection. */
async function withRawServer(
  script: (conn: Deno.TcpConn, read: () => Promise<Uint8Array>) => Promise<void>,
  test: (endpoint: string) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const endpoint = `tcp://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  const served = (async () => {
    const conn = await listener.accept();
    const buffer = new Uint8Array(4096);
    const read = async () => {
      const n = await conn.read(buffer);
      return n === null ? new Uint8Array() : buffer.slice(0, n);
    };
    try {
      await script(conn, read);
    } finally {
      conn.close();
    }
  })();
  try {
    await test(endpoint);
  } finally {
    listener.close();
    await served;
  }
}
for (const [kind, connect] of KINDS) {
  Deno.test(`ZmtpDealer talks to a libzmq ROUTER: in order, multi-frame, large frames both ways [${kind}]`, async () => {
    await using pump = new TestPump();
    const seenByServer: string[][] = [];
    const server = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
      seenByServer.push(frames.map((f) => f.length > 100 ? `#${f.length}` : text(f)));
      server.send(peer, frames);
    }, { maxMessageSize: 1 << 20 });
    const got: Uint8Array[][] = [];
    const dealer = connect(server.endpoint, { onMessage: (frames) => got.push(frames) });
    try {
      // Sent before the handshake: queued, then delivered in order.
      for (let i = 0; i < 100; i++) assert.equal(dealer.send(bytes(`m${i}`)), true);
      const big = Uint8Array.from({ length: 300_000 }, (_, i) => i & 255);
      assert.equal(dealer.send([bytes("head"), big, bytes("")]), true);
      await pump.until(() => got.length === 101, 10_000, "101 echoes");
      assert.equal(dealer.connected, true);
      assert.deepEqual(
        got.slice(0, 100).map((f) => text(f[0])),
        [...Array(100)].map((_, i) => `m${i}`),
      );
      assert.deepEqual(seenByServer[100], ["head", "#300000", ""]);
      assert.equal(got[100].length, 3);
      assert.deepEqual(got[100][1], big);
    } finally {
      await shut(dealer);
    }
    assert.equal(dealer.send(bytes("after close")), false);
  });

  Deno.test(`ZmtpDealer reconnects by itself when its ROUTER comes back on the same port [${kind}]`, async () => {
    await using pump = new TestPump();
    const port = freePort();
    const endpoint = `tcp://127.0.0.1:${port}`;
    const bind = () =>
      RouterSocket.bind(pump, endpoint, (peer, frames) => void server.send(peer, frames));
    let server = await bind();
    const got: string[] = [];
    const errors: Error[] = [];
    const dealer = connect(endpoint, {
      onMessage: (frames) => got.push(text(frames[0])),
      onError: (e) => errors.push(e),
      reconnectMs: 20,
    });
    try {
      dealer.send(bytes("one"));
      await pump.until(() => got.length === 1, 10_000, "the first echo");
      server.close();
      await until(() => !dealer.connected, 10_000, "the dealer to see the ROUTER gone");
      server = await bind();
      await until(() => dealer.connected, 10_000, "the dealer back");
      dealer.send(bytes("two"));
      await pump.until(() => got.length === 2, 10_000, "the echo after the reconnect");
      assert.deepEqual(got, ["one", "two"]);
      assert.ok(errors.length >= 1, "the lost connection was reported");
    } finally {
      await shut(dealer);
      server.close();
    }
  });

  Deno.test(`ZmtpDealer answers a PING with a PONG carrying the ping's context [${kind}]`, async () => {
    let pongContext = "";
    await withRawServer(async (conn, read) => {
      const events: { name?: string; data?: Uint8Array }[] = [];
      const parser = new ZmtpParser(1 << 20, (e) => e.type === "command" && events.push(e));
      await conn.write(greeting());
      await conn.write(readyCommand({ "Socket-Type": "ROUTER" }));
      // TTL 0x000a, then the context the PONG must echo.
      await conn.write(commandFrame("PING", Uint8Array.of(0, 10, ...bytes("ctx-42"))));
      while (!events.some((e) => e.name === "PONG")) {
        const chunk = await read();
        if (chunk.length === 0) break;
        parser.push(chunk);
      }
      const pong = events.find((e) => e.name === "PONG");
      pongContext = pong ? text(pong.data!) : "";
    }, async (endpoint) => {
      const dealer = connect(endpoint, { onMessage: () => {} });
      try {
        await until(() => pongContext !== "", 10_000, "the PONG");
      } finally {
        await shut(dealer);
      }
    });
    assert.equal(pongContext, "ctx-42");
  });

  Deno.test(`ZmtpDealer refuses a peer that is not ZMTP, and one that sends an oversized frame [${kind}]`, async () => {
    for (
      const [name, reply] of [
        ["HTTP", bytes("HTTP/1.1 400 Bad Request\r\n".padEnd(64, " "))],
        ["oversized", [
          greeting(),
          readyCommand({ "Socket-Type": "ROUTER" }),
          frame(new Uint8Array(2000)),
        ]],
      ] as const
    ) {
      const errors: Error[] = [];
      const messages: Uint8Array[][] = [];
      await withRawServer(async (conn, read) => {
        for (const part of Array.isArray(reply) ? reply : [reply]) await conn.write(part);
        while ((await read()).length > 0) { /* until the dealer hangs up */ }
      }, async (endpoint) => {
        const dealer = connect(endpoint, {
          onMessage: (m) => messages.push(m),
          onError: (e) => errors.push(e),
          maxFrameSize: 1000,
          reconnectMs: 60_000,
        });
        try {
          await until(() => errors.length > 0, 10_000, `the ${name} peer refused`);
        } finally {
          await shut(dealer);
        }
      });
      assert.match(errors[0].message, name === "HTTP" ? /does not speak ZMTP/ : /2000 bytes/);
      assert.equal(messages.length, 0, name);
    }
  });

  Deno.test(`ZmtpDealer bounds what it queues while no peer answers [${kind}]`, async () => {
    const port = freePort(); // nothing listens: it keeps trying
    const dealer = connect(`tcp://127.0.0.1:${port}`, {
      onMessage: () => {},
      maxQueuedBytes: 1000,
      reconnectMs: 60_000,
    });
    try {
      let accepted = 0;
      while (dealer.send(new Uint8Array(98)) && accepted < 100) accepted++;
      assert.equal(accepted, 10, "ten frames of 100 bytes (98 + header) fill 1,000 bytes");
      assert.equal(dealer.connected, false);
    } finally {
      await shut(dealer);
    }
  });
}
