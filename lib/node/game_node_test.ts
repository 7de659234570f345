import assert from "node:assert/strict";
import { A, assertError, B, C, Harness, PEER_1, PEER_2, PEER_3 } from "./_game_node_harness.ts";
import { SinglePlane } from "./single_plane.ts";
import type { ForwardedWrite } from "./write_path.ts";
import { defaults, NODE_SCHEMA } from "../config/mod.ts";
import { DELAY_BUCKETS, DELAY_EDGES_MS, delayPercentile } from "../metrics/mod.ts";
import {
  decodeEnvelope,
  detectFormat,
  encodeEnvelope,
  type Envelope,
  type WireFormat,
} from "../protocol/mod.ts";

Deno.test("handleFrame() serves a login, query, aoe and logout flow", async (t) => {
  for (const format of ["binary", "json"] as WireFormat[]) {
    await t.step(`in ${format}`, () => {
      const h = new Harness((c) => {
        c.world.initial_money = 500;
        c.world.max_aoe_radius = 2000;
      });
      const first = h.call(A, PEER_1, { login: {} }, 0, format).loginReply!;
      assert.equal(first.userId, 1);
      assert.match(first.sessionToken!, /^[0-9a-f]{32}$/);
      assert.ok(!first.resumed);
      assert.equal(first.user?.id, 1);
      assert.equal(first.user?.money, 500);
      const x = first.user!.x!;
      const y = first.user!.y!;
      assert.ok(x >= 0 && x < 1000 && y >= 0 && y < 1000);

      const second = h.call(B, PEER_2, { login: {} }, 1, format).loginReply!;
      assert.equal(second.userId, 2);
      assert.notEqual(second.sessionToken, first.sessionToken);

      const all = h.call(C, PEER_3, { queryRect: { x1: 0, y1: 0, x2: 1000, y2: 1000 } }, 2, format);
      assert.equal(all.msg, "queryReply");
      assert.equal(all.queryReply?.total, 2);
      assert.deepEqual(all.queryReply?.users?.map((u) => u.id).sort(), [1, 2]);

      const near = h.call(C, PEER_3, { queryCircle: { x, y, radius: 0 } }, 3, format);
      assert.deepEqual(near.queryReply?.users, [first.user]);

      const velocity = h.call(A, PEER_1, { setVelocity: { vx: 3, vy: -4 } }, 4, format);
      assert.deepEqual(velocity.setVelocityReply?.user, { ...first.user, vx: 3, vy: -4 });

      const aoe = h.call(A, PEER_1, { aoe: { radius: 2000, amount: -25 } }, 5, format);
      assert.deepEqual(aoe.aoeReply, { userIds: [2], total: 1 });
      const b = h.call(C, PEER_3, { queryRect: { x1: 0, y1: 0, x2: 1000, y2: 1000 } }, 6, format)
        .queryReply?.users?.find((u) => u.id === 2);
      assert.equal(b?.money, 475);

      const bye = h.call(A, PEER_1, { logout: {} }, 7, format);
      assert.deepEqual(bye.logoutReply, { userId: 1 });
      assertError(h.call(A, PEER_1, { setVelocity: {} }, 8, format), "NOT_LOGGED_IN");
      const left = h.call(
        C,
        PEER_3,
        { queryRect: { x1: 0, y1: 0, x2: 1000, y2: 1000 } },
        9,
        format,
      );
      assert.deepEqual(left.queryReply?.users?.map((u) => u.id), [2]);
      assert.equal(h.node.load().sessions, 1);
      assert.equal(h.node.load().users, 1);
    });
  }
});

Deno.test("handleFrame() refuses writes before login with NOT_LOGGED_IN", () => {
  const h = new Harness();
  for (const body of [{ logout: {} }, { setVelocity: { vx: 1 } }, { aoe: { radius: 1 } }]) {
    assertError(h.call(A, PEER_1, body, 0), "NOT_LOGGED_IN", /needs a logged-in user/);
  }
  assert.equal(h.node.state.pendingOps, 0);
  // Reads need no login.
  assert.equal(h.call(A, PEER_1, { queryCircle: { radius: 5 } }, 0).msg, "queryReply");
  assert.equal(h.call(A, PEER_1, { status: {} }, 0).msg, "statusReply");
});

