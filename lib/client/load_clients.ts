/**
 * The load's simulated clients and their traffic: each client logs in (again when the node lost its
 * user), then sends its scheduled operations over a lane (a connection it shares with others), within
 * the lane's cap on requests in flight. Counts what happened; the driver decides when to run, measure
 * and stop.
 *
 * @module
 */
import type { Pump } from "../transport/mod.ts";
import type { ClientConfig } from "../config/mod.ts";
import type { Envelope, UserState } from "../protocol/mod.ts";
import { logConnectionEvent } from "./client_app.ts";
import { ClientSession } from "./client_session.ts";
import type { RequestError } from "./errors.ts";
import { Connection, type ConnectionEvent } from "./connection.ts";
import { transportOf } from "./client_transport.ts";
import { LoadLane } from "./load_lane.ts";
import {
  AOE,
  connectionCount,
  KEEPALIVE,
  KINDS,
  LOGIN,
  LOGIN_RETRY_MS,
  OP_NAMES,
  opPeriods,
  OpSchedule,
  QUERY,
  VELOCITY,
} from "./load_schedule.ts";
import type { LoadSettings } from "./load_settings.ts";
import { LatencyHistogram, OpStats, round } from "./load_stats.ts";

/** Client states. */
const NEW = 0;
const LOGGING_IN = 1;
const ACTIVE = 2;
const WAITING = 3;

/** Schedule resolution, ms. */
const SLOT_MS = 1;
/** A periodic op more than this late is dropped (counted as skipped) instead of sent in a burst. */
const CATCH_UP_MS = 1000;

/** Options of {@linkcode LoadClients}. */
export interface LoadClientsOptions {
  pump: Pump;
  config: ClientConfig;
  load: LoadSettings;
  /** Random numbers in [0, 1). */
  random: () => number;
}

/**
 * The simulated clients of one load run: their sessions, states and last known positions (typed
 * arrays indexed by client), the lanes they share and the schedule of their operations.
 */
export class LoadClients {
  /** The shared connections; client c uses lane c mod lanes. */
  readonly lanes: LoadLane[] = [];
  /** Statistics of the periodic operations, indexed by kind (see `OP_NAMES`). */
  readonly ops: OpStats[] = OP_NAMES.map(() => new OpStats());
  /** Statistics of logins and resumes. */
  readonly login: OpStats = new OpStats();
  /** Statistics of the logouts at the end. */
  readonly logout: OpStats = new OpStats();
  /** How late ops were sent after their due time (while measuring). */
  readonly lag: LatencyHistogram = new LatencyHistogram();
  /** Reply times (from the due time) of successful ops since the caller last reset it. */
  readonly recentLatency: LatencyHistogram = new LatencyHistogram();
  readonly #config: ClientConfig;
  readonly #load: LoadSettings;
  readonly #random: () => number;
  readonly #periods: number[];
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
  #skipped = 0;
  #loggedIn = 0;
  #everLoggedIn = 0;
  #doneCount = 0;
  #measuring = false;
  #stopping = false;
  /** The time of the current timer round. */
  #now = 0;

