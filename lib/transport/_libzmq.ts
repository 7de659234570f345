/**
 * libzmq called directly through Deno FFI, for the hot request/reply sockets.
 *
 * zeromq.js costs about 9 µs of main-thread CPU per `receive()` and 8 µs per `send()` in Deno
 * (N-API, a promise and a Node `Buffer` per message; measured with a CPU profile of a node at
 * 10,000 clients). Its prebuilt addon links libzmq statically and exports the whole C API, so
 * this module opens that same file with `Deno.dlopen` and calls `zmq_msg_recv` / `zmq_send`
 * with `ZMQ_DONTWAIT` directly: what remains is libzmq's own work (`deno task bench:transport`:
 * 12 µs of server CPU per echoed round trip against 25 µs through zeromq.js).
 *
 * Only what the pump needs is wrapped: non-blocking send and receive, options, bind/connect, the
 * ZMQ_FD for epoll, and close. Sockets live in their own context (one per pump), so CURVE sockets,
 * which need the ZAP handler in zeromq.js's context, stay on zeromq.js. `Libzmq.open()` returns
 * `undefined` (and callers use zeromq.js) where the addon, its symbols or the FFI permission are
 * missing.
 *
 * @module
 */

/** Socket types. */
export const ZMQ_PAIR = 0;
export const ZMQ_DEALER = 5;
export const ZMQ_ROUTER = 6;

/** Socket monitor events (`zmq_socket_monitor`). */
export const ZMQ_EVENT_ACCEPTED = 0x0020;
export const ZMQ_EVENT_DISCONNECTED = 0x0200;

const ZMQ_DONTWAIT = 1;
const ZMQ_SNDMORE = 2;
const ZMQ_ROUTING_ID = 5;
const ZMQ_RCVMORE = 13;
const ZMQ_FD = 14;
const ZMQ_EVENTS = 15;
const ZMQ_LINGER = 17;
const ZMQ_MAXMSGSIZE = 22;
const ZMQ_SNDHWM = 23;
const ZMQ_RCVHWM = 24;
const ZMQ_LAST_ENDPOINT = 32;
const ZMQ_ROUTER_MANDATORY = 33;
const ZMQ_ROUTER_HANDOVER = 56;
const ZMQ_POLLIN = 1;
/** Context options: sockets a context may hold (libzmq's default is 1,023) and the most allowed. */
const ZMQ_MAX_SOCKETS = 2;
const ZMQ_SOCKET_LIMIT = 3;
/** Sockets per context we ask for: a load generator may open thousands of connections. */
const WANTED_MAX_SOCKETS = 65_535;
/** `errno` values (Linux) callers tell apart. */
const EINTR = 4;
export const EAGAIN = 11;
export const EHOSTUNREACH = 113;

/** sizeof(zmq_msg_t) is 64; more room costs nothing and keeps the buffer off V8's heap. */
const MSG_BYTES = 128;

