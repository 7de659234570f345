import assert from "node:assert/strict";
import { decodeOps, type Op, OpLogWriter } from "./op_log.ts";
import { StateError } from "./errors.ts";
import { mulberry32 as seeded } from "../random/mod.ts";

const SAMPLE: Op[] = [
  { type: "login", userId: 1, x: 12.5, y: 0.1, token: "00ff10a0b1c2d3e4f5a6b7c8d9e0f1aa" },
  { type: "resume", userId: 1 },
  { type: "set_velocity", userId: 1, vx: -3.25, vy: 1e-9 },
  { type: "aoe", userId: 4_000_000_000, radius: 50, amount: -7 },
  { type: "expire", userId: 1, generation: 4_294_967_295 },
  { type: "logout", userId: 2 },
];

/** Encoded size of each op of SAMPLE, in order. */
const SIZES = [37, 5, 21, 17, 9, 5];

function encode(ops: Op[]): Uint8Array {
  const writer = new OpLogWriter();
  for (const op of ops) writer.write(op);
  return writer.drain();
}

Deno.test("decodeOps() returns exactly what OpLogWriter wrote, for every op type", () => {
  const bytes = encode(SAMPLE);
  assert.equal(bytes.length, SIZES.reduce((a, b) => a + b));
  assert.deepEqual(decodeOps(bytes), SAMPLE);
  assert.deepEqual(decodeOps(new Uint8Array()), []);
});

Deno.test("decodeOps() reads a log at an offset inside a larger buffer", () => {
  const bytes = encode(SAMPLE);
  const big = new Uint8Array(bytes.length + 7);
  big.set(bytes, 3);
  assert.deepEqual(decodeOps(big.subarray(3, 3 + bytes.length)), SAMPLE);
});

Deno.test("OpLogWriter counts, grows past its first buffer, and starts afresh after drain()", () => {
  const writer = new OpLogWriter();
  const many: Op[] = [];
  for (let i = 0; i < 1000; i++) many.push({ type: "set_velocity", userId: i + 1, vx: i, vy: -i });
  for (const op of many) writer.write(op);
  assert.equal(writer.count, 1000);
  assert.equal(writer.byteLength, 21_000);
  const first = writer.drain();
  assert.equal(writer.count, 0);
  assert.equal(writer.byteLength, 0);
  writer.write(SAMPLE[1]);
  const second = writer.drain();
  assert.deepEqual(decodeOps(first), many, "drain() hands out a copy the writer does not reuse");
  assert.deepEqual(decodeOps(second), [SAMPLE[1]]);
});

Deno.test("a truncated log throws StateError at every cut inside an op", () => {
  const bytes = encode(SAMPLE);
  const boundaries = new Set<number>([0]);
  let p = 0;
  for (const n of SIZES) boundaries.add(p += n);
  for (let cut = 1; cut < bytes.length; cut++) {
    const part = bytes.subarray(0, cut);
    if (boundaries.has(cut)) assert.ok(decodeOps(part).length > 0);
    else assert.throws(() => decodeOps(part), StateError, `cut at ${cut}`);
  }
});

Deno.test("an unknown op type throws StateError naming it", () => {
  assert.throws(() => decodeOps(Uint8Array.of(0)), /Unknown op type 0 at byte 0/);
  const bytes = new Uint8Array([...encode([SAMPLE[1]]), 200]);
  assert.throws(() => decodeOps(bytes), /Unknown op type 200 at byte 5/);
});

Deno.test("random bytes either decode or throw StateError, nothing else", () => {
  const rng = seeded(3);
  for (let round = 0; round < 2000; round++) {
    const bytes = new Uint8Array(Math.floor(rng() * 80));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rng() * 256);
    if (bytes.length > 0 && rng() < 0.7) bytes[0] = 1 + Math.floor(rng() * 6);
    try {
      decodeOps(bytes);
    } catch (error) {
      assert.ok(error instanceof StateError, String(error));
      assert.equal(error.name, "StateError");
    }
  }
});
