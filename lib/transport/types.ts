/**
 * Plain types shared by the socket classes of the transport.
 *
 * @module
 */

/** The frames of one received message (zeromq hands out `Buffer`s, which are `Uint8Array`s). */
export type Frames = Uint8Array[];

/** CURVE keys of a server socket: its own keypair and the client public keys it accepts (Z85). */
export interface CurveServerKeys {
  /** The server's public key (Z85, 40 characters); clients need it. */
  publicKey: string;
  /** The server's secret key (Z85, 40 characters). */
  secretKey: string;
  /** Public keys (Z85) of the clients allowed to connect; every other client is refused. */
  allowedClientKeys: string[];
}

/** CURVE keys of a client socket: the server's public key and the client's own keypair (Z85). */
export interface CurveClientKeys {
  /** Public key of the server to connect to (Z85). */
  serverPublicKey: string;
  /** The client's public key (Z85); must be in the server's `allowedClientKeys`. */
  publicKey: string;
  /** The client's secret key (Z85). */
  secretKey: string;
}

/** Options every socket takes. */
export interface SocketOptions {
  /**
   * Messages queued per peer before sends drop (ROUTER, PUB: silently inside zeromq for PUB;
   * `send()` returns `false` for ROUTER and DEALER). Default 10,000.
   */
  sendHwm?: number;
  /** Messages queued per peer on the receiving side before zeromq stops reading. Default 10,000. */
  receiveHwm?: number;
  /** Milliseconds unsent messages are kept after `close()` (bounds exit time). Default 100. */
  linger?: number;
  /** Largest inbound message in bytes; a peer sending more is disconnected. -1 = no limit. */
  maxMessageSize?: number;
}

/** Counters of one socket; `dropped` includes `unroutable`. */
export interface SocketStats {
  /** Messages handed to the handler. */
  received: number;
  /** Messages accepted by zeromq for sending. */
  sent: number;
  /** Sends that failed: queue full (EAGAIN), unknown peer, or socket closed. */
  dropped: number;
  /** Sends to a ROUTER peer that is not connected (subset of `dropped`). */
  unroutable: number;
  /** Sends to a ROUTER peer whose backlog was full (subset of `dropped`; see `maxBacklogBytes`). */
  overflowed: number;
}
