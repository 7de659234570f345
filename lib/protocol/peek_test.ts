import assert from "node:assert/strict";
import { mulberry32 } from "../random/mod.ts";
import { decodeEnvelope, encodeEnvelope } from "./codec.ts";
import { isUuid } from "./request.ts";
import { type EnvelopePeek, peekEnvelope, QUERY_CIRCLE_FIELD, QUERY_RECT_FIELD } from "./peek.ts";
import type { Envelope } from "./_gen/gameserver_proto.ts";

const CLIENT_ID = "0F8fad5b-d9cb-469f-a165-70867728950e";

/** The envelope's `msg` member of each field number (proto/gameserver.proto). */
const MSG_OF_FIELD: Record<number, string> = {
  10: "login",
  11: "logout",
  12: "setVelocity",
  13: "queryRect",
  14: "queryCircle",
  15: "aoe",
  16: "ping",
  17: "status",
  18: "discover",
  40: "loginReply",
  41: "logoutReply",
  42: "setVelocityReply",
  43: "queryReply",
  44: "aoeReply",
  45: "pong",
  46: "statusReply",
  47: "discoverReply",
  48: "error",
  60: "notice",
};

const BODIES: Envelope[] = [
  { queryCircle: { x: 10.5, y: -3, radius: 50 } },
  { queryRect: { x1: 0, y1: 0, x2: 100, y2: 200 } },
  { queryCircle: {} },
  { ping: { clientTimeMs: 12345 } },
  { login: {} },
  { setVelocity: { vx: 1, vy: 2 } },
  { aoe: { radius: 5, amount: 3 } },
  { status: { withChecksum: true } },
  { error: { code: "INTERNAL", message: "x" } },
  { writeAck: { epoch: 3, masterId: "m", seq: 9 }, queryCircle: { x: 1, y: 2, radius: 3 } },
  {},
];

function peek(frame: Uint8Array): EnvelopePeek | undefined {
  const out = { clientId: "", requestId: 0, field: 0 };
  return peekEnvelope(frame, out) ? out : undefined;
}

/** When the peek accepts a frame, the decoder must read the same ids and the same request. */
function assertAgrees(frame: Uint8Array, label: string): EnvelopePeek | undefined {
  const p = peek(frame);
  if (!p) return undefined;
  assert.ok(isUuid(p.clientId), `${label}: peeked a client id that is not a UUID`);
  let envelope: Envelope;
  try {
    envelope = decodeEnvelope(frame, "binary");
  } catch {
    // A nested message the peek does not look into may be malformed: the reader's decode says so.
    return p;
  }
  assert.equal(p.clientId, envelope.clientId ?? "", `${label}: client id`);
  assert.equal(p.requestId, envelope.requestId ?? 0, `${label}: request id`);
  assert.equal(p.field === 0 ? undefined : MSG_OF_FIELD[p.field], envelope.msg, `${label}: msg`);
  return p;
}

Deno.test("peekEnvelope reads what decodeEnvelope reads from every kind of envelope", () => {
  for (const [k, body] of BODIES.entries()) {
    for (const requestId of [0, 1, 127, 128, 2 ** 31, 2 ** 32 - 1]) {
      const frame = encodeEnvelope({ ...body, clientId: CLIENT_ID, requestId });
      const p = assertAgrees(frame, `body ${k}, request id ${requestId}`);
      assert.ok(p, `body ${k}: a plain frame is accepted`);
      assert.equal(p.requestId, requestId);
    }
  }
  const circle = peek(encodeEnvelope({ clientId: CLIENT_ID, requestId: 7, queryCircle: {} }));
  assert.equal(circle?.field, QUERY_CIRCLE_FIELD);
  const rect = peek(encodeEnvelope({ clientId: CLIENT_ID, requestId: 7, queryRect: {} }));
  assert.equal(rect?.field, QUERY_RECT_FIELD);
});

Deno.test("peekEnvelope leaves to the decoder what it does not plainly understand", () => {
  const ok = encodeEnvelope({ clientId: CLIENT_ID, requestId: 5, queryCircle: { radius: 1 } });
  // Not a UUID, or not ASCII: the usual path answers "client_id must be a UUID".
  for (const clientId of ["", "abc", CLIENT_ID.slice(0, 35) + "g", CLIENT_ID.slice(0, 35) + "é"]) {
    assert.equal(peek(encodeEnvelope({ clientId, requestId: 5, queryCircle: {} })), undefined);
  }
  // Truncated anywhere.
  for (let cut = 0; cut < ok.length; cut++) {
    const p = assertAgrees(ok.subarray(0, cut), `cut at ${cut}`);
    if (cut < 38) assert.equal(p, undefined, `cut at ${cut}: the client id is incomplete`);
  }
  // Two different requests in one envelope.
  const two = new Uint8Array([...ok, ...encodeEnvelope({ ping: {} })]);
  assert.equal(peek(two), undefined);
  // The same request twice: the decoder keeps the last, the peek its kind.
  const again = new Uint8Array([...ok, ...encodeEnvelope({ queryCircle: { x: 2 } })]);
  assert.equal(assertAgrees(again, "repeated")?.field, QUERY_CIRCLE_FIELD);
  // A request id in 6 bytes (protobufjs skips 5 bytes past a 5-byte value), a group, wire type 7.
  assert.equal(peek(new Uint8Array([...ok, 0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])), undefined);
  assert.equal(peek(new Uint8Array([...ok, 0x1b, 0x1c])), undefined);
  assert.equal(peek(new Uint8Array([...ok, 0x1f])), undefined);
  // Unknown fields of every plain wire type are skipped, as the decoder skips them.
  const unknown = new Uint8Array([
    ...ok,
    0xa8,
    0x06,
    0x96,
    0x01, // field 101 varint
    0xb1,
    0x06,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8, // field 102 fixed64
    0xbd,
    0x06,
    1,
    2,
    3,
    4, // field 103 fixed32
    0xc2,
    0x06,
    2,
    9,
    9, // field 104 bytes
  ]);
  assert.equal(assertAgrees(unknown, "unknown fields")?.requestId, 5);
});

Deno.test("peekEnvelope agrees with decodeEnvelope on 30,000 mutated frames", () => {
  const rng = mulberry32(18);
  let accepted = 0;
  for (let n = 0; n < 30_000; n++) {
    const body = BODIES[Math.floor(rng() * BODIES.length)];
    const frame = Array.from(encodeEnvelope({
      ...body,
      clientId: rng() < 0.9 ? CLIENT_ID : crypto.randomUUID(),
      requestId: Math.floor(rng() * 2 ** 32),
    }));
    const edits = Math.floor(rng() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rng() * (frame.length + 1));
      const r = rng();
      if (r < 0.4) frame[at] = Math.floor(rng() * 256);
      else if (r < 0.6) frame.splice(at, 0, Math.floor(rng() * 256));
      else if (r < 0.8) frame.splice(at, 1);
      else frame.length = at;
    }
    if (assertAgrees(new Uint8Array(frame), `frame ${n}: ${frame}`)) accepted++;
  }
  // Most frames keep a valid prefix: the peek must accept a good share, not refuse everything.
  assert.ok(accepted > 5_000, `accepted ${accepted}`);
});
