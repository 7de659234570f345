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
