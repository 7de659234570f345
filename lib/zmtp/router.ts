/**
 * A ZeroMQ ROUTER written in TypeScript over Deno's own TCP listener: ZMTP 3.x with the NULL
 * mechanism, DEALER (or REQ-less) peers, a routing id per connection, replies written once per burst.
 * The node's client port uses it by default (`clients.zmq_engine`): with one connection per game
 * client, libzmq's ROUTER costs a pipe, mailbox commands and a hop between its I/O thread and ours
 * per message; here a message costs one read and, per burst, one write on the event loop
 * (measured: about half the server CPU per round trip at 3,000 connections, see the README).
 *
 * Semantics follow libzmq's ROUTER where the node relies on them: messages arrive as `(peer,
 * frames)` with a 5-byte routing id (0 then a 32-bit number); `send()` to a peer that is gone
 * returns false (counted as unroutable); a peer's queue is bounded (`sendHwm` messages, then
 * `maxBacklogBytes` bytes; beyond, `send()` returns false, counted as overflowed); a frame over
 * `maxMessageSize` closes the connection. Peers' own routing ids (`Identity`) are ignored.
 *
 * @module
 */
import {
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
import { parseTcpEndpoint } from "./dealer.ts";

/** Options of {@linkcode ZmtpRouter.bind}. */
export interface ZmtpRouterOptions {
  /** Largest frame a peer may send, bytes; a larger one closes its connection (default 4 MiB). */
  maxMessageSize?: number;
  /** Messages queued per peer before `maxBacklogBytes` counts (default 1000). */
  sendHwm?: number;
  /** Bytes queued per peer beyond `sendHwm` messages (default 1 MiB); beyond, sends fail. */
  maxBacklogBytes?: number;
  /** A peer that has not finished its handshake by then is closed, ms (default 30,000, libzmq's). */
  handshakeTimeoutMs?: number;
  /** Bytes read at a time per connection (default 4 KiB). */
  readBufferSize?: number;
  /** What a message handler threw, or a peer's protocol error (the connection is closed). */
  onError?: (error: Error) => void;
}

/** Connections accepted and closed (either side). */
export interface ZmtpConnectionCounts {
  accepted: number;
  disconnected: number;
}

const HELLO = concat([greeting(), readyCommand({ "Socket-Type": "ROUTER" })]);
const PEER_TYPES = new Set(["DEALER", "REQ", "ROUTER"]);

/** One peer's connection and what waits to be written to it. */
class Peer {
  readonly id: number;
  readonly routingId: Uint8Array;
  readonly conn: Deno.TcpConn;
  ready = false;
  closed = false;
  queue: Uint8Array[] = [];
  /** Messages and bytes queued or being written. */
  queuedMessages = 0;
  queuedBytes = 0;
  writing = false;
  timer: ReturnType<typeof setTimeout> | undefined;

  constructor(id: number, conn: Deno.TcpConn) {
    this.id = id;
    this.conn = conn;
    this.routingId = new Uint8Array(5);
    new DataView(this.routingId.buffer).setUint32(1, id);
  }
}

/** A bound ROUTER; each message arrives as `(peer, frames)`, answer with `send(peer, frames)`. */
export class ZmtpRouter {
  readonly #listener: Deno.TcpListener;
  readonly #onMessage: (peer: Uint8Array, frames: Uint8Array[]) => void;
  readonly #options: ZmtpRouterOptions;
  readonly #peers = new Map<number, Peer>();
  readonly #counts: ZmtpConnectionCounts = { accepted: 0, disconnected: 0 };
  readonly #stats = { overflowed: 0, unroutable: 0, sent: 0, received: 0 };
  readonly #sendHwm: number;
  readonly #maxBacklogBytes: number;
  #nextId = 1;
  #closed = false;

  private constructor(
    listener: Deno.TcpListener,
    onMessage: (peer: Uint8Array, frames: Uint8Array[]) => void,
    options: ZmtpRouterOptions,
  ) {
    this.#listener = listener;
    this.#onMessage = onMessage;
    this.#options = options;
    this.#sendHwm = options.sendHwm ?? 1000;
    this.#maxBacklogBytes = options.maxBacklogBytes ?? 1 << 20;
  }

  /**
   * Listens on `endpoint` (`tcp://HOST:PORT`, `*` for every interface, port 0 for any free one).
   * Throws RangeError for a bad endpoint, `Deno.errors.AddrInUse` and the like when it cannot.
   */
  static bind(
    endpoint: string,
    onMessage: (peer: Uint8Array, frames: Uint8Array[]) => void,
    options: ZmtpRouterOptions = {},
  ): ZmtpRouter {
    const listener = Deno.listen(parseTcpEndpoint(endpoint, { bind: true }));
    const router = new ZmtpRouter(listener, onMessage, options);
    router.#accept();
    return router;
  }

  /** The bound TCP port. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** `tcp://HOST:PORT` of the bound port. */
  get endpoint(): string {
    const addr = this.#listener.addr as Deno.NetAddr;
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    return `tcp://${host}:${addr.port}`;
  }

  /** Connections accepted and closed so far. */
  get connectionCounts(): Readonly<ZmtpConnectionCounts> {
    return this.#counts;
  }

  /** Sends dropped because a peer's queue was full (`overflowed`) or the peer gone (`unroutable`). */
  get stats(): Readonly<
    { overflowed: number; unroutable: number; sent: number; received: number }
  > {
    return this.#stats;
  }

  /**
   * Queues `frames` for `peer`; written with everything else queued for it in this burst. False
   * when the peer is gone or its queue full.
   */
  send(peer: Uint8Array, frames: Uint8Array[] | Uint8Array): boolean {
    const p = peer.length === 5 && peer[0] === 0
      ? this.#peers.get(new DataView(peer.buffer, peer.byteOffset, 5).getUint32(1))
      : undefined;
    if (p === undefined || p.closed || !p.ready) {
      this.#stats.unroutable++;
      return false;
    }
    const bytes = Array.isArray(frames) ? messageFrames(frames) : frame(frames);
    if (
      p.queuedMessages >= this.#sendHwm && p.queuedBytes + bytes.length > this.#maxBacklogBytes
    ) {
      this.#stats.overflowed++;
      return false;
    }
    this.#stats.sent++;
    this.#enqueue(p, bytes);
    return true;
  }

  /** Bytes waiting for `peer` once `sendHwm` messages wait (0 while it reads them). */
  backlogBytes(peer: Uint8Array): number {
    if (peer.length !== 5 || peer[0] !== 0) return 0;
    const p = this.#peers.get(new DataView(peer.buffer, peer.byteOffset, 5).getUint32(1));
    return p && p.queuedMessages >= this.#sendHwm ? p.queuedBytes : 0;
  }

  /** Stops listening and closes every connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch { /* closed already */ }
    for (const p of [...this.#peers.values()]) this.#drop(p);
  }

  async #accept(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed) return;
        // Out of descriptors and the like: report, breathe, go on accepting.
        this.#options.onError?.(error as Error);
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (this.#closed) {
        conn.close();
        return;
      }
      const id = this.#nextId;
      this.#nextId = this.#nextId >= 0xffff_ffff ? 1 : this.#nextId + 1;
      const peer = new Peer(id, conn);
      this.#peers.set(id, peer);
      this.#counts.accepted++;
      this.#serve(peer);
    }
  }

  async #serve(p: Peer): Promise<void> {
    const { conn } = p;
    p.timer = setTimeout(() => {
      p.timer = undefined;
      if (!p.ready) {
        this.#options.onError?.(new ZmtpProtocolError("a peer did not finish its handshake"));
        this.#drop(p);
      }
    }, this.#options.handshakeTimeoutMs ?? 30_000);
    const parser = new ZmtpParser(
      this.#options.maxMessageSize ?? 4 << 20,
      (event) => this.#onEvent(p, event),
    );
    const buffer = new Uint8Array(this.#options.readBufferSize ?? 4096);
    try {
      conn.setNoDelay(true);
      await conn.write(HELLO);
      while (!p.closed) {
        const n = await conn.read(buffer);
        if (n === null) break;
        parser.push(buffer.subarray(0, n));
      }
    } catch (error) {
      if (!p.closed && error instanceof ZmtpProtocolError) this.#options.onError?.(error);
    }
    this.#drop(p);
  }

  #onEvent(p: Peer, event: ZmtpEvent): void {
    if (event.type === "message") {
      if (!p.ready) throw new ZmtpProtocolError("a message before the handshake");
      this.#stats.received++;
      try {
        this.#onMessage(p.routingId, event.frames);
      } catch (error) {
        this.#options.onError?.(error as Error);
      }
      return;
    }
    if (event.type !== "command") return;
    if (event.name === "READY") {
      const type = readyProperties(event.data)["Socket-Type"] ?? "";
      if (!PEER_TYPES.has(type)) {
        throw new ZmtpProtocolError(`a ROUTER cannot talk to a ${type || "nameless"} socket`);
      }
      p.ready = true;
      clearTimeout(p.timer);
      p.timer = undefined;
    } else if (event.name === "PING") {
      // PING: TTL (2 bytes), then a context the PONG echoes.
      this.#enqueue(p, commandFrame("PONG", event.data.subarray(2)));
    }
  }

  #enqueue(p: Peer, bytes: Uint8Array): void {
    p.queue.push(bytes);
    p.queuedMessages++;
    p.queuedBytes += bytes.length;
    if (!p.writing) {
      p.writing = true;
      // After the handler's burst: everything queued by then goes out in one write.
      queueMicrotask(() => this.#flush(p));
    }
  }

  async #flush(p: Peer): Promise<void> {
    try {
      while (p.queue.length > 0 && !p.closed) {
        const batch = p.queue.length === 1 ? p.queue[0] : concat(p.queue);
        const messages = p.queue.length;
        p.queue = [];
        let at = 0;
        while (at < batch.length) {
          at += await p.conn.write(at === 0 ? batch : batch.subarray(at));
        }
        p.queuedMessages -= messages;
        p.queuedBytes -= batch.length;
      }
    } catch {
      this.#drop(p);
    } finally {
      p.writing = false;
    }
  }

  #drop(p: Peer): void {
    if (p.closed) return;
    p.closed = true;
    p.ready = false;
    clearTimeout(p.timer);
    p.queue = [];
    this.#peers.delete(p.id);
    this.#counts.disconnected++;
    try {
      p.conn.close();
    } catch { /* closed already */ }
  }
}
