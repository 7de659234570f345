import assert from "node:assert/strict";
import { encodeEnvelope } from "../protocol/mod.ts";
import { mulberry32 } from "../random/mod.ts";
import {
  encodeQueryReply,
  queryReplySize,
  type ReplyUsers,
  writeQueryReply,
} from "./_query_reply_encoder.ts";

Deno.test("writeQueryReply() writes encodeEnvelope()'s bytes", () => {
  const rng = mulberry32(4);
  const pick = <T>(values: T[]) => values[Math.floor(rng() * values.length)];
  for (let round = 0; round < 500; round++) {
    const count = pick([0, 1, 2, 7, 40]);
    const pool = count + 5;
    const users: ReplyUsers = {
      ids: new Uint32Array(pool).map(() => pick([1, 127, 128, 16_384, 2 ** 28, 2 ** 32 - 1])),
      pos: new Float64Array(2 * pool).map(() => pick([0, -0, 1.5, rng() * 1e6])),
      vel: new Float64Array(2 * pool).map(() => pick([0, -0, -3.25, rng() - 0.5])),
      money: new Float64Array(pool).map(() => pick([0, 1000, -1e12, rng() * 1e9])),
      positions: new Uint32Array(count).map((_, i) => (i * 3) % pool),
      count,
      total: count + pick([0, 0, 1, 300, 2 ** 31]),
    };
    const clientId = pick(["", "0f8fad5b-d9cb-469f-a165-70867728950e", "é".repeat(70), "x"]);
    const requestId = pick([0, 1, 127, 128, 2 ** 32 - 1]);
    const listed = Array.from(users.positions, (p) => ({
      id: users.ids[p],
      x: users.pos[2 * p],
      y: users.pos[2 * p + 1],
      vx: users.vel[2 * p],
      vy: users.vel[2 * p + 1],
      money: users.money[p],
    }));
    const expected = encodeEnvelope({
      clientId,
      requestId,
      queryReply: { users: listed, truncated: users.total > count, total: users.total },
    });
    const id = new TextEncoder().encode(clientId);
    const size = queryReplySize(id.length, requestId, users);
    assert.equal(size, expected.length);
    const bytes = new Uint8Array(size + 16);
    const end = writeQueryReply(
      { bytes, view: new DataView(bytes.buffer), at: 8 },
      id,
      requestId,
      users,
    );
    assert.equal(end, 8 + size);
    assert.deepEqual([...bytes.subarray(8, end)], [...expected]);
    // The whole-frame form the node thread sends for its own queries: the same bytes.
    assert.deepEqual([...encodeQueryReply(clientId, requestId, users)], [...expected]);
  }
});
