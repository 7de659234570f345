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
import { EAGAIN, EHOSTUNREACH, NativeSocket } from "./_libzmq.ts";

/** Default per-peer high-water mark (zeromq's own default of 1,000 drops bursts too early). */
export const DEFAULT_HWM = 10_000;
/** Default linger in ms: enough to flush a last reply, short enough never to hold up an exit. */
export const DEFAULT_LINGER_MS = 100;

/** Default bound of a batching socket's send queue (see `RouterSocketOptions.maxQueuedSends`). */
export const DEFAULT_MAX_QUEUED_SENDS = 10_000;

/** What a send accepts: one frame or several. */
export type OutFrames = Uint8Array | string | (Uint8Array | string)[];

/** How often a backlog is tried again while no flush does it, ms. */
const BACKLOG_RETRY_MS = 2;

/** Messages for one ROUTER peer whose zeromq queue was full, oldest first. */
interface Backlog {
  readonly messages: (Uint8Array | string)[][];
  head: number;
  bytes: number;
}

/** A routing id (the first frame of a ROUTER's message) as a map key. */
export function routingKey(peer: Uint8Array | string): string {
  if (typeof peer === "string") return peer;
  let s = "";
  for (let i = 0; i < peer.length; i++) s += String.fromCharCode(peer[i]);
  return s;
}

/** Bytes of a ROUTER message's payload (every frame after the routing id). */
function payloadBytes(frames: readonly (Uint8Array | string)[]): number {
  let n = 0;
  for (let i = 1; i < frames.length; i++) {
    const f = frames[i];
    n += typeof f === "string" ? f.length : f.byteLength;
  }
  return n;
}

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
  /**
   * ROUTER through FFI: bytes held per peer whose zeromq queue is full (see
   * `RouterSocketOptions.maxBacklogBytes`). Default: none held, such sends are dropped.
   */
  maxBacklogBytes?: number;
}

/** One zeromq socket (zeromq.js, or libzmq through FFI) attached to a pump. */
export class SocketTarget implements PollTarget {
  closed = false;
  lastActive = 0;
  slot = 0;
  pending = false;
  swept = false;
  fd = -1;
  readonly stats: SocketStats = { received: 0, sent: 0, dropped: 0, unroutable: 0, overflowed: 0 };
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
  /** ROUTER: messages for peers whose zeromq queue was full, by routing id (undefined: none). */
  readonly #backlogs: Map<string, Backlog> | undefined;
  readonly #maxBacklogBytes: number;
  #backlogTimer: ReturnType<typeof setTimeout> | undefined;

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
    this.#maxBacklogBytes = options.maxBacklogBytes ?? 0;
    // Only an FFI socket reports a full queue synchronously (EAGAIN) for one peer.
    this.#backlogs = this.#maxBacklogBytes > 0 && this.native !== undefined ? new Map() : undefined;
  }

  /** Bytes held in the backlog of the ROUTER peer `peer` (0 when its zeromq queue takes more). */
  backlogBytes(peer: Uint8Array): number {
    const backlogs = this.#backlogs;
    if (backlogs === undefined || backlogs.size === 0) return 0;
    return backlogs.get(routingKey(peer))?.bytes ?? 0;
  }

  /** Peers with a backlog now. */
  get backlogged(): number {
    return this.#backlogs?.size ?? 0;
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
    const backlogs = this.#backlogs;
    if (backlogs !== undefined && backlogs.size > 0 && Array.isArray(frames)) {
      // A peer with a backlog gets its messages in order: after the backlog.
      const backlog = backlogs.get(routingKey(frames[0]));
      if (backlog !== undefined) return this.#append(backlog, frames);
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
    if (this.#backlogs !== undefined && this.#backlogs.size > 0) this.#retryBacklogs();
    const queued = this.#queued;
    if (queued === undefined || queued.length === 0) return;
    this.#queued = [];
    if (this.closed) {
      for (let i = 0; i < queued.length; i++) this.#dropped(undefined);
      return;
    }
    this.pump[kKick](this);
    const backlogs = this.#backlogs;
    for (const frames of queued) {
      if (backlogs !== undefined && backlogs.size > 0 && Array.isArray(frames)) {
        const backlog = backlogs.get(routingKey(frames[0]));
        if (backlog !== undefined) {
          this.#append(backlog, frames);
          continue;
        }
      }
      this.#sendNow(frames);
    }
  }

  #sendNow(frames: OutFrames): boolean {
    const native = this.native;
    if (native !== undefined) {
      const message = Array.isArray(frames) ? frames : [frames];
      const errno = native.send(message);
      if (errno === 0) {
        this.#sent();
        return true;
      }
      if (errno === EAGAIN && this.#backlogs !== undefined && message.length > 1) {
        // This peer's zeromq queue is full: hold the message (bounded) and try again later.
        const backlog: Backlog = { messages: [], head: 0, bytes: 0 };
        this.#backlogs.set(routingKey(message[0]), backlog);
        this.#scheduleBacklogRetry();
        return this.#append(backlog, message);
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

  /** Adds a message to a peer's backlog; false (an overflow, counted) when it would not fit. */
  #append(backlog: Backlog, frames: (Uint8Array | string)[]): boolean {
    const size = payloadBytes(frames);
    if (backlog.bytes + size > this.#maxBacklogBytes) {
      this.stats.overflowed++;
      this.#dropped(undefined);
      return false;
    }
    backlog.messages.push(frames);
    backlog.bytes += size;
    return true;
  }

  /** Hands backlogged messages to zeromq while their peers' queues take them. */
  #retryBacklogs(): void {
    const backlogs = this.#backlogs;
    const native = this.native;
    if (backlogs === undefined || native === undefined) return;
    for (const [key, backlog] of backlogs) {
      const messages = backlog.messages;
      let errno = 0;
      while (backlog.head < messages.length) {
        const message = messages[backlog.head];
        errno = native.send(message);
        if (errno !== 0) break;
        messages[backlog.head++] = [];
        backlog.bytes -= payloadBytes(message);
        this.#sent();
      }
      if (backlog.head === messages.length) {
        backlogs.delete(key);
      } else if (errno !== EAGAIN) {
        // The peer is gone (or the socket failed): what it was owed is dropped.
        for (let i = backlog.head; i < messages.length; i++) {
          this.#dropped({ code: errno === EHOSTUNREACH ? "EHOSTUNREACH" : `ZMQ_${errno}` });
        }
        backlogs.delete(key);
      } else if (backlog.head > 1024 && backlog.head * 2 > messages.length) {
        messages.splice(0, backlog.head);
        backlog.head = 0;
      }
    }
  }

  /** Tries the backlogs again soon while any is left and no flush does it. */
  #scheduleBacklogRetry(): void {
    if (this.#backlogTimer !== undefined || this.closed) return;
    this.#backlogTimer = setTimeout(() => {
      this.#backlogTimer = undefined;
      if (this.closed) return;
      this.#retryBacklogs();
      if (this.#backlogs !== undefined && this.#backlogs.size > 0) this.#scheduleBacklogRetry();
      else this.pump[kKick](this);
    }, BACKLOG_RETRY_MS);
  }

  /** Stops polling and closes the zeromq socket; idempotent. */
  close(): void {
    if (this.closed) return;
    // Queued sends go out first (the linger option then bounds how long they may take).
    this.flush();
    clearTimeout(this.#backlogTimer);
    this.#backlogTimer = undefined;
    if (this.#backlogs !== undefined) {
      for (const backlog of this.#backlogs.values()) {
        for (let i = backlog.head; i < backlog.messages.length; i++) this.#dropped(undefined);
      }
      this.#backlogs.clear();
    }
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
