/**
 * A single-producer single-consumer ring of byte messages in shared memory, between the node's
 * thread and one reader worker: no structured clone, no event per message.
 *
 * @module
 */

// Header words (Int32): write offset, read offset, the consumer sleeps (Atomics.wait on HEAD),
// the producer asked to be woken when there is room, and a stop flag.
const HEAD = 0;
const TAIL = 1;
/** Header word a consumer of the ring may use as a "wake me" flag (see read_workers.ts). */
export const RING_WAKE = 2;
const STOP = 3;
const SLEEPING = 4;
const HEADER_WORDS = 8;
/** Length word of a record that means "continue at offset 0". */
const WRAP = 0xffffffff;

/** The shared memory of a ring (structured-cloneable, for postMessage). */
export interface SharedRingMemory {
  header: SharedArrayBuffer;
  data: SharedArrayBuffer;
}

/**
 * One end of a ring. The producer calls `reserve()`, fills `bytes`/`view` at the offset it
 * returns and `commit()`s; the consumer calls `next()`, reads `length` bytes at the offset it
 * returns and `release()`s. Payloads are 8-byte aligned (an 8-byte length word before each); one
 * record must fit in half the ring.
 */
export class SharedRing {
  /** The ring's shared memory. */
  readonly memory: SharedRingMemory;
  /** The data, as bytes. */
  readonly bytes: Uint8Array;
  /** The data, for numbers (little-endian). */
  readonly view: DataView;
  /** The header words (Atomics on them are the ring's only synchronisation). */
  readonly header: Int32Array;
  /** Payload length of the record `next()` returned last. */
  length = 0;
  readonly #capacity: number;
  #reservedHead = -1;
  #readTail = -1;

  /** Attaches to a ring's memory (either end). */
  constructor(memory: SharedRingMemory) {
    this.memory = memory;
    this.bytes = new Uint8Array(memory.data);
    this.view = new DataView(memory.data);
    this.header = new Int32Array(memory.header);
    this.#capacity = memory.data.byteLength;
  }

  /** A new empty ring of `capacity` bytes (rounded up to a multiple of 8). */
  static create(capacity: number): SharedRing {
    return new SharedRing({
      header: new SharedArrayBuffer(4 * HEADER_WORDS),
      data: new SharedArrayBuffer(Math.ceil(capacity / 8) * 8),
    });
  }

  /** Largest payload a record may have. */
  get maxPayload(): number {
    return this.#capacity / 2 - 16;
  }

  /** True when no record is waiting (consumer side). */
  get empty(): boolean {
    return Atomics.load(this.header, HEAD) === Atomics.load(this.header, TAIL);
  }

  /** The stop flag (set once, by the owner). */
  get stopped(): boolean {
    return Atomics.load(this.header, STOP) !== 0;
  }

  /** Sets the stop flag and wakes a consumer waiting for records. */
  stop(): void {
    Atomics.store(this.header, STOP, 1);
    Atomics.add(this.header, HEAD, 0);
    Atomics.notify(this.header, HEAD);
  }

  /**
   * Producer: room for a record of `length` payload bytes; returns the payload's offset, or -1 when
   * the ring is full now. Nothing is visible to the consumer before `commit()`.
   */
  reserve(length: number): number {
    const capacity = this.#capacity;
    const head = this.header[HEAD];
    const tail = Atomics.load(this.header, TAIL);
    const size = (8 + length + 7) & ~7;
    const used = head >= tail ? head - tail : capacity - tail + head;
    // 8 bytes stay free: head === tail means empty, never full.
    const free = capacity - used - 8;
    let at = head;
    if (head + size > capacity) {
      if (free < capacity - head + size) return -1;
      this.view.setUint32(head, WRAP, true);
      at = 0;
    } else if (free < size) {
      return -1;
    }
    this.view.setUint32(at, length, true);
    this.#reservedHead = (at + size) % capacity;
    return at + 8;
  }

  /**
   * Producer: publishes the reserved record and wakes the consumer if it sleeps: a consumer that
   * is awake sees it without a wake-up (a futex call per record costs more than the work handed).
   */
  commit(): void {
    Atomics.store(this.header, HEAD, this.#reservedHead);
    if (Atomics.load(this.header, SLEEPING) !== 0) Atomics.notify(this.header, HEAD);
  }

  /** Consumer: the payload offset of the next record (its length in `length`), or -1 when none. */
  next(): number {
    let tail = this.header[TAIL];
    if (tail === Atomics.load(this.header, HEAD)) return -1;
    let length = this.view.getUint32(tail, true);
    if (length === WRAP) {
      tail = 0;
      length = this.view.getUint32(0, true);
    }
    this.length = length;
    this.#readTail = (tail + ((8 + length + 7) & ~7)) % this.#capacity;
    return tail + 8;
  }

  /** Consumer: frees the record `next()` returned. */
  release(): void {
    Atomics.store(this.header, TAIL, this.#readTail);
    Atomics.notify(this.header, TAIL);
  }

  /**
   * Consumer: waits until a record may be waiting or `timeoutMs` passes (blocks the thread), first
   * polling for `spinMs`: a record that comes meanwhile costs its producer no futex wake-up.
   */
  waitForRecord(timeoutMs: number, spinMs = 0): void {
    const header = this.header;
    if (spinMs > 0) {
      const tail = header[TAIL];
      const until = performance.now() + spinMs;
      do {
        for (let i = 0; i < 100; i++) if (Atomics.load(header, HEAD) !== tail) return;
      } while (performance.now() < until);
    }
    // Flag first, then look: a producer either sees the flag or its record is seen here.
    Atomics.store(header, SLEEPING, 1);
    Atomics.wait(header, HEAD, header[TAIL], timeoutMs);
    Atomics.store(header, SLEEPING, 0);
  }

  /** Blocks (worker threads only) until the consumer frees some room, or `timeoutMs` passes. */
  waitForRoom(timeoutMs: number): void {
    Atomics.wait(this.header, TAIL, Atomics.load(this.header, TAIL), timeoutMs);
  }
}
