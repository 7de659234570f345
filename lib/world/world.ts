import { checkPosition, checkVelocity } from "./_world_checks.ts";
import type { WorldLayout, WorldRestorer } from "./_world_internals.ts";
import { BlockAllocator } from "./block_allocator.ts";
import { InvalidArgumentError, UserExistsError, WorldFullError } from "./errors.ts";
import { Grid } from "./grid.ts";
import { IdIndex } from "./id_index.ts";
import type { UserRecord, WorldStats } from "./types.ts";
import { resolveWorldOptions, type WorldOptions } from "./world_options.ts";
import { worldChecksum } from "./world_checksum.ts";
import { checkWorldInvariants } from "./world_invariants.ts";
import { forEachRecord } from "./world_records.ts";
import {
  decodeSnapshot,
  encodeSnapshot,
  type SnapshotSpace,
  startSnapshotWriter,
  type WorldSnapshotWriter,
} from "./world_snapshot.ts";
import { worldStats } from "./world_stats.ts";
import type { WorldViews } from "./world_view.ts";
import { worldDensity } from "./world_density.ts";

/** Largest user id (ids are uint32 > 0). */
export const MAX_USER_ID = 0xffffffff;

/** Initial number of pool positions and of per-user list entries. */
const INITIAL_LENGTH = 64;
/** Factor by which the pool grows when no free block is left. */
const POOL_GROWTH = 1.25;
/** Marks a bucket without a block. */
const NO_BLOCK = 255;
/** Relative pad of a circle's bounding box, covering rounding in dx*dx + dy*dy <= r*r. */
const CIRCLE_PAD = 1e-12;

/**
 * The authoritative game world: users with a position, a velocity and money in a
 * `width` × `height` metre rectangle, a uniform grid for range queries, and a fixed-step mover.
 *
 * Layout: user records live in a pool of typed arrays (structure of arrays: ids; x and y
 * interleaved; vx and vy interleaved; money) where each grid bucket owns one contiguous
 * power-of-two block, so a query reads a cell's users from one run of memory. A user that changes
 * cell moves to its new cell's block; a full block moves to one twice as large, a half-full one to
 * one half as large. A buddy allocator hands out the blocks and merges freed ones, so the pool
 * never needs rebuilding: it only grows (positions kept) when no free block is left. An
 * open-addressing hash maps ids to positions; a dense list holds the moving users, and step()
 * sweeps the pool in order instead when most users move.
 *
 * Pure and deterministic: no I/O, no clock, no randomness; every layout decision depends only on
 * the call history, so the same calls in the same order give bit-identical state and the same
 * layout. `checksum()` is order-independent, so it also matches between worlds with equal state
 * and different layouts (such as one restored from a snapshot). The order of query results and of
 * forEachUser() follows the layout: repeatable for one call history, otherwise unspecified.
 */
export class World {
  /** World width in metres. */
  readonly width: number;
  /** World height in metres. */
  readonly height: number;
  /** Most users the world holds. */
  readonly maxUsers: number;
  /** Largest accepted speed in m/s. */
  readonly maxSpeed: number;
  /** Money of a newly added user. */
  readonly initialMoney: number;

  #size = 0;
  #nextUserId = 1;
  #poolGrowths = 0;
  readonly #grid: Grid;
  readonly #alloc: BlockAllocator;
  readonly #index: IdIndex;
  // Per bucket: its block in the pool.
  /** Start (-1 without a block) and user count of each bucket's block, interleaved. */
  readonly #blocks: Int32Array;
  readonly #blockClass: Uint8Array;
  // Per pool position (a record, or free room: id 0 and velocity 0).
  #ids: Uint32Array;
  /** x, y of each position, interleaved: a cell's block is one run of cache lines. */
  #pos: Float64Array;
  /** vx, vy of each position, interleaved. */
  #vel: Float64Array;
  #money: Float64Array;
  /** Index of the record in #moving, -1 at rest. */
  #movingPos: Int32Array;
  // Per user.
  #moving: Int32Array;
  #movingCount = 0;
  /** What a circle walk adds to the money of a miss (-0, which changes no number) and a hit. */
  readonly #addend = new Float64Array([-0, 0]);
  /** Sink of the reads that start a circle walk's cache misses early. */
  #touched = 0;
  /** Ids of the users whose cell changed during a step (moved after the sweep); per user. */
  #pending: Uint32Array;
  /** Bucket each pending user's record is still in. */
  #pendingBucket: Int32Array;

