import {
  decodeEnvelope,
  detectFormat,
  encodeEnvelope,
  type Envelope,
  type ErrorCode,
  type NodeLoad,
  parseRequest,
  ProtocolError,
  QUERY_CIRCLE_FIELD,
  type Request,
  type RequestLimits,
  type Role,
  type WireFormat,
} from "../protocol/mod.ts";
import { log } from "../log/mod.ts";
import type { DelayHistogram, TickStats, TickSummary } from "../metrics/mod.ts";
import type { NodeConfig } from "../config/mod.ts";
import type { WorldOptions } from "../world/mod.ts";
import { type ClientEntry, ClientTable, type ConnectionEntry } from "./client_table.ts";
import { GameState } from "../state/mod.ts";
import { ChecksumBatch } from "./checksum_batch.ts";
import { newNodeCounters, type NodeCounters } from "./node_counters.ts";
import type { WritePath } from "./write_path.ts";
import { LingeringUsers } from "./lingering_users.ts";
import { TickMonitor } from "./tick_monitor.ts";
import { applyWrite, type WriteTarget } from "./_apply_write.ts";
import { queryReply } from "./_replies.ts";
import { encodeQueryReply, type ReplyUsers } from "./_query_reply_encoder.ts";
import { type RefusalMessages, refusalMessages } from "./_refusal_messages.ts";
import { BYTES_PER_UNIT, checksumUnits, frameUnits, queryUnits } from "./_work_units.ts";
import { READ_CIRCLE, READ_FRAME, READ_RECT, type ReadWorkers } from "./read_workers.ts";
import { ReadHandoff } from "./_read_handoff.ts";
import {
  RequestMetrics,
  type Transport,
  type TransportFigures,
  UNPARSED_OP,
  ZMQ_TRANSPORT,
} from "./request_metrics.ts";

export type { ForwardedWrite, WritePath } from "./write_path.ts";
export type { NodeCounters } from "./node_counters.ts";

/**
 * Sends one frame to a client connection, encoded in `format` (a WebSocket sends JSON as a text
 * message); false when the transport dropped it.
 */
export type SendFn = (peer: Uint8Array, frame: Uint8Array, format: WireFormat) => boolean;

/** Options of {@linkcode GameNode.handleFrame}. */
export interface FrameOptions {
  /**
   * The frame's format when its transport says (a WebSocket: text messages are JSON, binary ones
   * protobuf); default: detected from the bytes (a frame starting with `{` is JSON).
   */
  format?: WireFormat;
  /** The transport it came over, for metrics (default `zmq`). */
  transport?: Transport;
}

/** The world's options from a node's config (the node's world, its readers' and test replicas'). */
export function worldOptionsOf(config: NodeConfig): WorldOptions {
  const w = config.world;
  return {
    width: w.width,
    height: w.height,
    cellSize: w.cell_size,
    maxUsers: w.max_users,
    maxSpeed: w.max_speed,
    initialMoney: w.initial_money,
  };
}

/** Load figures for status replies and registry reports. */
export interface NodeLoadFigures {
  connections: number;
  sessions: number;
  users: number;
  tick: TickSummary;
}

/** Where a request came from: its reply goes there, and nowhere else. */
interface Origin {
  readonly peer: Uint8Array;
  readonly format: WireFormat;
  readonly connection: ConnectionEntry;
  readonly entry: ClientEntry;
  /** False when the client id is bound to another connection (see `ClientTable.admit`). */
  readonly own: boolean;
  readonly clientId: string;
  readonly requestId: number;
  /** The request's op and transport, and when it arrived: its reply is timed against that. */
  readonly op: string;
  readonly figures: TransportFigures;
  readonly at: number;
}

/** The numbers of a query handed over as its frame (the reader reads them from it). */
const NO_NUMBERS = { a: 0, b: 0, c: 0, d: 0 };

/** Status requests with a checksum waiting for the next one at most (beyond: RATE_LIMITED). */
const MAX_CHECKSUM_WAITERS = 1024;

