import { type Pump, RouterSocket } from "../transport/mod.ts";
import {
  type ClusterMessage,
  decodeCluster,
  decodeEnvelope,
  detectFormat,
  encodeCluster,
  encodeEnvelope,
  type NodeAddress as WireAddress,
  type NodeLoad as WireLoad,
  ProtocolError,
  type Role as WireRole,
} from "../protocol/mod.ts";
import { bindEndpoint, type RegistryConfig, startupClusterCurve } from "../config/mod.ts";
import { log, logMessage } from "../log/mod.ts";
import { Sentinel } from "./sentinel.ts";
import type { DiscoverResult, NodeAddress, NodeLoad, Role, SentinelAction } from "./types.ts";
import { type HttpPlane, serveRoutes } from "../http/mod.ts";
import { ClusterEvents } from "./cluster_events.ts";
import { dashboardRoutes } from "./dashboard_routes.ts";
import { newRegistryCounters, type RegistryCounters } from "./registry_metrics.ts";
import { registryRoutes } from "./registry_http.ts";

const logger = log("registry");

/** Options of {@linkcode RegistryServer.start}. */
export interface RegistryServerOptions {
  pump: Pump;
  signal?: AbortSignal;
}

/**
 * The registry process: a CURVE-secured cluster socket for nodes (registration, reports, commands), a
 * separate discovery socket for clients, and the {@linkcode Sentinel} ticking between them. A thin
 * adapter: protobuf in and out, every decision made by the sentinel.
 */
export class RegistryServer implements AsyncDisposable {
  /** The sentinel state machine. */
  readonly sentinel: Sentinel;
  /** The bound cluster port. */
  readonly clusterPort: number;
  /** The bound discovery port. */
  readonly discoveryPort: number;
  readonly #cluster: RouterSocket;
  readonly #discovery: RouterSocket;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #closed: Promise<void>;
  #resolveClosed!: () => void;
  #closing = false;
  #http: HttpPlane | undefined;
  readonly #startedAt = Date.now();
  /** Recent registrations, deaths, elections and role changes, for the dashboard's timeline. */
  readonly events: ClusterEvents;
  /** What the server counted since it started (read by `/metrics` and `/status`). */
  readonly counters: RegistryCounters = newRegistryCounters();
  /** The id this registry gives itself in elections (`host:cluster_port`; the metrics' label). */
  readonly registryId: string;
  readonly #tickMs: number;
  #lastTickAt: number;
  /** The epoch of the last election round started (rounds are counted once, not per prepare). */
  #roundEpoch = 0;