  /** Prepares the clients, their lanes and their logins (nothing connects until {@linkcode start}). */
  constructor(options: LoadClientsOptions) {
    this.#config = options.config;
    this.#load = options.load;
    this.#random = options.random;
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
    // Over WebSocket one socket per client, as browsers and game clients do.
    const m = transportOf(options.config) === "ws"
      ? n
      : connectionCount(n, options.load.connections, options.load.clients_per_connection);
    // A lane queues its clients' due ops; one client's lane (per-client) needs few slots, and
    // thousands of lanes each holding 4,096 would cost the generator hundreds of MB.
    const backlog = Math.min(
      Math.max(4096, options.load.max_in_flight * 8),
      Math.max(64, Math.ceil(n / m) * 64),
    );
    for (let i = 0; i < m; i++) {
      const ownId = crypto.randomUUID();
      const lane: LoadLane = new LoadLane({
        index: i,
        connection: new Connection({
          pump: options.pump,
          config: options.config,
          clientId: ownId,
          onEvent: (event) => this.#onEvent(lane, event),
          random: options.random,
        }),
        ownId,
        backlog,
        loginRate: options.load.login_rate,
      });
      this.lanes.push(lane);
    }
    for (let c = 0; c < n; c++) {
      const lane = this.lanes[c % m];
      // A client alone on its connection heartbeats as itself, as a game client does; sharing one,
      // the connection's heartbeats carry an id of their own.
      const clientId = m === n ? lane.ownId : crypto.randomUUID();
      this.#sessions.push(new ClientSession(lane.connection, clientId));
      lane.queueLogin(c);
    }
  }

  /** Clients logged in now. */
  get loggedIn(): number {
    return this.#loggedIn;
  }

  /** Clients that logged in at least once. */
  get everLoggedIn(): number {
    return this.#everLoggedIn;
  }

  /** Scheduled ops not sent (lane down, backlog full, or too late) since measuring began. */
  get skipped(): number {
    return this.#skipped;
  }

  /** True once {@linkcode stop} was called. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Connects every lane; the queued logins go out as each lane's node answers. */
  start(): void {
    for (const lane of this.lanes) lane.connection.start();
  }

  /** One timer round at `now`: fires every due op, then sends what each lane has room for. */
  advance(now: number): void {
    this.#now = now;
    this.#schedule.advance(now, this.#fire);
    for (const lane of this.lanes) this.#feed(lane, now);
  }

  /** Measuring begins: op statistics, send lag and skipped ops start again from zero. */
  startMeasuring(): void {
    this.#measuring = true;
    for (const s of this.ops) s.reset();
    this.lag.reset();
    this.#skipped = 0;
  }

  /** No more ops or login retries; replies still count. */
  stop(): void {
    this.#stopping = true;
  }

  /** Replies (and failures) of ops since the last call. */
  takeDoneCount(): number {
    const n = this.#doneCount;
    this.#doneCount = 0;
    return n;
  }

  /** Requests in flight over every lane. */
  inFlight(): number {
    let n = 0;
    for (const lane of this.lanes) n += lane.inFlight;
    return n;
  }

  /** Reconnects over every lane. */
  reconnects(): number {
    let n = 0;
    for (const lane of this.lanes) n += lane.connection.counters.reconnects;
    return n;
  }

