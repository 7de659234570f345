/**
 * The registry's sentinel: node directory, liveness, master election, notifications and client
 * discovery, as a pure state machine. Feed it the nodes' messages and the time; send what it returns.
 * The socket adapter lives beside it and converts from and to protobuf.
 *
 * ```ts
 * import { Sentinel } from "./mod.ts";
 * const sentinel = new Sentinel({ nodeTimeoutMs: 1000, recoveryGraceMs: 0 });
 * const address = {
 *   nodeId: "m1", host: "127.0.0.1", clientPort: 7000, clusterPort: 7001, publishPort: 7002,
 *   httpPort: 7003, role: "master" as const,
 * };
 * sentinel.register(
 *   { peer: "m1-peer", address, runId: "run-1", role: "master", members: ["m1"] },
 *   0,
 * );
 * // → register_reply { accepted: true, role: "slave" }, then a round: prepare { epoch: 1 } to m1
 * sentinel.promise({
 *   peer: "m1-peer", nodeId: "m1", runId: "run-1", granted: true, epoch: 1, promisedEpoch: 1,
 *   position: { epoch: 0, seq: 0 }, configuredRole: "master",
 * }, 10); // → convert_to_master { epoch: 1 }: m1 holds a majority (itself) of one member
 * sentinel.discover({ wantMaster: true }, 20); // { type: "node", node: m1's address }
 * ```
 *
 * Rules as implemented (the registry's half of the safety rule: see the README's "What is
 * guaranteed"; safety never depends on the registry being single, reachable or right):
 *
 * - **Membership.** Every registration carries the node's `cluster.members`; the first accepted one
 *   fixes the cluster's, and a node whose list differs (as a set), lacks its own id or lists one
 *   twice is rejected. A majority is ⌊n/2⌋ + 1 of them.
 * - **Epochs.** The cluster epoch is the highest epoch the registry asked for, saw from a node or
 *   heard in a refusal; it never decreases. Each election round spends a new one.
 * - **Elections.** With no master (after the recovery grace) and at least a majority of the members
 *   live, a round asks every live member to promise epoch + 1 (`prepare`). Nodes promise each epoch
 *   at most once and durably. With granted promises from a majority the promiser holding the most
 *   wins (highest position: epoch, then sequence of its last replication update; in a new cluster,
 *   where nobody holds anything, the configured master; then load band, connections + users, node
 *   id): `convert_to_master` to it, `change_master` to the other live nodes. A round without a
 *   majority in `electionTimeoutMs`, or one a refusal shows to be stale, is abandoned; the next
 *   starts after a random pause of up to one timeout, so two registries do not keep splitting the
 *   promises. No master is ever appointed at registration.
 * - **Recognition.** A node that reports (or registers) itself master at an epoch at least the
 *   cluster epoch and above the current master's was elected elsewhere (another registry, or before
 *   a restart): it is recognised as master, not fought. A master made stale by a newer epoch seen
 *   from another node is demoted; the registry then waits about one election timeout for the other
 *   coordinator's master to show up before it runs a round of its own.
 * - **Run ids.** The registered run id is authoritative. Reports, promises and goodbyes from another
 *   run never refresh or remove it; another run takes over the node id only by registering once the
 *   registered run is dead (until then it is told to retry after the remaining timeout).
 * - **Registration.** Same run id while alive: idempotent refresh. Master wish with a live master:
 *   a brand-new node is rejected as a second master, a returning one (known, or claiming an epoch)
 *   accepted as a slave. Otherwise accepted as a slave (of the master, if any).
 * - **Recovery grace.** For `recoveryGraceMs` after construction `now` (or the first input) the
 *   registry rebuilds its picture from re-registrations and elects nobody (deaths are still
 *   detected).
 * - **Liveness.** A node silent for `nodeTimeoutMs` is dead. A dead slave is dropped from discovery
 *   and the master gets `slave_removed`. A dead, departed or stale master leads to a round.
 * - **Reports.** Unknown node, other run, or a node already declared dead: `report_ack known=false`
 *   (register again); a master claim below the master's epoch also gets `change_master`. Lost
 *   commands are repeated: the master still reporting as slave gets `convert_to_master` again, a
 *   slave behind the master's epoch gets `change_master` again. Replies and acks carry the master's
 *   epoch (the cluster epoch without a master).
 * - **Registry stalls.** A gap between inputs above `stallThresholdMs` is the registry's own pause:
 *   the silence beyond the threshold is not held against the nodes (no mass death, no failover).
 * - **Discovery.** The least-loaded live node with load factor < 1 (then fewest connections, then
 *   node id), else none with "no node available"; for `wantMaster` the live master, else "no
 *   master".
 *
 * @module
 */
export { Sentinel } from "./sentinel.ts";
export {
  DEFAULT_ELECTION_TIMEOUT_MS,
  DEFAULT_FORGET_AFTER_MS,
  DEFAULT_NODE_TIMEOUT_MS,
  DEFAULT_RECOVERY_GRACE_MS,
  type SentinelOptions,
} from "./sentinel_options.ts";
export type {
  ChangeMasterAction,
  ConvertToMasterAction,
  DeregisterInput,
  DiscoverInput,
  DiscoverResult,
  LogAction,
  NodeAddress,
  NodeLoad,
  NodeView,
  Peer,
  PrepareAction,
  PromiseInput,
  RegisterInput,
  RegisterReplyAction,
  ReportAckAction,
  ReportInput,
  Role,
  SentinelAction,
  SentinelSnapshot,
  SlaveRemovedAction,
} from "./types.ts";
export { SentinelOptionsError } from "./errors.ts";
export { RegistryServer, type RegistryServerOptions } from "./registry_server.ts";
export { DISCOVER_CORS_HEADERS, type DiscoverBody, registryRoutes } from "./registry_http.ts";
export { newRegistryCounters, type RegistryCounters, registryMetrics } from "./registry_metrics.ts";
