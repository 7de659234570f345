import { Pump } from "../transport/mod.ts";
import type { NodeConfig } from "../config/mod.ts";
import { bindClientPort, type ClientSocket } from "./client_port.ts";
import { log } from "../log/mod.ts";
import { type HttpPlane, serveRoutes } from "../http/mod.ts";
import { GameNode, requestLimits, worldOptionsOf } from "./game_node.ts";
import { ClusterCoordinator } from "./cluster/mod.ts";
import { SinglePlane } from "./single_plane.ts";
import { ReadWorkers } from "./read_workers.ts";
import { nodeRoutes } from "./node_http.ts";
import { type TransportFigures, ZMQ_TRANSPORT } from "./request_metrics.ts";
import { isWebSocketPeer, noWsCounts, type WsCounts, WsPlane } from "./ws_plane.ts";
import { formatPosition, Journal, type RecoveryReport } from "../persist/mod.ts";

const logger = log("node");

/** Options of {@linkcode NodeServer.start}. */
export interface NodeServerOptions {
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /** Shared pump (default: a new one owned by the server). */
  pump?: Pump;
}

/** Client connections by transport: open now, opened and closed since the start. */
export interface ConnectionsByTransport {
  zmq: { open: number; accepted: number; disconnects: number };
  ws: WsCounts;
}

/**
 * A running game node: the client socket, the WebSocket port (on the HTTP port), the tick loop and
 * (in cluster mode) the registry link and replication, wired around a {@linkcode GameNode}.
 */
export class NodeServer implements AsyncDisposable {
  /** The request-handling core. */
  readonly node: GameNode;
  /** The bound client port. */
  readonly clientPort: number;
  readonly #config: NodeConfig;
  readonly #pump: Pump;
  readonly #ownsPump: boolean;
  readonly #socket: ClientSocket;
  readonly #cluster: ClusterCoordinator | undefined;
  readonly #single: SinglePlane | undefined;
  readonly #journal: Journal | undefined;
  readonly #ws: WsPlane | undefined;
  readonly #closed: Promise<void>;
  #startedAt: number;
  #failure: Error | undefined;
  #resolveClosed!: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #nextTickAt = 0;
  #lastTickAt = 0;
  #ticking = false;
  #closing = false;

