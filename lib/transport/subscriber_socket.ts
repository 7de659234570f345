/**
 * The receiving side of publish/subscribe: a SUB that connects to a PUB and can switch publishers.
 *
 * @module
 */

import * as zmq from "zeromq";
import { ConnectError } from "./errors.ts";
import { kCheckOpen } from "./_internal.ts";
import type { Pump } from "./pump.ts";
import type { CurveClientKeys, SocketOptions } from "./types.ts";
import { clientCurve } from "./_curve_setup.ts";
import { SocketBase } from "./socket_base.ts";
import { commonOptions, createSocket, SocketTarget } from "./_socket_target.ts";

/** Options of `SubscriberSocket.connect`. */
export interface SubscriberSocketOptions extends Omit<SocketOptions, "sendHwm"> {
  /** Encrypt; the publisher must list this subscriber's public key. */
  curve?: CurveClientKeys;
}

const EMPTY = new Uint8Array(0);

/** What a SUB is connected, and reconnected, with. */
interface SubscriberSetup {
  readonly pump: Pump;
  readonly topics: readonly string[];
  readonly onMessage: (topic: Uint8Array, payload: Uint8Array) => void;
  /** The options of the zeromq.js socket. */
  readonly zmqOptions: Record<string, unknown>;
}

/**
 * A connected SUB receiving `(topic, payload)` for every message whose topic starts with one of
 * `topics` (`""` matches all). `reconnect()` switches to another publisher, same topics. Only
 * `stats.received` applies.
 */
export class SubscriberSocket extends SocketBase {
  readonly #setup: SubscriberSetup;

  private constructor(setup: SubscriberSetup, endpoint: string) {
    super(openSubscriber(setup, endpoint), endpoint);
    this.#setup = setup;
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
    const zmqOptions = {
      ...commonOptions(pump, options, true, false),
      ...(options.curve ? clientCurve(options.curve) : {}),
    };
    return new SubscriberSocket({ pump, topics: [...topics], onMessage, zmqOptions }, endpoint);
  }

  /** Switches to another publisher; messages in flight from the old one are lost. */
  reconnect(endpoint: string): void {
    if (this.closed) return;
    this.#setup.pump[kCheckOpen]();
    this.replaceTarget(openSubscriber(this.#setup, endpoint), endpoint);
  }
}

/** Connects a new SUB of `setup` to `endpoint` and attaches it to the pump. */
function openSubscriber(setup: SubscriberSetup, endpoint: string): SocketTarget {
  const socket = createSocket("subscriber", () => new zmq.Subscriber(setup.zmqOptions));
  try {
    socket.subscribe(...setup.topics);
    socket.connect(endpoint);
  } catch (error) {
    socket.close();
    throw new ConnectError(endpoint, { cause: error });
  }
  const onMessage = setup.onMessage;
  const target = new SocketTarget(setup.pump, socket, {
    kind: "subscriber",
    receives: true,
    deliver: (message) => onMessage(message[0], message[1] ?? EMPTY),
  });
  target.attach();
  return target;
}
