/**
 * The sentinel's options: their shape, defaults and validation.
 *
 * @module
 */
import { SentinelOptionsError } from "./errors.ts";

/** Default for {@linkcode SentinelOptions.nodeTimeoutMs}. */
export const DEFAULT_NODE_TIMEOUT_MS = 1000;
/** Default for {@linkcode SentinelOptions.recoveryGraceMs}. */
export const DEFAULT_RECOVERY_GRACE_MS = 5000;
/** Default for {@linkcode SentinelOptions.electionTimeoutMs}. */
export const DEFAULT_ELECTION_TIMEOUT_MS = 2000;
/** Default for {@linkcode SentinelOptions.forgetAfterMs}. */
export const DEFAULT_FORGET_AFTER_MS = 600_000;

/** Options of {@linkcode Sentinel}; every duration is in ms. */
export interface SentinelOptions {
  /** A node silent this long is dead (default 1000). */
  nodeTimeoutMs?: number;
  /**
   * After the registry (re)starts, how long it rebuilds the cluster picture from re-registrations
   * without electing anyone (default 5000). Must exceed the nodes' longest registry-retry backoff
   * plus one report interval, or a live master may be replaced after a registry restart. 0
   * disables.
   */
  recoveryGraceMs?: number;
  /**
   * An election round that has not gathered promises from a majority of the members in this time
   * is abandoned; the next round asks for a higher epoch (default 2000).
   */
  electionTimeoutMs?: number;
  /** Names this registry in its `prepare` messages and logs (default "registry"). */
  registryId?: string;
  /**
   * Random numbers in [0, 1) for the jitter between election rounds, so two registries that run
   * rounds at once do not keep splitting the promises (default `Math.random`).
   */
  random?: () => number;
  /** Dead nodes stay in the view (and their run ids are remembered) this long (default 600000). */
  forgetAfterMs?: number;
  /**
   * A gap longer than this between two consecutive inputs means the registry itself was stalled
   * (paused process, GC, overloaded host): the nodes' silence beyond it is not held against them,
   * instead of declaring everyone dead at once (default `nodeTimeoutMs / 2`; the adapter must tick
   * well within it, every 50–100 ms; `Infinity` disables).
   */
  stallThresholdMs?: number;
  /** When the recovery grace starts (default: the `now` of the first input). */
  now?: number;
}

/** Sentinel options with every default filled in (`now` stays optional). */
export type ResolvedSentinelOptions = Required<Omit<SentinelOptions, "now">> & { now?: number };

/** `options` with defaults filled in; throws SentinelOptionsError for an unusable one. */
export function resolveSentinelOptions(options: SentinelOptions): ResolvedSentinelOptions {
  const nodeTimeoutMs = positive(
    "nodeTimeoutMs",
    options.nodeTimeoutMs ?? DEFAULT_NODE_TIMEOUT_MS,
  );
  const recoveryGraceMs = nonNegative(
    "recoveryGraceMs",
    options.recoveryGraceMs ?? DEFAULT_RECOVERY_GRACE_MS,
  );
  const electionTimeoutMs = positive(
    "electionTimeoutMs",
    options.electionTimeoutMs ?? DEFAULT_ELECTION_TIMEOUT_MS,
  );
  const forgetAfterMs = nonNegative(
    "forgetAfterMs",
    options.forgetAfterMs ?? DEFAULT_FORGET_AFTER_MS,
  );
  const stallThresholdMs = positive(
    "stallThresholdMs",
    options.stallThresholdMs ?? nodeTimeoutMs / 2,
  );
  if (options.now !== undefined && !Number.isFinite(options.now)) {
    throw new SentinelOptionsError("now must be a finite number");
  }
  return {
    nodeTimeoutMs,
    recoveryGraceMs,
    electionTimeoutMs,
    registryId: options.registryId ?? "registry",
    random: options.random ?? Math.random,
    forgetAfterMs,
    stallThresholdMs,
    now: options.now,
  };
}

function positive(name: string, value: number): number {
  if (!(value > 0)) throw new SentinelOptionsError(`${name} must be positive, got ${value}`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!(value >= 0)) throw new SentinelOptionsError(`${name} must not be negative, got ${value}`);
  return value;
}
