/**
 * Read-only copies of a World in shared memory, for reader threads: the writer publishes a whole
 * tick into one of two slots (the one no reader holds), then flips an Atomics-published index; a
 * reader pins the published slot for a batch of queries and never sees a half-applied tick.
 *
 * @module
 */
import { Grid } from "./grid.ts";
import { resolveWorldOptions, type WorldOptions } from "./world_options.ts";

/** Most readers one set of views serves. */
export const MAX_VIEW_READERS = 64;
/** Relative pad of a circle's bounding box, as in World (rounding in dx*dx + dy*dy <= r*r). */
const CIRCLE_PAD = 1e-12;
/** Pool positions a slot holds before its buffers grow (they grow in place, shared). */
const INITIAL_POSITIONS = 1024;

// Control words (Int32): the published slot, the published version, per slot its version, users
// and pool length, then one pin per reader (-1: none, else the slot it reads).
const FRONT = 0;
const VERSION = 1;
const SLOT_META = 2; // + 3 * slot: version, size, poolLength
const PINS = 8;

/** The shared memory of a set of views: what a reader thread attaches to (structured-cloneable). */
export interface WorldViewsShared {
  options: Required<WorldOptions>;
  control: SharedArrayBuffer;
  /** Per slot: ids, pos (x, y interleaved), vel (vx, vy), money, blocks (start, count). */
  slots: SharedArrayBuffer[][];
}

/** What World.publishTo() copies: its records and its buckets' blocks. */
export interface ViewSource {
  size: number;
  poolLength: number;
  ids: Uint32Array;
  pos: Float64Array;
  vel: Float64Array;
  money: Float64Array;
  blocks: Int32Array;
}

/**
 * The writer's side: two slots of growable shared buffers and the control words. `publish()` is
 * called by the world's owner (through `World.publishTo()`), never concurrently.
 */
export class WorldViews {
  /** The shared memory readers attach to. */
  readonly shared: WorldViewsShared;
  readonly #control: Int32Array;

  /** Creates empty views (version 0, nothing published) for worlds shaped by `options`. */
  constructor(options: WorldOptions) {
    const resolved = resolveWorldOptions(options);
    const grid = new Grid(resolved.width, resolved.height, resolved.cellSize, resolved.maxUsers);
    // A pool holds up to about 4 positions per user (power-of-two blocks, half-full at worst).
    const maxPositions = Math.max(INITIAL_POSITIONS, 4 * resolved.maxUsers + 64);
    const grow = (bytesPer: number) =>
      new SharedArrayBuffer(INITIAL_POSITIONS * bytesPer, {
        maxByteLength: maxPositions * bytesPer,
      });
    const slot =
      () => [grow(4), grow(16), grow(16), grow(8), new SharedArrayBuffer(8 * grid.bucketCount)];
    this.shared = {
      options: resolved,
      control: new SharedArrayBuffer(4 * (PINS + MAX_VIEW_READERS)),
      slots: [slot(), slot()],
    };
    this.#control = new Int32Array(this.shared.control);
    this.#control.fill(-1, PINS);
    this.#control[FRONT] = -1;
  }

