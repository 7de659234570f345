import { DealerSocket, type Pump, SubscriberSocket } from "../../transport/mod.ts";
import {
  type ClusterMessage,
  decodeCluster,
  decodeUpdate,
  encodeCluster,
  type Envelope,
  type NodeAddress,
} from "../../protocol/mod.ts";
import { type ClusterCurve, connectEndpoint, type NodeConfig } from "../../config/mod.ts";
import {
  ReplicaSync,
  type ReplicaSyncState,
  type ReplicaSyncStats,
  type SyncAction,
} from "../../replication/mod.ts";
import { log, logMessage } from "../../log/mod.ts";
import type { Journal } from "../../persist/mod.ts";
import type { ForwardedWrite, GameNode } from "../game_node.ts";
import { UPDATE_TOPIC } from "./master_plane.ts";

const logger = log("cluster");

/** What a {@linkcode SlavePlane} counts, since the node started. */
export interface SlavePlaneStats {
  /** Client writes forwarded to the master. */
  forwardedWrites: number;
  /** Bytes of replication updates received. */
  bytesReceived: number;
}

/** Options of {@linkcode SlavePlane}. */
export interface SlavePlaneOptions {
  config: NodeConfig;
  node: GameNode;
  pump: Pump;
  curve?: ClusterCurve;
  /** The epoch this node promised: nothing older is applied or acknowledged. */
  promised: () => number;
  /** Promises a newer epoch a master publishes in (durably); false when that failed. */
  adopt: (epoch: number) => boolean;
  /** The node's journal (none when `data_dir` is empty): an ack waits until its disk holds the update. */
  journal?: Journal;
}

/**
 * The slave's half of the cluster: the subscription to the master's updates (replayed through
 * {@linkcode ReplicaSync}, with snapshots on start, gaps and drift), the journal of what applied
 * (when the node persists), acks back to the master once applied and on disk, and
 * the writes its clients send, forwarded to the master with the session's user id and answered to the
 * connection that asked. Sockets to the master exist only while following one.
 */
export class SlavePlane {
  readonly #config: NodeConfig;
  readonly #node: GameNode;
  readonly #pump: Pump;
  readonly #curve: ClusterCurve | undefined;
  readonly #promised: () => number;
  readonly #adopt: (epoch: number) => boolean;
  readonly #sync: ReplicaSync;
  readonly #journal: Journal | undefined;
  #master: NodeAddress | undefined;
  #link: DealerSocket | undefined;
  #subscriber: SubscriberSocket | undefined;
  /**
   * Forwarded writes waiting for the master's reply, by forward id: the slave's own request id on
   * the link, so two clients (or one reusing an id) never share an entry.
   */
  readonly #forwards = new Map<number, { write: ForwardedWrite; deadline: number }>();
  /**
   * Logins whose client was told TIMEOUT or UNAVAILABLE, by forward id, until this deadline: if the
   * master's reply comes after all, the user it made is nobody's and is left to expire.
   */
  readonly #abandoned = new Map<number, number>();
  #nextForwardId = 1;
  readonly #stats: SlavePlaneStats = { forwardedWrites: 0, bytesReceived: 0 };