  private constructor(
    config: NodeConfig,
    node: GameNode,
    pump: Pump,
    ownsPump: boolean,
    socket: ClientSocket,
    planes: {
      cluster?: ClusterCoordinator;
      single?: SinglePlane;
      journal?: Journal;
      ws?: WsPlane;
    },
  ) {
    this.#config = config;
    this.#ws = planes.ws;
    this.#cluster = planes.cluster;
    this.#single = planes.single;
    this.#journal = planes.journal;
    this.node = node;
    this.#pump = pump;
    this.#ownsPump = ownsPump;
    this.#socket = socket;
    this.clientPort = socket.port;
    this.#startedAt = performance.now();
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /**
   * Binds the client port and starts ticking. With a `data_dir`, the world is first recovered from
   * it (the node's position is what it recovered) and every update is persisted from then on.
   */
  static async start(config: NodeConfig, options: NodeServerOptions = {}): Promise<NodeServer> {
    const pump = options.pump ?? new Pump();
    let cluster: ClusterCoordinator | undefined;
    try {
      if (config.mode === "cluster") cluster = await ClusterCoordinator.bind(pump, config);
    } catch (err) {
      if (!options.pump) await pump[Symbol.asyncDispose]();
      throw err;
    }
    const single = config.mode === "single"
      ? new SinglePlane({ config, persists: config.data_dir !== "" })
      : undefined;
    const sendRef: {
      socket?: ClientSocket;
      zmq?: TransportFigures;
      ws?: WsPlane;
      wsFigures?: TransportFigures;
    } = {};
    const serverRef: { server?: NodeServer } = {};
    const readers = startReaders(config);
    // A reply goes back over the transport its request came in on: the peer id tells which.
    const node = new GameNode({
      config,
      send: (peer, frame, format) => {
        if (isWebSocketPeer(peer)) {
          const sent = sendRef.ws?.send(peer, frame, format) ?? false;
          if (sent) sendRef.wsFigures!.bytesSent += frame.length;
          return sent;
        }
        const sent = sendRef.socket?.send(peer, frame) ?? false;
        if (sent) sendRef.zmq!.bytesSent += frame.length;
        return sent;
      },
      writePath: cluster?.writePath ?? single?.writePath,
      backlogBytes: (peer) =>
        isWebSocketPeer(peer)
          ? sendRef.ws?.backlogBytes(peer) ?? 0
          : sendRef.socket?.backlogBytes(peer) ?? 0,
      readers,
    }, performance.now());
    const zmq = sendRef.zmq = node.requests.of(ZMQ_TRANSPORT);
    // WebSocket clients come in through the HTTP port, when there is one.
    const ws = config.http_port > 0 ? new WsPlane(node, config) : undefined;
    sendRef.ws = ws;
    sendRef.wsFigures = node.requests.of("ws");
    let journal: Journal | undefined;
    let socket: ClientSocket;
    try {
      journal = config.data_dir
        ? openJournal(config, node, (error) => {
          if (serverRef.server) serverRef.server.#fail(error);
        })
        : undefined;
      single?.attach(node, journal);
      socket = await bindClientPort(
        pump,
        config,
        (peer, frames) => {
          for (const frame of frames) zmq.bytesReceived += frame.length;
          node.handleFrame(peer, frames, performance.now(), { transport: ZMQ_TRANSPORT });
        },
      );
    } catch (err) {
      readers?.close();
      await cluster?.close();
      await journal?.close();
      if (!options.pump) await pump[Symbol.asyncDispose]();
      throw err;
    }
    sendRef.socket = socket;
    const server = new NodeServer(config, node, pump, !options.pump, socket, {
      cluster,
      single,
      journal,
      ws,
    });
    serverRef.server = server;
    try {
      // Before registering: /healthz and /readyz answer (not ready) while the registry decides.
      if (config.http_port > 0) server.#serveHttp();
      await cluster?.join(node, socket.port, journal);
    } catch (err) {
      readers?.close();
      // Idempotent: join() has closed the cluster side already when no registry accepted the node.
      await cluster?.close();
      await server.#http?.shutdown();
      socket.close();
      await journal?.close();
      if (!options.pump) await pump[Symbol.asyncDispose]();
      throw err;
    }
    if (readers) server.#closed.then(() => readers.close());
    server.#startTicking();
    options.signal?.addEventListener("abort", () => server.close(), { once: true });
    logger.info("Node {nodeId} ({mode}) listening for clients on tcp://{host}:{port}", {
      nodeId: config.node_id,
      mode: config.mode,
      host: config.host,
      port: socket.port,
    });
    return server;
  }

  /**
   * The node's counters with the client socket's: replies the transport dropped because a
   * connection's backlog was full (`overflowed`) or its peer was gone (`unroutable`), client
   * connections opened (`accepted`) and closed (`disconnects`: by the client, or by the node for a
   * frame over `clients.frame_disconnect_bytes`); and the same of the WebSocket port (`ws…`, see
   * {@linkcode WsCounts}).
   */
  get counters(): Record<string, number> {
    const socket = this.#socket.stats;
    const connections = this.#socket.connectionCounts;
    const ws = this.#ws?.counts;
    return {
      ...this.node.counters,
      overflowed: socket.overflowed,
      unroutable: socket.unroutable,
      accepted: connections.accepted,
      disconnects: connections.disconnected,
      wsAccepted: ws?.accepted ?? 0,
      wsDisconnects: ws?.disconnects ?? 0,
      wsTooLarge: ws?.tooLarge ?? 0,
      wsIdleClosed: ws?.idleClosed ?? 0,
      wsOverflowed: ws?.overflowed ?? 0,
      wsUnroutable: ws?.unroutable ?? 0,
    };
  }

  /** The node's id (`node_id`). */
  get nodeId(): string {
    return this.#config.node_id;
  }

  /** Client connections by transport (ZeroMQ's open count is accepted minus closed). */
  get transports(): ConnectionsByTransport {
    const zmq = this.#socket.connectionCounts;
    const ws = this.#ws?.counts;
    return {
      zmq: {
        open: zmq.accepted - zmq.disconnected,
        accepted: zmq.accepted,
        disconnects: zmq.disconnected,
      },
      ws: ws ? { ...ws } : noWsCounts(),
    };
  }

  /** The WebSocket client port (`/ws` on the HTTP port); undefined while `http_port` is 0. */
  get ws(): WsPlane | undefined {
    return this.#ws;
  }

  /** The error that stopped the node (its journal failed), if one did. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** The node's config, as it started. */
  get config(): Readonly<NodeConfig> {
    return this.#config;
  }

  /** The node's journal (with a `data_dir`). */
  get journal(): Journal | undefined {
    return this.#journal;
  }

  /** The cluster coordinator (cluster mode only). */
  get cluster(): ClusterCoordinator | undefined {
    return this.#cluster;
  }

  /**
   * Liveness at `now` (performance.now() ms): the tick loop ran within the last second or five
   * ticks, whichever is longer; false once closing. `reason` says why, for `/healthz`.
   */
  health(now: number): { ok: boolean; reason: string } {
    if (this.#closing) return { ok: false, reason: "Shutting down" };
    if (!this.#ticking) return { ok: true, reason: "Starting: registering with the registry" };
    const tickMs = this.#config.world.tick_time * 1000;
    // Before the first tick, the loop counts from when it started.
    const last = this.#lastTickAt || this.#startedAt;
    const age = now - last;
    const limit = Math.max(1000, 5 * tickMs);
    return age <= limit
      ? { ok: true, reason: `Ticking (last tick ${Math.round(age)} ms ago)` }
      : { ok: false, reason: `No tick for ${Math.round(age)} ms (limit ${limit} ms)` };
  }

  /**
   * Readiness for clients, for `/readyz`: a single node once listening; a cluster node registered
   * with a registry and master, or a slave replicating its master live (see
   * {@linkcode ClusterCoordinator.readiness}).
   */
  readiness(): { ready: boolean; reason: string } {
    if (this.#closing) return { ready: false, reason: "Shutting down" };
    if (this.#cluster) return this.#cluster.readiness();
    return { ready: true, reason: `Single node listening on port ${this.clientPort}` };
  }

  /** Resolves once the server has stopped. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  #startTicking(): void {
    const tickMs = this.#config.world.tick_time * 1000;
    this.#ticking = true;
    this.#startedAt = performance.now();
    this.#nextTickAt = performance.now() + tickMs;
    let timerDue = this.#nextTickAt;
    const run = () => {
      if (this.#closing) return;
      const start = performance.now();
      // The budget is the whole loop, requests included: a tick that starts late says so even
      // when tick() itself is quick. Two subtractions per tick.
      this.node.recordTickStart(start - this.#nextTickAt, start - timerDue);
      try {
        this.node.tick(start);
        if (this.#cluster) this.#cluster.afterTick(performance.now());
        else this.#single?.afterTick(performance.now());
      } catch (err) {
        logger.error("Tick failed: {error}", { error: (err as Error)?.stack ?? String(err) });
      }
      const end = performance.now();
      this.#lastTickAt = end;
      // A slave measures the updates it applies instead (see SlavePlane).
      if (this.node.authoritative) this.node.recordTick(end - start, end);
      this.#nextTickAt += tickMs;
      // Far behind (a stall): skip ahead rather than burst through missed ticks.
      if (this.#nextTickAt < end - 5 * tickMs) this.#nextTickAt = end + tickMs;
      const wait = Math.max(0, this.#nextTickAt - end);
      timerDue = end + wait;
      this.#timer = setTimeout(run, wait);
    };
    this.#timer = setTimeout(run, tickMs);
    // The report window: roll tick statistics once per second in single mode.
    const roll = setInterval(() => this.node.ticks.roll(), 1000);
    this.#closed.then(() => clearInterval(roll));
  }

  #http: HttpPlane | undefined;

  /** The bound HTTP port (status, metrics); undefined while `http_port` is 0. */
  get httpPort(): number | undefined {
    return this.#http?.port;
  }

  #serveHttp(): void {
    const config = this.#config;
    this.#http = serveRoutes(
      {
        bind: config.bind,
        port: config.http_port,
        name: `Node ${config.node_id}`,
        host: config.host,
      },
      nodeRoutes(this),
    );
  }

  /** Tells clients the node is going away, closes sockets and stops ticking. Idempotent. */
  async close(): Promise<void> {
    if (this.#closing) return this.#closed;
    this.#closing = true;
    clearTimeout(this.#timer);
    try {
      this.node.broadcastNotice("NOTICE_KIND_SHUTDOWN", "Node shutting down");
    } catch { /* best effort */ }
    await this.#cluster?.close();
    this.#single?.close();
    await this.#journal?.close();
    this.#ws?.close();
    await this.#http?.shutdown();
    this.#socket.close();
    if (this.#ownsPump) await this.#pump[Symbol.asyncDispose]();
    logger.info("Node {nodeId} stopped ({users} users, {connections} connections at the end)", {
      nodeId: this.#config.node_id,
      users: this.node.state.world.size,
      connections: this.node.clients.connections,
    });
    this.#resolveClosed();
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The journal cannot write: acknowledging anything more would be a lie, so the node stops. */
  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    logger.fatal("Stopping: {error}", { error: error.message });
    this.close();
  }
}

/** Opens the node's journal, recovering its world; logs what was recovered and what was not. */
function openJournal(
  config: NodeConfig,
  node: GameNode,
  onFailure: (error: Error) => void,
): Journal {
  const started = performance.now();
  const { journal, report } = Journal.open(node.state, {
    dir: config.data_dir,
    nodeId: config.node_id,
    snapshotIntervalMs: config.persistence.snapshot_interval_s * 1000,
    snapshotLogBytes: config.persistence.snapshot_log_mb * 1024 * 1024,
    sliceMs: config.persistence.snapshot_slice_ms,
    onFailure,
  });
  node.recordPosition(report.position.epoch, report.position.seq);
  logRecovery(config, report, node, performance.now() - started);
  return journal;
}

function logRecovery(
  config: NodeConfig,
  report: RecoveryReport,
  node: GameNode,
  ms: number,
): void {
  for (const problem of report.problems) logger.warn("Recovery: {problem}", { problem });
  if (report.discarded.records > 0 || report.discarded.bytes > 0) {
    logger.warn(
      "Recovery discarded {records} log record(s) ({bytes} bytes) that failed their checks or did not follow",
      report.discarded,
    );
  }
  logger.info(
    "Recovered {users} users from {dir} at {position} (snapshot {snapshot}, {replayed} updates replayed) in {ms} ms",
    {
      users: node.state.world.size,
      dir: config.data_dir,
      position: formatPosition(report.position),
      snapshot: report.snapshot ?? "none",
      replayed: report.replayed,
      ms: Math.round(ms),
    },
  );
}

/** The reader workers `clients.read_workers` asks for (none for 0). */
function startReaders(config: NodeConfig): ReadWorkers | undefined {
  const count = config.clients.read_workers;
  if (count === 0) return undefined;
  logger.info("Queries are answered by {count} reader worker(s)", { count });
  return ReadWorkers.start({
    count,
    world: worldOptionsOf(config),
    maxResults: config.world.max_query_results,
    limits: requestLimits(config),
  });
}
