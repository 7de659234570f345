import assert from "node:assert/strict";
import { mulberry32 } from "../random/mod.ts";
import { World } from "./world.ts";
import { WorldViewReader, WorldViews } from "./world_view.ts";
import type { WorldOptions } from "./world_options.ts";

/** A world of `users` moving users, seeded. */
function movingWorld(options: WorldOptions, users: number, seed = 1): World {
  const rng = mulberry32(seed);
  const world = new World(options);
  for (let i = 0; i < users; i++) {
    const id = world.allocateUserId();
    world.addUser(id, rng() * options.width, rng() * options.height);
    world.setVelocity(id, (rng() - 0.5) * 20, (rng() - 0.5) * 20);
  }
  return world;
}

/** Ids of the positions a reader query wrote. */
function ids(reader: WorldViewReader, out: Uint32Array, total: number): number[] {
  return [...out.subarray(0, Math.min(total, out.length))].map((p) => reader.ids[p]);
}

const SHAPES: [string, WorldOptions][] = [
  ["a direct grid", { width: 1000, height: 1000, maxUsers: 2000, maxSpeed: 50 }],
  // 1e6 × 1e6 m in 50 m cells: far more cells than 4 per user, so cells are hashed.
  ["a hashed grid", { width: 1e6, height: 1e6, maxUsers: 2000, maxSpeed: 50, cellSize: 50 }],
];

for (const [name, options] of SHAPES) {
  Deno.test(`queryCircle() and queryRect() on a published view match the world (${name})`, () => {
    const world = movingWorld(options, 1500);
    const views = new WorldViews(options);
    const reader = new WorldViewReader(views.shared, 0);
    const expected = new Uint32Array(4096);
    const got = new Uint32Array(4096);
    const rng = mulberry32(9);
    const side = options.width;
    for (let tick = 0; tick < 20; tick++) {
      world.step(0.5);
      assert.ok(world.publishTo(views));
      assert.ok(reader.pin());
      assert.equal(reader.version, tick + 1);
      assert.equal(reader.size, world.size);
      for (let q = 0; q < 50; q++) {
        const x = rng() * side;
        const y = rng() * side;
        const r = q === 0 ? side : rng() * side / 10;
        const n = world.queryCircle(x, y, r, expected);
        const m = reader.queryCircle(x, y, r, got);
        assert.equal(m, n);
        assert.deepEqual(ids(reader, got, m), [...expected.subarray(0, Math.min(n, 4096))]);
        const x2 = x + (rng() - 0.5) * side / 5;
        const y2 = y + (rng() - 0.5) * side / 5;
        const k = world.queryRect(x, y, x2, y2, expected);
        assert.equal(reader.queryRect(x, y, x2, y2, got), k);
        assert.deepEqual(ids(reader, got, k), [...expected.subarray(0, Math.min(k, 4096))]);
      }
      reader.unpin();
    }
  });
}

Deno.test("a pinned view stays whole: publish() skips the slot a reader holds", () => {
  const options = { width: 1000, height: 1000, maxUsers: 500, maxSpeed: 50 };
  const world = movingWorld(options, 400);
  const views = new WorldViews(options);
  const reader = new WorldViewReader(views.shared, 3);
  assert.equal(reader.pin(), false, "nothing published yet");
  assert.ok(world.publishTo(views));
  assert.ok(reader.pin());
  const pinned = World.fromSnapshot(world.snapshot(), options);
  const out = new Uint32Array(1000);
  const before = reader.queryCircle(500, 500, 300, out);
  const beforeIds = ids(reader, out, before).sort();
  world.step(1);
  assert.ok(world.publishTo(views), "the other slot is free");
  world.step(1);
  assert.equal(world.publishTo(views), false, "the pinned slot is not overwritten");
  assert.equal(views.version, 2);
  // The pinned view still answers as the world did when it was published.
  const again = reader.queryCircle(500, 500, 300, out);
  assert.equal(again, before);
  assert.deepEqual(ids(reader, out, again).sort(), beforeIds);
  const expected = new Uint32Array(1000);
  const n = pinned.queryCircle(500, 500, 300, expected);
  assert.deepEqual([...expected.subarray(0, n)].sort(), beforeIds);
  reader.unpin();
  assert.ok(world.publishTo(views));
  assert.ok(reader.pin());
  assert.equal(reader.version, 3);
  assert.equal(reader.queryCircle(500, 500, 300, out), world.queryCircle(500, 500, 300, expected));
});

Deno.test("views grow with the world's pool", () => {
  const options = { width: 1000, height: 1000, maxUsers: 20_000, maxSpeed: 50 };
  const world = new World(options);
  const views = new WorldViews(options);
  const reader = new WorldViewReader(views.shared, 0);
  const rng = mulberry32(5);
  const out = new Uint32Array(20_000);
  for (const users of [10, 1000, 5000, 20_000]) {
    while (world.size < users) world.addUser(world.allocateUserId(), rng() * 1000, rng() * 1000);
    assert.ok(world.publishTo(views));
    assert.ok(reader.pin());
    assert.equal(reader.queryRect(0, 0, 1000, 1000, out), users);
    reader.unpin();
  }
});
