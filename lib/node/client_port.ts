/**
 * The node's ZeroMQ client port, served by one of two engines (`clients.zmq_engine`): the
 * TypeScript ZMTP ROUTER on raw sockets (`zmtp`, default; where it cannot run — not Linux, no FFI —
 * the node says so and uses libzmq) or a libzmq ROUTER on the pump (`libzmq`).
 * Both hand each message to the node as `(peer, frames)` and take replies the same way.
 *
 * @module
 */
import { BindError, type Pump, RouterSocket } from "../transport/mod.ts";
import { ZmtpProtocolError, ZmtpRouter } from "../zmtp/mod.ts";
import { bindEndpoint, type NodeConfig } from "../config/mod.ts";
import { log } from "../log/mod.ts";

const logger = log("node", "clients");

/** What the node needs of its client socket, whichever engine serves it. */
export interface ClientSocket {
  /** The bound TCP port. */
  readonly port: number;
  /** Replies dropped because a connection's queue was full, or its peer gone. */
  readonly stats: Readonly<{ overflowed: number; unroutable: number }>;
  /** Connections accepted and closed so far. */
  readonly connectionCounts: Readonly<{ accepted: number; disconnected: number }>;
  /** Queues a reply for `peer`; false when dropped. */
  send(peer: Uint8Array, frame: Uint8Array): boolean;
  /** Reply bytes held for `peer` beyond its first `send_hwm` replies. */
  backlogBytes(peer: Uint8Array): number;
  /** Closes the port and every connection. */
  close(): void;
}

/** Binds the client port of `config` with its engine; throws {@linkcode BindError}. */
export async function bindClientPort(
  pump: Pump,
  config: NodeConfig,
  onMessage: (peer: Uint8Array, frames: Uint8Array[]) => void,
): Promise<ClientSocket> {
  const endpoint = bindEndpoint(config.bind, config.client_port);
  const clients = config.clients;
  // Up to max_frame_bytes a frame too large is answered (FRAME_TOO_LARGE); beyond, a hang-up.
  const maxMessageSize = Math.max(clients.max_frame_bytes, clients.frame_disconnect_bytes);
  const options = {
    maxMessageSize,
    sendHwm: clients.send_hwm,
    maxBacklogBytes: clients.max_backlog_bytes,
    onError: (error: Error) => {
      // A client breaking the protocol is routine (its connection is closed); a throw of the
      // node's own handler is a bug.
      if (error instanceof ZmtpProtocolError) {
        logger.debug("Client connection closed: {message}", { message: error.message });
      } else logger.error("Client message failed: {message}", { message: error.message, error });
    },
  };
  let router: ZmtpRouter | undefined;
  if (clients.zmq_engine === "zmtp") {
    try {
      router = ZmtpRouter.bind(endpoint, onMessage, options);
    } catch (error) {
      throw new BindError(endpoint, { cause: error });
    }
    if (router !== undefined) return router;
    logger.warning(
      "The zmtp client port needs Linux, --allow-ffi and an address to bind ({bind}): libzmq serves it",
      { bind: config.bind },
    );
  }
  return await RouterSocket.bind(pump, endpoint, onMessage, {
    maxMessageSize,
    // Replies go out after each burst of requests: one zeromq I/O wake-up per burst.
    batchSends: true,
    sendHwm: clients.send_hwm,
    maxBacklogBytes: clients.max_backlog_bytes,
    countConnections: true,
  });
}
