import {
  decodeEnvelope,
  detectFormat,
  encodeEnvelope,
  type Envelope,
  type ErrorCode,
  type NodeLoad,
  parseRequest,
  ProtocolError,
  type Request,
  type RequestLimits,
  type Role,
  type UserState,
  type WireFormat,
} from "../protocol/mod.ts";
import { log } from "../log/mod.ts";
import { TickStats, type TickSummary } from "../metrics/mod.ts";
import type { NodeConfig } from "../config/mod.ts";
import { type ClientEntry, ClientTable } from "./client_table.ts";
import { GameState, newToken } from "../state/mod.ts";

/** Sends one frame to a client connection; false when the transport dropped it. */
export type SendFn = (peer: Uint8Array, frame: Uint8Array) => boolean;

/** A write a slave hands to the master; `done` receives the master's reply envelope. */
export interface ForwardedWrite {
  clientId: string;
  requestId: number;
  /** The client's request, re-encoded for the master. */
  request: Envelope;
  /** The user this client's session is bound to here (0 = none). */
  userId: number;
  done: (reply: Envelope) => void;
}

/** How a node performs writes: locally (single, master) or by forwarding to the master (slave). */
export interface WritePath {
  /** Slave: send the write to the master; false when no master is reachable. */
  forward?: (write: ForwardedWrite) => boolean;
  /**
   * Master (and a single node that persists): call `ack` with the replication sequence that carries
   * the writes applied so far, once a majority holds it (on disk, with persistence), or `fail`
   * (timeout, step-down).
   */
  whenDurable?: (
    ack: (seq: number) => void,
    fail: (code: ErrorCode, message: string) => void,
  ) => void;
  /** Slave: ask the master to remove a vanished client's user unless it was resumed since. */
  expire?: (userId: number, generation: number) => void;
  /** Master: false while fenced (cut off from registry and every slave): writes are refused. */
  canAcknowledge?: () => boolean;
}

/** Load figures for status replies and registry reports. */
export interface NodeLoadFigures {
  connections: number;
  sessions: number;
  users: number;
  tick: TickSummary;
}

/** Options of {@linkcode GameNode}. */
export interface GameNodeOptions {
  config: NodeConfig;
  send: SendFn;
  /** Random numbers in [0, 1) for spawn positions (injectable for tests). */
  random?: () => number;
  /** How writes are performed in a cluster (see {@linkcode WritePath}); none: locally, at once. */
  writePath?: WritePath;
}

const logger = log("node");

/**
 * A game node's request handling, independent of sockets and timers: frames in (with the time),
 * replies out through `send`. Holds the world, the client table and the write path of its role.
 * Its role, epoch and sequence change only through its own methods ({@linkcode GameNode.becomeMaster},
 * {@linkcode GameNode.becomeSlave}, {@linkcode GameNode.recordPosition}), which the cluster coordinator calls.
 */
export class GameNode {
  /** The replicated state. */
  readonly state: GameState;
  /** The clients this node serves. */
  readonly clients: ClientTable;
  /** Tick statistics. */
  readonly ticks: TickStats;
  /** How writes are performed (given at construction). */
  readonly writePath: WritePath;

  #role: Role;
  #epoch = 0;
  #masterId = "";
  #position = { epoch: 0, seq: 0 };
  readonly #config: NodeConfig;
  readonly #send: SendFn;
  readonly #random: () => number;
  readonly #limits: RequestLimits;
  readonly #results: Uint32Array;
  readonly #lingering = new Map<number, { deadline: number; generation: number }>();
  readonly #startedAt: number;
  readonly #counters = { requests: 0, errors: 0, dropped: 0, badFrames: 0 };
  #tick = 0;
  #lastOverloadLog = -Infinity;