  /** Creates an empty world; throws InvalidArgumentError for bad options. */
  constructor(options: WorldOptions) {
    const { width, height, cellSize, maxUsers, maxSpeed, initialMoney } = resolveWorldOptions(
      options,
    );
    this.width = width;
    this.height = height;
    this.maxUsers = maxUsers;
    this.maxSpeed = maxSpeed;
    this.initialMoney = initialMoney;
    this.#grid = new Grid(width, height, cellSize, maxUsers);
    const buckets = this.#grid.bucketCount;
    this.#blocks = new Int32Array(2 * buckets);
    for (let b = 0; b < buckets; b++) this.#blocks[2 * b] = -1;
    this.#blockClass = new Uint8Array(buckets).fill(NO_BLOCK);
    this.#alloc = new BlockAllocator(INITIAL_LENGTH);
    this.#ids = new Uint32Array(INITIAL_LENGTH);
    this.#pos = new Float64Array(2 * INITIAL_LENGTH);
    this.#vel = new Float64Array(2 * INITIAL_LENGTH);
    this.#money = new Float64Array(INITIAL_LENGTH);
    this.#movingPos = new Int32Array(INITIAL_LENGTH);
    const perUser = Math.min(maxUsers, INITIAL_LENGTH);
    this.#moving = new Int32Array(perUser);
    this.#pending = new Uint32Array(perUser);
    this.#pendingBucket = new Int32Array(perUser);
    this.#index = new IdIndex(perUser);
  }

  /** Number of users in the world. */
  get size(): number {
    return this.#size;
  }

  /** The id allocateUserId() returns next; ids are never reused in a world's life. */
  get nextUserId(): number {
    return this.#nextUserId;
  }

  /** Returns a fresh user id (nextUserId++); throws WorldFullError when the id space is spent. */
  allocateUserId(): number {
    const id = this.#nextUserId;
    if (id > MAX_USER_ID) throw new WorldFullError("Every user id has been allocated");
    this.#nextUserId = id + 1;
    return id;
  }

