/**
 * The receiving side of publish/subscribe: a SUB that connects to a PUB and can switch publishers.
 *
 * @module
 */

import * as zmq from "zeromq";
import { ConnectError } from "./errors.ts";
import { kCheckOpen } from "./_internal.ts";
import type { Pump } from "./pump.ts";
import type { CurveClientKeys, SocketOptions, SocketStats } from "./types.ts";
import { clientCurve } from "./_curve_setup.ts";
import { commonOptions, createSocket, SocketTarget } from "./_socket_target.ts";

/** Options of `SubscriberSocket.connect`. */
export interface SubscriberSocketOptions extends Omit<SocketOptions, "sendHwm"> {
  /** Encrypt; the publisher must list this subscriber's public key. */
  curve?: CurveClientKeys;
}

const EMPTY = new Uint8Array(0);

/**
 * A connected SUB receiving `(topic, payload)` for every message whose topic starts with one of
 * `topics` (`""` matches all). `reconnect()` switches to another publisher, same topics.
 */
export class SubscriberSocket implements AsyncDisposable {
  readonly #pump: Pump;
  readonly #topics: string[];
  readonly #onMessage: (topic: Uint8Array, payload: Uint8Array) => void;
  readonly #zmqOptions: Record<string, unknown>;
  #target: SocketTarget;
  #endpoint: string;
  #closed = false;
  #received = 0;

  private constructor(
    pump: Pump,
    endpoint: string,
    topics: string[],
    onMessage: (topic: Uint8Array, payload: Uint8Array) => void,
    options: SubscriberSocketOptions,
  ) {
    this.#pump = pump;
    this.#topics = [...topics];
    this.#onMessage = onMessage;
    this.#zmqOptions = {
      ...commonOptions(pump, options, true, false),
      ...(options.curve ? clientCurve(options.curve) : {}),
    };
    this.#endpoint = endpoint;
    this.#target = this.#open(endpoint);
  }

  /** Connects a SUB to `endpoint` subscribed to `topics` (prefixes; `[]` or `[""]`: everything). */
  static connect(
    pump: Pump,
    endpoint: string,
    topics: string[],
    onMessage: (topic: Uint8Array, payload: Uint8Array) => void,
    options: SubscriberSocketOptions = {},
  ): SubscriberSocket {
    pump[kCheckOpen]();
    return new SubscriberSocket(pump, endpoint, topics, onMessage, options);
  }

  /** The endpoint currently connected to. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** Whether the socket was closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Counters of this socket, summed over reconnects (only `received` applies). */
  get stats(): Readonly<SocketStats> {
    return {
      received: this.#received + this.#target.stats.received,
      sent: 0,
      dropped: 0,
      unroutable: 0,
    };
  }

  /** Switches to another publisher; messages in flight from the old one are lost. */
  reconnect(endpoint: string): void {
    if (this.#closed) return;
    this.#pump[kCheckOpen]();
    const old = this.#target;
    this.#target = this.#open(endpoint);
    this.#endpoint = endpoint;
    this.#received += old.stats.received;
    old.close();
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
    const socket = createSocket("subscriber", () => new zmq.Subscriber(this.#zmqOptions));
    try {
      socket.subscribe(...this.#topics);
      socket.connect(endpoint);
    } catch (error) {
      socket.close();
      throw new ConnectError(endpoint, { cause: error });
    }
    const onMessage = this.#onMessage;
    const target = new SocketTarget(this.#pump, socket, {
      kind: "subscriber",
      receives: true,
      deliver: (message) => onMessage(message[0], message[1] ?? EMPTY),
      onClose: () => {
        if (target === this.#target) this.#closed = true;
      },
    });
    target.attach();
    return target;
  }
}
