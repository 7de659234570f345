/**
 * The world benchmark's load, shared by its two rows (the engine alone, and a node's tick): the
 * scenarios, the world size, where users spawn, the per-tick request counts and the summary of
 * a run's tick times.
 *
 * @module
 */
import type { Rng } from "../lib/random/mod.ts";

/** Seconds per tick. */
export const TICK_S = 0.02;
/** Radius of queries and aoes, m. */
export const RADIUS_M = 50;
/** Users a 50 m circle holds on average (sets the world's size). */
export const USERS_PER_CIRCLE = 8;
/** Side of the crowded square of the town scenario, m, and the share of users in it. */
export const TOWN_SIDE_M = 500;
export const TOWN_SHARE = 0.2;
/** Largest speed, m/s. */
export const MAX_SPEED = 10;
/** Per user: queries per second, aoes per second, seconds between velocity changes. */
export const QUERIES_PER_USER_S = 1;
export const AOES_PER_USER_S = 1;
export const VELOCITY_PERIOD_S = 5;
/** The criterion: p99 tick time at most this. */
export const P99_LIMIT_MS = 20;

/** Uniform users, or 20% of them crowded into one 500 m square. */
export type Scenario = "uniform" | "town";

/** How one run is shaped. */
export interface RunOptions {
  ticks: number;
  warmup: number;
  seed: number;
  cellSize?: number;
  /** Reader worker threads answering the queries beside the step (0: none, queries after it). */
  readWorkers?: number;
  /** The node row without its queries (what they cost: compare with a run that has them). */
  withoutQueries?: boolean;
}

/** What one run measured. */
export interface RunResult {
  scenario: Scenario;
  users: number;
  sideM: number;
  p50: number;
  p99: number;
  max: number;
  /** Requests (queries, aoes, velocity changes) per second of tick time. */
  opsPerS: number;
  bytesPerUser: number;
  poolGrowths: number;
  /**
   * With readers: p50 and p99 of the node thread's own share of each tick (before it waits for
   * the readers' answers) — what delays the next tick in a server, where nothing waits for them.
   */
  ownP50?: number;
  ownP99?: number;
}

/** Side of a square world where a 50 m circle holds ~8 users. */
export function worldSide(users: number): number {
  return Math.sqrt(users * Math.PI * RADIUS_M * RADIUS_M / USERS_PER_CIRCLE);
}

/** Where user `i` of `users` spawns in `scenario` (the first 20% in the town square). */
export function spawnPosition(
  scenario: Scenario,
  i: number,
  users: number,
  rng: Rng,
): { x: number; y: number } {
  const side = worldSide(users);
  const town = Math.min(TOWN_SIDE_M, side);
  const townUsers = scenario === "town" ? Math.round(users * TOWN_SHARE) : 0;
  if (i < townUsers) {
    return { x: (side - town) / 2 + rng() * town, y: (side - town) / 2 + rng() * town };
  }
  return { x: rng() * side, y: rng() * side };
}

/** A random velocity: uniform direction, speed in [0.2, 1] × max, so every user keeps moving. */
export function randomVelocity(rng: Rng): { vx: number; vy: number } {
  const angle = rng() * 2 * Math.PI;
  const speed = MAX_SPEED * (0.2 + 0.8 * rng());
  return { vx: speed * Math.cos(angle), vy: speed * Math.sin(angle) };
}

/**
 * Requests per tick for `users`: queries, aoes and velocity changes as fractional rates; a run
 * carries the remainders over so every tick gets whole requests at the right average.
 */
export function requestRates(users: number): { queries: number; aoes: number; velocities: number } {
  return {
    queries: users * QUERIES_PER_USER_S * TICK_S,
    aoes: users * AOES_PER_USER_S * TICK_S,
    velocities: users * TICK_S / VELOCITY_PERIOD_S,
  };
}

/** The value at quantile `q` of ascending `sorted`, by nearest rank. */
export function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** p50 and p99 of the node thread's own share of ticks with readers (sorts `own` in place). */
export function ownSummary(
  own: Float64Array,
  readers: boolean,
): { ownP50?: number; ownP99?: number } {
  if (!readers) return {};
  own.sort();
  return { ownP50: percentile(own, 0.5), ownP99: percentile(own, 0.99) };
}

/** p50, p99 and max of measured tick times (sorts `times` in place). */
export function tickSummary(times: Float64Array): { p50: number; p99: number; max: number } {
  times.sort();
  return {
    p50: percentile(times, 0.5),
    p99: percentile(times, 0.99),
    max: times[times.length - 1],
  };
}
