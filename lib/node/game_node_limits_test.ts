import assert from "node:assert/strict";
import { A, assertError, B, C, Harness, PEER_1, PEER_2, PEER_3 } from "./_game_node_harness.ts";
import { decodeEnvelope, encodeEnvelope } from "../protocol/mod.ts";

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
