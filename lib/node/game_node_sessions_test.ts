import assert from "node:assert/strict";
import {
  A,
  assertError,
  B,
  C,
  Harness,
  loginDone,
  PEER_1,
  PEER_2,
  PEER_3,
  slaveHarness,
} from "./_game_node_harness.ts";
import { type ForwardedWrite } from "./write_path.ts";
import { decodeEnvelope, encodeEnvelope, type ErrorCode } from "../protocol/mod.ts";

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
  await t.step("a client resumed elsewhere before the old one is dropped keeps the user", () => {
    // In a cluster the resume comes through another node; the old node's copy of the client goes
    // silent and is dropped later, when the user's generation has already moved on.
    const h = new Harness((c) => {
      c.clients.idle_timeout_ms = 1000;
      c.clients.session_linger_ms = 5000;
    });
    const login = h.login(A, PEER_1, 0);
    const resumed = h.call(B, PEER_3, {
      login: { userId: login.userId, sessionToken: login.sessionToken },
    }, 500);
    assert.equal(resumed.loginReply?.resumed, true);
    for (let now = 500; now <= 20_000; now += 250) {
      h.call(B, PEER_3, { ping: {} }, now);
      h.node.tick(now);
    }
    assert.equal(h.node.clients.get(A), undefined);
    assert.ok(h.node.state.world.has(login.userId!));
    assert.equal(h.call(B, PEER_3, { setVelocity: { vx: 1 } }, 20_001).msg, "setVelocityReply");
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

Deno.test("dropConnection() forgets a closed connection's clients; their users linger for a resume", async (t) => {
  const h = new Harness((c) => (c.clients.session_linger_ms = 1000));
  const login = h.login(A, PEER_1, 0);
  h.login(B, PEER_1, 0);
  h.login(C, PEER_2, 0);

  await t.step("the connection's client ids go at once, the others stay", () => {
    h.node.dropConnection(PEER_1, 10);
    assert.equal(h.node.clients.get(A), undefined);
    assert.equal(h.node.clients.get(B), undefined);
    assert.equal(h.node.clients.get(C)?.userId, 3);
    assert.equal(h.node.load().sessions, 1);
    assert.equal(h.node.clients.peers, 1);
    h.node.dropConnection(PEER_1, 10); // a second close changes nothing
  });

  await t.step("a resume from another connection within the linger time keeps the user", () => {
    const reply = h.call(
      A,
      PEER_3,
      { login: { userId: login.userId, sessionToken: login.sessionToken } },
      500,
    );
    assert.equal(reply.loginReply?.resumed, true);
    h.node.tick(900);
    assert.equal(h.node.state.world.size, 3);
  });

  await t.step("a user nobody resumed expires after the linger time", () => {
    h.node.tick(1011);
    assert.equal(h.node.state.world.size, 2, "B's user expired");
    assert.ok(h.node.state.world.has(login.userId!), "A's resumed user stays");
  });
});

Deno.test("dropConnection() while a resume from that connection is in flight leaves the user to linger", () => {
  const { h, forwarded } = slaveHarness((c) => (c.clients.session_linger_ms = 1000));
  h.node.handleFrame(PEER_1, [encodeEnvelope({ clientId: A, requestId: 1, login: {} })], 0);
  loginDone(forwarded[0], 7, 1);
  const token = "ab".repeat(16);
  h.node.handleFrame(PEER_2, [
    encodeEnvelope({ clientId: A, requestId: 2, login: { userId: 7, sessionToken: token } }),
  ], 1);
  h.node.dropConnection(PEER_2, 2);
  loginDone(forwarded[1], 7, 2);
  // Still bound to the first connection, which never closed: nothing moved to a closed one.
  assert.equal(h.node.clients.get(A)?.connection.peer, PEER_1);
  assert.equal(h.node.counters.abandonedLogins, 1);
});

Deno.test("handleFrame() with a format from the transport decodes and answers in that format", () => {
  const h = new Harness();
  const json = new TextEncoder().encode(JSON.stringify({ client_id: A, request_id: 1, ping: {} }));
  const start = h.sent.length;
  h.node.handleFrame(PEER_1, [json], 0, { format: "binary" });
  const asBinary = decodeEnvelope(h.sent[start].frame, "binary");
  assert.equal(asBinary.error?.code, "BAD_FRAME", "a binary WebSocket message is protobuf");
  h.node.handleFrame(PEER_1, [json], 0, { format: "json" });
  const asJson = decodeEnvelope(h.sent[start + 1].frame, "json");
  assert.ok(asJson.pong, JSON.stringify(asJson));
  h.node.handleFrame(PEER_1, [new TextEncoder().encode("not json")], 0, { format: "json" });
  assert.equal(decodeEnvelope(h.sent[start + 2].frame, "json").error?.code, "BAD_FRAME");
});
