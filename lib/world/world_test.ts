import assert from "node:assert/strict";
import { mulberry32, type Rng } from "../random/mod.ts";
import {
  bruteCircle,
  bruteRect,
  edgyCoordinate,
  type Plain,
  sortedIds,
  usersOf,
} from "../../tests/support/world_util.ts";
import {
  InvalidArgumentError,
  OutOfBoundsError,
  UserExistsError,
  WorldError,
  WorldFullError,
} from "./errors.ts";
import { Grid } from "./grid.ts";
import { World } from "./world.ts";
import type { WorldOptions } from "./world_options.ts";

/** Shapes that exercise a direct grid, an uneven one and a hashed (huge, sparse) one. */
const SHAPES: { name: string; options: WorldOptions }[] = [
  { name: "direct", options: { width: 1000, height: 700, maxUsers: 400, maxSpeed: 30 } },
  {
    name: "uneven",
    options: { width: 333.3, height: 1000, cellSize: 33.3, maxUsers: 400, maxSpeed: 30 },
  },
  {
    name: "hashed",
    options: { width: 1e7, height: 1e7, cellSize: 50, maxUsers: 400, maxSpeed: 30 },
  },
  {
    name: "one cell",
    options: { width: 40, height: 40, cellSize: 100, maxUsers: 400, maxSpeed: 5 },
  },
];

function populate(rng: Rng, options: WorldOptions, count: number): World {
  const world = new World(options);
  const cell = options.cellSize ?? 50;
  // A hashed world is huge: crowd the users into one corner so queries find some.
  const spanX = Math.min(options.width, 2000);
  const spanY = Math.min(options.height, 2000);
  for (let i = 0; i < count; i++) {
    const id = world.allocateUserId();
    const x = spanX === options.width ? edgyCoordinate(rng, spanX, cell) : rng() * spanX;
    const y = spanY === options.height ? edgyCoordinate(rng, spanY, cell) : rng() * spanY;
    world.addUser(id, x, y);
    if (rng() < 0.7) {
      const a = rng() * 2 * Math.PI;
      const s = rng() * options.maxSpeed;
      world.setVelocity(id, s * Math.cos(a), s * Math.sin(a));
    }
  }
  return world;
}

function randomCorner(rng: Rng, max: number, cell: number): number {
  const r = rng();
  if (r < 0.1) return -rng() * max; // outside
  if (r < 0.2) return max + rng() * max;
  return edgyCoordinate(rng, Math.min(max, 2000), cell);
}

Deno.test("queryRect() returns the users inside the rectangle", async (t) => {
  for (const { name, options } of SHAPES) {
    await t.step(name, () => {
      const out = new Uint32Array(1000);
      for (let seed = 1; seed <= 60; seed++) {
        const rng = mulberry32(seed);
        const world = populate(rng, options, 1 + Math.floor(rng() * 300));
        for (let round = 0; round < 4; round++) {
          const users = usersOf(world);
          const cell = options.cellSize ?? 50;
          for (let q = 0; q < 40; q++) {
            let x1 = randomCorner(rng, options.width, cell);
            let y1 = randomCorner(rng, options.height, cell);
            let x2 = randomCorner(rng, options.width, cell);
            let y2 = randomCorner(rng, options.height, cell);
            if (q === 0) [x1, y1, x2, y2] = [-Infinity, -Infinity, Infinity, Infinity];
            if (q === 1) [x1, y1, x2, y2] = [options.width, options.height, 0, 0];
            if (q === 2) [x2, y2] = [x1, y1]; // a point
            const total = world.queryRect(x1, y1, x2, y2, out);
            const expected = bruteRect(users, x1, y1, x2, y2);
            assert.equal(total, expected.length, `seed ${seed} rect ${[x1, y1, x2, y2]}`);
            assert.deepEqual(sortedIds(out, total), expected);
          }
          world.step(0.25);
        }
      }
    });
  }
});

