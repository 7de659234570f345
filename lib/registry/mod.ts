/**
 * The registry's sentinel: node directory, liveness, master election, notifications and client
 * discovery, as a pure state machine. Feed it the nodes' messages and the time; send what it returns.
 * The socket adapter lives beside it and converts from and to protobuf.
 *
 * ```ts
 * import { Sentinel } from "./mod.ts";
 * const sentinel = new Sentinel({ nodeTimeoutMs: 1000 });
 * const address = {
 *   nodeId: "m1", host: "127.0.0.1", clientPort: 7000, clusterPort: 7001, publishPort: 7002,
 *   httpPort: 7003, role: "master" as const,
 * };
 * sentinel.register({ peer: "m1-peer", address, runId: "run-1", role: "master" }, 0);
 * // → register_reply { accepted: true, role: "master", epoch: 1 } and a log line
 * sentinel.tick(1000); // the master went silent: elects a slave, if there is one
 * sentinel.discover({ wantMaster: true }, 1000); // { type: "none", reason: "no master" }
 * ```
 *
 * @module
 */
export { Sentinel } from "./sentinel.ts";
export {
  DEFAULT_FORGET_AFTER_MS,
  DEFAULT_MASTERLESS_WAIT_MS,
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