  /** Version of the last published view (0: none yet); each publish adds one. */
  get version(): number {
    return Atomics.load(this.#control, VERSION);
  }

  /**
   * Copies `source` into the slot no reader holds and publishes it; false (nothing published) when
   * a reader still holds that slot, i.e. reads a view two versions old.
   */
  publish(source: ViewSource): boolean {
    const control = this.#control;
    const front = control[FRONT];
    const slot = front === 1 ? 0 : 1;
    for (let r = 0; r < MAX_VIEW_READERS; r++) {
      if (Atomics.load(control, PINS + r) === slot) return false;
    }
    const [ids, pos, vel, money, blocks] = this.shared.slots[slot];
    const n = source.poolLength;
    if (ids.byteLength < 4 * n) {
      if (4 * n > ids.maxByteLength) {
        throw new RangeError(`A pool of ${n} positions outgrows the views`);
      }
      const length = Math.min(
        ids.maxByteLength / 4,
        Math.max(n, Math.ceil(ids.byteLength * 3 / 8)),
      );
      ids.grow(4 * length);
      pos.grow(16 * length);
      vel.grow(16 * length);
      money.grow(8 * length);
    }
    new Uint32Array(ids, 0, n).set(source.ids.subarray(0, n));
    new Float64Array(pos, 0, 2 * n).set(source.pos.subarray(0, 2 * n));
    new Float64Array(vel, 0, 2 * n).set(source.vel.subarray(0, 2 * n));
    new Float64Array(money, 0, n).set(source.money.subarray(0, n));
    new Int32Array(blocks).set(source.blocks);
    const version = control[VERSION] + 1;
    control[SLOT_META + 3 * slot] = version;
    control[SLOT_META + 3 * slot + 1] = source.size;
    control[SLOT_META + 3 * slot + 2] = n;
    // Seq-cst stores: a reader that sees the new FRONT sees every copy above.
    Atomics.store(control, FRONT, slot);
    Atomics.store(control, VERSION, version);
    Atomics.notify(control, VERSION);
    return true;
  }
}

/**
 * One reader's side: pins the published view, answers queries against it with pool positions
 * (the record's fields are then read from `ids`/`pos`/`vel`/`money`), and unpins.
 */
export class WorldViewReader {
  /** Users in the pinned view. */
  size = 0;
  /** Version of the pinned view (0: none pinned). */
  version = 0;
  /** The pinned view's arrays (valid until unpin()). */
  ids: Uint32Array = new Uint32Array(0);
  /** x, y of each position, interleaved. */
  pos: Float64Array = new Float64Array(0);
  /** vx, vy of each position, interleaved. */
  vel: Float64Array = new Float64Array(0);
  /** Money of each position. */
  money: Float64Array = new Float64Array(0);
  readonly #shared: WorldViewsShared;
  readonly #control: Int32Array;
  readonly #reader: number;
  readonly #grid: Grid;
  readonly #width: number;
  readonly #height: number;
  readonly #blocks: Int32Array[];
  #poolLength = 0;
  #slotBlocks: Int32Array = new Int32Array(0);

  /** Attaches reader number `reader` (0 ≤ reader < MAX_VIEW_READERS) to shared views. */
  constructor(shared: WorldViewsShared, reader: number) {
    if (!(reader >= 0 && reader < MAX_VIEW_READERS)) throw new RangeError(`Bad reader ${reader}`);
    const o = shared.options;
    this.#shared = shared;
    this.#control = new Int32Array(shared.control);
    this.#reader = reader;
    this.#grid = new Grid(o.width, o.height, o.cellSize, o.maxUsers);
    this.#width = o.width;
    this.#height = o.height;
    this.#blocks = shared.slots.map((s) => new Int32Array(s[4]));
  }

