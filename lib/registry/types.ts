/**
 * The sentinel's vocabulary: plain mirrors of the proto messages it works with, its inputs, the
 * actions it returns and the views of its state. The registry adapter converts from and to the
 * generated protobuf types; the sentinel itself never sees protobuf.
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
  /** Client ids the node knows (a connection carries one or more), logged in or not. */
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

/** A node's registration, as the proto `Register` plus the envelope's epoch. */
export interface RegisterInput {
  /** Where replies to this node go; a re-registration from a new peer replaces the old one. */
  peer: Peer;
  /** The node's address; `address.nodeId` identifies the node. */
  address: NodeAddress;
  /** Unique per process start. */
  runId: string;
  /**
   * The role the node has (after a registry restart) or wishes (at start); `single` is rejected.
   */
  role: Role;
  /** The node's load (missing fields count as 0). */
  load?: Partial<NodeLoad>;
  /** For a slave after a registry restart: the master it follows (empty or absent: none). */
  masterId?: string;
  /** The node's view of the cluster epoch (0: none yet). */
  epoch?: number;
  /** The cluster's members as the node is configured (the registry refuses a list that differs). */
  members?: string[];
}

/** A node's periodic report (its heartbeat), as the proto `Report` plus the envelope's epoch. */
export interface ReportInput {
  /** Where the ack goes; replaces the registered peer. */
  peer: Peer;
  /** The reporting node. */
  nodeId: string;
  /** The reporting process's run id. */
  runId: string;
  /** The role the node believes it has. */
  role: Role;
  /** The node's load (missing fields count as 0). */
  load?: Partial<NodeLoad>;
  /** The node's view of the cluster epoch. */
  epoch?: number;
}

/** An orderly goodbye, as the proto `Deregister`. */
export interface DeregisterInput {
  /** The leaving node. */
  nodeId: string;
  /** The leaving process's run id; a different run's goodbye is ignored. */
  runId: string;
}

/** A node's answer to a `prepare`, as the proto `PromiseReply`. */
export interface PromiseInput {
  /** The node's peer. */
  peer: Peer;
  /** The node. */
  nodeId: string;
  /** Its run id. */
  runId: string;
  /** True: it promised `epoch` now; false: it had promised `promisedEpoch` before. */
  granted: boolean;
  /** The epoch asked for. */
  epoch: number;
  /** The highest epoch the node has promised. */
  promisedEpoch: number;
  /** The epoch and sequence of the last replication update it holds. */
  position: { epoch: number; seq: number };
  /** Its load. */
  load?: Partial<NodeLoad>;
  /** The role it was configured with (a new cluster prefers its configured master). */
  configuredRole?: Role;
}

/** A client's discovery request, as the proto `DiscoverRequest`. */
export interface DiscoverInput {
  /** Name the master instead of the least-loaded node. */
  wantMaster?: boolean;
}

/** Answer to a `Register`; `role` and `master` are authoritative for the node. */
export interface RegisterReplyAction {
  /** Discriminant. */
  type: "register_reply";
  /** The registering node's peer. */
  peer: Peer;
  /** The registering node. */
  nodeId: string;
  /** False: the node is not part of the cluster (see `reason`). */
  accepted: boolean;
  /** Why the registration was rejected, or how it was accepted. */
  reason: string;
  /** The role the node must take (the wished role when rejected). */
  role: Role;
  /** The current master, when there is one (the node itself when it is the master). */
  master?: NodeAddress;
  /** The cluster epoch, for the envelope. */
  epoch: number;
  /** A rejection that may pass later (a previous run not yet known dead): retry after this. */
  retryAfterMs?: number;
}

/** Answer to a `Report`. */
export interface ReportAckAction {
  /** Discriminant. */
  type: "report_ack";
  /** The reporting node's peer. */
  peer: Peer;
  /** The reporting node. */
  nodeId: string;
  /** False: the registry does not know this node or run: it must register again. */
  known: boolean;
  /** The current master, when there is one. */
  master?: NodeAddress;
  /** The cluster epoch, for the envelope. */
  epoch: number;
}