  /** Logs every logged-in client out, within the in-flight caps, for at most 10 s. */
  async logoutAll(): Promise<void> {
    const deadline = performance.now() + 10_000;
    const cap = this.#load.max_in_flight;
    const work = this.lanes.map(async (lane) => {
      const waiters: Promise<void>[] = [];
      let inFlight = 0;
      let wake: (() => void) | undefined;
      for (let c = lane.index; c < this.#sessions.length; c += this.lanes.length) {
        if (this.#state[c] !== ACTIVE || !lane.connection.connected) continue;
        if (performance.now() > deadline) break;
        while (inFlight >= cap) await new Promise<void>((r) => (wake = r));
        inFlight++;
        this.#state[c] = WAITING;
        this.#loggedIn--;
        waiters.push(
          this.#sessions[c].logout().then((out) => {
            inFlight--;
            if (out.ok) this.logout.success(out.ms);
            else this.logout.failure(out.error.code);
            wake?.();
            wake = undefined;
          }),
        );
      }
      await Promise.all(waiters);
    });
    await Promise.all(work);
  }

  /** Closes every lane's connection. Idempotent. */
  close(): void {
    for (const lane of this.lanes) lane.connection.close();
  }

  /** A scheduled item is due (an arrow: the schedule calls it without `this`). */
  #fire = (item: number, due: number): void => {
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
    const lane = this.lanes[client % this.lanes.length];
    if (!lane.connection.connected) {
      this.#skipped++;
      return;
    }
    // Queued, then sent lane by lane from the timer loop: measured here, a send that follows another
    // on the same socket costs zeromq ~5 µs, a lone one 15–30 µs (it wakes zeromq's I/O thread).
    if (!lane.queueOp(item, due)) this.#skipped++;
  };

  /** Sends queued logins, then queued ops, while the lane has room in flight. */
  #feed(lane: LoadLane, now: number): void {
    if (!lane.connection.connected) return;
    const cap = this.#load.max_in_flight;
    while (lane.inFlight < cap && lane.waitingLogins > 0) {
      // New users within the node's per-connection rate; resumes create none.
      const client = lane.nextLogin;
      if (!this.#sessions[client].userId && !lane.takeLoginToken(now)) break;
      this.#sendLogin(lane, lane.takeLogin());
    }
    if (lane.waitingLogins > 0) return;
    while (lane.inFlight < cap && lane.backlogSize > 0) {
      const item = lane.nextItem;
      const due = lane.nextDue;
      lane.dropNext();
      const kind = item % KINDS;
      const client = (item - kind) / KINDS;
      if (this.#state[client] === ACTIVE) this.#send(lane, client, kind, due, now);
    }
  }

  #send(lane: LoadLane, client: number, kind: number, due: number, now: number): void {
    if (this.#measuring) this.lag.record(now - due);
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
    // Reply time counts from when the op was due, not from when it went out: a generator (or a
    // lane) that falls behind must not hide the wait from the figures (coordinated omission).
    lane.connection.request(this.#sessions[client].clientId, body).then(
      (reply) => this.#done(lane, client, kind, due, reply, undefined),
      (err) => this.#done(lane, client, kind, due, undefined, err),
    );
  }

  #done(
    lane: LoadLane,
    client: number,
    kind: number,
    dueAt: number,
    reply: Envelope | undefined,
    err: unknown,
  ): void {
    lane.inFlight--;
    this.#doneCount++;
    const stats = this.ops[kind];
    const now = performance.now();
    const code = reply
      ? reply.error ? reply.error.code ?? "INTERNAL" : undefined
      : (err as RequestError)?.code ?? "INTERNAL";
    if (code === undefined) {
      stats.success(now - dueAt);
      this.recentLatency.record(now - dueAt);
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
    this.lanes[client % this.lanes.length].queueLogin(client);
  }

  #setInactive(client: number): void {
    if (this.#state[client] === ACTIVE) this.#loggedIn--;
    if (this.#state[client] !== LOGGING_IN) this.#state[client] = WAITING;
  }

  #sendLogin(lane: LoadLane, client: number): void {
    if (this.#state[client] === ACTIVE || this.#state[client] === LOGGING_IN) return;
    this.#state[client] = LOGGING_IN;
    const session = this.#sessions[client];
    lane.inFlight++;
    const pending = session.userId ? session.resume() : session.login();
    pending.then((out) => {
      lane.inFlight--;
      const now = performance.now();
      if (out?.ok) {
        this.login.success(out.ms);
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
        if (out) this.login.failure(out.error.code);
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

  #onEvent(lane: LoadLane, event: ConnectionEvent): void {
    // The first connect of every connection is summarised once (the driver logs who is up).
    const routine = (event.type === "connecting" && event.attempt === 0) ||
      (event.type === "connected" && !event.reconnect);
    if (!routine || this.#config.log_level === "debug") logConnectionEvent(event);
    if (event.type === "connected") {
      if (event.reconnect) {
        // The node may be another one: every client on this connection resumes its user first.
        for (let c = lane.index; c < this.#sessions.length; c += this.lanes.length) {
          if (this.#state[c] === ACTIVE) this.#enqueueLogin(c);
        }
      }
      if (!this.#stopping) this.#feed(lane, performance.now());
    }
  }
}
