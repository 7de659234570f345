/**
 * The transport: the only module of GameServer that imports `zeromq`.
 *
 * zeromq's native async wake-ups are lost under Deno (a waiting `receive()` stalls; an expiring
 * `receiveTimeout` crashes), so one {@link Pump} per process polls every socket and hands each
 * message to a synchronous handler. Sends never wait: they return `false` and count a drop when
 * zeromq cannot take the message (queue full, unknown ROUTER peer, closed socket). CURVE servers
 * admit only listed client keys, through a ZAP handler the pump runs.
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

export { Pump, type PumpOptions, type PumpStats, type PumpWaitMode } from "./pump.ts";
export {
  DEFAULT_ROUTER_MAX_MESSAGE_SIZE,
  RouterSocket,
  type RouterSocketOptions,
} from "./router_socket.ts";
export { DealerSocket, type DealerSocketOptions } from "./dealer_socket.ts";
export { PublisherSocket, type PublisherSocketOptions } from "./publisher_socket.ts";
export { SubscriberSocket, type SubscriberSocketOptions } from "./subscriber_socket.ts";
export {
  describeProbe,
  type NativeProbeOptions,
  type NativeProbeResult,
  probeNativeReceive,
} from "./native_probe.ts";
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
