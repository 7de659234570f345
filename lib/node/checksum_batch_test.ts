import assert from "node:assert/strict";
import { ChecksumBatch } from "./checksum_batch.ts";

Deno.test("add() answers at once after a quiet interval, else batches until due()", () => {
  const batch = new ChecksumBatch<string>(500, 2);
  assert.equal(batch.add("a", 0), "now");
  assert.deepEqual(batch.take(0), ["a"]);
  assert.equal(batch.due(100), false, "nothing waits");
  assert.equal(batch.add("b", 100), "wait");
  assert.equal(batch.add("c", 200), "wait");
  assert.equal(batch.add("d", 300), "full");
  assert.equal(batch.due(499), false);
  assert.equal(batch.due(500), true);
  assert.deepEqual(batch.take(500), ["b", "c"]);
  assert.equal(batch.add("e", 999), "wait", "the next interval started at the last checksum");
  assert.equal(batch.due(1000), true);
});