Deno.test("queryCircle() returns the users inside the circle", async (t) => {
  for (const { name, options } of SHAPES) {
    await t.step(name, () => {
      const out = new Uint32Array(1000);
      for (let seed = 1; seed <= 60; seed++) {
        const rng = mulberry32(1000 + seed);
        const world = populate(rng, options, 1 + Math.floor(rng() * 300));
        const cell = options.cellSize ?? 50;
        for (let round = 0; round < 4; round++) {
          const users = usersOf(world);
          for (let q = 0; q < 40; q++) {
            const pick = users[Math.floor(rng() * users.length)];
            const onUser = rng() < 0.3;
            const x = onUser ? pick.x : randomCorner(rng, options.width, cell);
            const y = onUser ? pick.y : randomCorner(rng, options.height, cell);
            const rr = rng();
            const radius = rr < 0.15 ? 0 : rr < 0.3 ? cell : rr < 0.35 ? 1e9 : rng() * 3 * cell;
            const total = world.queryCircle(x, y, radius, out);
            const expected = bruteCircle(users, x, y, radius);
            assert.equal(total, expected.length, `seed ${seed} circle ${[x, y, radius]}`);
            assert.deepEqual(sortedIds(out, total), expected);
          }
          world.step(0.25);
        }
      }
    });
  }
  await t.step("radius 0 finds exactly the users on the centre", () => {
    const world = new World({ width: 100, height: 100, cellSize: 10, maxUsers: 10, maxSpeed: 1 });
    world.addUser(1, 10, 10);
    world.addUser(2, 10, 10);
    world.addUser(3, 10, 10.000001);
    const out = new Uint32Array(4);
    assert.equal(world.queryCircle(10, 10, 0, out), 2);
    assert.deepEqual(sortedIds(out, 2), [1, 2]);
  });
});

Deno.test("positionsOf() and records give a query's users from the pool arrays", () => {
  const world = new World({ width: 100, height: 100, maxUsers: 10, maxSpeed: 10 });
  world.addUser(7, 10, 20);
  world.addUser(9, 30, 40);
  world.setVelocity(9, 1, -1);
  const out = new Uint32Array(10);
  const total = world.queryCircle(20, 30, 50, out);
  assert.equal(total, 2);
  const positions = new Uint32Array(2);
  assert.equal(world.positionsOf(out, total, positions), true);
  const { ids, pos, vel, money } = world.records;
  for (let i = 0; i < total; i++) {
    const p = positions[i];
    const u = world.getUser(out[i])!;
    assert.deepEqual(
      { id: ids[p], x: pos[2 * p], y: pos[2 * p + 1], vx: vel[2 * p], vy: vel[2 * p + 1] },
      { id: u.id, x: u.x, y: u.y, vx: u.vx, vy: u.vy },
    );
    assert.equal(money[p], u.money);
  }
  world.removeUser(9);
  assert.equal(world.positionsOf(out, total, positions), false, "an id no longer in the world");
});

Deno.test("queries report the total when out is too small to hold every id", () => {
  const world = new World({ width: 100, height: 100, maxUsers: 50, maxSpeed: 1 });
  for (let id = 1; id <= 30; id++) world.addUser(id, id, id);
  const out = new Uint32Array(5);
  assert.equal(world.queryRect(0, 0, 100, 100, out), 30);
  assert.equal(new Set(out).size, 5);
  assert.equal(world.queryCircle(50, 50, 1000, out), 30);
  assert.equal(world.queryCircle(50, 50, 1000, new Uint32Array(0)), 30);
  assert.equal(world.aoe(1, 1000, 1, out), 29);
  assert.equal(world.getUser(30)!.money, 1);
});

Deno.test("aoe() adds money to every other user within the radius", async (t) => {
  for (const { name, options } of SHAPES) {
    await t.step(name, () => {
      const out = new Uint32Array(1000);
      for (let seed = 1; seed <= 15; seed++) {
        const rng = mulberry32(2000 + seed);
        const world = populate(rng, options, 1 + Math.floor(rng() * 300));
        const cell = options.cellSize ?? 50;
        for (let q = 0; q < 30; q++) {
          const before = usersOf(world);
          const source = before[Math.floor(rng() * before.length)];
          const radius = rng() < 0.2 ? 0 : rng() * 3 * cell;
          const amount = Math.round((rng() - 0.5) * 200);
          const total = world.aoe(source.id, radius, amount, out);
          const expected = bruteCircle(before, source.x, source.y, radius)
            .filter((id) => id !== source.id);
          assert.equal(total, expected.length);
          assert.deepEqual(sortedIds(out, total), expected);
          const hit = new Set(expected);
          const after = new Map(usersOf(world).map((u) => [u.id, u]));
          for (const u of before) {
            assert.equal(after.get(u.id)!.money, hit.has(u.id) ? u.money + amount : u.money);
          }
          if (q % 5 === 0) world.step(0.5);
        }
      }
    });
  }
  await t.step("an unknown source returns -1 and changes nothing", () => {
    const world = new World({ width: 100, height: 100, maxUsers: 10, maxSpeed: 1 });
    world.addUser(1, 5, 5);
    const sum = world.checksum();
    assert.equal(world.aoe(2, 50, 10, new Uint32Array(4)), -1);
    assert.equal(world.checksum(), sum);
  });
});

