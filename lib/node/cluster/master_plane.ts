import type { PublisherSocket, RouterSocket } from "../../transport/mod.ts";
import {
  type ClusterMessage,
  decodeCluster,
  encodeCluster,
  encodeUpdate,
  type Envelope,
  type ErrorCode,
} from "../../protocol/mod.ts";
import { majorityOf, type NodeConfig } from "../../config/mod.ts";
import { AckTracker } from "../../replication/mod.ts";
import type { Journal } from "../../persist/mod.ts";
import { log } from "../../log/mod.ts";
import type { GameNode } from "../game_node.ts";

const logger = log("cluster");

/** What a {@linkcode MasterPlane} counts, since the node started. */
export interface MasterPlaneStats {
  /** Replication updates published (one per tick as master). */
  updatesPublished: number;
  /** Bytes of those updates. */
  bytesPublished: number;
  /** Snapshots sent to slaves. */
  snapshotsServed: number;
  /** Writes slaves forwarded here. */
  forwardedWrites: number;
}

/** The topic every replication update is published under. */
export const UPDATE_TOPIC = "u";

/** Options of {@linkcode MasterPlane}. */
export interface MasterPlaneOptions {
  config: NodeConfig;
  node: GameNode;
  /** The cluster socket slaves talk to (snapshots, forwarded writes, acks). */
  router: RouterSocket;
  /** The socket updates are published on. */
  publisher: PublisherSocket;
  /** When the registry last confirmed contact (performance.now() ms; 0 = never). */
  registryContact: () => number;
  /** The node's journal (none when `data_dir` is empty): every update is on disk before it counts. */
  journal?: Journal;
}

/**
 * The master's half of the cluster: one published update per tick, snapshots for slaves that ask,
 * slaves' acks (a write's reply waits until enough replicas hold it), fencing when cut off from
 * registry and slaves, and the writes slaves forward. It answers on the cluster socket whatever the
 * node's role: a node that is not master says so (`UNAVAILABLE`).
 */
