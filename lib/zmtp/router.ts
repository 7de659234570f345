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
import { EpollWaiter } from "../transport/mod.ts";
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
  /** Bytes read at a time (one buffer for every connection; default 64 KiB). */
  readBufferSize?: number;
  /** What a message handler threw, or a peer's protocol error (the connection is closed). */
  onError?: (error: Error) => void;
}

/** Connections accepted and closed (either side). */
export interface ZmtpConnectionCounts {
  accepted: number;
  disconnected: number;
}

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const MSG_NOSIGNAL = 0x4000;
const EAGAIN = 11;
const EINTR = 4;
const LISTEN_SLOT = 0;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const HELLO = concat([greeting(), readyCommand({ "Socket-Type": "ROUTER" })]);
const PEER_TYPES = new Set(["DEALER", "REQ", "ROUTER"]);
const ONE = Uint8Array.of(1, 0, 0, 0);

class Peer {
  readonly id: number;
  readonly fd: number;
  readonly routingId = new Uint8Array(5);
  readonly parser: ZmtpParser;
  ready = false;
  closed = false;
  /** Bytes waiting to be written (the kernel's buffer was full), and what is queued after them. */
  queue: Uint8Array[] = [];
  queuedMessages = 0;
  queuedBytes = 0;
  dirty = false;
  deadline: number;

  constructor(id: number, fd: number, parser: ZmtpParser, deadline: number) {
    this.id = id;
    this.fd = fd;
    this.parser = parser;
    this.deadline = deadline;
    new DataView(this.routingId.buffer).setUint32(1, id);
  }
}

/** A bound ROUTER on raw sockets; `(peer, frames)` in, `send(peer, frames)` out. */
export class ZmtpRouter {
  readonly #libc: Libc;
  readonly #library: Deno.DynamicLibrary<typeof SYMBOLS>;
  readonly #waiter: EpollWaiter;
  readonly #listenFd: number;
  readonly #port: number;
  readonly #host: string;
  readonly #onMessage: (peer: Uint8Array, frames: Uint8Array[]) => void;
  readonly #options: ZmtpRouterOptions;
  readonly #sendHwm: number;
  readonly #maxBacklogBytes: number;
  readonly #maxMessageSize: number;
  readonly #handshakeMs: number;
  /** Peers by slot (= routing id number). */
  readonly #peers = new Map<number, Peer>();
  /** Peers still in their handshake. */
  readonly #handshaking = new Set<Peer>();
  readonly #counts: ZmtpConnectionCounts = { accepted: 0, disconnected: 0 };
  readonly #stats = { overflowed: 0, unroutable: 0, sent: 0, received: 0 };
  readonly #buffer: Uint8Array;
  readonly #ready: number[] = [];
  #dirty: Peer[] = [];
  #flushScheduled = false;
  #nextId = 1;
  #closed = false;
  #running: Promise<void> | undefined;
  #lastHandshakeSweep = 0;

  private constructor(
    library: Deno.DynamicLibrary<typeof SYMBOLS>,
    waiter: EpollWaiter,
    listenFd: number,
    host: string,
    port: number,
    onMessage: (peer: Uint8Array, frames: Uint8Array[]) => void,
    options: ZmtpRouterOptions,
  ) {
    this.#library = library;
    this.#libc = library.symbols;
    this.#waiter = waiter;
    this.#listenFd = listenFd;
    this.#host = host;
    this.#port = port;
    this.#onMessage = onMessage;
    this.#options = options;
    this.#sendHwm = options.sendHwm ?? 1000;
    this.#maxBacklogBytes = options.maxBacklogBytes ?? 1 << 20;
    this.#maxMessageSize = options.maxMessageSize ?? 4 << 20;
    this.#handshakeMs = options.handshakeTimeoutMs ?? 30_000;
    this.#buffer = new Uint8Array(Math.max(4096, options.readBufferSize ?? 65_536));
  }