Deno.test("step() moves users, bounces them off the edges and keeps their cells", async (t) => {
  await t.step("straight motion and a bounce on each edge", () => {
    const world = new World({ width: 100, height: 50, cellSize: 10, maxUsers: 10, maxSpeed: 20 });
    world.addUser(1, 50, 25);
    world.setVelocity(1, 10, -5);
    world.step(1);
    assert.deepEqual(world.getUser(1), { id: 1, x: 60, y: 20, vx: 10, vy: -5, money: 0 });
    world.step(5); // x 110 -> clamped to 100, vx reflected; y -5 -> 0, vy reflected
    assert.deepEqual(world.getUser(1), { id: 1, x: 100, y: 0, vx: -10, vy: 5, money: 0 });
    world.step(20);
    assert.deepEqual(world.getUser(1), { id: 1, x: 0, y: 50, vx: 10, vy: -5, money: 0 });
    world.checkInvariants();
  });
  await t.step("resting users do not move and dt 0 changes nothing", () => {
    const world = new World({ width: 100, height: 100, maxUsers: 10, maxSpeed: 20 });
    world.addUser(1, 0, 100);
    world.addUser(2, 30, 30);
    world.setVelocity(2, 3, 4);
    const sum = world.checksum();
    world.step(0);
    assert.equal(world.checksum(), sum);
    world.step(1);
    assert.deepEqual(world.getUser(1), { id: 1, x: 0, y: 100, vx: 0, vy: 0, money: 0 });
    assert.deepEqual(world.getUser(2), { id: 2, x: 33, y: 34, vx: 3, vy: 4, money: 0 });
  });
  await t.step("rejects a negative, infinite or NaN dt", () => {
    const world = new World({ width: 100, height: 100, maxUsers: 10, maxSpeed: 20 });
    for (const dt of [-1, Infinity, NaN]) assert.throws(() => world.step(dt), InvalidArgumentError);
  });
});

Deno.test("checkInvariants() holds through long random runs", async (t) => {
  for (const { name, options } of SHAPES) {
    await t.step(name, () => {
      let growths = 0;
      for (let seed = 1; seed <= 12; seed++) {
        const rng = mulberry32(3000 + seed);
        // Small cells make users change cell (and blocks grow, shrink and move) often.
        const world = new World({ ...options, cellSize: (options.cellSize ?? 50) / 3 });
        const live: number[] = [];
        const out = new Uint32Array(64);
        const spanX = Math.min(options.width, 600);
        const spanY = Math.min(options.height, 600);
        for (let i = 0; i < 6000; i++) {
          const r = rng();
          if (r < 0.25 && world.size < options.maxUsers) {
            const id = world.allocateUserId();
            world.addUser(id, rng() * spanX, rng() * spanY);
            live.push(id);
          } else if (r < 0.35 && live.length > 0) {
            const j = Math.floor(rng() * live.length);
            assert.equal(world.removeUser(live[j]), true);
            assert.equal(world.removeUser(live[j]), false);
            live[j] = live[live.length - 1];
            live.pop();
          } else if (r < 0.6 && live.length > 0) {
            const a = rng() * 2 * Math.PI;
            const s = rng() < 0.2 ? 0 : options.maxSpeed * rng();
            world.setVelocity(
              live[Math.floor(rng() * live.length)],
              s * Math.cos(a),
              s * Math.sin(a),
            );
          } else if (r < 0.7 && live.length > 0) {
            world.aoe(live[Math.floor(rng() * live.length)], 30 * rng(), 1, out);
          } else {
            world.step(0.02 + rng());
          }
          if (i % 97 === 0) world.checkInvariants();
        }
        world.checkInvariants();
        growths += world.stats().poolGrowths;
        assert.equal(world.size, live.length);
        for (const id of live) assert.equal(world.has(id), true);
        assert.equal(usersOf(world).length, live.length);
      }
      assert.ok(growths > 6, "the runs must also cover growing the pool");
    });
  }
});

