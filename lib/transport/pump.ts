/**
 * The receive pump: one per process, it owns the zeromq context and every socket's receive loop.
 *
 * @module
 */

import * as zmq from "zeromq";
import { setImmediate } from "node:timers";
import { getLogger } from "@logtape/logtape";
import {
  HandlerError,
  InvalidOptionError,
  PumpClosedError,
  ReceiveError,
  TransportError,
} from "./errors.ts";
import {
  type Counters,
  kAttach,
  kCheckOpen,
  kContext,
  kCounters,
  kDetach,
  kDirty,
  kKick,
  kNative,
  kReport,
  kZap,
  type PollTarget,
} from "./_internal.ts";
import { FULFILLED, PENDING, promiseDetails, syncPromiseState } from "./_promise_state.ts";
import { EpollWaiter } from "./_epoll.ts";
import { Libzmq } from "./_libzmq.ts";
import { ZapHandler } from "./_zap_handler.ts";

/** How the pump waits when no socket has work. */
export type PumpWaitMode = "auto" | "epoll" | "timer";

/** How plain (non-CURVE) ROUTER and DEALER sockets reach libzmq. */
export type PumpSocketMode = "auto" | "ffi" | "zeromq.js";

/** Tunables of the pump; the defaults suit a game node. */
export interface PumpOptions {
  /**
   * `epoll`: block on the sockets' ZMQ_FDs through Linux epoll (FFI, needs `--allow-ffi`): no
   * spinning, wakes within tens of µs. `timer`: poll — re-poll at once while traffic flowed in
   * the last `busyWindowMs`, else every `idleDelayMs`. `auto` (default): epoll where available.
   */
  wait?: PumpWaitMode;
  /**
   * Epoll mode: sweep every socket at least this often, a backstop for lost wake-ups (see
   * `PumpStats.backstopFinds`). Default 500 ms.
   */
  sweepIntervalMs?: number;
  /** Timer mode: delay between polls once idle. Default 1 ms (Deno makes it ≈2 ms). */
  idleDelayMs?: number;
  /** Timer mode: how long after the last traffic the pump re-polls at once. Default 2 ms. */
  busyWindowMs?: number;
  /**
   * Timer mode: sockets silent for a second are "cold"; at most this many are polled per sweep
   * (round robin), so thousands of idle sockets do not slow every sweep. Default 256.
   */
  maxColdPolls?: number;
  /** Messages taken from one socket per sweep before moving on (fairness). Default 256. */
  maxBatch?: number;
  /**
   * `ffi`: plain ROUTER and DEALER sockets call libzmq directly through Deno FFI (the libzmq
   * inside zeromq.js's addon; needs Linux and `--allow-ffi`): half the CPU per round trip of
   * zeromq.js (see `bench/transport_bench.ts`). `zeromq.js`: every socket uses zeromq.js. `auto` (default):
   * FFI where available. CURVE sockets and PUB/SUB always use zeromq.js. Without this option
   * the environment variable `GAMESERVER_SOCKETS` (same values) decides, then `auto`.
   */
  sockets?: PumpSocketMode;
  /** Receives handler and receive errors; default: logged (rate-limited) under gameserver.transport. */
  onError?: (error: TransportError) => void;
}

