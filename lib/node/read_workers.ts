/**
 * The node thread's side of its reader workers: the shared world views the state publishes into
 * after each tick, one request ring and one reply ring per worker, and the requests waiting for
 * room in a ring (kept in order: a client's reads all go to one worker and are answered in order).
 *
 * @module
 */
import type { ErrorCode, RequestLimits } from "../protocol/mod.ts";
import { type WorldOptions, WorldViews } from "../world/mod.ts";
import { RING_WAKE, SharedRing } from "./shared_ring.ts";
import {
  type ReaderSetup,
  type ReadRequest,
  REPLY_ERRORS,
  REPLY_HEADER_BYTES,
  writeBatch,
  writeRequest,
} from "./_read_records.ts";

export {
  emptyReadRequest,
  READ_BATCH,
  READ_CIRCLE,
  READ_FRAME,
  READ_RAW,
  READ_RECT,
  type ReadRequest,
} from "./_read_records.ts";

/** Bytes of each request ring. */
const INPUT_BYTES = 1 << 20;
/** Bytes of each reply ring (a reply must fit in half of it). */
const OUTPUT_BYTES = 16 << 20;

/**
 * Gets each answered read: its ticket, the users it matched, the view version and the reply frame;
 * `error` when the frame is an error reply instead (a `READ_FRAME` that did not decode or validate).
 */
export type ReadReplyFn = (
  ticket: number,
  total: number,
  version: number,
  frame: Uint8Array,
  error: ErrorCode | undefined,
) => void;

/** Options of {@linkcode ReadWorkers.start}. */
export interface ReadWorkersOptions {
  /** Number of worker threads (≥ 1). */
  count: number;
  /** The shape of the worlds the views hold. */
  world: WorldOptions;
  /** Most users one reply lists (`world.max_query_results`). */
  maxResults: number;
  /** What a `READ_FRAME`'s fields are checked against (the node's `requestLimits`). */
  limits: RequestLimits;
}

/**
 * N reader worker threads that answer circle and rectangle queries against the last published
 * world view. `submit()` queues a read for a lane (a worker); replies come back through `onReply`
 * when the node's event loop runs (one wake-up message per batch) or on `drain()`.
 */
export class ReadWorkers implements AsyncDisposable {
  /** The views the node's state publishes into (see `GameState.attachViews`). */
  readonly views: WorldViews;
  /** Number of workers (lanes). */
  readonly count: number;
  /** Receives every reply (set by the owner before the first submit). */
  onReply: ReadReplyFn = () => {};
  readonly #workers: Worker[] = [];
  readonly #inputs: SharedRing[] = [];
  readonly #outputs: SharedRing[] = [];
  /** Per lane: requests that found its ring full, in order. */
  readonly #waiting: ReadRequest[][] = [];
  #outstanding = 0;
  #closed = false;

  private constructor(views: WorldViews, count: number) {
    this.views = views;
    this.count = count;
  }

  /** Starts `count` reader workers for worlds shaped by `world`. */
  static start(options: ReadWorkersOptions): ReadWorkers {
    if (!(options.count >= 1)) throw new RangeError(`count must be >= 1, got ${options.count}`);
    const readers = new ReadWorkers(new WorldViews(options.world), options.count);
    for (let i = 0; i < options.count; i++) {
      const input = SharedRing.create(INPUT_BYTES);
      const output = SharedRing.create(OUTPUT_BYTES);
      const worker = new Worker(new URL("./read_worker.ts", import.meta.url), { type: "module" });
      worker.onmessage = () => {
        // Cleared before the drain: a reply committed after it wakes us again.
        Atomics.store(output.header, RING_WAKE, 0);
        readers.#drainLane(i);
      };
      const setup: ReaderSetup = {
        views: readers.views.shared,
        reader: i,
        input: input.memory,
        output: output.memory,
        maxResults: options.maxResults,
        limits: options.limits,
      };
      worker.postMessage(setup);
      readers.#workers.push(worker);
      readers.#inputs.push(input);
      readers.#outputs.push(output);
      readers.#waiting.push([]);
    }
    return readers;
  }

  /** Reads submitted and not answered yet. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** Queues `request` (copied) for worker `lane`. */
  submit(lane: number, request: ReadRequest): void {
    this.#outstanding++;
    const waiting = this.#waiting[lane];
    if (waiting.length > 0 || !writeRequest(this.#inputs[lane], request)) {
      // Copied: the caller reuses its record, and a frame may sit in a transport's read buffer.
      waiting.push({ ...request, frame: request.frame?.slice() });
    }
  }

  /**
   * Queues `count` circle queries of `radius` (centres in `xy`, x and y interleaved) for worker
   * `lane` as one record, answered by one reply whose frame holds each query's total (uint32,
   * little-endian); false when the lane's ring has no room now (nothing queued).
   */
  submitBatch(
    lane: number,
    ticket: number,
    batch: { radius: number; xy: Float64Array; count: number },
  ): boolean {
    if (this.#waiting[lane].length > 0 || !writeBatch(this.#inputs[lane], ticket, batch)) {
      return false;
    }
    this.#outstanding++;
    return true;
  }

  /** Hands every answered read to `onReply` now; returns how many. */
  drain(): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) n += this.#drainLane(i);
    return n;
  }

  /**
   * Blocks this thread until every submitted read is answered (replies go to `onReply`) or
   * `timeoutMs` passes; false on timeout. For benchmarks and tests: a server never blocks.
   */
  waitIdle(timeoutMs: number): boolean {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      this.drain();
      if (this.#outstanding === 0) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      for (let i = 0; i < this.count; i++) {
        const out = this.#outputs[i];
        if (!out.empty) continue;
        out.waitForRecord(Math.min(left, 5));
        break;
      }
    }
  }

  #drainLane(lane: number): number {
    const out = this.#outputs[lane];
    let n = 0;
    for (let at = out.next(); at >= 0; at = out.next()) {
      const v = out.view;
      const ticket = v.getUint32(at, true);
      const total = v.getUint32(at + 4, true);
      const version = v.getUint32(at + 8, true);
      const code = v.getUint32(at + 12, true);
      const error = code === 0 ? undefined : REPLY_ERRORS[code - 1] ?? "INTERNAL";
      const frame = out.bytes.slice(at + REPLY_HEADER_BYTES, at + out.length);
      out.release();
      this.#outstanding--;
      n++;
      this.onReply(ticket, total, version, frame, error);
    }
    const waiting = this.#waiting[lane];
    if (waiting.length > 0) {
      let k = 0;
      while (k < waiting.length && writeRequest(this.#inputs[lane], waiting[k])) k++;
      waiting.splice(0, k);
    }
    return n;
  }

  /** Stops and terminates the workers; reads not answered get no reply. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const input of this.#inputs) input.stop();
    for (const worker of this.#workers) worker.terminate();
  }

  /** Same as {@linkcode ReadWorkers.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
