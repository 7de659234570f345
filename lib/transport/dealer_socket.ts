/**
 * The client side of request/reply: a DEALER that connects to a ROUTER and can switch servers.
 *
 * @module
 */

import * as zmq from "zeromq";
import { ConnectError, InvalidOptionError } from "./errors.ts";
import { kCheckOpen, kNative } from "./_internal.ts";
import { type NativeSocket, ZMQ_DEALER } from "./_libzmq.ts";
import type { Pump } from "./pump.ts";
import type { CurveClientKeys, Frames, SocketOptions, SocketStats } from "./types.ts";
import { clientCurve } from "./_curve_setup.ts";
import { commonOptions, createSocket, socketSettings, SocketTarget } from "./_socket_target.ts";

/** Options of `DealerSocket.connect`. */
export interface DealerSocketOptions extends SocketOptions {
  /** Encrypt; the server must list this client's public key. */
  curve?: CurveClientKeys;
  /** Routing id the ROUTER sees for this client (default: zeromq assigns one per socket). */
  routingId?: string;
}

/**
 * A connected DEALER. Messages queue while the connection is being made (up to `sendHwm`);
 * `send()` returns `false` once the queue is full. `reconnect()` switches to another server.
 */
export class DealerSocket implements AsyncDisposable {
  readonly #pump: Pump;
  readonly #onMessage: (frames: Frames) => void;
  readonly #zmqOptions: Record<string, unknown>;
  /** Set when the socket talks to libzmq through FFI (plain sockets; see PumpOptions.sockets). */
  readonly #nativeSettings: ReturnType<typeof socketSettings> & { routingId?: string } | undefined;
  #target: SocketTarget;
  #endpoint: string;
  #closed = false;
  readonly #stats: SocketStats = { received: 0, sent: 0, dropped: 0, unroutable: 0 };

  private constructor(
    pump: Pump,
    endpoint: string,
    onMessage: (frames: Frames) => void,
    options: DealerSocketOptions,
  ) {
    this.#pump = pump;
    this.#onMessage = onMessage;
    const id = options.routingId;
    if (
      id !== undefined &&
      (id.length === 0 || new TextEncoder().encode(id).length > 255 || id.startsWith("\0"))
    ) {
      throw new InvalidOptionError(
        "routingId must be 1 to 255 bytes, not starting with a zero byte",
      );
    }
    this.#nativeSettings = options.curve || pump[kNative] === undefined
      ? undefined
      : { ...socketSettings(options), routingId: options.routingId };
    this.#zmqOptions = {
      ...commonOptions(pump, options, true),
      ...(options.curve ? clientCurve(options.curve) : {}),
      ...(options.routingId !== undefined ? { routingId: options.routingId } : {}),
    };
    this.#endpoint = endpoint;
    this.#target = this.#open(endpoint);
  }

  /** Connects a DEALER to `endpoint` (returns at once; the connection is made in the background). */
  static connect(
    pump: Pump,
    endpoint: string,
    onMessage: (frames: Frames) => void,
    options: DealerSocketOptions = {},
  ): DealerSocket {
    pump[kCheckOpen]();
    return new DealerSocket(pump, endpoint, onMessage, options);
  }

  /** The endpoint currently connected to. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** Whether the socket was closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Counters of this socket, summed over reconnects. */
  get stats(): Readonly<SocketStats> {
    const now = this.#target.stats;
    const s = this.#stats;
    return {
      received: s.received + now.received,
      sent: s.sent + now.sent,
      dropped: s.dropped + now.dropped,
      unroutable: s.unroutable + now.unroutable,
    };
  }

  /** Sends without waiting; `false` if dropped (queue full or socket closed). */
  send(frames: Uint8Array[] | Uint8Array): boolean {
    return this.#target.send(frames);
  }

  /**
   * Switches to `endpoint`: closes the current socket (its queued messages are dropped) and
   * connects a new one with the same options and handler.
   */
  reconnect(endpoint: string): void {
    if (this.#closed) return;
    this.#pump[kCheckOpen]();
    const old = this.#target;
    this.#target = this.#open(endpoint);
    this.#endpoint = endpoint;
    this.#retire(old);
  }

  /** Closes the socket (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#target.close();
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  #open(endpoint: string): SocketTarget {
    const native = this.#nativeSettings === undefined ? undefined : this.#pump[kNative];
    let socket: zmq.Dealer | NativeSocket;
    if (native !== undefined) {
      socket = native.socket(ZMQ_DEALER);
      try {
        socket.configure(this.#nativeSettings!);
        socket.connect(endpoint);
      } catch (error) {
        socket.close();
        throw new ConnectError(endpoint, { cause: error });
      }
    } else {
      const js = createSocket("dealer", () => new zmq.Dealer(this.#zmqOptions));
      try {
        js.connect(endpoint);
      } catch (error) {
        js.close();
        throw new ConnectError(endpoint, { cause: error });
      }
      socket = js;
    }
    const target = new SocketTarget(this.#pump, socket, {
      kind: "dealer",
      receives: true,
      deliver: this.#onMessage,
      // Disposing the pump closes the socket: make this wrapper report closed too.
      onClose: () => {
        if (target === this.#target) this.#closed = true;
      },
    });
    target.attach();
    return target;
  }

  #retire(old: SocketTarget): void {
    const s = this.#stats;
    s.received += old.stats.received;
    s.sent += old.stats.sent;
    s.dropped += old.stats.dropped;
    s.unroutable += old.stats.unroutable;
    old.close();
  }
}
