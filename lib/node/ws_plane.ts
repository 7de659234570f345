/**
 * The WebSocket client port of a node, served at `/ws` on its HTTP port: the same `Envelope`
 * protocol, sessions and limits as the ZeroMQ client port, because every message goes through the
 * same {@linkcode GameNode.handleFrame}. A binary message is protobuf, a text message proto3 JSON,
 * and each reply goes back in its request's kind.
 *
 * @module
 */
import { LivenessTracker } from "../heartbeat/mod.ts";
import { log } from "../log/mod.ts";
import type { NodeConfig } from "../config/mod.ts";
import type { WireFormat } from "../protocol/mod.ts";
import type { GameNode } from "./game_node.ts";

const logger = log("node", "ws");

/**
 * Length of a WebSocket's peer id. A ZeroMQ routing id is 1 to 255 bytes (ZMTP's limit), so a
 * 256-byte id can never equal one: the node's `send` picks the transport by length alone.
 */
export const WS_PEER_BYTES = 256;

/** True when `peer` is a WebSocket's peer id (not a ZeroMQ routing id). */
export function isWebSocketPeer(peer: Uint8Array): boolean {
  return peer.length === WS_PEER_BYTES;
}

/** What the WebSocket port counted since the start (and the sockets open now). */
export interface WsCounts {
  /** WebSockets open now. */
  open: number;
  /** WebSockets opened. */
  accepted: number;
  /** WebSockets closed, by either side (the other counts below included). */
  disconnects: number;
  /** Closed by the node for a message over `clients.frame_disconnect_bytes` (code 1009). */
  tooLarge: number;
  /** Closed by the node after `clients.idle_timeout_ms` without a message (code 1000). */
  idleClosed: number;
  /** Replies dropped because the socket held `send_hwm` replies and `max_backlog_bytes` more unsent. */
  overflowed: number;
  /** Replies to a socket that was gone. */
  unroutable: number;
}

/** WebSocket counts of a node that has not opened any (or serves no HTTP). */
export function noWsCounts(): WsCounts {
  return {
    open: 0,
    accepted: 0,
    disconnects: 0,
    tooLarge: 0,
    idleClosed: 0,
    overflowed: 0,
    unroutable: 0,
  };
}

interface Socket {
  readonly id: number;
  readonly peer: Uint8Array;
  readonly socket: WebSocket;
  /**
   * Reply bytes sent so far, and where each reply not yet known to be written ends in that count
   * (from `head` on): the socket writes in order, so `sent - bufferedAmount` tells which are out.
   */
  sent: number;
  ends: number[];
  head: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Most idle sockets closed per sweep (the rest in the next one, a fraction of a timeout later). */
const IDLE_BUDGET = 1000;

/**
 * The `/ws` route of a node and the WebSockets it accepted: each socket gets a peer id of its own
 * (see {@linkcode WS_PEER_BYTES}), its messages go to the node, the node's replies come back
 * through {@linkcode WsPlane.send}. A message over the hard frame cap closes the socket (as ZeroMQ
 * hangs up); a socket silent for `clients.idle_timeout_ms` is closed; a closed socket is a dropped
 * connection for the node (its users linger for a resume).
 */
export class WsPlane {
  readonly #node: GameNode;
  readonly #sockets = new Map<number, Socket>();
  readonly #liveness: LivenessTracker<number>;
  readonly #hardCapBytes: number;
  readonly #maxBacklogBytes: number;
  readonly #sendHwm: number;
  readonly #idleTimeoutMs: number;
  readonly #counts: WsCounts = noWsCounts();
  #nextId = 1;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** A plane handing messages to `node`, with the limits of `config.clients`. */
  constructor(node: GameNode, config: NodeConfig) {
    const c = config.clients;
    this.#node = node;
    // As on the ZeroMQ port: up to here a frame too large is answered; beyond, the node hangs up.
    this.#hardCapBytes = Math.max(c.max_frame_bytes, c.frame_disconnect_bytes);
    this.#maxBacklogBytes = c.max_backlog_bytes;
    this.#sendHwm = c.send_hwm;
    this.#idleTimeoutMs = c.idle_timeout_ms;
    this.#liveness = new LivenessTracker({ timeoutMs: c.idle_timeout_ms });
  }

  /** What the port counted, and the sockets open now. */
  get counts(): Readonly<WsCounts> {
    this.#counts.open = this.#sockets.size;
    return this.#counts;
  }

  /** The `/ws` route: upgrades a WebSocket request; anything else gets 426 (or 503 once closed). */
  handle(request: Request): Response {
    if (this.#closed) {
      return Response.json({ error: "The node is shutting down" }, { status: 503 });
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json(
        { error: "Expected a WebSocket upgrade: connect a WebSocket client to ws://HOST:PORT/ws" },
        { status: 426, headers: { upgrade: "websocket" } },
      );
    }
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(request);
    } catch (err) {
      return Response.json({ error: `Bad WebSocket upgrade: ${(err as Error).message}` }, {
        status: 400,
      });
    }
    const id = this.#nextId++;
    const entry: Socket = {
      id,
      peer: peerId(id),
      socket: upgraded.socket,
      sent: 0,
      ends: [],
      head: 0,
    };
    entry.socket.binaryType = "arraybuffer";
    entry.socket.onopen = () => this.#opened(entry);
    entry.socket.onmessage = (event) => this.#received(entry, event.data);
    entry.socket.onclose = () => this.#gone(entry);
    // An error is followed by a close, which does the work.
    entry.socket.onerror = () => {};
    return upgraded.response;
  }

