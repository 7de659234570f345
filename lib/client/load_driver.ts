/**
 * One load run, start to report: connects the simulated clients, moves through the phases (logins,
 * warm-up, measured time, end), prints a progress line every second, polls the nodes' status, then
 * drains, logs the clients out and builds the report.
 *
 * @module
 */
import { Pump } from "../transport/mod.ts";
import type { ClientConfig } from "../config/mod.ts";
import { log } from "../log/mod.ts";
import { LoadClients } from "./load_clients.ts";
import type { LoadLane } from "./load_lane.ts";
import { combineNodeFigures, LoadNodes } from "./load_nodes.ts";
import { KEEPALIVE, OP_NAMES } from "./load_schedule.ts";
import type { LoadSettings } from "./load_settings.ts";
import { formatProgress, type LoadReport, OpStats, round, summarize } from "./load_stats.ts";

const logger = log("client", "load");

/** Timer loop period, ms. */
const LOOP_MS = 5;

/** Options of {@linkcode LoadDriver}. */
export interface LoadDriverOptions {
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
export class LoadDriver implements AsyncDisposable {
  readonly #config: ClientConfig;
  readonly #load: LoadSettings;
  readonly #signal: AbortSignal | undefined;
  readonly #progress: (line: string) => void;
  readonly #pump: Pump;
  readonly #clients: LoadClients;
  readonly #nodes = new LoadNodes();
  #logoutSeconds = 0;
  #startedAt = 0;
  #phaseAt = -1;
  #measureAt = Infinity;
  #endAt = Infinity;
  #measuring = false;
  #lastProgressAt = 0;
  #statusInFlight = 0;
  #statusFailures = 0;
  #closed = false;

