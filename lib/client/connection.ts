import type { Pump } from "../transport/mod.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  type NoticeKind,
  type WireFormat,
} from "../protocol/mod.ts";
import type { ClientConfig } from "../config/mod.ts";
import { Backoff } from "../retry/mod.ts";
import { discoverNode } from "./discovery.ts";
import { RequestError } from "./errors.ts";
import {
  type ClientTransport,
  nodeEndpoint,
  openTransport,
  transportOf,
} from "./client_transport.ts";

/** What happens to a connection, for logs and for sessions that resume after a reconnect. */
export type ConnectionEvent =
  | { type: "connecting"; endpoint: string; attempt: number; nodeId?: string }
  | { type: "connected"; endpoint: string; nodeId: string; role: string; reconnect: boolean }
  | { type: "lost"; endpoint: string; reason: string }
  | { type: "discovery_failed"; reason: string; retryInMs: number }
  | { type: "notice"; kind: NoticeKind; message: string };

/** The clock and timers a {@linkcode Connection} runs on (a fake one in tests). */
export interface ConnectionClock {
  /** Monotonic time, ms. */
  now(): number;
  /** Calls `fn` once, `ms` from now; returns a handle for {@linkcode clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a {@linkcode setTimeout} (no-op for `undefined` or a fired one). */
  clearTimeout(handle: unknown): void;
  /** Calls `fn` every `ms`; returns a handle for {@linkcode clearInterval}. */
  setInterval(fn: () => void, ms: number): unknown;
  /** Cancels a {@linkcode setInterval} (no-op for `undefined`). */
  clearInterval(handle: unknown): void;
}

type Timer = ReturnType<typeof setTimeout>;

/** `performance.now()` and the global timers. */
const SYSTEM_CLOCK: ConnectionClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as Timer | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => clearInterval(handle as Timer | undefined),
};

/** Options of {@linkcode Connection}. */
export interface ConnectionOptions {
  pump: Pump;
  config: ClientConfig;
  /** The client id heartbeats are sent as. */
  clientId: string;
  onEvent?: (event: ConnectionEvent) => void;
  /** Random numbers in [0, 1) for jitter. */
  random?: () => number;
  /** Time and timers (default: `performance.now()` and the global timers). */
  clock?: ConnectionClock;
}

interface Pending {
  clientId: string;
  resolve: (reply: Envelope) => void;
  reject: (err: RequestError) => void;
  deadline: number;
}

/**
 * One client connection to a game node: requests matched to replies by client and request id,
 * heartbeats when idle, silence detection, and reconnection with backoff and jitter to a node the
 * registry names (or the configured node). Many client ids may share one connection. It runs over
 * ZeroMQ or a WebSocket (`ws`, `transport` in the config; see `client_transport.ts`). Throws
 * `ConfigError` for a WebSocket transport without a URL or registry.
 */
export class Connection implements AsyncDisposable {
  readonly #pump: Pump;
  readonly #config: ClientConfig;
  readonly #clientId: string;
  readonly #onEvent: (event: ConnectionEvent) => void;
  readonly #backoff: Backoff;
  readonly #clock: ConnectionClock;
  // Keyed by request id alone (unique per connection); the reply's client id is checked on arrival.
  readonly #pending = new Map<number, Pending>();
  readonly #format: WireFormat;
  readonly #transport: "zmq" | "ws";
  #socket: ClientTransport | undefined;
  #endpoint = "";
  #nodeId = "";
  #state: "idle" | "connecting" | "connected" | "waiting" | "closed" = "idle";
  #everConnected = false;
  #nextRequestId = 1;
  #lastHeard = 0;
  #lastSent = 0;
  #stateSince = 0;
  #timer: unknown;
  #retryTimer: unknown;
  #readyWaiters: (() => void)[] = [];
  #counters = { reconnects: 0, timeouts: 0, sent: 0, received: 0 };

