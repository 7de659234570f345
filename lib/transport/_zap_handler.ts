/**
 * ZAP (ZeroMQ RFC 27) handler: decides which CURVE clients a server socket accepts.
 *
 * zeromq.js has none built in. libzmq asks whoever is bound at `inproc://zeromq.zap.01` in the
 * socket's context; we bind a ROUTER there in the pump's context and answer from the pump's loop.
 * Each CURVE server socket gets its own ZAP domain, which selects its allow-list.
 *
 * @module
 */

import * as zmq from "zeromq";
import { BindError } from "./errors.ts";
import { kAttach, kContext, kCounters, kDetach, type PollTarget } from "./_internal.ts";
import type { Pump } from "./pump.ts";
import { toHex, z85Encode } from "./_z85.ts";

const ZAP_ENDPOINT = "inproc://zeromq.zap.01";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const VERSION = encoder.encode("1.0");
const EMPTY = new Uint8Array(0);
const OK = [encoder.encode("200"), encoder.encode("OK")];
const DENIED = [encoder.encode("400"), encoder.encode("Client key not allowed")];
const BAD = [encoder.encode("500"), encoder.encode("Malformed ZAP request")];

let nextDomain = 0;

/** Answers ZAP requests for the CURVE server sockets of one pump. */
export class ZapHandler implements PollTarget {
  readonly kind = "zap";
  readonly receives = true;
  readonly socket: zmq.Router;
  readonly native = undefined;
  closed = false;
  lastActive = 0;
  slot = 0;
  pending = false;
  swept = false;
  fd = -1;
  readonly #pump: Pump;
  /** domain → hex of allowed 32-byte client public keys */
  readonly #domains = new Map<string, Set<string>>();

  private constructor(pump: Pump, socket: zmq.Router) {
    this.#pump = pump;
    this.socket = socket;
  }

  /** Binds the handler in the pump's context and attaches it to the pump. */
  static async bind(pump: Pump): Promise<ZapHandler> {
    const socket = new zmq.Router({
      context: pump[kContext],
      linger: 0,
      sendTimeout: 0,
      receiveTimeout: 0,
      mandatory: true,
    });
    try {
      await socket.bind(ZAP_ENDPOINT);
    } catch (error) {
      socket.close();
      throw new BindError(ZAP_ENDPOINT, { cause: error });
    }
    const handler = new ZapHandler(pump, socket);
    try {
      pump[kAttach](handler);
    } catch (error) {
      socket.close();
      throw error;
    }
    return handler;
  }

  /** Registers an allow-list (binary keys) and returns the new ZAP domain that selects it. */
  addDomain(allowedKeys: Uint8Array[]): string {
    const domain = `gameserver-${++nextDomain}`;
    this.#domains.set(domain, new Set(allowedKeys.map(toHex)));
    return domain;
  }

  /** Forgets a domain: further handshakes for it are refused. */
  removeDomain(domain: string): void {
    this.#domains.delete(domain);
  }

  /** Answers one request: [peer, "", "1.0", id, domain, address, identity, mechanism, ...creds]. */
  deliver(message: Uint8Array[]): void {
    const peer = message[0];
    const requestId = message[3] ?? EMPTY;
    if (message.length < 8 || message[1].length !== 0 || decoder.decode(message[2]) !== "1.0") {
      this.#reply(peer, requestId, BAD, EMPTY);
      return;
    }
    const domain = decoder.decode(message[4]);
    const mechanism = decoder.decode(message[7]);
    const key = message[8];
    const allowed = this.#domains.get(domain);
    const counters = this.#pump[kCounters];
    if (mechanism === "CURVE" && key?.length === 32 && allowed?.has(toHex(key))) {
      counters.authAllowed++;
      this.#reply(peer, requestId, OK, encoder.encode(z85Encode(key)));
    } else {
      counters.authDenied++;
      this.#reply(peer, requestId, DENIED, EMPTY);
    }
  }

  /** Unbinds the handler; CURVE handshakes of this pump then fail (ZAP domain enforced). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#pump[kDetach](this);
    this.socket.close();
  }

  #reply(peer: Uint8Array, requestId: Uint8Array, status: Uint8Array[], userId: Uint8Array): void {
    // Synchronously settled with sendTimeout 0; a failure means the requester went away.
    this.socket.send([peer, EMPTY, VERSION, requestId, status[0], status[1], userId, EMPTY])
      .catch(() => {});
  }
}