export class MasterPlane {
  readonly #config: NodeConfig;
  readonly #node: GameNode;
  readonly #router: RouterSocket;
  readonly #publisher: PublisherSocket;
  readonly #registryContact: () => number;
  readonly #acks: AckTracker;
  readonly #journal: Journal | undefined;
  /** The other members: the replicas whose acks count under the majority rule. */
  readonly #peers: string[];
  /** True under the majority rule (the default); false when `min_replicas_to_ack` opts out. */
  readonly #majority: boolean;
  /** Peers that asked for a snapshot, served right after the next publish (op log empty). */
  #snapshotWaiters: Uint8Array[] = [];
  /** Replica node id → last contact (publish time of the newest seq it acked) and that seq. */
  readonly #replicas = new Map<string, { contact: number; seq: number }>();
  readonly #publishedAt = new Map<number, number>();
  readonly #removedReplicas = new Set<string>();
  #fenced = false;
  readonly #stats: MasterPlaneStats = {
    updatesPublished: 0,
    bytesPublished: 0,
    snapshotsServed: 0,
    forwardedWrites: 0,
  };

  /** Creates the plane over the node's bound cluster sockets. */
  constructor(options: MasterPlaneOptions) {
    this.#config = options.config;
    this.#node = options.node;
    this.#router = options.router;
    this.#publisher = options.publisher;
    this.#registryContact = options.registryContact;
    this.#journal = options.journal;
    const cluster = options.config.cluster;
    this.#peers = cluster.members.filter((id) => id !== options.config.node_id);
    this.#majority = cluster.min_replicas_to_ack === -1;
    this.#acks = new AckTracker({
      minReplicas: cluster.min_replicas_to_ack,
      // A majority of the members holds every acknowledged write: the master and this many others.
      quorum: this.#majority ? majorityOf(cluster.members.length) - 1 : undefined,
      timeoutMs: cluster.ack_timeout_ms,
      // The master's own copy counts toward the majority only once its disk holds it.
      local: options.journal !== undefined,
    });
  }

  /** False while fenced: the master refuses writes until contact returns. */
  get canAcknowledge(): boolean {
    return !this.#fenced;
  }

  /** What this plane did since the node started (for metrics). */
  get stats(): Readonly<MasterPlaneStats> {
    return this.#stats;
  }

  /** Writes applied and waiting until enough replicas (and the disk) hold them. */
  get pendingAcks(): number {
    return this.#acks.pending;
  }

  /** The replicas whose acks count now. */
  get liveReplicas(): string[] {
    return this.#acks.replicas;
  }

  /** Starts a term as master: no replica is known yet, nothing is fenced. */
  begin(): void {
    // Unpublished local ops exist on no slave (a replica's op log is empty anyway).
    this.#node.state.drainOps();
    this.#replicas.clear();
    this.#fenced = false;
    // Acks count from every other member, live or not; the quorum never shrinks.
    if (this.#majority) this.#acks.setReplicas(this.#peers);
    // Waiters of this term are for updates not published yet: each is counted as its sync ends.
    this.#acks.resetLocalDurable();
  }

  /** Ends the term: writes waiting for replicas were never confirmed, so they fail. */
  end(reason: string): void {
    this.#acks.failAll(reason);
    this.#acks.setReplicas([]);
    this.#replicas.clear();
  }

  /** Holds `ack` until the writes applied so far are in an update enough replicas hold. */
  whenDurable(
    ack: (seq: number) => void,
    fail: (code: ErrorCode, message: string) => void,
  ): void {
    // The write just applied will be in the next update.
    const seq = this.#node.lastSeq + 1;
    this.#acks.waitFor(seq, () => ack(seq), fail, performance.now());
  }

  /** The master's part of a tick: publish the update, count live replicas, time out, fence. */
  afterTick(now: number): void {
    this.#publish(now);
    this.#updateReplicas(now);
    this.#acks.tick(now);
    this.#checkFence(now);
  }

  /** The registry removed a slave: its acks stop counting until it acks again. */
  removeReplica(nodeId: string, reason: string): void {
    if (this.#replicas.delete(nodeId) || !this.#removedReplicas.has(nodeId)) {
      logger.warn(
        "Slave {nodeId} removed from the cluster ({reason}); dropped from the slave list",
        {
          nodeId,
          reason,
        },
      );
    }
    this.#removedReplicas.add(nodeId);
    this.#updateReplicas(performance.now());
  }

  #publish(now: number): void {
    const node = this.#node;
    const state = node.state;
    const seq = node.lastSeq + 1;
    node.recordPosition(node.epoch, seq);
    const every = this.#config.cluster.checksum_every_ticks;
    const parts = this.#config.cluster.checksum_parts;
    // The parts take turns: every user is checked once per `parts` checksums.
    const part = every > 0 ? Math.floor(seq / every) % parts : 0;
    const checksum = every > 0 && seq % every === 0 ? state.checksum(part, parts) || 1 : 0;
    const ops = state.drainOps();
    const update = encodeUpdate({
      epoch: node.epoch,
      seq,
      ops,
      ...(parts > 1
        ? { partChecksum: checksum, checksumPart: part, checksumParts: parts }
        : { checksum }),
      masterId: this.#config.node_id,
    });
    this.#publisher.publish(UPDATE_TOPIC, update);
    this.#stats.updatesPublished++;
    this.#stats.bytesPublished += update.length;
    this.#publishedAt.set(seq, now);
    this.#publishedAt.delete(seq - 500);
    const journal = this.#journal;
    if (journal) {
      // Slaves get the update first; the master's own disk catches up beside the event loop.
      const epoch = node.epoch;
      journal.append({ epoch, seq, ops });
      journal.commit();
      const acks = this.#acks;
      journal.whenDurable({ epoch, seq }, () => acks.setLocalDurable(seq));
      // The state is exactly at this update: the moment a snapshot may start or go on.
      journal.afterTick();
    }
    if (this.#snapshotWaiters.length > 0) this.#serveSnapshots(seq);
  }

  #serveSnapshots(seq: number): void {
    const state = this.#node.state;
    const reply = encodeCluster({
      epoch: this.#node.epoch,
      snapshotReply: {
        seq,
        world: state.world.snapshot(),
        sessions: state.credentialsSnapshot(),
      },
    });
    for (const peer of this.#snapshotWaiters) this.#router.send(peer, reply);
    this.#stats.snapshotsServed += this.#snapshotWaiters.length;
    logger.info("Sent snapshot at seq {seq} ({bytes} bytes, {users} users) to {count} slave(s)", {
      seq,
      bytes: reply.length,
      users: state.world.size,
      count: this.#snapshotWaiters.length,
    });
    this.#snapshotWaiters = [];
  }

  #updateReplicas(now: number): void {
    // Under the majority rule the replica set is the membership, whatever is live.
    if (this.#majority) return;
    const silence = this.#config.cluster.replica_silence_ms;
    const live: string[] = [];
    for (const [id, r] of this.#replicas) {
      if (now - r.contact <= silence) live.push(id);
    }
    this.#acks.setReplicas(live);
  }

  #checkFence(now: number): void {
    let contact = this.#registryContact();
    for (const r of this.#replicas.values()) contact = Math.max(contact, r.contact);
    const fenced = now - contact > this.#config.cluster.fence_timeout_ms;
    if (fenced === this.#fenced) return;
    this.#fenced = fenced;
    if (fenced) {
      logger.error(
        "Fenced: no contact with the registry or any slave for {ms} ms; refusing writes until contact returns",
        { ms: this.#config.cluster.fence_timeout_ms },
      );
    } else logger.info("Contact with the cluster restored: accepting writes again");
  }

  /** Handles a message on the cluster socket: a slave's snapshot request, ack, expiry or write. */
  onFrame(peer: Uint8Array, frames: Uint8Array[]): void {
    let message: ClusterMessage;
    try {
      message = decodeCluster(frames[frames.length - 1]);
    } catch (err) {
      logger.warn("Bad cluster message ignored: {error}", { error: (err as Error).message });
      return;
    }
    const node = this.#node;
    switch (message.msg) {
      case "snapshotRequest":
        if (!node.authoritative) {
          this.#router.send(
            peer,
            encodeCluster({
              epoch: node.epoch,
              error: { code: "UNAVAILABLE", message: `${this.#config.node_id} is not the master` },
            }),
          );
          return;
        }
        logger.info("Slave {nodeId} asked for a snapshot", {
          nodeId: message.snapshotRequest?.nodeId,
        });
        this.#snapshotWaiters.push(peer);
        return;
      case "replicaAck":
        if (!node.authoritative || (message.epoch ?? 0) !== node.epoch) return;
        this.#onAck(message.replicaAck?.nodeId ?? "", message.replicaAck?.seq ?? 0);
        return;
      case "expireUser": {
        const userId = message.expireUser?.userId ?? 0;
        if (node.authoritative && node.state.expire(userId, message.expireUser?.generation ?? 0)) {
          logger.info("User {userId} removed: its client did not come back to a slave", { userId });
        }
        return;
      }
      case "forwardRequest": {
        const request = message.forwardRequest?.request;
        if (!request || !request.clientId) return;
        // The reply goes back to the slave that asked; it routes it to the connection that sent it.
        const reply = (envelope: Envelope, generation?: number) =>
          this.#router.send(
            peer,
            encodeCluster({
              epoch: node.epoch,
              forwardReply: { reply: envelope, userGeneration: generation ?? 0 },
            }),
          );
        this.#stats.forwardedWrites++;
        node.executeForwarded(request, message.forwardRequest?.userId ?? 0, reply);
        return;
      }
      default:
        logger.debug("Ignored cluster message {msg}", { msg: message.msg });
    }
  }

  #onAck(nodeId: string, seq: number): void {
    if (!this.#config.cluster.members.includes(nodeId) || nodeId === this.#config.node_id) {
      logger.warn("Ack from {nodeId}, not a member of this cluster, ignored", { nodeId });
      return;
    }
    const now = performance.now();
    const publishedAt = this.#publishedAt.get(seq) ?? 0;
    const known = this.#replicas.get(nodeId);
    if (!known) logger.info("Slave {nodeId} is replicating (seq {seq})", { nodeId, seq });
    this.#removedReplicas.delete(nodeId);
    this.#replicas.set(nodeId, { contact: Math.max(publishedAt, known?.contact ?? 0), seq });
    this.#updateReplicas(now);
    this.#acks.onAck(nodeId, seq, now);
  }
}
