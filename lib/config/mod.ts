/**
 * Config schemas and the one config loader: defaults, then a JSON file, then `--set path=value`
 * flags; every field checked, unknown fields rejected, errors naming the file, field and problem.
 *
 * ```ts
 * import { loadConfig, NODE_SCHEMA } from "./mod.ts";
 * const config = await loadConfig(NODE_SCHEMA, { file: "configs/single.json" });
 * ```
 *
 * @module
 */
export { ConfigError } from "./errors.ts";
export {
  applyFlag,
  applyObject,
  type ConfigOf,
  defaults,
  describe,
  loadConfig,
  type Schema,
} from "./schema.ts";
export {
  CLIENT_SCHEMA,
  type ClientConfig,
  LOG_LEVELS,
  NODE_SCHEMA,
  type NodeConfig,
  REGISTRY_SCHEMA,
  type RegistryConfig,
} from "./schemas.ts";
export {
  type CommandLine,
  type CommandSpec,
  type FieldFlag,
  helpText,
  parseCommandLine,
} from "./command_line.ts";
export {
  type ClusterCurve,
  clusterCurve,
  DEMO_PUBLIC_KEY,
  isLoopback,
  startupClusterCurve,
} from "./cluster_curve.ts";
export { checkMembers, majorityOf, sameMembers } from "./membership.ts";
export { bindEndpoint, connectEndpoint } from "./endpoint.ts";