const SYMBOLS = {
  zmq_ctx_new: { parameters: [], result: "pointer" },
  zmq_ctx_set: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  zmq_ctx_get: { parameters: ["pointer", "i32"], result: "i32" },
  zmq_ctx_term: { parameters: ["pointer"], result: "i32", nonblocking: true },
  zmq_socket: { parameters: ["pointer", "i32"], result: "pointer" },
  zmq_close: { parameters: ["pointer"], result: "i32" },
  zmq_setsockopt: { parameters: ["pointer", "i32", "buffer", "usize"], result: "i32" },
  zmq_getsockopt: { parameters: ["pointer", "i32", "buffer", "buffer"], result: "i32" },
  zmq_bind: { parameters: ["pointer", "buffer"], result: "i32" },
  zmq_connect: { parameters: ["pointer", "buffer"], result: "i32" },
  zmq_socket_monitor: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  zmq_send: { parameters: ["pointer", "buffer", "usize", "i32"], result: "i32" },
  zmq_recv: { parameters: ["pointer", "buffer", "usize", "i32"], result: "i32" },
  zmq_msg_init: { parameters: ["buffer"], result: "i32" },
  zmq_msg_recv: { parameters: ["buffer", "pointer", "i32"], result: "i32" },
  zmq_msg_data: { parameters: ["buffer"], result: "pointer" },
  zmq_msg_size: { parameters: ["buffer"], result: "usize" },
  zmq_msg_more: { parameters: ["buffer"], result: "i32" },
  zmq_msg_close: { parameters: ["buffer"], result: "i32" },
  zmq_errno: { parameters: [], result: "i32" },
  zmq_strerror: { parameters: ["i32"], result: "pointer" },
  zmq_version: { parameters: ["buffer", "buffer", "buffer"], result: "void" },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** A libzmq call failed; `errno` is zeromq's error number. */
export class LibzmqError extends Error {
  /** zeromq's errno. */
  readonly errno: number;
  /** Node-style code for the errors callers look at (`EHOSTUNREACH`, `EAGAIN`), else `ZMQ_<n>`. */
  readonly code: string;

  constructor(what: string, errno: number, reason: string) {
    super(`${what}: ${reason}`);
    this.name = "LibzmqError";
    this.errno = errno;
    this.code = errno === EHOSTUNREACH
      ? "EHOSTUNREACH"
      : errno === EAGAIN
      ? "EAGAIN"
      : `ZMQ_${errno}`;
  }
}

const encoder = new TextEncoder();

function cString(text: string): Uint8Array {
  return encoder.encode(`${text}\0`);
}

/** The library, opened once per process (never closed: zeromq.js uses the same file). */
let opened: Deno.DynamicLibrary<typeof SYMBOLS> | null | undefined;

/** The libzmq inside zeromq.js's addon, opened through FFI; one context per instance. */
export class Libzmq {
  readonly z: Symbols;
  readonly #context: Deno.PointerObject;
  /** Receive scratch: one zmq_msg_t, reused (never on V8's movable heap). */
  readonly msg = new Uint8Array(new ArrayBuffer(MSG_BYTES));
  readonly #intBuffer = new Int32Array(new ArrayBuffer(8));
  readonly #intBytes = new Uint8Array(this.#intBuffer.buffer);
  readonly #sizeBuffer = new BigUint64Array(new ArrayBuffer(8));
  readonly #sizeBytes = new Uint8Array(this.#sizeBuffer.buffer);
  #terminated: Promise<void> | undefined;

  private constructor(library: Deno.DynamicLibrary<typeof SYMBOLS>, context: Deno.PointerObject) {
    this.z = library.symbols;
    this.#context = context;
  }

  /**
   * Opens the addon zeromq.js loaded (found in /proc/self/maps, so it must already be loaded)
   * and creates a context; `undefined` where that is impossible (not Linux, no FFI permission,
   * no addon, missing symbols, libzmq older than 4.3).
   */
  static open(): Libzmq | undefined {
    if (Deno.build.os !== "linux") return undefined;
    try {
      if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
      if (
        Deno.permissions.querySync({ name: "read", path: "/proc/self/maps" }).state !== "granted"
      ) {
        return undefined;
      }
      opened ??= openLibrary();
      if (opened === null) return undefined;
      const z = opened.symbols;
      const context = z.zmq_ctx_new();
      if (context === null) return undefined;
      // Beyond libzmq's default of 1,023 sockets zmq_socket() fails with EMFILE; the process's
      // file limit (2 descriptors per connected socket) stays the real bound.
      const limit = z.zmq_ctx_get(context, ZMQ_SOCKET_LIMIT);
      if (limit > 0) z.zmq_ctx_set(context, ZMQ_MAX_SOCKETS, Math.min(WANTED_MAX_SOCKETS, limit));
      return new Libzmq(opened, context);
    } catch {
      return undefined;
    }
  }

  /** A new socket of `type` (ZMQ_ROUTER, ZMQ_DEALER). */
  socket(type: number): NativeSocket {
    if (this.#terminated !== undefined) throw new LibzmqError("zmq_socket", 0, "context closed");
    const handle = this.z.zmq_socket(this.#context, type);
    if (handle === null) throw this.error("zmq_socket", this.z.zmq_errno());
    return new NativeSocket(this, handle);
  }

  /** `errno` (read right after the failing call) as a LibzmqError. */
  error(what: string, errno: number): LibzmqError {
    const text = this.z.zmq_strerror(errno);
    const reason = text === null ? `errno ${errno}` : Deno.UnsafePointerView.getCString(text);
    return new LibzmqError(what, errno, reason);
  }

  /** Sets an int option. */
  setInt(handle: Deno.PointerObject, option: number, value: number): void {
    this.#intBuffer[0] = value;
    if (this.z.zmq_setsockopt(handle, option, this.#intBytes, 4n) !== 0) {
      throw this.error(`zmq_setsockopt(${option})`, this.z.zmq_errno());
    }
  }

  /** Sets an int64 option. */
  setInt64(handle: Deno.PointerObject, option: number, value: number): void {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigInt64(0, BigInt(value), true);
    if (this.z.zmq_setsockopt(handle, option, bytes, 8n) !== 0) {
      throw this.error(`zmq_setsockopt(${option})`, this.z.zmq_errno());
    }
  }

  /** Sets a binary option. */
  setBytes(handle: Deno.PointerObject, option: number, value: Uint8Array): void {
    if (this.z.zmq_setsockopt(handle, option, value, BigInt(value.length)) !== 0) {
      throw this.error(`zmq_setsockopt(${option})`, this.z.zmq_errno());
    }
  }

  /** Reads an int option. */
  getInt(handle: Deno.PointerObject, option: number): number {
    this.#sizeBuffer[0] = 4n;
    if (this.z.zmq_getsockopt(handle, option, this.#intBytes, this.#sizeBytes) !== 0) {
      throw this.error(`zmq_getsockopt(${option})`, this.z.zmq_errno());
    }
    return this.#intBuffer[0];
  }

  /** Reads a string option. */
  getString(handle: Deno.PointerObject, option: number): string {
    const bytes = new Uint8Array(1024);
    this.#sizeBuffer[0] = BigInt(bytes.length);
    if (this.z.zmq_getsockopt(handle, option, bytes, this.#sizeBytes) !== 0) {
      throw this.error(`zmq_getsockopt(${option})`, this.z.zmq_errno());
    }
    const length = Number(this.#sizeBuffer[0]);
    // The size includes the terminating zero.
    return new TextDecoder().decode(bytes.subarray(0, Math.max(0, length - 1)));
  }

  /**
   * Terminates the context once every socket is closed (their linger bounds how long it
   * takes); the library stays open, as zeromq.js still uses it. Idempotent.
   */
  terminate(): Promise<void> {
    this.#terminated ??= (async () => {
      // -1 from a valid context only means a signal interrupted the wait (EINTR): restartable.
      for (let tries = 0; tries < 100; tries++) {
        if (await this.z.zmq_ctx_term(this.#context) === 0) return;
      }
    })();
    return this.#terminated;
  }
}

/** Largest `maxMessageSize` for which a socket receives into a buffer of its own (see receive()). */
const RECEIVE_BUFFER_MAX = 4 * 1024 * 1024;

/** One libzmq socket, used only through non-blocking calls. */
export class NativeSocket {
  readonly #zmq: Libzmq;
  readonly #handle: Deno.PointerObject;
  #closed = false;
  /**
   * With a known `maxMessageSize` (no frame can be larger), frames are received straight into this
   * buffer with zmq_recv and copied out: two FFI calls a frame instead of seven with a zmq_msg_t.
   */
  #receiveBuffer: Uint8Array | undefined;
  #receiveLength = 0n;

  constructor(zmq: Libzmq, handle: Deno.PointerObject) {
    this.#zmq = zmq;
    this.#handle = handle;
  }

  /** Throws when the socket was closed: its handle is freed. */
  #open(): Deno.PointerObject {
    if (this.#closed) throw new LibzmqError("socket", 0, "socket closed");
    return this.#handle;
  }

  /** Applies the common options; `maxMessageSize` -1 means no limit. */
  configure(options: {
    linger: number;
    sendHwm: number;
    receiveHwm: number;
    maxMessageSize?: number;
    routingId?: string;
    router?: boolean;
  }): void {
    const zmq = this.#zmq;
    const h = this.#open();
    zmq.setInt(h, ZMQ_LINGER, options.linger);
    zmq.setInt(h, ZMQ_SNDHWM, options.sendHwm);
    zmq.setInt(h, ZMQ_RCVHWM, options.receiveHwm);
    if (options.maxMessageSize !== undefined) {
      zmq.setInt64(h, ZMQ_MAXMSGSIZE, options.maxMessageSize);
      const size = options.maxMessageSize;
      if (size > 0 && size <= RECEIVE_BUFFER_MAX) {
        this.#receiveBuffer = new Uint8Array(size);
        this.#receiveLength = BigInt(size);
      }
    }
    if (options.routingId !== undefined) {
      zmq.setBytes(h, ZMQ_ROUTING_ID, encoder.encode(options.routingId));
    }
    if (options.router) {
      zmq.setInt(h, ZMQ_ROUTER_MANDATORY, 1);
      zmq.setInt(h, ZMQ_ROUTER_HANDOVER, 1);
    }
  }

  /** Binds; throws a LibzmqError (address in use, bad endpoint…). */
  bind(endpoint: string): void {
    this.#toEndpoint("bind", endpoint);
  }

  /** Connects (in the background); throws a LibzmqError for a bad endpoint. */
  connect(endpoint: string): void {
    this.#toEndpoint("connect", endpoint);
  }

  #toEndpoint(what: "bind" | "connect", endpoint: string): void {
    const z = this.#zmq.z;
    const h = this.#open();
    const address = cString(endpoint);
    const call = what === "bind" ? z.zmq_bind : z.zmq_connect;
    while (call(h, address) !== 0) {
      const errno = z.zmq_errno();
      if (errno !== EINTR) throw this.#zmq.error(`${what} ${endpoint}`, errno);
    }
  }

  /**
   * Publishes `events` of this socket on the inproc `endpoint` (a PAIR socket of the same context
   * connects there to read them); throws a LibzmqError.
   */
  monitor(endpoint: string, events: number): void {
    const z = this.#zmq.z;
    const h = this.#open();
    const address = cString(endpoint);
    while (z.zmq_socket_monitor(h, address, events) !== 0) {
      const errno = z.zmq_errno();
      if (errno !== EINTR) throw this.#zmq.error(`monitor ${endpoint}`, errno);
    }
  }

  /** The endpoint last bound, with the real port after binding port 0. */
  get lastEndpoint(): string {
    return this.#zmq.getString(this.#open(), ZMQ_LAST_ENDPOINT);
  }

  /** The ZMQ_FD to watch with epoll (edge semantics: drain until EAGAIN after a wake-up). */
  get fd(): number {
    return this.#zmq.getInt(this.#open(), ZMQ_FD);
  }

  /** Whether a message is waiting (ZMQ_EVENTS; also makes libzmq process pending commands). */
  get readable(): boolean {
    if (this.#closed) return false;
    return (this.#zmq.getInt(this.#handle, ZMQ_EVENTS) & ZMQ_POLLIN) !== 0;
  }

  /**
   * Takes the next whole message without waiting: its frames, or `undefined` when none is
   * waiting. Throws a LibzmqError for anything but EAGAIN. A call a signal interrupts (EINTR,
   * possible in every libzmq call as it processes its commands) is repeated for the same frame,
   * so a message is never cut in two.
   */
  receive(): Uint8Array[] | undefined {
    if (this.#closed) return undefined;
    if (this.#receiveBuffer !== undefined) return this.#receiveInto(this.#receiveBuffer);
    const z = this.#zmq.z;
    const msg = this.#zmq.msg;
    let frames: Uint8Array[] | undefined;
    for (;;) {
      z.zmq_msg_init(msg);
      // The frames of a message arrive together, so only the first can find nothing waiting.
      if (z.zmq_msg_recv(msg, this.#handle, ZMQ_DONTWAIT) < 0) {
        const errno = z.zmq_errno();
        z.zmq_msg_close(msg);
        if (errno === EINTR) continue;
        // The usual end of a drain: no error object for it.
        if (frames === undefined && errno === EAGAIN) return undefined;
        throw this.#zmq.error("zmq_msg_recv", errno);
      }
      let more: number;
      try {
        // Allocate before taking the data pointer: small messages live inside `msg` itself.
        const frame = new Uint8Array(Number(z.zmq_msg_size(msg)));
        if (frame.length > 0) Deno.UnsafePointerView.copyInto(z.zmq_msg_data(msg)!, frame);
        more = z.zmq_msg_more(msg);
        (frames ??= []).push(frame);
      } finally {
        z.zmq_msg_close(msg);
      }
      if (more === 0) return frames;
    }
  }

  /** receive() through `buffer`, which holds any frame libzmq lets in (ZMQ_MAXMSGSIZE). */
  #receiveInto(buffer: Uint8Array): Uint8Array[] | undefined {
    const z = this.#zmq.z;
    const h = this.#handle;
    let frames: Uint8Array[] | undefined;
    for (;;) {
      const size = z.zmq_recv(h, buffer, this.#receiveLength, ZMQ_DONTWAIT);
      if (size < 0) {
        const errno = z.zmq_errno();
        if (errno === EINTR) continue;
        if (frames === undefined && errno === EAGAIN) return undefined;
        throw this.#zmq.error("zmq_recv", errno);
      }
      if (size > buffer.length) {
        // Cannot happen below ZMQ_MAXMSGSIZE; never hand out a truncated frame as a whole one.
        throw this.#zmq.error("zmq_recv: frame larger than the socket's maxMessageSize", 0);
      }
      (frames ??= []).push(buffer.slice(0, size));
      if (this.#zmq.getInt(h, ZMQ_RCVMORE) === 0) return frames;
    }
  }

  /**
   * Sends one message without waiting: 0 when libzmq took it, else the errno (EAGAIN: the
   * peer's queue is full; EHOSTUNREACH: a ROUTER's unknown peer). Frames are copied at once. A
   * frame whose call a signal interrupted (EINTR) is sent again: giving up after the first frame
   * would leave the socket mid-message, and the next message would be glued onto it.
   */
  send(frames: readonly (Uint8Array | string)[]): number {
    if (this.#closed) return EAGAIN;
    const z = this.#zmq.z;
    const last = frames.length - 1;
    for (let i = 0; i <= last; i++) {
      const f = frames[i];
      const bytes = typeof f === "string" ? encoder.encode(f) : f;
      const flags = i < last ? ZMQ_DONTWAIT | ZMQ_SNDMORE : ZMQ_DONTWAIT;
      while (z.zmq_send(this.#handle, bytes, BigInt(bytes.byteLength), flags) < 0) {
        const errno = z.zmq_errno();
        if (errno === EINTR) continue;
        // Once the first frame is in, libzmq takes the whole message (the high-water mark is
        // checked on first frames only), so only the first frame fails for another reason.
        return errno;
      }
    }
    return 0;
  }

  /** Closes the socket (idempotent); unsent messages linger per the linger option. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#zmq.z.zmq_close(this.#handle);
  }
}

/** Opens the addon's libzmq (4.3 or later), or null. */
function openLibrary(): Deno.DynamicLibrary<typeof SYMBOLS> | null {
  const path = addonPath();
  if (path === undefined) return null;
  const library = Deno.dlopen(path, SYMBOLS);
  const major = new Int32Array(1);
  const minor = new Int32Array(1);
  const patch = new Int32Array(1);
  library.symbols.zmq_version(major, minor, patch);
  if (major[0] * 100 + minor[0] < 403) {
    library.close();
    return null;
  }
  return library;
}

/** The zeromq.js addon this process has loaded, from /proc/self/maps. */
function addonPath(): string | undefined {
  const maps = Deno.readTextFileSync("/proc/self/maps");
  for (const line of maps.split("\n")) {
    const path = line.slice(line.indexOf("/"));
    if (line.includes("/") && path.endsWith(".node") && path.includes("zeromq")) return path;
  }
  return undefined;
}
