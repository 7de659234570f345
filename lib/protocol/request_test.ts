import assert from "node:assert/strict";
import { isUuid, parseRequest, type Request, type RequestLimits, WRITE_OPS } from "./request.ts";
import { decodeEnvelope } from "./codec.ts";
import { ProtocolError } from "./errors.ts";
import type { Envelope, ErrorCode } from "./_gen/gameserver_proto.ts";

const CLIENT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e";
const TOKEN = "00ff10a0b1c2d3e4f5a6b7c8d9e0f1aa";
const LIMITS: RequestLimits = {
  maxSpeed: 5,
  maxAoeRadius: 50,
  maxQueryRadius: 1000,
  maxAoeAmount: 100,
  maxCoordinate: 1e6,
};

function parse(body: Envelope, limits = LIMITS): Request {
  return parseRequest({ clientId: CLIENT_ID, requestId: 1, ...body }, limits);
}

/** Asserts that parsing `body` fails with `code` and a message matching `pattern`. */
function assertRejected(body: Envelope, code: ErrorCode, pattern?: RegExp): void {
  assert.throws(() => parse(body), (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${err}`);
    assert.equal(err.code, code);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("parseRequest() returns every request with its fields", async (t) => {
  const cases: [Envelope, Request][] = [
    [{ login: {}, msg: "login" }, { op: "login", userId: 0, sessionToken: "" }],
    [
      { login: { userId: 7, sessionToken: TOKEN }, msg: "login" },
      { op: "login", userId: 7, sessionToken: TOKEN },
    ],
    [{ logout: {}, msg: "logout" }, { op: "logout" }],
    [
      { setVelocity: { vx: 3, vy: -4 }, msg: "setVelocity" },
      { op: "set_velocity", vx: 3, vy: -4 },
    ],
    [
      { queryRect: { x1: -1, y1: 2, x2: 3.5, y2: 1e6 }, msg: "queryRect" },
      { op: "query_rect", x1: -1, y1: 2, x2: 3.5, y2: 1e6 },
    ],
    [
      { queryCircle: { x: 1, y: 2, radius: 1000 }, msg: "queryCircle" },
      { op: "query_circle", x: 1, y: 2, radius: 1000 },
    ],
    [{ aoe: { radius: 50, amount: -100 }, msg: "aoe" }, { op: "aoe", radius: 50, amount: -100 }],
    [{ ping: { clientTimeMs: 1234.5 }, msg: "ping" }, { op: "ping", clientTimeMs: 1234.5 }],
    [{ status: {}, msg: "status" }, { op: "status", withChecksum: false }],
    [{ status: { withChecksum: true }, msg: "status" }, { op: "status", withChecksum: true }],
    [{ discover: { wantMaster: true }, msg: "discover" }, { op: "discover", wantMaster: true }],
    [{ discover: {}, msg: "discover" }, { op: "discover", wantMaster: false }],
  ];
  for (const [body, expected] of cases) {
    await t.step(expected.op, () => assert.deepEqual(parse(body), expected));
  }
});

Deno.test("parseRequest() reads absent numeric fields as proto3 zeros", () => {
  assert.deepEqual(parse({ setVelocity: {}, msg: "setVelocity" }), {
    op: "set_velocity",
    vx: 0,
    vy: 0,
  });
  assert.deepEqual(parse({ queryRect: {}, msg: "queryRect" }), {
    op: "query_rect",
    x1: 0,
    y1: 0,
    x2: 0,
    y2: 0,
  });
  assert.deepEqual(parse({ aoe: { radius: null, amount: null }, msg: "aoe" }), {
    op: "aoe",
    radius: 0,
    amount: 0,
  });
  assert.deepEqual(parse({ ping: {}, msg: "ping" }), { op: "ping", clientTimeMs: 0 });
});

Deno.test("WRITE_OPS holds exactly the operations that change the world", () => {
  assert.deepEqual([...WRITE_OPS].sort(), ["aoe", "login", "logout", "set_velocity"]);
});

Deno.test("isUuid() accepts the canonical 8-4-4-4-12 hex form only", () => {
  assert.equal(isUuid(CLIENT_ID), true);
  assert.equal(isUuid(CLIENT_ID.toUpperCase()), true);
  assert.equal(isUuid(crypto.randomUUID()), true);
  for (
    const bad of [
      "",
      CLIENT_ID.replaceAll("-", ""),
      `{${CLIENT_ID}}`,
      ` ${CLIENT_ID}`,
      `${CLIENT_ID}\n`,
      CLIENT_ID.slice(1),
      CLIENT_ID.replace("0", "g"),
      "0f8fad5b-d9cb-469f-a165-70867728950e0",
    ]
  ) {
    assert.equal(isUuid(bad), false, JSON.stringify(bad));
  }
});

Deno.test("parseRequest() rejects a missing or malformed client_id with INVALID_ARGUMENT", async (t) => {
  for (const clientId of [undefined, null, "", "client-1", CLIENT_ID.replaceAll("-", "")]) {
    await t.step(JSON.stringify(clientId) ?? "undefined", () => {
      assert.throws(
        () => parseRequest({ clientId, ping: {}, msg: "ping" }, LIMITS),
        (err: unknown) =>
          err instanceof ProtocolError && err.code === "INVALID_ARGUMENT" &&
          /client_id must be a UUID/.test(err.message),
      );
    });
  }
  await t.step("checked before the operation", () => {
    assert.throws(
      () => parseRequest({ clientId: "x" }, LIMITS),
      (err: unknown) => err instanceof ProtocolError && err.code === "INVALID_ARGUMENT",
    );
  });
});

Deno.test("parseRequest() pairs login.user_id with login.session_token", async (t) => {
  await t.step("a user id without a token", () => {
    assertRejected(
      { login: { userId: 7 }, msg: "login" },
      "INVALID_ARGUMENT",
      /user_id and login\.session_token go together/,
    );
  });
  await t.step("a token without a user id", () => {
    assertRejected(
      { login: { sessionToken: TOKEN }, msg: "login" },
      "INVALID_ARGUMENT",
      /go together/,
    );
  });
  for (const token of [TOKEN.toUpperCase(), TOKEN.slice(1), `${TOKEN}0`, "x".repeat(32)]) {
    await t.step(`a malformed token ${token}`, () => {
      assertRejected(
        { login: { userId: 7, sessionToken: token }, msg: "login" },
        "SESSION_INVALID",
        /not a valid token/,
      );
    });
  }
  await t.step("the largest user id", () => {
    assert.deepEqual(parse({ login: { userId: 0xffffffff, sessionToken: TOKEN }, msg: "login" }), {
      op: "login",
      userId: 0xffffffff,
      sessionToken: TOKEN,
    });
  });
});

Deno.test("parseRequest() caps the set_velocity speed at max_speed", async (t) => {
  await t.step("a speed of exactly max_speed passes", () => {
    assert.deepEqual(parse({ setVelocity: { vx: -3, vy: 4 }, msg: "setVelocity" }), {
      op: "set_velocity",
      vx: -3,
      vy: 4,
    });
    assert.deepEqual(parse({ setVelocity: { vx: 0, vy: -5 }, msg: "setVelocity" }), {
      op: "set_velocity",
      vx: 0,
      vy: -5,
    });
  });
  await t.step("the magnitude counts, not each component", () => {
    assertRejected(
      { setVelocity: { vx: 4, vy: 4 }, msg: "setVelocity" },
      "INVALID_ARGUMENT",
      /speed 5\.657 m\/s exceeds max_speed 5 m\/s/,
    );
  });
  await t.step("a hair above max_speed fails", () => {
    assertRejected({ setVelocity: { vx: 5.000001 }, msg: "setVelocity" }, "INVALID_ARGUMENT");
  });
  await t.step("components whose squares overflow fail", () => {
    assertRejected(
      { setVelocity: { vx: 1e308, vy: -1e308 }, msg: "setVelocity" },
      "INVALID_ARGUMENT",
      /exceeds max_speed/,
    );
  });
  await t.step("max_speed 0 allows only standing still", () => {
    const still = { ...LIMITS, maxSpeed: 0 };
    assert.deepEqual(parse({ setVelocity: {}, msg: "setVelocity" }, still), {
      op: "set_velocity",
      vx: 0,
      vy: 0,
    });
    assert.throws(() => parse({ setVelocity: { vx: 1e-9 }, msg: "setVelocity" }, still));
  });
});

Deno.test("parseRequest() rejects NaN and infinite numbers with INVALID_ARGUMENT", async (t) => {
  const fields: [string, (n: number) => Envelope, RegExp][] = [
    ["set_velocity.vx", (n) => ({ setVelocity: { vx: n }, msg: "setVelocity" }), /vx/],
    ["set_velocity.vy", (n) => ({ setVelocity: { vy: n }, msg: "setVelocity" }), /vy/],
    ["query_rect.x1", (n) => ({ queryRect: { x1: n }, msg: "queryRect" }), /x1/],
    ["query_rect.y1", (n) => ({ queryRect: { y1: n }, msg: "queryRect" }), /y1/],
    ["query_rect.x2", (n) => ({ queryRect: { x2: n }, msg: "queryRect" }), /x2/],
    ["query_rect.y2", (n) => ({ queryRect: { y2: n }, msg: "queryRect" }), /y2/],
    ["query_circle.x", (n) => ({ queryCircle: { x: n }, msg: "queryCircle" }), /\.x /],
    ["query_circle.y", (n) => ({ queryCircle: { y: n }, msg: "queryCircle" }), /\.y /],
    ["query_circle.radius", (n) => ({ queryCircle: { radius: n }, msg: "queryCircle" }), /radius/],
    ["aoe.radius", (n) => ({ aoe: { radius: n }, msg: "aoe" }), /radius/],
    ["aoe.amount", (n) => ({ aoe: { amount: n }, msg: "aoe" }), /amount/],
    ["ping.client_time_ms", (n) => ({ ping: { clientTimeMs: n }, msg: "ping" }), /client_time_ms/],
  ];
  for (const [name, body, pattern] of fields) {
    await t.step(name, () => {
      for (const n of [NaN, Infinity, -Infinity]) {
        assertRejected(body(n), "INVALID_ARGUMENT", pattern);
      }
    });
  }
  await t.step("NaN coordinates sent as proto3 JSON strings", () => {
    const envelope = decodeEnvelope(new TextEncoder().encode(
      `{"client_id":"${CLIENT_ID}","query_rect":{"x1":"NaN","y1":0,"x2":1,"y2":1}}`,
    ));
    assert.throws(
      () => parseRequest(envelope, LIMITS),
      (err: unknown) =>
        err instanceof ProtocolError && err.code === "INVALID_ARGUMENT" &&
        err.message === "query_rect.x1 must be a finite number",
    );
  });
});

Deno.test("parseRequest() keeps query coordinates within max_coordinate", () => {
  assert.deepEqual(parse({ queryRect: { x1: -1e6, y1: 1e6 }, msg: "queryRect" }), {
    op: "query_rect",
    x1: -1e6,
    y1: 1e6,
    x2: 0,
    y2: 0,
  });
  assertRejected(
    { queryRect: { y2: -1e6 - 1 }, msg: "queryRect" },
    "INVALID_ARGUMENT",
    /query_rect\.y2 must be within ±1000000, got -1000001/,
  );
  assertRejected(
    { queryCircle: { x: 2e6, radius: 1 }, msg: "queryCircle" },
    "INVALID_ARGUMENT",
    /query_circle\.x must be within/,
  );
});

Deno.test("parseRequest() keeps the query circle radius in [0, max_query_radius]", () => {
  assert.equal(
    (parse({ queryCircle: { radius: 0 }, msg: "queryCircle" }) as { radius: number }).radius,
    0,
  );
  assertRejected(
    { queryCircle: { radius: -0.5 }, msg: "queryCircle" },
    "INVALID_ARGUMENT",
    /query_circle\.radius must be in \[0, 1000\] m, got -0\.5/,
  );
  assertRejected({ queryCircle: { radius: 1000.001 }, msg: "queryCircle" }, "INVALID_ARGUMENT");
});

Deno.test("parseRequest() keeps aoe radius and amount in range", async (t) => {
  await t.step("radius in [0, max_aoe_radius]", () => {
    assert.deepEqual(parse({ aoe: { radius: 0, amount: 1 }, msg: "aoe" }), {
      op: "aoe",
      radius: 0,
      amount: 1,
    });
    assertRejected(
      { aoe: { radius: -1, amount: 1 }, msg: "aoe" },
      "INVALID_ARGUMENT",
      /aoe\.radius must be in \[0, 50\] m, got -1/,
    );
    assertRejected({ aoe: { radius: 50.5, amount: 1 }, msg: "aoe" }, "INVALID_ARGUMENT");
  });
  await t.step("amount an integer in [-max_aoe_amount, max_aoe_amount]", () => {
    assert.equal((parse({ aoe: { amount: 100 }, msg: "aoe" }) as { amount: number }).amount, 100);
    for (const amount of [101, -101, 1.5, 2 ** 31]) {
      assertRejected(
        { aoe: { radius: 1, amount }, msg: "aoe" },
        "INVALID_ARGUMENT",
        /aoe\.amount must be an integer in \[-100, 100\]/,
      );
    }
  });
});

Deno.test("parseRequest() answers replies and notices sent as requests with UNKNOWN_OPERATION", async (t) => {
  const replies: Envelope[] = [
    { loginReply: {}, msg: "loginReply" },
    { logoutReply: {}, msg: "logoutReply" },
    { setVelocityReply: {}, msg: "setVelocityReply" },
    { queryReply: {}, msg: "queryReply" },
    { aoeReply: {}, msg: "aoeReply" },
    { pong: {}, msg: "pong" },
    { statusReply: {}, msg: "statusReply" },
    { discoverReply: {}, msg: "discoverReply" },
    { error: { code: "INTERNAL" }, msg: "error" },
    { notice: {}, msg: "notice" },
  ];
  for (const reply of replies) {
    await t.step(reply.msg!, () => {
      assertRejected(reply, "UNKNOWN_OPERATION", new RegExp(`"${reply.msg}" is a reply`));
    });
  }
  await t.step("an envelope without any message", () => {
    assertRejected({}, "UNKNOWN_OPERATION", /carries no request/);
  });
});