/** A snapshot of the pump's counters. */
export interface PumpStats {
  /** The wait mode in use (`auto` resolved). */
  mode: "epoll" | "timer";
  /** How plain ROUTER and DEALER sockets reach libzmq (`auto` resolved). */
  socketMode: "ffi" | "zeromq.js";
  /** Sockets currently polled (including the internal ZAP handler). */
  sockets: number;
  /**
   * Timer mode: sockets the last sweep found cold (silent for a second), which are polled round
   * robin, `maxColdPolls` per sweep. Always 0 in epoll mode.
   */
  coldSockets: number;
  /** Sweeps (over all sockets, or in epoll mode over those with work). */
  loops: number;
  /** Sweeps followed by an immediate re-poll (`setImmediate`). */
  busyYields: number;
  /** Sweeps followed by a wait (epoll wait or timer). */
  idleYields: number;
  /** Messages handed to handlers. */
  received: number;
  /** Messages accepted for sending by any socket of this pump. */
  sent: number;
  /** Failed sends (queue full, unknown peer, closed socket); includes `unroutable`. */
  dropped: number;
  /** Sends to unknown ROUTER peers. */
  unroutable: number;
  /** Exceptions thrown by handlers (caught; the pump kept running). */
  handlerErrors: number;
  /** Unexpected receive failures. */
  receiveErrors: number;
  /** CURVE clients admitted by the ZAP handler. */
  authAllowed: number;
  /** CURVE clients refused by the ZAP handler. */
  authDenied: number;
  /**
   * Epoll mode: sweeps of a socket where the periodic full sweep, not a wake-up, found messages.
   * A few under heavy load are races (data arriving during the sweep); a count growing with
   * traffic would mean lost wake-ups, with latency up to `sweepIntervalMs`.
   */
  backstopFinds: number;
  /** Whether sends report drops synchronously and drains avoid a microtask per message. */
  syncSettle: boolean;
}

/** Longest `[Symbol.asyncDispose]()` waits for the FFI context's lingering messages. */
const DISPOSE_WAIT_MS = 2000;
/** Timer mode: sockets with traffic within this many ms are polled on every sweep. */
const HOT_MS = 1000;
/** Default logging allows this many error lines per second. */
const LOG_PER_SECOND = 10;
/** Environment variable that sets the default of `PumpOptions.sockets`. */
const ENV_SOCKETS = "GAMESERVER_SOCKETS";
/** zeromq's ZMQ_FD socket option. */
const ZMQ_FD = 14;

const logger = getLogger(["gameserver", "transport"]);