Deno.test("addUser() rejects a duplicate id, a bad position and a full world", () => {
  const world = new World({ width: 100, height: 50, maxUsers: 2, maxSpeed: 10 });
  world.addUser(1, 0, 0);
  assert.throws(() => world.addUser(1, 5, 5), UserExistsError);
  assert.throws(() => world.addUser(2, 100.0001, 5), OutOfBoundsError);
  assert.throws(() => world.addUser(2, 5, -0.1), OutOfBoundsError);
  assert.throws(() => world.addUser(2, NaN, 5), InvalidArgumentError);
  for (const id of [0, -1, 1.5, 2 ** 32]) {
    assert.throws(() => world.addUser(id, 5, 5), InvalidArgumentError);
  }
  world.addUser(7, 100, 50);
  assert.throws(() => world.addUser(3, 1, 1), WorldFullError);
  assert.throws(() => world.addUser(3, 1, 1), WorldError);
  assert.equal(world.size, 2);
  world.checkInvariants();
});

Deno.test("allocateUserId() counts up from 1 and addUser() keeps nextUserId past every id", () => {
  const world = new World({ width: 10, height: 10, maxUsers: 10, maxSpeed: 1 });
  assert.equal(world.nextUserId, 1);
  assert.equal(world.allocateUserId(), 1);
  assert.equal(world.allocateUserId(), 2);
  world.addUser(9, 1, 1); // a replica replaying the master's addUser()
  assert.equal(world.nextUserId, 10);
  world.addUser(1, 1, 1);
  assert.equal(world.nextUserId, 10);
  assert.equal(world.removeUser(9), true);
  assert.equal(world.allocateUserId(), 10); // never reused
});

Deno.test("setVelocity() asserts finite speeds within maxSpeed", () => {
  const world = new World({ width: 10, height: 10, maxUsers: 10, maxSpeed: 5 });
  world.addUser(1, 1, 1);
  assert.equal(world.setVelocity(1, 3, 4), true);
  assert.equal(world.setVelocity(2, 3, 4), false);
  assert.throws(() => world.setVelocity(1, 3, 4.01), InvalidArgumentError);
  assert.throws(() => world.setVelocity(1, NaN, 0), InvalidArgumentError);
  assert.throws(() => world.setVelocity(1, Infinity, 0), InvalidArgumentError);
  assert.deepEqual(world.getUser(1), { id: 1, x: 1, y: 1, vx: 3, vy: 4, money: 0 });
});

Deno.test("getUser() fills the record it is given", () => {
  const world = new World({ width: 10, height: 10, maxUsers: 10, maxSpeed: 5, initialMoney: 7 });
  world.addUser(4, 2, 3);
  const out = { id: 0, x: 0, y: 0, vx: 0, vy: 0, money: 0 };
  assert.equal(world.getUser(4, out), out);
  assert.deepEqual(out, { id: 4, x: 2, y: 3, vx: 0, vy: 0, money: 7 });
  assert.equal(world.getUser(5, out), undefined);
});

Deno.test("the constructor rejects bad options", () => {
  const ok: WorldOptions = { width: 10, height: 10, maxUsers: 10, maxSpeed: 5 };
  const bad: Partial<WorldOptions>[] = [
    { width: 0 },
    { height: NaN },
    { width: Infinity },
    { maxUsers: 0 },
    { maxUsers: 1.5 },
    { maxSpeed: -1 },
    { cellSize: 0 },
    { initialMoney: NaN },
  ];
  for (const b of bad) assert.throws(() => new World({ ...ok, ...b }), InvalidArgumentError);
});

