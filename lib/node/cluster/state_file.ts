import type { Role } from "../../protocol/mod.ts";
import { StateFileError } from "./errors.ts";

/** What a cluster node remembers across restarts. */
export interface RememberedState {
  nodeId: string;
  /**
   * The highest epoch this node promised or followed: it never again applies or acknowledges
   * anything of an older epoch (the safety rule's promise, kept across restarts).
   */
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
 * Reads the node's remembered epoch and role; undefined when there is no file (a new node). A file
 * that cannot be read, is corrupt or belongs to another node id throws {@linkcode StateFileError}:
 * starting as new would forget a promise and could break the safety rule, so an operator decides.
 */
export function readStateFile(path: string, nodeId: string): RememberedState | undefined {
  if (!path) return undefined;
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new StateFileError(`Cannot read state file ${path}: ${err}`, { cause: err });
  }
  try {
    const value = JSON.parse(text) as { nodeId?: unknown; epoch?: unknown; role?: unknown };
    const role = typeof value.role === "string" && Object.hasOwn(LEGACY_ROLES, value.role)
      ? LEGACY_ROLES[value.role]
      : undefined;
    const epoch = value.epoch;
    if (value.nodeId !== nodeId) {
      throw new StateFileError(
        `State file ${path} belongs to node ${value.nodeId}, not ${nodeId}; point state_file elsewhere`,
      );
    }
    if (typeof epoch !== "number" || !Number.isSafeInteger(epoch) || epoch < 0 || !role) {
      throw new Error("epoch or role missing or out of range");
    }
    return { nodeId, epoch, role };
  } catch (err) {
    if (err instanceof StateFileError) throw err;
    throw new StateFileError(
      `State file ${path} is corrupt (${err}); move it away to start this node as a new member`,
      { cause: err },
    );
  }
}

/**
 * Remembers the node's epoch and role durably: a temporary file is written and fsync'd, renamed over
 * the old one, and the folder fsync'd, so after a crash the file holds the old or the new state,
 * whole. Returns false when `path` is empty (nothing is remembered); throws
 * {@linkcode StateFileError} when the state could not be made durable.
 */
export function writeStateFile(path: string, state: RememberedState): boolean {
  if (!path) return false;
  const tmp = `${path}.tmp`;
  try {
    Deno.mkdirSync(folderOf(path), { recursive: true });
    const file = Deno.openSync(tmp, { write: true, create: true, truncate: true });
    try {
      const bytes = new TextEncoder().encode(JSON.stringify(state) + "\n");
      for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
      file.syncSync();
    } finally {
      file.close();
    }
    Deno.renameSync(tmp, path);
    syncFolder(path);
    return true;
  } catch (err) {
    throw new StateFileError(`Cannot write state file ${path}: ${err}`, { cause: err });
  }
}

/** Fsyncs the folder holding `path`, so a rename in it survives a power cut. */
function syncFolder(path: string): void {
  const dir = Deno.openSync(folderOf(path), { read: true });
  try {
    dir.syncSync();
  } finally {
    dir.close();
  }
}

function folderOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}