/** Election round: asks a node to promise `epoch` (never again to act on anything older). */
export interface PrepareAction {
  /** Discriminant. */
  type: "prepare";
  /** The node's peer. */
  peer: Peer;
  /** The node. */
  nodeId: string;
  /** The epoch to promise. */
  epoch: number;
  /** Which registry asks. */
  registryId: string;
}

/** Command: become the master at `epoch`. */
export interface ConvertToMasterAction {
  /** Discriminant. */
  type: "convert_to_master";
  /** The new master's peer. */
  peer: Peer;
  /** The new master. */
  nodeId: string;
  /** The new master's epoch; everything it publishes carries it. */
  epoch: number;
}

/** Command: follow `master` (resubscribe, reconnect the forwarding link); also "step down". */
export interface ChangeMasterAction {
  /** Discriminant. */
  type: "change_master";
  /** The recipient's peer. */
  peer: Peer;
  /** The recipient. */
  nodeId: string;
  /** The master to follow. */
  master: NodeAddress;
  /** The master's epoch. */
  epoch: number;
}

/** Notice to the master: drop `nodeId` from the slave list. */
export interface SlaveRemovedAction {
  /** Discriminant. */
  type: "slave_removed";
  /** The master's peer. */
  peer: Peer;
  /** The removed slave. */
  nodeId: string;
  /** Why it was removed. */
  reason: string;
  /** The master's epoch. */
  epoch: number;
}

/** A line for the registry's log. */
export interface LogAction {
  /** Discriminant. */
  type: "log";
  /** Severity. */
  level: "info" | "warn" | "error";
  /** Human message: capital first letter, no final period. */
  message: string;
  /** Structured details. */
  fields?: Record<string, unknown>;
}

/** Everything the sentinel asks its adapter to do: send a message or write a log line. */
export type SentinelAction =
  | RegisterReplyAction
  | ReportAckAction
  | ConvertToMasterAction
  | ChangeMasterAction
  | SlaveRemovedAction
  | PrepareAction
  | LogAction;

/** Answer to a discovery request: a node, or none with a reason. */
export type DiscoverResult =
  | { type: "node"; node: NodeAddress }
  | { type: "none"; reason: string };

/** One node as the registry sees it (a copy: changing it changes nothing). */
export interface NodeView {
  /** The node. */
  nodeId: string;
  /** The registered process's run id. */
  runId: string;
  /** The role the registry gave it (the last one, for a dead node). */
  role: "master" | "slave";
  /** False once it timed out or deregistered. */
  alive: boolean;
  /** Its address, with `role` as above. */
  address: NodeAddress;
  /** Its latest load. */
  load: NodeLoad;
  /** When it last registered or reported. */
  lastSeen: number;
  /** When this run registered. */
  registeredAt: number;
  /** The epoch it last claimed. */
  epoch: number;
  /** The master a slave follows (null: none yet, or it is the master). */
  follows: string | null;
  /** When it was declared dead, or null. */
  diedAt: number | null;
  /** Why it was declared dead, or null. */
  deathReason: string | null;
}

/** The sentinel's whole state, for the status endpoint and tests. */
export interface SentinelSnapshot {
  /** The cluster epoch: the highest epoch issued or seen from an accepted node; never decreases. */
  epoch: number;
  /** The live master, or null. */
  masterId: string | null;
  /** The epoch at which the current master took office (0 without a master). */
  masterEpoch: number;
  /** True during the recovery grace after a (re)start. */
  recovering: boolean;
  /** When the recovery grace ends (null until the first input). */
  recoveryEndsAt: number | null;
  /** The cluster's members (learned from the first registration), or null before any. */
  members: string[] | null;
  /** The election round in progress: its epoch, when it started, who promised. */
  election: { epoch: number; startedAt: number; promised: string[] } | null;
  /** Every node, dead ones included, by node id. */
  nodes: NodeView[];
}
