/**
 * The cluster side of a game node. {@linkcode ClusterCoordinator} owns the registry link and decides
 * role changes; {@linkcode MasterPlane} publishes updates, serves snapshots, counts acks, fences and
 * executes forwarded writes; {@linkcode SlavePlane} replays the master's updates and forwards writes.
 *
 * ```ts ignore
 * import { ClusterCoordinator } from "./mod.ts";
 * import { GameNode } from "../game_node.ts";
 * const cluster = await ClusterCoordinator.bind(pump, config);
 * const node = new GameNode({ config, send, writePath: cluster.writePath });
 * await cluster.join(node, clientPort); // registers, then follows the registry's commands
 * ```
 *
 * @module
 */
export { ClusterCoordinator, type ClusterStats } from "./coordinator.ts";
export { RegistrationError, StateFileError } from "./errors.ts";
export {
  MasterPlane,
  type MasterPlaneOptions,
  type MasterPlaneStats,
  UPDATE_TOPIC,
} from "./master_plane.ts";
export {
  type NodeIdentity,
  type RegistryCommand,
  RegistryLink,
  type RegistryLinkOptions,
} from "./registry_link.ts";
export { SlavePlane, type SlavePlaneOptions, type SlavePlaneStats } from "./slave_plane.ts";
export { DurablePromise } from "./durable_promise.ts";
export { readStateFile, type RememberedState, writeStateFile } from "./state_file.ts";
