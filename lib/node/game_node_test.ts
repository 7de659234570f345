import assert from "node:assert/strict";
import { type ForwardedWrite, GameNode, type WritePath } from "./game_node.ts";
import { SinglePlane } from "./single_plane.ts";
import { defaults, NODE_SCHEMA, type NodeConfig } from "../config/mod.ts";
import {
  decodeEnvelope,
  detectFormat,
  encodeEnvelope,
  type Envelope,
  type ErrorCode,
  type WireFormat,
} from "../protocol/mod.ts";
import { mulberry32 } from "../random/mod.ts";
import { DELAY_BUCKETS, DELAY_EDGES_MS, delayPercentile } from "../metrics/mod.ts";

const A = "0f8fad5b-d9cb-469f-a165-70867728950e";
const B = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const C = "16fd2706-8baf-433b-82eb-8c7fada847da";
const PEER_1 = new Uint8Array([0, 0, 0, 1]);
const PEER_2 = new Uint8Array([0, 0, 0, 2]);
const PEER_3 = new Uint8Array([0, 0, 0, 3]);

const seeded = mulberry32;

interface Sent {
  peer: Uint8Array;
  frame: Uint8Array;
}

/** A node with a fake transport that collects every frame it sends. */
class Harness {
  readonly node: GameNode;
  readonly config: NodeConfig;
  readonly sent: Sent[] = [];
  #requestId = 0;

  constructor(
    patch: (config: NodeConfig) => void = () => {},
    options: {
      accept?: boolean;
      writePath?: WritePath;
      backlogBytes?: (peer: Uint8Array) => number;
    } = {},
  ) {
    this.config = defaults(NODE_SCHEMA);
    this.config.world.width = 1000;
    this.config.world.height = 1000;
    patch(this.config);
    this.node = new GameNode({
      config: this.config,
      send: (peer, frame) => {
        this.sent.push({ peer, frame });
        return options.accept ?? true;
      },
      random: seeded(1),
      writePath: options.writePath,
      backlogBytes: options.backlogBytes,
    }, 0);
  }

  /** Feeds raw frames to the node and returns the replies it sent, decoded. */
  frames(peer: Uint8Array, frames: Uint8Array[], now: number): Envelope[] {
    const start = this.sent.length;
    this.node.handleFrame(peer, frames, now);
    return this.sent.slice(start).map((s) => {
      assert.deepEqual(s.peer, peer, "a reply goes back to the peer that asked");
      return decodeEnvelope(s.frame);
    });
  }

  /** Sends one request from `clientId` on `peer` and returns its single reply. */
  call(
    clientId: string,
    peer: Uint8Array,
    body: Envelope,
    now: number,
    format: WireFormat = "binary",
  ): Envelope {
    const requestId = ++this.#requestId;
    const frame = encodeEnvelope({ clientId, requestId, ...body }, format);
    const replies = this.frames(peer, [frame], now);
    assert.equal(replies.length, 1, "one reply per request");
    assert.equal(detectFormat(this.sent[this.sent.length - 1].frame), format, "reply format");
    assert.equal(replies[0].clientId, clientId);
    assert.equal(replies[0].requestId, requestId);
    return replies[0];
  }

  login(clientId: string, peer: Uint8Array, now: number) {
    const reply = this.call(clientId, peer, { login: {} }, now);
    assert.equal(reply.msg, "loginReply", JSON.stringify(reply.error));
    return reply.loginReply!;
  }
}

function assertError(reply: Envelope, code: ErrorCode, pattern?: RegExp): void {
  assert.equal(reply.msg, "error", `expected ${code}, got ${reply.msg}`);
  assert.equal(reply.error?.code, code, reply.error?.message ?? "");
  if (pattern) assert.match(reply.error?.message ?? "", pattern);
}

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

Deno.test("handleFrame() refuses a second login on one connection with ALREADY_LOGGED_IN", () => {
  const h = new Harness();
  h.login(A, PEER_1, 0);
  const again = h.call(A, PEER_1, { login: {} }, 1);
  assertError(again, "ALREADY_LOGGED_IN", /Already logged in as user 1/);
  assert.equal(h.node.state.world.size, 1);
});

