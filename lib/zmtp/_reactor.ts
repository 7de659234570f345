/**
 * Raw sockets for `lib/zmtp/`: libc through Deno FFI, and one epoll loop per process that tells
 * each registered descriptor's owner when it is readable (or closed, or failed). The loop waits off
 * the event loop (a non-blocking FFI `epoll_wait`), handles every ready descriptor with synchronous
 * calls, yields to timers between rounds, and stops once nothing is registered.
 *
 * Why raw sockets: Deno's TCP keeps a read — a promise — pending per connection; with thousands of
 * connections those outlive young-generation collections and make each one slow (10–14 ms at
 * 4,000 connections against 0.9 ms here).
 *
 * @module
 */
import { EPOLLOUT, EpollWaiter } from "../transport/mod.ts";

export { EPOLLOUT };

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
export const EAGAIN = 11;
export const EINTR = 4;
const EINPROGRESS = 115;
export const EADDRINUSE = 98;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const ONE = Uint8Array.of(1, 0, 0, 0);

/** What a registered descriptor's owner does when the descriptor is ready. */
export interface Ready {
  /** `events`: epoll's mask (EPOLLOUT set when it became writable, if that was asked for). */
  onReady(events: number): void;
}

/** The process's raw sockets and their epoll loop. */
export class Reactor {
  static #instance: Reactor | null | undefined;
  readonly #libc: Libc;
  readonly #waiter: EpollWaiter;
  readonly #handlers = new Map<number, { fd: number; handler: Ready }>();
  /** Slots ready in this round, and their event masks. */
  readonly #ready: number[] = [];
  readonly #readyEvents: number[] = [];
  #nextSlot = 1;
  #recvLength = -1;
  #recvSize = 0n;
  #running: Promise<void> | undefined;

  private constructor(libc: Libc, waiter: EpollWaiter) {
    this.#libc = libc;
    this.#waiter = waiter;
  }