Deno.test("a large sparse world keeps its grid memory bounded", () => {
  const world = new World({ width: 1e8, height: 1e8, maxUsers: 1000, maxSpeed: 10 });
  const stats = world.stats();
  assert.equal(stats.hashed, true);
  assert.ok(stats.bytes < 2_000_000, `${stats.bytes} bytes`);
  world.addUser(1, 5e7, 5e7);
  world.addUser(2, 5e7 + 30, 5e7 + 40);
  const out = new Uint32Array(4);
  assert.equal(world.queryCircle(5e7, 5e7, 50, out), 2);
  assert.equal(world.queryRect(0, 0, 1e8, 1e8, out), 2);
});

Deno.test("forEachUser() visits every user once", () => {
  const rng = mulberry32(99);
  const world = populate(rng, SHAPES[0].options, 250);
  for (let i = 0; i < 50; i++) world.step(0.5);
  const seen: Plain[] = usersOf(world);
  assert.equal(seen.length, 250);
  assert.equal(new Set(seen.map((u) => u.id)).size, 250);
  for (const u of seen) assert.deepEqual(world.getUser(u.id), u);
});

Deno.test("a hashed grid keeps apart the users of cells that share a bucket", () => {
  const options = { width: 1e7, height: 1e7, cellSize: 50, maxUsers: 100, maxSpeed: 100 };
  const grid = new Grid(options.width, options.height, options.cellSize, options.maxUsers);
  assert.equal(grid.hashed, true);
  // 90,000 cells into 65,536 buckets: some cells must share one.
  const seen = new Map<number, [number, number]>();
  let pair: [[number, number], [number, number]] | undefined;
  for (let cy = 1; cy < 301 && !pair; cy++) {
    for (let cx = 1; cx < 301 && !pair; cx++) {
      const other = seen.get(grid.bucketOf(cx, cy));
      if (other) pair = [other, [cx, cy]];
      else seen.set(grid.bucketOf(cx, cy), [cx, cy]);
    }
  }
  assert.ok(pair);
  const [[ax, ay], [bx, by]] = pair;
  const world = new World(options);
  world.addUser(1, ax * 50 + 25, ay * 50 + 25);
  world.addUser(2, bx * 50 + 25, by * 50 + 25);
  world.addUser(3, ax * 50 - 1, ay * 50 + 25); // one step left of cell A, moving into it
  world.setVelocity(3, 100, 0);
  // More users than cells in the queries below, so they walk cells instead of the whole pool.
  for (let id = 10; id < 40; id++) world.addUser(id, 9e6 + id, 9e6);
  world.step(0.1);
  world.checkInvariants();
  const out = new Uint32Array(4);
  assert.equal(world.queryRect(ax * 50, ay * 50, ax * 50 + 49.9, ay * 50 + 49.9, out), 2);
  assert.deepEqual(sortedIds(out, 2), [1, 3]);
  assert.equal(world.queryRect(bx * 50, by * 50, bx * 50 + 49.9, by * 50 + 49.9, out), 1);
  assert.equal(out[0], 2);
  assert.equal(world.queryCircle(bx * 50 + 25, by * 50 + 25, 20, out), 1);
  assert.equal(out[0], 2);
  assert.equal(world.aoe(1, 30, 5, out), 1);
  assert.equal(out[0], 3);
  assert.equal(world.getUser(2)!.money, 0);
  // The closest two cells that share a bucket: here vertical neighbours. A user crosses from one
  // into the other (a relink within one bucket), and a circle covering both counts each once.
  const byBucket = new Map<number, [number, number][]>();
  let near: [number, number, number, number] | undefined;
  for (let cy = 1; cy < 600 && !near; cy++) {
    for (let cx = 1; cx < 600 && !near; cx++) {
      const list = byBucket.get(grid.bucketOf(cx, cy)) ?? [];
      const close = list.find(([ox, oy]) => Math.abs(ox - cx) + Math.abs(oy - cy) === 1);
      if (close) near = [close[0], close[1], cx, cy];
      list.push([cx, cy]);
      byBucket.set(grid.bucketOf(cx, cy), list);
    }
  }
  assert.ok(near, "no neighbouring cells share a bucket");
  const [nx1, ny1, nx2, ny2] = near;
  const [sx, sy] = [nx1 * 50 + 25 + (nx2 - nx1) * 24, ny1 * 50 + 25 + (ny2 - ny1) * 24];
  world.addUser(4, sx, sy); // 1 m from the border between the two cells
  world.addUser(5, nx2 * 50 + 25, ny2 * 50 + 25);
  world.setVelocity(4, (nx2 - nx1) * 20, (ny2 - ny1) * 20);
  world.step(0.1);
  world.checkInvariants();
  assert.equal(grid.keyOf(world.getUser(4)!.x, world.getUser(4)!.y), ny2 * grid.cols + nx2);
  const wide = new Uint32Array(64);
  for (const [mx, my, r] of [[sx, sy, 60], [nx1 * 50, ny1 * 50, 120]]) {
    const n = world.queryCircle(mx, my, r, wide);
    assert.deepEqual(sortedIds(wide, n), bruteCircle(usersOf(world), mx, my, r));
  }
  // A 3 × 3-cell rectangle walks cell A as an inner cell, where only the cell check filters.
  const [x1, y1, x2, y2] = [(ax - 1) * 50, (ay - 1) * 50, (ax + 2) * 50 - 0.1, (ay + 2) * 50 - 0.1];
  const total = world.queryRect(x1, y1, x2, y2, out);
  assert.deepEqual(sortedIds(out, total), bruteRect(usersOf(world), x1, y1, x2, y2));
});

