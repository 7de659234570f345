import { DealerSocket, type Pump } from "../../transport/mod.ts";
import {
  type ClusterMessage,
  decodeCluster,
  encodeCluster,
  type NodeAddress,
  type NodeLoad,
  type PromiseReply,
  type Role,
  roleName,
} from "../../protocol/mod.ts";
import type { ClusterCurve } from "../../config/mod.ts";
import { Backoff } from "../../retry/mod.ts";
import { log } from "../../log/mod.ts";
import { RegistrationError } from "./errors.ts";

const logger = log("registry-link");

/** What the node tells the registry about itself on every report. */
export interface NodeIdentity {
  address: NodeAddress;
  runId: string;
  role: () => Role;
  epoch: () => number;
  masterId: () => string;
  load: () => NodeLoad;
  /** The cluster's members as this node is configured (the registry checks them). */
  members: string[];
}

/** Commands and news from the registry, for the node to act on. */
export type RegistryCommand =
  | { type: "convert_to_master"; epoch: number }
  | { type: "change_master"; master: NodeAddress; epoch: number }
  | { type: "slave_removed"; nodeId: string; reason: string }
  | {
    type: "prepare";
    epoch: number;
    registryId: string;
    /** Answers the registry that asked. */
    reply: (promise: PromiseReply) => void;
  }
  | { type: "master_info"; master: NodeAddress | undefined; epoch: number; role?: Role };

/** Options of {@linkcode RegistryLink}. */
export interface RegistryLinkOptions {
  pump: Pump;
  endpoints: string[];
  curve?: ClusterCurve;
  identity: NodeIdentity;
  reportIntervalMs: number;
  /** No answer from the registry for this long: it counts as down; try the next endpoint. */
  registryTimeoutMs: number;
  retryMaxMs: number;
  onCommand: (command: RegistryCommand) => void;
}

/**
 * A node's link to the registry: registration at start (or a clear error), state reports as the
 * heartbeat, re-registration when a restarted registry does not know the node, commands from the
 * sentinel, and failover across registry endpoints with backoff while the registry is down — the
 * node itself keeps serving throughout.
 */
export class RegistryLink implements AsyncDisposable {
  readonly #options: RegistryLinkOptions;
  readonly #backoff: Backoff;
  #socket: DealerSocket | undefined;
  #endpointIndex = 0;
  #registered = false;
  #registering = false;
  #lastHeard = 0;
  #lastRegisterSent = -Infinity;
  /** When the link started trying the current endpoint (silence is counted from here at most). */
  #attemptStartedAt = 0;
  #reportTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #down = false;
  #nextAttemptAt = 0;
  #reportId = 0;
  readonly #reportSentAt = new Map<number, number>();
  #lastFreshAck = 0;
  #registerWaiter: { resolve: () => void; reject: (err: Error) => void } | undefined;
  #lastRejection = "";
  /** A registration rejected for now is sent again at this time. */
  #retryRegisterAt = 0;

  /** Creates the link; {@linkcode register} connects. */
  constructor(options: RegistryLinkOptions) {
    this.#options = options;
    this.#backoff = new Backoff({ minMs: 100, maxMs: options.retryMaxMs });
  }

  /** When the registry last answered (performance.now() ms). */
  get lastHeard(): number {
    return this.#lastHeard;
  }

  /** Send time of the newest report (or registration) the registry answered: proof of contact. */
  get lastContact(): number {
    return this.#lastFreshAck;
  }

  /** True while the node is registered with a registry that answers. */
  get healthy(): boolean {
    return this.#registered && !this.#down;
  }

  /** The endpoint in use. */
  get endpoint(): string {
    return this.#options.endpoints[this.#endpointIndex];
  }