  /**
   * Listens on `endpoint` (`tcp://ADDRESS:PORT`; `*` for every interface, port 0 for any free one),
   * or returns `undefined` where raw sockets are unavailable. Throws `Deno.errors.AddrInUse` and
   * the like when the port cannot be bound.
   */
  static bind(
    endpoint: string,
    onMessage: (peer: Uint8Array, frames: Uint8Array[]) => void,
    options: ZmtpRouterOptions = {},
  ): ZmtpRouter | undefined {
    const { hostname, port } = parseTcpEndpoint(endpoint, { bind: true });
    const address = sockaddr(hostname, port);
    if (address === undefined || Deno.build.os !== "linux") return undefined;
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
    const waiter = EpollWaiter.open();
    if (waiter === undefined) return undefined;
    let library: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      library = Deno.dlopen("libc.so.6", SYMBOLS);
    } catch {
      waiter.close();
      return undefined;
    }
    const libc = library.symbols;
    const family = address.length === 16 ? AF_INET : AF_INET6;
    const fd = libc.socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const fail = (what: string): never => {
      const errno = errnoOf(libc);
      if (fd >= 0) libc.close(fd);
      waiter.close();
      library.close();
      const message = `${what} ${endpoint}: errno ${errno}`;
      throw errno === 98 ? new Deno.errors.AddrInUse(message) : new Error(message);
    };
    if (fd < 0) fail("socket for");
    libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, ONE, 4);
    if (libc.bind(fd, address, address.length) !== 0) fail("cannot bind");
    if (libc.listen(fd, 4096) !== 0) fail("cannot listen on");
    const bound = new Uint8Array(address.length);
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, bound.length, true);
    libc.getsockname(fd, bound, length);
    const actualPort = new DataView(bound.buffer).getUint16(2);
    if (!waiter.add(fd, LISTEN_SLOT)) fail("cannot watch");
    const router = new ZmtpRouter(
      library,
      waiter,
      fd,
      hostname,
      actualPort,
      onMessage,
      options,
    );
    router.#running = router.#run();
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

  /** Queues `frames` for `peer`, written after the current burst. False when gone or full. */
  send(peer: Uint8Array, frames: Uint8Array[] | Uint8Array): boolean {
    const p = this.#peerOf(peer);
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
    const p = this.#peerOf(peer);
    return p && p.queuedMessages >= this.#sendHwm ? p.queuedBytes : 0;
  }

  /** Resolves once the router is closed and its wait has ended. */
  get closed(): Promise<void> {
    return this.#closed ? (this.#running ?? Promise.resolve()) : new Promise(() => {});
  }

  /** Stops listening and closes every connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of [...this.#peers.values()]) this.#drop(p);
    this.#waiter.remove(this.#listenFd);
    this.#libc.close(this.#listenFd);
    this.#waiter.wake();
    // The waiter and the library go once the loop has left its wait.
    (this.#running ?? Promise.resolve()).finally(() => {
      this.#waiter.close();
      this.#library.close();
    });
  }

  #peerOf(peer: Uint8Array): Peer | undefined {
    if (peer.length !== 5 || peer[0] !== 0) return undefined;
    return this.#peers.get(new DataView(peer.buffer, peer.byteOffset, 5).getUint32(1));
  }

  async #run(): Promise<void> {
    const onReady = (slot: number) => void this.#ready.push(slot);
    while (!this.#closed) {
      try {
        await this.#round(onReady);
      } catch (error) {
        // A bug, not a peer's fault (those close only their connection): report, keep serving.
        this.#options.onError?.(error as Error);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  }

  async #round(onReady: (slot: number) => void): Promise<void> {
    this.#ready.length = 0;
    this.#waiter.poll(onReady);
    if (this.#ready.length === 0) {
      // Nothing ready: wait (off the event loop), at most until the next handshake sweep.
      await this.#waiter.wait(this.#handshaking.size > 0 ? 100 : 1000, onReady);
      if (this.#closed) return;
    }
    for (const slot of this.#ready) {
      if (slot === LISTEN_SLOT) this.#acceptAll();
      else {
        const p = this.#peers.get(slot);
        if (p !== undefined) this.#readAll(p);
      }
    }
    this.#flush();
    this.#sweepHandshakes();
    // Let timers (the tick) and other work run between rounds.
    await new Promise((resolve) => setImmediate(resolve));
  }

  #acceptAll(): void {
    const libc = this.#libc;
    for (;;) {
      const fd = libc.accept4(this.#listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const errno = errnoOf(libc);
        if (errno !== EAGAIN && errno !== EINTR) {
          this.#options.onError?.(new Error(`accept failed: errno ${errno}`));
        }
        return;
      }
      libc.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, ONE, 4);
      const id = this.#nextId;
      this.#nextId = this.#nextId >= 0xffff_fffe ? 1 : this.#nextId + 1;
      const parser = new ZmtpParser(this.#maxMessageSize, (e) => this.#onEvent(p, e));
      const p: Peer = new Peer(id, fd, parser, performance.now() + this.#handshakeMs);
      this.#peers.set(id, p);
      this.#handshaking.add(p);
      this.#counts.accepted++;
      if (!this.#waiter.add(fd, id)) {
        this.#drop(p);
        continue;
      }
      this.#enqueue(p, HELLO);
    }
  }

  #readAll(p: Peer): void {
    const buffer = this.#buffer;
    for (let reads = 0; reads < 16 && !p.closed; reads++) {
      const n = Number(this.#libc.recv(p.fd, buffer, BigInt(buffer.length), 0));
      if (n === 0) return this.#drop(p);
      if (n < 0) {
        const errno = errnoOf(this.#libc);
        if (errno === EAGAIN || errno === EINTR) return;
        return this.#drop(p);
      }
      try {
        p.parser.push(buffer.subarray(0, n));
      } catch (error) {
        if (error instanceof ZmtpProtocolError) this.#options.onError?.(error);
        return this.#drop(p);
      }
      if (n < buffer.length) return;
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
      // PING: TTL (2 bytes), then a context the PONG echoes.
      this.#enqueue(p, commandFrame("PONG", event.data.subarray(2)));
    }
  }

  #enqueue(p: Peer, bytes: Uint8Array): void {
    p.queue.push(bytes);
    p.queuedMessages++;
    p.queuedBytes += bytes.length;
    if (!p.dirty) {
      p.dirty = true;
      this.#dirty.push(p);
    }
    if (!this.#flushScheduled) {
      // After the current burst (a read round, or a tick's sends): one write per peer.
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** Writes what each peer has queued; what the kernel does not take waits for the next round. */
  #flush(): void {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    let blocked = false;
    for (const p of dirty) {
      p.dirty = false;
      if (p.closed || p.queue.length === 0) continue;
      const batch = p.queue.length === 1 ? p.queue[0] : concat(p.queue);
      const messages = p.queue.length;
      const n = Number(this.#libc.send(p.fd, batch, BigInt(batch.length), MSG_NOSIGNAL));
      if (n < 0) {
        const errno = errnoOf(this.#libc);
        if (errno !== EAGAIN && errno !== EINTR) {
          this.#drop(p);
          continue;
        }
      }
      const written = Math.max(0, n);
      if (written === batch.length) {
        p.queue.length = 0; // the same array: no new object for a long-lived peer to point to
        p.queuedMessages -= messages;
        p.queuedBytes -= batch.length;
        continue;
      }
      // The kernel's buffer is full: keep the rest; it counts as one message still queued.
      p.queue.length = 0;
      p.queue.push(batch.subarray(written));
      p.queuedMessages -= messages - 1;
      p.queuedBytes -= written;
      p.dirty = true;
      this.#dirty.push(p);
      blocked = true;
    }
    if (blocked && !this.#closed) {
      // Retry blocked peers shortly (no EPOLLOUT in the set: such peers are rare and slow).
      setTimeout(() => this.#flush(), 5);
      this.#flushScheduled = true;
    }
  }

  /** Closes peers that have not finished their handshake in time (checked every 100 ms at most). */
  #sweepHandshakes(): void {
    const now = performance.now();
    if (now - this.#lastHandshakeSweep < 100) return;
    this.#lastHandshakeSweep = now;
    for (const p of this.#handshaking) {
      if (now > p.deadline) {
        this.#options.onError?.(new ZmtpProtocolError("a peer did not finish its handshake"));
        this.#drop(p);
      }
    }
  }

  #drop(p: Peer): void {
    if (p.closed) return;
    p.closed = true;
    p.ready = false;
    p.queue = [];
    this.#peers.delete(p.id);
    this.#handshaking.delete(p);
    this.#counts.disconnected++;
    this.#waiter.remove(p.fd);
    this.#libc.close(p.fd);
  }
}