  /** Prepares a run (nothing is connected until {@linkcode run}). */
  constructor(options: LoadDriverOptions) {
    this.#config = options.config;
    this.#load = options.load;
    this.#signal = options.signal;
    this.#progress = options.progress ?? ((line) => writeErr(line));
    // The usual pump waits on epoll and sweeps only the sockets that signalled: with thousands of
    // connections that is far cheaper than a timer-mode pump, which polls every socket each round
    // (measured at 6,000 clients over 3,000 connections: 60% of the generator's CPU in those
    // polls). With 8 connections both cost about the same. poll_ms > 0 still selects the timer
    // pump, for runtimes without epoll.
    this.#pump = options.load.poll_ms > 0
      ? new Pump({ wait: "timer", busyWindowMs: 0, idleDelayMs: options.load.poll_ms })
      : new Pump();
    this.#clients = new LoadClients({
      pump: this.#pump,
      config: options.config,
      load: options.load,
      random: options.random ?? Math.random,
    });
  }

  /**
   * Runs the load and returns the report, or `undefined` when no node answered within the connect
   * timeout (or the signal aborted before any did).
   */
  async run(): Promise<LoadReport | undefined> {
    const lanes = this.#clients.lanes;
    this.#startedAt = performance.now();
    this.#clients.start();
    const connectTimeout = Math.max(5000, this.#config.server_timeout_ms * 3);
    const anyReady = await this.#waitForAny(connectTimeout);
    if (!anyReady) return undefined;
    // The others usually follow within milliseconds; do not hold the run for a missing one.
    await this.#waitUntil(
      () => lanes.every((l) => l.connection.connected) || this.#signal?.aborted === true,
      performance.now() + 2000,
    );
    const up = lanes.filter((l) => l.connection.connected);
    logger.info("{up}/{total} connection(s) up to node(s) {nodes}", {
      up: up.length,
      total: lanes.length,
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
    await this.#waitUntil(() => this.#clients.inFlight() === 0, drainUntil);
    await this.#pollStatus(true);
    if (this.#load.logout) {
      const t0 = performance.now();
      await this.#clients.logoutAll();
      this.#logoutSeconds = (performance.now() - t0) / 1000;
    }
    return this.#report(endedAt);
  }

  /** Closes every connection and the pump. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clients.close();
    await this.#pump[Symbol.asyncDispose]();
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #waitForAny(timeoutMs: number): Promise<boolean> {
    const lanes = this.#clients.lanes;
    const deadline = performance.now() + timeoutMs;
    await this.#waitUntil(
      () => lanes.some((l) => l.connection.connected) || this.#signal?.aborted === true,
      deadline,
    );
    return lanes.some((l) => l.connection.connected);
  }

  /** Polls `done` every loop period until it holds or `deadline` passes. */
  async #waitUntil(done: () => boolean, deadline: number): Promise<void> {
    while (!done() && performance.now() < deadline) await delay(LOOP_MS);
  }

  /** The timer loop: one interval fires every due op; ends when the duration is over or on abort. */
  #loop(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const clients = this.#clients;
    const onAbort = () => clients.stop();
    this.#signal?.addEventListener("abort", onAbort, { once: true });
    this.#lastProgressAt = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      if (!clients.stopping) {
        clients.advance(now);
        this.#phases(now);
      }
      if (now - this.#lastProgressAt >= 1000) {
        this.#everySecond(now);
      }
      if (clients.stopping) {
        clearInterval(timer);
        this.#signal?.removeEventListener("abort", onAbort);
        resolve();
      }
    }, LOOP_MS);
    return promise;
  }

  /** Moves through login phase → warm-up → measurement → end. */
  #phases(now: number): void {
    const load = this.#load;
    const clients = this.#clients;
    if (this.#phaseAt < 0) {
      const allIn = clients.everLoggedIn === load.clients;
      if (allIn || now - this.#startedAt >= load.login_timeout_s * 1000) {
        this.#phaseAt = now;
        this.#measureAt = now + load.warmup_s * 1000;
        this.#endAt = load.duration_s > 0 ? now + load.duration_s * 1000 : Infinity;
        if (!allIn) {
          logger.warn("Only {n} of {clients} clients logged in after {s} s: starting anyway", {
            n: clients.everLoggedIn,
            clients: load.clients,
            s: load.login_timeout_s,
          });
        }
      }
    }
    if (!this.#measuring && now >= this.#measureAt) {
      this.#measuring = true;
      this.#measureAt = now;
      clients.startMeasuring();
      // The node's tick count now opens the tick-rate window. Without it the window opened at a
      // routine poll up to a second later; in a 2-s run often only the last routine poll and the
      // final one were left, < 100 ms apart, and one tick more or less swung the rate by 20 Hz.
      this.#pollStatus(true);
    }
    if (now >= this.#endAt) clients.stop();
  }

  #everySecond(now: number): void {
    const clients = this.#clients;
    const seconds = (now - this.#lastProgressAt) / 1000;
    this.#lastProgressAt = now;
    const rate = clients.takeDoneCount() / seconds;
    this.#pollStatus(false);
    if (!this.#load.progress) return;
    const connected = clients.lanes.filter((l) => l.connection.connected).length;
    let errors = clients.login.errors;
    for (const s of clients.ops) errors += s.errors;
    const p99 = clients.recentLatency.percentile(99);
    clients.recentLatency.reset();
    const phase = this.#phaseAt < 0
      ? "login"
      : !this.#measuring
      ? "warm-up"
      : Number.isFinite(this.#endAt)
      ? `${Math.max(0, Math.ceil((this.#endAt - now) / 1000))} s left`
      : "running";
    this.#progress(formatProgress({
      elapsedMs: now - this.#startedAt,
      phase,
      loggedIn: clients.loggedIn,
      clients: this.#load.clients,
      connected,
      connections: clients.lanes.length,
      opsPerS: rate,
      replyP99Ms: p99,
      inFlight: clients.inFlight(),
      errors,
      skipped: clients.skipped,
      reconnects: clients.reconnects(),
      nodes: this.#nodes.latest(),
    }));
  }

  /**
   * Asks each node the clients are connected to for its status (one request per node). A routine
   * poll is skipped while another is in flight; a forced one (measurement start, end) is not.
   */
  async #pollStatus(force: boolean): Promise<void> {
    if (this.#statusInFlight > 0 && !force) return;
    const byNode = new Map<string, LoadLane>();
    for (const lane of this.#clients.lanes) {
      const id = lane.connection.nodeId;
      if (lane.connection.connected && !byNode.has(id)) byNode.set(id, lane);
    }
    this.#statusInFlight++;
    try {
      await Promise.all([...byNode.entries()].map(async ([nodeId, lane]) => {
        let ok = false;
        try {
          const reply = await lane.connection.request(lane.ownId, { status: {} }, 2000);
          if (reply.statusReply) {
            this.#nodes.record(reply.statusReply, performance.now(), nodeId);
            ok = true;
          }
        } catch {
          // Counted below; the next poll tries again.
        }
        // A node too stalled to answer within 2 s is what the figures are for: not a gap to skip.
        if (!ok && this.#measuring) this.#statusFailures++;
      }));
    } finally {
      this.#statusInFlight--;
    }
  }

  #report(endedAt: number): LoadReport {
    const clients = this.#clients;
    const measured = this.#measuring ? Math.max(0, (endedAt - this.#measureAt) / 1000) : 0;
    const ops: Record<string, ReturnType<typeof summarize>> = {
      login: summarize(clients.login, (endedAt - this.#startedAt) / 1000),
    };
    const total = new OpStats();
    clients.ops.forEach((stats, kind) => {
      if (kind !== KEEPALIVE || stats.count > 0) ops[OP_NAMES[kind]] = summarize(stats, measured);
      total.merge(stats);
    });
    if (clients.logout.count > 0) ops.logout = summarize(clients.logout, this.#logoutSeconds);
    const errors: Record<string, number> = {};
    for (const s of [clients.login, total, clients.logout]) {
      for (const [code, n] of s.errorCodes) errors[code] = (errors[code] ?? 0) + n;
    }
    const nodes = this.#nodes.figures({
      measuring: this.#measuring,
      measureAt: this.#measureAt,
      endedAt,
    });
    const target = this.#config.registry.length
      ? `registry ${this.#config.registry.join(",")}`
      : this.#config.ws || this.#config.node;
    return {
      target,
      clients: this.#load.clients,
      connections: clients.lanes.length,
      logged_in: clients.everLoggedIn,
      measured_s: round(measured, 2),
      warmup_s: this.#load.warmup_s,
      login_s: this.#phaseAt >= 0 && clients.everLoggedIn === this.#load.clients
        ? round((this.#phaseAt - this.#startedAt) / 1000, 2)
        : -1,
      ops,
      total: summarize(total, measured),
      errors,
      reconnects: clients.reconnects(),
      skipped: clients.skipped,
      send_lag_p99_ms: round(clients.lag.percentile(99)),
      send_lag_max_ms: round(clients.lag.max),
      status_failures: this.#statusFailures,
      node: combineNodeFigures(nodes),
      nodes,
    };
  }
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
