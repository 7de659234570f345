/**
 * What every socket class shares: zeromq options, the non-blocking send with drop counting, and
 * the pump registration. Public classes wrap one of these so the raw socket stays private.
 *
 * @module
 */

import type * as zmq from "zeromq";
import type { Pump } from "./pump.ts";
import type { SocketOptions, SocketStats } from "./types.ts";
import {
  kAttach,
  kContext,
  kCounters,
  kDetach,
  kDirty,
  kKick,
  type PollTarget,
} from "./_internal.ts";
import { FULFILLED, PENDING, promiseDetails } from "./_promise_state.ts";
import { InvalidOptionError } from "./errors.ts";
import { EHOSTUNREACH, NativeSocket } from "./_libzmq.ts";

/** Default per-peer high-water mark (zeromq's own default of 1,000 drops bursts too early). */
export const DEFAULT_HWM = 10_000;
/** Default linger in ms: enough to flush a last reply, short enough never to hold up an exit. */
export const DEFAULT_LINGER_MS = 100;

/** Default bound of a batching socket's send queue (see `RouterSocketOptions.maxQueuedSends`). */
export const DEFAULT_MAX_QUEUED_SENDS = 10_000;

/** What a send accepts: one frame or several. */
export type OutFrames = Uint8Array | string | (Uint8Array | string)[];

/** zeromq constructor options common to all our sockets (timeouts 0: never wait, never crash). */
export function commonOptions(
  pump: Pump,
  options: SocketOptions,
  readable: boolean,
  writable = true,
): Record<string, unknown> {
  const settled = socketSettings(options);
  const result: Record<string, unknown> = {
    context: pump[kContext],
    linger: settled.linger,
  };
  if (writable) {
    // Subscribers have no send side: zeromq rejects these options there.
    result.sendTimeout = 0;
    result.sendHighWaterMark = settled.sendHwm;
  }
  if (readable) {
    // Publishers have no receive side: zeromq rejects the option there.
    result.receiveHighWaterMark = settled.receiveHwm;
    // A receiveTimeout that expires segfaults in Deno; 0 makes receive() non-blocking.
    result.receiveTimeout = 0;
    if (settled.maxMessageSize !== undefined) result.maxMessageSize = settled.maxMessageSize;
  }
  return result;
}

/**
 * Runs `make` (a zeromq socket constructor); option errors become an `InvalidOptionError`.
 * Options are validated beforehand because a zeromq.js socket whose constructor threw crashes
 * Deno at exit (segfault): this is only the last line of defence.
 */
export function createSocket<T>(kind: string, make: () => T, onError?: () => void): T {
  try {
    return make();
  } catch (error) {
    onError?.();
    throw new InvalidOptionError(`Invalid ${kind} socket options`, { cause: error });
  }
}

/** Throws `InvalidOptionError` unless `value` is undefined or an integer ≥ `min`. */
export function checkInteger(value: number | undefined, name: string, min: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < min || value > 0x7fffffff)) {
    throw new InvalidOptionError(`Socket option ${name} must be an integer of at least ${min}`);
  }
}

/** The TCP port in a zeromq endpoint such as `tcp://127.0.0.1:5555` (0 if none). */
export function portOf(endpoint: string): number {
  const port = Number(endpoint.slice(endpoint.lastIndexOf(":") + 1));
  return Number.isInteger(port) ? port : 0;
}

/**
 * `options` validated (InvalidOptionError) with the defaults filled in: what both a zeromq.js
 * socket (`commonOptions`) and one driven through FFI are configured with.
 */
export function socketSettings(
  options: SocketOptions,
): { linger: number; sendHwm: number; receiveHwm: number; maxMessageSize?: number } {
  checkInteger(options.sendHwm, "sendHwm", 0);
  checkInteger(options.receiveHwm, "receiveHwm", 0);
  checkInteger(options.linger, "linger", -1);
  checkInteger(options.maxMessageSize, "maxMessageSize", -1);
  return {
    linger: options.linger ?? DEFAULT_LINGER_MS,
    sendHwm: options.sendHwm ?? DEFAULT_HWM,
    receiveHwm: options.receiveHwm ?? DEFAULT_HWM,
    maxMessageSize: options.maxMessageSize,
  };
}

/** How a `SocketTarget` is polled and sends. */
export interface SocketTargetOptions {
  /** `router`, `dealer`, `publisher`, `subscriber`: for errors and logs. */
  kind: string;
  /** False for write-only sockets (PUB). */
  receives: boolean;
  /** The handler of each received message. */
  deliver?: (message: Uint8Array[]) => void;
  /** Called once the socket is closed. */
  onClose?: () => void;
  /** Queue sends until the pump flushes (see `RouterSocketOptions.batchSends`). */
  batchSends?: boolean;
  /** With `batchSends`: queued messages before `send()` returns `false`. */
  maxQueuedSends?: number;
}

