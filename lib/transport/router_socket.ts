/**
 * The server side of request/reply: a ROUTER that binds and answers many peers.
 *
 * @module
 */

import * as zmq from "zeromq";
import { BindError } from "./errors.ts";
import { kCheckOpen, kNative } from "./_internal.ts";
import {
  type NativeSocket,
  ZMQ_EVENT_ACCEPTED,
  ZMQ_EVENT_DISCONNECTED,
  ZMQ_PAIR,
  ZMQ_ROUTER,
} from "./_libzmq.ts";
import type { Pump } from "./pump.ts";
import type { CurveServerKeys, Frames, SocketOptions } from "./types.ts";
import { bindServer } from "./_bind_server.ts";
import { SocketBase } from "./socket_base.ts";
import {
  checkInteger,
  commonOptions,
  portOf,
  socketSettings,
  SocketTarget,
} from "./_socket_target.ts";

/** Options of `RouterSocket.bind`. */
export interface RouterSocketOptions extends SocketOptions {
  /** Encrypt and admit only the listed client keys. */
  curve?: CurveServerKeys;
  /**
   * Batch outgoing messages (default false). `send()` then only queues the message and returns
   * `true` (`false` if the socket is closed or `maxQueuedSends` messages are already queued;
   * counted in `stats.dropped`). The pump hands the queue to zeromq, in send order:
   * - right after each drain of a socket (any socket of the pump): replies sent by handlers go
   *   out after the burst of receives they answer, so zeromq's I/O thread is woken once per
   *   burst rather than once per reply (a lone zeromq send costs 3–7× one that follows another);
   * - for sends made outside a drain (a timer, a promise callback), in a microtask at the end of
   *   the current task, so they are never held until the next sweep;
   * - before the pump waits, and on `close()`.
   *
   * So `true` means "queued", not "accepted by zeromq": a send that fails at the flush (peer
   * gone, peer's high-water mark reached) is counted in `stats.dropped` (and `unroutable`), not
   * reported to the caller; `stats.sent` counts messages zeromq accepted. Frames are handed to
   * zeromq later, so they must not be modified after `send()`.
   */
  batchSends?: boolean;
  /** With `batchSends`: queued messages before `send()` returns `false`. Default 10,000. */
  maxQueuedSends?: number;
  /**
   * Bytes (of payload) held for one peer whose zeromq queue is full (`sendHwm` messages waiting
   * because the peer does not read them fast enough), sent in order as soon as its queue takes
   * them again. A send that would hold more is dropped (`send()` returns `false`, or at the flush;
   * counted in `stats.overflowed` and `stats.dropped`), so what a peer that does not read costs is
   * bounded: `sendHwm` messages in zeromq plus this many bytes. Sockets through FFI only
   * (`pump.stats.socketMode`); with zeromq.js such sends are dropped. Default 0: none held.
   */
  maxBacklogBytes?: number;
  /**
   * Count the connections peers open and the ones that close (`connectionCounts`), whoever closed
   * them: the peer, or zeromq for a message over `maxMessageSize`. Sockets through FFI only; with
   * zeromq.js the counts stay 0. Default false.
   */
  countConnections?: boolean;
}

/** Connections a ROUTER accepted and saw closed (see `RouterSocketOptions.countConnections`). */
export interface ConnectionCounts {
  accepted: number;
  disconnected: number;
}

let monitors = 0;

/** Default inbound message limit of a ROUTER: 4 MiB (a peer sending more is disconnected). */
export const DEFAULT_ROUTER_MAX_MESSAGE_SIZE = 4 * 1024 * 1024;

/**
 * A bound ROUTER. Each message arrives as `(peer, frames)`; answer with `send(peer, frames)`.
 * Sends to peers that are not connected fail fast (`false`, counted as unroutable) rather than
 * vanishing, and a peer reconnecting with the same routing id takes over its old connection.
 */
export class RouterSocket extends SocketBase {
  readonly #counts: ConnectionCounts;

  private constructor(target: SocketTarget, endpoint: string, counts?: ConnectionCounts) {
    super(target, endpoint);
    this.#counts = counts ?? { accepted: 0, disconnected: 0 };
  }

  /** Connections accepted and closed so far (with `countConnections`; else zeros). */
  get connectionCounts(): Readonly<ConnectionCounts> {
    return this.#counts;
  }

