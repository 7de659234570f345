import type { NodeLoad } from "./types.ts";

/** What the rankings look at. */
export interface Ranked {
  readonly nodeId: string;
  readonly load: NodeLoad;
}

/**
 * Election order, best first: highest `lastSeq` (a slave that missed updates never beats one that
 * did not), then lowest `loadFactor` band (see loadBand), then fewest connections + users, then `nodeId` (stable
 * tie-break). Comparisons rather than subtraction, so infinite load factors order correctly.
 */
export function compareForElection(a: Ranked, b: Ranked): number {
  if (a.load.lastSeq !== b.load.lastSeq) return a.load.lastSeq > b.load.lastSeq ? -1 : 1;
  const la = loadBand(a.load.loadFactor);
  const lb = loadBand(b.load.loadFactor);
  if (la !== lb) return la < lb ? -1 : 1;
  const wa = a.load.connections + a.load.users;
  const wb = b.load.connections + b.load.users;
  if (wa !== wb) return wa < wb ? -1 : 1;
  return compareIds(a.nodeId, b.nodeId);
}

/**
 * Load factors within the same 0.05 band count as equal: tick timings jitter by a few percent, and
 * that noise must not outweigh a real difference in connections and users.
 */
export function loadBand(loadFactor: number): number {
  return Math.floor(loadFactor * 20);
}

/**
 * Discovery order, best first: lowest `loadFactor` band, then fewest connections (counting `sent`,
 * the clients discovery sent there since, which its reports may not show yet), then `nodeId`.
 */
export function compareForDiscovery(
  a: Ranked & { sent?: number },
  b: Ranked & { sent?: number },
): number {
  const la = loadBand(a.load.loadFactor);
  const lb = loadBand(b.load.loadFactor);
  if (la !== lb) return la < lb ? -1 : 1;
  const ca = a.load.connections + (a.sent ?? 0);
  const cb = b.load.connections + (b.sent ?? 0);
  if (ca !== cb) return ca < cb ? -1 : 1;
  return compareIds(a.nodeId, b.nodeId);
}

/** Lexical (code unit) order of node ids, independent of locale. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A load with every field a usable number: counts and times default to 0, a bad load factor to ∞.
 */
export function sanitizeLoad(load: Partial<NodeLoad> | undefined): NodeLoad {
  return {
    connections: count(load?.connections),
    users: count(load?.users),
    tickAvgMs: count(load?.tickAvgMs),
    tickP99Ms: count(load?.tickP99Ms),
    // Missing means the proto default 0; garbage must never make a node look idle.
    loadFactor: load?.loadFactor === undefined
      ? 0
      : load.loadFactor >= 0
      ? load.loadFactor
      : Number.POSITIVE_INFINITY,
    // A garbage sequence counts as "knows nothing", so it can never win an election.
    lastSeq: sequence(load?.lastSeq),
    sessions: count(load?.sessions),
  };
}

function sequence(x: number | undefined): number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0 ? x : 0;
}

function count(x: number | undefined): number {
  return typeof x === "number" && Number.isFinite(x) && x >= 0 ? x : 0;
}