  private constructor(
    sentinel: Sentinel,
    sockets: { cluster: RouterSocket; discovery: RouterSocket },
    options: { tickMs: number; registryId: string },
  ) {
    this.sentinel = sentinel;
    this.registryId = options.registryId;
    this.#cluster = sockets.cluster;
    this.#discovery = sockets.discovery;
    this.clusterPort = sockets.cluster.port;
    this.discoveryPort = sockets.discovery.port;
    this.#tickMs = options.tickMs;
    this.#lastTickAt = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#lastTickAt = now;
      this.#apply(this.sentinel.tick(now));
    }, options.tickMs);
    this.events = new ClusterEvents(this.#startedAt);
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /** Binds both sockets and starts the sentinel. */
  static async start(
    config: RegistryConfig,
    options: RegistryServerOptions,
  ): Promise<RegistryServer> {
    const curve = startupClusterCurve(config.curve, [config.bind, config.host]);
    const registryId = `${config.host}:${config.cluster_port}`;
    const sentinel = new Sentinel({
      nodeTimeoutMs: config.node_timeout_ms,
      recoveryGraceMs: config.recovery_grace_ms,
      electionTimeoutMs: config.election_timeout_ms,
      registryId,
      now: performance.now(),
    });
    const ref: { server?: RegistryServer } = {};
    const cluster = await RouterSocket.bind(
      options.pump,
      bindEndpoint(config.bind, config.cluster_port),
      (peer, frames) => ref.server?.onClusterFrame(peer, frames),
      { curve: curve?.server, maxMessageSize: 1024 * 1024 },
    );
    let discovery: RouterSocket;
    try {
      discovery = await RouterSocket.bind(
        options.pump,
        bindEndpoint(config.bind, config.discovery_port),
        (peer, frames) => ref.server?.onDiscoveryFrame(peer, frames),
        { maxMessageSize: 64 * 1024 },
      );
    } catch (err) {
      cluster.close();
      throw err;
    }
    const server = new RegistryServer(sentinel, { cluster, discovery }, {
      tickMs: config.tick_ms,
      registryId,
    });
    ref.server = server;
    if (config.http_port > 0) server.#serveHttp(config);
    options.signal?.addEventListener("abort", () => server.close(), { once: true });
    logger.info(
      "Registry listening: nodes on tcp://{host}:{cluster} ({curve}), clients on tcp://{host}:{discovery}",
      {
        host: config.host,
        cluster: cluster.port,
        discovery: discovery.port,
        curve: curve ? "CURVE" : "no CURVE",
      },
    );
    return server;
  }

  /** Resolves once the server has stopped. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /**
   * The node a client should use (the least-loaded live one, or the master with `wantMaster`), as
   * the discovery port and `/discover` answer it; counted by `transport`.
   */
  discover(wantMaster: boolean, transport: "zmq" | "http"): DiscoverResult {
    const result = this.sentinel.discover({ wantMaster }, performance.now());
    let counts = this.counters.discoveries.get(transport);
    if (!counts) this.counters.discoveries.set(transport, counts = { node: 0, none: 0 });
    counts[result.type]++;
    return result;
  }

  /**
   * Liveness at `now` (performance.now() ms): the sentinel's tick ran within the last second or
   * ten ticks, whichever is longer; false once closing.
   */
  health(now: number): { ok: boolean; reason: string } {
    if (this.#closing) return { ok: false, reason: "Shutting down" };
    const age = now - this.#lastTickAt;
    const limit = Math.max(1000, 10 * this.#tickMs);
    return age <= limit
      ? { ok: true, reason: `Ticking (last sweep ${Math.round(age)} ms ago)` }
      : { ok: false, reason: `No sweep for ${Math.round(age)} ms (limit ${limit} ms)` };
  }

  /**
   * Readiness: the registry has a view of the cluster once a node has registered and its recovery
   * grace (rebuilding the cluster from registrations after a start) is over.
   */
  readiness(): { ready: boolean; reason: string } {
    if (this.#closing) return { ready: false, reason: "Shutting down" };
    const view = this.sentinel.snapshot();
    if (view.members === null) return { ready: false, reason: "No node has registered yet" };
    if (view.recovering) {
      return { ready: false, reason: "Recovering: rebuilding the cluster from registrations" };
    }
    const alive = view.nodes.filter((n) => n.alive).length;
    return {
      ready: true,
      reason: `${alive} of ${view.members.length} members alive, master ${
        view.masterId ?? "none"
      } at epoch ${view.epoch}`,
    };
  }

  /** Handles a node's message. Never throws. */
  onClusterFrame(peer: Uint8Array, frames: Uint8Array[]): void {
    let message: ClusterMessage;
    try {
      message = decodeCluster(frames[frames.length - 1]);
    } catch (err) {
      this.counters.badFrames++;
      this.#cluster.send(peer, encodeCluster({ error: errorOf(err) }));
      return;
    }
    const now = performance.now();
    const epoch = message.epoch ?? 0;
    try {
      switch (message.msg) {
        case "register": {
          const r = message.register!;
          const address = fromWireAddress(r.address);
          if (!address.nodeId || !r.runId) {
            throw new ProtocolError(
              "INVALID_ARGUMENT",
              "register needs address.node_id and run_id",
            );
          }
          this.#apply(this.sentinel.register({
            peer,
            address,
            runId: r.runId,
            role: fromWireRole(r.role),
            load: fromWireLoad(r.load),
            masterId: r.masterId ?? undefined,
            epoch,
            members: (r.members ?? []).filter((m) => typeof m === "string"),
          }, now));
          return;
        }
        case "promise": {
          const p = message.promise!;
          if (!p.nodeId || !p.runId) {
            throw new ProtocolError("INVALID_ARGUMENT", "promise needs node_id and run_id");
          }
          this.#apply(this.sentinel.promise({
            peer,
            nodeId: p.nodeId,
            runId: p.runId,
            granted: p.granted === true,
            epoch: num(p.epoch),
            promisedEpoch: num(p.promisedEpoch),
            position: { epoch: num(p.positionEpoch), seq: num(p.positionSeq) },
            load: fromWireLoad(p.load),
            configuredRole: fromWireRole(p.configuredRole),
          }, now));
          return;
        }
        case "report": {
          const r = message.report!;
          if (!r.nodeId || !r.runId) {
            throw new ProtocolError("INVALID_ARGUMENT", "report needs node_id and run_id");
          }
          this.#reportId = r.reportId ?? 0;
          this.#apply(this.sentinel.report({
            peer,
            nodeId: r.nodeId,
            runId: r.runId,
            role: fromWireRole(r.role),
            load: fromWireLoad(r.load),
            epoch,
          }, now));
          this.#reportId = 0;
          return;
        }
        case "deregister": {
          const d = message.deregister!;
          this.#apply(
            this.sentinel.deregister({ nodeId: d.nodeId ?? "", runId: d.runId ?? "" }, now),
          );
          return;
        }
        default:
          throw new ProtocolError(
            "UNKNOWN_OPERATION",
            `The registry does not handle ${message.msg ?? "an empty message"}`,
          );
      }
    } catch (err) {
      this.counters.badFrames++;
      this.#cluster.send(peer, encodeCluster({ error: errorOf(err) }));
    }
  }

  #reportId = 0;

  /** Handles a client's discovery request. Never throws. */
  onDiscoveryFrame(peer: Uint8Array, frames: Uint8Array[]): void {
    const frame = frames[frames.length - 1];
    const format = frame ? detectFormat(frame) : "binary";
    let clientId = "";
    let requestId = 0;
    try {
      if (frames.length !== 1 || frame.length > 64 * 1024) {
        throw new ProtocolError("BAD_FRAME", "Expected one frame of at most 64 KiB");
      }
      const envelope = decodeEnvelope(frame, format);
      clientId = typeof envelope.clientId === "string" ? envelope.clientId : "";
      requestId = envelope.requestId ?? 0;
      if (envelope.msg === "ping") {
        this.#discovery.send(
          peer,
          encodeEnvelope({
            clientId,
            requestId,
            pong: {
              clientTimeMs: envelope.ping?.clientTimeMs ?? 0,
              serverTimeMs: Date.now(),
              nodeId: "registry",
            },
          }, format),
        );
        return;
      }
      if (envelope.msg !== "discover") {
        throw new ProtocolError(
          "UNKNOWN_OPERATION",
          "The registry's client port answers discover (and ping) only",
        );
      }
      const result = this.discover(envelope.discover?.wantMaster === true, "zmq");
      const reply = result.type === "node"
        ? { clientId, requestId, discoverReply: { node: toWireAddress(result.node) } }
        : {
          clientId,
          requestId,
          error: { code: "NO_NODE_AVAILABLE" as const, message: result.reason },
        };
      this.#discovery.send(peer, encodeEnvelope(reply, format));
    } catch (err) {
      this.counters.badFrames++;
      this.#discovery.send(
        peer,
        encodeEnvelope({ clientId, requestId, error: errorOf(err) }, format),
      );
    }
  }

  #apply(actions: SentinelAction[]): void {
    // Anything but a routine report ack may come with a change worth a line on the timeline.
    if (actions.some((a) => a.type !== "report_ack")) {
      this.events.observe(this.sentinel.snapshot(), Date.now());
    }
    for (const action of actions) {
      switch (action.type) {
        case "log":
          logMessage(logger, action.level, action.message, action.fields);
          break;
        case "register_reply":
          this.#sendTo(action.peer, {
            epoch: action.epoch,
            registerReply: {
              accepted: action.accepted,
              reason: action.reason,
              role: toWireRole(action.role),
              master: action.master ? toWireAddress(action.master) : undefined,
              retryAfterMs: action.retryAfterMs ?? 0,
            },
          });
          break;
        case "report_ack":
          this.#sendTo(action.peer, {
            epoch: action.epoch,
            reportAck: {
              known: action.known,
              master: action.master ? toWireAddress(action.master) : undefined,
              reportId: this.#reportId,
            },
          });
          break;
        case "convert_to_master":
          this.counters.promotions++;
          logger.info("Promoting {nodeId} to master at epoch {epoch}", {
            nodeId: action.nodeId,
            epoch: action.epoch,
          });
          this.#sendTo(action.peer, {
            epoch: action.epoch,
            convertToMaster: { nodeId: action.nodeId },
          });
          break;
        case "change_master":
          this.counters.masterChanges++;
          this.#sendTo(action.peer, {
            epoch: action.epoch,
            changeMaster: { master: toWireAddress(action.master) },
          });
          break;
        case "slave_removed":
          this.#sendTo(action.peer, {
            epoch: action.epoch,
            slaveRemoved: { nodeId: action.nodeId, reason: action.reason },
          });
          break;
        case "prepare":
          if (action.epoch !== this.#roundEpoch) {
            this.#roundEpoch = action.epoch;
            this.counters.electionRounds++;
          }
          this.#sendTo(action.peer, {
            epoch: action.epoch,
            prepare: { registryId: action.registryId },
          });
          break;
      }
    }
  }

  #sendTo(peer: Uint8Array | string, message: ClusterMessage): void {
    const routing = typeof peer === "string" ? new TextEncoder().encode(peer) : peer;
    this.#cluster.send(routing, encodeCluster(message));
  }

  #serveHttp(config: RegistryConfig): void {
    this.#http = serveRoutes({
      bind: config.bind,
      port: config.http_port,
      name: "Registry",
      host: config.host,
    }, {
      ...registryRoutes(this),
      ...dashboardRoutes({
        registryId: this.registryId,
        startedAt: this.#startedAt,
        events: this.events,
      }),
    });
  }

  /** The bound HTTP port (status, metrics, health, discovery); undefined while `http_port` is 0. */
  get httpPort(): number | undefined {
    return this.#http?.port;
  }

  /** Closes both sockets and stops ticking. Idempotent. */
  async close(): Promise<void> {
    if (this.#closing) return this.#closed;
    this.#closing = true;
    clearInterval(this.#timer);
    this.#cluster.close();
    this.#discovery.close();
    await this.#http?.shutdown();
    logger.info("Registry stopped");
    this.#resolveClosed();
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function errorOf(err: unknown) {
  if (err instanceof ProtocolError) return { code: err.code, message: err.message };
  return { code: "INTERNAL" as const, message: "Internal error" };
}

function fromWireRole(role: WireRole | null | undefined): Role {
  return role === "ROLE_MASTER" ? "master" : role === "ROLE_SLAVE" ? "slave" : "single";
}

function toWireRole(role: Role): WireRole {
  return role === "master" ? "ROLE_MASTER" : role === "slave" ? "ROLE_SLAVE" : "ROLE_SINGLE";
}

function num(value: number | null | undefined, max = Number.MAX_SAFE_INTEGER): number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= max
    ? value
    : 0;
}

function fromWireAddress(a: WireAddress | null | undefined): NodeAddress {
  return {
    nodeId: a?.nodeId ?? "",
    host: a?.host ?? "",
    clientPort: num(a?.clientPort, 65535),
    clusterPort: num(a?.clusterPort, 65535),
    publishPort: num(a?.publishPort, 65535),
    httpPort: num(a?.httpPort, 65535),
    role: fromWireRole(a?.role),
  };
}

function toWireAddress(a: NodeAddress): WireAddress {
  return { ...a, role: toWireRole(a.role) };
}

function fromWireLoad(l: WireLoad | null | undefined): Partial<NodeLoad> {
  return {
    connections: num(l?.connections),
    users: num(l?.users),
    tickAvgMs: num(l?.tickAvgMs),
    tickP99Ms: num(l?.tickP99Ms),
    loadFactor: num(l?.loadFactor),
    lastSeq: num(l?.lastSeq),
    sessions: num(l?.sessions),
  };
}
