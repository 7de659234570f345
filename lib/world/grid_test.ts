import assert from "node:assert/strict";
import { mulberry32 } from "../random/mod.ts";
import { InvalidArgumentError } from "./errors.ts";
import { Grid } from "./grid.ts";

Deno.test("Grid maps positions to cells monotonically, clamping the far edges", () => {
  const grid = new Grid(1000, 500, 30, 100);
  assert.equal(grid.cols, 34);
  assert.equal(grid.rows, 17);
  assert.equal(grid.cellX(0), 0);
  assert.equal(grid.cellX(30), 1);
  assert.equal(grid.cellX(1000), 33);
  assert.equal(grid.cellY(500), 16);
  const rng = mulberry32(1);
  for (let i = 0; i < 10_000; i++) {
    const a = rng() * 1000;
    const b = rng() * 1000;
    assert.ok(a <= b ? grid.cellX(a) <= grid.cellX(b) : grid.cellX(a) >= grid.cellX(b));
  }
});

Deno.test("Grid hashes the cells of a large sparse world into a bounded bucket table", () => {
  const direct = new Grid(10_000, 10_000, 50, 1000);
  assert.equal(direct.hashed, false);
  assert.equal(direct.bucketCount, 200 * 200);
  const hashed = new Grid(1e9, 1e9, 50, 1000);
  assert.equal(hashed.hashed, true);
  assert.ok(hashed.bucketCount <= 1 << 16);
  assert.ok(hashed.cellSize >= 1e9 / 2 ** 24);
  const key = hashed.keyOf(123_456_789, 987_654_321);
  const b = hashed.bucketOfKey(key);
  assert.ok(b >= 0 && b < hashed.bucketCount);
  assert.equal(b, hashed.bucketOf(hashed.cellX(123_456_789), hashed.cellY(987_654_321)));
  assert.throws(() => new Grid(10, 10, 0, 1), InvalidArgumentError);
});