  /** Version of the latest published view. */
  get published(): number {
    return Atomics.load(this.#control, VERSION);
  }

  /** Pins the latest published view; false when none was published yet. */
  pin(): boolean {
    const control = this.#control;
    let slot = Atomics.load(control, FRONT);
    for (;;) {
      if (slot < 0) return false;
      Atomics.store(control, PINS + this.#reader, slot);
      // The writer checks pins before it writes a slot and flips FRONT after: a FRONT still equal
      // to `slot` once the pin is visible means the slot is whole and stays so until unpin().
      const again = Atomics.load(control, FRONT);
      if (again === slot) break;
      slot = again;
    }
    const [ids, pos, vel, money] = this.#shared.slots[slot];
    const n = control[SLOT_META + 3 * slot + 2];
    this.version = control[SLOT_META + 3 * slot];
    this.size = control[SLOT_META + 3 * slot + 1];
    this.#poolLength = n;
    if (this.ids.buffer !== ids || this.ids.length !== n) {
      this.ids = new Uint32Array(ids, 0, n);
      this.pos = new Float64Array(pos, 0, 2 * n);
      this.vel = new Float64Array(vel, 0, 2 * n);
      this.money = new Float64Array(money, 0, n);
    }
    this.#slotBlocks = this.#blocks[slot];
    return true;
  }

  /** Releases the pinned view: the writer may overwrite it. */
  unpin(): void {
    Atomics.store(this.#control, PINS + this.#reader, -1);
    this.version = 0;
  }

  /** Blocks until a view newer than `version` is published or `timeoutMs` passes (worker threads). */
  waitNewer(version: number, timeoutMs: number): void {
    const published = Atomics.load(this.#control, VERSION);
    if (published > version) return;
    Atomics.wait(this.#control, VERSION, published, timeoutMs);
  }

  /**
   * Writes into `out` the pool positions (up to out.length) of the pinned view's users within
   * `radius` of (x, y) — World.queryCircle()'s set, in the same order — and returns how many matched.
   */
  queryCircle(x: number, y: number, radius: number, out: Uint32Array): number {
    const w = this.#width;
    const h = this.#height;
    const pad = (Math.abs(x) + Math.abs(y) + radius) * CIRCLE_PAD;
    const lx = x - radius - pad;
    const hx = x + radius + pad;
    const ly = y - radius - pad;
    const hy = y + radius + pad;
    if (hx < 0 || lx > w || hy < 0 || ly > h || this.size === 0) return 0;
    const grid = this.#grid;
    const cx1 = grid.cellX(lx > 0 ? lx : 0);
    const cx2 = grid.cellX(hx < w ? hx : w);
    const cy1 = grid.cellY(ly > 0 ? ly : 0);
    const cy2 = grid.cellY(hy < h ? hy : h);
    const ids = this.ids;
    const pos = this.pos;
    const r2 = radius * radius;
    const cap = out.length;
    let count = 0;
    if ((cx2 - cx1 + 1) * (cy2 - cy1 + 1) > this.size) {
      for (let p = 0; p < this.#poolLength; p++) {
        if (ids[p] === 0) continue;
        const dx = pos[2 * p] - x;
        const dy = pos[2 * p + 1] - y;
        if (dx * dx + dy * dy <= r2) {
          if (count < cap) out[count] = p;
          count++;
        }
      }
      return count;
    }
    const blocks = this.#slotBlocks;
    const cols = grid.cols;
    const hashed = grid.hashed;
    for (let cy = cy1; cy <= cy2; cy++) {
      for (let cx = cx1; cx <= cx2; cx++) {
        const key = cy * cols + cx;
        const b = hashed ? grid.bucketOf(cx, cy) : key;
        const start = blocks[2 * b];
        const end = start + blocks[2 * b + 1];
        for (let p = start; p < end; p++) {
          const px = pos[2 * p];
          const py = pos[2 * p + 1];
          if (hashed && grid.keyOf(px, py) !== key) continue;
          const dx = px - x;
          const dy = py - y;
          if (dx * dx + dy * dy <= r2) {
            if (count < cap) out[count] = p;
            count++;
          }
        }
      }
    }
    return count;
  }

  /**
   * Writes into `out` the pool positions (up to out.length) of the pinned view's users with
   * x1 ≤ x ≤ x2 and y1 ≤ y ≤ y2 (corners in any order) — World.queryRect()'s set, in the same
   * order — and returns how many matched.
   */
  queryRect(x1: number, y1: number, x2: number, y2: number, out: Uint32Array): number {
    const lx = Math.min(x1, x2);
    const hx = Math.max(x1, x2);
    const ly = Math.min(y1, y2);
    const hy = Math.max(y1, y2);
    const w = this.#width;
    const h = this.#height;
    if (hx < 0 || lx > w || hy < 0 || ly > h || this.size === 0) return 0;
    const grid = this.#grid;
    const cx1 = grid.cellX(lx > 0 ? lx : 0);
    const cx2 = grid.cellX(hx < w ? hx : w);
    const cy1 = grid.cellY(ly > 0 ? ly : 0);
    const cy2 = grid.cellY(hy < h ? hy : h);
    const ids = this.ids;
    const pos = this.pos;
    const cap = out.length;
    let count = 0;
    if ((cx2 - cx1 + 1) * (cy2 - cy1 + 1) > this.size) {
      for (let p = 0; p < this.#poolLength; p++) {
        if (ids[p] === 0) continue;
        const px = pos[2 * p];
        const py = pos[2 * p + 1];
        if (px >= lx && px <= hx && py >= ly && py <= hy) {
          if (count < cap) out[count] = p;
          count++;
        }
      }
      return count;
    }
    const blocks = this.#slotBlocks;
    const cols = grid.cols;
    const hashed = grid.hashed;
    for (let cy = cy1; cy <= cy2; cy++) {
      for (let cx = cx1; cx <= cx2; cx++) {
        const key = cy * cols + cx;
        const b = hashed ? grid.bucketOf(cx, cy) : key;
        const start = blocks[2 * b];
        const end = start + blocks[2 * b + 1];
        for (let p = start; p < end; p++) {
          const px = pos[2 * p];
          const py = pos[2 * p + 1];
          if (hashed && grid.keyOf(px, py) !== key) continue;
          if (px >= lx && px <= hx && py >= ly && py <= hy) {
            if (count < cap) out[count] = p;
            count++;
          }
        }
      }
    }
    return count;
  }
}
