import assert from "node:assert/strict";
import { type ForwardedWrite, GameNode, type WritePath } from "./game_node.ts";
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
    options: { accept?: boolean; writePath?: WritePath } = {},
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
    /More than 2 requests per second/,
  );
  assertError(h.call(A, PEER_1, { login: {} }, 999), "RATE_LIMITED");
  assert.equal(h.node.state.world.size, 0);
  // Another client is not affected, and the next window starts afresh.
  assert.equal(h.call(B, PEER_2, { ping: {} }, 30).msg, "pong");
  assert.equal(h.call(A, PEER_1, { ping: {} }, 1000).msg, "pong");
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
    const entry = h.node.clients.admit(A, PEER_1, "binary", 0);
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

Deno.test("tick() removes the user of a client that moved connection and then went silent", async (t) => {
  const setup = () => {
    const h = new Harness((c) => {
      c.clients.idle_timeout_ms = 1000;
      c.clients.session_linger_ms = 5000;
    });
    const login = h.login(A, PEER_1, 0);
    // The client reconnects; its first request on the new connection is not a resume.
    assert.equal(h.call(A, PEER_2, { ping: {} }, 100).msg, "pong");
    assert.equal(h.node.load().sessions, 0);
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