Deno.test("handleFrame() resumes a user with its token, from another connection too", async (t) => {
  const h = new Harness();
  const first = h.login(A, PEER_1, 0);
  await t.step("the same client on a new connection must resume", () => {
    assertError(h.call(A, PEER_2, { setVelocity: { vx: 1 } }, 1), "NOT_LOGGED_IN");
    const resumed = h.call(A, PEER_2, {
      login: { userId: first.userId, sessionToken: first.sessionToken },
    }, 2).loginReply!;
    assert.equal(resumed.resumed, true);
    assert.equal(resumed.userId, first.userId);
    assert.equal(h.call(A, PEER_2, { setVelocity: { vx: 1 } }, 3).msg, "setVelocityReply");
  });
  await t.step("a wrong token gets SESSION_INVALID", () => {
    const reply = h.call(B, PEER_3, {
      login: { userId: first.userId, sessionToken: "0".repeat(32) },
    }, 4);
    assertError(reply, "SESSION_INVALID", /cannot be resumed/);
    assert.equal(h.node.load().sessions, 1);
  });
  await t.step("an unknown user gets SESSION_INVALID", () => {
    assertError(
      h.call(B, PEER_3, { login: { userId: 99, sessionToken: first.sessionToken } }, 5),
      "SESSION_INVALID",
    );
  });
});