  /**
   * Sends a reply to a socket: JSON as a text message, protobuf as a binary one. As on the ZeroMQ
   * port, a socket holds `clients.send_hwm` unsent replies and `clients.max_backlog_bytes` more; a
   * reply beyond is dropped (false, counted), as is one to a socket that is gone.
   */
  send(peer: Uint8Array, frame: Uint8Array, format: WireFormat): boolean {
    const entry = this.#sockets.get(peerNumber(peer));
    if (!entry || entry.socket.readyState !== WebSocket.OPEN) {
      this.#counts.unroutable++;
      return false;
    }
    if (this.#backlog(entry) + frame.length > this.#maxBacklogBytes && this.#full(entry)) {
      this.#counts.overflowed++;
      return false;
    }
    try {
      entry.socket.send(format === "json" ? decoder.decode(frame) : frame);
    } catch {
      this.#counts.unroutable++;
      return false;
    }
    entry.sent += frame.length;
    entry.ends.push(entry.sent);
    return true;
  }

  /**
   * Reply bytes a socket holds beyond its first `clients.send_hwm` unsent replies (0 while it
   * holds fewer, or for an unknown socket): what ZeroMQ would hold in the node's backlog.
   */
  backlogBytes(peer: Uint8Array): number {
    const entry = this.#sockets.get(peerNumber(peer));
    return entry ? this.#backlog(entry) : 0;
  }

  #backlog(entry: Socket): number {
    // Replies written since the last look leave the count (the socket writes them in order).
    const written = entry.sent - entry.socket.bufferedAmount;
    const ends = entry.ends;
    while (entry.head < ends.length && ends[entry.head] <= written) entry.head++;
    if (entry.head > 1024 && entry.head * 2 > ends.length) {
      entry.ends = ends.slice(entry.head);
      entry.head = 0;
    }
    const held = entry.ends.length - entry.head;
    if (held <= this.#sendHwm) return 0;
    return entry.sent - entry.ends[entry.head + this.#sendHwm - 1];
  }

  /** True when the socket holds `send_hwm` unsent replies or more. */
  #full(entry: Socket): boolean {
    return entry.ends.length - entry.head >= this.#sendHwm;
  }

  /** Closes every socket (1001, going away) and refuses new ones. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const entry of this.#sockets.values()) {
      try {
        entry.socket.close(1001, "Node shutting down");
      } catch { /* closing already */ }
    }
  }

  #opened(entry: Socket): void {
    if (this.#closed) {
      entry.socket.close(1001, "Node shutting down");
      return;
    }
    this.#sockets.set(entry.id, entry);
    this.#counts.accepted++;
    this.#liveness.touch(entry.id, performance.now());
    if (this.#sweep === undefined) {
      const every = Math.max(10, this.#idleTimeoutMs / 8);
      this.#sweep = setInterval(() => this.#closeIdle(performance.now()), every);
    }
  }

  #received(entry: Socket, data: unknown): void {
    const now = performance.now();
    this.#liveness.touch(entry.id, now);
    let frame: Uint8Array;
    let format: WireFormat;
    if (typeof data === "string") {
      // UTF-8 takes at least a byte per UTF-16 unit: a string this long is over the cap already.
      if (data.length > this.#hardCapBytes) return this.#tooLarge(entry, data.length);
      frame = encoder.encode(data);
      format = "json";
    } else if (data instanceof ArrayBuffer) {
      frame = new Uint8Array(data);
      format = "binary";
    } else return;
    if (frame.length > this.#hardCapBytes) return this.#tooLarge(entry, frame.length);
    this.#node.requests.of("ws").bytesReceived += frame.length;
    try {
      this.#node.handleFrame(entry.peer, [frame], now, { format, transport: "ws" });
    } catch (err) {
      // handleFrame never throws; should it ever, one client's message must not end the process.
      logger.error("WebSocket message failed: {error}", {
        error: (err as Error)?.stack ?? String(err),
      });
    }
  }

  #tooLarge(entry: Socket, bytes: number): void {
    this.#counts.tooLarge++;
    this.#sockets.delete(entry.id);
    this.#liveness.remove(entry.id);
    entry.socket.close(1009, `Frame of ${bytes} bytes exceeds frame_disconnect_bytes`);
    this.#dropped(entry);
  }

  #gone(entry: Socket): void {
    if (!this.#sockets.delete(entry.id)) return; // never opened, or dropped already
    this.#liveness.remove(entry.id);
    this.#dropped(entry);
  }

  /** The node forgets the socket's client ids (their users linger). */
  #dropped(entry: Socket): void {
    this.#counts.disconnects++;
    this.#node.dropConnection(entry.peer, performance.now());
  }

  #closeIdle(now: number): void {
    for (const id of this.#liveness.expire(now, IDLE_BUDGET)) {
      const entry = this.#sockets.get(id);
      if (!entry) continue;
      this.#counts.idleClosed++;
      this.#sockets.delete(id);
      entry.socket.close(1000, `Silent for ${this.#idleTimeoutMs} ms (clients.idle_timeout_ms)`);
      this.#dropped(entry);
    }
  }
}

/** The peer id of socket number `id`: the number in its first 6 bytes, big-endian. */
function peerId(id: number): Uint8Array {
  const peer = new Uint8Array(WS_PEER_BYTES);
  for (let i = 5, n = id; i >= 0; i--, n = Math.floor(n / 256)) peer[i] = n % 256;
  return peer;
}

/** The socket number of a peer id made by {@linkcode peerId}. */
function peerNumber(peer: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < 6; i++) n = n * 256 + peer[i];
  return n;
}
