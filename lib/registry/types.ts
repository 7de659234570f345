/**
 * Plain mirrors of the proto messages the sentinel works with. The registry adapter converts from
 * and to the generated protobuf types; the sentinel itself never sees protobuf.
 *
 * @module
 */

/** A node's role, as the proto `Role` enum (`ROLE_UNSPECIFIED` has no counterpart here). */
export type Role = "single" | "master" | "slave";

/** Where a node can be reached, as the proto `NodeAddress`. */
export interface NodeAddress {
  /** Stable node id from the node's config. */
  nodeId: string;
  /** Host name or IP the other processes use to reach the node. */
  host: string;
  /** Port of the client plane (clients connect here). */
  clientPort: number;
  /** Port of the cluster plane (slaves forward writes here). */
  clusterPort: number;
  /** Port of the master's replication publisher. */
  publishPort: number;
  /** Port of the HTTP status/metrics endpoint. */
  httpPort: number;
  /** The node's role as the registry sees it. */
  role: Role;
}

/** Load figures a node reports, as the proto `NodeLoad`. */
export interface NodeLoad {
  /** Client connections, logged in or not. */
  connections: number;
  /** Users in the node's world. */
  users: number;
  /** Average tick duration over the last report interval, in ms. */
  tickAvgMs: number;
  /** 99th percentile tick duration over the last report interval, in ms. */
  tickP99Ms: number;
  /** `tickAvgMs / tickTimeMs`: above 1 means the node is overloaded. */
  loadFactor: number;
  /** Last replication sequence the node applied (master: published); always below 2^53. */
  lastSeq: number;
  /** Logged-in sessions the node serves. */
  sessions: number;
}

/** An opaque routing id the adapter uses to send to a node (a ZeroMQ ROUTER identity, say). */
export type Peer = Uint8Array | string;
