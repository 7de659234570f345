/**
 * The load's schedule, who sends what when: the kinds of periodic work a simulated client does, their
 * periods from the settings, how clients spread over connections, and the timing wheel that fires
 * due work. Pure: the caller passes the time.
 *
 * @module
 */
import type { LoadSettings } from "./load_settings.ts";

// Kinds of scheduled work, the low digits of a schedule item (item = client · KINDS + kind).
/** A client changes its velocity. */
export const VELOCITY = 0;
/** A client queries a circle around its position. */
export const QUERY = 1;
/** A client casts an AOE. */
export const AOE = 2;
/** An idle client pings. */
export const KEEPALIVE = 3;
/** A client (re)tries its login. */
export const LOGIN = 4;
/** Number of kinds: item = client · KINDS + kind. */
export const KINDS = 5;
/** Report names of the periodic kinds, indexed by kind. */
export const OP_NAMES = ["set_velocity", "query_circle", "aoe", "ping"] as const;

/** Pause before a failed login is tried again, ms. */
export const LOGIN_RETRY_MS = 1000;

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

/**
 * Connections to use for `clients`: `connections`, or when 0 (auto) one per 250 clients, ≤ 64; in
 * either case enough that none carries more than `perConnection` clients (the node bounds the
 * client ids of one connection).
 */
export function connectionCount(
  clients: number,
  connections: number,
  perConnection = Infinity,
): number {
  const n = connections > 0 ? connections : Math.min(64, Math.ceil(clients / 250));
  return Math.max(1, Math.min(Math.max(n, Math.ceil(clients / perConnection)), clients));
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
