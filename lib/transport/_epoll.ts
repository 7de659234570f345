/**
 * Blocking wait on the sockets' ZMQ_FD descriptors through Linux epoll, via Deno FFI.
 *
 * zeromq signals "something may have changed" on a socket's ZMQ_FD (edge semantics: after a
 * wake-up the socket must be checked with ZMQ_EVENTS, which the pump does with `readable`).
 * `epoll_wait` runs as a non-blocking FFI call on a runtime thread, so the event loop stays free
 * while the pump waits and no CPU is spent spinning. An eventfd in the set lets `wake()` cut a
 * wait short. Needs Linux and the FFI permission; `open()` returns `undefined` otherwise.
 *
 * @module
 */

const EPOLL_CLOEXEC = 0o2000000;
const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;
/** Readable (or, with EPOLLHUP and EPOLLERR, which epoll always reports: closed or failed). */
export const EPOLLIN = 0x001;
/** Writable: the kernel takes bytes again (asked for only while a write waits). */
export const EPOLLOUT = 0x004;
/** The slot reported for the wake eventfd. */
const WAKE_SLOT = 0xffffffff;
const MAX_EVENTS = 256;

const SYMBOLS = {
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32", nonblocking: true },
  epoll_poll: { name: "epoll_wait", parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Told of one ready descriptor: its slot and epoll's event mask. */
export type OnReady = (slot: number, events: number) => void;

/** An epoll set of ZMQ_FDs keyed by slot numbers, plus a wake-up eventfd. */
export class EpollWaiter {
  readonly #libc: Libc;
  readonly #library: Deno.DynamicLibrary<typeof SYMBOLS>;
  readonly #epfd: number;
  readonly #wakefd: number;
  // x86_64 packs struct epoll_event to 12 bytes; other architectures align it to 16.
  readonly #stride: number;
  readonly #dataOffset: number;
  readonly #events: Uint8Array;
  readonly #eventsView: DataView;
  readonly #one = new Uint8Array(8);
  readonly #drain = new Uint8Array(8);
  readonly #ctl: Uint8Array;
  readonly #ctlView: DataView;
  #waiting = false;
  #wakePending = false;
  #closed = false;

  private constructor(library: Deno.DynamicLibrary<typeof SYMBOLS>, epfd: number, wakefd: number) {
    this.#library = library;
    this.#libc = library.symbols;
    this.#epfd = epfd;
    this.#wakefd = wakefd;
    const packed = Deno.build.arch === "x86_64";
    this.#stride = packed ? 12 : 16;
    this.#dataOffset = packed ? 4 : 8;
    this.#events = new Uint8Array(this.#stride * MAX_EVENTS);
    this.#eventsView = new DataView(this.#events.buffer);
    this.#ctl = new Uint8Array(this.#stride);
    this.#ctlView = new DataView(this.#ctl.buffer);
    new DataView(this.#one.buffer).setBigUint64(0, 1n, true);
  }

  /** Opens a waiter, or returns `undefined` where epoll or FFI is unavailable (never prompts). */
  static open(): EpollWaiter | undefined {
    if (Deno.build.os !== "linux") return undefined;
    try {
      if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
      const library = Deno.dlopen("libc.so.6", SYMBOLS);
      const epfd = library.symbols.epoll_create1(EPOLL_CLOEXEC);
      const wakefd = library.symbols.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (epfd < 0 || wakefd < 0) {
        if (epfd >= 0) library.symbols.close(epfd);
        if (wakefd >= 0) library.symbols.close(wakefd);
        library.close();
        return undefined;
      }
      const waiter = new EpollWaiter(library, epfd, wakefd);
      if (!waiter.add(wakefd, WAKE_SLOT)) {
        waiter.close();
        return undefined;
      }
      return waiter;
    } catch {
      return undefined;
    }
  }

  /** Watches `fd` for readability, reported as `slot`; false if the kernel refused. */
  add(fd: number, slot: number): boolean {
    this.#ctlView.setUint32(0, EPOLLIN, true);
    this.#ctlView.setUint32(this.#dataOffset, slot, true);
    this.#ctlView.setUint32(this.#dataOffset + 4, 0, true);
    return this.#libc.epoll_ctl(this.#epfd, EPOLL_CTL_ADD, fd, this.#ctl) === 0;
  }

  /** Watches `fd` (added before) for readability, and for writability while `writable` holds. */
  watchWritable(fd: number, slot: number, writable: boolean): boolean {
    this.#ctlView.setUint32(0, writable ? EPOLLIN | EPOLLOUT : EPOLLIN, true);
    this.#ctlView.setUint32(this.#dataOffset, slot, true);
    this.#ctlView.setUint32(this.#dataOffset + 4, 0, true);
    return this.#libc.epoll_ctl(this.#epfd, EPOLL_CTL_MOD, fd, this.#ctl) === 0;
  }

  /** Stops watching `fd` (call before the socket owning it is closed). */
  remove(fd: number): void {
    if (this.#closed) return;
    this.#libc.epoll_ctl(this.#epfd, EPOLL_CTL_DEL, fd, this.#ctl);
  }

  /**
   * Waits up to `timeoutMs` for any watched fd; calls `onReady(slot, events)` for each ready one
   * (not for wake-ups; `events` is epoll's mask). Resolves early on `wake()`.
   */
  async wait(timeoutMs: number, onReady: OnReady): Promise<void> {
    if (this.#closed) return;
    this.#waiting = true;
    let count: number;
    try {
      count = this.#wakePending ? 0 : await this.#libc.epoll_wait(
        this.#epfd,
        this.#events,
        MAX_EVENTS,
        Math.ceil(timeoutMs),
      );
    } finally {
      this.#waiting = false;
    }
    if (this.#wakePending) {
      this.#wakePending = false;
      this.#libc.read(this.#wakefd, this.#drain, 8n);
    }
    this.#report(count, onReady);
  }

  /** Collects the fds that are ready right now, without waiting (a cheap synchronous call). */
  poll(onReady: OnReady): void {
    if (this.#closed || this.#waiting) return;
    const count = this.#libc.epoll_poll(this.#epfd, this.#events, MAX_EVENTS, 0);
    this.#report(count, onReady);
  }

  #report(count: number, onReady: OnReady): void {
    const view = this.#eventsView;
    for (let i = 0; i < count; i++) {
      const slot = view.getUint32(i * this.#stride + this.#dataOffset, true);
      if (slot === WAKE_SLOT) {
        // A wake that arrived after its wait ended: clear it so epoll stops reporting it.
        this.#libc.read(this.#wakefd, this.#drain, 8n);
      } else onReady(slot, view.getUint32(i * this.#stride, true));
    }
  }

  /** Cuts a wait in progress short (cheap when none is in progress or a wake is pending). */
  wake(): void {
    if (!this.#waiting || this.#wakePending || this.#closed) return;
    this.#wakePending = true;
    this.#libc.write(this.#wakefd, this.#one, 8n);
  }

  /** Releases the descriptors and the library; only call when no wait is in progress. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#libc.close(this.#wakefd);
    this.#libc.close(this.#epfd);
    this.#library.close();
  }
}
