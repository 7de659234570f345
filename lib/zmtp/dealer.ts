/**
 * A ZeroMQ DEALER written in TypeScript over Deno's own TCP: ZMTP 3.1 with the NULL mechanism, one
 * TCP connection, silent reconnects (like libzmq's, every `reconnectMs`), messages queued while it
 * connects. It speaks to any ZeroMQ ROUTER (the node's client port is libzmq's).
 *
 * Why not libzmq's DEALER: a libzmq socket per connection costs a mailbox, an eventfd and a pipe in
 * libzmq's I/O thread, and each send or receive through FFI processes that mailbox. A process that
 * holds thousands of connections (the load generator's one per simulated client) spends most of
 * its CPU there; here a connection is one Deno TCP stream with one read pending.
 *
 * @module
 */
import {
  concat,
  dealerCommand,
  hello,
  messageFrames,
  type ZmtpEvent,
  ZmtpParser,
} from "./codec.ts";

/** Options of {@linkcode ZmtpDealer.connect}. */
export interface ZmtpDealerOptions {
  /** A whole message from the peer. */
  onMessage: (frames: Uint8Array[]) => void;
  /** Something went wrong with the connection (it reconnects by itself); for logs. */
  onError?: (error: Error) => void;
  /** Delay before reconnecting, ms (default 100, libzmq's). */
  reconnectMs?: number;
  /** Largest frame accepted from the peer, bytes (default 16 MiB); beyond it the link is dropped. */
  maxFrameSize?: number;
  /** Most bytes queued to send (while connecting or behind); beyond, `send()` returns false. */
  maxQueuedBytes?: number;
  /** Bytes read at a time (default 4 KiB: thousands of connections each hold one buffer). */
  readBufferSize?: number;
}

/**
 * `tcp://HOST:PORT` → host and port (IPv6 hosts in brackets). To connect (default) the port must be
 * 1–65535 and `*` means this machine; to `bind`, port 0 means any free one and `*` every interface.
 * Throws RangeError otherwise.
 */
export function parseTcpEndpoint(
  endpoint: string,
  { bind = false } = {},
): { hostname: string; port: number } {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/\s]+):(\d{1,5})$/.exec(endpoint);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= (bind ? 0 : 1) && port < 65536)) {
    throw new RangeError(`not a tcp://HOST:PORT endpoint: ${endpoint}`);
  }
  const host = m[1].startsWith("[") ? m[1].slice(1, -1) : m[1];
  return { hostname: host === "*" ? (bind ? "0.0.0.0" : "127.0.0.1") : host, port };
}

const HELLO = hello("DEALER");

/** A DEALER connection to one ZeroMQ peer. */
export class ZmtpDealer {
  readonly #hostname: string;
  readonly #port: number;
  readonly #options: ZmtpDealerOptions;
  readonly #maxQueuedBytes: number;
  #conn: Deno.TcpConn | undefined;
  /** The peer's READY arrived: messages flow. */
  #ready = false;
  #closed = false;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  private constructor(hostname: string, port: number, options: ZmtpDealerOptions) {
    this.#hostname = hostname;
    this.#port = port;
    this.#options = options;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 8 << 20;
  }

  /** Starts connecting to `endpoint` (`tcp://HOST:PORT`); throws RangeError for a bad endpoint. */
  static connect(endpoint: string, options: ZmtpDealerOptions): ZmtpDealer {
    const { hostname, port } = parseTcpEndpoint(endpoint);
    const dealer = new ZmtpDealer(hostname, port, options);
    dealer.#open();
    return dealer;
  }

  /** True while the handshake is done and the connection up. */
  get connected(): boolean {
    return this.#ready;
  }

  /**
   * Queues one message (a frame or several) and sends it as soon as the link is up. False when
   * closed or when `maxQueuedBytes` are already waiting.
   */
  send(frames: Uint8Array | Uint8Array[]): boolean {
    if (this.#closed) return false;
    const bytes = messageFrames(Array.isArray(frames) ? frames : [frames]);
    if (this.#queuedBytes + bytes.length > this.#maxQueuedBytes) return false;
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    if (this.#ready && !this.#writing) this.#flush(this.#conn!);
    return true;
  }

  /** Closes the connection; nothing more is sent or delivered. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ready = false;
    clearTimeout(this.#timer);
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#drop();
  }

  async #open(): Promise<void> {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: this.#hostname, port: this.#port });
    } catch (error) {
      this.#retry(error as Error);
      return;
    }
    if (this.#closed) {
      conn.close();
      return;
    }
    this.#conn = conn;
    try {
      conn.setNoDelay(true);
      await writeAll(conn, HELLO);
    } catch (error) {
      this.#lost(conn, error as Error);
      return;
    }
    this.#read(conn);
  }

  async #read(conn: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(this.#options.readBufferSize ?? 4096);
    const parser = new ZmtpParser(
      this.#options.maxFrameSize ?? 16 << 20,
      (event) => this.#onEvent(conn, event),
    );
    try {
      while (this.#conn === conn) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error("the peer closed the connection");
        parser.push(buffer.subarray(0, n));
      }
    } catch (error) {
      if (this.#conn === conn) this.#lost(conn, error as Error);
    }
  }

  #onEvent(conn: Deno.TcpConn, event: ZmtpEvent): void {
    if (event.type === "message") {
      if (this.#ready && !this.#closed) this.#options.onMessage(event.frames);
      return;
    }
    if (event.type !== "command") return;
    const action = dealerCommand(event.name, event.data);
    if (action === "ready") {
      this.#ready = true;
      if (this.#queue.length > 0 && !this.#writing) this.#flush(conn);
    } else if (action !== undefined) {
      this.#queue.unshift(action);
      this.#queuedBytes += action.length;
      if (this.#ready && !this.#writing) this.#flush(conn);
    }
  }

  /** Writes the queue out, one batch per write, until it is empty. */
  async #flush(conn: Deno.TcpConn): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && this.#conn === conn) {
        const batch = this.#queue.length === 1 ? this.#queue[0] : concat(this.#queue);
        this.#queue.length = 0; // the same array: nothing new for a long-lived dealer to point to
        this.#queuedBytes = 0;
        await writeAll(conn, batch);
      }
    } catch (error) {
      if (this.#conn === conn) this.#lost(conn, error as Error);
    } finally {
      this.#writing = false;
    }
  }

  #lost(conn: Deno.TcpConn, error: Error): void {
    if (this.#conn !== conn) return;
    this.#drop();
    this.#retry(error);
  }

  #drop(): void {
    this.#ready = false;
    const conn = this.#conn;
    this.#conn = undefined;
    try {
      conn?.close();
    } catch { /* closed already */ }
  }

  #retry(error: Error): void {
    if (this.#closed) return;
    this.#options.onError?.(error);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) this.#open();
    }, this.#options.reconnectMs ?? 100);
  }
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(at === 0 ? bytes : bytes.subarray(at));
}