  // `override` only because a class's static side inherits Function.prototype.bind.
  /** Binds a ROUTER on `endpoint` (e.g. `tcp://127.0.0.1:0`) and polls it with `pump`. */
  static override async bind(
    pump: Pump,
    endpoint: string,
    onMessage: (peer: Uint8Array, frames: Frames) => void,
    options: RouterSocketOptions = {},
  ): Promise<RouterSocket> {
    pump[kCheckOpen]();
    checkInteger(options.maxQueuedSends, "maxQueuedSends", 1);
    checkInteger(options.maxBacklogBytes, "maxBacklogBytes", 0);
    const {
      batchSends,
      maxQueuedSends,
      maxBacklogBytes,
      countConnections,
      curve,
      ...socketOptions
    } = options;
    const deliver = (message: Uint8Array[]) => {
      const peer = message[0];
      message.shift();
      onMessage(peer, message);
    };
    let monitor: SocketTarget | undefined;
    const targetOptions = {
      kind: "router",
      receives: true,
      deliver,
      batchSends,
      maxQueuedSends,
      maxBacklogBytes,
      onClose: () => monitor?.close(),
    };
    const native = curve ? undefined : pump[kNative];
    if (native !== undefined) {
      // A plain ROUTER talks to libzmq through FFI (see PumpOptions.sockets).
      const settings = socketSettings({
        maxMessageSize: DEFAULT_ROUTER_MAX_MESSAGE_SIZE,
        ...socketOptions,
      });
      const socket = native.socket(ZMQ_ROUTER);
      let bound: string;
      try {
        socket.configure({ ...settings, router: true });
        socket.bind(endpoint);
        bound = socket.lastEndpoint || endpoint;
      } catch (error) {
        socket.close();
        throw new BindError(endpoint, { cause: error });
      }
      const target = new SocketTarget(pump, socket, targetOptions);
      target.attach();
      const counts: ConnectionCounts = { accepted: 0, disconnected: 0 };
      if (countConnections) {
        try {
          monitor = watchConnections(pump, native, socket, counts);
        } catch (error) {
          target.close();
          throw new BindError(endpoint, { cause: error });
        }
      }
      return new RouterSocket(target, bound, counts);
    }
    const bound = await bindServer(pump, endpoint, {
      curve,
      make: (curveOptions) =>
        new zmq.Router({
          ...commonOptions(pump, {
            maxMessageSize: DEFAULT_ROUTER_MAX_MESSAGE_SIZE,
            ...socketOptions,
          }, true),
          ...curveOptions,
          mandatory: true,
          handover: true,
        }),
      target: targetOptions,
    });
    return new RouterSocket(bound.target, bound.endpoint);
  }

  /** The bound TCP port (0 for non-TCP endpoints). */
  get port(): number {
    return portOf(this.endpoint);
  }

  /**
   * Sends `frames` to `peer` without waiting; `false` if dropped (unknown peer, full queue,
   * closed). With `batchSends` the message is queued and `true` means queued (see
   * `RouterSocketOptions.batchSends`).
   */
  send(peer: Uint8Array, frames: Uint8Array[] | Uint8Array): boolean {
    return this.target.send(
      Array.isArray(frames) ? [peer, ...frames] : [peer, frames],
    );
  }

  /**
   * Payload bytes held for `peer` because its zeromq queue is full (see `maxBacklogBytes`); 0 while
   * it reads its messages.
   */
  backlogBytes(peer: Uint8Array): number {
    return this.target.backlogBytes(peer);
  }
}

/**
 * Counts `socket`'s accepted and closed connections: libzmq publishes its events on an inproc
 * endpoint, which a PAIR socket of the same context, polled by the pump, reads.
 */
function watchConnections(
  pump: Pump,
  native: NonNullable<Pump[typeof kNative]>,
  socket: NativeSocket,
  counts: ConnectionCounts,
): SocketTarget {
  const endpoint = `inproc://gameserver-router-monitor-${++monitors}`;
  socket.monitor(endpoint, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED);
  const pair = native.socket(ZMQ_PAIR);
  try {
    pair.configure({ linger: 0, sendHwm: 1000, receiveHwm: 100_000 });
    pair.connect(endpoint);
  } catch (error) {
    pair.close();
    throw error;
  }
  const monitor = new SocketTarget(pump, pair, {
    kind: "monitor",
    receives: true,
    deliver: (message) => {
      // First frame: the event (uint16) and its value (uint32), little-endian; then the endpoint.
      const head = message[0];
      if (head === undefined || head.length < 6) return;
      const event = head[0] | (head[1] << 8);
      if (event === ZMQ_EVENT_ACCEPTED) counts.accepted++;
      else if (event === ZMQ_EVENT_DISCONNECTED) counts.disconnected++;
    },
  });
  monitor.attach();
  return monitor;
}
