/**
 * Checks of the sentinel's inputs that need no state.
 *
 * @module
 */
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

/** True for an epoch a node may claim: a non-negative safe integer. */
export function validEpoch(epoch: number): boolean {
  return Number.isSafeInteger(epoch) && epoch >= 0;
}
