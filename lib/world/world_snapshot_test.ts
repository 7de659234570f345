import assert from "node:assert/strict";
import { crc32 } from "../checksum/mod.ts";
import { mulberry32, type Rng } from "../random/mod.ts";
import { sortedIds, usersOf } from "../../tests/support/world_util.ts";
import { SnapshotError } from "./errors.ts";
import { World } from "./world.ts";
import { SnapshotSpace } from "./world_snapshot.ts";
import type { WorldOptions } from "./world_options.ts";

const OPTIONS: WorldOptions = {
  width: 800,
  height: 600,
  cellSize: 25,
  maxUsers: 300,
  maxSpeed: 40,
};

/** One random write (the kind a master publishes), applied the same way to every world. */
type Op = (world: World) => void;

function randomOps(rng: Rng, count: number): Op[] {
  const ops: Op[] = [];
  let nextId = 1;
  const live: number[] = [];
  for (let i = 0; i < count; i++) {
    const r = rng();
    if (r < 0.2 && live.length < OPTIONS.maxUsers) {
      const id = nextId++;
      const x = rng() * OPTIONS.width;
      const y = rng() * OPTIONS.height;
      live.push(id);
      ops.push((w) => {
        assert.equal(w.allocateUserId(), id);
        w.addUser(id, x, y);
      });
    } else if (r < 0.27 && live.length > 0) {
      const id = live.splice(Math.floor(rng() * live.length), 1)[0];
      ops.push((w) => void w.removeUser(id));
    } else if (r < 0.5 && live.length > 0) {
      const id = live[Math.floor(rng() * live.length)];
      const a = rng() * 2 * Math.PI;
      const s = rng() < 0.1 ? 0 : rng() * OPTIONS.maxSpeed;
      ops.push((w) => void w.setVelocity(id, s * Math.cos(a), s * Math.sin(a)));
    } else if (r < 0.6 && live.length > 0) {
      const id = live[Math.floor(rng() * live.length)];
      const radius = rng() * 80;
      const amount = Math.round((rng() - 0.5) * 20);
      ops.push((w) => void w.aoe(id, radius, amount, new Uint32Array(8)));
    } else {
      ops.push((w) => w.step(0.02));
    }
  }
  return ops;
}

/** Every id each of a fixed set of queries returns, in the order returned. */
function answers(world: World, rng: Rng): number[][] {
  const out = new Uint32Array(OPTIONS.maxUsers);
  const result: number[][] = [];
  for (let i = 0; i < 20; i++) {
    const x = rng() * OPTIONS.width;
    const y = rng() * OPTIONS.height;
    const n = world.queryCircle(x, y, rng() * 120, out);
    result.push(Array.from(out.subarray(0, n)));
    const m = world.queryRect(x, y, rng() * OPTIONS.width, rng() * OPTIONS.height, out);
    result.push(Array.from(out.subarray(0, m)));
  }
  return result;
}

function sortedAnswers(a: number[][]): number[][] {
  return a.map((ids) => sortedIds(Uint32Array.from(ids), ids.length));
}

Deno.test("two worlds given the same calls reach the same state, layout and answers", () => {
  for (let seed = 1; seed <= 5; seed++) {
    const ops = randomOps(mulberry32(seed), 3000);
    const a = new World(OPTIONS);
    const b = new World(OPTIONS);
    for (const op of ops) {
      op(a);
      op(b);
    }
    assert.equal(a.checksum(), b.checksum());
    assert.deepEqual(usersOf(a), usersOf(b));
    assert.deepEqual(answers(a, mulberry32(seed)), answers(b, mulberry32(seed)));
    assert.deepEqual(a.snapshot(), b.snapshot());
  }
});

Deno.test("checksum() covers every field and ignores the layout", async (t) => {
  const base = () => {
    const w = new World(OPTIONS);
    w.addUser(1, 10, 10);
    w.addUser(2, 20, 20);
    w.setVelocity(2, 1, 1);
    return w;
  };
  const sum = base().checksum();
  await t.step("each change shows", () => {
    const changes: Op[] = [
      (w) => w.step(0.02),
      (w) => void w.setVelocity(1, 0, 1e-9),
      (w) => void w.aoe(2, 50, 1, new Uint32Array(2)),
      (w) => void w.allocateUserId(),
      (w) => void w.removeUser(1),
      (w) => w.addUser(3, 0, 0),
    ];
    for (const change of changes) {
      const w = base();
      change(w);
      assert.notEqual(w.checksum(), sum);
    }
  });
  await t.step("insertion order does not", () => {
    const w = new World(OPTIONS);
    w.addUser(2, 20, 20);
    w.addUser(1, 10, 10);
    w.setVelocity(2, 1, 1);
    assert.equal(w.checksum(), sum);
  });
});

Deno.test("fromSnapshot() restores the same state, answers and evolution", () => {
  for (let seed = 1; seed <= 5; seed++) {
    const rng = mulberry32(100 + seed);
    const ops = randomOps(rng, 4000);
    const master = new World(OPTIONS);
    for (const op of ops.slice(0, 2000)) op(master);
    const bytes = master.snapshot();
    const slave = World.fromSnapshot(bytes, OPTIONS);
    slave.checkInvariants();
    assert.equal(slave.checksum(), master.checksum());
    assert.equal(slave.size, master.size);
    assert.equal(slave.nextUserId, master.nextUserId);
    assert.deepEqual(
      sortedAnswers(answers(slave, mulberry32(seed))),
      sortedAnswers(answers(master, mulberry32(seed))),
    );
    assert.deepEqual(World.fromSnapshot(bytes, OPTIONS).snapshot(), slave.snapshot());
    for (const [i, op] of ops.slice(2000).entries()) {
      op(master);
      op(slave);
      if (i % 250 === 0) assert.equal(slave.checksum(), master.checksum());
    }
    slave.checkInvariants();
    assert.equal(slave.checksum(), master.checksum());
  }
});