/** One zeromq socket (zeromq.js, or libzmq through FFI) attached to a pump. */
export class SocketTarget implements PollTarget {
  closed = false;
  lastActive = 0;
  slot = 0;
  pending = false;
  swept = false;
  fd = -1;
  readonly stats: SocketStats = { received: 0, sent: 0, dropped: 0, unroutable: 0 };
  readonly pump: Pump;
  readonly kind: string;
  readonly socket: zmq.Socket | undefined;
  readonly native: NativeSocket | undefined;
  readonly receives: boolean;
  readonly #deliver: (message: Uint8Array[]) => void;
  readonly #onClose: (() => void) | undefined;
  /** Batching: sends not yet handed to zeromq (undefined: send at once). */
  #queued: OutFrames[] | undefined;
  readonly #maxQueued: number;

  /** `socket` is a zeromq.js socket or a NativeSocket (libzmq through FFI). */
  constructor(
    pump: Pump,
    socket: zmq.Socket | NativeSocket,
    options: SocketTargetOptions,
  ) {
    this.pump = pump;
    if (socket instanceof NativeSocket) {
      this.native = socket;
      this.socket = undefined;
    } else {
      this.socket = socket;
      this.native = undefined;
    }
    this.kind = options.kind;
    this.receives = options.receives;
    this.#deliver = options.deliver ?? (() => {});
    this.#onClose = options.onClose;
    if (options.batchSends) this.#queued = [];
    this.#maxQueued = options.maxQueuedSends ?? DEFAULT_MAX_QUEUED_SENDS;
  }

  /** Starts polling this socket; closes it if the pump refuses (closed, fd not watchable). */
  attach(): void {
    try {
      this.pump[kAttach](this);
    } catch (error) {
      this.closed = true;
      this.#closeSocket();
      this.#onClose?.();
      throw error;
    }
  }

  deliver(message: Uint8Array[]): void {
    this.stats.received++;
    this.#deliver(message);
  }

  /**
   * Sends without waiting; `false` (and a counted drop) if zeromq did not take the message. A
   * batching socket queues instead (`false` only when closed or the queue is full); the pump
   * flushes the queue, and drops found then are counted in `stats.dropped`.
   */
  send(frames: OutFrames): boolean {
    if (this.closed) {
      this.#dropped(undefined);
      return false;
    }
    const queued = this.#queued;
    if (queued !== undefined) {
      if (queued.length >= this.#maxQueued) {
        this.#dropped(undefined);
        return false;
      }
      queued.push(frames);
      if (queued.length === 1) this.pump[kDirty](this);
      return true;
    }
    // Sending may consume zeromq's wake-up signal, and a reply will probably follow: make the
    // pump look at this socket again before it waits.
    this.pump[kKick](this);
    return this.#sendNow(frames);
  }

  /** Batching: hands every queued send to zeromq, in order. */
  flush(): void {
    const queued = this.#queued;
    if (queued === undefined || queued.length === 0) return;
    this.#queued = [];
    if (this.closed) {
      for (let i = 0; i < queued.length; i++) this.#dropped(undefined);
      return;
    }
    this.pump[kKick](this);
    for (const frames of queued) this.#sendNow(frames);
  }

  #sendNow(frames: OutFrames): boolean {
    const native = this.native;
    if (native !== undefined) {
      const errno = native.send(Array.isArray(frames) ? frames : [frames]);
      if (errno === 0) {
        this.#sent();
        return true;
      }
      this.#dropped({ code: errno === EHOSTUNREACH ? "EHOSTUNREACH" : `ZMQ_${errno}` });
      return false;
    }
    let promise: Promise<void>;
    try {
      promise = (this.socket as zmq.Socket & zmq.Writable).send(frames);
    } catch (error) {
      this.#dropped(error);
      return false;
    }
    const details = promiseDetails(promise);
    if (details !== undefined && details[0] === FULFILLED) {
      this.#sent();
      return true;
    }
    if (details === undefined || details[0] === PENDING) {
      // The outcome is known only later: report it then (sendTimeout 0 makes this rare).
      promise.then(() => this.#sent(), (error) => this.#dropped(error));
      return true;
    }
    promise.catch(() => {});
    this.#dropped(details[1]);
    return false;
  }

  /** Stops polling and closes the zeromq socket; idempotent. */
  close(): void {
    if (this.closed) return;
    // Queued sends go out first (the linger option then bounds how long they may take).
    this.flush();
    this.closed = true;
    this.pump[kDetach](this);
    this.#closeSocket();
    this.#onClose?.();
  }

  #closeSocket(): void {
    if (this.native !== undefined) this.native.close();
    else this.socket?.close();
  }

  #sent(): void {
    this.stats.sent++;
    this.pump[kCounters].sent++;
    this.lastActive = performance.now();
  }

  #dropped(error: unknown): void {
    const counters = this.pump[kCounters];
    this.stats.dropped++;
    counters.dropped++;
    if ((error as { code?: string } | undefined)?.code === "EHOSTUNREACH") {
      this.stats.unroutable++;
      counters.unroutable++;
    }
  }
}
