/**
 * The consistency check behind `World.checkInvariants()`, for tests and fuzzers.
 *
 * @module
 */
import type { WorldLayout } from "./_world_internals.ts";
import { InvariantError } from "./errors.ts";

/**
 * Throws an InvariantError unless the id index, the blocks, the pool's free room, the moving list
 * and the counts of `layout` all agree and every user sits in the cell of its position.
 */
export function checkWorldInvariants(layout: WorldLayout): void {
  const { world, grid } = layout;
  const length = layout.poolLength;
  if (layout.size > world.maxUsers) {
    throw new InvariantError(`Size ${layout.size} exceeds maxUsers ${world.maxUsers}`);
  }
  if (layout.ids.length !== length || layout.money.length !== length) {
    throw new InvariantError(`Pool arrays do not match the allocator's ${length} positions`);
  }
  if (layout.index.size !== layout.size) {
    throw new InvariantError(`Id index holds ${layout.index.size} ids, the world ${layout.size}`);
  }
  layout.index.checkInvariants();
  layout.alloc.checkInvariants();
  // Every position belongs to exactly one block: a bucket's or a free one.
  const owned = new Uint8Array(length);
  const own = (start: number, k: number, what: string) => {
    if (start < 0 || start + 2 ** k > length) {
      throw new InvariantError(`${what} block ${start} of class ${k} leaves the pool`);
    }
    for (let p = start; p < start + 2 ** k; p++) {
      if (owned[p]) throw new InvariantError(`Position ${p} belongs to two blocks (${what})`);
      owned[p] = 1;
    }
  };
  layout.alloc.forEachFree((start, k) => own(start, k, "free"));
  let users = 0;
  let moving = 0;
  for (let b = 0; b < grid.bucketCount; b++) {
    const start = layout.blocks[2 * b];
    const count = layout.blocks[2 * b + 1];
    const k = layout.blockClass[b];
    if (start < 0) {
      if (count !== 0 || k !== layout.noBlock) {
        throw new InvariantError(`Bucket ${b} has no block but count ${count}, class ${k}`);
      }
      continue;
    }
    if (k === layout.noBlock || count < 1 || count > 2 ** k) {
      throw new InvariantError(`Bucket ${b} has a bad block: count ${count}, class ${k}`);
    }
    own(start, k, `bucket ${b}`);
    for (let p = start; p < start + count; p++) {
      users++;
      const id = layout.ids[p];
      if (id === 0 || id >= layout.nextUserId) {
        throw new InvariantError(`Position ${p} has id ${id} outside [1, ${layout.nextUserId})`);
      }
      if (layout.index.get(id) !== p) {
        throw new InvariantError(`Id index maps ${id} to ${layout.index.get(id)}, not ${p}`);
      }
      const x = layout.pos[2 * p];
      const y = layout.pos[2 * p + 1];
      if (!(x >= 0 && x <= world.width && y >= 0 && y <= world.height)) {
        throw new InvariantError(`User ${id} at (${x}, ${y}) is outside the world`);
      }
      const key = grid.keyOf(x, y);
      if (grid.bucketOfKey(key) !== b) {
        throw new InvariantError(`User ${id} at (${x}, ${y}) of cell ${key} is in bucket ${b}`);
      }
      const isMoving = layout.vel[2 * p] !== 0 || layout.vel[2 * p + 1] !== 0;
      const m = layout.movingPos[p];
      if (isMoving !== m >= 0) {
        throw new InvariantError(`User ${id} moving=${isMoving} has moving index ${m}`);
      }
      if (m >= 0) {
        moving++;
        if (m >= layout.movingCount || layout.moving[m] !== p) {
          throw new InvariantError(`Moving list entry ${m} does not point back to ${p}`);
        }
      }
      if (!Number.isFinite(layout.money[p])) {
        throw new InvariantError(`User ${id} has money ${layout.money[p]}`);
      }
    }
    for (let p = start + count; p < start + 2 ** k; p++) owned[p] = 2; // room in the block
  }
  for (let p = 0; p < length; p++) {
    if (!owned[p]) throw new InvariantError(`Position ${p} belongs to no block`);
    const held = owned[p] === 1 && layout.ids[p] !== 0;
    if (!held && (layout.ids[p] !== 0 || layout.vel[2 * p] !== 0 || layout.vel[2 * p + 1] !== 0)) {
      throw new InvariantError(`Free position ${p} is not clear`);
    }
  }
  if (users !== layout.size) {
    throw new InvariantError(`Blocks hold ${users} users, the world counts ${layout.size}`);
  }
  if (moving !== layout.movingCount) {
    throw new InvariantError(`Moving list counts ${layout.movingCount}, ${moving} users move`);
  }
}