Deno.test("checksum(part, parts) covers the users whose id % parts is part, plus the counts", () => {
  const make = () => {
    const world = new World({ width: 500, height: 500, maxUsers: 100, maxSpeed: 5 });
    const rng = mulberry32(77);
    for (let id = 1; id <= 60; id++) world.addUser(id, rng() * 500, rng() * 500);
    return world;
  };
  const a = make();
  const b = make();
  const parts = 4;
  assert.equal(a.checksum(0, 1), a.checksum(), "one part is the whole state");
  b.setVelocity(42, 1, 1); // 42 % 4 === 2
  for (let part = 0; part < parts; part++) {
    const same = a.checksum(part, parts) === b.checksum(part, parts);
    assert.equal(same, part !== 42 % parts, `part ${part}`);
  }
  assert.notEqual(a.checksum(), b.checksum());
  // The counts are in every part: a user added to part 3 changes part 0's checksum too.
  const before = a.checksum(0, parts);
  a.addUser(63, 1, 1);
  assert.notEqual(a.checksum(0, parts), before);
  for (const [part, n] of [[-1, 4], [4, 4], [0, 0], [0.5, 2], [0, 1.5], [Number.NaN, 2]]) {
    assert.throws(() => a.checksum(part, n), InvalidArgumentError, `${part}/${n}`);
  }
});

Deno.test("aoe() gives the same world whatever out's length, and writes only inside out", () => {
  // A master answers with ids (a long `out`); a replica replays with an empty one: both must end
  // bit for bit alike, crowded cells and -0 money included.
  const build = () => {
    const world = new World({ width: 300, height: 300, maxUsers: 2000, maxSpeed: 5 });
    const rng = mulberry32(99);
    for (let id = 1; id <= 1500; id++) {
      // Two thirds crowd into one 40 m square: cells that hold far more than `out` can take.
      const crowd = id % 3 !== 0;
      world.addUser(
        id,
        crowd ? 100 + rng() * 40 : rng() * 300,
        crowd ? 100 + rng() * 40 : rng() * 300,
      );
    }
    return world;
  };
  const master = build();
  const replica = build();
  const long = new Uint32Array(257);
  const rng = mulberry32(5);
  for (let i = 0; i < 400; i++) {
    const source = 1 + Math.floor(rng() * 1500);
    const radius = rng() * 60;
    const amount = [-0, 0, 1, -2.5, 5e-324][i % 5];
    long.fill(0xdeadbeef);
    const cap = 1 + Math.floor(rng() * 256); // a view shorter than the buffer
    const total = master.aoe(source, radius, amount, long.subarray(0, cap));
    assert.equal(replica.aoe(source, radius, amount, new Uint32Array(0)), total);
    for (let k = cap; k < long.length; k++) assert.equal(long[k], 0xdeadbeef, "nothing past out");
    if (i % 50 === 0) {
      master.step(0.1);
      replica.step(0.1);
    }
  }
  assert.deepEqual(master.snapshot(), replica.snapshot());
  master.checkInvariants();
});
