/**
 * The game node: request handling for every role (single, master, slave), the client table, and the
 * server that wires them to sockets (ZeroMQ, and WebSockets at `/ws` on the HTTP port) and the tick loop; its cluster side lives in `./cluster/`, its
 * replicated state in `lib/state/`.
 *
 * ```ts
 * import { NodeServer } from "./mod.ts";
 * import { defaults, NODE_SCHEMA } from "../config/mod.ts";
 * const server = await NodeServer.start(defaults(NODE_SCHEMA));
 * await server.close();
 * ```
 *
 * @module
 */
export {
  type AdmitResult,
  type ClientEntry,
  ClientTable,
  peerToKey,
  type TransportCounts,
} from "./client_table.ts";
export {
  type FrameOptions,
  GameNode,
  type GameNodeOptions,
  type NodeLoadFigures,
  requestLimits,
  type SendFn,
  worldOptionsOf,
} from "./game_node.ts";
export type { ForwardedWrite, WritePath } from "./write_path.ts";
export {
  READ_CIRCLE,
  READ_RAW,
  READ_RECT,
  type ReadReplyFn,
  type ReadRequest,
  ReadWorkers,
  type ReadWorkersOptions,
} from "./read_workers.ts";
export { type ConnectionsByTransport, NodeServer, type NodeServerOptions } from "./node_server.ts";
export { nodeRoutes } from "./node_http.ts";
export { nodeMetrics } from "./node_metrics.ts";
export {
  RequestMetrics,
  type Transport,
  type TransportFigures,
  UNPARSED_OP,
  ZMQ_TRANSPORT,
} from "./request_metrics.ts";
export { isWebSocketPeer, WS_PEER_BYTES, type WsCounts, WsPlane } from "./ws_plane.ts";
