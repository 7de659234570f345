/**
 * A ZeroMQ ROUTER written in TypeScript: ZMTP 3.x with the NULL mechanism, for DEALER (or REQ,
 * ROUTER) peers — the node's client port (`clients.zmq_engine: zmtp`, the default). The listening
 * socket and every connection are plain descriptors in one epoll set (Linux, through Deno FFI), read
 * and written with synchronous calls through one shared buffer; a connection costs a descriptor
 * and a parser, nothing per read but the bytes.
 *
 * Why not libzmq's ROUTER: with one connection per game client, libzmq's per-connection pipes and
 * the hop between its I/O thread and ours cost about twice the CPU per request. Why not Deno's TCP:
 * it keeps a read — a promise — pending per connection, each outliving young-generation
 * collections; at 4,000 connections those took 10–14 ms against 0.9 ms here.
 *
 * Semantics follow libzmq's ROUTER where the node relies on them: messages arrive as `(peer,
 * frames)` with a 5-byte routing id (0 then a 32-bit number); `send()` to a peer that is gone
 * returns false (counted as unroutable); a peer's queue is bounded (`sendHwm` messages, then
 * `maxBacklogBytes` bytes; beyond, `send()` returns false, counted as overflowed); a frame over
 * `maxMessageSize` closes the connection; so does a handshake not finished in time. Peers' own
 * routing ids (`Identity`) are ignored. {@linkcode ZmtpRouter.bind} returns `undefined` where it
 * cannot run (not Linux, no FFI permission, a host name rather than an address to bind).
 *
 * @module
 */
import {
  frame,
  hello,
  messageFrames,
  pongFor,
  readyProperties,
  type ZmtpEvent,
  ZmtpProtocolError,
} from "./codec.ts";
import { parseTcpEndpoint } from "./dealer.ts";
import { EADDRINUSE, EAGAIN, EINTR, Reactor, sockaddr } from "./_reactor.ts";
import { RawStream } from "./_stream.ts";

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
  /** What a message handler threw, or a peer's protocol error (the connection is closed). */
  onError?: (error: Error) => void;
}

/** Connections accepted and closed (either side). */
export interface ZmtpConnectionCounts {
  accepted: number;
  disconnected: number;
}

const HELLO = hello("ROUTER");
const PEER_TYPES = new Set(["DEALER", "REQ", "ROUTER"]);

/** A connected peer: its stream, routing id and handshake state. */
interface Peer {
  readonly id: number;
  readonly routingId: Uint8Array;
  readonly stream: RawStream;
  ready: boolean;
  readonly deadline: number;
}

/** A bound ROUTER on raw sockets; `(peer, frames)` in, `send(peer, frames)` out. */
export class ZmtpRouter {
  readonly #reactor: Reactor;
  readonly #listenFd: number;
  #listenSlot = 0;
  readonly #port: number;
  readonly #host: string;
  readonly #onMessage: (peer: Uint8Array, frames: Uint8Array[]) => void;
  readonly #options: ZmtpRouterOptions;
  readonly #sendHwm: number;
  readonly #maxBacklogBytes: number;
  readonly #maxMessageSize: number;
  readonly #handshakeMs: number;
  readonly #peers = new Map<number, Peer>();
  /** Peers still in their handshake, checked every 100 ms while there are any. */
  readonly #handshaking = new Set<Peer>();
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #counts: ZmtpConnectionCounts = { accepted: 0, disconnected: 0 };
  readonly #stats = { overflowed: 0, unroutable: 0, sent: 0, received: 0 };
  #nextId = 1;
  #closed = false;

  private constructor(
    reactor: Reactor,
    listenFd: number,
    host: string,
    onMessage: (peer: Uint8Array, frames: Uint8Array[]) => void,
    options: ZmtpRouterOptions,
  ) {
    this.#reactor = reactor;
    this.#listenFd = listenFd;
    this.#host = host;
    this.#port = reactor.portOf(listenFd);
    this.#onMessage = onMessage;
    this.#options = options;
    this.#sendHwm = options.sendHwm ?? 1000;
    this.#maxBacklogBytes = options.maxBacklogBytes ?? 1 << 20;
    this.#maxMessageSize = options.maxMessageSize ?? 4 << 20;
    this.#handshakeMs = options.handshakeTimeoutMs ?? 30_000;
  }

