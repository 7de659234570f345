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
import type { CurveClientKeys, Frames, SocketOptions } from "./types.ts";
import { clientCurve } from "./_curve_setup.ts";
import { SocketBase } from "./socket_base.ts";
import { commonOptions, createSocket, socketSettings, SocketTarget } from "./_socket_target.ts";

/** Options of `DealerSocket.connect`. */
export interface DealerSocketOptions extends SocketOptions {
  /** Encrypt; the server must list this client's public key. */
  curve?: CurveClientKeys;
  /** Routing id the ROUTER sees for this client (default: zeromq assigns one per socket). */
  routingId?: string;
}

/** What a DEALER is connected, and reconnected, with. */
interface DealerSetup {
  readonly pump: Pump;
  readonly onMessage: (frames: Frames) => void;
  /** The options of a zeromq.js socket. */
  readonly zmqOptions: Record<string, unknown>;
  /** Set when the socket talks to libzmq through FFI (plain sockets; see PumpOptions.sockets). */
  readonly nativeSettings: ReturnType<typeof socketSettings> & { routingId?: string } | undefined;
}

/**
 * A connected DEALER. Messages queue while the connection is being made (up to `sendHwm`);
 * `send()` returns `false` once the queue is full. `reconnect()` switches to another server.
 */
export class DealerSocket extends SocketBase {
  readonly #setup: DealerSetup;

  private constructor(setup: DealerSetup, endpoint: string) {
    super(openDealer(setup, endpoint), endpoint);
    this.#setup = setup;
  }

  /** Connects a DEALER to `endpoint` (returns at once; the connection is made in the background). */
  static connect(
    pump: Pump,
    endpoint: string,
    onMessage: (frames: Frames) => void,
    options: DealerSocketOptions = {},
  ): DealerSocket {
    pump[kCheckOpen]();
    const id = options.routingId;
    if (
      id !== undefined &&
      (id.length === 0 || new TextEncoder().encode(id).length > 255 || id.startsWith("\0"))
    ) {
      throw new InvalidOptionError(
        "routingId must be 1 to 255 bytes, not starting with a zero byte",
      );
    }
    const nativeSettings = options.curve || pump[kNative] === undefined
      ? undefined
      : { ...socketSettings(options), routingId: options.routingId };
    const zmqOptions = {
      ...commonOptions(pump, options, true),
      ...(options.curve ? clientCurve(options.curve) : {}),
      ...(options.routingId !== undefined ? { routingId: options.routingId } : {}),
    };
    return new DealerSocket({ pump, onMessage, zmqOptions, nativeSettings }, endpoint);
  }

  /** Sends without waiting; `false` if dropped (queue full or socket closed). */
  send(frames: Uint8Array[] | Uint8Array): boolean {
    return this.target.send(frames);
  }

  /**
   * Switches to `endpoint`: closes the current socket (its queued messages are dropped) and
   * connects a new one with the same options and handler.
   */
  reconnect(endpoint: string): void {
    if (this.closed) return;
    this.#setup.pump[kCheckOpen]();
    this.replaceTarget(openDealer(this.#setup, endpoint), endpoint);
  }
}

/** Connects a new DEALER of `setup` to `endpoint` and attaches it to the pump. */
function openDealer(setup: DealerSetup, endpoint: string): SocketTarget {
  const native = setup.nativeSettings === undefined ? undefined : setup.pump[kNative];
  let socket: zmq.Dealer | NativeSocket;
  if (native !== undefined) {
    socket = native.socket(ZMQ_DEALER);
    try {
      socket.configure(setup.nativeSettings!);
      socket.connect(endpoint);
    } catch (error) {
      socket.close();
      throw new ConnectError(endpoint, { cause: error });
    }
  } else {
    const js = createSocket("dealer", () => new zmq.Dealer(setup.zmqOptions));
    try {
      js.connect(endpoint);
    } catch (error) {
      js.close();
      throw new ConnectError(endpoint, { cause: error });
    }
    socket = js;
  }
  const target = new SocketTarget(setup.pump, socket, {
    kind: "dealer",
    receives: true,
    deliver: setup.onMessage,
  });
  target.attach();
  return target;
}
