import { InvariantError } from "./errors.ts";

/** Number of block size classes: 2^0 .. 2^30 positions. */
export const BLOCK_CLASSES = 31;
/** Marks a position that does not start a free block. */
const NOT_FREE = 255;

/**
 * A binary buddy allocator of power-of-two blocks over a pool of `length` positions.
 *
 * A block of 2^k positions starts at a multiple of 2^k; freeing it merges it with its free buddy
 * (start XOR 2^k) again and again, so fragmentation stays bounded and the pool never needs to be
 * rebuilt; it only grows (`grow()`), which keeps every position in place. Free lists are doubly
 * linked through per-position arrays, one per size class. Deterministic: the same calls give the
 * same blocks.
 */
export class BlockAllocator {
  #length = 0;
  #next: Int32Array;
  #prev: Int32Array;
  /** Class of the free block starting at each position, or NOT_FREE. */
  #cls: Uint8Array;
  readonly #head = new Int32Array(BLOCK_CLASSES).fill(-1);

  /** Creates an allocator whose pool is `length` free positions. */
  constructor(length: number) {
    this.#next = new Int32Array(0);
    this.#prev = new Int32Array(0);
    this.#cls = new Uint8Array(0);
    this.grow(length);
  }

  /** Number of positions in the pool. */
  get length(): number {
    return this.#length;
  }

  /** Bytes held by the typed arrays. */
  get byteLength(): number {
    return this.#next.byteLength + this.#prev.byteLength + this.#cls.byteLength +
      this.#head.byteLength;
  }

  /** Returns the start of a free block of 2^k positions, or -1 when the pool has none. */
  allocate(k: number): number {
    let j = k;
    while (j < BLOCK_CLASSES && this.#head[j] < 0) j++;
    if (j === BLOCK_CLASSES) return -1;
    const start = this.#head[j];
    this.#unlink(start, j);
    while (j > k) {
      j--;
      this.#push(start + 2 ** j, j); // split: the upper half stays free
    }
    return start;
  }

  /** Returns the block of 2^k positions at `start`, merging it with its free buddies. */
  free(start: number, k: number): void {
    while (k < BLOCK_CLASSES - 1) {
      const buddy = start ^ (2 ** k);
      if (buddy + 2 ** k > this.#length || this.#cls[buddy] !== k) break;
      this.#unlink(buddy, k);
      if (buddy < start) start = buddy;
      k++;
    }
    this.#push(start, k);
  }

  /** Extends the pool to `length` positions; the new ones are free. */
  grow(length: number): void {
    const old = this.#length;
    if (length <= old) return;
    this.#next = resize(this.#next, new Int32Array(length));
    this.#prev = resize(this.#prev, new Int32Array(length));
    const cls = new Uint8Array(length).fill(NOT_FREE);
    cls.set(this.#cls);
    this.#cls = cls;
    this.#length = length;
    // Free the new range as the largest aligned blocks that fit it.
    for (let p = old; p < length;) {
      let k = 0;
      while (k < BLOCK_CLASSES - 1 && p % 2 ** (k + 1) === 0 && p + 2 ** (k + 1) <= length) k++;
      this.free(p, k);
      p += 2 ** k;
    }
  }

  /** Calls `fn` for each free block (for invariant checks). */
  forEachFree(fn: (start: number, k: number) => void): void {
    for (let k = 0; k < BLOCK_CLASSES; k++) {
      for (let s = this.#head[k]; s >= 0; s = this.#next[s]) fn(s, k);
    }
  }

  /** Throws an InvariantError unless every free block is aligned, in range and listed once. */
  checkInvariants(): void {
    let marked = 0;
    for (let p = 0; p < this.#length; p++) if (this.#cls[p] !== NOT_FREE) marked++;
    let listed = 0;
    this.forEachFree((start, k) => {
      listed++;
      if (start % 2 ** k !== 0 || start + 2 ** k > this.#length || this.#cls[start] !== k) {
        throw new InvariantError(`Free block ${start} of class ${k} is misplaced`);
      }
    });
    if (listed !== marked) {
      throw new InvariantError(`Free lists hold ${listed} blocks, ${marked} are marked free`);
    }
  }

  #push(start: number, k: number): void {
    const head = this.#head[k];
    this.#cls[start] = k;
    this.#next[start] = head;
    this.#prev[start] = -1;
    if (head >= 0) this.#prev[head] = start;
    this.#head[k] = start;
  }

  #unlink(start: number, k: number): void {
    const n = this.#next[start];
    const p = this.#prev[start];
    if (p >= 0) this.#next[p] = n;
    else this.#head[k] = n;
    if (n >= 0) this.#prev[n] = p;
    this.#cls[start] = NOT_FREE;
  }
}

function resize(from: Int32Array, to: Int32Array): Int32Array {
  to.set(from);
  return to;
}
