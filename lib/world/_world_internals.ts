/**
 * What a World hands its own helpers (snapshot, checksum, invariants, stats) of its private state. Only
 * World builds these views, afresh for each call (the pool's arrays are replaced when it grows), so
 * nothing outside lib/world can reach the fields. Not re-exported from mod.ts.
 *
 * @module
 */
import type { BlockAllocator } from "./block_allocator.ts";
import type { Grid } from "./grid.ts";
import type { IdIndex } from "./id_index.ts";
import type { World } from "./world.ts";

/** A World's user records, read-only: what snapshot() and checksum() read. */
export interface WorldRecords {
  /** The world itself, for its public fields. */
  readonly world: World;
  /** Users in the world. */
  readonly size: number;
  /** The id allocateUserId() returns next. */
  readonly nextUserId: number;
  /** Positions in the pool (the arrays below hold at least this many records). */
  readonly poolLength: number;
  /** Id of each pool position (0: free room). */
  readonly ids: Uint32Array;
  /** x, y of each position, interleaved. */
  readonly pos: Float64Array;
  /** vx, vy of each position, interleaved. */
  readonly vel: Float64Array;
  /** Money of each position. */
  readonly money: Float64Array;
}

/** A World's whole layout, read-only: what checkInvariants() verifies and stats() measures. */
export interface WorldLayout extends WorldRecords {
  /** The uniform grid. */
  readonly grid: Grid;
  /** The buddy allocator of the pool's blocks. */
  readonly alloc: BlockAllocator;
  /** Id → pool position. */
  readonly index: IdIndex;
  /** Start (-1 without a block) and user count of each bucket's block, interleaved. */
  readonly blocks: Int32Array;
  /** Size class of each bucket's block (2^class positions), or `noBlock`. */
  readonly blockClass: Uint8Array;
  /** The class of a bucket without a block. */
  readonly noBlock: number;
  /** Index of each position's record in `moving`, -1 at rest. */
  readonly movingPos: Int32Array;
  /** Pool positions of the moving users, `movingCount` of them. */
  readonly moving: Int32Array;
  /** Users whose velocity is not zero. */
  readonly movingCount: number;
  /** Step scratch: ids of the users whose cell changed. */
  readonly pending: Uint32Array;
  /** Step scratch: the bucket each pending user's record is still in. */
  readonly pendingBucket: Int32Array;
  /** Times the pool grew because no free block was left. */
  readonly poolGrowths: number;
}

/** A fresh World's own checks and record insertion: what fromSnapshot() fills it through. */
export interface WorldRestorer {
  /** The world being filled, for its public fields and has(). */
  readonly world: World;
  /** Largest user id (MAX_USER_ID). */
  readonly maxUserId: number;
  /** Throws InvalidArgumentError unless `id` is a valid user id. */
  checkId(id: number): void;
  /** Throws InvalidArgumentError or OutOfBoundsError unless (x, y) lies in the world. */
  checkPosition(x: number, y: number): void;
  /** Throws InvalidArgumentError for a non-finite velocity or one above maxSpeed. */
  checkVelocity(vx: number, vy: number): void;
  /** Adds a record validated by the caller. */
  insert(id: number, x: number, y: number, vx: number, vy: number, money: number): void;
  /** Sets the id allocateUserId() returns next. */
  setNextUserId(id: number): void;
}
