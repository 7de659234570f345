/**
 * The sending side of publish/subscribe: a PUB that binds and fans messages out by topic.
 *
 * @module
 */

import * as zmq from "zeromq";
import { BindError } from "./errors.ts";
import { kCheckOpen } from "./_internal.ts";
import type { Pump } from "./pump.ts";
import type { CurveServerKeys, SocketOptions, SocketStats } from "./types.ts";
import { serverCurve } from "./_curve_setup.ts";
import { commonOptions, createSocket, portOf, SocketTarget } from "./_socket_target.ts";

/** Options of `PublisherSocket.bind`. */
export interface PublisherSocketOptions
  extends Omit<SocketOptions, "receiveHwm" | "maxMessageSize"> {
  /** Encrypt and admit only the listed subscriber keys. */
  curve?: CurveServerKeys;
}

const encoder = new TextEncoder();

/**
 * A bound PUB. Each message is two frames, `[topic, payload]`. zeromq drops messages for a
 * subscriber whose queue is at `sendHwm` without telling anyone, and a new subscriber misses what
 * was published before its subscription arrived: number messages and detect gaps.
 */
export class PublisherSocket implements AsyncDisposable {
  readonly #target: SocketTarget;
  /** The bound endpoint with the real port. */
  readonly endpoint: string;
  /** The bound TCP port (0 for non-TCP endpoints). */
  readonly port: number;

  private constructor(target: SocketTarget, endpoint: string) {
    this.#target = target;
    this.endpoint = endpoint;
    this.port = portOf(endpoint);
  }

  /** Binds a PUB on `endpoint` (port 0 picks a free port). */
  static async bind(
    pump: Pump,
    endpoint: string,
    options: PublisherSocketOptions = {},
  ): Promise<PublisherSocket> {
    pump[kCheckOpen]();
    const curve = options.curve ? await serverCurve(pump, options.curve) : undefined;
    const socket = createSocket("publisher", () =>
      new zmq.Publisher({
        ...commonOptions(pump, options, false),
        ...curve?.options,
      }), curve?.release);
    try {
      await socket.bind(endpoint);
      pump[kCheckOpen]();
    } catch (error) {
      socket.close();
      curve?.release();
      if (error instanceof Error && error.name === "PumpClosedError") throw error;
      throw new BindError(endpoint, { cause: error });
    }
    // Polled (never read) so zeromq takes in new subscriptions promptly.
    const target = new SocketTarget(pump, socket, {
      kind: "publisher",
      receives: false,
      onClose: curve?.release,
    });
    target.attach();
    return new PublisherSocket(target, socket.lastEndpoint ?? endpoint);
  }

  /** Counters of this socket (PUB's own drops at the high-water mark are invisible to us). */
  get stats(): Readonly<SocketStats> {
    return this.#target.stats;
  }

  /** Whether the socket was closed. */
  get closed(): boolean {
    return this.#target.closed;
  }

  /** Publishes `payload` under `topic`; `false` only if the socket is closed or refused it. */
  publish(topic: string | Uint8Array, payload: Uint8Array): boolean {
    return this.#target.send([typeof topic === "string" ? encoder.encode(topic) : topic, payload]);
  }

  /** Closes the socket (idempotent). */
  close(): void {
    this.#target.close();
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
