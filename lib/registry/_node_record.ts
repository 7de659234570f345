/**
 * The sentinel's internal record of a node, and the copies of it the sentinel hands out.
 *
 * @module
 */
import type { NodeAddress, NodeLoad, NodeView, Peer } from "./types.ts";

/** The sentinel's mutable record of one node (its run, role, load and liveness). */
export interface NodeRecord {
  nodeId: string;
  runId: string;
  peer: Peer;
  address: NodeAddress;
  role: "master" | "slave";
  /** The role the node asked for when it registered (a new cluster prefers a master wish). */
  wish?: "master" | "slave" | "single";
  load: NodeLoad;
  epoch: number;
  follows: string | null;
  registeredAt: number;
  lastSeen: number;
  alive: boolean;
  diedAt: number | null;
  deathReason: string | null;
  /**
   * Clients discovery sent here lately, decaying with DISCOVERY_DECAY_MS (optional: 0): a burst of
   * discoveries between two load reports spreads over the nodes instead of all going to the one
   * that looked least loaded at the last report.
   */
  sent?: number;
  /** When `sent` was last updated (registry time, ms). */
  sentAt?: number;
}

/** The node's address with the role the registry gave it. */
export function addressOf(r: NodeRecord): NodeAddress {
  return { ...r.address, role: r.role };
}

/** A copy of the record for callers (changing it changes nothing). */
export function viewOf(r: NodeRecord): NodeView {
  return {
    nodeId: r.nodeId,
    runId: r.runId,
    role: r.role,
    alive: r.alive,
    address: addressOf(r),
    load: { ...r.load },
    lastSeen: r.lastSeen,
    registeredAt: r.registeredAt,
    epoch: r.epoch,
    follows: r.follows,
    diedAt: r.diedAt,
    deathReason: r.deathReason,
  };
}
