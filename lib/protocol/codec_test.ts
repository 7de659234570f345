import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  decodeCluster,
  decodeEnvelope,
  decodeUpdate,
  detectFormat,
  encodeCluster,
  encodeEnvelope,
  encodeUpdate,
  envelopeToJson,
  type WireFormat,
} from "./codec.ts";
import { ProtocolError } from "./errors.ts";
import type { ClusterMessage, Envelope, ErrorCode } from "./_gen/gameserver_proto.ts";

const CLIENT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e";
const utf8 = new TextEncoder();

function json(text: string): Uint8Array {
  return utf8.encode(text);
}

/** Asserts that `fn` throws a ProtocolError with `code` whose message matches `pattern`. */
function assertProtocolError(fn: () => unknown, code: ErrorCode, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${err}`);
    assert.equal(err.name, "ProtocolError");
    assert.equal(err.code, code);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

/** One envelope per oneof member, requests and replies, as a decoder returns them. */
const SAMPLES: Envelope[] = [
  { clientId: CLIENT_ID, requestId: 1, login: {}, msg: "login" },
  {
    clientId: CLIENT_ID,
    requestId: 2,
    login: { userId: 7, sessionToken: "00ff10a0b1c2d3e4f5a6b7c8d9e0f1aa" },
    msg: "login",
  },
  { clientId: CLIENT_ID, requestId: 3, logout: {}, msg: "logout" },
  { clientId: CLIENT_ID, requestId: 4, setVelocity: { vx: -3.5, vy: 0.25 }, msg: "setVelocity" },
  {
    clientId: CLIENT_ID,
    requestId: 5,
    queryRect: { x1: 1, y1: 2, x2: -3.5, y2: 4e6 },
    msg: "queryRect",
  },
  {
    clientId: CLIENT_ID,
    requestId: 6,
    queryCircle: { x: 5, y: 6, radius: 50 },
    msg: "queryCircle",
  },
  { clientId: CLIENT_ID, requestId: 7, aoe: { radius: 10, amount: -2147483648 }, msg: "aoe" },
  { clientId: CLIENT_ID, requestId: 8, ping: { clientTimeMs: 1234.5 }, msg: "ping" },
  { clientId: CLIENT_ID, requestId: 9, status: {}, msg: "status" },
  { clientId: CLIENT_ID, requestId: 10, discover: { wantMaster: true }, msg: "discover" },
  {
    clientId: CLIENT_ID,
    requestId: 11,
    loginReply: {
      userId: 4294967295,
      sessionToken: "00ff10a0b1c2d3e4f5a6b7c8d9e0f1aa",
      user: { id: 4294967295, x: 1.5, y: 2.5, vx: -1, vy: 1, money: 1e12 },
      resumed: true,
    },
    msg: "loginReply",
  },
  { clientId: CLIENT_ID, requestId: 12, logoutReply: { userId: 3 }, msg: "logoutReply" },
  {
    clientId: CLIENT_ID,
    requestId: 13,
    setVelocityReply: { user: { id: 1, x: 0.5 } },
    msg: "setVelocityReply",
  },
  {
    clientId: CLIENT_ID,
    requestId: 14,
    queryReply: { users: [{ id: 1, x: 1 }, { id: 2, money: -5 }], truncated: true, total: 9 },
    msg: "queryReply",
  },
  {
    clientId: CLIENT_ID,
    requestId: 15,
    aoeReply: { userIds: [1, 2, 3], total: 3 },
    msg: "aoeReply",
  },
  {
    clientId: CLIENT_ID,
    requestId: 15,
    aoeReply: { userIds: [4], total: 1 },
    writeAck: { epoch: 3, masterId: "node-2", seq: 2 ** 40 + 1 },
    msg: "aoeReply",
  },
  {
    clientId: CLIENT_ID,
    requestId: 16,
    pong: { clientTimeMs: 1, serverTimeMs: 2, nodeId: "node-1", role: "ROLE_MASTER" },
    msg: "pong",
  },
  {
    clientId: CLIENT_ID,
    requestId: 17,
    statusReply: {
      load: {
        connections: 3,
        users: 2,
        tickAvgMs: 0.5,
        tickP99Ms: 1.5,
        loadFactor: 0.025,
        lastSeq: 2 ** 40,
        sessions: 1,
      },
      nodeId: "node-1",
      role: "ROLE_SLAVE",
      epoch: Number.MAX_SAFE_INTEGER,
      masterId: "node-2",
      tick: 99,
      uptimeS: 12.5,
      checksum: 0xdeadbeef,
    },
    msg: "statusReply",
  },
  {
    clientId: CLIENT_ID,
    requestId: 18,
    discoverReply: {
      node: {
        nodeId: "n",
        host: "::1",
        clientPort: 7000,
        clusterPort: 7001,
        publishPort: 7002,
        httpPort: 8080,
        role: "ROLE_SINGLE",
      },
    },
    msg: "discoverReply",
  },
  {
    clientId: CLIENT_ID,
    requestId: 19,
    error: { code: "RATE_LIMITED", message: "Slow down" },
    msg: "error",
  },
  {
    clientId: CLIENT_ID,
    notice: { kind: "NOTICE_KIND_SHUTDOWN", message: "Bye" },
    msg: "notice",
  },
];

Deno.test("encodeEnvelope() and decodeEnvelope() round-trip every request and reply", async (t) => {
  for (const format of ["binary", "json"] as WireFormat[]) {
    await t.step(`in ${format}`, () => {
      for (const sample of SAMPLES) {
        const frame = encodeEnvelope(sample, format);
        assert.equal(detectFormat(frame), format, `format of ${sample.msg}`);
        assert.deepEqual(decodeEnvelope(frame), sample, `round trip of ${sample.msg}`);
        assert.deepEqual(decodeEnvelope(frame, format), sample);
      }
    });
  }
});

Deno.test("encodeEnvelope() defaults to binary and ignores the decoded `msg` marker", () => {
  const frame = encodeEnvelope({ clientId: CLIENT_ID, requestId: 1, ping: {}, msg: "ping" });
  assert.equal(detectFormat(frame), "binary");
  assert.deepEqual(decodeEnvelope(frame), {
    clientId: CLIENT_ID,
    requestId: 1,
    ping: {},
    msg: "ping",
  });
});

Deno.test("detectFormat() tells JSON by its opening brace, after leading whitespace", () => {
  assert.equal(detectFormat(json("{}")), "json");
  assert.equal(detectFormat(json(" \t\r\n{}")), "json");
  assert.equal(detectFormat(json("[]")), "binary");
  assert.equal(detectFormat(new Uint8Array()), "binary");
  assert.equal(detectFormat(new Uint8Array([0x0a, 0x00])), "binary");
  // Only the first 16 bytes are looked at.
  assert.equal(detectFormat(json(`${" ".repeat(16)}{}`)), "binary");
});

Deno.test("envelopeToJson() writes proto3 JSON: camelCase names, enum names, absent fields omitted", () => {
  const value = envelopeToJson({
    clientId: CLIENT_ID,
    requestId: 3,
    queryReply: { users: [{ id: 1 }], total: 1 },
  });
  assert.deepEqual(value, {
    clientId: CLIENT_ID,
    requestId: 3,
    queryReply: { users: [{ id: 1 }], total: 1 },
  });
  assert.deepEqual(envelopeToJson({ pong: { role: "ROLE_MASTER" } }), {
    pong: { role: "ROLE_MASTER" },
  });
  const text = new TextDecoder().decode(
    encodeEnvelope({ clientId: CLIENT_ID, setVelocity: { vx: NaN, vy: -Infinity } }, "json"),
  );
  assert.deepEqual(JSON.parse(text), {
    clientId: CLIENT_ID,
    setVelocity: { vx: "NaN", vy: "-Infinity" },
  });
});

Deno.test("decodeEnvelope() accepts snake_case and lowerCamelCase field names", async (t) => {
  const cases: [string, string, Envelope][] = [
    [
      "snake_case",
      `{"client_id":"${CLIENT_ID}","request_id":5,"set_velocity":{"vx":1,"vy":2}}`,
      { clientId: CLIENT_ID, requestId: 5, setVelocity: { vx: 1, vy: 2 }, msg: "setVelocity" },
    ],
    [
      "camelCase",
      `{"clientId":"${CLIENT_ID}","requestId":5,"setVelocity":{"vx":1,"vy":2}}`,
      { clientId: CLIENT_ID, requestId: 5, setVelocity: { vx: 1, vy: 2 }, msg: "setVelocity" },
    ],
    [
      "mixed, nested",
      `{"clientId":"${CLIENT_ID}","login":{"user_id":3,"sessionToken":"ab"}}`,
      { clientId: CLIENT_ID, login: { userId: 3, sessionToken: "ab" }, msg: "login" },
    ],
    [
      "snake_case in a repeated message",
      `{"aoe_reply":{"user_ids":[1,2]},"query_reply":null}`,
      { aoeReply: { userIds: [1, 2] }, msg: "aoeReply" },
    ],
    [
      "snake_case in a deep reply",
      `{"status_reply":{"load":{"tick_avg_ms":1.5,"last_seq":"9007199254740991"}}}`,
      {
        statusReply: { load: { tickAvgMs: 1.5, lastSeq: Number.MAX_SAFE_INTEGER } },
        msg: "statusReply",
      },
    ],
  ];
  for (const [name, text, expected] of cases) {
    await t.step(name, () => assert.deepEqual(decodeEnvelope(json(text)), expected));
  }
});

Deno.test("decodeEnvelope() treats a JSON null as an absent field", () => {
  assert.deepEqual(
    decodeEnvelope(json(`{"clientId":null,"login":{},"logout":null,"ping":null}`)),
    { login: {}, msg: "login" },
  );
  assert.deepEqual(decodeEnvelope(json(`{}`)), {});
});

Deno.test("decodeEnvelope() rejects unknown JSON fields with BAD_FRAME", async (t) => {
  const cases: [string, RegExp][] = [
    [`{"clientID":"x"}`, /Unknown field "clientID"/],
    [`{"login":{"userid":1}}`, /Unknown field "login\.userid"/],
    [
      `{"queryReply":{"users":[{"id":1,"name":"x"}]}}`,
      /Unknown field "queryReply\.users\[0\]\.name"/,
    ],
    [`{"client__id":"x"}`, /Unknown field/],
    // Names of Object.prototype are no fields either.
    [`{"constructor":1}`, /Unknown field "constructor"/],
    [`{"toString":"x"}`, /Unknown field "toString"/],
    [`{"login":{"hasOwnProperty":1}}`, /Unknown field "login\.hasOwnProperty"/],
    [`{"__proto__":{}}`, /Unknown field "__proto__"/],
  ];
  for (const [text, pattern] of cases) {
    await t.step(
      text,
      () => assertProtocolError(() => decodeEnvelope(json(text)), "BAD_FRAME", pattern),
    );
  }
});

Deno.test("decodeEnvelope() rejects JSON values of the wrong type with BAD_FRAME", async (t) => {
  const cases: [string, RegExp][] = [
    [`{"clientId":5}`, /clientId must be a string/],
    [`{"clientId":["x"]}`, /clientId must be a string/],
    [`{"requestId":true}`, /requestId must be an integer/],
    [`{"requestId":"1.0"}`, /requestId must be an integer/],
    [`{"requestId":"0x10"}`, /requestId must be an integer/],
    [`{"requestId":""}`, /requestId must be an integer/],
    [`{"login":[]}`, /login must be a JSON object/],
    [`{"login":"yes"}`, /login must be a JSON object/],
    [`{"discover":{"wantMaster":"true"}}`, /discover\.wantMaster must be true or false/],
    [`{"discover":{"want_master":1}}`, /discover\.want_master must be true or false/],
    [`{"setVelocity":{"vx":true}}`, /setVelocity\.vx must be a number/],
    [`{"setVelocity":{"vx":{}}}`, /setVelocity\.vx must be a number/],
    [`{"setVelocity":{"vx":"fast"}}`, /setVelocity\.vx must be a number/],
    [`{"setVelocity":{"vx":""}}`, /setVelocity\.vx must be a number/],
    [`{"setVelocity":{"vx":" "}}`, /setVelocity\.vx must be a number/],
    [`{"queryReply":{"users":{"id":1}}}`, /queryReply\.users must be an array/],
    [`{"aoeReply":{"userIds":[1,"x"]}}`, /aoeReply\.userIds\[1\] must be an integer/],
    [`{"error":{"code":true}}`, /error\.code is not a valid ErrorCode/],
    [`{"error":{"code":1.5}}`, /error\.code is not a valid ErrorCode/],
  ];
  for (const [text, pattern] of cases) {
    await t.step(
      text,
      () => assertProtocolError(() => decodeEnvelope(json(text)), "BAD_FRAME", pattern),
    );
  }
  await t.step("[] read as JSON", () => {
    assertProtocolError(
      () => decodeEnvelope(json(`[]`), "json"),
      "BAD_FRAME",
      /envelope must be a JSON object/,
    );
  });
});

Deno.test("decodeEnvelope() rejects two members of the msg oneof and a field given twice", async (t) => {
  await t.step("two requests", () => {
    assertProtocolError(
      () => decodeEnvelope(json(`{"login":{},"logout":{}}`)),
      "BAD_FRAME",
      /"login" and "logout" cannot both be set/,
    );
  });
  await t.step("a request and a reply", () => {
    assertProtocolError(
      () => decodeEnvelope(json(`{"ping":{},"pong":{}}`)),
      "BAD_FRAME",
      /cannot both be set/,
    );
  });
  await t.step("one member under both of its names", () => {
    assertProtocolError(
      () => decodeEnvelope(json(`{"set_velocity":{"vx":1},"setVelocity":{"vx":2}}`)),
      "BAD_FRAME",
      /"setVelocity" is given more than once/,
    );
  });
  await t.step("a plain field under both of its names", () => {
    assertProtocolError(
      () => decodeEnvelope(json(`{"client_id":"a","clientId":"b"}`)),
      "BAD_FRAME",
      /"clientId" is given more than once/,
    );
  });
  await t.step("a null member does not count", () => {
    assert.equal(decodeEnvelope(json(`{"login":null,"logout":{}}`)).msg, "logout");
  });
});

Deno.test("decodeEnvelope() checks JSON integers against their proto type's range", async (t) => {
  const accepted: [string, Envelope][] = [
    [`{"requestId":0}`, { requestId: 0 }],
    [`{"requestId":4294967295}`, { requestId: 4294967295 }],
    [`{"requestId":"12"}`, { requestId: 12 }],
    [`{"requestId":1e2}`, { requestId: 100 }],
    [`{"aoe":{"amount":-2147483648}}`, { aoe: { amount: -2147483648 }, msg: "aoe" }],
    [`{"aoe":{"amount":"-5"}}`, { aoe: { amount: -5 }, msg: "aoe" }],
    [`{"aoe":{"amount":2147483647}}`, { aoe: { amount: 2147483647 }, msg: "aoe" }],
  ];
  for (const [text, expected] of accepted) {
    await t.step(`accepts ${text}`, () => assert.deepEqual(decodeEnvelope(json(text)), expected));
  }
  const rejected: [string, RegExp][] = [
    [`{"requestId":-1}`, /requestId must be an integer in \[0, 4294967295\]/],
    [`{"requestId":4294967296}`, /requestId must be an integer in \[0, 4294967295\]/],
    [`{"requestId":1.5}`, /requestId must be an integer/],
    [
      `{"aoe":{"amount":2147483648}}`,
      /aoe\.amount must be an integer in \[-2147483648, 2147483647\]/,
    ],
    [`{"aoe":{"amount":-2147483649}}`, /aoe\.amount must be an integer/],
    [`{"statusReply":{"epoch":-1}}`, /statusReply\.epoch must be an integer in \[0, /],
    [`{"statusReply":{"epoch":9007199254740992}}`, /statusReply\.epoch must be an integer/],
  ];
  for (const [text, pattern] of rejected) {
    await t.step(
      `rejects ${text}`,
      () => assertProtocolError(() => decodeEnvelope(json(text)), "BAD_FRAME", pattern),
    );
  }
});

Deno.test("decodeEnvelope() takes enums by name or number and rejects unknown names", async (t) => {
  await t.step("by name", () => {
    assert.deepEqual(decodeEnvelope(json(`{"error":{"code":"WORLD_FULL"}}`)).error, {
      code: "WORLD_FULL",
    });
  });
  await t.step("by number", () => {
    assert.deepEqual(decodeEnvelope(json(`{"pong":{"role":3}}`)).pong, { role: "ROLE_SLAVE" });
  });
  for (const name of ["WORLD_EMPTY", "world_full", "", "toString", "constructor"]) {
    await t.step(`rejects ${JSON.stringify(name)}`, () => {
      assertProtocolError(
        () => decodeEnvelope(json(`{"error":{"code":${JSON.stringify(name)}}}`)),
        "BAD_FRAME",
        /error\.code is not a valid ErrorCode/,
      );
    });
  }
});

Deno.test("decodeEnvelope() takes doubles as numbers, numeric strings, NaN and Infinity", () => {
  const decoded = decodeEnvelope(json(
    `{"queryRect":{"x1":"1.5","y1":"-2e3","x2":"NaN","y2":"-Infinity"},"ping":null}`,
  ));
  // Non-finite values pass the codec; parseRequest rejects them with INVALID_ARGUMENT.
  assert.equal(decoded.queryRect?.x1, 1.5);
  assert.equal(decoded.queryRect?.y1, -2000);
  assert.ok(Number.isNaN(decoded.queryRect?.x2));
  assert.equal(decoded.queryRect?.y2, -Infinity);
  assert.equal(
    decodeEnvelope(json(`{"ping":{"clientTimeMs":"Infinity"}}`)).ping?.clientTimeMs,
    Infinity,
  );
});

Deno.test("decodeEnvelope() rejects malformed frames with BAD_FRAME", async (t) => {
  await t.step("truncated JSON", () => {
    assertProtocolError(() => decodeEnvelope(json(`{"login":`)), "BAD_FRAME", /Malformed JSON/);
  });
  await t.step("JSON that is not UTF-8", () => {
    assertProtocolError(
      () => decodeEnvelope(new Uint8Array([0x7b, 0xff, 0x7d])),
      "BAD_FRAME",
      /Malformed JSON/,
    );
  });
  await t.step("truncated protobuf", () => {
    const frame = encodeEnvelope({ clientId: CLIENT_ID, requestId: 1, ping: {} });
    assertProtocolError(
      () => decodeEnvelope(frame.subarray(0, frame.length - 20)),
      "BAD_FRAME",
      /Malformed protobuf envelope/,
    );
  });
  await t.step("truncated protobuf in a Node Buffer, as ZeroMQ delivers it", () => {
    const frame = Buffer.from(encodeEnvelope({ clientId: CLIENT_ID, requestId: 1, ping: {} }));
    assertProtocolError(
      () => decodeEnvelope(frame.subarray(0, 20)),
      "BAD_FRAME",
      /Malformed protobuf envelope/,
    );
  });
  await t.step("protobuf with an invalid wire type", () => {
    assertProtocolError(
      // Tag 0xff 0x01: field 31 (unknown) with wire type 7 (does not exist).
      () => decodeEnvelope(new Uint8Array([0xff, 0x01, 0x00])),
      "BAD_FRAME",
      /Malformed protobuf envelope/,
    );
  });
  await t.step("a JSON frame decoded as binary", () => {
    assertProtocolError(() => decodeEnvelope(json(`{}`), "binary"), "BAD_FRAME");
  });
  await t.step("errors keep their cause", () => {
    try {
      decodeEnvelope(json(`{"login":`));
      assert.fail("expected a throw");
    } catch (err) {
      assert.ok(err instanceof ProtocolError);
      assert.ok(err.cause instanceof SyntaxError);
    }
  });
});

Deno.test("encodeCluster() and decodeCluster() round-trip cluster messages", async (t) => {
  const samples: ClusterMessage[] = [
    {
      epoch: 3,
      register: {
        address: { nodeId: "node-1", host: "10.0.0.1", clientPort: 7000, role: "ROLE_MASTER" },
        runId: "run-1",
        role: "ROLE_MASTER",
        load: { connections: 1, lastSeq: 2 ** 52 },
        masterId: "node-0",
      },
      msg: "register",
    },
    { epoch: 2 ** 40, reportAck: { known: true, reportId: 17 }, msg: "reportAck" },
    {
      snapshotReply: {
        seq: 99,
        world: new Uint8Array([0, 1, 2, 255]),
        sessions: new Uint8Array([9]),
      },
      msg: "snapshotReply",
    },
    {
      epoch: 1,
      forwardRequest: {
        originNodeId: "node-2",
        request: { clientId: CLIENT_ID, requestId: 4, aoe: { radius: 5, amount: -3 } },
        userId: 12,
      },
      msg: "forwardRequest",
    },
    {
      forwardReply: {
        reply: { clientId: CLIENT_ID, requestId: 4, error: { code: "TIMEOUT", message: "Late" } },
      },
      msg: "forwardReply",
    },
    { error: { code: "UNAVAILABLE", message: "Fenced" }, msg: "error" },
  ];
  for (const sample of samples) {
    await t.step(sample.msg!, () => {
      const decoded = decodeCluster(encodeCluster(sample));
      // Nested envelopes decode with their own `msg` marker.
      const expected = structuredClone(sample);
      if (expected.forwardRequest?.request) expected.forwardRequest.request.msg = "aoe";
      if (expected.forwardReply?.reply) expected.forwardReply.reply.msg = "error";
      assert.deepEqual(
        { ...decoded, snapshotReply: normaliseBytes(decoded.snapshotReply) },
        { ...expected, snapshotReply: normaliseBytes(expected.snapshotReply) },
      );
    });
  }
});

/** Compares bytes fields by content whatever the Uint8Array subclass the decoder returns. */
function normaliseBytes(reply: ClusterMessage["snapshotReply"]): unknown {
  if (!reply) return reply;
  return { ...reply, world: [...(reply.world ?? [])], sessions: [...(reply.sessions ?? [])] };
}

Deno.test("encodeUpdate() and decodeUpdate() round-trip a replication update", () => {
  const decoded = decodeUpdate(encodeUpdate({
    epoch: 3,
    seq: 2 ** 40,
    ops: new Uint8Array([1, 2, 3]),
    checksum: 0xffffffff,
    masterId: "node-1",
  }));
  assert.equal(decoded.epoch, 3);
  assert.equal(decoded.seq, 2 ** 40);
  assert.deepEqual([...decoded.ops!], [1, 2, 3]);
  assert.equal(decoded.checksum, 0xffffffff);
  assert.equal(decoded.masterId, "node-1");
  assert.deepEqual(decodeUpdate(encodeUpdate({})), {});
});

Deno.test("decodeCluster() and decodeUpdate() reject malformed bytes with BAD_FRAME", () => {
  const cluster = encodeCluster({ epoch: 1, deregister: { nodeId: "node-1", runId: "r" } });
  assertProtocolError(
    () => decodeCluster(cluster.subarray(0, cluster.length - 3)),
    "BAD_FRAME",
    /Malformed cluster message/,
  );
  assertProtocolError(
    () => decodeCluster(new Uint8Array([0x0f])),
    "BAD_FRAME",
    /Malformed cluster message/,
  );
  const update = encodeUpdate({ seq: 5, ops: new Uint8Array(10) });
  assertProtocolError(
    () => decodeUpdate(update.subarray(0, update.length - 4)),
    "BAD_FRAME",
    /Malformed replication update/,
  );
});
