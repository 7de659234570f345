/**
 * `client load`: many simulated clients against a node or a cluster. Each client logs in, then keeps
 * changing its velocity, querying a circle around itself and casting AOEs at configured per-client
 * rates. Clients share connections (the envelope carries each client's id), one timer loop fires the
 * due operations from a timing wheel, and each connection caps its requests in flight. A progress line
 * goes to stderr every second; at the end a report table and, as the last stdout line, one JSON line
 * `{"load":{…}}`.
 *
 * @module
 */
import { Pump } from "../transport/mod.ts";
import {
  CLIENT_SCHEMA,
  type ClientConfig,
  type CommandSpec,
  ConfigError,
  type ConfigOf,
  helpText,
  parseCommandLine,
} from "../config/mod.ts";
import { bool, group, int, num } from "../config/schema.ts";
import { log, setupLogging } from "../log/mod.ts";
import type { Envelope, UserState } from "../protocol/mod.ts";
import { logConnectionEvent } from "./client_app.ts";
import { ClientSession } from "./client_session.ts";
import type { RequestError } from "./errors.ts";
import { Connection, type ConnectionEvent } from "./connection.ts";
import {
  formatReport,
  LatencyHistogram,
  type LoadReport,
  median,
  type NodeFigures,
  OpStats,
  round,
  summarize,
  tickRate,
} from "./load_stats.ts";

/** The load generator's settings (the `load` group beside the client fields). */
export const LOAD_GROUP = group({
  clients: int(100, 1, 1_000_000, "Simulated clients"),
  connections: int(0, 0, 10_000, "Connections the clients share (0 = one per 250 clients, ≤ 64)"),
  duration_s: num(0, 0, 1e7, "Seconds of load after every client logged in (0 = until Ctrl-C)"),
  warmup_s: num(0, 0, 1e7, "Seconds at the start of the duration left out of the statistics"),
  query_rate: num(1, 0, 1000, "Circle queries per client per second"),
  aoe_rate: num(1, 0, 1000, "AOEs per client per second"),
  velocity_interval_s: num(5, 0, 1e6, "Seconds between a client's velocity changes (0 = never)"),
  rate_scale: num(1, 0, 1000, "Multiplies every rate above"),
  radius: num(50, 0, 1e6, "Radius of queries and AOEs, m"),
  speed: num(10, 0, 1e6, "Speed of velocity changes, m/s (at most the node's max_speed)"),
  aoe_amount: int(1, -1_000_000, 1_000_000, "Money each AOE adds to the users it hits"),
  keepalive_s: num(
    3,
    0,
    3600,
    "A client idle this long pings, so the node does not drop it (0 = never)",
  ),
  max_in_flight: int(256, 1, 100_000, "Requests in flight per connection (beyond: queued)"),
  poll_ms: int(
    0,
    0,
    100,
    "0: the process's usual pump (epoll wait); N: a timer-mode pump pausing N ms between polls",
  ),
  login_timeout_s: num(30, 1, 1e6, "Start the duration after this long even if logins fail"),
  logout: bool(true, "Log every client out at the end"),
  progress: bool(true, "Print a progress line to stderr every second"),
}, "The load generator");

/** The load command's config: every client field plus the `load` group. */
export const LOAD_SCHEMA = { ...CLIENT_SCHEMA, load: LOAD_GROUP };

/** The load command's config. */
export type LoadConfig = ConfigOf<typeof LOAD_SCHEMA>;

/** Settings of one load run. */
export type LoadSettings = LoadConfig["load"];

/** The command line of `client load`. */
export const LOAD_COMMAND: CommandSpec<typeof LOAD_SCHEMA> = {
  name: "client load",
  summary:
    "Load generator: simulated clients log in, then change velocity, query circles and cast AOEs at " +
    "per-client rates, sharing a few connections. Progress on stderr every second; a report table " +
    'and, as the last stdout line, {"load":{…}}. Exit 0 when it ran, 1 when no node answered, 2 for ' +
    "bad flags.",
  usage: [
    "client load --node=tcp://127.0.0.1:7000 --clients=1000 --duration=30",
    "client load --registry=tcp://127.0.0.1:7101 --clients=5000 --connections=20 --rate-scale=2",
  ],
  schema: LOAD_SCHEMA,
  flags: {
    clients: { field: "load.clients", doc: "Simulated clients" },
    connections: { field: "load.connections", doc: "Shared connections (0 = auto)" },
    duration: { field: "load.duration_s", doc: "Seconds of load (0 = until Ctrl-C)" },
    warmup: { field: "load.warmup_s", doc: "Seconds left out of the statistics" },
    "query-rate": { field: "load.query_rate", doc: "Queries per client per second" },
    "aoe-rate": { field: "load.aoe_rate", doc: "AOEs per client per second" },
    "velocity-every": {
      field: "load.velocity_interval_s",
      doc: "Seconds between velocity changes",
    },
    "rate-scale": { field: "load.rate_scale", doc: "Multiplies every rate" },
    radius: { field: "load.radius", doc: "Query and AOE radius, m" },
    speed: { field: "load.speed", doc: "Speed of velocity changes, m/s" },
    "max-in-flight": { field: "load.max_in_flight", doc: "Requests in flight per connection" },
    "poll-ms": { field: "load.poll_ms", doc: "Timer-mode pump: pause between polls, ms" },
    keepalive: { field: "load.keepalive_s", doc: "Ping after this many idle seconds" },
    logout: { field: "load.logout", doc: "Log clients out at the end (true/false)" },
    progress: { field: "load.progress", doc: "Progress line every second (true/false)" },
    node: { field: "node", doc: "Node endpoint, tcp://HOST:PORT" },
    registry: { field: "registry", doc: "Registry discovery endpoints, comma-separated" },
    format: { field: "format", doc: "binary or json" },
    "log-level": { field: "log_level", doc: "debug, info, warning or error" },
  },
};