Deno.test("handleFrame() rejects a frame above max_frame_bytes with FRAME_TOO_LARGE", async (t) => {
  const h = new Harness((c) => (c.clients.max_frame_bytes = 64));
  await t.step("binary", () => {
    const frame = encodeEnvelope({
      clientId: A,
      requestId: 1,
      queryRect: { x1: 1, y1: 2, x2: 3, y2: 4 },
    });
    assert.ok(frame.length > 64);
    const replies = h.frames(PEER_1, [frame], 0);
    assert.equal(replies.length, 1);
    assertError(
      replies[0],
      "FRAME_TOO_LARGE",
      new RegExp(`Frame of ${frame.length} bytes exceeds max_frame_bytes 64`),
    );
  });
  await t.step("JSON, answered in JSON", () => {
    const frame = new TextEncoder().encode(
      JSON.stringify({ clientId: A, ping: {}, pad: "x".repeat(100) }),
    );
    const replies = h.frames(PEER_1, [frame], 0);
    assertError(replies[0], "FRAME_TOO_LARGE");
    assert.equal(detectFormat(h.sent[h.sent.length - 1].frame), "json");
  });
  await t.step("exactly max_frame_bytes passes", () => {
    const frame = new TextEncoder().encode(`{"clientId":"${A}","ping":{}}`.padEnd(64, " "));
    assert.equal(frame.length, 64);
    assert.equal(h.frames(PEER_1, [frame], 0)[0].msg, "pong");
  });
  assert.equal(h.node.counters.badFrames, 2);
  assert.equal(h.node.clients.connections, 1);
});

Deno.test("handleFrame() rejects a message of several frames, or none, with BAD_FRAME", () => {
  const h = new Harness();
  const frame = encodeEnvelope({ clientId: A, requestId: 1, ping: {} });
  for (const frames of [[frame, frame], [new Uint8Array(), frame], []]) {
    const replies = h.frames(PEER_1, frames, 0);
    assert.equal(replies.length, 1);
    assertError(replies[0], "BAD_FRAME", /exactly one frame/);
    assert.ok(!replies[0].requestId);
  }
  assert.equal(h.node.counters.badFrames, 3);
  assert.equal(h.node.clients.connections, 0);
});

Deno.test("handleFrame() answers an undecodable frame with BAD_FRAME and no client id", () => {
  const h = new Harness();
  const cases = [
    new TextEncoder().encode(`{"clientId":"${A}","ping":{},"pong":{}}`),
    new TextEncoder().encode(`{"clientId":`),
    new TextEncoder().encode(`{"constructor":1}`),
    new Uint8Array([0x0a, 0x30, 0x61]),
  ];
  for (const frame of cases) {
    const replies = h.frames(PEER_1, [frame], 0);
    assert.equal(replies.length, 1);
    assertError(replies[0], "BAD_FRAME");
    assert.ok(!replies[0].clientId);
  }
  assert.equal(h.node.counters.badFrames, cases.length);
  assert.equal(h.node.clients.connections, 0);
});

Deno.test("handleFrame() answers an invalid request with its code, echoing the ids", () => {
  const h = new Harness((c) => (c.world.max_speed = 5));
  assertError(h.call(A, PEER_1, { queryCircle: { radius: -1 } }, 0), "INVALID_ARGUMENT", /radius/);
  assertError(h.call(A, PEER_1, { setVelocity: { vx: NaN } }, 0), "INVALID_ARGUMENT", /finite/);
  assertError(h.call(A, PEER_1, { setVelocity: { vx: 6 } }, 0), "INVALID_ARGUMENT", /max_speed 5/);
  assertError(h.call(A, PEER_1, { loginReply: {} }, 0), "UNKNOWN_OPERATION", /is a reply/);
  assertError(h.call(A, PEER_1, {}, 0), "UNKNOWN_OPERATION", /no request/);
  assertError(h.call(A, PEER_1, { discover: {} }, 0), "UNKNOWN_OPERATION", /registry/);
  const replies = h.frames(PEER_1, [encodeEnvelope({ clientId: "me", requestId: 5, ping: {} })], 0);
  assertError(replies[0], "INVALID_ARGUMENT", /client_id must be a UUID/);
  assert.equal(replies[0].clientId, "me");
  assert.equal(replies[0].requestId, 5);
  assert.equal(h.node.counters.errors, 7);
});

