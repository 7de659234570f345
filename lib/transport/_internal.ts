/**
 * Internals shared by the pump and the socket classes; not part of the public surface.
 *
 * @module
 */

import type * as zmq from "zeromq";
import type { Libzmq, NativeSocket } from "./_libzmq.ts";
import type { PumpStats } from "./pump.ts";

/** Attaches a poll target to the pump (symbol-keyed so it stays off the public API). */
export const kAttach: unique symbol = Symbol("transport.attach");
/** Detaches a poll target from the pump. */
export const kDetach: unique symbol = Symbol("transport.detach");
/** The zeromq context owned by the pump. */
export const kContext: unique symbol = Symbol("transport.context");
/** The pump's mutable counters. */
export const kCounters: unique symbol = Symbol("transport.counters");
/** Tells the pump traffic is expected soon (a send happened): poll eagerly. */
export const kKick: unique symbol = Symbol("transport.kick");
/** A batching socket queued its first send since its last flush: the pump must flush it. */
export const kDirty: unique symbol = Symbol("transport.dirty");
/** Reports an error to the pump's `onError`. */
export const kReport: unique symbol = Symbol("transport.report");
/** Ensures the pump's ZAP handler exists and returns it. */
export const kZap: unique symbol = Symbol("transport.zap");
/** Throws `PumpClosedError` if the pump was disposed. */
export const kCheckOpen: unique symbol = Symbol("transport.checkOpen");
/** The pump's libzmq over FFI, or undefined when plain sockets use zeromq.js. */
export const kNative: unique symbol = Symbol("transport.native");

/** What the pump's `[kNative]` returns. */
export type NativeLibzmq = Libzmq;

/** One socket the pump polls. */
export interface PollTarget {
  /** `router`, `dealer`, `publisher`, `subscriber`, `zap`: for errors and logs. */
  readonly kind: string;
  /** The zeromq.js socket, or undefined for a socket driven through FFI (`native`). */
  readonly socket: zmq.Socket | undefined;
  /** The libzmq socket driven through FFI, or undefined for a zeromq.js socket. */
  readonly native: NativeSocket | undefined;
  /** False for write-only sockets (PUB): polled only so zeromq processes its commands. */
  readonly receives: boolean;
  /** Set on close; the pump skips and forgets closed targets. */
  closed: boolean;
  /** `performance.now()` of the last send or receive, for hot/cold polling. */
  lastActive: number;
  /** Number the pump gave this target (epoll data, cold-poll spreading). */
  slot: number;
  /** Queued for the next sweep (epoll mode). */
  pending: boolean;
  /** Queued by the periodic full sweep rather than by a wake-up or a send (epoll mode). */
  swept: boolean;
  /** The socket's ZMQ_FD while watched by epoll, else -1. */
  fd: number;
  /** Hands one received message to the handler; may throw (the pump catches). */
  deliver(message: Uint8Array[]): void;
  /** Called by the pump when it is disposed. */
  close(): void;
  /** Batching sockets: hands the queued sends to zeromq (after `kDirty`). */
  flush?(): void;
}

/** Mutable counters of a pump: the counting fields of `PumpStats`. */
export type Counters = Omit<
  PumpStats,
  "mode" | "socketMode" | "sockets" | "coldSockets" | "syncSettle"
>;