Deno.test("snapshotWriter() gives snapshot()'s bytes a slice at a time, as of its call", () => {
  const rng = mulberry32(21);
  const world = new World(OPTIONS);
  for (const op of randomOps(rng, 1500)) op(world);
  world.step(0.05);
  for (const slice of [1, 7, 64, Number.POSITIVE_INFINITY]) {
    const expected = world.snapshot();
    const checksum = world.checksum();
    const writer = world.snapshotWriter();
    assert.throws(() => writer.bytes, /not finished/);
    // The world goes on changing while the writer works: the snapshot stays the one of its call.
    let steps = 0;
    while (!writer.step(slice)) {
      steps++;
      world.step(0.02);
      if (steps % 5 === 0 && world.size > 0) {
        let first = 0;
        world.forEachUser((id) => first ||= id);
        world.removeUser(first);
      }
    }
    assert.deepEqual(writer.bytes, expected, `slices of ${slice}`);
    assert.equal(World.fromSnapshot(writer.bytes, OPTIONS).checksum(), checksum);
    if (slice === 1) assert.ok(steps > 100);
    assert.equal(writer.remaining, 0);
  }
});

Deno.test("snapshotWriter() copies into a prepared SnapshotSpace, reused across snapshots", () => {
  const rng = mulberry32(8);
  const world = new World(OPTIONS);
  for (const op of randomOps(rng, 800)) op(world);
  const space = new SnapshotSpace();
  assert.equal(space.capacity, 0);
  let calls = 1;
  while (!space.prepare(world.snapshotPositions, 16)) calls++;
  assert.ok(calls > 1, "prepared a slice at a time");
  assert.ok(space.capacity >= world.snapshotPositions);
  for (let round = 0; round < 3; round++) {
    const expected = world.snapshot();
    const writer = world.snapshotWriter(space);
    world.step(0.05); // changes after the copy do not reach it
    while (!writer.step(5));
    assert.deepEqual(writer.bytes, expected, `round ${round}`);
  }
  // A space that is too small is not used: the copy goes to fresh memory, same bytes.
  const small = new SnapshotSpace();
  small.prepare(1);
  const expected = world.snapshot();
  const writer = world.snapshotWriter(small);
  writer.step();
  assert.deepEqual(writer.bytes, expected);
});

Deno.test("snapshot() of an empty world round-trips", () => {
  const world = new World(OPTIONS);
  world.allocateUserId();
  const copy = World.fromSnapshot(world.snapshot(), OPTIONS);
  assert.equal(copy.size, 0);
  assert.equal(copy.nextUserId, 2);
  assert.equal(copy.checksum(), world.checksum());
});

Deno.test("fromSnapshot() rejects corrupt and truncated snapshots", async (t) => {
  const world = new World(OPTIONS);
  for (const op of randomOps(mulberry32(7), 600)) op(world);
  const good = world.snapshot();
  const rng = mulberry32(8);
  await t.step("random byte changes", () => {
    for (let i = 0; i < 300; i++) {
      const bad = good.slice();
      const flips = 1 + Math.floor(rng() * 4);
      for (let f = 0; f < flips; f++) {
        const at = Math.floor(rng() * bad.length);
        bad[at] ^= 1 + Math.floor(rng() * 255);
      }
      assert.throws(() => World.fromSnapshot(bad, OPTIONS), SnapshotError);
    }
  });
  await t.step("truncation and extra bytes", () => {
    for (const length of [0, 1, 35, 39, 40, good.length - 44, good.length - 1]) {
      assert.throws(() => World.fromSnapshot(good.subarray(0, length), OPTIONS), SnapshotError);
    }
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    assert.throws(() => World.fromSnapshot(longer, OPTIONS), SnapshotError);
  });
  await t.step("options that do not fit", () => {
    assert.throws(() => World.fromSnapshot(good, { ...OPTIONS, width: 801 }), SnapshotError);
    assert.throws(() => World.fromSnapshot(good, { ...OPTIONS, maxUsers: 1 }), SnapshotError);
    assert.throws(() => World.fromSnapshot(good, { ...OPTIONS, maxSpeed: 1 }), SnapshotError);
  });
  await t.step("well-formed bytes with invalid content", () => {
    // Each case edits the first record (or the header) and re-seals the CRC.
    const cases: [string, (v: DataView) => void][] = [
      ["NaN x", (v) => v.setFloat64(36 + 4, NaN, true)],
      ["x outside", (v) => v.setFloat64(36 + 4, 801, true)],
      ["infinite money", (v) => v.setFloat64(36 + 36, Infinity, true)],
      ["id 0", (v) => v.setUint32(36, 0, true)],
      ["id not below nextUserId", (v) => v.setUint32(36, v.getFloat64(24, true), true)],
      ["duplicate id", (v) => v.setUint32(36 + 44, v.getUint32(36, true), true)],
      ["too fast", (v) => v.setFloat64(36 + 20, 41, true)],
      ["bad nextUserId", (v) => v.setFloat64(24, 0.5, true)],
      ["bad version", (v) => v.setUint16(4, 2, true)],
      ["bad magic", (v) => v.setUint32(0, 0, true)],
      ["flags", (v) => v.setUint16(6, 1, true)],
    ];
    for (const [name, edit] of cases) {
      const bad = good.slice();
      const view = new DataView(bad.buffer);
      edit(view);
      view.setUint32(bad.length - 4, crc32(bad, 0, bad.length - 4), true);
      assert.throws(() => World.fromSnapshot(bad, OPTIONS), SnapshotError, name);
    }
  });
});
