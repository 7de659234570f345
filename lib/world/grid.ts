import { InvalidArgumentError } from "./errors.ts";

/** Largest number of columns or rows; the cell size grows past the requested one beyond it. */
const MAX_CELLS_PER_AXIS = 1 << 24;
/** A direct grid may always use this many cells, whatever the user capacity. */
const MIN_DIRECT_CELLS = 1 << 16;
/** A direct grid may use this many cells per user of capacity before the grid switches to hashing. */
const DIRECT_CELLS_PER_USER = 4;
/** Largest bucket table of a hashed grid. */
const MAX_HASHED_BUCKETS = 1 << 26;

/**
 * The geometry of a uniform grid over [0, width] × [0, height]: cell coordinates of a position
 * and the bucket that holds a cell.
 *
 * When the world is small enough (≤ max(65,536, 4 × maxUsers) cells) each cell is its own bucket
 * ("direct"). A large sparse world instead hashes cells into a power-of-two bucket table sized by
 * maxUsers ("hashed"): memory stays bounded while the cell size stays suited to the query radius;
 * walkers then skip the users of other cells that share a bucket by comparing cell keys.
 * `cellX()` / `cellY()` are monotonic in the position, which is all that keeps queries exact;
 * World.step() inlines the same arithmetic.
 */
export class Grid {
  /** Cell edge in metres (the requested one, or larger for a gigantic world). */
  readonly cellSize: number;
  /** 1 / cellSize: positions are mapped to cells by one multiplication. */
  readonly inverseCellSize: number;
  /** Number of cell columns. */
  readonly cols: number;
  /** Number of cell rows. */
  readonly rows: number;
  /** True when cells are hashed into buckets (large sparse world). */
  readonly hashed: boolean;
  /** Number of buckets. */
  readonly bucketCount: number;
  readonly #bucketShift: number;

  /** Creates the geometry for a world of `width` × `height` metres holding up to `maxUsers`. */
  constructor(width: number, height: number, cellSize: number, maxUsers: number) {
    if (!(cellSize > 0) || !Number.isFinite(cellSize)) {
      throw new InvalidArgumentError(`cellSize must be a positive finite number, got ${cellSize}`);
    }
    const size = Math.max(cellSize, width / MAX_CELLS_PER_AXIS, height / MAX_CELLS_PER_AXIS);
    this.cellSize = size;
    this.inverseCellSize = 1 / size;
    this.cols = Math.max(1, Math.ceil(width / size));
    this.rows = Math.max(1, Math.ceil(height / size));
    const cells = this.cols * this.rows;
    this.hashed = cells > Math.max(MIN_DIRECT_CELLS, DIRECT_CELLS_PER_USER * maxUsers);
    if (this.hashed) {
      let buckets = MIN_DIRECT_CELLS;
      while (buckets < 2 * maxUsers && buckets < MAX_HASHED_BUCKETS) buckets *= 2;
      this.bucketCount = buckets;
      this.#bucketShift = Math.clz32(buckets) + 1;
    } else {
      this.bucketCount = cells;
      this.#bucketShift = 0;
    }
  }

  /** Column of a position x in [0, width] (clamped to the last column). */
  cellX(x: number): number {
    const cx = (x * this.inverseCellSize) | 0;
    return cx < this.cols ? cx : this.cols - 1;
  }

  /** Row of a position y in [0, height] (clamped to the last row). */
  cellY(y: number): number {
    const cy = (y * this.inverseCellSize) | 0;
    return cy < this.rows ? cy : this.rows - 1;
  }

  /** Cell key `cy * cols + cx` of a position inside the world. */
  keyOf(x: number, y: number): number {
    return this.cellY(y) * this.cols + this.cellX(x);
  }

  /** Bucket of cell (cx, cy): the cell key itself, or its hash in a hashed grid. */
  bucketOf(cx: number, cy: number): number {
    if (!this.hashed) return cy * this.cols + cx;
    return Math.imul(cx ^ Math.imul(cy, 0x27d4eb2f), 0x9e3779b1) >>> this.#bucketShift;
  }

  /** Bucket of a cell key. */
  bucketOfKey(key: number): number {
    if (!this.hashed) return key;
    const cx = key % this.cols;
    return this.bucketOf(cx, (key - cx) / this.cols);
  }
}