Deno.test("handleFrame() replies WORLD_FULL when the world holds max_users", () => {
  const h = new Harness((c) => (c.world.max_users = 1));
  h.login(A, PEER_1, 0);
  assertError(h.call(B, PEER_2, { login: {} }, 1), "WORLD_FULL");
  assert.equal(h.node.load().sessions, 1);
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

Deno.test("handleFrame() limits each client to max_requests_per_second with RATE_LIMITED", () => {
  const h = new Harness((c) => (c.clients.max_requests_per_second = 2));
  assert.equal(h.call(A, PEER_1, { ping: {} }, 0).msg, "pong");
  assert.equal(h.call(A, PEER_1, { ping: {} }, 10).msg, "pong");
  assertError(
    h.call(A, PEER_1, { ping: {} }, 20),
    "RATE_LIMITED",
    /More than 2 requests \(work units\) per second for this client id/,
  );
  assertError(h.call(A, PEER_1, { login: {} }, 300), "RATE_LIMITED");
  assert.equal(h.node.state.world.size, 0);
  // Another client is not affected, and the budget refills with the time (2 per second).
  assert.equal(h.call(B, PEER_2, { ping: {} }, 30).msg, "pong");
  assert.equal(h.call(A, PEER_1, { ping: {} }, 1000).msg, "pong");
  assert.equal(h.node.counters.rateLimited, 2);
});

Deno.test("handleFrame() refuses new clients beyond max_clients with UNAVAILABLE", () => {
  const h = new Harness((c) => (c.clients.max_clients = 2));
  h.call(A, PEER_1, { ping: {} }, 0);
  h.call(B, PEER_2, { ping: {} }, 0);
  assertError(h.call(C, PEER_3, { ping: {} }, 0), "UNAVAILABLE", /max_clients/);
  assert.equal(h.call(A, PEER_1, { ping: {} }, 0).msg, "pong");
  assert.equal(h.node.load().connections, 2);
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

Deno.test("tick() drops clients idle past idle_timeout_ms", () => {
  const h = new Harness((c) => (c.clients.idle_timeout_ms = 1000));
  h.login(A, PEER_1, 0);
  h.call(B, PEER_2, { ping: {} }, 0);
  h.call(C, PEER_3, { ping: {} }, 0);
  for (let now = 100; now <= 3000; now += 100) {
    h.call(C, PEER_3, { ping: {} }, now);
    h.node.tick(now);
  }
  assert.equal(h.node.load().connections, 1);
  assert.equal(h.node.load().sessions, 0);
  assert.equal(h.node.clients.get(A), undefined);
  assert.ok(h.node.clients.get(C));
  // The dropped client's user stays for a resume meanwhile.
  assert.equal(h.node.load().users, 1);
  // A dropped client that speaks again starts unauthenticated.
  assertError(h.call(A, PEER_1, { setVelocity: {} }, 3100), "NOT_LOGGED_IN");
});

Deno.test("tick() removes a dropped client's user after session_linger_ms unless it resumes", async (t) => {
  const setup = () => {
    const h = new Harness((c) => {
      c.clients.idle_timeout_ms = 1000;
      c.clients.session_linger_ms = 5000;
    });
    const login = h.login(A, PEER_1, 0);
    // Find when the client is dropped, tick by tick.
    let dropped = 0;
    for (let now = 10; !dropped; now += 10) {
      h.node.tick(now);
      if (!h.node.clients.get(A)) dropped = now;
    }
    assert.ok(dropped >= 1000 && dropped <= 1200, `dropped at ${dropped}`);
    return { h, login, dropped };
  };
  await t.step("without a resume the user goes at the deadline", () => {
    const { h, login, dropped } = setup();
    h.node.tick(dropped + 4999);
    assert.ok(h.node.state.world.has(login.userId!));
    h.node.tick(dropped + 5000);
    assert.ok(!h.node.state.world.has(login.userId!));
    assertError(
      h.call(
        A,
        PEER_1,
        { login: { userId: login.userId, sessionToken: login.sessionToken } },
        dropped + 5001,
      ),
      "SESSION_INVALID",
    );
  });
  await t.step("a resume before the deadline keeps the user", () => {
    const { h, login, dropped } = setup();
    const resumed = h.call(A, PEER_2, {
      login: { userId: login.userId, sessionToken: login.sessionToken },
    }, dropped + 4000);
    assert.equal(resumed.loginReply?.resumed, true);
    for (let now = dropped + 4000; now <= dropped + 20_000; now += 500) {
      h.call(A, PEER_2, { ping: {} }, now);
      h.node.tick(now);
    }
    assert.ok(h.node.state.world.has(login.userId!));
    assert.equal(h.node.load().sessions, 1);
  });
  await t.step("a resume by another client keeps the user too", () => {
    const { h, login, dropped } = setup();
    const resumed = h.call(B, PEER_3, {
      login: { userId: login.userId, sessionToken: login.sessionToken },
    }, dropped + 10);
    assert.equal(resumed.loginReply?.resumed, true);
    h.call(B, PEER_3, { ping: {} }, dropped + 900);
    h.node.tick(dropped + 5000);
    h.node.tick(dropped + 6000);
    assert.ok(h.node.state.world.has(login.userId!));
  });
  await t.step("session_linger_ms 0 removes the user at the drop", () => {
    const h = new Harness((c) => {
      c.clients.idle_timeout_ms = 1000;
      c.clients.session_linger_ms = 0;
    });
    h.login(A, PEER_1, 0);
    h.node.tick(5000);
    assert.equal(h.node.load().users, 0);
  });
  await t.step("a slave asks the master to expire its dropped clients' users", () => {
    const asked: [number, number][] = [];
    const h = new Harness((c) => {
      c.mode = "cluster";
      c.role = "slave";
      c.clients.idle_timeout_ms = 1000;
      c.clients.session_linger_ms = 0;
    }, { writePath: { expire: (userId, generation) => asked.push([userId, generation]) } });
    const id = h.node.state.login(1, 1, "ab".repeat(16));
    assert.ok(id.ok);
    const connection = h.node.clients.connect(PEER_1, 0);
    assert.equal(connection.type, "ok");
    if (connection.type !== "ok") return;
    const entry = h.node.clients.admit(A, connection.connection, "binary", 0);
    assert.equal(entry.type, "ok");
    if (entry.type === "ok") h.node.clients.bind(entry.entry, id.userId);
    h.node.tick(5000);
    h.node.tick(10_000);
    assert.equal(h.node.load().connections, 0);
    // The slave's world changes only through the master's updates.
    assert.equal(h.node.load().users, 1);
    assert.equal(h.node.tickCount, 0);
    assert.deepEqual(asked, [[id.userId, 0]]);
  });
});

Deno.test("tick() removes the user of a client that reconnected and then went silent", async (t) => {
  const setup = () => {
    const h = new Harness((c) => {
      c.clients.idle_timeout_ms = 1000;
      c.clients.session_linger_ms = 5000;
    });
    const login = h.login(A, PEER_1, 0);
    // The client reconnects; its first request on the new connection is not a resume: it is
    // answered, and the session stays on the old connection until a resume moves it.
    assert.equal(h.call(A, PEER_2, { ping: {} }, 100).msg, "pong");
    assert.equal(h.node.load().sessions, 1);
    return { h, login };
  };
  await t.step("without a resume the user goes after session_linger_ms", () => {
    const { h, login } = setup();
    for (let now = 200; now <= 20_000; now += 100) h.node.tick(now);
    assert.equal(h.node.load().connections, 0);
    assert.ok(!h.node.state.world.has(login.userId!));
  });
  await t.step("a resume keeps it", () => {
    const { h, login } = setup();
    const resumed = h.call(A, PEER_2, {
      login: { userId: login.userId, sessionToken: login.sessionToken },
    }, 200);
    assert.equal(resumed.loginReply?.resumed, true);
    for (let now = 300; now <= 20_000; now += 100) {
      h.call(A, PEER_2, { ping: {} }, now);
      h.node.tick(now);
    }
    assert.ok(h.node.state.world.has(login.userId!));
  });
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

/** A slave whose forwarded writes wait until the test answers them (as the master would). */
function slaveHarness(patch: (config: NodeConfig) => void = () => {}) {
  const forwarded: ForwardedWrite[] = [];
  const h = new Harness((c) => {
    c.mode = "cluster";
    c.role = "slave";
    patch(c);
  }, {
    writePath: {
      forward: (write) => {
        forwarded.push(write);
        return true;
      },
    },
  });
  h.node.becomeSlave("master", 1);
  return { h, forwarded };
}

/** The master's answer to a forwarded login. */
function loginDone(write: ForwardedWrite, userId: number, generation = 0): void {
  write.done({
    clientId: write.clientId,
    requestId: write.requestId,
    loginReply: { userId, sessionToken: "ab".repeat(16) },
  }, generation);
}

Deno.test("a reply goes to the connection that sent the request, never to the client id's thief", async (t) => {
  const { h, forwarded } = slaveHarness();
  const start = h.sent.length;
  h.node.handleFrame(PEER_1, [encodeEnvelope({ clientId: A, requestId: 1, login: {} })], 0);
  assert.equal(forwarded.length, 1);
  await t.step(
    "another connection using the id while the login is in flight gets nothing of it",
    () => {
      // Reads are answered to the thief itself; a login or write under the id is refused.
      assert.equal(h.call(A, PEER_2, { ping: {} }, 1).msg, "pong");
      assertError(h.call(A, PEER_2, { login: {} }, 2), "ALREADY_LOGGED_IN", /in flight/);
      assertError(h.call(A, PEER_2, { setVelocity: { vx: 1 } }, 3), "NOT_LOGGED_IN");
      assert.equal(forwarded.length, 1);
    },
  );
  await t.step("the login reply goes to the connection that asked", () => {
    loginDone(forwarded[0], 42);
    const replies = h.sent.slice(start).filter((s) => decodeEnvelope(s.frame).loginReply);
    assert.equal(replies.length, 1);
    assert.deepEqual(replies[0].peer, PEER_1);
    assert.equal(h.node.clients.get(A)?.userId, 42);
    assert.deepEqual(h.node.clients.get(A)?.connection.peer, PEER_1);
  });
  await t.step(
    "the session stays on its connection: the thief can neither log in nor write",
    () => {
      assertError(h.call(A, PEER_2, { login: {} }, 4), "ALREADY_LOGGED_IN", /another connection/);
      assertError(h.call(A, PEER_2, { aoe: { radius: 1, amount: 1 } }, 5), "NOT_LOGGED_IN");
      assert.equal(forwarded.length, 1);
      assert.ok(h.node.counters.foreign >= 5);
    },
  );
  await t.step("a resume with the session token moves the id to the new connection", () => {
    h.node.handleFrame(PEER_2, [
      encodeEnvelope({
        clientId: A,
        requestId: 9,
        login: { userId: 42, sessionToken: "ab".repeat(16) },
      }),
    ], 6);
    assert.equal(forwarded.length, 2);
    assert.equal(
      forwarded[1].userId,
      0,
      "a resume from elsewhere acts as no user until it succeeds",
    );
    loginDone(forwarded[1], 42, 1);
    assert.deepEqual(h.sent.at(-1)!.peer, PEER_2);
    assert.deepEqual(h.node.clients.get(A)?.connection.peer, PEER_2);
    assertError(h.call(A, PEER_1, { setVelocity: { vx: 1 } }, 7), "NOT_LOGGED_IN");
  });
});

Deno.test("pipelined logins under one client id create one user", async (t) => {
  await t.step("single mode", () => {
    const pending: ((seq: number) => void)[] = [];
    const h = new Harness(undefined, { writePath: { whenDurable: (ack) => pending.push(ack) } });
    for (let i = 1; i <= 20; i++) {
      h.node.handleFrame(PEER_1, [encodeEnvelope({ clientId: A, requestId: i, login: {} })], i);
    }
    assert.equal(pending.length, 1);
    assert.equal(h.node.state.world.size, 1);
    const refused = h.sent.map((s) => decodeEnvelope(s.frame));
    assert.equal(refused.length, 19);
    for (const r of refused) assert.equal(r.error?.code, "ALREADY_LOGGED_IN");
    pending[0](1);
    assert.equal(h.node.clients.get(A)?.userId, 1);
  });
  await t.step("through a slave", () => {
    const { h, forwarded } = slaveHarness();
    for (let i = 1; i <= 20; i++) {
      h.node.handleFrame(PEER_1, [encodeEnvelope({ clientId: A, requestId: i, login: {} })], i);
    }
    assert.equal(forwarded.length, 1);
    assert.equal(h.node.counters.loginsRefused, 19);
  });
});

Deno.test("a login whose client never learns the outcome leaves its user to expire", async (t) => {
  await t.step("the master applied it, then could not make it durable", () => {
    let fail: ((code: ErrorCode, message: string) => void) | undefined;
    const h = new Harness((c) => (c.clients.session_linger_ms = 1000), {
      writePath: { whenDurable: (_ack, f) => (fail = f) },
    });
    h.node.handleFrame(PEER_1, [encodeEnvelope({ clientId: A, requestId: 1, login: {} })], 0);
    assert.equal(h.node.state.world.size, 1);
    fail!("TIMEOUT", "no majority");
    assert.equal(decodeEnvelope(h.sent.at(-1)!.frame).error?.code, "TIMEOUT");
    assert.equal(h.node.clients.get(A)?.userId, 0);
    h.node.tick(500);
    assert.equal(h.node.state.world.size, 1);
    h.node.tick(1100);
    assert.equal(h.node.state.world.size, 0);
    assert.equal(h.node.counters.abandonedLogins, 1);
  });
  await t.step("the client id left before the reply came", () => {
    const asked: [number, number][] = [];
    const forwarded: ForwardedWrite[] = [];
    const h = new Harness((c) => {
      c.mode = "cluster";
      c.role = "slave";
      c.clients.idle_timeout_ms = 1000;
      c.clients.session_linger_ms = 1000;
    }, {
      writePath: {
        forward: (w) => forwarded.push(w) > 0,
        expire: (userId, generation) => asked.push([userId, generation]),
      },
    });
    h.node.becomeSlave("master", 1);
    h.node.handleFrame(PEER_1, [encodeEnvelope({ clientId: A, requestId: 1, login: {} })], 0);
    h.node.tick(3000);
    assert.equal(h.node.clients.get(A), undefined);
    loginDone(forwarded[0], 7, 3);
    // Still answered to the connection that asked; nobody holds the user.
    assert.equal(decodeEnvelope(h.sent.at(-1)!.frame).loginReply?.userId, 7);
    assert.equal(h.node.load().sessions, 0);
    h.node.tick(3500);
    h.node.tick(4500);
    assert.deepEqual(asked, [[7, 3]]);
  });
});

Deno.test("handleFrame() bounds what one connection may do", async (t) => {
  await t.step("client ids per connection: UNAVAILABLE beyond max_ids_per_connection", () => {
    const h = new Harness((c) => (c.clients.max_ids_per_connection = 2));
    h.call(A, PEER_1, { ping: {} }, 0);
    h.call(B, PEER_1, { ping: {} }, 0);
    assertError(h.call(C, PEER_1, { ping: {} }, 0), "UNAVAILABLE", /max_ids_per_connection/);
    assert.equal(h.call(C, PEER_2, { ping: {} }, 0).msg, "pong");
    assert.equal(h.node.counters.idsRefused, 1);
  });
  await t.step("new users per second: RATE_LIMITED beyond max_new_users_per_connection", () => {
    const h = new Harness((c) => (c.clients.max_new_users_per_connection = 2));
    h.login(A, PEER_1, 0);
    h.login(B, PEER_1, 0);
    assertError(h.call(C, PEER_1, { login: {} }, 0), "RATE_LIMITED", /new users per second/);
    assert.equal(h.node.state.world.size, 2);
    h.login(C, PEER_2, 0);
    h.login(C.replace("1", "2"), PEER_1, 600);
  });
  await t.step("work per second over all its client ids, then no answers at all", () => {
    const h = new Harness((c) => (c.clients.max_requests_per_connection = 50));
    const ids = Array.from({ length: 200 }, () => crypto.randomUUID());
    const start = h.sent.length;
    for (const id of ids) {
      h.node.handleFrame(PEER_1, [encodeEnvelope({ clientId: id, requestId: 1, ping: {} })], 0);
    }
    const replies = h.sent.slice(start).map((s) => decodeEnvelope(s.frame));
    // A bucket of 5 (a tenth of a second's worth), then 50 refusals answered, the rest dropped.
    assert.equal(replies.filter((r) => r.pong).length, 5);
    const limited = replies.filter((r) => r.error?.code === "RATE_LIMITED");
    assert.equal(limited.length, 50);
    assert.match(limited[0].error!.message!, /per second on this connection/);
    assert.equal(limited[0].clientId, ids[5], "a refusal still names the request");
    assert.equal(h.node.counters.unanswered, 145);
    assert.equal(h.call(A, PEER_2, { ping: {} }, 0).msg, "pong");
  });
});

Deno.test("handleFrame() charges queries by the users they match and list", () => {
  const h = new Harness((c) => {
    c.clients.max_requests_per_second = 300;
    c.world.max_query_results = 1000;
    c.world.max_users = 5000;
  });
  for (let i = 0; i < 4000; i++) h.node.state.login(i % 1000, i % 997, "ab".repeat(16));
  // 1 + 4,000 matched (4 units) + 1,000 listed (250 units): two whole-world queries spend more than
  // a second's budget, so the third is refused; a second later cheap requests are fine.
  const whole = { queryRect: { x1: 0, y1: 0, x2: 1000, y2: 1000 } };
  assert.equal(h.call(A, PEER_1, whole, 0).queryReply?.total, 4000);
  assert.equal(h.call(A, PEER_1, whole, 1).msg, "queryReply");
  assertError(h.call(A, PEER_1, whole, 2), "RATE_LIMITED");
  assert.equal(h.call(A, PEER_1, { ping: {} }, 1000).msg, "pong");
  // A small query costs about a request.
  for (let i = 0; i < 50; i++) {
    assert.equal(
      h.call(B, PEER_2, { queryCircle: { x: 500, y: 500, radius: 5 } }, 2000).msg,
      "queryReply",
    );
  }
});

Deno.test("status with_checksum computes at most one checksum per checksum_interval_ms", () => {
  const h = new Harness((c) => (c.clients.checksum_interval_ms = 500));
  h.login(A, PEER_1, 0);
  const first = h.call(B, PEER_2, { status: { withChecksum: true } }, 10).statusReply!;
  assert.equal(first.checksum, h.node.state.checksum());
  const start = h.sent.length;
  for (const [id, peer] of [[B, PEER_2], [C, PEER_3]] as const) {
    h.node.handleFrame(peer, [
      encodeEnvelope({ clientId: id, requestId: 5, status: { withChecksum: true } }),
    ], 100);
  }
  h.node.tick(300);
  assert.equal(h.sent.length, start, "the next checksum waits for the interval");
  h.node.tick(520);
  const answers = h.sent.slice(start);
  assert.deepEqual(answers.map((s) => [...s.peer]), [[...PEER_2], [...PEER_3]]);
  for (const s of answers) {
    const reply = decodeEnvelope(s.frame);
    assert.equal(reply.requestId, 5);
    assert.equal(reply.statusReply?.checksum, h.node.state.checksum());
  }
});

Deno.test("handleFrame() drops the requests of a connection that does not read its replies", () => {
  let held = 0;
  const h = new Harness((c) => (c.clients.max_backlog_bytes = 1000), {
    backlogBytes: (peer) => (peer[3] === 1 ? held : 0),
  });
  assert.equal(h.call(A, PEER_1, { ping: {} }, 0).msg, "pong");
  held = 501;
  const start = h.sent.length;
  h.node.handleFrame(PEER_1, [encodeEnvelope({ clientId: A, requestId: 2, ping: {} })], 1);
  assert.equal(h.sent.length, start, "no work and no reply for it");
  assert.equal(h.node.counters.stalled, 1);
  assert.equal(h.call(B, PEER_2, { ping: {} }, 2).msg, "pong", "other connections are served");
  held = 500;
  assert.equal(h.call(A, PEER_1, { ping: {} }, 3).msg, "pong", "served again once it reads");
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
