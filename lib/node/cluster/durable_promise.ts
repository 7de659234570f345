import { log } from "../../log/mod.ts";
import { readStateFile, type RememberedState, writeStateFile } from "./state_file.ts";

const logger = log("cluster");

/**
 * A node's election promise: the highest epoch it promised or followed, kept in its state file.
 * Raising it writes and fsyncs the file first, so a node never acts on an epoch a crash could make
 * it forget; after a restart it is read back, and nothing older is ever accepted again.
 */
export class DurablePromise {
  readonly #path: string;
  readonly #nodeId: string;
  #epoch: number;

  private constructor(path: string, nodeId: string, epoch: number) {
    this.#path = path;
    this.#nodeId = nodeId;
    this.#epoch = epoch;
  }

  /**
   * The promise `nodeId` last made, from the state file at `path` (epoch 0 for a new node; with
   * no path, a warning: promises are then forgotten by a restart). Throws `StateFileError` for a
   * corrupt or foreign file.
   */
  static load(path: string, nodeId: string): DurablePromise {
    const remembered = readStateFile(path, nodeId);
    if (remembered) {
      logger.info("Remembered epoch {epoch} (last role {role}) from {path}", {
        epoch: remembered.epoch,
        role: remembered.role,
        path,
      });
    } else if (!path) {
      logger.warn(
        "No state_file: this node's election promises are not kept across a restart; set state_file in production",
      );
    }
    return new DurablePromise(path, nodeId, remembered?.epoch ?? 0);
  }

  /** The highest epoch promised or followed. */
  get epoch(): number {
    return this.#epoch;
  }

  /**
   * Raises the promise to `epoch`, durably before it takes effect; true when it holds (already or
   * now), false when it could not be made durable: then nothing may act on the newer epoch.
   */
  raise(epoch: number, role: RememberedState["role"], why: string): boolean {
    if (epoch <= this.#epoch) return true;
    try {
      writeStateFile(this.#path, { nodeId: this.#nodeId, epoch, role });
    } catch (err) {
      logger.error("Cannot promise epoch {epoch}: {error}", { epoch, error: String(err) });
      return false;
    }
    logger.debug("Promised epoch {epoch} ({why})", { epoch, why });
    this.#epoch = epoch;
    return true;
  }

  /** Records the node's role beside the promise (for operators; the epoch is what keeps safety). */
  remember(role: RememberedState["role"]): void {
    try {
      writeStateFile(this.#path, { nodeId: this.#nodeId, epoch: this.#epoch, role });
    } catch (err) {
      logger.warn("Cannot record the role in the state file: {error}", { error: String(err) });
    }
  }
}