Deno.test("handleFrame() answers ping and status", () => {
  const h = new Harness((c) => (c.node_id = "node-7"));
  const pong = h.call(A, PEER_1, { ping: { clientTimeMs: 1234.5 } }, 0).pong!;
  assert.equal(pong.clientTimeMs, 1234.5);
  assert.equal(pong.nodeId, "node-7");
  assert.equal(pong.role, "ROLE_SINGLE");
  assert.equal(typeof pong.serverTimeMs, "number");
  h.login(B, PEER_2, 0);
  h.node.tick(20);
  h.node.tick(40);
  const status = h.call(A, PEER_1, { status: { withChecksum: true } }, 2500).statusReply!;
  assert.equal(status.nodeId, "node-7");
  assert.equal(status.role, "ROLE_SINGLE");
  assert.equal(status.tick, 2);
  assert.equal(status.uptimeS, 2.5);
  assert.equal(status.checksum, h.node.state.checksum());
  // A routine status poll does not pay for a pass over every user.
  const plain = h.call(A, PEER_1, { status: {} }, 2500).statusReply!;
  assert.equal(plain.checksum ?? 0, 0);
  assert.deepEqual(
    {
      connections: status.load?.connections,
      users: status.load?.users,
      sessions: status.load?.sessions,
    },
    { connections: 2, users: 1, sessions: 1 },
  );
});

Deno.test("status carries how late ticks started, cumulative per delay bucket", () => {
  const h = new Harness();
  h.node.recordTickStart(0.2, 0.1);
  h.node.recordTickStart(60, 0.3); // request handling held the loop 60 ms past the tick's time
  const load = h.call(A, PEER_1, { status: {} }, 0).statusReply!.load!;
  const late = load.tickLateCounts ?? [];
  assert.equal(late.length, DELAY_BUCKETS);
  assert.equal(late.reduce((a, b) => a + b), 2);
  assert.equal(late[DELAY_EDGES_MS.indexOf(75)], 1, "60 ms is in (50, 75]");
  assert.equal(delayPercentile(late, 100), 75);
  assert.equal(delayPercentile(load.loopLagCounts ?? [], 100), 0.5);
});

Deno.test("load().connections counts clients that have not logged in", () => {
  const h = new Harness();
  h.call(A, PEER_1, { ping: {} }, 0);
  h.call(B, PEER_2, { queryRect: {} }, 0);
  h.login(C, PEER_3, 0);
  assert.deepEqual(
    { ...h.node.load(), tick: undefined },
    { connections: 3, sessions: 1, users: 1, tick: undefined },
  );
});

Deno.test("handleFrame() on a slave forwards writes, or answers UNAVAILABLE without a master", async (t) => {
  let forward: ((write: ForwardedWrite) => boolean) | undefined;
  const h = new Harness((c) => {
    c.mode = "cluster";
    c.role = "slave";
  }, { writePath: { forward: (write) => forward?.(write) ?? false } });
  assert.equal(h.node.role, "ROLE_SLAVE");
  assert.equal(h.node.authoritative, false);
  await t.step("no master reachable", () => {
    assertError(h.call(A, PEER_1, { login: {} }, 0), "UNAVAILABLE", /No master/);
    assert.equal(h.call(A, PEER_1, { queryRect: {} }, 0).msg, "queryReply");
  });
  await t.step("the master's reply binds the session", () => {
    const forwarded: Envelope[] = [];
    forward = (write) => {
      forwarded.push(write.request);
      write.done({
        clientId: write.clientId,
        requestId: write.requestId,
        loginReply: { userId: 42, sessionToken: "ab".repeat(16) },
      });
      return true;
    };
    const reply = h.call(A, PEER_1, { login: {} }, 1);
    assert.equal(reply.loginReply?.userId, 42);
    assert.equal(forwarded.length, 1);
    assert.equal(forwarded[0].clientId, A);
    assert.ok(forwarded[0].login);
    assert.equal(h.node.clients.get(A)?.userId, 42);
    assert.equal(h.node.load().sessions, 1);
  });
});

Deno.test("handleFrame() on a fenced master refuses writes with UNAVAILABLE", () => {
  const h = new Harness(undefined, { writePath: { canAcknowledge: () => false } });
  assertError(h.call(A, PEER_1, { login: {} }, 0), "UNAVAILABLE", /fenced/);
  assert.equal(h.node.state.world.size, 0);
  assert.equal(h.node.load().sessions, 0);
});

