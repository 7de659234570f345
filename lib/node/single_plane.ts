import type { ErrorCode } from "../protocol/mod.ts";
import type { NodeConfig } from "../config/mod.ts";
import { AckTracker } from "../replication/mod.ts";
import type { Journal } from "../persist/mod.ts";
import type { GameNode, WritePath } from "./game_node.ts";

/** Options of {@linkcode SinglePlane}. */
export interface SinglePlaneOptions {
  config: NodeConfig;
  /** The node will have a journal (`data_dir` is set): writes then wait for the disk. */
  persists: boolean;
}

/**
 * What a single-mode node does after each tick, like a master without slaves: the tick's writes
 * become one update (epoch of the node's history, seq + 1), appended to the journal and committed;
 * a write is acknowledged once the update carrying it is on disk (after `ack_timeout_ms` it fails
 * with `TIMEOUT`). Without a journal writes are acknowledged at once and nothing is kept.
 */
export class SinglePlane {
  #journal: Journal | undefined;
  readonly #acks: AckTracker;
  #node: GameNode | undefined;

  /** The write path the node is built with. */
  readonly writePath: WritePath;

  /** Creates the plane; {@linkcode attach} gives it the node and its journal. */
  constructor(options: SinglePlaneOptions) {
    this.#acks = new AckTracker({
      minReplicas: 0,
      quorum: 0,
      local: true,
      timeoutMs: options.config.cluster.ack_timeout_ms,
    });
    this.writePath = options.persists
      ? { whenDurable: (ack, fail) => this.#whenDurable(ack, fail) }
      : {};
  }

  /** Attaches the node (built with {@linkcode writePath}) and its journal. */
  attach(node: GameNode, journal: Journal | undefined): void {
    this.#node = node;
    this.#journal = journal;
  }

  /** After the node's tick: the tick's update is logged (or, without a journal, dropped). */
  afterTick(now: number): void {
    const node = this.#node;
    if (!node) return;
    const ops = node.state.drainOps();
    const journal = this.#journal;
    if (!journal) return;
    const epoch = node.position.epoch;
    const seq = node.lastSeq + 1;
    node.recordPosition(epoch, seq);
    journal.append({ epoch, seq, ops });
    journal.commit();
    journal.whenDurable({ epoch, seq }, () => this.#acks.setLocalDurable(seq));
    journal.afterTick();
    this.#acks.tick(now);
  }

  /** Writes waiting for the disk fail (the node stops). */
  close(): void {
    this.#acks.failAll("The node stopped before the write reached the disk");
  }

  #whenDurable(ack: (seq: number) => void, fail: (code: ErrorCode, message: string) => void) {
    const node = this.#node;
    if (!node || !this.#journal) {
      fail("UNAVAILABLE", "The node is starting");
      return;
    }
    // The write just applied is in the next update.
    const seq = node.lastSeq + 1;
    this.#acks.waitFor(seq, () => ack(seq), fail, performance.now());
  }
}