const logger = log("client", "load");

/** Kinds of scheduled work, the low digits of a schedule item (item = client · KINDS + kind). */
const VELOCITY = 0;
const QUERY = 1;
const AOE = 2;
const KEEPALIVE = 3;
const LOGIN = 4;
const KINDS = 5;
/** Report names of the periodic kinds. */
const OP_NAMES = ["set_velocity", "query_circle", "aoe", "ping"] as const;

/** Client states. */
const NEW = 0;
const LOGGING_IN = 1;
const ACTIVE = 2;
const WAITING = 3;

/** Schedule resolution and timer loop period, ms. */
const SLOT_MS = 1;
const LOOP_MS = 5;
/** A periodic op more than this late is dropped (counted as skipped) instead of sent in a burst. */
const CATCH_UP_MS = 1000;
const LOGIN_RETRY_MS = 1000;
/** The status reply asked for as measuring ends counts if it arrives this soon after the end. */
const TICK_RATE_SLACK_MS = 250;

/** Periods of the scheduled kinds in ms (Infinity = never), indexed by kind. */
export function opPeriods(load: LoadSettings): number[] {
  const every = (perSecond: number) => (perSecond > 0 ? 1000 / perSecond : Infinity);
  const scale = load.rate_scale;
  return [
    load.velocity_interval_s > 0 ? every(scale / load.velocity_interval_s) : Infinity,
    every(load.query_rate * scale),
    every(load.aoe_rate * scale),
    load.keepalive_s > 0 ? load.keepalive_s * 1000 : Infinity,
    LOGIN_RETRY_MS,
  ];
}

/** Connections to use for `clients` when `connections` is 0 (auto): one per 250 clients, ≤ 64. */
export function connectionCount(clients: number, connections: number): number {
  const n = connections > 0 ? connections : Math.min(64, Math.ceil(clients / 250));
  return Math.max(1, Math.min(n, clients));
}

/** Options of {@linkcode OpSchedule}. */
export interface OpScheduleOptions {
  /** Time resolution, ms: items fire once their whole slot has passed (at most this late). */
  slotMs: number;
  /** Longest delay scheduled ahead, ms (longer ones still work, at the cost of a re-queue per turn). */
  horizonMs: number;
  /** The current time, ms. */
  now: number;
}

/**
 * A timing wheel of integer items with due times: `schedule` is O(1), `advance(now)` fires every item
 * whose slot has passed, in slot order, never early. Firing may schedule again (also into the past:
 * such items fire on the next slot processed). Pure: the caller passes the time.
 */
export class OpSchedule {
  readonly #slotMs: number;
  readonly #slots: number[][];
  #spare: number[] = [];
  #cursor: number;
  #size = 0;

  /** Creates an empty schedule. */
  constructor(options: OpScheduleOptions) {
    if (!(options.slotMs > 0)) throw new RangeError("slotMs must be positive");
    this.#slotMs = options.slotMs;
    const n = Math.ceil(Math.max(options.horizonMs, options.slotMs) / options.slotMs) + 2;
    this.#slots = Array.from({ length: n }, () => []);
    this.#cursor = Math.floor(options.now / options.slotMs);
  }

  /** Items waiting. */
  get size(): number {
    return this.#size;
  }