Deno.test("handleFrame() replies to a write once it is durable", () => {
  const pending: ((seq: number) => void)[] = [];
  const h = new Harness((c) => (c.mode = "cluster"), {
    writePath: { whenDurable: (ack) => pending.push(ack) },
  });
  h.node.becomeMaster(4);
  const start = h.sent.length;
  h.node.handleFrame(PEER_1, [encodeEnvelope({ clientId: A, requestId: 9, login: {} })], 0);
  assert.equal(h.sent.length, start);
  assert.equal(pending.length, 1);
  pending[0](17);
  const reply = decodeEnvelope(h.sent[h.sent.length - 1].frame);
  assert.equal(reply.requestId, 9);
  assert.equal(reply.loginReply?.userId, 1);
  // The reply names who acknowledged it, in which epoch and update.
  assert.deepEqual(reply.writeAck, { epoch: 4, masterId: h.config.node_id, seq: 17 });
  assert.equal(h.node.load().sessions, 1);
});

Deno.test("a single node that persists replies once the write is on disk, without writeAck", () => {
  const pending: ((seq: number) => void)[] = [];
  const h = new Harness(undefined, { writePath: { whenDurable: (ack) => pending.push(ack) } });
  h.node.handleFrame(PEER_1, [encodeEnvelope({ clientId: A, requestId: 3, login: {} })], 0);
  assert.equal(pending.length, 1);
  pending[0](1);
  const reply = decodeEnvelope(h.sent[h.sent.length - 1].frame);
  assert.equal(reply.loginReply?.userId, 1);
  assert.equal(reply.writeAck, undefined);
});

Deno.test("handleFrame() counts replies the transport dropped", () => {
  const h = new Harness(() => {}, { accept: false });
  h.node.handleFrame(PEER_1, [encodeEnvelope({ clientId: A, requestId: 1, ping: {} })], 0);
  assert.equal(h.node.counters.dropped, 1);
  assert.equal(h.node.counters.requests, 1);
});

Deno.test("broadcastNotice() sends a notice to every client in its own format", () => {
  const h = new Harness();
  h.call(A, PEER_1, { ping: {} }, 0, "json");
  h.login(B, PEER_2, 0);
  const start = h.sent.length;
  h.node.broadcastNotice("NOTICE_KIND_SHUTDOWN", "Going away");
  const sent = h.sent.slice(start);
  assert.deepEqual(sent.map((s) => detectFormat(s.frame)).sort(), ["binary", "json"]);
  for (const s of sent) {
    const notice = decodeEnvelope(s.frame);
    assert.equal(notice.msg, "notice");
    assert.deepEqual(notice.notice, { kind: "NOTICE_KIND_SHUTDOWN", message: "Going away" });
    assert.ok(!notice.requestId);
  }
});

Deno.test("a login that fails with an exception does not keep its client id from logging in", () => {
  let broken = true;
  const h = new Harness((c) => {
    c.mode = "cluster";
    c.role = "slave";
  }, {
    writePath: {
      forward: (write) => {
        if (broken) throw new Error("link broke");
        write.done({
          clientId: write.clientId,
          requestId: write.requestId,
          loginReply: { userId: 3 },
        });
        return true;
      },
    },
  });
  assertError(h.call(A, PEER_1, { login: {} }, 0), "INTERNAL");
  broken = false;
  assert.equal(h.call(A, PEER_1, { login: {} }, 1).loginReply?.userId, 3);
});

Deno.test("SinglePlane drains a single node's op log after each tick, with or without a journal", () => {
  // Nothing publishes a single node's op log: kept, it would grow with every write forever. The
  // plane takes each tick's ops (into the journal when there is one) so the node never does.
  const plane = new SinglePlane({ config: defaults(NODE_SCHEMA), persists: false });
  const h = new Harness(undefined, { writePath: plane.writePath });
  plane.attach(h.node, undefined);
  h.login(A, PEER_1, 0);
  h.call(A, PEER_1, { setVelocity: { vx: 1, vy: 0 } }, 0);
  assert.equal(h.node.state.pendingOps, 2);
  h.node.tick(20);
  assert.equal(h.node.state.pendingOps, 2, "the node's tick leaves them to the plane");
  plane.afterTick(20);
  assert.equal(h.node.state.pendingOps, 0);
});
