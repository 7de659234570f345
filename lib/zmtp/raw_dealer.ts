/**
 * The DEALER of `dealer.ts` on a raw socket in the process's epoll set (see `_reactor.ts`): what
 * the load generator's thousands of connections need, since Deno's TCP keeps a promise pending per
 * connection and those slowed every young-generation collection. Same behaviour: ZMTP 3.1 NULL,
 * silent reconnects every `reconnectMs`, messages queued (bounded) while it connects, PONG to PING.
 *
 * Clients pick it with `zmq_engine: epoll` (where it cannot run they use the Deno TCP one). For a
 * single connection the Deno TCP one has the shorter round trip: each wake-up here is an epoll wait
 * finishing on a runtime thread.
 *
 * @module
 */
import { Reactor, sockaddr } from "./_reactor.ts";
import { RawStream } from "./_stream.ts";
import { dealerCommand, hello, messageFrames, type ZmtpEvent } from "./codec.ts";
import { parseTcpEndpoint, type ZmtpDealerOptions } from "./dealer.ts";

const HELLO = hello("DEALER");

/** What both DEALERs offer. */
export interface Dealer {
  /** True while the handshake is done and the connection up. */
  readonly connected: boolean;
  /** Queues one message; false when closed or too much is queued. */
  send(frames: Uint8Array | Uint8Array[]): boolean;
  /** Closes; nothing more is sent or delivered. Idempotent. */
  close(): void;
}

/** A DEALER connection to one ZeroMQ peer on a raw socket. */
export class RawZmtpDealer implements Dealer {
  readonly #reactor: Reactor;
  readonly #address: Uint8Array;
  readonly #options: ZmtpDealerOptions;
  readonly #maxQueuedBytes: number;
  #stream: RawStream | undefined;
  #ready = false;
  #closed = false;
  /** Messages waiting for the handshake (sent on READY). */
  #waiting: Uint8Array[] = [];
  #waitingBytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  private constructor(reactor: Reactor, address: Uint8Array, options: ZmtpDealerOptions) {
    this.#reactor = reactor;
    this.#address = address;
    this.#options = options;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 8 << 20;
  }

  /**
   * Starts connecting to `endpoint`, or returns undefined where raw sockets cannot be used (not
   * Linux, no FFI, a host name). Throws RangeError for a bad endpoint.
   */
  static connect(endpoint: string, options: ZmtpDealerOptions): RawZmtpDealer | undefined {
    const { hostname, port } = parseTcpEndpoint(endpoint);
    const address = sockaddr(hostname, port);
    const reactor = Reactor.get();
    if (address === undefined || reactor === undefined) return undefined;
    const dealer = new RawZmtpDealer(reactor, address, options);
    dealer.#open();
    return dealer;
  }

  /** True while the handshake is done and the connection up. */
  get connected(): boolean {
    return this.#ready;
  }

  /** Resolves once closed and the process's raw sockets have nothing left to wait for. */
  get closed(): Promise<void> {
    return this.#reactor.settled();
  }

  /** Queues one message and sends it once the link is up; false when closed or full. */
  send(frames: Uint8Array | Uint8Array[]): boolean {
    if (this.#closed) return false;
    const bytes = messageFrames(Array.isArray(frames) ? frames : [frames]);
    const stream = this.#stream;
    const queued = this.#ready && stream ? stream.queuedBytes : this.#waitingBytes;
    if (queued + bytes.length > this.#maxQueuedBytes) return false;
    if (this.#ready && stream && !stream.closed) stream.write(bytes);
    else {
      this.#waiting.push(bytes);
      this.#waitingBytes += bytes.length;
    }
    return true;
  }

  /** Closes the connection; nothing more is sent or delivered. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ready = false;
    clearTimeout(this.#timer);
    this.#waiting = [];
    this.#waitingBytes = 0;
    this.#stream?.close();
  }

  #open(): void {
    const fd = this.#reactor.connect(this.#address);
    if (fd < 0) return this.#retry(new Error(`connect failed: errno ${-fd}`));
    const stream: RawStream = new RawStream(
      this.#reactor,
      fd,
      this.#options.maxFrameSize ?? 16 << 20,
      (event) => this.#onEvent(stream, event),
      (error) => {
        if (this.#stream !== stream) return;
        this.#ready = false;
        this.#stream = undefined;
        if (error) this.#retry(error);
      },
    );
    this.#stream = stream;
    // Sent as soon as the connection is up (the stream waits for writability while it connects).
    stream.write(HELLO);
  }

  #onEvent(stream: RawStream, event: ZmtpEvent): void {
    if (event.type === "message") {
      if (this.#ready && !this.#closed) this.#options.onMessage(event.frames);
      return;
    }
    if (event.type !== "command") return;
    const action = dealerCommand(event.name, event.data);
    if (action === "ready") {
      this.#ready = true;
      for (const bytes of this.#waiting) stream.write(bytes);
      this.#waiting = [];
      this.#waitingBytes = 0;
    } else if (action !== undefined) stream.write(action);
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
