import assert from "node:assert/strict";
import { defaults, NODE_SCHEMA, type NodeConfig } from "../config/mod.ts";
import { encodeEnvelope, type Envelope, type WireFormat } from "../protocol/mod.ts";
import { TestPump } from "../../tests/support/transport/test_pump.ts";
import { RawWebSocket } from "../../tests/support/raw_websocket.ts";
import { NodeServer } from "./node_server.ts";

/** A free TCP port on 127.0.0.1 (http_port 0 means no HTTP, so tests pick one). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A single node, kept in memory, with HTTP on: everyone within aoe range of everyone. */
async function startNode(patch: (c: NodeConfig) => void = () => {}) {
  const config = defaults(NODE_SCHEMA);
  config.client_port = 0;
  config.http_port = freePort();
  config.data_dir = "";
  config.log_level = "error";
  config.world.width = 20;
  config.world.height = 20;
  patch(config);
  const pump = new TestPump();
  const server = await NodeServer.start(config, { pump });
  return {
    server,
    url: `ws://127.0.0.1:${server.httpPort}/ws`,
    async [Symbol.asyncDispose]() {
      await server.close();
      await pump[Symbol.asyncDispose]();
    },
  };
}

function ok<T>(value: T | null | undefined, reply: Envelope): T {
  assert.ok(value, `unexpected reply ${JSON.stringify(reply)}`);
  return value;
}

for (const format of ["binary", "json"] as WireFormat[]) {
  const kind = format === "json" ? "text" : "binary";
  Deno.test(`/ws serves every operation in ${kind} messages, replies in the same kind`, async (t) => {
    await using node = await startNode();
    const alice = crypto.randomUUID();
    const bob = crypto.randomUUID();
    const a = await RawWebSocket.open(node.url);
    await using b = await RawWebSocket.open(node.url);
    let aliceLogin: { userId: number; token: string } = { userId: 0, token: "" };
    let bobId = 0;

    await t.step("login, and a second login refused", async () => {
      const reply = await a.request(alice, { login: {} }, format);
      const login = ok(reply.loginReply, reply);
      aliceLogin = { userId: login.userId!, token: login.sessionToken! };
      const again = await a.request(alice, { login: {} }, format);
      assert.equal(again.error?.code, "ALREADY_LOGGED_IN");
      const other = await b.request(bob, { login: {} }, format);
      bobId = ok(other.loginReply, other).userId!;
    });

    await t.step("setVelocity, queries, aoe, ping and status", async () => {
      const moved = await a.request(alice, { setVelocity: { vx: 3, vy: 4 } }, format);
      assert.equal(ok(moved.setVelocityReply, moved).user?.vx, 3);
      const tooFast = await a.request(alice, { setVelocity: { vx: 1e6, vy: 0 } }, format);
      assert.equal(tooFast.error?.code, "INVALID_ARGUMENT");
      const rect = await b.request(bob, { queryRect: { x1: 0, y1: 0, x2: 20, y2: 20 } }, format);
      const ids = ok(rect.queryReply, rect).users?.map((u) => u.id).sort();
      assert.deepEqual(ids, [aliceLogin.userId, bobId].sort());
      const circle = await b.request(bob, { queryCircle: { x: 10, y: 10, radius: 20 } }, format);
      assert.equal(ok(circle.queryReply, circle).total, 2);
      const aoe = await a.request(alice, { aoe: { radius: 50, amount: 7 } }, format);
      assert.deepEqual(ok(aoe.aoeReply, aoe).userIds, [bobId]);
      const pong = await a.request(alice, { ping: { clientTimeMs: 1 } }, format);
      assert.equal(ok(pong.pong, pong).role, "ROLE_SINGLE");
      const status = await a.request(alice, { status: { withChecksum: true } }, format);
      assert.equal(ok(status.statusReply, status).load?.sessions, 2);
      assert.equal(node.server.transports.ws.open, 2);
    });

    await t.step(
      "a closed socket's user lingers; a new socket resumes it with its token",
      async () => {
        await a.close();
        await waitFor(() => node.server.node.load().sessions === 1, "the session dropped");
        assert.equal(node.server.node.state.world.size, 2, "the user lingers");
        await using again = await RawWebSocket.open(node.url);
        const resume = await again.request(alice, {
          login: { userId: aliceLogin.userId, sessionToken: aliceLogin.token },
        }, format);
        assert.equal(ok(resume.loginReply, resume).resumed, true);
        const bad = await again.request(crypto.randomUUID(), {
          login: { userId: aliceLogin.userId, sessionToken: "0".repeat(32) },
        }, format);
        assert.equal(bad.error?.code, "SESSION_INVALID");
        const out = await again.request(alice, { logout: {} }, format);
        assert.equal(ok(out.logoutReply, out).userId, aliceLogin.userId);
        const after = await again.request(alice, { setVelocity: { vx: 1, vy: 0 } }, format);
        assert.equal(after.error?.code, "NOT_LOGGED_IN");
      },
    );

    await t.step("the node's counters count WebSockets apart from ZeroMQ", () => {
      const counters = node.server.counters;
      assert.equal(counters.wsAccepted, 3);
      assert.equal(counters.wsDisconnects, 2, "the first socket and the resuming one");
      assert.equal(node.server.transports.zmq.accepted, 0);
    });
  });
}

