/**
 * ZMTP 3.1 (ZeroMQ's wire protocol) in TypeScript over Deno's TCP, for clients: a DEALER that talks
 * to any ZeroMQ ROUTER with the NULL mechanism, costing one TCP stream per connection instead of a
 * libzmq socket. The load generator uses it to hold thousands of client connections
 * (`--zmq-engine=zmtp`); the node's own sockets stay libzmq (`lib/transport/`).
 *
 * ```ts ignore
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
  messageFrames,
  readyCommand,
  readyProperties,
  type ZmtpEvent,
  ZmtpParser,
  ZmtpProtocolError,
} from "./codec.ts";