function immediate(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Owns the receive loop of every socket of the process. zeromq.js's own async wake-ups are lost
 * in Deno, so the pump drives the sockets itself: it sweeps the sockets that may have messages,
 * hands each message to its synchronous handler, and then waits — on epoll (no CPU while idle)
 * or, where that is unavailable, on a short timer with immediate re-polls while traffic flows.
 * A socket is read at most `maxBatch` messages per sweep, so one busy peer cannot starve others.
 * The pump runs only while it owns sockets; disposing it closes them all.
 */
export class Pump implements AsyncDisposable {
  readonly #idleDelayMs: number;
  readonly #busyWindowMs: number;
  readonly #sweepIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxColdPolls: number;
  readonly #onError: ((error: TransportError) => void) | undefined;
  readonly #context: zmq.Context;
  /** libzmq through FFI for plain ROUTER/DEALER sockets (its own context), or undefined. */
  readonly #native: Libzmq | undefined;
  readonly #waiter: EpollWaiter | undefined;
  readonly #counters: Counters = {
    loops: 0,
    busyYields: 0,
    idleYields: 0,
    received: 0,
    sent: 0,
    dropped: 0,
    unroutable: 0,
    handlerErrors: 0,
    receiveErrors: 0,
    authAllowed: 0,
    authDenied: 0,
    backstopFinds: 0,
  };
  #targets: PollTarget[] = [];
  readonly #bySlot = new Map<number, PollTarget>();
  /** Epoll mode: targets to sweep next (ready, sent on, or left with messages). */
  #queue: PollTarget[] = [];
  /** Batching sockets with queued sends, flushed after each drain, before waits, or in a microtask. */
  #dirty: PollTarget[] = [];
  /** Inside a drain: sends queued now are flushed when it ends (no microtask needed). */
  #sweeping = false;
  #flushScheduled = false;
  #running: Promise<void> | undefined;
  #closed = false;
  #kicked = false;
  #lastTraffic = -Infinity;
  #lastFullSweep = 0;
  #wakeTimer: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #zap: Promise<ZapHandler> | undefined;
  #nextSlot = 0;
  #coldStride = 1;
  #coldSeen = 0;
  #coldLastSweep = 0;
  #logWindowStart = 0;
  #logsInWindow = 0;

  /** Creates a pump; it starts polling when the first socket is attached. */
  constructor(options: PumpOptions = {}) {
    if (options.wait !== undefined && !["auto", "epoll", "timer"].includes(options.wait)) {
      throw new InvalidOptionError(`Pump option wait must be auto, epoll or timer`);
    }
    this.#idleDelayMs = nonNegative(options.idleDelayMs ?? 1, "idleDelayMs");
    this.#busyWindowMs = nonNegative(options.busyWindowMs ?? 2, "busyWindowMs");
    this.#sweepIntervalMs = Math.max(
      1,
      nonNegative(options.sweepIntervalMs ?? 500, "sweepIntervalMs"),
    );
    this.#maxBatch = Math.max(1, Math.floor(nonNegative(options.maxBatch ?? 256, "maxBatch")));
    this.#maxColdPolls = Math.max(
      1,
      Math.floor(nonNegative(options.maxColdPolls ?? 256, "maxColdPolls")),
    );
    this.#onError = options.onError;
    const wait = options.wait ?? "auto";
    if (wait !== "timer") {
      this.#waiter = EpollWaiter.open();
      if (this.#waiter === undefined && wait === "epoll") {
        throw new TransportError(
          "Pump wait mode epoll needs Linux and the FFI permission (--allow-ffi)",
        );
      }
    }
    const sockets = options.sockets ?? socketsFromEnv() ?? "auto";
    if (!["auto", "ffi", "zeromq.js"].includes(sockets)) {
      throw new InvalidOptionError(
        `Pump option sockets (or GAMESERVER_SOCKETS) must be auto, ffi or zeromq.js, got ${sockets}`,
      );
    }
    // Created last: nothing above may throw after zeromq resources exist.
    this.#context = new zmq.Context();
    // zeromq.js has loaded its addon by now: FFI opens that same file.
    this.#native = sockets === "zeromq.js" ? undefined : Libzmq.open();
    if (this.#native === undefined && sockets === "ffi") {
      throw new TransportError(
        "Pump option sockets=ffi needs Linux, the FFI permission and zeromq.js's libzmq addon",
      );
    }
  }

  /** Whether the pump was closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A snapshot of the counters. */
  get stats(): PumpStats {
    return {
      mode: this.#waiter ? "epoll" : "timer",
      socketMode: this.#native ? "ffi" : "zeromq.js",
      ...this.#counters,
      sockets: this.#targets.length,
      coldSockets: this.#coldLastSweep,
      syncSettle: syncPromiseState,
    };
  }

  /** Closes every socket of the pump and stops polling; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const target of this.#targets) target.close();
    this.#targets = [];
    this.#queue = [];
    this.#zap = undefined;
    this.#wakeTimer?.();
    this.#waiter?.wake();
    if (this.#running === undefined) this.#waiter?.close();
    // Every socket is closed: the FFI context ends once their linger has passed.
    void this.#native?.terminate();
  }

  /** Closes the pump and waits until its loop has ended (no timer or wait left behind). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#running;
    const native = this.#native;
    if (native === undefined) return;
    // The FFI context ends once the sockets' linger has passed; a linger of -1 towards a peer
    // that never reads would wait forever, so do not hold the caller longer than this.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      native.terminate(),
      new Promise<void>((resolve) => timer = setTimeout(resolve, DISPOSE_WAIT_MS)),
    ]);
    clearTimeout(timer);
  }

  /** @internal */
  get [kContext](): zmq.Context {
    return this.#context;
  }

  /** @internal */
  get [kNative](): Libzmq | undefined {
    return this.#native;
  }

  /** @internal */
  get [kCounters](): Counters {
    return this.#counters;
  }

  /** @internal */
  [kCheckOpen](): void {
    if (this.#closed) throw new PumpClosedError();
  }

  /** @internal */
  [kAttach](target: PollTarget): void {
    this[kCheckOpen]();
    target.slot = this.#nextSlot++;
    target.lastActive = performance.now();
    if (this.#waiter !== undefined) {
      const fd = target.native !== undefined
        ? target.native.fd
        // deno-lint-ignore no-explicit-any
        : (target.socket as any).getInt32Option(ZMQ_FD) as number;
      if (!this.#waiter.add(fd, target.slot)) {
        throw new TransportError(`Cannot watch the ${target.kind} socket with epoll`);
      }
      target.fd = fd;
      this.#bySlot.set(target.slot, target);
    }
    this.#targets = [...this.#targets, target];
    this[kKick](target);
    this.#running ??= this.#run();
  }

  /** @internal Call before the zeromq socket is closed (its fd must leave the epoll set first). */
  [kDetach](target: PollTarget): void {
    // Copy on write: a sweep in progress keeps iterating its own array.
    this.#targets = this.#targets.filter((t) => t !== target);
    if (target.fd >= 0) {
      this.#waiter?.remove(target.fd);
      target.fd = -1;
      this.#bySlot.delete(target.slot);
    }
  }

  /**
   * @internal `target` was used outside a sweep (a send, which may also consume zeromq's
   * wake-up signal): check it again before waiting.
   */
  [kKick](target: PollTarget): void {
    this.#kicked = true;
    target.swept = false;
    if (!target.pending) {
      target.pending = true;
      this.#queue.push(target);
    }
    this.#waiter?.wake();
    this.#wakeTimer?.();
  }

  /**
   * @internal `target` (a batching socket) queued its first send since its last flush. Inside a
   * drain it is flushed when the drain ends; otherwise (a timer, another event) in a microtask,
   * so sends from one callback still go out together and nothing waits for the next sweep.
   */
  [kDirty](target: PollTarget): void {
    this.#dirty.push(target);
    if (!this.#sweeping && !this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flushScheduledDirty);
    }
  }

  readonly #flushScheduledDirty = (): void => {
    this.#flushScheduled = false;
    this.#flushDirty();
  };

  /** Hands every queued send of batching sockets to zeromq. */
  #flushDirty(): void {
    while (this.#dirty.length > 0) {
      const list = this.#dirty;
      this.#dirty = [];
      for (const target of list) target.flush?.();
    }
  }

  /** @internal */
  [kZap](): Promise<ZapHandler> {
    this[kCheckOpen]();
    if (this.#zap === undefined) {
      const zap = ZapHandler.bind(this);
      this.#zap = zap;
      zap.catch(() => {
        if (this.#zap === zap) this.#zap = undefined;
      });
    }
    return this.#zap;
  }

  /** @internal */
  [kReport](error: TransportError): void {
    if (this.#onError !== undefined) {
      try {
        this.#onError(error);
      } catch {
        // An onError that throws must not stop the pump either.
      }
      return;
    }
    const now = performance.now();
    if (now - this.#logWindowStart >= 1000) {
      this.#logWindowStart = now;
      this.#logsInWindow = 0;
    }
    if (++this.#logsInWindow <= LOG_PER_SECOND) {
      logger.error("{message}", { message: error.message, error, stats: this.#counters });
    }
  }

  async #run(): Promise<void> {
    try {
      // Never sweep inside the caller's bind()/connect(): handlers run from the loop only.
      await immediate();
      const { mode, socketMode } = this.stats;
      logger.debug("Transport pump running in {mode} mode, plain sockets through {socketMode}", {
        mode,
        socketMode,
      });
      while (!this.#closed && this.#targets.length > 0) {
        try {
          if (this.#waiter !== undefined) await this.#epollRound(this.#waiter);
          else await this.#timerRound();
        } catch (error) {
          // Handlers and receives are guarded; this is a bug or a failing wait. Keep going, slowly.
          this[kReport](new TransportError("The transport pump failed a round", { cause: error }));
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    } finally {
      this.#running = undefined;
      if (this.#closed) this.#waiter?.close();
      // A socket attached while the loop was ending needs a new loop.
      else if (this.#targets.length > 0) this.#running = this.#run();
    }
  }

  /** Epoll mode: sweep what may have work, then re-poll at once or wait on the fds. */
  async #epollRound(waiter: EpollWaiter): Promise<void> {
    const counters = this.#counters;
    const now = performance.now();
    if (now - this.#lastFullSweep >= this.#sweepIntervalMs) {
      this.#lastFullSweep = now;
      for (const target of this.#targets) {
        if (!target.pending) {
          target.pending = true;
          target.swept = true;
          this.#queue.push(target);
        }
      }
    }
    // Busy rounds do not wait, so collect the wake-ups of other sockets here (≈0.5 µs).
    waiter.poll(this.#enqueueSlot);
    const list = this.#queue;
    this.#queue = [];
    this.#kicked = false;
    await this.#sweepQueued(list, now);
    // Nothing may sit in a send queue across a wait (a flush kicks its socket back into #queue).
    this.#flushDirty();
    counters.loops++;
    if (this.#closed || this.#targets.length === 0) return;
    if (this.#queue.length > 0) {
      counters.busyYields++;
      await immediate();
      return;
    }
    counters.idleYields++;
    const timeout = Math.max(0, this.#sweepIntervalMs - (performance.now() - this.#lastFullSweep));
    await waiter.wait(timeout, this.#enqueueSlot);
  }

  readonly #enqueueSlot = (slot: number): void => {
    const target = this.#bySlot.get(slot);
    if (target === undefined) return;
    target.swept = false;
    if (!target.pending) {
      target.pending = true;
      this.#queue.push(target);
    }
  };

  async #sweepQueued(list: PollTarget[], now: number): Promise<void> {
    for (const target of list) {
      if (!target.pending) continue;
      target.pending = false;
      if (target.closed) continue;
      const backstop = target.swept;
      target.swept = false;
      const before = this.#counters.received;
      let full: boolean;
      this.#sweeping = true;
      try {
        full = syncPromiseState
          ? this.#drainSync(target, now)
          : await this.#drainAsync(target, now);
      } finally {
        this.#sweeping = false;
        this.#flushDirty();
      }
      // Found by the periodic sweep, not by a wake-up: a lost wake-up (should stay ~0).
      if (backstop && this.#counters.received > before) this.#counters.backstopFinds++;
      // Messages left behind raise no new signal: come back for them.
      if (full && !target.pending && !target.closed) {
        target.pending = true;
        this.#queue.push(target);
      }
    }
  }

  /** Timer mode: sweep every due socket, then yield at once (busy) or sleep `idleDelayMs`. */
  async #timerRound(): Promise<void> {
    const counters = this.#counters;
    const before = performance.now();
    const received = counters.received;
    const targets = this.#targets;
    for (const target of targets) {
      target.pending = false;
      if (target.closed || !this.#due(target, before)) continue;
      this.#sweeping = true;
      try {
        if (syncPromiseState) this.#drainSync(target, before);
        else await this.#drainAsync(target, before);
      } finally {
        this.#sweeping = false;
        this.#flushDirty();
      }
    }
    this.#coldStride = Math.max(1, Math.ceil(this.#coldSeen / this.#maxColdPolls));
    this.#coldLastSweep = this.#coldSeen;
    this.#coldSeen = 0;
    this.#queue = [];
    this.#flushDirty();
    counters.loops++;
    const now = performance.now();
    if (counters.received > received || this.#kicked) {
      this.#lastTraffic = now;
      this.#kicked = false;
    }
    if (this.#closed || this.#targets.length === 0) return;
    if (now - this.#lastTraffic < this.#busyWindowMs) {
      counters.busyYields++;
      await immediate();
    } else {
      counters.idleYields++;
      await this.#sleep();
    }
  }

  #sleep(): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        if (this.#timer !== undefined) clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#wakeTimer = undefined;
        resolve();
      };
      this.#wakeTimer = wake;
      this.#timer = setTimeout(wake, this.#idleDelayMs);
    });
  }

  /** Timer mode: whether `target` is polled in this sweep (hot always, cold round robin). */
  #due(target: PollTarget, now: number): boolean {
    if (now - target.lastActive <= HOT_MS) return true;
    this.#coldSeen++;
    return (this.#counters.loops + target.slot) % this.#coldStride === 0;
  }

  /**
   * Takes up to `maxBatch` messages from `target` without waiting; returns whether it stopped
   * at the batch limit. `readable` (ZMQ_EVENTS) also makes zeromq process pending commands.
   */
  #drainSync(target: PollTarget, now: number): boolean {
    const native = target.native;
    if (native !== undefined) return this.#drainWith(target, now, () => native.receive());
    const socket = target.socket as zmq.Socket & zmq.Readable;
    if (!target.receives) {
      void socket.readable;
      return false;
    }
    return this.#drainWith(target, now, () => {
      if (!socket.readable) return undefined;
      const promise = socket.receive();
      const details = promiseDetails(promise)!;
      if (details[0] === FULFILLED) return details[1] as Uint8Array[];
      this.#unsettled(target, promise, details[0] === PENDING);
      return undefined;
    });
  }

  /**
   * The drain loop: hands `target`'s messages from `take()` (undefined: none waiting now) to its
   * handler, up to `maxBatch`; returns whether it stopped at that limit.
   */
  #drainWith(target: PollTarget, now: number, take: () => Uint8Array[] | undefined): boolean {
    let count = 0;
    try {
      while (!target.closed) {
        if (count === this.#maxBatch) return true;
        const message = take();
        if (message === undefined) break;
        count++;
        target.lastActive = now;
        this.#dispatch(target, message);
      }
    } catch (error) {
      this.#receiveFailed(target, error);
    }
    return false;
  }

  /** Same as `#drainSync` for runtimes that cannot inspect settled promises. */
  async #drainAsync(target: PollTarget, now: number): Promise<boolean> {
    // FFI sockets never need a promise: their drain is synchronous everywhere.
    if (target.native !== undefined) return this.#drainSync(target, now);
    const socket = target.socket as zmq.Socket & zmq.Readable;
    if (!target.receives) {
      void socket.readable;
      return false;
    }
    let count = 0;
    try {
      while (!target.closed && socket.readable) {
        if (count === this.#maxBatch) return true;
        const message = await socket.receive();
        count++;
        target.lastActive = now;
        this.#dispatch(target, message);
      }
    } catch (error) {
      this.#receiveFailed(target, error);
    }
    return false;
  }

  /** A receive on a readable socket did not complete at once: should not happen; stay safe. */
  #unsettled(target: PollTarget, promise: Promise<Uint8Array[]>, pending: boolean): void {
    promise.then(
      (message) => {
        if (pending) this.#dispatch(target, message);
      },
      (error) => this.#receiveFailed(target, error),
    );
  }

  #dispatch(target: PollTarget, message: Uint8Array[]): void {
    this.#counters.received++;
    try {
      target.deliver(message);
    } catch (error) {
      this.#counters.handlerErrors++;
      this[kReport](new HandlerError(target.kind, { cause: error }));
    }
  }

  #receiveFailed(target: PollTarget, error: unknown): void {
    if (target.closed || this.#closed) return;
    this.#counters.receiveErrors++;
    this[kReport](new ReceiveError(target.kind, { cause: error }));
  }
}

/** `GAMESERVER_SOCKETS` (auto, ffi, zeromq.js) when set and readable: the operator's override. */
function socketsFromEnv(): PumpSocketMode | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: ENV_SOCKETS }).state !== "granted") {
      return undefined;
    }
    const value = Deno.env.get(ENV_SOCKETS);
    return value === undefined || value === "" ? undefined : value as PumpSocketMode;
  } catch {
    return undefined;
  }
}

function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(`Pump option ${name} must be a non-negative number`);
  }
  return value;
}
