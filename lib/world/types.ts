/**
 * The shapes World gives out: a user's record and the sizes of its structures.
 *
 * @module
 */

/** One user's state, as returned by World.getUser(). */
export interface UserRecord {
  /** User id (uint32 > 0). */
  id: number;
  /** Position x in metres. */
  x: number;
  /** Position y in metres. */
  y: number;
  /** Velocity x in m/s. */
  vx: number;
  /** Velocity y in m/s. */
  vy: number;
  /** Money balance. */
  money: number;
}

/** Sizes of a World's structures, for metrics and the benchmark. */
export interface WorldStats {
  /** Users in the world. */
  users: number;
  /** Users whose velocity is not zero. */
  moving: number;
  /** Record positions in the pool (users, room in their cells' blocks, free blocks). */
  poolLength: number;
  /** Positions inside the buckets' blocks (used or room to grow). */
  poolInBlocks: number;
  /** Times the pool grew because no free block was left. */
  poolGrowths: number;
  /** Effective grid cell edge in metres. */
  cellSize: number;
  /** Grid columns. */
  cols: number;
  /** Grid rows. */
  rows: number;
  /** Grid buckets (cells, or hash buckets when hashed). */
  buckets: number;
  /** True when grid cells are hashed into buckets (large sparse world). */
  hashed: boolean;
  /** Bytes of every typed array the world holds. */
  bytes: number;
}
