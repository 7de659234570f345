import assert from "node:assert/strict";
import { mulberry32 } from "../random/mod.ts";
import { InvalidArgumentError } from "./errors.ts";
import { World } from "./world.ts";

Deno.test("density() counts every user once, in the cell of its position", () => {
  const world = new World({ width: 1000, height: 500, maxUsers: 2000, maxSpeed: 10 });
  const rng = mulberry32(7);
  const cols = 10;
  const rows = 5;
  const expected = new Uint32Array(cols * rows);
  for (let i = 0; i < 1500; i++) {
    const id = world.allocateUserId();
    const x = i === 0 ? 1000 : rng() * 1000;
    const y = i === 0 ? 500 : rng() * 500;
    world.addUser(id, x, y);
  }
  for (let id = 2; id < 200; id += 3) world.removeUser(id);
  const out = new Uint32Array(cols * rows).fill(99);
  const total = world.density(cols, rows, out);
  assert.equal(total, world.size);
  assert.equal(out.reduce((a, b) => a + b, 0), world.size);
  // Count the survivors by brute force.
  world.forEachUser((_id, x, y) => {
    expected[
      Math.min(rows - 1, Math.floor(y / 100)) * cols + Math.min(cols - 1, Math.floor(x / 100))
    ]++;
  });
  assert.deepEqual(out, expected);
});

Deno.test("density() refuses a bad grid and a short output", () => {
  const world = new World({ width: 100, height: 100, maxUsers: 10, maxSpeed: 1 });
  assert.throws(() => world.density(0, 4, new Uint32Array(16)), InvalidArgumentError);
  assert.throws(() => world.density(2.5, 4, new Uint32Array(16)), InvalidArgumentError);
  assert.throws(() => world.density(4, 4, new Uint32Array(15)), InvalidArgumentError);
});
