import { InvariantError } from "./errors.ts";

const EMPTY = 0; // ids are > 0, so key 0 marks a free bucket

/**
 * Open-addressing hash map from a uint32 id (> 0) to a slot (0 .. 2^31-1) on one typed array of
 * (id, slot) pairs, so a lookup touches one cache line.
 *
 * Linear probing with backward-shift deletion (no tombstones), Fibonacci hashing, load ≤ 1/2.
 * Allocates only in `reserve()`; lookups, inserts and deletes never allocate.
 */
export class IdIndex {
  /** Bucket i holds its id at 2i (0 when free) and its slot at 2i + 1. */
  #table: Uint32Array;
  #mask: number;
  #shift: number;
  #size = 0;

  /** Creates an index that holds `capacity` entries without growing. */
  constructor(capacity: number) {
    const buckets = bucketsFor(capacity);
    this.#table = new Uint32Array(2 * buckets);
    this.#mask = buckets - 1;
    this.#shift = Math.clz32(buckets) + 1; // 32 - log2(buckets)
  }

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** Bytes held by the typed arrays. */
  get byteLength(): number {
    return this.#table.byteLength;
  }

  /** Makes room for `capacity` entries (rehashes; the only method that allocates). */
  reserve(capacity: number): void {
    const buckets = bucketsFor(capacity);
    if (2 * buckets <= this.#table.length) return;
    const old = this.#table;
    this.#table = new Uint32Array(2 * buckets);
    this.#mask = buckets - 1;
    this.#shift = Math.clz32(buckets) + 1; // 32 - log2(buckets)
    this.#size = 0;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] !== EMPTY) this.set(old[i], old[i + 1]);
    }
  }

  /** Returns the slot of `id`, or -1 when absent. */
  get(id: number): number {
    const table = this.#table;
    const mask = this.#mask;
    let i = Math.imul(id, 0x9e3779b1) >>> this.#shift;
    for (;;) {
      const k = table[2 * i];
      if (k === id) return table[2 * i + 1];
      if (k === EMPTY) return -1;
      i = (i + 1) & mask;
    }
  }

  /** Inserts `id` or updates its slot; the caller keeps the load within the reserved capacity. */
  set(id: number, slot: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let i = Math.imul(id, 0x9e3779b1) >>> this.#shift;
    for (;;) {
      const k = table[2 * i];
      if (k === id) break;
      if (k === EMPTY) {
        table[2 * i] = id;
        this.#size++;
        break;
      }
      i = (i + 1) & mask;
    }
    table[2 * i + 1] = slot;
  }

  /** Removes `id`; returns false when it was absent. */
  delete(id: number): boolean {
    const table = this.#table;
    const mask = this.#mask;
    const shift = this.#shift;
    let i = Math.imul(id, 0x9e3779b1) >>> shift;
    for (;;) {
      const k = table[2 * i];
      if (k === id) break;
      if (k === EMPTY) return false;
      i = (i + 1) & mask;
    }
    // Backward-shift: pull later entries of the probe run into the hole so lookups never stop early.
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = table[2 * j];
      if (k === EMPTY) break;
      const home = Math.imul(k, 0x9e3779b1) >>> shift;
      // Move k into the hole unless its home lies cyclically in (hole, j].
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        table[2 * hole] = k;
        table[2 * hole + 1] = table[2 * j + 1];
        hole = j;
      }
    }
    table[2 * hole] = EMPTY;
    table[2 * hole + 1] = 0;
    this.#size--;
    return true;
  }

  /** Throws an InvariantError unless every entry is reachable from its home bucket and counted. */
  checkInvariants(): void {
    let count = 0;
    for (let i = 0; i < this.#table.length; i += 2) {
      const k = this.#table[i];
      if (k === EMPTY) continue;
      count++;
      if (this.get(k) !== this.#table[i + 1]) {
        throw new InvariantError(`Id index cannot reach id ${k} stored in bucket ${i / 2}`);
      }
    }
    if (count !== this.#size) {
      throw new InvariantError(`Id index counts ${this.#size} entries but holds ${count}`);
    }
  }
}

function bucketsFor(capacity: number): number {
  let buckets = 16;
  while (buckets < capacity * 2) buckets *= 2;
  return buckets;
}
