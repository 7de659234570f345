/**
 * ZMTP 3.1 (ZeroMQ's wire protocol, NULL mechanism) in TypeScript: the node's client port
 * (`ZmtpRouter`, raw sockets in one epoll set through FFI) and the clients' DEALERs (`ZmtpDealer` on
 * Deno's TCP, the shortest round trip for one connection; `RawZmtpDealer` on raw sockets, for
 * thousands of connections in one process such as the load generator). They talk to any ZeroMQ
 * peer; the cluster's own sockets stay libzmq (`lib/transport/`).
 *
 ```ts ignore
 * import { ZmtpDealer } from "./mod.ts";
 *
 * const dealer = ZmtpDealer.connect("tcp://127.0.0.1:7000", {
 *   onMessage: (frames) => console.log(frames.length, "frames"),
 * });
 * dealer.send(new TextEncoder().encode("hello"));
 * dealer.close();
 * ```
 *
 * @module
 */
export { parseTcpEndpoint, ZmtpDealer, type ZmtpDealerOptions } from "./dealer.ts";
export { type ZmtpConnectionCounts, ZmtpRouter, type ZmtpRouterOptions } from "./router.ts";
export { type Dealer, RawZmtpDealer } from "./raw_dealer.ts";
export {
  checkGreeting,
  commandFrame,
  concat,
  frame,
  greeting,
  hello,
  messageFrames,
  readyCommand,
  readyProperties,
  type ZmtpEvent,
  ZmtpParser,
  ZmtpProtocolError,
} from "./codec.ts";