  /**
   * Registers and starts reporting. Rejects with {@linkcode RegistrationError} when no registry accepts
   * the node within `timeoutMs` (every endpoint tried, each failure named).
   */
  register(timeoutMs: number): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(() => {
      this.#registerWaiter = undefined;
      const why = this.#lastRejection
        ? `rejected: ${this.#lastRejection}`
        : `no registry answered at ${this.#options.endpoints.join(", ")}`;
      reject(new RegistrationError(`Could not register within ${timeoutMs} ms (${why})`));
    }, timeoutMs);
    this.#registerWaiter = {
      resolve: () => {
        clearTimeout(timer);
        resolve();
      },
      reject: (err) => {
        clearTimeout(timer);
        reject(err);
      },
    };
    this.#open();
    this.#attemptStartedAt = performance.now();
    this.#sendRegister(this.#attemptStartedAt);
    this.#reportTimer = setInterval(
      () => this.#tick(performance.now()),
      this.#options.reportIntervalMs,
    );
    return promise;
  }

  #open(): void {
    const endpoint = this.endpoint;
    const onMessage = (frames: Uint8Array[]) => this.#onFrames(frames);
    if (this.#socket) this.#socket.reconnect(endpoint);
    else {
      this.#socket = DealerSocket.connect(this.#options.pump, endpoint, onMessage, {
        curve: this.#options.curve?.client,
        sendHwm: 100,
      });
    }
    logger.debug("Registry link to {endpoint}", { endpoint });
  }

  #send(message: ClusterMessage): void {
    message.epoch = this.#options.identity.epoch();
    this.#socket?.send(encodeCluster(message));
  }

  #sendRegister(now: number): void {
    const id = this.#options.identity;
    this.#registering = true;
    this.#lastRegisterSent = now;
    this.#send({
      register: {
        address: { ...id.address, role: id.role() },
        runId: id.runId,
        role: id.role(),
        load: id.load(),
        masterId: id.masterId(),
        members: id.members,
      },
    });
  }

  #tick(now: number): void {
    if (this.#closed) return;
    // Silence on the current endpoint: since it last answered, or since we started trying it.
    const silentFor = now - Math.max(this.#lastHeard, this.#attemptStartedAt);
    if (silentFor >= this.#options.registryTimeoutMs) {
      // The current registry does not answer: mark it down once, then rotate endpoints with backoff.
      if (!this.#down && (this.#registered || this.#lastHeard > 0)) {
        this.#down = true;
        logger.warn("Registry {endpoint} silent for {ms} ms: node keeps serving, retrying", {
          endpoint: this.endpoint,
          ms: Math.round(silentFor),
        });
      }
      if (now >= this.#nextAttemptAt) {
        if (this.#options.endpoints.length > 1) {
          this.#endpointIndex = (this.#endpointIndex + 1) % this.#options.endpoints.length;
          this.#open();
          logger.info("Trying registry {endpoint}", { endpoint: this.endpoint });
        }
        this.#attemptStartedAt = now;
        this.#nextAttemptAt = now + this.#backoff.next();
        this.#sendRegister(now);
      }
      return;
    }
    if (this.#registered) {
      const id = this.#options.identity;
      const reportId = ++this.#reportId;
      this.#reportSentAt.set(reportId, now);
      // Keep the send times of recent reports only.
      if (this.#reportSentAt.size > 64) this.#reportSentAt.delete(reportId - 64);
      this.#send({
        report: {
          nodeId: id.address.nodeId,
          runId: id.runId,
          role: id.role(),
          load: id.load(),
          reportId,
        },
      });
    } else if (
      now >= this.#retryRegisterAt &&
      (!this.#registering || now - this.#lastRegisterSent > this.#options.reportIntervalMs * 5)
    ) {
      this.#sendRegister(now);
    }
  }

  #onFrames(frames: Uint8Array[]): void {
    let message: ClusterMessage;
    try {
      message = decodeCluster(frames[frames.length - 1]);
    } catch (err) {
      logger.warn("Bad message from the registry ignored: {error}", {
        error: (err as Error).message,
      });
      return;
    }
    const now = performance.now();
    this.#lastHeard = now;
    if (this.#down) {
      this.#down = false;
      logger.info("Registry {endpoint} answers again", { endpoint: this.endpoint });
    }
    this.#backoff.reset();
    const epoch = message.epoch ?? 0;
    const onCommand = this.#options.onCommand;
    switch (message.msg) {
      case "registerReply": {
        const reply = message.registerReply!;
        this.#registering = false;
        if (!reply.accepted) {
          this.#lastRejection = reply.reason ?? "no reason given";
          const retryAfterMs = reply.retryAfterMs ?? 0;
          if (retryAfterMs > 0) {
            // Not final (e.g. this node's crashed previous run is not yet known dead): try again.
            logger.warn("Registry rejected registration for now: {reason}; retrying in {ms} ms", {
              reason: this.#lastRejection,
              ms: retryAfterMs,
            });
            this.#retryRegisterAt = now + retryAfterMs;
            return;
          }
          logger.error("Registry rejected registration: {reason}", { reason: this.#lastRejection });
          if (this.#registerWaiter && !this.#registered) {
            const waiter = this.#registerWaiter;
            this.#registerWaiter = undefined;
            waiter.reject(
              new RegistrationError(`Registry rejected the node: ${this.#lastRejection}`),
            );
            this.close();
          }
          return;
        }
        this.#lastFreshAck = Math.max(this.#lastFreshAck, this.#lastRegisterSent);
        const first = !this.#registered;
        this.#registered = true;
        logger.info("{what} with registry {endpoint} as {role} (epoch {epoch}{master})", {
          what: first ? "Registered" : "Re-registered",
          endpoint: this.endpoint,
          role: roleName(reply.role),
          epoch,
          master: reply.master?.nodeId ? `, master ${reply.master.nodeId}` : "",
        });
        // Adopt the role first: a failure to follow the master must not be mistaken for silence.
        try {
          onCommand({
            type: "master_info",
            master: reply.master?.nodeId ? reply.master : undefined,
            epoch,
            role: reply.role ?? undefined,
          });
        } finally {
          if (this.#registerWaiter) {
            const waiter = this.#registerWaiter;
            this.#registerWaiter = undefined;
            waiter.resolve();
          }
        }
        return;
      }
      case "reportAck": {
        const ack = message.reportAck!;
        // Contact counts from when the acknowledged report was sent, so an old ack read late (after the
        // process was paused) does not look like fresh contact.
        const sentAt = this.#reportSentAt.get(ack.reportId ?? 0);
        if (sentAt !== undefined && sentAt > this.#lastFreshAck) this.#lastFreshAck = sentAt;
        if (!ack.known) {
          if (this.#registered) {
            logger.info(
              "Registry {endpoint} does not know this node (restarted?): registering again",
              {
                endpoint: this.endpoint,
              },
            );
          }
          this.#registered = false;
          this.#sendRegister(now);
          return;
        }
        onCommand({
          type: "master_info",
          master: ack.master?.nodeId ? ack.master : undefined,
          epoch,
        });
        return;
      }
      case "convertToMaster":
        onCommand({ type: "convert_to_master", epoch });
        return;
      case "changeMaster":
        if (message.changeMaster?.master?.nodeId) {
          onCommand({ type: "change_master", master: message.changeMaster.master, epoch });
        }
        return;
      case "prepare":
        onCommand({
          type: "prepare",
          epoch,
          registryId: message.prepare?.registryId ?? "",
          reply: (promise) => this.sendPromise(promise),
        });
        return;
      case "slaveRemoved":
        onCommand({
          type: "slave_removed",
          nodeId: message.slaveRemoved?.nodeId ?? "",
          reason: message.slaveRemoved?.reason ?? "",
        });
        return;
      case "error":
        logger.warn("Registry error: {code} {message}", {
          code: message.error?.code,
          message: message.error?.message,
        });
        return;
      default:
        logger.debug("Ignored {msg} from the registry", { msg: message.msg });
    }
  }

  /** Answers the registry's `prepare` (election round) with this node's promise or refusal. */
  sendPromise(promise: PromiseReply): void {
    if (this.#closed) return;
    this.#send({ promise });
  }

  /** Tells the registry the node leaves (best effort), stops reporting and closes. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#reportTimer);
    if (this.#registered) {
      const id = this.#options.identity;
      this.#send({ deregister: { nodeId: id.address.nodeId, runId: id.runId } });
    }
    this.#socket?.close();
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
