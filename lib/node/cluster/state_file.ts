import { log } from "../../log/mod.ts";
import type { Role } from "../../protocol/mod.ts";

const logger = log("cluster");

/** What a cluster node remembers across restarts. */
export interface RememberedState {
  nodeId: string;
  epoch: number;
  role: Extract<Role, "ROLE_MASTER" | "ROLE_SLAVE">;
}

/** Files written before roles had one vocabulary say "master" or "slave". */
const LEGACY_ROLES: Record<string, RememberedState["role"]> = {
  master: "ROLE_MASTER",
  slave: "ROLE_SLAVE",
  ROLE_MASTER: "ROLE_MASTER",
  ROLE_SLAVE: "ROLE_SLAVE",
};

/**
 * Reads the node's remembered epoch and role; undefined when there is no file, it belongs to another
 * node id, or it is unreadable (logged: the node then starts as new).
 */
export function readStateFile(path: string, nodeId: string): RememberedState | undefined {
  if (!path) return undefined;
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      logger.warn("Cannot read state file {path}: {error}", { path, error: String(err) });
    }
    return undefined;
  }
  try {
    const value = JSON.parse(text) as { nodeId?: unknown; epoch?: unknown; role?: unknown };
    const role = typeof value.role === "string" && Object.hasOwn(LEGACY_ROLES, value.role)
      ? LEGACY_ROLES[value.role]
      : undefined;
    const epoch = value.epoch;
    if (
      value.nodeId !== nodeId || typeof epoch !== "number" || !Number.isSafeInteger(epoch) ||
      epoch < 0 || !role
    ) {
      logger.warn("State file {path} is not this node's ({nodeId}); ignored", { path, nodeId });
      return undefined;
    }
    return { nodeId, epoch, role };
  } catch (err) {
    logger.warn("State file {path} is corrupt ({error}); ignored", { path, error: String(err) });
    return undefined;
  }
}

/** Remembers the node's epoch and role (atomically: write a temporary file, then rename). */
export function writeStateFile(path: string, state: RememberedState): void {
  if (!path) return;
  try {
    const tmp = `${path}.tmp`;
    Deno.writeTextFileSync(tmp, JSON.stringify(state) + "\n");
    Deno.renameSync(tmp, path);
  } catch (err) {
    logger.warn("Cannot write state file {path}: {error}", { path, error: String(err) });
  }
}