  /**
   * Adds user `id` at rest at (x, y) with `initialMoney`; raises nextUserId past `id`, so a replica
   * replaying addUser() stays in step with the master without calling allocateUserId().
   * Throws InvalidArgumentError, OutOfBoundsError, UserExistsError or WorldFullError.
   */
  addUser(id: number, x: number, y: number): void {
    checkId(id);
    checkPosition(x, y, this);
    if (this.#index.get(id) >= 0) throw new UserExistsError(id);
    if (this.#size >= this.maxUsers) {
      throw new WorldFullError(`The world is full: it holds maxUsers = ${this.maxUsers} users`);
    }
    this.#insert(id, x, y, 0, 0, this.initialMoney);
    if (id >= this.#nextUserId) this.#nextUserId = id + 1;
  }

  /** Removes user `id`; returns false when it is not in the world. */
  removeUser(id: number): boolean {
    const p = this.#index.get(id);
    if (p < 0) return false;
    if (this.#movingPos[p] >= 0) this.#stopMoving(p);
    this.#index.delete(id);
    this.#takeOut(
      p,
      this.#grid.bucketOfKey(this.#grid.keyOf(this.#pos[2 * p], this.#pos[2 * p + 1])),
    );
    this.#size--;
    return true;
  }

  /** True when user `id` is in the world. */
  has(id: number): boolean {
    return this.#index.get(id) >= 0;
  }

  /**
   * Sets the velocity of user `id` in m/s; returns false when the user is unknown.
   * Throws InvalidArgumentError for a non-finite component or a speed above maxSpeed.
   */
  setVelocity(id: number, vx: number, vy: number): boolean {
    checkVelocity(vx, vy, this);
    const p = this.#index.get(id);
    if (p < 0) return false;
    this.#vel[2 * p] = vx;
    this.#vel[2 * p + 1] = vy;
    const moving = vx !== 0 || vy !== 0;
    if (moving && this.#movingPos[p] < 0) this.#startMoving(p);
    else if (!moving && this.#movingPos[p] >= 0) this.#stopMoving(p);
    return true;
  }

  /** Returns user `id` (filling `out` when given), or undefined when unknown. */
  getUser(id: number, out?: UserRecord): UserRecord | undefined {
    const p = this.#index.get(id);
    if (p < 0) return undefined;
    const user = out ?? { id: 0, x: 0, y: 0, vx: 0, vy: 0, money: 0 };
    user.id = id;
    user.x = this.#pos[2 * p];
    user.y = this.#pos[2 * p + 1];
    user.vx = this.#vel[2 * p];
    user.vy = this.#vel[2 * p + 1];
    user.money = this.#money[p];
    return user;
  }

  /**
   * The pool arrays (ids; x, y pairs; vx, vy pairs; money) as they are now, for writing a reply
   * straight from them (with {@linkcode positionsOf}). Read-only, and valid only until the world
   * next changes: a growing pool replaces them.
   */
  get records(): { ids: Uint32Array; pos: Float64Array; vel: Float64Array; money: Float64Array } {
    return { ids: this.#ids, pos: this.#pos, vel: this.#vel, money: this.#money };
  }

  /**
   * Writes into `out` the pool position of each of the first `n` of `ids` (ids a query just
   * returned); false, with `out` partly written, when one of them is not in the world.
   */
  positionsOf(ids: Uint32Array, n: number, out: Uint32Array): boolean {
    for (let i = 0; i < n; i++) {
      const p = this.#index.get(ids[i]);
      if (p < 0) return false;
      out[i] = p;
    }
    return true;
  }

  /**
   * Advances time by `dt` seconds: every moving user goes to p + v·dt; one that leaves the world
   * is clamped to the edge and that velocity component is negated (bounce). Users whose cell
   * changes are then moved to their new cell's block. Allocates nothing, except in the rare step
   * that must grow the pool.
   */
  step(dt: number): void {
    if (!(dt >= 0) || dt === Infinity) {
      throw new InvalidArgumentError(`dt must be a finite number >= 0, got ${dt}`);
    }
    const changed = this.#advance(dt);
    // Moving records during the sweep could visit one twice: they move afterwards, found by id.
    for (let i = 0; i < changed; i++) {
      this.#relink(this.#index.get(this.#pending[i]), this.#pendingBucket[i]);
    }
  }

  /**
   * Writes into `out` the ids (up to out.length) of the users with x1 ≤ x ≤ x2 and y1 ≤ y ≤ y2
   * (corners in any order, borders included) and returns how many matched in all — more than
   * out.length means the answer was truncated.
   */
  queryRect(x1: number, y1: number, x2: number, y2: number, out: Uint32Array): number {
    if (Number.isNaN(x1) || Number.isNaN(y1) || Number.isNaN(x2) || Number.isNaN(y2)) {
      throw new InvalidArgumentError("queryRect() corners must not be NaN");
    }
    const lx = Math.min(x1, x2);
    const hx = Math.max(x1, x2);
    const ly = Math.min(y1, y2);
    const hy = Math.max(y1, y2);
    if (hx < 0 || lx > this.width || hy < 0 || ly > this.height || this.#size === 0) return 0;
    const grid = this.#grid;
    const cx1 = grid.cellX(lx > 0 ? lx : 0);
    const cx2 = grid.cellX(hx < this.width ? hx : this.width);
    const cy1 = grid.cellY(ly > 0 ? ly : 0);
    const cy2 = grid.cellY(hy < this.height ? hy : this.height);
    const ids = this.#ids;
    const pos = this.#pos;
    const cap = out.length;
    let count = 0;
    if ((cx2 - cx1 + 1) * (cy2 - cy1 + 1) > this.#size) {
      // More cells than users: a sweep of the pool is cheaper than a walk of the cells.
      const end = this.#alloc.length;
      for (let p = 0; p < end; p++) {
        if (ids[p] === 0) continue;
        const px = pos[2 * p];
        const py = pos[2 * p + 1];
        if (px >= lx && px <= hx && py >= ly && py <= hy) {
          if (count < cap) out[count] = ids[p];
          count++;
        }
      }
      return count;
    }
    const blocks = this.#blocks;
    const cols = grid.cols;
    const hashed = grid.hashed;
    for (let cy = cy1; cy <= cy2; cy++) {
      const innerRow = cy > cy1 && cy < cy2;
      for (let cx = cx1; cx <= cx2; cx++) {
        const key = cy * cols + cx;
        const b = hashed ? grid.bucketOf(cx, cy) : key;
        const start = blocks[2 * b];
        const end = start + blocks[2 * b + 1];
        if (innerRow && cx > cx1 && cx < cx2) {
          // Cells strictly inside the range hold only matches (cellX/cellY are monotonic); in a
          // hashed grid the bucket may also hold users of other cells.
          for (let p = start; p < end; p++) {
            if (hashed && grid.keyOf(pos[2 * p], pos[2 * p + 1]) !== key) continue;
            if (count < cap) out[count] = ids[p];
            count++;
          }
          continue;
        }
        for (let p = start; p < end; p++) {
          const px = pos[2 * p];
          const py = pos[2 * p + 1];
          if (hashed && grid.keyOf(px, py) !== key) continue;
          if (px >= lx && px <= hx && py >= ly && py <= hy) {
            if (count < cap) out[count] = ids[p];
            count++;
          }
        }
      }
    }
    return count;
  }

  /**
   * Writes into `out` the ids (up to out.length) of the users within `radius` of (x, y), border
   * included (dx·dx + dy·dy ≤ radius·radius), and returns how many matched in all. Entries of
   * `out` past those ids may be overwritten.
   */
  queryCircle(x: number, y: number, radius: number, out: Uint32Array): number {
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      throw new InvalidArgumentError(`queryCircle() centre must be finite, got (${x}, ${y})`);
    }
    checkRadius(radius);
    return this.#circle(x, y, radius, out, -1, false, 0);
  }

  /**
   * Adds `amount` to the money of every other user within `radius` of user `sourceId`, writes
   * their ids into `out` (up to out.length) and returns how many were affected in all, or -1 when
   * the source is unknown. Entries of `out` past those ids may be overwritten.
   */
  aoe(sourceId: number, radius: number, amount: number, out: Uint32Array): number {
    checkRadius(radius);
    if (!Number.isFinite(amount)) {
      throw new InvalidArgumentError(`aoe() amount must be finite, got ${amount}`);
    }
    const p = this.#index.get(sourceId);
    if (p < 0) return -1;
    return this.#circle(this.#pos[2 * p], this.#pos[2 * p + 1], radius, out, p, true, amount);
  }

  /** Calls `fn` for every user in pool order (repeatable); `fn` must not change the world. */
  forEachUser(
    fn: (id: number, x: number, y: number, vx: number, vy: number, money: number) => void,
  ): void {
    forEachRecord(this.#layout(), fn);
  }

  /**
   * A uint32 hash of the whole state: every user's id, position, velocity and money (exact bits),
   * the user count and nextUserId. Users are combined order-independently, so worlds with equal
   * state agree whatever their layout. With `parts` > 1 only the users whose id % parts === part
   * are hashed (plus the counts): a fraction of the cost, for checks spread over several calls.
   * Throws InvalidArgumentError unless 0 ≤ part < parts.
   */
  checksum(part = 0, parts = 1): number {
    return worldChecksum(this.#layout(), { part, parts });
  }

  /**
   * The whole state as compact little-endian bytes: a 36-byte header (magic "GSW1", version,
   * flags, width, height, nextUserId, count), 44 bytes per user in pool order (id u32; x, y, vx,
   * vy, money f64) and a CRC-32 of everything before it.
   */
  snapshot(): Uint8Array {
    return encodeSnapshot(this.#layout());
  }

  /**
   * The same bytes as snapshot(), of the world as it is now, produced a slice at a time by the
   * returned writer's `step()`: this call copies the user records (44 bytes per pool position), so
   * the world may change while the writer works. The copy goes into `space` when it has room
   * (`space.prepare(world.snapshotPositions)`), else into fresh memory.
   */
  snapshotWriter(space?: SnapshotSpace): WorldSnapshotWriter {
    return startSnapshotWriter(this.#layout(), space);
  }

  /**
   * Copies the records and the grid's blocks into the views slot no reader holds and publishes it
   * (see WorldViews.publish()); false when a reader still holds that slot (nothing published).
   */
  publishTo(views: WorldViews): boolean {
    return views.publish({
      size: this.#size,
      poolLength: this.#alloc.length,
      ids: this.#ids,
      pos: this.#pos,
      vel: this.#vel,
      money: this.#money,
      blocks: this.#blocks,
    });
  }

  /** Pool positions a snapshotWriter() copy takes (what a SnapshotSpace must be prepared for). */
  get snapshotPositions(): number {
    return this.#alloc.length;
  }

  /**
   * Rebuilds a world from snapshot() bytes, with the same state and checksum. Throws
   * SnapshotError for truncated or corrupt bytes, or a snapshot that does not fit `options`
   * (other dimensions, more users than maxUsers, a speed above maxSpeed…); never returns a
   * partly built world.
   */
  static fromSnapshot(bytes: Uint8Array, options: WorldOptions): World {
    const world = new World(options);
    decodeSnapshot(bytes, world.#restorer());
    return world;
  }

  /**
   * For tests: throws an InvariantError unless the id index, the blocks, the pool's free room,
   * the moving list and the counts all agree and every user sits in the cell of its position.
   */
  checkInvariants(): void {
    checkWorldInvariants(this.#layout());
  }

  /**
   * Counts the users in a coarse `cols` × `rows` grid over the world into `out` (row-major, row 0
   * at y = 0) and returns the total: one pass over the pool, for heat maps, not for the hot path.
   */
  density(cols: number, rows: number, out: Uint32Array): number {
    return worldDensity(this.#layout(), { cols, rows }, out);
  }

  /** Sizes of the world's structures (allocates a small object; not for the hot path). */
  stats(): WorldStats {
    return worldStats(this.#layout());
  }

  // Helpers get private state only as views World builds per call: nothing exported, hot paths as-is.

  /** The layout, for the snapshot, checksum, invariants and stats helpers and forEachUser(). */
  #layout(): WorldLayout {
    return {
      world: this,
      size: this.#size,
      nextUserId: this.#nextUserId,
      poolLength: this.#alloc.length,
      ids: this.#ids,
      pos: this.#pos,
      vel: this.#vel,
      money: this.#money,
      grid: this.#grid,
      alloc: this.#alloc,
      index: this.#index,
      blocks: this.#blocks,
      blockClass: this.#blockClass,
      noBlock: NO_BLOCK,
      movingPos: this.#movingPos,
      moving: this.#moving,
      movingCount: this.#movingCount,
      pending: this.#pending,
      pendingBucket: this.#pendingBucket,
      poolGrowths: this.#poolGrowths,
    };
  }

  /** The checks and the insertion the snapshot decoder fills this (new, empty) world through. */
  #restorer(): WorldRestorer {
    return {
      world: this,
      maxUserId: MAX_USER_ID,
      checkId,
      checkPosition: (x, y) => checkPosition(x, y, this),
      checkVelocity: (vx, vy) => checkVelocity(vx, vy, this),
      insert: (id, x, y, vx, vy, money) => this.#insert(id, x, y, vx, vy, money),
      setNextUserId: (id) => {
        this.#nextUserId = id;
      },
    };
  }

  /**
   * The hot loop of step(): moves and bounces every moving user and lists, in #pending, the ids
   * of those whose cell changed; returns how many. Kept apart from the rarer relinking so that
   * their type feedback cannot deoptimise it.
   */
  #advance(dt: number): number {
    const grid = this.#grid;
    const cols = grid.cols;
    const lastCol = cols - 1;
    const lastRow = grid.rows - 1;
    const inv = grid.inverseCellSize;
    // `* 1` pins float64 registers: a plain field read can leave px/py boxed on every user.
    const w = this.width * 1;
    const h = this.height * 1;
    const ids = this.#ids;
    const pos = this.#pos;
    const vel = this.#vel;
    const hashed = grid.hashed;
    const moving = this.#moving;
    const pending = this.#pending; // as long as #moving: every moving user fits
    const pendingBucket = this.#pendingBucket;
    // Sweeping the pool in order beats chasing the moving list once most users move.
    const sweep = this.#movingCount * 4 >= this.#alloc.length;
    const n = sweep ? this.#alloc.length : this.#movingCount;
    let changed = 0;
    for (let k = 0; k < n; k++) {
      const p = sweep ? k : moving[k];
      // No test for rest: a resting user or free room (velocity 0) stays where it is, in the
      // same cell, and skipping it costs more in mispredicted branches than it saves.
      const vxp = vel[2 * p];
      const vyp = vel[2 * p + 1];
      // The cell before the move: a record's cell is a function of its position.
      const ox = pos[2 * p];
      const oy = pos[2 * p + 1];
      let ocx = (ox * inv) | 0;
      if (ocx > lastCol) ocx = lastCol;
      let ocy = (oy * inv) | 0;
      if (ocy > lastRow) ocy = lastRow;
      let px = ox + vxp * dt;
      if (px < 0) {
        px = 0;
        vel[2 * p] = -vxp;
      } else if (px > w) {
        px = w;
        vel[2 * p] = -vxp;
      }
      let py = oy + vyp * dt;
      if (py < 0) {
        py = 0;
        vel[2 * p + 1] = -vyp;
      } else if (py > h) {
        py = h;
        vel[2 * p + 1] = -vyp;
      }
      pos[2 * p] = px;
      pos[2 * p + 1] = py;
      // Grid.cellX()/cellY(), inlined.
      let cx = (px * inv) | 0;
      if (cx > lastCol) cx = lastCol;
      let cy = (py * inv) | 0;
      if (cy > lastRow) cy = lastRow;
      if (cx !== ocx || cy !== ocy) {
        pending[changed] = ids[p];
        pendingBucket[changed++] = hashed ? grid.bucketOf(ocx, ocy) : ocy * cols + ocx;
      }
    }
    return changed;
  }

  /** Adds a new record (validated by the caller). */
  #insert(id: number, x: number, y: number, vx: number, vy: number, money: number): void {
    if (this.#size === this.#moving.length) this.#growUsers();
    const p = this.#claim(this.#grid.bucketOfKey(this.#grid.keyOf(x, y)));
    this.#ids[p] = id;
    this.#pos[2 * p] = x + 0; // -0 becomes +0, which x + 0·dt in step() would do anyway
    this.#pos[2 * p + 1] = y + 0;
    this.#vel[2 * p] = vx;
    this.#vel[2 * p + 1] = vy;
    this.#money[p] = money;
    this.#movingPos[p] = -1;
    this.#index.set(id, p);
    this.#size++;
    if (vx !== 0 || vy !== 0) this.#startMoving(p);
  }

  /** Moves the record at `p`, still in the block of bucket `from`, to its position's bucket. */
  #relink(p: number, from: number): void {
    const id = this.#ids[p];
    const x = this.#pos[2 * p];
    const y = this.#pos[2 * p + 1];
    const vx = this.#vel[2 * p];
    const vy = this.#vel[2 * p + 1];
    const money = this.#money[p];
    const m = this.#movingPos[p];
    // Out of the old block first: the claim below may move that block or grow the pool.
    this.#takeOut(p, from);
    const q = this.#claim(this.#grid.bucketOfKey(this.#grid.keyOf(x, y)));
    this.#ids[q] = id;
    this.#pos[2 * q] = x;
    this.#pos[2 * q + 1] = y;
    this.#vel[2 * q] = vx;
    this.#vel[2 * q + 1] = vy;
    this.#money[q] = money;
    this.#movingPos[q] = m;
    if (m >= 0) this.#moving[m] = q;
    this.#index.set(id, q);
  }

  /** Returns a free position at the end of bucket b's block, growing the block as needed. */
  #claim(b: number): number {
    const count = this.#blocks[2 * b + 1];
    const k = this.#blockClass[b];
    if (k === NO_BLOCK) {
      let start = this.#alloc.allocate(0);
      while (start < 0) {
        this.#growPool();
        start = this.#alloc.allocate(0);
      }
      this.#blocks[2 * b] = start;
      this.#blockClass[b] = 0;
    } else if (count === 2 ** k) {
      while (!this.#resize(b, k + 1)) this.#growPool();
    }
    this.#blocks[2 * b + 1] = count + 1;
    return this.#blocks[2 * b] + count;
  }

  /** Removes the record at `p` from bucket b's block; the block's last record fills the hole. */
  #takeOut(p: number, b: number): void {
    const start = this.#blocks[2 * b];
    const count = this.#blocks[2 * b + 1] - 1;
    const last = start + count;
    if (p !== last) this.#copy(last, p);
    this.#clear(last);
    this.#blocks[2 * b + 1] = count;
    const k = this.#blockClass[b];
    if (count === 0) {
      this.#alloc.free(start, k);
      this.#blocks[2 * b] = -1;
      this.#blockClass[b] = NO_BLOCK;
    } else if (k >= 1 && count <= 2 ** (k - 1)) {
      this.#resize(b, k - 1); // shrinking is optional: skipped when the pool has no room
    }
  }

  /** Moves bucket b's records to a new block of 2^k positions; false when there is no room. */
  #resize(b: number, k: number): boolean {
    const start = this.#alloc.allocate(k);
    if (start < 0) return false;
    const old = this.#blocks[2 * b];
    const count = this.#blocks[2 * b + 1];
    for (let i = 0; i < count; i++) {
      this.#copy(old + i, start + i);
      this.#clear(old + i);
    }
    this.#alloc.free(old, this.#blockClass[b]);
    this.#blocks[2 * b] = start;
    this.#blockClass[b] = k;
    return true;
  }

  /** Copies the record at `from` to `to` and points the id index and moving list at `to`. */
  #copy(from: number, to: number): void {
    const id = this.#ids[from];
    this.#ids[to] = id;
    this.#pos[2 * to] = this.#pos[2 * from];
    this.#pos[2 * to + 1] = this.#pos[2 * from + 1];
    this.#vel[2 * to] = this.#vel[2 * from];
    this.#vel[2 * to + 1] = this.#vel[2 * from + 1];
    this.#money[to] = this.#money[from];
    const m = this.#movingPos[from];
    this.#movingPos[to] = m;
    if (m >= 0) this.#moving[m] = to;
    this.#index.set(id, to);
  }

  /** Marks position `p` as free room: id 0, and velocity 0 so that step()'s sweep leaves it be. */
  #clear(p: number): void {
    this.#ids[p] = 0;
    this.#vel[2 * p] = 0;
    this.#vel[2 * p + 1] = 0;
    this.#movingPos[p] = -1;
  }

  /** Grows the pool by POOL_GROWTH (new arrays; every record keeps its position). */
  #growPool(): void {
    this.#poolGrowths++;
    const length = Math.max(INITIAL_LENGTH, Math.ceil(this.#alloc.length * POOL_GROWTH));
    this.#alloc.grow(length);
    this.#ids = resize(this.#ids, new Uint32Array(length));
    this.#pos = resize(this.#pos, new Float64Array(2 * length));
    this.#vel = resize(this.#vel, new Float64Array(2 * length));
    this.#money = resize(this.#money, new Float64Array(length));
    this.#movingPos = resize(this.#movingPos, new Int32Array(length));
  }

  /** Doubles the per-user arrays (moving list, id index), up to maxUsers. */
  #growUsers(): void {
    const length = Math.min(this.maxUsers, this.#moving.length * 2);
    const moving = new Int32Array(length);
    moving.set(this.#moving);
    this.#moving = moving;
    this.#pending = new Uint32Array(length);
    this.#pendingBucket = new Int32Array(length);
    this.#index.reserve(length);
  }

  #startMoving(p: number): void {
    const m = this.#movingCount++;
    this.#moving[m] = p;
    this.#movingPos[p] = m;
  }

  #stopMoving(p: number): void {
    const m = this.#movingPos[p];
    const last = --this.#movingCount;
    const q = this.#moving[last];
    this.#moving[m] = q;
    this.#movingPos[q] = m;
    this.#movingPos[p] = -1;
  }

  /** The circle walk behind queryCircle() and aoe(): `skip` is the aoe source position, or -1. */
  #circle(
    qx: number,
    qy: number,
    r: number,
    out: Uint32Array,
    skip: number,
    apply: boolean,
    amount: number,
  ): number {
    const w = this.width;
    const h = this.height;
    const pad = (Math.abs(qx) + Math.abs(qy) + r) * CIRCLE_PAD;
    const lx = qx - r - pad;
    const hx = qx + r + pad;
    const ly = qy - r - pad;
    const hy = qy + r + pad;
    if (hx < 0 || lx > w || hy < 0 || ly > h || this.#size === 0) return 0;
    const grid = this.#grid;
    const cx1 = grid.cellX(lx > 0 ? lx : 0);
    const cx2 = grid.cellX(hx < w ? hx : w);
    const cy1 = grid.cellY(ly > 0 ? ly : 0);
    const cy2 = grid.cellY(hy < h ? hy : h);
    const ids = this.#ids;
    const pos = this.#pos;
    const money = this.#money;
    const r2 = r * r;
    const cap = out.length;
    let count = 0;
    if ((cx2 - cx1 + 1) * (cy2 - cy1 + 1) > this.#size) {
      const end = this.#alloc.length;
      for (let p = 0; p < end; p++) {
        if (ids[p] === 0) continue;
        const dx = pos[2 * p] - qx;
        const dy = pos[2 * p + 1] - qy;
        if (dx * dx + dy * dy <= r2 && p !== skip) {
          if (apply) money[p] += amount;
          if (count < cap) out[count] = ids[p];
          count++;
        }
      }
      return count;
    }
    const blocks = this.#blocks;
    const cols = grid.cols;
    if (grid.hashed) {
      // A bucket may also hold users of other cells: each record's cell key is compared.
      for (let cy = cy1; cy <= cy2; cy++) {
        for (let cx = cx1; cx <= cx2; cx++) {
          const key = cy * cols + cx;
          const b = grid.bucketOf(cx, cy);
          const start = blocks[2 * b];
          const end = start + blocks[2 * b + 1];
          for (let p = start; p < end; p++) {
            const px = pos[2 * p];
            const py = pos[2 * p + 1];
            if (grid.keyOf(px, py) !== key) continue;
            const dx = px - qx;
            const dy = py - qy;
            if (dx * dx + dy * dy <= r2 && p !== skip) {
              if (apply) money[p] += amount;
              if (count < cap) out[count] = ids[p];
              count++;
            }
          }
        }
      }
      return count;
    }
    // First read each cell's first record (the sum is kept only so that the reads stay): the
    // cache misses of all the cells then overlap, instead of each waiting for the walk before it.
    let touched = 0;
    for (let cy = cy1; cy <= cy2; cy++) {
      for (let cx = cx1; cx <= cx2; cx++) {
        const start = blocks[2 * (cy * cols + cx)];
        const p = start < 0 ? 0 : start; // an empty cell reads position 0, harmlessly
        touched += pos[2 * p] + ids[p];
        if (apply) touched += money[p];
      }
    }
    this.#touched = touched;
    const addend = this.#addend;
    addend[1] = amount;
    for (let cy = cy1; cy <= cy2; cy++) {
      for (let cx = cx1; cx <= cx2; cx++) {
        const b = cy * cols + cx;
        const start = blocks[2 * b];
        const end = start + blocks[2 * b + 1];
        if (count + (end - start) > cap) {
          // The cell's matches may not all fit in `out`: a walk that writes only below its end.
          for (let p = start; p < end; p++) {
            const dx = pos[2 * p] - qx;
            const dy = pos[2 * p + 1] - qy;
            if (dx * dx + dy * dy <= r2 && p !== skip) {
              if (apply) money[p] += amount;
              if (count < cap) out[count] = ids[p];
              count++;
            }
          }
        } else {
          // Branch-free, as a branch on the distance test mispredicts often in a crowded cell:
          // every record's id is written and `count` only advances past the matches. (`+bool`
          // measured faster than `cond ? 1 : 0`, which V8 turns back into a branch.)
          for (let p = start; p < end; p++) {
            const dx = pos[2 * p] - qx;
            const dy = pos[2 * p + 1] - qy;
            const hit = +(dx * dx + dy * dy <= r2) & +(p !== skip);
            if (apply) money[p] += addend[hit];
            out[count] = ids[p];
            count += hit;
          }
        }
      }
    }
    return count;
  }
}

function checkId(id: number): void {
  if (!Number.isInteger(id) || id < 1 || id > MAX_USER_ID) {
    throw new InvalidArgumentError(`User id must be an integer in [1, ${MAX_USER_ID}], got ${id}`);
  }
}

function checkRadius(radius: number): void {
  if (!(radius >= 0)) throw new InvalidArgumentError(`radius must be >= 0, got ${radius}`);
}

function resize<T extends Uint32Array | Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