  /** Creates a node core from its config. */
  constructor(options: GameNodeOptions, now = 0) {
    const c = options.config;
    this.#config = c;
    this.#send = options.send;
    this.#random = options.random ?? Math.random;
    this.writePath = options.writePath ?? {};
    // A cluster node acts as master only once elected: until the registry says, it follows nobody.
    this.#role = c.mode === "single" ? "ROLE_SINGLE" : "ROLE_SLAVE";
    this.state = new GameState({
      width: c.world.width,
      height: c.world.height,
      cellSize: c.world.cell_size,
      maxUsers: c.world.max_users,
      maxSpeed: c.world.max_speed,
      initialMoney: c.world.initial_money,
    }, c.world.tick_time);
    this.clients = new ClientTable({
      idleTimeoutMs: c.clients.idle_timeout_ms,
      maxClients: c.clients.max_clients,
      maxRequestsPerSecond: c.clients.max_requests_per_second,
    });
    this.ticks = new TickStats(c.world.tick_time * 1000);
    this.#limits = {
      maxSpeed: c.world.max_speed,
      maxAoeRadius: c.world.max_aoe_radius,
      maxQueryRadius: c.world.max_query_radius,
      maxAoeAmount: c.world.max_aoe_amount,
      maxCoordinate: 1e9,
    };
    this.#results = new Uint32Array(c.world.max_query_results);
    this.#startedAt = now;
  }

  /** Counters for status and tests. */
  get counters(): Readonly<
    { requests: number; errors: number; dropped: number; badFrames: number }
  > {
    return this.#counters;
  }

  /** The world tick count. */
  get tickCount(): number {
    return this.#tick;
  }

  /** Current role. */
  get role(): Role {
    return this.#role;
  }

  /** The cluster epoch this node acts in. */
  get epoch(): number {
    return this.#epoch;
  }

  /** The master's node id when known. */
  get masterId(): string {
    return this.#masterId;
  }

  /** Last replication sequence published (master) or applied (slave). */
  get lastSeq(): number {
    return this.#position.seq;
  }

  /**
   * The epoch and sequence of the last replication update this node holds (published as master,
   * applied or restored as slave); `{ 0, 0 }` for a node that holds nothing yet.
   */
  get position(): Readonly<{ epoch: number; seq: number }> {
    return this.#position;
  }

  /** True when this node runs the world update itself (single and master). */
  get authoritative(): boolean {
    return this.#role !== "ROLE_SLAVE";
  }

  /** Takes the master role (or a new epoch as master): this node now performs every write. */
  becomeMaster(epoch: number): void {
    this.#assertCluster();
    this.#role = "ROLE_MASTER";
    this.#epoch = epoch;
    this.#masterId = this.#config.node_id;
  }

  /** Takes the slave role under `masterId` at `epoch`: writes are forwarded from now on. */
  becomeSlave(masterId: string, epoch: number): void {
    this.#assertCluster();
    this.#role = "ROLE_SLAVE";
    this.#epoch = epoch;
    this.#masterId = masterId;
  }

  /** Records the last replication update published (master) or applied (slave). */
  recordPosition(epoch: number, seq: number): void {
    this.#position = { epoch, seq };
  }

  #assertCluster(): void {
    if (this.#config.mode !== "cluster") throw new Error("A single node has no cluster role");
  }

  /** Load figures. */
  load(): NodeLoadFigures {
    return {
      connections: this.clients.connections,
      sessions: this.clients.sessions,
      users: this.state.world.size,
      tick: this.ticks.last,
    };
  }

  /** Load figures as status replies and registry reports carry them. */
  loadReport(): NodeLoad {
    const load = this.load();
    return {
      connections: load.connections,
      users: load.users,
      tickAvgMs: load.tick.avgMs,
      tickP99Ms: load.tick.p99Ms,
      loadFactor: load.tick.loadFactor,
      lastSeq: this.#position.seq,
      sessions: load.sessions,
    };
  }

  /** Handles one message from a client connection. Never throws. */
  handleFrame(peer: Uint8Array, frames: Uint8Array[], now: number): void {
    this.#counters.requests++;
    const frame = frames[frames.length - 1];
    if (frames.length !== 1 || !frame) {
      this.#counters.badFrames++;
      this.#replyError(
        peer,
        "binary",
        "",
        0,
        "BAD_FRAME",
        "Expected exactly one frame per message",
      );
      return;
    }
    const format = detectFormat(frame);
    if (frame.length > this.#config.clients.max_frame_bytes) {
      this.#counters.badFrames++;
      this.#replyError(
        peer,
        format,
        "",
        0,
        "FRAME_TOO_LARGE",
        `Frame of ${frame.length} bytes exceeds max_frame_bytes ${this.#config.clients.max_frame_bytes}`,
      );
      return;
    }
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(frame, format);
    } catch (err) {
      this.#counters.badFrames++;
      const e = err instanceof ProtocolError ? err : new ProtocolError("BAD_FRAME", String(err));
      this.#replyError(peer, format, "", 0, e.code, e.message);
      return;
    }
    const clientId = typeof envelope.clientId === "string" ? envelope.clientId : "";
    const requestId = envelope.requestId ?? 0;
    let request: Request;
    try {
      request = parseRequest(envelope, this.#limits);
    } catch (err) {
      const e = err instanceof ProtocolError ? err : new ProtocolError("INTERNAL", String(err));
      this.#replyError(peer, format, clientId, requestId, e.code, e.message);
      return;
    }
    const boundBefore = this.clients.get(clientId)?.userId ?? 0;
    const admitted = this.clients.admit(clientId, peer, format, now);
    // A session detached by a move to another connection lingers like a dropped client's: if the
    // client never resumes, its user must still expire after session_linger_ms.
    if (boundBefore !== 0 && this.clients.get(clientId)?.userId === 0) {
      this.#linger(boundBefore, now);
    }
    if (admitted.type === "full") {
      this.#replyError(peer, format, clientId, requestId, "UNAVAILABLE", "Node is at max_clients");
      return;
    }
    if (admitted.type === "rate_limited") {
      this.#replyError(
        peer,
        format,
        clientId,
        requestId,
        "RATE_LIMITED",
        `More than ${this.#config.clients.max_requests_per_second} requests per second`,
      );
      return;
    }
    const entry = admitted.entry;
    if (admitted.fresh) logger.debug("Client {clientId} connected", { clientId });
    if (admitted.moved) {
      logger.info(
        "Client {clientId} moved to a new connection; session detached until it resumes",
        {
          clientId,
        },
      );
    }
    try {
      this.#dispatch(entry, requestId, request, envelope, now);
    } catch (err) {
      logger.error("Request {op} from {clientId} failed: {error}", {
        op: request.op,
        clientId,
        error: err instanceof Error ? err.stack ?? err.message : String(err),
      });
      this.#replyError(peer, format, clientId, requestId, "INTERNAL", "Internal error");
    }
  }

  #dispatch(
    entry: ClientEntry,
    requestId: number,
    request: Request,
    envelope: Envelope,
    now: number,
  ) {
    switch (request.op) {
      case "ping":
        this.#reply(entry, requestId, {
          pong: {
            clientTimeMs: request.clientTimeMs,
            serverTimeMs: Date.now(),
            nodeId: this.#config.node_id,
            role: this.#role,
          },
        });
        return;
      case "status":
        this.#reply(entry, requestId, { statusReply: this.statusReply(now, request.withChecksum) });
        return;
      case "query_rect": {
        const total = this.state.world.queryRect(
          request.x1,
          request.y1,
          request.x2,
          request.y2,
          this.#results,
        );
        this.#reply(entry, requestId, { queryReply: this.#queryReply(total) });
        return;
      }
      case "query_circle": {
        const total = this.state.world.queryCircle(
          request.x,
          request.y,
          request.radius,
          this.#results,
        );
        this.#reply(entry, requestId, { queryReply: this.#queryReply(total) });
        return;
      }
      case "discover":
        this.#replyError(
          entry.peer,
          entry.format,
          entry.clientId,
          requestId,
          "UNKNOWN_OPERATION",
          "discover is answered by the registry, not by a game node",
        );
        return;
      default:
        this.#write(entry, requestId, request, envelope, now);
    }
  }

  /** The status of this node. */
  statusReply(now: number, withChecksum = false) {
    return {
      load: this.loadReport(),
      nodeId: this.#config.node_id,
      role: this.#role,
      epoch: this.#epoch,
      masterId: this.#masterId,
      tick: this.#tick,
      uptimeS: (now - this.#startedAt) / 1000,
      // A pass over every user: only on request, never for routine polls.
      checksum: withChecksum ? this.state.checksum() : undefined,
    };
  }

  #write(entry: ClientEntry, requestId: number, request: Request, envelope: Envelope, now: number) {
    if (request.op === "login" && entry.userId !== 0) {
      this.#replyError(
        entry.peer,
        entry.format,
        entry.clientId,
        requestId,
        "ALREADY_LOGGED_IN",
        `Already logged in as user ${entry.userId}`,
      );
      return;
    }
    if (request.op !== "login" && entry.userId === 0) {
      this.#replyError(
        entry.peer,
        entry.format,
        entry.clientId,
        requestId,
        "NOT_LOGGED_IN",
        `${request.op} needs a logged-in user`,
      );
      return;
    }
    const respond = (reply: Envelope) => this.#finishWrite(entry.clientId, request, reply, now);
    if (!this.authoritative) {
      const forward = this.writePath.forward;
      const sent = forward?.({
        clientId: entry.clientId,
        requestId,
        request: { ...envelope, clientId: entry.clientId, requestId },
        userId: entry.userId,
        done: respond,
      });
      if (!sent) {
        this.#replyError(
          entry.peer,
          entry.format,
          entry.clientId,
          requestId,
          "UNAVAILABLE",
          "No master is reachable for writes; queries still work",
        );
      }
      return;
    }
    this.executeWrite(entry.clientId, requestId, request, entry.userId, respond);
  }

  /**
   * Performs a write a slave forwarded (master side): the request is validated here like any other
   * from the network, then executed for the user the slave's session is bound to. `respond` gets
   * exactly one reply: the result once durable, or an error.
   */
  executeForwarded(request: Envelope, userId: number, respond: (reply: Envelope) => void): void {
    const clientId = typeof request.clientId === "string" ? request.clientId : "";
    const requestId = request.requestId ?? 0;
    const fail = (code: ErrorCode, message: string) =>
      respond({ clientId, requestId, error: { code, message } });
    if (!this.authoritative) {
      fail("UNAVAILABLE", `${this.#config.node_id} is no longer the master`);
      return;
    }
    let parsed: Request;
    try {
      parsed = parseRequest(request, this.#limits);
    } catch (err) {
      const e = err instanceof ProtocolError ? err : new ProtocolError("INTERNAL", String(err));
      fail(e.code, e.message);
      return;
    }
    this.executeWrite(clientId, requestId, parsed, userId, respond);
  }

  /**
   * Performs a write on the authoritative node (single/master), for a local client or one forwarded by
   * a slave, and calls `respond` with the reply envelope once it is durable.
   */
  executeWrite(
    clientId: string,
    requestId: number,
    request: Request,
    userId: number,
    respond: (reply: Envelope) => void,
  ): void {
    const fail = (code: ErrorCode, message: string) =>
      respond({ clientId, requestId, error: { code, message } });
    if (this.writePath.canAcknowledge && !this.writePath.canAcknowledge()) {
      fail(
        "UNAVAILABLE",
        "This master is fenced (cut off from the cluster); retry via the registry",
      );
      return;
    }
    let reply: Envelope;
    const state = this.state;
    switch (request.op) {
      case "login": {
        const result = request.userId !== 0
          ? state.resume(request.userId, request.sessionToken)
          : state.login(
            this.#random() * this.#config.world.width,
            this.#random() * this.#config.world.height,
            newToken(),
          );
        if (!result.ok) {
          if (result.reason === "world_full") fail("WORLD_FULL", "The world holds max_users users");
          else fail("SESSION_INVALID", `User ${request.userId} cannot be resumed with that token`);
          return;
        }
        this.#lingering.delete(result.userId);
        reply = {
          clientId,
          requestId,
          loginReply: {
            userId: result.userId,
            sessionToken: result.token,
            user: this.#userState(result.userId),
            resumed: result.resumed,
          },
        };
        break;
      }
      case "logout":
        if (!state.logout(userId)) {
          fail("SESSION_INVALID", `User ${userId} no longer exists`);
          return;
        }
        reply = { clientId, requestId, logoutReply: { userId } };
        break;
      case "set_velocity":
        if (!state.setVelocity(userId, request.vx, request.vy)) {
          fail("SESSION_INVALID", `User ${userId} no longer exists`);
          return;
        }
        reply = { clientId, requestId, setVelocityReply: { user: this.#userState(userId) } };
        break;
      case "aoe": {
        const total = state.aoe(userId, request.radius, request.amount, this.#results);
        if (total < 0) {
          fail("SESSION_INVALID", `User ${userId} no longer exists`);
          return;
        }
        const n = Math.min(total, this.#results.length);
        reply = {
          clientId,
          requestId,
          aoeReply: { userIds: Array.from(this.#results.subarray(0, n)), total },
        };
        break;
      }
      default:
        fail("UNKNOWN_OPERATION", `${request.op} is not a write`);
        return;
    }
    const whenDurable = this.writePath.whenDurable;
    if (!whenDurable) {
      respond(reply);
      return;
    }
    const epoch = this.#epoch;
    whenDurable((seq) => {
      // Which master acknowledged the write, in which epoch and update: a checker can tell that no
      // two masters acknowledged writes in one epoch.
      if (this.#config.mode === "cluster") {
        reply.writeAck = { epoch, masterId: this.#config.node_id, seq };
      }
      respond(reply);
    }, fail);
  }

  /** Binds or unbinds the session for a finished write, then replies to the client. */
  #finishWrite(clientId: string, request: Request, reply: Envelope, _now: number): void {
    const entry = this.clients.get(clientId);
    if (!entry) return; // The client left meanwhile: nobody to reply to.
    if (reply.loginReply?.userId) this.clients.bind(entry, reply.loginReply.userId);
    else if (
      reply.logoutReply || (request.op !== "login" && reply.error?.code === "SESSION_INVALID")
    ) {
      this.clients.bind(entry, 0);
    }
    this.#sendEnvelope(entry.peer, entry.format, reply);
  }

  /** Runs one world tick (authoritative roles) and the periodic housekeeping. */
  tick(now: number): void {
    if (this.authoritative) {
      this.state.step();
      this.#tick++;
    }
    for (const gone of this.clients.expireIdle(now)) {
      logger.info("Client {clientId} silent for {ms} ms: dropped{user}", {
        clientId: gone.clientId,
        ms: this.#config.clients.idle_timeout_ms,
        user: gone.userId
          ? ` (user ${gone.userId} kept ${this.#config.clients.session_linger_ms} ms for a resume)`
          : "",
      });
      if (gone.userId) this.#linger(gone.userId, now);
    }
    if (this.#lingering.size > 0) this.#expireLingering(now);
  }

  /** Keeps a user whose client is gone for `session_linger_ms`, then expires it unless resumed. */
  #linger(userId: number, now: number): void {
    const generation = this.state.generation(userId);
    if (generation !== undefined) {
      this.#lingering.set(userId, {
        deadline: now + this.#config.clients.session_linger_ms,
        generation,
      });
    }
  }

  /** Counts one tick duration and warns (at most every 5 s) when ticks run late on average. */
  recordTick(durationMs: number, now: number): void {
    this.ticks.record(durationMs);
    const tickMs = this.#config.world.tick_time * 1000;
    if (durationMs > tickMs && now - this.#lastOverloadLog > 5000) {
      const summary = this.ticks.last;
      if (summary.loadFactor > 1 || durationMs > 2 * tickMs) {
        this.#lastOverloadLog = now;
        logger.warn(
          "Overload: tick took {durationMs} ms (tick_time {tickMs} ms, average {avgMs} ms, load factor {load})",
          {
            durationMs: round(durationMs),
            tickMs,
            avgMs: round(summary.avgMs),
            load: round(summary.loadFactor),
          },
        );
      }
    }
  }

  #expireLingering(now: number): void {
    for (const [userId, pending] of this.#lingering) {
      if (pending.deadline > now) continue;
      this.#lingering.delete(userId);
      if (!this.authoritative) {
        // The master decides; it ignores the request when the user was resumed meanwhile.
        this.writePath.expire?.(userId, pending.generation);
      } else if (this.state.expire(userId, pending.generation)) {
        logger.info("User {userId} removed: its client did not come back", { userId });
      }
    }
  }

  /** Sends a notice to every client (e.g. before shutdown). */
  broadcastNotice(kind: "NOTICE_KIND_SHUTDOWN", message: string): void {
    for (const entry of this.clients.entries()) {
      this.#sendEnvelope(entry.peer, entry.format, {
        clientId: entry.clientId,
        requestId: 0,
        notice: { kind, message },
      });
    }
  }

  #queryReply(total: number) {
    const n = Math.min(total, this.#results.length);
    const users: UserState[] = new Array(n);
    for (let i = 0; i < n; i++) users[i] = this.#userState(this.#results[i]);
    return { users, truncated: total > n, total };
  }

  #userState(userId: number): UserState {
    const u = this.state.world.getUser(userId);
    if (!u) return { id: userId };
    return { id: userId, x: u.x, y: u.y, vx: u.vx, vy: u.vy, money: u.money };
  }

  #reply(entry: ClientEntry, requestId: number, body: Envelope): void {
    body.clientId = entry.clientId;
    body.requestId = requestId;
    this.#sendEnvelope(entry.peer, entry.format, body);
  }

  #replyError(
    peer: Uint8Array,
    format: WireFormat,
    clientId: string,
    requestId: number,
    code: ErrorCode,
    message: string,
  ): void {
    this.#counters.errors++;
    this.#sendEnvelope(peer, format, { clientId, requestId, error: { code, message } });
  }

  #sendEnvelope(peer: Uint8Array, format: WireFormat, envelope: Envelope): void {
    if (!this.#send(peer, encodeEnvelope(envelope, format))) this.#counters.dropped++;
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