  /** Creates a connection; call {@linkcode start} to connect. */
  constructor(options: ConnectionOptions) {
    this.#pump = options.pump;
    this.#config = options.config;
    this.#clientId = options.clientId;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#format = options.config.format;
    this.#transport = transportOf(options.config);
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#backoff = new Backoff({
      minMs: options.config.reconnect_min_ms,
      maxMs: options.config.reconnect_max_ms,
      random: options.random,
    });
  }

  /** The endpoint currently connected (or being connected) to. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** The node id that last answered. */
  get nodeId(): string {
    return this.#nodeId;
  }

  /** True once the node answered and until it is lost. */
  get connected(): boolean {
    return this.#state === "connected";
  }

  /** Reconnects, timeouts, frames sent and received. */
  get counters(): Readonly<
    { reconnects: number; timeouts: number; sent: number; received: number }
  > {
    return this.#counters;
  }

  /** Connects (discovering a node first when registries are configured) and starts heartbeats. */
  start(): void {
    if (this.#state !== "idle") return;
    const tick = Math.max(10, Math.min(100, this.#config.heartbeat_interval_ms / 4));
    this.#timer = this.#clock.setInterval(() => this.#housekeeping(this.#clock.now()), tick);
    this.#connect();
  }

  /** Resolves once the node has answered, or rejects after `timeoutMs`. */
  ready(timeoutMs: number): Promise<void> {
    if (this.#state === "connected") return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = this.#clock.setTimeout(
      () => reject(new RequestError("UNAVAILABLE", `No node answered within ${timeoutMs} ms`)),
      timeoutMs,
    );
    this.#readyWaiters.push(() => {
      this.#clock.clearTimeout(timer);
      resolve();
    });
    return promise;
  }

  /** Sends a request as `clientId` and resolves with the reply envelope (error replies included). */
  request(
    clientId: string,
    body: Envelope,
    timeoutMs = this.#config.request_timeout_ms,
  ): Promise<Envelope> {
    if (this.#state === "closed") {
      return Promise.reject(new RequestError("UNAVAILABLE", "Connection closed"));
    }
    const requestId = this.#nextRequestId;
    this.#nextRequestId = this.#nextRequestId >= 0xffffffff ? 1 : this.#nextRequestId + 1;
    const { promise, resolve, reject } = Promise.withResolvers<Envelope>();
    const now = this.#clock.now();
    this.#pending.set(requestId, { clientId, resolve, reject, deadline: now + timeoutMs });
    body.clientId = clientId;
    body.requestId = requestId;
    if (!this.#socket?.send(encodeEnvelope(body, this.#format))) {
      this.#pending.delete(requestId);
      return Promise.reject(new RequestError("UNAVAILABLE", "Not connected to a node"));
    }
    this.#counters.sent++;
    this.#lastSent = now;
    return promise;
  }

  /** Drops the current node and reconnects through discovery (e.g. after a shutdown notice). */
  reconnectNow(reason: string): void {
    if (this.#state === "closed") return;
    this.#lost(reason);
  }

  #connect(): void {
    if (this.#state === "closed") return;
    this.#state = "connecting";
    this.#stateSince = this.#clock.now();
    const attempt = this.#backoff.attempt;
    const registries = this.#config.registry;
    if (registries.length === 0) {
      this.#open(this.#transport === "ws" ? this.#config.ws : this.#config.node, attempt);
      return;
    }
    discoverNode(this.#pump, {
      registries,
      wantMaster: this.#config.want_master,
      clientId: this.#clientId,
      timeoutMs: Math.min(1000, this.#config.server_timeout_ms),
    }).then(
      (node) => {
        if (this.#state !== "connecting") return;
        const endpoint = nodeEndpoint(node, this.#transport);
        if (endpoint) this.#open(endpoint, attempt, node.nodeId ?? "");
        else {
          this.#discoveryFailed(
            `node ${node.nodeId} serves no HTTP (http_port 0), so no WebSocket port`,
          );
        }
      },
      (err) => {
        if (this.#state === "connecting") this.#discoveryFailed((err as Error).message);
      },
    );
  }

  #discoveryFailed(reason: string): void {
    const delay = this.#backoff.next();
    this.#state = "waiting";
    this.#onEvent({ type: "discovery_failed", reason, retryInMs: delay });
    this.#retryTimer = this.#clock.setTimeout(() => this.#connect(), delay);
  }

  #open(endpoint: string, attempt: number, nodeId?: string): void {
    this.#endpoint = endpoint;
    this.#onEvent({ type: "connecting", endpoint, attempt, nodeId });
    this.#socket?.close();
    const link: ClientTransport = openTransport(endpoint, {
      pump: this.#pump,
      format: this.#format,
      zmqEngine: this.#config.zmq_engine,
      onFrame: (frame) => this.#onFrame(frame),
      // A WebSocket says when it closes: no need to wait for the silence.
      onClose: (reason) => {
        if (this.#socket === link) this.#lost(reason);
      },
    });
    this.#socket = link;
    this.#stateSince = this.#clock.now();
    this.#sendPing(this.#stateSince);
  }

  #onFrame(frame: Uint8Array): void {
    let reply: Envelope;
    try {
      reply = decodeEnvelope(frame);
    } catch {
      return; // Not ours to crash on: a corrupt frame is ignored.
    }
    const now = this.#clock.now();
    this.#lastHeard = now;
    this.#counters.received++;
    if (this.#state === "connecting" && reply.pong) {
      this.#state = "connected";
      this.#stateSince = now;
      this.#nodeId = reply.pong.nodeId ?? "";
      const reconnect = this.#everConnected;
      if (reconnect) this.#counters.reconnects++;
      this.#everConnected = true;
      this.#backoff.reset();
      this.#onEvent({
        type: "connected",
        endpoint: this.#endpoint,
        nodeId: this.#nodeId,
        role: reply.pong.role ?? "",
        reconnect,
      });
      for (const waiter of this.#readyWaiters.splice(0)) waiter();
    }
    if (reply.notice) {
      this.#onEvent({
        type: "notice",
        kind: reply.notice.kind ?? "NOTICE_KIND_UNSPECIFIED",
        message: reply.notice.message ?? "",
      });
      if (reply.notice.kind === "NOTICE_KIND_SHUTDOWN" && this.#state === "connected") {
        this.#lost(`node ${this.#nodeId} is shutting down`);
      }
      return;
    }
    const requestId = reply.requestId ?? 0;
    const pending = this.#pending.get(requestId);
    if (pending && pending.clientId === reply.clientId) {
      this.#pending.delete(requestId);
      pending.resolve(reply);
    }
  }

  #sendPing(now: number): void {
    const sent = this.#socket?.send(encodeEnvelope({
      clientId: this.#clientId,
      requestId: 0,
      ping: { clientTimeMs: Date.now() },
    }, this.#format));
    if (sent) this.#lastSent = now;
  }

  #housekeeping(now: number): void {
    for (const [key, pending] of this.#pending) {
      if (pending.deadline > now) continue;
      this.#pending.delete(key);
      this.#counters.timeouts++;
      pending.reject(new RequestError("TIMEOUT", "No reply in time"));
    }
    if (this.#state === "connected" || this.#state === "connecting") {
      const since = this.#state === "connected" ? this.#lastHeard : this.#stateSince;
      if (now - since > this.#config.server_timeout_ms) {
        this.#lost(
          this.#state === "connected"
            ? `node silent for ${Math.round(now - since)} ms`
            : `no answer from ${this.#endpoint} within ${this.#config.server_timeout_ms} ms`,
        );
        return;
      }
      if (now - this.#lastSent >= this.#config.heartbeat_interval_ms) this.#sendPing(now);
    }
  }

  #lost(reason: string): void {
    const wasConnected = this.#state === "connected";
    if (wasConnected || this.#state === "connecting") {
      this.#onEvent({ type: "lost", endpoint: this.#endpoint, reason });
    }
    for (const [key, pending] of this.#pending) {
      this.#pending.delete(key);
      pending.reject(new RequestError("UNAVAILABLE", `Connection lost: ${reason}`));
    }
    this.#socket?.close();
    this.#socket = undefined;
    this.#clock.clearTimeout(this.#retryTimer);
    const delay = this.#backoff.next();
    this.#state = "waiting";
    this.#retryTimer = this.#clock.setTimeout(() => this.#connect(), delay);
  }

  /** Closes the connection; pending requests fail. Idempotent. */
  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#clock.clearInterval(this.#timer);
    this.#clock.clearTimeout(this.#retryTimer);
    for (const [key, pending] of this.#pending) {
      this.#pending.delete(key);
      pending.reject(new RequestError("UNAVAILABLE", "Connection closed"));
    }
    this.#socket?.close();
    this.#socket = undefined;
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
