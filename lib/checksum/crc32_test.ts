import assert from "node:assert/strict";
import { crc32 } from "./crc32.ts";
import { mulberry32 } from "../random/mod.ts";

/** The textbook byte-at-a-time CRC-32, as the reference. */
function reference(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

Deno.test("crc32() matches the known check value and zlib's empty CRC", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array()), 0);
});

Deno.test("crc32() agrees with the byte-at-a-time reference at every length and offset", () => {
  const rng = mulberry32(5);
  const bytes = new Uint8Array(300);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rng() * 256);
  for (let start = 0; start < 9; start++) {
    for (let end = start; end <= bytes.length; end += 7) {
      assert.equal(
        crc32(bytes, start, end),
        reference(bytes.subarray(start, end)),
        `${start}..${end}`,
      );
    }
  }
});

Deno.test("crc32() continues a CRC over split ranges", () => {
  const rng = mulberry32(9);
  const bytes = new Uint8Array(1000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rng() * 256);
  const whole = crc32(bytes);
  for (const k of [0, 1, 7, 8, 9, 500, 999, 1000]) {
    assert.equal(crc32(bytes, k, bytes.length, crc32(bytes, 0, k)), whole, `split at ${k}`);
  }
});