  /** The process's reactor; undefined where raw sockets are unavailable (not Linux, no FFI). */
  static get(): Reactor | undefined {
    if (Reactor.#instance !== undefined) return Reactor.#instance ?? undefined;
    Reactor.#instance = null;
    if (Deno.build.os !== "linux") return undefined;
    try {
      if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
      const waiter = EpollWaiter.open();
      if (waiter === undefined) return undefined;
      const library = Deno.dlopen("libc.so.6", SYMBOLS);
      Reactor.#instance = new Reactor(library.symbols, waiter);
    } catch {
      return undefined;
    }
    return Reactor.#instance;
  }

  /** Resolves once the loop has stopped (nothing registered); at once when it is not running. */
  settled(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** The errno of the last failed call on this thread. */
  errno(): number {
    const ptr = this.#libc.__errno_location();
    return ptr === null ? 0 : new Deno.UnsafePointerView(ptr).getInt32();
  }

  /** A non-blocking TCP socket listening on `address` (see {@linkcode sockaddr}); -errno on failure. */
  listen(address: Uint8Array): number {
    const libc = this.#libc;
    const fd = libc.socket(familyOf(address), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -this.errno();
    libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, ONE, 4);
    if (libc.bind(fd, address, address.length) !== 0 || libc.listen(fd, 4096) !== 0) {
      const errno = this.errno();
      libc.close(fd);
      return -errno;
    }
    return fd;
  }

  /** The port a socket is bound to. */
  portOf(fd: number): number {
    const bound = new Uint8Array(28);
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, bound.length, true);
    this.#libc.getsockname(fd, bound, length);
    return new DataView(bound.buffer).getUint16(2);
  }

  /** Accepts one waiting connection (non-blocking, no delay); -errno when none or on failure. */
  accept(fd: number): number {
    const conn = this.#libc.accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0) return -this.errno();
    this.#libc.setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, ONE, 4);
    return conn;
  }

  /**
   * Starts connecting a non-blocking TCP socket to `address`; -errno on failure. The connection is
   * up once the peer's first bytes make it readable (a ZMTP peer greets at once), failed once a
   * read says so.
   */
  connect(address: Uint8Array): number {
    const libc = this.#libc;
    const fd = libc.socket(familyOf(address), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -this.errno();
    libc.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, ONE, 4);
    if (libc.connect(fd, address, address.length) !== 0) {
      const errno = this.errno();
      if (errno !== EINPROGRESS) {
        libc.close(fd);
        return -errno;
      }
    }
    return fd;
  }

  /** Reads into `buffer`: bytes read, 0 at the end of the stream, -errno on failure. */
  recv(fd: number, buffer: Uint8Array): number {
    // Every read goes into the same buffer: its size as a bigint is made once, not per read.
    if (buffer.length !== this.#recvLength) {
      this.#recvLength = buffer.length;
      this.#recvSize = BigInt(buffer.length);
    }
    const n = Number(this.#libc.recv(fd, buffer, this.#recvSize, 0));
    return n >= 0 ? n : -this.errno();
  }

  /** Writes what the kernel takes of `bytes` now: bytes written, or -errno. */
  send(fd: number, bytes: Uint8Array): number {
    const n = Number(this.#libc.send(fd, bytes, BigInt(bytes.length), MSG_NOSIGNAL));
    return n >= 0 ? n : -this.errno();
  }

  /** Watches `fd`; `handler.onReady(events)` runs whenever it is readable, closed or failed. */
  add(fd: number, handler: Ready): number | undefined {
    const slot = this.#nextSlot;
    this.#nextSlot = this.#nextSlot >= 0xffff_fffe ? 1 : this.#nextSlot + 1;
    if (!this.#waiter.add(fd, slot)) return undefined;
    this.#handlers.set(slot, { fd, handler });
    this.#running ??= this.#run();
    return slot;
  }

  /**
   * Asks (or stops asking) for `onReady` with EPOLLOUT once `fd` is writable: for a write the
   * kernel did not take whole, instead of trying it again and again.
   */
  watchWritable(fd: number, slot: number, writable: boolean): void {
    if (this.#handlers.has(slot)) this.#waiter.watchWritable(fd, slot, writable);
  }

  /** Stops watching and closes `fd`. */
  close(fd: number, slot: number): void {
    if (this.#handlers.delete(slot)) this.#waiter.remove(fd);
    this.#libc.close(fd);
    if (this.#handlers.size === 0) this.#waiter.wake();
  }

  async #run(): Promise<void> {
    const onReady = (slot: number, events: number) => {
      this.#ready.push(slot);
      this.#readyEvents.push(events);
    };
    // Never inside add(): its caller has not finished setting up what the handler uses.
    await Promise.resolve();
    try {
      while (this.#handlers.size > 0) {
        this.#ready.length = 0;
        this.#readyEvents.length = 0;
        this.#waiter.poll(onReady);
        if (this.#ready.length === 0) {
          await this.#waiter.wait(1000, onReady);
        }
        for (let i = 0; i < this.#ready.length; i++) {
          const slot = this.#ready[i];
          const entry = this.#handlers.get(slot);
          try {
            entry?.handler.onReady(this.#readyEvents[i]);
          } catch (error) {
            // Owners handle their peers' faults; this is a bug. Report it and close that descriptor
            // (still ready, it would keep the loop spinning); the loop goes on.
            console.error("zmtp reactor: a handler failed; its socket is closed", error);
            if (entry) this.close(entry.fd, slot);
          }
        }
        // Let timers (the tick) and other work run between rounds.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.#running = undefined;
    }
  }
}

function familyOf(address: Uint8Array): number {
  return address.length === 16 ? AF_INET : AF_INET6;
}

/** A `struct sockaddr_in` / `sockaddr_in6` for an IP address literal; undefined for a name. */
export function sockaddr(host: string, port: number): Uint8Array | undefined {
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
  if (v6 === undefined) return undefined; // a host name
  const out = new Uint8Array(28);
  const view = new DataView(out.buffer);
  view.setUint16(0, AF_INET6, true);
  view.setUint16(2, port);
  out.set(v6, 8);
  return out;
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