Deno.test("/ws answers bad input with a clear error, closes on the hard cap, and keeps serving", async (t) => {
  await using node = await startNode((c) => {
    c.clients.max_frame_bytes = 1024;
    c.clients.frame_disconnect_bytes = 4096;
  });
  const id = crypto.randomUUID();

  await t.step("a plain GET gets 426 with a reason", async () => {
    const response = await fetch(node.url.replace("ws:", "http:"));
    assert.equal(response.status, 426);
    assert.match((await response.json()).error, /WebSocket upgrade/);
  });

  await t.step("undecodable text and binary messages get BAD_FRAME in their kind", async () => {
    await using ws = await RawWebSocket.open(node.url);
    ws.send("hello");
    const text = await ws.reply("json");
    assert.equal(text.error?.code, "BAD_FRAME");
    assert.ok(text.error?.message);
    // Binary messages are protobuf, even when they look like JSON.
    ws.send(new TextEncoder().encode(JSON.stringify({ client_id: id, ping: {} })));
    assert.equal((await ws.reply("binary")).error?.code, "BAD_FRAME");
    ws.send(new Uint8Array([0xff, 0xff, 0xff]));
    assert.equal((await ws.reply("binary")).error?.code, "BAD_FRAME");
    ws.send(JSON.stringify({ client_id: id, request_id: 4, aoe: { radius: "far" } }));
    const invalid = await ws.reply("json");
    assert.equal(invalid.error?.code, "BAD_FRAME", JSON.stringify(invalid));
    ws.send(JSON.stringify({ client_id: id, request_id: 5, query_circle: { radius: 1e9 } }));
    assert.equal((await ws.reply("json")).error?.code, "INVALID_ARGUMENT");
    ws.send(JSON.stringify({ client_id: id, request_id: 6, discover: {} }));
    assert.equal((await ws.reply("json")).error?.code, "UNKNOWN_OPERATION");
  });

  await t.step(
    "over max_frame_bytes: FRAME_TOO_LARGE; over the hard cap: closed (1009)",
    async () => {
      await using ws = await RawWebSocket.open(node.url);
      ws.send("{" + " ".repeat(2000) + "}");
      const big = await ws.reply("json");
      assert.equal(big.error?.code, "FRAME_TOO_LARGE");
      ws.send(new Uint8Array(5000));
      const closed = await ws.closed;
      assert.equal(closed.code, 1009);
      assert.match(closed.reason, /frame_disconnect_bytes/);
      assert.equal(node.server.counters.wsTooLarge, 1);
    },
  );

  await t.step("the node still serves, and nothing reached the world", async () => {
    await using ws = await RawWebSocket.open(node.url);
    const pong = await ws.request(id, { ping: {} }, "binary");
    assert.ok(pong.pong);
    assert.equal(node.server.node.state.world.size, 0);
  });
});

Deno.test("/ws closes a silent socket after idle_timeout_ms; its user lingers for a resume", async () => {
  await using node = await startNode((c) => {
    c.clients.idle_timeout_ms = 300;
    c.clients.session_linger_ms = 60_000;
  });
  const id = crypto.randomUUID();
  const ws = await RawWebSocket.open(node.url);
  const login = (await ws.request(id, { login: {} }, "json")).loginReply!;
  // Pings keep it open past the timeout.
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 100));
    assert.ok((await ws.request(id, { ping: {} }, "json")).pong);
  }
  assert.ok(ws.open);
  const closed = await ws.closed;
  assert.equal(closed.code, 1000);
  assert.match(closed.reason, /idle_timeout_ms/);
  assert.equal(node.server.counters.wsIdleClosed, 1);
  await using again = await RawWebSocket.open(node.url);
  const resume = await again.request(id, {
    login: { userId: login.userId, sessionToken: login.sessionToken },
  }, "json");
  assert.equal(resume.loginReply?.resumed, true, JSON.stringify(resume));
});

Deno.test("/ws bounds the replies a socket holds unsent like the ZeroMQ port", async () => {
  await using node = await startNode((c) => {
    c.world.width = 100;
    c.world.height = 100;
    c.clients.send_hwm = 5;
    c.clients.max_backlog_bytes = 65_536;
    c.clients.max_requests_per_second = 1_000_000;
    c.clients.max_requests_per_connection = 10_000_000;
  });
  const state = node.server.node.state;
  for (let i = 0; i < 1000; i++) state.login((i % 100) + 0.5, i / 10, "ab".repeat(16));
  await using ws = await RawWebSocket.open(node.url);
  const id = crypto.randomUUID();
  // 200 queries listing 1,000 users each (~50 KB a reply), sent before reading any reply.
  for (let i = 1; i <= 200; i++) {
    ws.send(
      encodeEnvelope({ clientId: id, requestId: i, queryRect: { x1: 0, y1: 0, x2: 100, y2: 100 } }),
    );
  }
  // Every request is answered, or dropped unread (stalled), or its reply dropped (overflowed).
  let replies = 0;
  const accounted = () => {
    const now = node.server.counters;
    return replies + now.stalled + now.wsOverflowed;
  };
  while (accounted() < 200) {
    await ws.next(10_000);
    replies++;
  }
  const counters = node.server.counters;
  assert.equal(accounted(), 200, JSON.stringify(counters));
  assert.ok(replies >= 5 && replies < 200, `${replies} replies`);
  assert.ok(counters.stalled > 0, JSON.stringify(counters));
  assert.equal(counters.dropped, counters.wsOverflowed, "a reply dropped is one overflowed");
  // Once it reads, it is served again.
  assert.ok((await ws.request(id, { ping: {} }, "binary")).pong);
});

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