  /** Schedules `item` to fire at `due` (ms). */
  schedule(item: number, due: number): void {
    const n = this.#slots.length;
    let k = Math.floor(due / this.#slotMs);
    if (!(k >= this.#cursor)) k = this.#cursor; // also NaN
    if (k > this.#cursor + n - 1) k = this.#cursor + n - 1;
    this.#slots[k % n].push(item, due);
    this.#size++;
  }

  /** Fires every item whose slot ended at or before `now`; returns how many fired. */
  advance(now: number, fire: (item: number, due: number) => void): number {
    const n = this.#slots.length;
    const last = Math.floor(now / this.#slotMs) - 1;
    let fired = 0;
    while (this.#cursor <= last) {
      // After a long pause every item sits in one of the n slots: one turn is enough.
      if (last - this.#cursor >= n) this.#cursor = last - n + 1;
      const index = this.#cursor % n;
      this.#cursor++;
      const items = this.#slots[index];
      if (items.length === 0) continue;
      this.#slots[index] = this.#spare;
      for (let i = 0; i < items.length; i += 2) {
        this.#size--;
        const item = items[i];
        const due = items[i + 1];
        // Beyond the horizon when scheduled: not its turn yet.
        if (due > now) this.schedule(item, due);
        else {
          fired++;
          fire(item, due);
        }
      }
      items.length = 0;
      this.#spare = items;
    }
    return fired;
  }
}

/** One shared connection and its queues. */
class Lane {
  readonly index: number;
  readonly connection: Connection;
  /** The connection's own client id (pings, status). */
  readonly ownId: string;
  inFlight = 0;
  /** Clients waiting to log in (or resume), FIFO. */
  logins: number[] = [];
  loginHead = 0;
  /** Ops waiting for room in flight: ring of (item, due). */
  readonly backlogItems: Int32Array;
  readonly backlogDue: Float64Array;
  backlogHead = 0;
  backlogSize = 0;

  constructor(index: number, connection: Connection, ownId: string, backlog: number) {
    this.index = index;
    this.connection = connection;
    this.ownId = ownId;
    this.backlogItems = new Int32Array(backlog);
    this.backlogDue = new Float64Array(backlog);
  }

  get waitingLogins(): number {
    return this.logins.length - this.loginHead;
  }
}

interface StatusSample {
  at: number;
  tickP99: number;
  tick: number;
  uptimeS: number;
  sessions: number;
}

interface NodeTrack {
  samples: StatusSample[];
  last?: NonNullable<Envelope["statusReply"]>;
}

/** Options of {@linkcode LoadGenerator}. */
export interface LoadGeneratorOptions {
  config: ClientConfig;
  load: LoadSettings;
  /** Stops the run early (the report still comes). */
  signal?: AbortSignal;
  /** Progress lines (default: stderr). */
  progress?: (line: string) => void;
  /** Random numbers in [0, 1). */
  random?: () => number;
}

/**
 * Runs one load: connects, logs the clients in, fires their operations until the duration ends or the
 * signal aborts, then drains, reads the nodes' status, logs out and returns the report.
 */
export class LoadGenerator implements AsyncDisposable {
  readonly #config: ClientConfig;
  readonly #load: LoadSettings;
  readonly #signal: AbortSignal | undefined;
  readonly #progress: (line: string) => void;
  readonly #random: () => number;
  readonly #pump: Pump;
  readonly #periods: number[];
  readonly #lanes: Lane[] = [];
  readonly #sessions: ClientSession[] = [];
  readonly #state: Uint8Array;
  readonly #scheduled: Uint8Array;
  readonly #lastSent: Float64Array;
  /** Last known position and velocity of each client's user, and when (ms). */
  readonly #px: Float64Array;
  readonly #py: Float64Array;
  readonly #vx: Float64Array;
  readonly #vy: Float64Array;
  readonly #pt: Float64Array;
  readonly #schedule: OpSchedule;
  readonly #ops = OP_NAMES.map(() => new OpStats());
  readonly #login = new OpStats();
  readonly #logout = new OpStats();
  readonly #lag = new LatencyHistogram();
  /** Reply times of the current second, for the progress line. */
  readonly #secondLatency = new LatencyHistogram();
  #logoutSeconds = 0;
  readonly #nodes = new Map<string, NodeTrack>();
  #skipped = 0;
  #loggedIn = 0;
  #everLoggedIn = 0;
  #startedAt = 0;
  #phaseAt = -1;
  #measureAt = Infinity;
  #endAt = Infinity;
  #measuring = false;
  #stopping = false;
  #doneThisSecond = 0;
  #lastProgressAt = 0;
  #statusInFlight = 0;
  #closed = false;
  /** The time of the current timer round. */
  #now = 0;

  /** Prepares a run (nothing is connected until {@linkcode run}). */
  constructor(options: LoadGeneratorOptions) {
    this.#config = options.config;
    this.#load = options.load;
    this.#signal = options.signal;
    this.#progress = options.progress ?? ((line) => writeErr(line));
    this.#random = options.random ?? Math.random;
    // The usual pump waits on epoll and sweeps only the sockets that signalled: with thousands of
    // connections that is far cheaper than a timer-mode pump, which polls every socket each round
    // (measured at 6,000 clients over 3,000 connections: 60% of the generator's CPU in those
    // polls). With 8 connections both cost about the same. poll_ms > 0 still selects the timer
    // pump, for runtimes without epoll.
    this.#pump = options.load.poll_ms > 0
      ? new Pump({ wait: "timer", busyWindowMs: 0, idleDelayMs: options.load.poll_ms })
      : new Pump();
    const n = options.load.clients;
    this.#state = new Uint8Array(n);
    this.#scheduled = new Uint8Array(n);
    this.#lastSent = new Float64Array(n);
    this.#px = new Float64Array(n);
    this.#py = new Float64Array(n);
    this.#vx = new Float64Array(n);
    this.#vy = new Float64Array(n);
    this.#pt = new Float64Array(n);
    this.#periods = opPeriods(options.load);
    const finite = this.#periods.filter((p) => Number.isFinite(p));
    this.#schedule = new OpSchedule({
      slotMs: SLOT_MS,
      horizonMs: Math.min(60_000, Math.max(...finite)),
      now: performance.now(),
    });
  }

  /**
   * Runs the load and returns the report, or `undefined` when no node answered within the connect
   * timeout (or the signal aborted before any did).
   */
  async run(): Promise<LoadReport | undefined> {
    const load = this.#load;
    const m = connectionCount(load.clients, load.connections);
    const backlog = Math.max(4096, load.max_in_flight * 8);
    for (let i = 0; i < m; i++) {
      const ownId = crypto.randomUUID();
      const lane: Lane = new Lane(
        i,
        new Connection({
          pump: this.#pump,
          config: this.#config,
          clientId: ownId,
          onEvent: (event) => this.#onEvent(lane, event),
          random: this.#random,
        }),
        ownId,
        backlog,
      );
      this.#lanes.push(lane);
    }
    for (let c = 0; c < load.clients; c++) {
      const lane = this.#lanes[c % m];
      this.#sessions.push(new ClientSession(lane.connection));
      lane.logins.push(c);
    }
    this.#startedAt = performance.now();
    for (const lane of this.#lanes) lane.connection.start();
    const connectTimeout = Math.max(5000, this.#config.server_timeout_ms * 3);
    const anyReady = await this.#waitForAny(connectTimeout);
    if (!anyReady) return undefined;
    // The others usually follow within milliseconds; do not hold the run for a missing one.
    await this.#waitUntil(
      () => this.#lanes.every((l) => l.connection.connected) || this.#signal?.aborted === true,
      performance.now() + 2000,
    );
    const up = this.#lanes.filter((l) => l.connection.connected);
    logger.info("{up}/{total} connection(s) up to node(s) {nodes}", {
      up: up.length,
      total: this.#lanes.length,
      nodes: [...new Set(up.map((l) => `${l.connection.nodeId} at ${l.connection.endpoint}`))]
        .join(", "),
    });

    await this.#loop();
    const endedAt = performance.now();
    // The node's tick count as measuring ends closes the tick-rate window (before the drain,
    // during which the node is less loaded).
    void this.#pollStatus(true);

    // Replies to ops sent before the end still count; the measured time ends at the stop.
    const drainUntil = endedAt + Math.min(5000, this.#config.request_timeout_ms + 500);
    await this.#waitUntil(() => this.#inFlight() === 0, drainUntil);
    await this.#pollStatus(true);
    if (load.logout) {
      const t0 = performance.now();
      await this.#logoutAll();
      this.#logoutSeconds = (performance.now() - t0) / 1000;
    }
    return this.#report(endedAt);
  }

  /** Closes every connection and the pump. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const lane of this.#lanes) lane.connection.close();
    await this.#pump[Symbol.asyncDispose]();
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #waitForAny(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    await this.#waitUntil(
      () => this.#lanes.some((l) => l.connection.connected) || this.#signal?.aborted === true,
      deadline,
    );
    return this.#lanes.some((l) => l.connection.connected);
  }

  /** Polls `done` every loop period until it holds or `deadline` passes. */
  async #waitUntil(done: () => boolean, deadline: number): Promise<void> {
    while (!done() && performance.now() < deadline) await delay(LOOP_MS);
  }

  /** The timer loop: one interval fires every due op; ends when the duration is over or on abort. */
  #loop(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const onAbort = () => this.#stop();
    this.#signal?.addEventListener("abort", onAbort, { once: true });
    this.#lastProgressAt = performance.now();
    const fire = (item: number, due: number) => this.#fire(item, due);
    const timer = setInterval(() => {
      const now = performance.now();
      this.#now = now;
      if (!this.#stopping) {
        this.#schedule.advance(now, fire);
        for (const lane of this.#lanes) this.#feed(lane, now);
        this.#phases(now);
      }
      if (now - this.#lastProgressAt >= 1000) {
        this.#everySecond(now);
      }
      if (this.#stopping) {
        clearInterval(timer);
        this.#signal?.removeEventListener("abort", onAbort);
        resolve();
      }
    }, LOOP_MS);
    return promise;
  }

  #stop(): void {
    this.#stopping = true;
  }

  /** Moves through login phase → warm-up → measurement → end. */
  #phases(now: number): void {
    const load = this.#load;
    if (this.#phaseAt < 0) {
      const allIn = this.#everLoggedIn === load.clients;
      if (allIn || now - this.#startedAt >= load.login_timeout_s * 1000) {
        this.#phaseAt = now;
        this.#measureAt = now + load.warmup_s * 1000;
        this.#endAt = load.duration_s > 0 ? now + load.duration_s * 1000 : Infinity;
        if (!allIn) {
          logger.warn("Only {n} of {clients} clients logged in after {s} s: starting anyway", {
            n: this.#everLoggedIn,
            clients: load.clients,
            s: load.login_timeout_s,
          });
        }
      }
    }
    if (!this.#measuring && now >= this.#measureAt) {
      this.#measuring = true;
      this.#measureAt = now;
      for (const s of this.#ops) s.reset();
      this.#lag.reset();
      this.#skipped = 0;
      // The node's tick count now opens the tick-rate window. Without it the window opened at a
      // routine poll up to a second later; in a 2-s run often only the last routine poll and the
      // final one were left, < 100 ms apart, and one tick more or less swung the rate by 20 Hz.
      this.#pollStatus(true);
    }
    if (now >= this.#endAt) this.#stop();
  }

  /** A scheduled item is due. */
  #fire(item: number, due: number): void {
    const kind = item % KINDS;
    const client = (item - kind) / KINDS;
    const now = this.#now;
    if (kind === LOGIN) {
      this.#enqueueLogin(client);
      return;
    }
    const period = this.#periods[kind];
    let next = due + period;
    if (kind === KEEPALIVE) {
      const idleUntil = this.#lastSent[client] + period;
      if (idleUntil > now) {
        this.#schedule.schedule(item, idleUntil);
        return;
      }
      next = now + period;
    } else if (next < now - CATCH_UP_MS) {
      // Far behind (the generator stalled): drop the missed turns rather than burst.
      this.#skipped += Math.floor((now - next) / period);
      next = now + this.#random() * period;
    }
    this.#schedule.schedule(item, next);
    if (this.#state[client] !== ACTIVE) return;
    const lane = this.#lanes[client % this.#lanes.length];
    if (!lane.connection.connected) {
      this.#skipped++;
      return;
    }
    // Queued, then sent lane by lane from the timer loop: measured here, a send that follows another
    // on the same socket costs zeromq ~5 µs, a lone one 15–30 µs (it wakes zeromq's I/O thread).
    if (lane.backlogSize < lane.backlogItems.length) {
      const at = (lane.backlogHead + lane.backlogSize) % lane.backlogItems.length;
      lane.backlogItems[at] = item;
      lane.backlogDue[at] = due;
      lane.backlogSize++;
    } else {
      this.#skipped++;
    }
  }

  /** Sends queued logins, then queued ops, while the lane has room in flight. */
  #feed(lane: Lane, now: number): void {
    if (!lane.connection.connected) return;
    const cap = this.#load.max_in_flight;
    while (lane.inFlight < cap && lane.loginHead < lane.logins.length) {
      const client = lane.logins[lane.loginHead++];
      this.#sendLogin(lane, client);
    }
    if (lane.loginHead === lane.logins.length && lane.loginHead > 0) {
      lane.logins = [];
      lane.loginHead = 0;
    }
    if (lane.waitingLogins > 0) return;
    while (lane.inFlight < cap && lane.backlogSize > 0) {
      const item = lane.backlogItems[lane.backlogHead];
      const due = lane.backlogDue[lane.backlogHead];
      lane.backlogHead = (lane.backlogHead + 1) % lane.backlogItems.length;
      lane.backlogSize--;
      const kind = item % KINDS;
      const client = (item - kind) / KINDS;
      if (this.#state[client] === ACTIVE) this.#send(lane, client, kind, due, now);
    }
  }

  #send(lane: Lane, client: number, kind: number, due: number, now: number): void {
    if (this.#measuring) this.#lag.record(now - due);
    const radius = this.#load.radius;
    // Straight to the connection (not through ClientSession): the generator handles lost users
    // itself, and one promise per op instead of three keeps its CPU for the node.
    let body: Envelope;
    switch (kind) {
      case VELOCITY: {
        const angle = this.#random() * 2 * Math.PI;
        const speed = this.#load.speed;
        body = {
          setVelocity: {
            vx: round(speed * Math.cos(angle), 6),
            vy: round(speed * Math.sin(angle), 6),
          },
        };
        break;
      }
      case QUERY: {
        const dt = (now - this.#pt[client]) / 1000;
        body = {
          queryCircle: {
            x: this.#px[client] + this.#vx[client] * dt,
            y: this.#py[client] + this.#vy[client] * dt,
            radius,
          },
        };
        break;
      }
      case AOE:
        body = { aoe: { radius, amount: this.#load.aoe_amount } };
        break;
      default:
        body = { ping: { clientTimeMs: Date.now() } };
    }
    lane.inFlight++;
    this.#lastSent[client] = now;
    lane.connection.request(this.#sessions[client].clientId, body).then(
      (reply) => this.#done(lane, client, kind, now, reply, undefined),
      (err) => this.#done(lane, client, kind, now, undefined, err),
    );
  }

  #done(
    lane: Lane,
    client: number,
    kind: number,
    sentAt: number,
    reply: Envelope | undefined,
    err: unknown,
  ): void {
    lane.inFlight--;
    this.#doneThisSecond++;
    const stats = this.#ops[kind];
    const now = performance.now();
    const code = reply
      ? reply.error ? reply.error.code ?? "INTERNAL" : undefined
      : (err as RequestError)?.code ?? "INTERNAL";
    if (code === undefined) {
      stats.success(now - sentAt);
      this.#secondLatency.record(now - sentAt);
      if (kind === VELOCITY) this.#remember(client, reply?.setVelocityReply?.user);
    } else {
      stats.failure(code);
      if (code === "SESSION_INVALID" || code === "NOT_LOGGED_IN") {
        // The node lost this user (expired, or another node after a reconnect): log in again.
        this.#enqueueLogin(client);
      }
    }
  }

  #enqueueLogin(client: number): void {
    const state = this.#state[client];
    if (state === LOGGING_IN) return;
    this.#setInactive(client);
    this.#state[client] = NEW;
    this.#lanes[client % this.#lanes.length].logins.push(client);
  }

  #setInactive(client: number): void {
    if (this.#state[client] === ACTIVE) this.#loggedIn--;
    if (this.#state[client] !== LOGGING_IN) this.#state[client] = WAITING;
  }

  #sendLogin(lane: Lane, client: number): void {
    if (this.#state[client] === ACTIVE || this.#state[client] === LOGGING_IN) return;
    this.#state[client] = LOGGING_IN;
    const session = this.#sessions[client];
    lane.inFlight++;
    const pending = session.userId ? session.resume() : session.login();
    pending.then((out) => {
      lane.inFlight--;
      const now = performance.now();
      if (out?.ok) {
        this.#login.success(out.ms);
        this.#state[client] = ACTIVE;
        this.#loggedIn++;
        this.#remember(client, out.value.user);
        if (!this.#scheduled[client]) {
          this.#scheduled[client] = 1;
          this.#everLoggedIn++;
          this.#lastSent[client] = now;
          for (let kind = 0; kind < LOGIN; kind++) {
            const period = this.#periods[kind];
            if (Number.isFinite(period)) {
              this.#schedule.schedule(client * KINDS + kind, now + this.#random() * period);
            }
          }
        }
      } else {
        this.#state[client] = WAITING;
        if (out) this.#login.failure(out.error.code);
        if (!this.#stopping) this.#schedule.schedule(client * KINDS + LOGIN, now + LOGIN_RETRY_MS);
      }
    });
  }

  #remember(client: number, user: UserState | null | undefined): void {
    if (!user) return;
    this.#px[client] = user.x ?? 0;
    this.#py[client] = user.y ?? 0;
    this.#vx[client] = user.vx ?? 0;
    this.#vy[client] = user.vy ?? 0;
    this.#pt[client] = performance.now();
  }

  #onEvent(lane: Lane, event: ConnectionEvent): void {
    // The first connect of every connection is summarised once (see run()); the rest is news.
    const routine = (event.type === "connecting" && event.attempt === 0) ||
      (event.type === "connected" && !event.reconnect);
    if (!routine || this.#config.log_level === "debug") logConnectionEvent(event);
    if (event.type === "connected") {
      if (event.reconnect) {
        // The node may be another one: every client on this connection resumes its user first.
        for (let c = lane.index; c < this.#sessions.length; c += this.#lanes.length) {
          if (this.#state[c] === ACTIVE) this.#enqueueLogin(c);
        }
      }
      if (!this.#stopping) this.#feed(lane, performance.now());
    }
  }

  #inFlight(): number {
    let n = 0;
    for (const lane of this.#lanes) n += lane.inFlight;
    return n;
  }

  #everySecond(now: number): void {
    const seconds = (now - this.#lastProgressAt) / 1000;
    this.#lastProgressAt = now;
    const rate = this.#doneThisSecond / seconds;
    this.#doneThisSecond = 0;
    this.#pollStatus(false);
    if (!this.#load.progress) return;
    const connected = this.#lanes.filter((l) => l.connection.connected).length;
    let errors = this.#login.errors;
    for (const s of this.#ops) errors += s.errors;
    const p99 = this.#secondLatency.percentile(99);
    this.#secondLatency.reset();
    const node = [...this.#nodes.values()].map((t) => t.samples.at(-1)).filter((s) =>
      s !== undefined
    );
    const phase = this.#phaseAt < 0
      ? "login"
      : !this.#measuring
      ? "warm-up"
      : Number.isFinite(this.#endAt)
      ? `${Math.max(0, Math.ceil((this.#endAt - now) / 1000))} s left`
      : "running";
    this.#progress(
      `load ${Math.round((now - this.#startedAt) / 1000)}s [${phase}] ` +
        `clients ${this.#loggedIn}/${this.#load.clients} logged in, ` +
        `connections ${connected}/${this.#lanes.length}, ${Math.round(rate)} ops/s, ` +
        `reply p99 ${round(p99, 1)} ms, in flight ${this.#inFlight()}, ` +
        `errors ${errors}, skipped ${this.#skipped}, reconnects ${this.#reconnects()}` +
        (node.length
          ? `; node tick p99 ${round(Math.max(...node.map((s) => s.tickP99)), 2)} ms, sessions ${
            node.reduce((a, s) => a + s.sessions, 0)
          }`
          : ""),
    );
  }

  #reconnects(): number {
    let n = 0;
    for (const lane of this.#lanes) n += lane.connection.counters.reconnects;
    return n;
  }

  /**
   * Asks each node the clients are connected to for its status (one request per node). A routine
   * poll is skipped while another is in flight; a forced one (measurement start, end) is not.
   */
  async #pollStatus(force: boolean): Promise<void> {
    if (this.#statusInFlight > 0 && !force) return;
    const byNode = new Map<string, Lane>();
    for (const lane of this.#lanes) {
      const id = lane.connection.nodeId;
      if (lane.connection.connected && !byNode.has(id)) byNode.set(id, lane);
    }
    this.#statusInFlight++;
    try {
      await Promise.all([...byNode.entries()].map(async ([nodeId, lane]) => {
        try {
          const reply = await lane.connection.request(lane.ownId, { status: {} }, 2000);
          const status = reply.statusReply;
          if (!status) return;
          const id = status.nodeId || nodeId;
          let track = this.#nodes.get(id);
          if (!track) this.#nodes.set(id, track = { samples: [] });
          track.last = status;
          track.samples.push({
            at: performance.now(),
            tickP99: status.load?.tickP99Ms ?? 0,
            tick: status.tick ?? 0,
            uptimeS: status.uptimeS ?? 0,
            sessions: status.load?.sessions ?? 0,
          });
        } catch {
          // No status this second: the next poll tries again.
        }
      }));
    } finally {
      this.#statusInFlight--;
    }
  }

  /** Logs every logged-in client out, within the in-flight caps, for at most 10 s. */
  async #logoutAll(): Promise<void> {
    const deadline = performance.now() + 10_000;
    const cap = this.#load.max_in_flight;
    const work = this.#lanes.map(async (lane) => {
      const waiters: Promise<void>[] = [];
      let inFlight = 0;
      let wake: (() => void) | undefined;
      for (let c = lane.index; c < this.#sessions.length; c += this.#lanes.length) {
        if (this.#state[c] !== ACTIVE || !lane.connection.connected) continue;
        if (performance.now() > deadline) break;
        while (inFlight >= cap) await new Promise<void>((r) => (wake = r));
        inFlight++;
        this.#state[c] = WAITING;
        this.#loggedIn--;
        waiters.push(
          this.#sessions[c].logout().then((out) => {
            inFlight--;
            if (out.ok) this.#logout.success(out.ms);
            else this.#logout.failure(out.error.code);
            wake?.();
            wake = undefined;
          }),
        );
      }
      await Promise.all(waiters);
    });
    await Promise.all(work);
  }

  #report(endedAt: number): LoadReport {
    const measured = this.#measuring ? Math.max(0, (endedAt - this.#measureAt) / 1000) : 0;
    const ops: Record<string, ReturnType<typeof summarize>> = {
      login: summarize(this.#login, (endedAt - this.#startedAt) / 1000),
    };
    const total = new OpStats();
    this.#ops.forEach((stats, kind) => {
      if (kind !== KEEPALIVE || stats.count > 0) ops[OP_NAMES[kind]] = summarize(stats, measured);
      total.merge(stats);
    });
    if (this.#logout.count > 0) ops.logout = summarize(this.#logout, this.#logoutSeconds);
    const errors: Record<string, number> = {};
    for (const s of [this.#login, total, this.#logout]) {
      for (const [code, n] of s.errorCodes) errors[code] = (errors[code] ?? 0) + n;
    }
    const nodes = [...this.#nodes.entries()].map(([id, track]) =>
      this.#nodeFigures(id, track, endedAt)
    );
    const node: NodeFigures | null = nodes.length === 0 ? null : nodes.length === 1 ? nodes[0] : {
      node_id: nodes.map((n) => n.node_id).join(","),
      role: "cluster",
      connections: sum(nodes.map((n) => n.connections)),
      sessions: sum(nodes.map((n) => n.sessions)),
      users: Math.max(...nodes.map((n) => n.users)),
      tick_p99_ms: Math.max(...nodes.map((n) => n.tick_p99_ms)),
      tick_avg_ms: Math.max(...nodes.map((n) => n.tick_avg_ms)),
      tick_p99_ms_median: Math.max(...nodes.map((n) => n.tick_p99_ms_median)),
      tick_p99_ms_max: Math.max(...nodes.map((n) => n.tick_p99_ms_max)),
      tick_rate_hz: Math.min(...nodes.map((n) => n.tick_rate_hz)),
      tick_rate_s: Math.min(...nodes.map((n) => n.tick_rate_s)),
      sessions_max: sum(nodes.map((n) => n.sessions_max)),
    };
    const target = this.#config.registry.length
      ? `registry ${this.#config.registry.join(",")}`
      : this.#config.node;
    return {
      target,
      clients: this.#load.clients,
      connections: this.#lanes.length,
      logged_in: this.#everLoggedIn,
      measured_s: round(measured, 2),
      warmup_s: this.#load.warmup_s,
      login_s: this.#phaseAt >= 0 && this.#everLoggedIn === this.#load.clients
        ? round((this.#phaseAt - this.#startedAt) / 1000, 2)
        : -1,
      ops,
      total: summarize(total, measured),
      errors,
      reconnects: this.#reconnects(),
      skipped: this.#skipped,
      send_lag_p99_ms: round(this.#lag.percentile(99)),
      send_lag_max_ms: round(this.#lag.max),
      node,
      nodes,
    };
  }

  #nodeFigures(id: string, track: NodeTrack, endedAt: number): NodeFigures {
    // Tick durations: the node reports its last full 1-s window, so samples from 1 s into the
    // measured time on.
    const inWindow = track.samples.filter((s) =>
      this.#measuring && s.at >= this.#measureAt + 1000 && s.at <= endedAt + 1000
    );
    const window = inWindow.length ? inWindow : track.samples.slice(-1);
    // Tick rate: a count, so over the whole measured time (the poll at its start to the final one).
    const rate = this.#measuring
      ? tickRate(track.samples, this.#measureAt, endedAt + TICK_RATE_SLACK_MS)
      : { hz: 0, seconds: 0 };
    const load = track.last?.load ?? {};
    return {
      node_id: id,
      role: String(track.last?.role ?? "").replace("ROLE_", "").toLowerCase(),
      connections: load.connections ?? 0,
      sessions: load.sessions ?? 0,
      users: load.users ?? 0,
      tick_p99_ms: round(load.tickP99Ms ?? 0),
      tick_avg_ms: round(load.tickAvgMs ?? 0),
      tick_p99_ms_median: round(median(window.map((s) => s.tickP99))),
      tick_p99_ms_max: round(Math.max(0, ...window.map((s) => s.tickP99))),
      tick_rate_hz: round(rate.hz, 1),
      tick_rate_s: round(rate.seconds, 2),
      sessions_max: Math.max(0, ...track.samples.map((s) => s.sessions)),
    };
  }
}

/** Parses the load command line; throws {@linkcode ConfigError} for bad flags. */
export async function parseLoadArgs(
  args: string[],
): Promise<{ help: true } | { help: false; config: LoadConfig }> {
  const cmd = await parseCommandLine(LOAD_COMMAND, args);
  if (cmd.help) return { help: true };
  if (cmd.positionals.length > 0) {
    throw new ConfigError(`Unexpected argument "${cmd.positionals[0]}" (see --help)`);
  }
  const load = cmd.config.load;
  if (load.duration_s > 0 && load.warmup_s >= load.duration_s) {
    throw new ConfigError(
      `flag --warmup (${load.warmup_s} s) must be shorter than --duration (${load.duration_s} s)`,
    );
  }
  return { help: false, config: cmd.config };
}

/**
 * `client load [flags]`: parses `args` (the words after `load`), runs the load until the duration
 * ends or `signal` aborts, prints the report and returns the exit code (0 ran, 1 no node, 2 bad flags).
 */
export async function runLoad(args: string[], signal: AbortSignal): Promise<number> {
  let parsed;
  try {
    parsed = await parseLoadArgs(args);
  } catch (err) {
    console.error(`client load: ${(err as Error).message}`);
    return 2;
  }
  if (parsed.help) {
    console.log(helpText(LOAD_COMMAND));
    return 0;
  }
  const config = parsed.config;
  setupLogging({ level: config.log_level, pretty: config.pretty_log });
  const { load, ...clientConfig } = config;
  logger.info(
    "Load: {clients} clients over {connections} connection(s) against {target}",
    {
      clients: load.clients,
      connections: connectionCount(load.clients, load.connections),
      target: config.registry.length ? config.registry.join(",") : config.node,
    },
  );
  await using generator = new LoadGenerator({ config: clientConfig, load, signal });
  const report = await generator.run();
  if (!report) {
    logger.error("No node answered at {target}", {
      target: config.registry.length ? config.registry.join(",") : config.node,
    });
    return 1;
  }
  console.log(formatReport(report));
  console.log(JSON.stringify({ load: report }));
  return 0;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const encoder = new TextEncoder();

function writeErr(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // stderr closed: progress is optional.
  }
}
