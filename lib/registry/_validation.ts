/**
 * Checks of the sentinel's inputs that need no state.
 *
 * @module
 */
import { sameMembers } from "../config/membership.ts";
import type { RegisterInput } from "./types.ts";

/** Why a registration cannot be considered at all, or null when it can. */
export function invalidRegistration(
  input: RegisterInput,
  nodeId: string,
  claim: number,
): string | null {
  if (nodeId === "") return "address.nodeId is empty";
  if (typeof input.address.host !== "string" || input.address.host === "") {
    return "address.host is empty";
  }
  if (typeof input.runId !== "string" || input.runId === "") return "runId is empty";
  if (input.role === "single") return "single-mode nodes do not register";
  if (input.role !== "master" && input.role !== "slave") {
    return `unknown role ${String(input.role)}`;
  }
  if (!validEpoch(claim)) return `epoch ${claim} is not a non-negative safe integer`;
  return null;
}

/**
 * Why a registration's `members` cannot be accepted (empty, without the node itself, with a
 * duplicate, or unlike the `cluster`'s members once those are fixed), or null when they can.
 */
export function invalidMembers(
  members: readonly string[],
  options: { nodeId: string; cluster: readonly string[] | null },
): string | null {
  const { nodeId, cluster } = options;
  if (members.length === 0) {
    return "it sends no cluster.members: list every node id in every node's config";
  }
  if (!members.includes(nodeId)) {
    return `${nodeId} is not in its own cluster.members [${members.join(", ")}]`;
  }
  if (new Set(members).size !== members.length) {
    return `its cluster.members [${members.join(", ")}] list a node twice`;
  }
  if (cluster && !sameMembers(cluster, members)) {
    return `its cluster.members [${members.join(", ")}] differ from the cluster's [${
      cluster.join(", ")
    }]: every node must list the same members`;
  }
  return null;
}

/** True for an epoch a node may claim: a non-negative safe integer. */
export function validEpoch(epoch: number): boolean {
  return Number.isSafeInteger(epoch) && epoch >= 0;
}