  /**
   * Listens on `endpoint` (`tcp://ADDRESS:PORT`; `*` for every interface, port 0 for any free one),
   * or returns `undefined` where raw sockets are unavailable or the host is a name. Throws
   * `Deno.errors.AddrInUse` (and an Error for other failures) when the port cannot be bound.
   */
  static bind(
    endpoint: string,
    onMessage: (peer: Uint8Array, frames: Uint8Array[]) => void,
    options: ZmtpRouterOptions = {},
  ): ZmtpRouter | undefined {
    const { hostname, port } = parseTcpEndpoint(endpoint, { bind: true });
    const address = sockaddr(hostname, port);
    const reactor = Reactor.get();
    if (address === undefined || reactor === undefined) return undefined;
    const fd = reactor.listen(address);
    if (fd < 0) {
      const message = `cannot listen on ${endpoint}: errno ${-fd}`;
      throw fd === -EADDRINUSE ? new Deno.errors.AddrInUse(message) : new Error(message);
    }
    const router = new ZmtpRouter(reactor, fd, hostname, onMessage, options);
    const slot = reactor.add(fd, { onReady: () => router.#acceptAll() });
    if (slot === undefined) {
      reactor.close(fd, 0);
      throw new Error(`cannot watch ${endpoint}`);
    }
    router.#listenSlot = slot;
    return router;
  }

  /** The bound TCP port. */
  get port(): number {
    return this.#port;
  }

  /** `tcp://HOST:PORT` of the bound port. */
  get endpoint(): string {
    const host = this.#host.includes(":") ? `[${this.#host}]` : this.#host;
    return `tcp://${host}:${this.#port}`;
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

  /** Resolves once closed and the process's raw sockets have nothing left to wait for. */
  get closed(): Promise<void> {
    return this.#reactor.settled();
  }

  /** Queues `frames` for `peer`, written after the current burst. False when gone or full. */
  send(peer: Uint8Array, frames: Uint8Array[] | Uint8Array): boolean {
    const p = this.#peerOf(peer);
    if (p === undefined || p.stream.closed || !p.ready) {
      this.#stats.unroutable++;
      return false;
    }
    const bytes = Array.isArray(frames) ? messageFrames(frames) : frame(frames);
    const s = p.stream;
    if (s.queuedMessages >= this.#sendHwm && s.queuedBytes + bytes.length > this.#maxBacklogBytes) {
      this.#stats.overflowed++;
      return false;
    }
    this.#stats.sent++;
    s.write(bytes);
    return true;
  }

  /** Bytes waiting for `peer` once `sendHwm` messages wait (0 while it reads them). */
  backlogBytes(peer: Uint8Array): number {
    const s = this.#peerOf(peer)?.stream;
    return s && s.queuedMessages >= this.#sendHwm ? s.queuedBytes : 0;
  }

  /** Stops listening and closes every connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#sweepTimer);
    for (const p of [...this.#peers.values()]) p.stream.close();
    this.#reactor.close(this.#listenFd, this.#listenSlot);
  }

  #peerOf(peer: Uint8Array): Peer | undefined {
    if (peer.length !== 5 || peer[0] !== 0) return undefined;
    return this.#peers.get(new DataView(peer.buffer, peer.byteOffset, 5).getUint32(1));
  }

  #acceptAll(): void {
    while (!this.#closed) {
      const fd = this.#reactor.accept(this.#listenFd);
      if (fd < 0) {
        if (fd !== -EAGAIN && fd !== -EINTR) {
          this.#options.onError?.(new Error(`accept failed: errno ${-fd}`));
        }
        return;
      }
      const id = this.#nextId;
      this.#nextId = this.#nextId >= 0xffff_fffe ? 1 : this.#nextId + 1;
      const routingId = new Uint8Array(5);
      new DataView(routingId.buffer).setUint32(1, id);
      const p: Peer = {
        id,
        routingId,
        ready: false,
        deadline: performance.now() + this.#handshakeMs,
        stream: new RawStream(
          this.#reactor,
          fd,
          this.#maxMessageSize,
          (event) => this.#onEvent(p, event),
          (error) => this.#closedPeer(p, error),
        ),
      };
      if (p.stream.closed) continue;
      this.#peers.set(id, p);
      this.#handshaking.add(p);
      this.#counts.accepted++;
      this.#sweepTimer ??= setTimeout(() => this.#sweepHandshakes(), 100);
      p.stream.write(HELLO);
    }
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
      this.#handshaking.delete(p);
    } else if (event.name === "PING") {
      p.stream.write(pongFor(event.data));
    }
  }

  #closedPeer(p: Peer, error: Error | undefined): void {
    // Only a peer's own faults are news (a plain hang-up or our close is not).
    if (error instanceof ZmtpProtocolError) this.#options.onError?.(error);
    p.ready = false;
    if (this.#peers.delete(p.id)) this.#counts.disconnected++;
    this.#handshaking.delete(p);
  }

  /** Closes peers that have not finished their handshake in time. */
  #sweepHandshakes(): void {
    this.#sweepTimer = undefined;
    const now = performance.now();
    for (const p of this.#handshaking) {
      if (now > p.deadline) {
        this.#options.onError?.(new ZmtpProtocolError("a peer did not finish its handshake"));
        p.stream.close();
      }
    }
    if (this.#handshaking.size > 0 && !this.#closed) {
      this.#sweepTimer = setTimeout(() => this.#sweepHandshakes(), 100);
    }
  }
}
