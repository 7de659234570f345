import assert from "node:assert/strict";
import { mulberry32 } from "../random/mod.ts";
import { BlockAllocator } from "./block_allocator.ts";

Deno.test("BlockAllocator splits blocks and merges freed buddies back", () => {
  const alloc = new BlockAllocator(16);
  assert.equal(alloc.allocate(2), 0); // splits 16 into 8 + 4 + [0, 4)
  assert.equal(alloc.allocate(3), 8);
  assert.equal(alloc.allocate(3), -1);
  assert.equal(alloc.allocate(2), 4);
  assert.equal(alloc.allocate(0), -1);
  alloc.free(0, 2);
  alloc.free(4, 2); // merges with [0, 4) into [0, 8)
  assert.equal(alloc.allocate(3), 0);
  alloc.free(8, 3);
  alloc.free(0, 3); // the whole pool is one block again
  assert.equal(alloc.allocate(4), 0);
  alloc.checkInvariants();
});

Deno.test("BlockAllocator grows without moving blocks and never hands out a position twice", () => {
  const rng = mulberry32(5);
  const alloc = new BlockAllocator(3);
  const used = new Map<number, number>(); // start -> class
  let owner = new Int32Array(3).fill(-1);
  for (let i = 0; i < 20_000; i++) {
    if (used.size > 0 && rng() < 0.45) {
      const starts = [...used.keys()];
      const start = starts[Math.floor(rng() * starts.length)];
      const k = used.get(start)!;
      used.delete(start);
      for (let p = start; p < start + 2 ** k; p++) owner[p] = -1;
      alloc.free(start, k);
    } else {
      const k = Math.floor(rng() * rng() * 6);
      let start = alloc.allocate(k);
      while (start < 0) {
        alloc.grow(Math.ceil(alloc.length * 1.5) + 1);
        const bigger = new Int32Array(alloc.length).fill(-1);
        bigger.set(owner);
        owner = bigger;
        start = alloc.allocate(k);
      }
      assert.equal(start % 2 ** k, 0);
      for (let p = start; p < start + 2 ** k; p++) {
        assert.equal(owner[p], -1, `position ${p} handed out twice`);
        owner[p] = start;
      }
      used.set(start, k);
    }
    if (i % 1000 === 0) alloc.checkInvariants();
  }
  let free = 0;
  alloc.forEachFree((_, k) => free += 2 ** k);
  let taken = 0;
  for (const k of used.values()) taken += 2 ** k;
  assert.equal(free + taken, alloc.length);
});
