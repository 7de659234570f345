/**
 * The sending side of publish/subscribe: a PUB that binds and fans messages out by topic.
 *
 * @module
 */

import * as zmq from "zeromq";
import { kCheckOpen } from "./_internal.ts";
import type { Pump } from "./pump.ts";
import type { CurveServerKeys, SocketOptions } from "./types.ts";
import { bindServer } from "./_bind_server.ts";
import { SocketBase } from "./socket_base.ts";
import { commonOptions, portOf, type SocketTarget } from "./_socket_target.ts";

/** Options of `PublisherSocket.bind`. */
export interface PublisherSocketOptions
  extends Omit<SocketOptions, "receiveHwm" | "maxMessageSize"> {
  /** Encrypt and admit only the listed subscriber keys. */
  curve?: CurveServerKeys;
  /**
   * Closes a subscriber's connection (and frees its queue) when it answers no ZMTP heartbeat for
   * this long: a frozen or dead peer's TCP connection can otherwise stay open and hold `sendHwm`
   * messages. Heartbeats go out every third of it. 0 or absent: never.
   */
  peerTimeoutMs?: number;
}

const encoder = new TextEncoder();

/**
 * A bound PUB. Each message is two frames, `[topic, payload]`. zeromq drops messages for a
 * subscriber whose queue is at `sendHwm` without telling anyone, and a new subscriber misses what
 * was published before its subscription arrived: number messages and detect gaps. Its `stats`
 * therefore never show PUB's own drops at the high-water mark.
 */
export class PublisherSocket extends SocketBase {
  private constructor(target: SocketTarget, endpoint: string) {
    super(target, endpoint);
  }

  // `override` only because a class's static side inherits Function.prototype.bind.
  /** Binds a PUB on `endpoint` (port 0 picks a free port). */
  static override async bind(
    pump: Pump,
    endpoint: string,
    options: PublisherSocketOptions = {},
  ): Promise<PublisherSocket> {
    pump[kCheckOpen]();
    const bound = await bindServer(pump, endpoint, {
      curve: options.curve,
      make: (curveOptions) =>
        new zmq.Publisher({
          ...commonOptions(pump, options, false),
          ...heartbeat(options.peerTimeoutMs ?? 0),
          ...curveOptions,
        }),
      // Polled (never read) so zeromq takes in new subscriptions promptly.
      target: { kind: "publisher", receives: false },
    });
    return new PublisherSocket(bound.target, bound.endpoint);
  }

  /** The bound TCP port (0 for non-TCP endpoints). */
  get port(): number {
    return portOf(this.endpoint);
  }

  /** Publishes `payload` under `topic`; `false` only if the socket is closed or refused it. */
  publish(topic: string | Uint8Array, payload: Uint8Array): boolean {
    return this.target.send([typeof topic === "string" ? encoder.encode(topic) : topic, payload]);
  }
}

/** zeromq's heartbeat options for a peer timeout (none for 0). */
function heartbeat(timeoutMs: number): Record<string, number> {
  if (!(timeoutMs > 0)) return {};
  const interval = Math.max(1, Math.floor(timeoutMs / 3));
  return { heartbeatInterval: interval, heartbeatTimeout: Math.floor(timeoutMs) };
}
