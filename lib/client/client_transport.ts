/**
 * How a client {@linkcode Connection} reaches a node: a ZeroMQ DEALER for `tcp://` endpoints, a
 * WebSocket for `ws://` and `wss://` URLs. The connection's logic (requests, heartbeats, silence,
 * reconnects) is the same over both; only these few calls differ.
 *
 * @module
 */
import { DealerSocket, type Pump } from "../transport/mod.ts";
import { RawZmtpDealer, ZmtpDealer, type ZmtpDealerOptions } from "../zmtp/mod.ts";
import type { NodeAddress, WireFormat } from "../protocol/mod.ts";
import { type ClientConfig, ConfigError, connectEndpoint } from "../config/mod.ts";

/** One open link to a node. */
export interface ClientTransport {
  /** Sends one frame; false when it cannot be sent (closed, or too much queued). */
  send(frame: Uint8Array): boolean;
  /** Closes the link; no more frames or events are delivered. Idempotent. */
  close(): void;
}

/** Options of {@linkcode openTransport}. */
export interface TransportOptions {
  /** Runs the ZeroMQ socket (unused for WebSockets). */
  pump: Pump;
  /** ZeroMQ through the TypeScript ZMTP on Deno's TCP (default), on raw sockets, or libzmq. */
  zmqEngine?: "zmtp" | "epoll" | "libzmq";
  /** The format frames are in: a WebSocket sends JSON as text messages, protobuf as binary ones. */
  format: WireFormat;
  /** A frame from the node. */
  onFrame: (frame: Uint8Array) => void;
  /** The link closed on its own (a WebSocket; ZeroMQ reconnects silently, so never for it). */
  onClose?: (reason: string) => void;
}

/** Frames a WebSocket queues while it opens; beyond, `send()` returns false. */
const MAX_QUEUED_WHILE_OPENING = 10_000;

/** True when `endpoint` is a WebSocket URL (`ws://` or `wss://`). */
export function isWebSocketUrl(endpoint: string): boolean {
  return /^wss?:\/\//i.test(endpoint);
}

/**
 * The transport `config` asks for: `ws` when a WebSocket URL is set or `transport` is `ws`.
 * Throws {@linkcode ConfigError} for WebSocket without a URL or a registry to name a node.
 */
export function transportOf(config: ClientConfig): "zmq" | "ws" {
  if (config.ws !== "") return "ws";
  if (config.transport === "ws" && config.registry.length === 0) {
    throw new ConfigError(
      "--transport=ws needs --ws=ws://HOST:HTTP_PORT/ws, or --registry to name a node",
    );
  }
  return config.transport;
}

/**
 * Where to reach a node the registry named, over `transport`: its client port, or the WebSocket
 * port on its HTTP port (undefined when it serves no HTTP).
 */
export function nodeEndpoint(node: NodeAddress, transport: "zmq" | "ws"): string | undefined {
  if (transport === "zmq") return connectEndpoint(node.host ?? "", node.clientPort ?? 0);
  if (!node.httpPort) return undefined;
  const host = node.host ?? "";
  return `ws://${host.includes(":") ? `[${host}]` : host}:${node.httpPort}/ws`;
}

/**
 * Opens a link to `endpoint`: a WebSocket for `ws://`/`wss://` URLs, else a ZeroMQ DEALER (the
 * TypeScript one on Deno's TCP, on a raw socket with `zmqEngine: "epoll"`, or libzmq's).
 */
export function openTransport(endpoint: string, options: TransportOptions): ClientTransport {
  if (isWebSocketUrl(endpoint)) return new WebSocketTransport(endpoint, options);
  if (options.zmqEngine !== "libzmq") {
    const zmtp: ZmtpDealerOptions = {
      onMessage: (frames) => options.onFrame(frames[frames.length - 1]),
    };
    // epoll where raw sockets work (Linux, FFI, an address), else Deno's TCP.
    const dealer =
      (options.zmqEngine === "epoll" ? RawZmtpDealer.connect(endpoint, zmtp) : undefined) ??
        ZmtpDealer.connect(endpoint, zmtp);
    return { send: (frame) => dealer.send(frame), close: () => dealer.close() };
  }
  const socket = DealerSocket.connect(
    options.pump,
    endpoint,
    (frames) => options.onFrame(frames[frames.length - 1]),
  );
  return { send: (frame) => socket.send([frame]), close: () => socket.close() };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A WebSocket to a node's `/ws`: frames sent before it opens wait (bounded) and go out in order. */
class WebSocketTransport implements ClientTransport {
  readonly #socket: WebSocket;
  readonly #options: TransportOptions;
  #queued: Uint8Array[] | undefined = [];
  #closed = false;

  constructor(url: string, options: TransportOptions) {
    this.#options = options;
    this.#socket = new WebSocket(url);
    this.#socket.binaryType = "arraybuffer";
    this.#socket.onopen = () => {
      const queued = this.#queued ?? [];
      this.#queued = undefined;
      for (const frame of queued) this.#write(frame);
    };
    this.#socket.onmessage = (event) => {
      if (this.#closed) return;
      const data = event.data;
      if (typeof data === "string") options.onFrame(encoder.encode(data));
      else if (data instanceof ArrayBuffer) options.onFrame(new Uint8Array(data));
    };
    this.#socket.onclose = (event) => {
      if (this.#closed) return;
      this.#closed = true;
      const why = event.reason ? `: ${event.reason}` : "";
      options.onClose?.(`WebSocket closed (code ${event.code}${why})`);
    };
    // An error is followed by a close, which reports it.
    this.#socket.onerror = () => {};
  }

  send(frame: Uint8Array): boolean {
    if (this.#closed) return false;
    if (this.#queued) {
      if (this.#queued.length >= MAX_QUEUED_WHILE_OPENING) return false;
      this.#queued.push(frame);
      return true;
    }
    return this.#write(frame);
  }

  #write(frame: Uint8Array): boolean {
    try {
      this.#socket.send(this.#options.format === "json" ? decoder.decode(frame) : frame);
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queued = undefined;
    try {
      this.#socket.close(1000);
    } catch { /* closing already */ }
  }
}