function errnoOf(libc: Libc): number {
  const ptr = libc.__errno_location();
  return ptr === null ? 0 : new Deno.UnsafePointerView(ptr).getInt32();
}

/** A `struct sockaddr_in` / `sockaddr_in6` for an IP address literal; undefined for a name. */
function sockaddr(host: string, port: number): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (v4) {
    const out = new Uint8Array(16);
    const view = new DataView(out.buffer);
    view.setUint16(0, AF_INET, true);
    view.setUint16(2, port);
    for (let i = 0; i < 4; i++) {
      const octet = Number(v4[i + 1]);
      if (octet > 255) return undefined;
      out[4 + i] = octet;
    }
    return out;
  }
  const v6 = ipv6(host);
  if (v6) {
    const out = new Uint8Array(28);
    const view = new DataView(out.buffer);
    view.setUint16(0, AF_INET6, true);
    view.setUint16(2, port);
    out.set(v6, 8);
    return out;
  }
  return undefined; // a host name
}

/** The 16 bytes of an IPv6 address literal (`::` shorthand allowed), or undefined. */
function ipv6(host: string): Uint8Array | undefined {
  if (!/^[0-9a-f:]+$/i.test(host) || !host.includes(":")) return undefined;
  const halves = host.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string) => part === "" ? [] : part.split(":");
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  const out = new Uint8Array(16);
  for (const [i, g] of all.entries()) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    out[2 * i] = parseInt(g, 16) >> 8;
    out[2 * i + 1] = parseInt(g, 16) & 255;
  }
  return out;
}
