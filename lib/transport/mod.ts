/**
 * The transport: the only module of GameServer that imports `zeromq`.
 *
 * zeromq.js's native async wake-ups are lost under Deno (a waiting `receive()` stalls; an
 * expiring `receiveTimeout` crashes), so one {@link Pump} per process owns every socket's receive
 * loop and hands each message to a synchronous handler; nothing else calls `receive()`.
 *
 * - **Waiting**: on Linux with `--allow-ffi` the pump blocks in `epoll_wait` (a non-blocking FFI
 *   call, so the event loop stays free) on each socket's ZMQ_FD, and after a wake-up checks only
 *   the sockets that signalled or were sent on: no CPU while idle, no spinning under load (which
 *   on a 2-core machine starves zeromq's I/O threads). Elsewhere it falls back to polling: re-poll
 *   via `setImmediate` while traffic flowed in the last `busyWindowMs`, a `idleDelayMs` timer
 *   otherwise. `wait: "epoll" | "timer"` forces a mode; `pump.stats.mode` tells which is in use.
 * - **Calling libzmq**: plain (non-CURVE) ROUTER and DEALER sockets (the cluster's forwarding and
 *   registry links; the client plane with `zmq_engine: libzmq` — by default it speaks ZMTP itself,
 *   see `lib/zmtp/`) call libzmq directly through Deno FFI — the libzmq inside zeromq.js's own addon, opened a second
 *   time — without zeromq.js's N-API calls, promises and Buffers: half the server CPU per round
 *   trip (`deno task bench:transport`: 12 against 25 µs). CURVE sockets (their ZAP handler lives in zeromq.js's context) and PUB/SUB use
 *   zeromq.js. Without `--allow-ffi` everything uses zeromq.js; `sockets: "ffi" | "zeromq.js"`
 *   forces a way, `pump.stats.socketMode` tells which is in use.
 * - **Sending** never waits (`sendTimeout` 0): `send()` returns `false` and counts a drop when
 *   zeromq cannot take the message (queue full, unknown ROUTER peer, closed socket). PUB drops at
 *   its high-water mark silently: number messages and detect gaps.
 * - **CURVE**: servers admit only the listed client keys, through a ZAP handler the pump runs.
 * - **Handlers** are synchronous; what they throw is caught, counted and reported (`onError`).
 * - `deno task probe:zmq` tells whether native wake-ups work yet.
 *
 * ```ts
 * import { DealerSocket, Pump, RouterSocket } from "./mod.ts";
 *
 * await using pump = new Pump();
 * const server = await RouterSocket.bind(pump, "tcp://127.0.0.1:0", (peer, frames) => {
 *   server.send(peer, frames); // echo
 * });
 * const { promise, resolve } = Promise.withResolvers<string>();
 * const client = DealerSocket.connect(pump, server.endpoint, (frames) => {
 *   resolve(new TextDecoder().decode(frames[0]));
 * });
 * client.send(new TextEncoder().encode("ping"));
 * console.log(await promise); // "ping"
 * ```
 *
 * @module
 */

export {
  Pump,
  type PumpOptions,
  type PumpSocketMode,
  type PumpStats,
  type PumpWaitMode,
} from "./pump.ts";
export {
  type ConnectionCounts,
  DEFAULT_ROUTER_MAX_MESSAGE_SIZE,
  RouterSocket,
  type RouterSocketOptions,
} from "./router_socket.ts";
export { DealerSocket, type DealerSocketOptions } from "./dealer_socket.ts";
export { PublisherSocket, type PublisherSocketOptions } from "./publisher_socket.ts";
export { SubscriberSocket, type SubscriberSocketOptions } from "./subscriber_socket.ts";
export type { SocketBase } from "./socket_base.ts";
/** An epoll set waited on off the event loop (Linux + FFI); also used by `lib/zmtp/`'s raw sockets. */
export { EPOLLOUT, EpollWaiter } from "./_epoll.ts";
export { curveAvailable, type CurveKeyPair, generateCurveKeyPair } from "./curve.ts";
export type {
  CurveClientKeys,
  CurveServerKeys,
  Frames,
  SocketOptions,
  SocketStats,
} from "./types.ts";
export {
  BindError,
  ConnectError,
  CurveError,
  HandlerError,
  InvalidOptionError,
  PumpClosedError,
  ReceiveError,
  TransportError,
} from "./errors.ts";