  /** Creates the plane; it connects once told to {@linkcode SlavePlane.follow} a master. */
  constructor(options: SlavePlaneOptions) {
    this.#config = options.config;
    this.#node = options.node;
    this.#pump = options.pump;
    this.#curve = options.curve;
    this.#promised = options.promised;
    this.#adopt = options.adopt;
    this.#journal = options.journal;
    const node = options.node;
    this.#sync = new ReplicaSync({
      applyUpdate: (ops) => {
        // A slave's "tick" is applying the master's update: that is what its load figures measure.
        const start = performance.now();
        node.state.applyUpdate(ops);
        const end = performance.now();
        node.recordTick(end - start, end);
      },
      restore: (world, credentials) => node.state.restore(world, credentials),
      checksum: (part, parts) => node.state.checksum(part, parts),
    }, {
      silenceMs: options.config.cluster.replica_silence_ms,
      snapshotTimeoutMs: options.config.cluster.snapshot_timeout_ms,
    });
  }

  /** The master followed now, if any. */
  get master(): NodeAddress | undefined {
    return this.#master;
  }

  /** Where replication stands. */
  get syncState(): ReplicaSyncState {
    return this.#sync.state;
  }

  /** Replication's counters (updates applied, snapshots asked for and restored, drifts). */
  get replicaStats(): ReplicaSyncStats {
    return this.#sync.stats;
  }

  /** What this plane counted since the node started (for metrics). */
  get stats(): Readonly<SlavePlaneStats> {
    return this.#stats;
  }

  /** When the last update applied or snapshot restored arrived (performance.now() ms; 0 before any). */
  get lastUpdateAt(): number {
    return this.#sync.lastUpdateAt;
  }

  /** Writes forwarded and not answered yet. */
  get pendingForwards(): number {
    return this.#forwards.size;
  }

  /**
   * Follows `master` at `epoch`: (re)connects the forwarding link and the subscription, fails writes
   * in flight to a different master, and restarts replication with a snapshot.
   */
  follow(master: NodeAddress, epoch: number): void {
    if (this.#master && this.#master.nodeId !== master.nodeId) {
      this.#failForwards(
        `The master changed to ${master.nodeId}; the write may not have been applied, retry it`,
      );
    }
    this.#master = master;
    const clusterEndpoint = connectEndpoint(master.host ?? "", master.clusterPort ?? 0);
    const publishEndpoint = connectEndpoint(master.host ?? "", master.publishPort ?? 0);
    if (this.#link) this.#link.reconnect(clusterEndpoint);
    else {
      this.#link = DealerSocket.connect(
        this.#pump,
        clusterEndpoint,
        (frames) => this.#onMasterFrame(frames),
        { curve: this.#curve?.client, sendHwm: 100_000 },
      );
    }
    if (this.#subscriber) this.#subscriber.reconnect(publishEndpoint);
    else {
      this.#subscriber = SubscriberSocket.connect(
        this.#pump,
        publishEndpoint,
        [UPDATE_TOPIC],
        (_topic, payload) => this.#onUpdate(payload),
        { curve: this.#curve?.client, receiveHwm: 100_000 },
      );
    }
    this.#handleSync(this.#sync.reset(epoch, performance.now()));
  }

  /** Stops following (this node becomes master, or leaves): closes the links, fails forwards. */
  stop(reason: string): void {
    this.#master = undefined;
    this.#subscriber?.close();
    this.#subscriber = undefined;
    this.#link?.close();
    this.#link = undefined;
    this.#failForwards(reason);
  }

  /** The slave's part of a tick: notice silence, fail writes the master will not answer. */
  afterTick(now: number): void {
    this.#handleSync(this.#sync.tick(now));
    // The state is exactly at the last update applied: a snapshot may start or go on.
    this.#journal?.afterTick();
    // Updates stopped (the master is silent or being replaced): fail forwarded writes now rather
    // than at their timeout, so clients retry through the next master sooner.
    if (this.#sync.state !== "live" && this.#forwards.size > 0) {
      this.#failForwards(
        "The master is not answering; the write may not have been applied, retry it",
      );
    }
    for (const [id, pending] of this.#forwards) {
      if (pending.deadline > now) continue;
      this.#forwards.delete(id);
      this.#abandon(id, pending.write, now);
      pending.write.done(errorReply(
        pending.write,
        "TIMEOUT",
        "The master did not answer in time; the write may or may not have been applied",
      ));
    }
    for (const [id, until] of this.#abandoned) {
      if (until <= now) this.#abandoned.delete(id);
    }
  }

  /** Remembers a login whose client was given up on, in case its reply still comes. */
  #abandon(id: number, write: ForwardedWrite, now: number): void {
    if (!write.request.login) return;
    // Twice the forward timeout: a reply later than that would be from a master long replaced.
    this.#abandoned.set(id, now + 2 * this.#config.cluster.forward_timeout_ms);
  }

  /** Sends a client's write to the master; false when no live master link exists. */
  forward(write: ForwardedWrite): boolean {
    // A node that promised a newer epoch than its master's: that master can no longer acknowledge.
    if (!this.#link || this.#sync.state !== "live" || this.#promised() > this.#node.epoch) {
      return false;
    }
    const id = this.#nextForwardId;
    this.#nextForwardId = id >= 0xffffffff ? 1 : id + 1;
    const sent = this.#link.send(encodeCluster({
      epoch: this.#node.epoch,
      forwardRequest: {
        originNodeId: this.#config.node_id,
        request: { ...write.request, requestId: id },
        userId: write.userId,
      },
    }));
    if (!sent) return false;
    this.#stats.forwardedWrites++;
    this.#forwards.set(id, {
      write,
      deadline: performance.now() + this.#config.cluster.forward_timeout_ms,
    });
    return true;
  }

  /** Asks the master to remove a vanished client's user unless it was resumed since. */
  expire(userId: number, generation: number): void {
    this.#link?.send(
      encodeCluster({ epoch: this.#node.epoch, expireUser: { userId, generation } }),
    );
  }

  /** Closes the links (the node shuts down). */
  close(): void {
    this.#subscriber?.close();
    this.#link?.close();
  }

  #onMasterFrame(frames: Uint8Array[]): void {
    let message: ClusterMessage;
    try {
      message = decodeCluster(frames[frames.length - 1]);
    } catch (err) {
      logger.warn("Bad message from the master ignored: {error}", {
        error: (err as Error).message,
      });
      return;
    }
    switch (message.msg) {
      case "snapshotReply": {
        const s = message.snapshotReply!;
        const epoch = message.epoch ?? 0;
        if (epoch < this.#node.epoch || epoch < this.#promised()) return;
        if (epoch > this.#promised() && !this.#adopt(epoch)) return;
        this.#handleSync(this.#sync.onSnapshot({
          epoch: message.epoch ?? 0,
          seq: s.seq ?? 0,
          world: s.world ?? new Uint8Array(),
          credentials: s.sessions ?? new Uint8Array(),
        }, performance.now()));
        this.#recordPosition();
        if (this.#sync.state === "live") {
          logger.info("Snapshot applied: seq {seq}, {users} users, now replicating from {master}", {
            seq: this.#sync.lastSeq,
            users: this.#node.state.world.size,
            master: this.#master?.nodeId ?? "?",
          });
        }
        return;
      }
      case "forwardReply": {
        const reply = message.forwardReply?.reply;
        if (!reply) return;
        const id = reply.requestId ?? 0;
        const generation = message.forwardReply?.userGeneration ?? 0;
        const pending = this.#forwards.get(id);
        if (!pending || pending.write.clientId !== reply.clientId) {
          const userId = reply.loginReply?.userId ?? 0;
          if (this.#abandoned.delete(id) && userId !== 0) {
            logger.info(
              "Late login reply for user {userId}: its client was told it failed; the user expires unless resumed",
              { userId },
            );
            this.#node.lingerUser(userId, generation);
          }
          return;
        }
        this.#forwards.delete(id);
        // The client's own request id again: the reply goes back to the connection that asked.
        pending.write.done({ ...reply, requestId: pending.write.requestId }, generation);
        return;
      }
      case "error":
        logger.warn("Master answered with an error: {message}", {
          message: message.error?.message,
        });
        return;
      default:
        logger.debug("Ignored {msg} from the master", { msg: message.msg });
    }
  }

  #onUpdate(payload: Uint8Array): void {
    this.#stats.bytesReceived += payload.length;
    let update;
    try {
      update = decodeUpdate(payload);
    } catch (err) {
      logger.warn("Bad replication update ignored: {error}", { error: (err as Error).message });
      return;
    }
    if (this.#node.authoritative) return;
    const epoch = update.epoch ?? 0;
    // The safety rule: after promising an epoch, nothing older is applied (nor acknowledged).
    if (epoch < this.#promised()) return;
    if (epoch > this.#promised() && !this.#adopt(epoch)) return;
    this.#handleSync(this.#sync.onUpdate({
      epoch: update.epoch ?? 0,
      seq: update.seq ?? 0,
      ops: update.ops ?? new Uint8Array(),
      // A part's checksum travels apart from a whole one (see proto): one field for ReplicaSync.
      ...((update.checksumParts ?? 0) > 1
        ? {
          checksum: update.partChecksum ?? 0,
          checksumPart: update.checksumPart ?? 0,
          checksumParts: update.checksumParts ?? 0,
        }
        : { checksum: update.checksum ?? 0 }),
      masterId: update.masterId ?? "",
    }, performance.now()));
    this.#recordPosition();
  }

  /** The node holds what the sync applied last: its epoch and sequence. */
  #recordPosition(): void {
    if (this.#sync.state !== "live") return;
    const { epoch, seq } = this.#node.position;
    if (epoch !== this.#sync.epoch || seq !== this.#sync.lastSeq) {
      this.#node.recordPosition(this.#sync.epoch, this.#sync.lastSeq);
    }
  }

  #handleSync(actions: SyncAction[]): void {
    const journal = this.#journal;
    for (const action of actions) {
      switch (action.type) {
        case "applied":
          journal?.append(action);
          break;
        case "restored":
          journal?.install(action, action.world, action.credentials);
          break;
        case "ack": {
          // "Applied and synced": the ack names the epoch it was applied in, and leaves only once
          // the node's disk holds everything up to it.
          const epoch = this.#sync.epoch;
          const seq = action.seq;
          const send = () =>
            this.#link?.send(encodeCluster({
              epoch,
              replicaAck: { nodeId: this.#config.node_id, seq },
            }));
          if (journal) {
            journal.commit();
            journal.whenDurable({ epoch, seq }, send);
          } else send();
          break;
        }
        case "request_snapshot":
          logger.info("Asking master {master} for a snapshot: {reason}", {
            master: this.#master?.nodeId ?? "?",
            reason: action.reason,
          });
          this.#link?.send(encodeCluster({
            epoch: this.#node.epoch,
            snapshotRequest: { nodeId: this.#config.node_id },
          }));
          break;
        case "log":
          logMessage(logger, action.level, action.message, action.fields);
          break;
      }
    }
    // Whatever applied is handed to the disk now, acked or not: one group commit per update.
    journal?.commit();
  }

  /** Fails writes forwarded to a master that is gone: the client retries through the new one. */
  #failForwards(message: string): void {
    const now = performance.now();
    const failed = [...this.#forwards];
    this.#forwards.clear();
    for (const [id, pending] of failed) {
      this.#abandon(id, pending.write, now);
      pending.write.done(errorReply(pending.write, "UNAVAILABLE", message));
    }
  }
}

function errorReply(
  write: ForwardedWrite,
  code: "TIMEOUT" | "UNAVAILABLE",
  message: string,
): Envelope {
  return { clientId: write.clientId, requestId: write.requestId, error: { code, message } };
}