/** Options of {@linkcode GameNode}. */
export interface GameNodeOptions {
  config: NodeConfig;
  send: SendFn;
  /** Random numbers in [0, 1) for spawn positions (injectable for tests). */
  random?: () => number;
  /** How writes are performed in a cluster (see {@linkcode WritePath}); none: locally, at once. */
  writePath?: WritePath;
  /**
   * Reply bytes the transport holds for a connection that does not read them fast enough (0 while
   * it does). Over half of `clients.max_backlog_bytes`, the connection's requests are dropped
   * unread. Default: always 0.
   */
  backlogBytes?: (peer: Uint8Array) => number;
  /**
   * Reader workers that answer circle and rectangle queries against the last published tick (see
   * `clients.read_workers`); none: queries are answered here, against the live world. The node
   * publishes its world into their views and takes their replies; its owner closes them.
   */
  readers?: ReadWorkers;
}

const logger = log("node");

/**
 * Idle client ids looked at per tick: a burst (every client of a crowd that connected at once going
 * quiet together) is spread over ticks instead of stalling one.
 */
const IDLE_EXPIRY_BUDGET = 500;

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
  /** How late each tick started against the fixed tick schedule, since the start. */
  readonly tickLate: DelayHistogram;
  /** How late each tick's timer fired after the time it was set for (event-loop lag). */
  readonly loopLag: DelayHistogram;
  /** How long ticks take (the master's and single node's world step; a slave's applied updates). */
  readonly tickDuration: DelayHistogram;
  /** Requests by transport, reply times by op and transport, errors by code. */
  readonly requests: RequestMetrics = new RequestMetrics();

  #role: Role;
  #epoch = 0;
  #masterId = "";
  #position = { epoch: 0, seq: 0 };
  readonly #config: NodeConfig;
  readonly #send: SendFn;
  readonly #limits: RequestLimits;
  readonly #results: Uint32Array;
  readonly #writeTarget: WriteTarget;
  readonly #lingering: LingeringUsers;
  readonly #startedAt: number;
  readonly #counters: NodeCounters = newNodeCounters();
  readonly #backlogBytes: ((peer: Uint8Array) => number) | undefined;
  readonly #stallBytes: number;
  readonly #refusals: RefusalMessages;
  readonly #checksums: ChecksumBatch<Origin>;
  /** The latest time handed in (by a request or a tick): deadlines of writes finished later. */
  #now: number;
  #tick = 0;
  readonly #tickMonitor: TickMonitor;
  /** Where `#replyQuery` finds the users it lists (reused). */
  readonly #replyUsers: ReplyUsers;
  /** Queries go to reader workers through it (none: answered here). */
  readonly #handoff: ReadHandoff<Origin> | undefined;
  /** The transport of the frame being handled (for replies sent before its origin is known). */
  #figures: TransportFigures;
  /** When the frame being handled arrived. */
  #receivedAt = 0;

  /** Creates a node core from its config. */
  constructor(options: GameNodeOptions, now = 0) {
    const c = options.config;
    this.#config = c;
    this.#send = options.send;
    this.writePath = options.writePath ?? {};
    this.#backlogBytes = options.backlogBytes;
    this.#stallBytes = c.clients.max_backlog_bytes / 2;
    // A cluster node acts as master only once elected: until the registry says, it follows nobody.
    this.#role = c.mode === "single" ? "ROLE_SINGLE" : "ROLE_SLAVE";
    this.state = new GameState(worldOptionsOf(c), c.world.tick_time);
    this.clients = new ClientTable({
      idleTimeoutMs: c.clients.idle_timeout_ms,
      maxClients: c.clients.max_clients,
      maxRequestsPerSecond: c.clients.max_requests_per_second,
      maxIdsPerConnection: c.clients.max_ids_per_connection,
      maxRequestsPerConnection: c.clients.max_requests_per_connection,
      maxNewUsersPerConnection: c.clients.max_new_users_per_connection,
    });
    this.#refusals = refusalMessages(c);
    this.#tickMonitor = new TickMonitor(c.world.tick_time * 1000);
    this.ticks = this.#tickMonitor.ticks;
    this.tickLate = this.#tickMonitor.tickLate;
    this.loopLag = this.#tickMonitor.loopLag;
    this.tickDuration = this.#tickMonitor.tickDuration;
    this.#figures = this.requests.of(ZMQ_TRANSPORT);
    this.#limits = requestLimits(c);
    this.#results = new Uint32Array(c.world.max_query_results);
    this.#replyUsers = {
      ids: new Uint32Array(0),
      pos: new Float64Array(0),
      vel: new Float64Array(0),
      money: new Float64Array(0),
      positions: new Uint32Array(c.world.max_query_results),
      count: 0,
      total: 0,
    };
    this.#writeTarget = {
      state: this.state,
      random: options.random ?? Math.random,
      width: c.world.width,
      height: c.world.height,
      results: this.#results,
    };
    this.#lingering = new LingeringUsers(c.clients.session_linger_ms);
    this.#checksums = new ChecksumBatch(c.clients.checksum_interval_ms, MAX_CHECKSUM_WAITERS);
    this.#startedAt = now;
    this.#now = now;
    if (options.readers) {
      this.#handoff = new ReadHandoff(options.readers, this.#readAnswer);
      this.state.attachViews(options.readers.views);
    }
  }

  /** Counters for status, metrics and tests. */
  get counters(): Readonly<NodeCounters> {
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
      tickLateCounts: this.tickLate.counts(),
      loopLagCounts: this.loopLag.counts(),
    };
  }

  /**
   * Handles one message from a client connection that arrived at `now`, over the transport
   * `options.transport` names (the label of its metrics; default the ZeroMQ port). Never throws.
   */
  handleFrame(peer: Uint8Array, frames: Uint8Array[], now: number, options?: FrameOptions): void {
    const transport = options?.transport ?? ZMQ_TRANSPORT;
    this.#counters.requests++;
    this.#now = now;
    this.#receivedAt = now;
    let figures = this.#figures;
    if (figures.transport !== transport) figures = this.#figures = this.requests.of(transport);
    figures.requests++;
    // A connection that does not read its replies gets no more work done for it until it does.
    if (this.#backlogBytes !== undefined && this.#backlogBytes(peer) > this.#stallBytes) {
      this.#counters.stalled++;
      return;
    }
    const admitted = this.clients.connect(peer, now);
    if (admitted.type === "rate_limited") {
      if (!admitted.answer) {
        this.#counters.unanswered++;
        return;
      }
      this.#counters.rateLimited++;
      this.#refuse(peer, frames, {
        code: "RATE_LIMITED",
        message: this.#refusals.connectionRate,
        format: options?.format,
      });
      return;
    }
    const connection = admitted.connection;
    connection.transport = transport;
    const frame = frames[frames.length - 1];
    // Big frames cost reading, copying and decoding: a unit per BYTES_PER_UNIT.
    if (frame && frame.length > BYTES_PER_UNIT) {
      this.clients.charge(connection, undefined, frameUnits(frame.length));
    }
    if (frames.length !== 1 || !frame) {
      this.#counters.badFrames++;
      this.#replyError(
        peer,
        options?.format ?? "binary",
        "",
        0,
        "BAD_FRAME",
        "Expected exactly one frame per message",
      );
      return;
    }
    const format = options?.format ?? detectFormat(frame);
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
    // With readers, a binary query is admitted on its peeked ids and decoded by its reader.
    const query = this.#handoff && format === "binary" ? this.#handoff.peekQuery(frame) : undefined;
    if (query !== undefined) {
      // The reader decodes and validates it (a malformed one is refused there, after admission).
      const op = query.field === QUERY_CIRCLE_FIELD ? "query_circle" : "query_rect";
      const { clientId, requestId } = query;
      const origin = this.#admit(peer, connection, { format, clientId, requestId, op }, now);
      if (origin !== undefined) this.#handoff!.submit(origin, READ_FRAME, NO_NUMBERS, frame);
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
    const origin = this.#admit(
      peer,
      connection,
      { format, clientId, requestId, op: request.op },
      now,
    );
    if (origin === undefined) return;
    try {
      this.#dispatch(origin, request, envelope, now);
    } catch (err) {
      logger.error("Request {op} from {clientId} failed: {error}", {
        op: request.op,
        clientId,
        error: err instanceof Error ? err.stack ?? err.message : String(err),
      });
      this.#replyError(peer, format, clientId, requestId, "INTERNAL", "Internal error");
    }
  }

  /**
   * Admits a request under its client id (see `ClientTable.admit`): its origin, or undefined when
   * it was refused (and answered).
   */
  #admit(
    peer: Uint8Array,
    connection: ConnectionEntry,
    request: { format: WireFormat; clientId: string; requestId: number; op: string },
    now: number,
  ): Origin | undefined {
    const { format, clientId, requestId } = request;
    const result = this.clients.admit(clientId, connection, format, now);
    if (result.type === "full") {
      this.#counters.idsRefused++;
      const message = result.scope === "node"
        ? "Node is at max_clients"
        : this.#refusals.idsPerConnection;
      this.#replyError(peer, format, clientId, requestId, "UNAVAILABLE", message);
      return undefined;
    }
    if (result.type === "rate_limited") {
      this.#counters.rateLimited++;
      const message = this.#refusals.clientRate;
      this.#replyError(peer, format, clientId, requestId, "RATE_LIMITED", message);
      return undefined;
    }
    const entry = result.entry;
    const own = result.type === "ok";
    if (!own) this.#counters.foreign++;
    else if (result.fresh) logger.debug("Client {clientId} connected", { clientId });
    return {
      peer,
      format,
      connection,
      entry,
      own,
      clientId,
      requestId,
      op: request.op,
      figures: this.#figures,
      at: now,
    };
  }

  /** Answers a message refused before it was looked at: its ids when it decodes, else none. */
  #refuse(
    peer: Uint8Array,
    frames: Uint8Array[],
    refusal: { code: ErrorCode; message: string; format: WireFormat | undefined },
  ): void {
    const { code, message } = refusal;
    const frame = frames[frames.length - 1];
    let clientId = "";
    let requestId = 0;
    let format: WireFormat = refusal.format ?? "binary";
    if (frames.length === 1 && frame && frame.length <= this.#config.clients.max_frame_bytes) {
      format = refusal.format ?? detectFormat(frame);
      try {
        const envelope = decodeEnvelope(frame, format);
        clientId = typeof envelope.clientId === "string" ? envelope.clientId : "";
        requestId = envelope.requestId ?? 0;
      } catch { /* answered without ids */ }
    }
    this.#replyError(peer, format, clientId, requestId, code, message);
  }

  #dispatch(origin: Origin, request: Request, envelope: Envelope, now: number) {
    switch (request.op) {
      case "ping":
        this.#reply(origin, {
          pong: {
            clientTimeMs: request.clientTimeMs,
            serverTimeMs: Date.now(),
            nodeId: this.#config.node_id,
            role: this.#role,
          },
        });
        return;
      case "status":
        if (request.withChecksum) this.#checksumStatus(origin, now);
        else this.#reply(origin, { statusReply: this.statusReply(now) });
        return;
      case "query_rect": {
        if (this.#handoff) {
          const { x1: a, y1: b, x2: c, y2: d } = request;
          this.#handoff.submit(origin, READ_RECT, { a, b, c, d });
          return;
        }
        const total = this.state.world.queryRect(
          request.x1,
          request.y1,
          request.x2,
          request.y2,
          this.#results,
        );
        this.#chargeQuery(origin, total);
        this.#replyQuery(origin, total);
        return;
      }
      case "query_circle": {
        if (this.#handoff) {
          this.#handoff.submit(origin, READ_CIRCLE, {
            a: request.x,
            b: request.y,
            c: request.radius,
            d: 0,
          });
          return;
        }
        const total = this.state.world.queryCircle(
          request.x,
          request.y,
          request.radius,
          this.#results,
        );
        this.#chargeQuery(origin, total);
        this.#replyQuery(origin, total);
        return;
      }
      case "discover":
        this.#deny(
          origin,
          "UNKNOWN_OPERATION",
          "discover is answered by the registry, not by a game node",
        );
        return;
      default:
        this.#write(origin, request, envelope, now);
    }
  }

  /**
   * A reader's answer: its work is charged, its frame (encoded by the reader in the request's
   * format) sent where the query came from over the same send path as any reply, and timed.
   */
  readonly #readAnswer = (
    origin: Origin,
    total: number,
    frame: Uint8Array,
    error: ErrorCode | undefined,
  ) => {
    if (error === undefined) this.#chargeQuery(origin, total);
    else this.#countError(error);
    if (error === "BAD_FRAME") this.#counters.badFrames++;
    if (!this.#send(origin.peer, frame, origin.format)) this.#counters.dropped++;
    // A refused frame counts as one that did not parse, as on the node's thread.
    if (error === undefined) this.#timed(origin);
    else this.requests.answered(origin.figures, UNPARSED_OP, performance.now() - origin.at);
  };

  /**
   * The reply to a query answered here, its users' ids in `#results`: binary written straight from
   * the world's arrays (the readers' encoder: `encodeEnvelope()`'s bytes, no message objects), JSON
   * through the codec.
   */
  #replyQuery(origin: Origin, total: number): void {
    const world = this.state.world;
    const users = this.#replyUsers;
    const n = Math.min(total, this.#results.length);
    if (origin.format === "binary" && world.positionsOf(this.#results, n, users.positions)) {
      const { ids, pos, vel, money } = world.records;
      users.ids = ids;
      users.pos = pos;
      users.vel = vel;
      users.money = money;
      users.count = n;
      users.total = total;
      const frame = encodeQueryReply(origin.clientId, origin.requestId, users);
      if (!this.#send(origin.peer, frame, "binary")) this.#counters.dropped++;
      this.#timed(origin);
      return;
    }
    this.#reply(origin, { queryReply: queryReply(world, this.#results, total) });
  }

  /** Charges a query's (or aoe's) work: the users it matched and the ones its reply lists. */
  #chargeQuery(origin: Origin, total: number): void {
    const listed = Math.min(total, this.#results.length);
    this.#charge(origin, queryUnits(total, listed));
  }

  /**
   * A status with the state checksum, a pass over every user: computed at once when none was in
   * the last `checksum_interval_ms`, else with the next one, which answers every request waiting.
   */
  #checksumStatus(origin: Origin, now: number): void {
    this.#charge(origin, checksumUnits(this.state.world.size));
    const admission = this.#checksums.add(origin, now);
    if (admission === "now") this.#answerChecksums(now);
    else if (admission === "full") {
      this.#counters.rateLimited++;
      this.#deny(
        origin,
        "RATE_LIMITED",
        `${MAX_CHECKSUM_WAITERS} status requests with a checksum are waiting already`,
      );
    }
  }

  /** Charges a request's work beyond its one unit to its connection (and client id when its own). */
  #charge(origin: Origin, units: number): void {
    this.clients.charge(origin.connection, origin.own ? origin.entry : undefined, units);
  }

  #answerChecksums(now: number): void {
    const waiters = this.#checksums.take(now);
    const status = this.statusReply(now, true);
    for (const origin of waiters) this.#reply(origin, { statusReply: { ...status } });
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

  #write(origin: Origin, request: Request, envelope: Envelope, now: number) {
    const { entry, own } = origin;
    if (request.op === "login") {
      const resume = request.userId !== 0;
      if (entry.loginInFlight) {
        this.#counters.loginsRefused++;
        this.#deny(
          origin,
          "ALREADY_LOGGED_IN",
          "A login for this client id is in flight: wait for its reply",
        );
        return;
      }
      if (own && entry.userId !== 0) {
        this.#deny(origin, "ALREADY_LOGGED_IN", `Already logged in as user ${entry.userId}`);
        return;
      }
      if (!own && !resume) {
        this.#counters.loginsRefused++;
        this.#deny(
          origin,
          "ALREADY_LOGGED_IN",
          "This client id is logged in on another connection: resume with its user_id and session_token to move it here",
        );
        return;
      }
      if (!own && !this.clients.hasRoom(origin.connection)) {
        this.#counters.idsRefused++;
        this.#deny(origin, "UNAVAILABLE", this.#refusals.idsPerConnection);
        return;
      }
      if (!resume && !this.clients.takeNewUser(origin.connection, now)) {
        this.#counters.rateLimited++;
        this.#deny(origin, "RATE_LIMITED", this.#refusals.newUsers);
        return;
      }
    } else if (!own || entry.userId === 0) {
      this.#deny(
        origin,
        "NOT_LOGGED_IN",
        own
          ? `${request.op} needs a logged-in user`
          : `${request.op} needs a logged-in user on this connection (this client id is logged in on another one)`,
      );
      return;
    }
    // A resume from another connection acts as no user until it succeeds.
    const userId = own ? entry.userId : 0;
    const login = request.op === "login";
    let answered = false;
    const respond = (reply: Envelope, generation?: number) => {
      answered = true;
      this.#finishWrite(origin, request, userId, reply, generation);
    };
    if (login) entry.loginInFlight = true;
    // Here the write changes the live world: this client's reads wait for the view that holds it.
    if (this.#handoff && this.authoritative) {
      entry.readAfter = this.#handoff.readers.views.version + 1;
    }
    try {
      this.#perform(origin, request, envelope, userId, respond);
    } catch (err) {
      // Nothing will answer this login now (the caller replies INTERNAL): the id may log in again.
      if (login && !answered) entry.loginInFlight = false;
      throw err;
    }
  }

  /** Forwards a write to the master (slave) or executes it here; `respond` gets its one reply. */
  #perform(
    origin: Origin,
    request: Request,
    envelope: Envelope,
    userId: number,
    respond: (reply: Envelope, generation?: number) => void,
  ): void {
    if (!this.authoritative) {
      const forward = this.writePath.forward;
      const sent = forward?.({
        clientId: origin.clientId,
        requestId: origin.requestId,
        request: { ...envelope, clientId: origin.clientId, requestId: origin.requestId },
        userId,
        done: respond,
      });
      if (!sent) {
        const message = "No master is reachable for writes; queries still work";
        respond({
          clientId: origin.clientId,
          requestId: origin.requestId,
          error: { code: "UNAVAILABLE", message },
        });
      }
      return;
    }
    this.executeWrite(origin.clientId, origin.requestId, request, userId, respond);
  }

  /**
   * Performs a write a slave forwarded (master side): the request is validated here like any other
   * from the network, then executed for the user the slave's session is bound to. `respond` gets
   * exactly one reply: the result once durable, or an error (with a login's reply, the user's resume
   * generation, so a slave whose client is gone can let the user expire).
   */
  executeForwarded(
    request: Envelope,
    userId: number,
    respond: (reply: Envelope, generation?: number) => void,
  ): void {
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
   * a slave, and calls `respond` with the reply envelope once it is durable (a login's reply with the
   * user's resume generation). A login that was applied but fails to become durable leaves its
   * client unsure whether it has a user: that user lingers like an abandoned session's.
   */
  executeWrite(
    clientId: string,
    requestId: number,
    request: Request,
    userId: number,
    respond: (reply: Envelope, generation?: number) => void,
  ): void {
    if (this.writePath.canAcknowledge && !this.writePath.canAcknowledge()) {
      const message = "This master is fenced (cut off from the cluster); retry via the registry";
      respond({ clientId, requestId, error: { code: "UNAVAILABLE", message } });
      return;
    }
    const reply = applyWrite(this.#writeTarget, request, userId);
    reply.clientId = clientId;
    reply.requestId = requestId;
    if (reply.error) {
      respond(reply);
      return;
    }
    const loggedIn = reply.loginReply?.userId ?? 0;
    // A login's user is held by a client again; the reply carries its resume generation.
    if (loggedIn !== 0) this.#lingering.claimed(loggedIn);
    const generation = loggedIn !== 0 ? this.state.generation(loggedIn) : undefined;
    const whenDurable = this.writePath.whenDurable;
    if (!whenDurable) {
      respond(reply, generation);
      return;
    }
    const epoch = this.#epoch;
    whenDurable((seq) => {
      // Which master acknowledged the write, in which epoch and update: a checker can tell that no
      // two masters acknowledged writes in one epoch.
      if (this.#config.mode === "cluster") {
        reply.writeAck = { epoch, masterId: this.#config.node_id, seq };
      }
      respond(reply, generation);
    }, (code, message) => {
      // The login may survive (a majority may hold it) though its client is told it failed.
      if (loggedIn !== 0) this.lingerUser(loggedIn, generation ?? 0);
      respond({ clientId, requestId, error: { code, message } });
    });
  }

  /**
   * Lets a user no client holds expire after `session_linger_ms` unless it is resumed meanwhile
   * (its resume generation moves on): a login whose client never saw the reply, or whose
   * connection was gone when it came.
   */
  lingerUser(userId: number, generation: number): void {
    this.#counters.abandonedLogins++;
    this.#lingering.linger(userId, { generation, now: this.#now });
  }

  /**
   * Binds or unbinds the session for a finished write, then replies to the connection that sent the
   * request: never to whoever holds its client id now.
   */
  #finishWrite(
    origin: Origin,
    request: Request,
    userId: number,
    reply: Envelope,
    generation: number | undefined,
  ): void {
    const entry = origin.entry;
    const held = this.clients.holds(entry);
    if (request.op === "login") {
      entry.loginInFlight = false;
      const loggedIn = reply.loginReply?.userId ?? 0;
      if (loggedIn !== 0) {
        // A resume from a connection that closed meanwhile moves nothing there: the user lingers.
        if (held && !origin.connection.closed) {
          if (!origin.own) this.clients.move(entry, origin.connection, this.#now);
          const before = { userId: entry.userId, generation: entry.generation };
          this.clients.bind(entry, loggedIn, generation ?? this.state.generation(loggedIn) ?? 0);
          if (before.userId !== 0 && before.userId !== loggedIn) {
            this.#lingering.linger(before.userId, {
              generation: before.generation,
              now: this.#now,
            });
          }
        } else {
          // The client id left meanwhile: the user is nobody's unless the client resumes it.
          this.lingerUser(loggedIn, generation ?? this.state.generation(loggedIn) ?? 0);
        }
      }
    } else if (
      reply.logoutReply || reply.error?.code === "SESSION_INVALID"
    ) {
      if (held && entry.connection === origin.connection && entry.userId === userId) {
        this.clients.bind(entry, 0);
      }
    }
    if (reply.error) this.#countError(reply.error.code ?? "INTERNAL");
    this.#sendEnvelope(origin.peer, origin.format, reply);
    this.#timed(origin);
  }

  /**
   * A transport saw a connection close (a WebSocket; ZeroMQ tells no routing id when a peer goes):
   * its client ids are forgotten at once, and their users linger `clients.session_linger_ms` for a
   * resume, like those of a client gone silent.
   */
  dropConnection(peer: Uint8Array, now: number): void {
    this.#now = now;
    for (const gone of this.clients.disconnect(peer)) {
      if (!gone.userId) {
        logger.debug("Client {clientId} disconnected", { clientId: gone.clientId });
        continue;
      }
      logger.info("Client {clientId} disconnected (user {userId} kept {ms} ms for a resume)", {
        clientId: gone.clientId,
        userId: gone.userId,
        ms: this.#config.clients.session_linger_ms,
      });
      this.#lingering.linger(gone.userId, { generation: gone.generation, now });
    }
  }

  /** Runs one world tick (authoritative roles) and the periodic housekeeping. */
  tick(now: number): void {
    this.#now = now;
    if (this.#checksums.due(now)) this.#answerChecksums(now);
    if (this.authoritative) {
      this.state.step();
      this.#tick++;
    }
    for (const gone of this.clients.expireIdle(now, IDLE_EXPIRY_BUDGET)) {
      // A client id without a user going quiet is not news (load balancers' probes, clients that
      // used an id once): at info level a burst of them cost a tick tens of ms in log lines.
      const fields = {
        clientId: gone.clientId,
        ms: this.#config.clients.idle_timeout_ms,
        user: gone.userId
          ? ` (user ${gone.userId} kept ${this.#config.clients.session_linger_ms} ms for a resume)`
          : "",
      };
      const message = "Client {clientId} silent for {ms} ms: dropped{user}";
      if (gone.userId) logger.info(message, fields);
      else logger.debug(message, fields);
      // At the generation this client held it: if the user was resumed elsewhere since (its client
      // moved to another node), it is someone's again and must not expire.
      if (gone.userId) this.#lingering.linger(gone.userId, { generation: gone.generation, now });
    }
    this.#lingering.expireDue(now, this.#expireUser);
  }

  /**
   * Counts how late a tick started: `lateMs` against the fixed tick schedule (what players feel;
   * request handling that holds the loop shows here), `loopLagMs` against the time its timer was
   * set for.
   */
  recordTickStart(lateMs: number, loopLagMs: number): void {
    this.#tickMonitor.recordStart(lateMs, loopLagMs);
  }

  /** Counts one tick duration and warns (at most every 5 s) when ticks run late on average. */
  recordTick(durationMs: number, now: number): void {
    this.#tickMonitor.record(durationMs, now);
  }

  /** Removes a user whose linger time is over, unless it was resumed since (its generation moved). */
  readonly #expireUser = (userId: number, generation: number): void => {
    if (!this.authoritative) {
      // The master decides; it ignores the request when the user was resumed meanwhile.
      this.writePath.expire?.(userId, generation);
    } else if (this.state.expire(userId, generation)) {
      logger.info("User {userId} removed: its client did not come back", { userId });
    }
  };

  /** Sends a notice to every client (e.g. before shutdown). */
  broadcastNotice(kind: "NOTICE_KIND_SHUTDOWN", message: string): void {
    for (const entry of this.clients.entries()) {
      this.#sendEnvelope(entry.connection.peer, entry.format, {
        clientId: entry.clientId,
        requestId: 0,
        notice: { kind, message },
      });
    }
  }

  #reply(origin: Origin, body: Envelope): void {
    body.clientId = origin.clientId;
    body.requestId = origin.requestId;
    this.#sendEnvelope(origin.peer, origin.format, body);
    this.#timed(origin);
  }

  #deny(origin: Origin, code: ErrorCode, message: string): void {
    this.#countError(code);
    this.#reply(origin, { error: { code, message } });
  }

  /** Records the time from a request's receipt to its reply, by op and transport. */
  #timed(origin: Origin): void {
    this.requests.answered(origin.figures, origin.op, performance.now() - origin.at);
  }

  #countError(code: ErrorCode): void {
    this.#counters.errors++;
    this.requests.error(code);
  }

  #replyError(
    peer: Uint8Array,
    format: WireFormat,
    clientId: string,
    requestId: number,
    code: ErrorCode,
    message: string,
  ): void {
    // Only for a message answered before any op ran, while it is being handled.
    this.#countError(code);
    this.#sendEnvelope(peer, format, { clientId, requestId, error: { code, message } });
    this.requests.answered(this.#figures, UNPARSED_OP, performance.now() - this.#receivedAt);
  }

  #sendEnvelope(peer: Uint8Array, format: WireFormat, envelope: Envelope): void {
    if (!this.#send(peer, encodeEnvelope(envelope, format), format)) this.#counters.dropped++;
  }
}

/** The limits a node with `config` applies to client request fields (see `parseRequest`). */
export function requestLimits(config: NodeConfig): RequestLimits {
  return {
    maxSpeed: config.world.max_speed,
    maxAoeRadius: config.world.max_aoe_radius,
    maxQueryRadius: config.world.max_query_radius,
    maxAoeAmount: config.world.max_aoe_amount,
    maxCoordinate: 1e9,
  };
}
