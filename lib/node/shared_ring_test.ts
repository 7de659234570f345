import assert from "node:assert/strict";
import { SharedRing } from "./shared_ring.ts";

Deno.test("a ring hands over records of any size in order, wrapping around, and reports full", () => {
  const producer = SharedRing.create(256);
  const consumer = new SharedRing(producer.memory);
  assert.equal(consumer.next(), -1, "empty");
  let written = 0;
  let read = 0;
  for (let round = 0; round < 200; round++) {
    // Write until full, then read about half: the offsets travel round the ring.
    for (;;) {
      const length = 1 + ((written * 37) % 90);
      const at = producer.reserve(length);
      if (at < 0) break;
      assert.equal(at % 8, 0, "payloads are 8-byte aligned");
      producer.bytes.fill(written & 255, at, at + length);
      producer.commit();
      written++;
    }
    const target = read + Math.max(1, Math.floor((written - read) / 2));
    while (read < target) {
      const at = consumer.next();
      assert.ok(at >= 0);
      const length = 1 + ((read * 37) % 90);
      assert.equal(consumer.length, length);
      assert.ok(consumer.bytes.subarray(at, at + length).every((b) => b === (read & 255)));
      consumer.release();
      read++;
    }
  }
  assert.ok(written > 200, `${written} records`);
});
