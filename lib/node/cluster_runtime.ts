import {
  DealerSocket,
  PublisherSocket,
  type Pump,
  RouterSocket,
  SubscriberSocket,
} from "../transport/mod.ts";
import {
  type ClusterMessage,
  decodeCluster,
  decodeUpdate,
  encodeCluster,
  encodeUpdate,
  type Envelope,
  type NodeAddress,
  parseRequest,
  ProtocolError,
  type RequestLimits,
} from "../protocol/mod.ts";
import {
  bindEndpoint,
  type ClusterCurve,
  clusterCurve,
  connectEndpoint,
  type NodeConfig,
} from "../config/mod.ts";
import { AckTracker, ReplicaSync, type SyncAction } from "../replication/mod.ts";
import { log, logMessage } from "../log/mod.ts";
import type { ForwardedWrite, GameNode } from "./game_node.ts";
import { type RegistryCommand, RegistryLink } from "./registry_link.ts";
import { readStateFile, writeStateFile } from "./node_state_file.ts";

const logger = log("cluster");
const UPDATE_TOPIC = "u";

interface PendingForward {
  write: ForwardedWrite;
  deadline: number;
}

/**
 * The cluster side of a game node: registration and reports, the master's publisher and cluster socket
 * (snapshots, forwarded writes, replica acks), the slave's subscription and forwarding link, durable
 * acknowledgement, fencing, and the role changes the registry commands.
 */
export class ClusterRuntime implements AsyncDisposable {
  readonly #config: NodeConfig;
  readonly #node: GameNode;
  readonly #pump: Pump;
  readonly #curve: ClusterCurve | undefined;
  readonly #router: RouterSocket;
  readonly #publisher: PublisherSocket;
  readonly #link: RegistryLink;
  readonly #acks: AckTracker;
  readonly #sync: ReplicaSync;
  readonly #limits: RequestLimits;
  readonly #runId = crypto.randomUUID();
  readonly #address: NodeAddress;
  /** Peers that asked for a snapshot, served right after the next publish (op log empty). */
  #snapshotWaiters: Uint8Array[] = [];
  /** Master: replica node id → { last ack time (publish time of the acked seq), peer }. */
  readonly #replicas = new Map<string, { contact: number; seq: number }>();
  readonly #publishedAt = new Map<number, number>();
  #removedReplicas = new Set<string>();
  /** Slave: the master's address, its forwarding link and subscription. */
  #master: NodeAddress | undefined;
  #masterLink: DealerSocket | undefined;
  #subscriber: SubscriberSocket | undefined;
  readonly #forwards = new Map<string, PendingForward>();
  #fenced = false;
  #closed = false;

  private constructor(
    config: NodeConfig,
    node: GameNode,
    pump: Pump,
    curve: ClusterCurve | undefined,
    router: RouterSocket,
    publisher: PublisherSocket,
  ) {
    this.#config = config;
    this.#node = node;
    this.#pump = pump;
    this.#curve = curve;
    this.#router = router;
    this.#publisher = publisher;
    this.#address = {
      nodeId: config.node_id,
      host: config.host,
      clientPort: 0,
      clusterPort: router.port,
      publishPort: publisher.port,
      httpPort: config.http_port,
    };
    this.#limits = {
      maxSpeed: config.world.max_speed,
      maxAoeRadius: config.world.max_aoe_radius,
      maxQueryRadius: config.world.max_query_radius,
      maxAoeAmount: config.world.max_aoe_amount,
      maxCoordinate: 1e9,
    };
    this.#acks = new AckTracker({
      minReplicas: config.cluster.min_replicas_to_ack,
      timeoutMs: config.cluster.ack_timeout_ms,
    });
    const tickTime = config.world.tick_time;
    this.#sync = new ReplicaSync({
      applyUpdate: (ops) => {
        // A slave's "tick" is applying the master's update: that is what its load figures measure.
        const start = performance.now();
        node.state.applyOps(ops);
        node.state.world.step(tickTime);
        const end = performance.now();
        node.recordTick(end - start, end);
      },
      restore: (world, credentials) => node.state.restore(world, credentials),
      checksum: (part, parts) => node.state.checksum(part, parts),
    }, {
      silenceMs: config.cluster.replica_silence_ms,
      snapshotTimeoutMs: config.cluster.snapshot_timeout_ms,
    });
    this.#link = new RegistryLink({
      pump,
      endpoints: config.registry,
      curve,
      identity: {
        address: this.#address,
        runId: this.#runId,
        role: () => node.role,
        epoch: () => node.epoch,
        masterId: () => node.masterId,
        load: () => {
          const load = node.load();
          return {
            connections: load.connections,
            users: load.users,
            tickAvgMs: load.tick.avgMs,
            tickP99Ms: load.tick.p99Ms,
            loadFactor: load.tick.loadFactor,
            lastSeq: node.lastSeq,
            sessions: load.sessions,
          };
        },
      },
      reportIntervalMs: config.cluster.report_interval_ms,
      registryTimeoutMs: config.cluster.registry_timeout_ms,
      retryMaxMs: config.cluster.retry_max_ms,
      onCommand: (command) => this.#onCommand(command),
    });
  }

  /**
   * Binds the cluster and publish ports, registers with the registry (rejecting with a
   * `RegistrationError` when none accepts the node in time) and takes the role the registry gives.
   */
  static async start(
    pump: Pump,
    config: NodeConfig,
    node: GameNode,
    clientPort: number,
  ): Promise<ClusterRuntime> {
    const curve = clusterCurve(config.curve);
    if (!curve) {
      logger.warn("No CURVE keys configured: the cluster plane is NOT authenticated (see README)");
    }
    const runtimeRef: { runtime?: ClusterRuntime } = {};
    const router = await RouterSocket.bind(
      pump,
      bindEndpoint(config.bind, config.cluster_port),
      (peer, frames) => runtimeRef.runtime?.onClusterFrame(peer, frames),
      { curve: curve?.server, maxMessageSize: 64 * 1024 * 1024 },
    );
    let publisher: PublisherSocket;
    try {
      publisher = await PublisherSocket.bind(pump, bindEndpoint(config.bind, config.publish_port), {
        curve: curve?.server,
        sendHwm: config.cluster.publish_hwm,
      });
    } catch (err) {
      router.close();
      throw err;
    }
    const runtime = new ClusterRuntime(config, node, pump, curve, router, publisher);
    runtimeRef.runtime = runtime;
    runtime.#address.clientPort = clientPort;
    // A restarted node claims the epoch it last had, so the registry knows it as a returning node.
    const remembered = readStateFile(config.state_file, config.node_id);
    node.epoch = remembered?.epoch ?? 0;
    if (remembered) {
      logger.info("Remembered epoch {epoch} as {role} from {path}", {
        epoch: remembered.epoch,
        role: remembered.role,
        path: config.state_file,
      });
    }
    node.writePath = {
      forward: (write) => runtime.#forward(write),
      whenDurable: (ack, fail) => runtime.#whenDurable(ack, fail),
      canAcknowledge: () => !runtime.#fenced,
      expire: (userId, generation) =>
        runtime.#masterLink?.send(encodeCluster({
          epoch: node.epoch,
          expireUser: { userId, generation },
        })),
    };
    try {
      await runtime.#link.register(config.cluster.register_timeout_ms);
    } catch (err) {
      await runtime.close();
      throw err;
    }
    return runtime;
  }

  /** The registry link (for status). */
  get registry(): RegistryLink {
    return this.#link;
  }

  /** Called by the node server after every tick. */
  afterTick(now: number): void {
    if (this.#closed) return;
    const node = this.#node;
    if (node.authoritative) {
      this.#publish(now);
      this.#updateReplicas(now);
      this.#acks.tick(now);
      this.#checkFence(now);
    } else {
      this.#handleSync(this.#sync.tick(now));
      // Updates stopped (the master is silent or being replaced): fail forwarded writes now rather
      // than at their timeout, so clients retry through the next master sooner.
      if (this.#sync.state !== "live" && this.#forwards.size > 0) {
        this.#failForwards(
          "The master is not answering; the write may not have been applied, retry it",
        );
      }
      for (const [key, pending] of this.#forwards) {
        if (pending.deadline > now) continue;
        this.#forwards.delete(key);
        pending.write.done({
          clientId: pending.write.clientId,
          requestId: pending.write.requestId,
          error: {
            code: "TIMEOUT",
            message:
              "The master did not answer in time; the write may or may not have been applied",
          },
        });
      }
    }
  }

  #publish(now: number): void {
    const node = this.#node;
    const seq = ++node.lastSeq;
    const every = this.#config.cluster.checksum_every_ticks;
    const parts = this.#config.cluster.checksum_parts;
    // The parts take turns: every user is checked once per `parts` checksums.
    const part = every > 0 ? Math.floor(seq / every) % parts : 0;
    const checksum = every > 0 && seq % every === 0 ? node.state.checksum(part, parts) || 1 : 0;
    const update = encodeUpdate({
      epoch: node.epoch,
      seq,
      ops: node.state.drainOps(),
      ...(parts > 1
        ? { partChecksum: checksum, checksumPart: part, checksumParts: parts }
        : { checksum }),
      masterId: this.#config.node_id,
    });
    this.#publisher.publish(UPDATE_TOPIC, update);
    this.#publishedAt.set(seq, now);
    this.#publishedAt.delete(seq - 500);
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
    logger.info("Sent snapshot at seq {seq} ({bytes} bytes, {users} users) to {count} slave(s)", {
      seq,
      bytes: reply.length,
      users: state.world.size,
      count: this.#snapshotWaiters.length,
    });
    this.#snapshotWaiters = [];
  }

  #updateReplicas(now: number): void {
    const silence = this.#config.cluster.replica_silence_ms;
    const live: string[] = [];
    for (const [id, r] of this.#replicas) {
      if (now - r.contact <= silence) live.push(id);
    }
    this.#acks.setReplicas(live);
  }

  #checkFence(now: number): void {
    let contact = this.#link.lastContact;
    for (const r of this.#replicas.values()) contact = Math.max(contact, r.contact);
    const fenced = now - contact > this.#config.cluster.fence_timeout_ms;
    if (fenced !== this.#fenced) {
      this.#fenced = fenced;
      if (fenced) {
        logger.error(
          "Fenced: no contact with the registry or any slave for {ms} ms; refusing writes until contact returns",
          { ms: this.#config.cluster.fence_timeout_ms },
        );
      } else logger.info("Contact with the cluster restored: accepting writes again");
    }
  }

  #whenDurable(ack: () => void, fail: (code: "TIMEOUT", message: string) => void): void {
    // The write just applied will be in the next update.
    this.#acks.waitFor(this.#node.lastSeq + 1, ack, fail, performance.now());
  }

  /** Handles a message on the cluster socket (master side: slaves' requests). */
  onClusterFrame(peer: Uint8Array, frames: Uint8Array[]): void {
    let message: ClusterMessage;
    try {
      message = decodeCluster(frames[frames.length - 1]);
    } catch (err) {
      logger.warn("Bad cluster message ignored: {error}", { error: (err as Error).message });
      return;
    }
    const node = this.#node;
    const now = performance.now();
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
      case "replicaAck": {
        const nodeId = message.replicaAck?.nodeId ?? "";
        const seq = message.replicaAck?.seq ?? 0;
        if (!node.authoritative || (message.epoch ?? 0) !== node.epoch) return;
        const publishedAt = this.#publishedAt.get(seq) ?? 0;
        const known = this.#replicas.get(nodeId);
        if (!known) logger.info("Slave {nodeId} is replicating (seq {seq})", { nodeId, seq });
        this.#removedReplicas.delete(nodeId);
        this.#replicas.set(nodeId, { contact: Math.max(publishedAt, known?.contact ?? 0), seq });
        this.#updateReplicas(now);
        this.#acks.onAck(nodeId, seq, now);
        return;
      }
      case "expireUser": {
        const userId = message.expireUser?.userId ?? 0;
        if (node.authoritative && node.state.expire(userId, message.expireUser?.generation ?? 0)) {
          logger.info("User {userId} removed: its client did not come back to a slave", { userId });
        }
        return;
      }
      case "forwardRequest": {
        const fwd = message.forwardRequest;
        const request = fwd?.request;
        const reply = (envelope: Envelope) =>
          this.#router.send(
            peer,
            encodeCluster({ epoch: node.epoch, forwardReply: { reply: envelope } }),
          );
        if (!request || !request.clientId) return;
        if (!node.authoritative) {
          reply({
            clientId: request.clientId,
            requestId: request.requestId,
            error: {
              code: "UNAVAILABLE",
              message: `${this.#config.node_id} is no longer the master`,
            },
          });
          return;
        }
        try {
          const parsed = parseRequest(request, this.#limits);
          node.executeWrite(
            request.clientId,
            request.requestId ?? 0,
            parsed,
            fwd.userId ?? 0,
            reply,
          );
        } catch (err) {
          const e = err instanceof ProtocolError ? err : new ProtocolError("INTERNAL", String(err));
          reply({
            clientId: request.clientId,
            requestId: request.requestId,
            error: { code: e.code, message: e.message },
          });
        }
        return;
      }
      default:
        logger.debug("Ignored cluster message {msg}", { msg: message.msg });
    }
  }

  /** Handles a message from the master on the forwarding link (slave side). */
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
    const now = performance.now();
    switch (message.msg) {
      case "snapshotReply": {
        const s = message.snapshotReply!;
        if ((message.epoch ?? 0) < this.#node.epoch) return;
        this.#handleSync(this.#sync.onSnapshot({
          epoch: message.epoch ?? 0,
          seq: s.seq ?? 0,
          world: s.world ?? new Uint8Array(),
          credentials: s.sessions ?? new Uint8Array(),
        }, now));
        this.#node.lastSeq = this.#sync.lastSeq;
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
        const key = `${reply.clientId}/${reply.requestId}`;
        const pending = this.#forwards.get(key);
        if (!pending) return;
        this.#forwards.delete(key);
        pending.write.done(reply);
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
    let update;
    try {
      update = decodeUpdate(payload);
    } catch (err) {
      logger.warn("Bad replication update ignored: {error}", { error: (err as Error).message });
      return;
    }
    if (this.#node.authoritative) return;
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
    this.#node.lastSeq = this.#sync.lastSeq;
  }

  #handleSync(actions: SyncAction[]): void {
    for (const action of actions) {
      switch (action.type) {
        case "ack":
          this.#masterLink?.send(encodeCluster({
            epoch: this.#node.epoch,
            replicaAck: { nodeId: this.#config.node_id, seq: action.seq },
          }));
          break;
        case "request_snapshot":
          logger.info("Asking master {master} for a snapshot: {reason}", {
            master: this.#master?.nodeId ?? "?",
            reason: action.reason,
          });
          this.#masterLink?.send(encodeCluster({
            epoch: this.#node.epoch,
            snapshotRequest: { nodeId: this.#config.node_id },
          }));
          break;
        case "log":
          logMessage(logger, action.level, action.message, action.fields);
          break;
      }
    }
  }

  #forward(write: ForwardedWrite): boolean {
    if (!this.#masterLink || this.#sync.state !== "live") return false;
    const sent = this.#masterLink.send(encodeCluster({
      epoch: this.#node.epoch,
      forwardRequest: {
        originNodeId: this.#config.node_id,
        request: write.request,
        userId: write.userId,
      },
    }));
    if (!sent) return false;
    this.#forwards.set(`${write.clientId}/${write.requestId}`, {
      write,
      deadline: performance.now() + this.#config.cluster.forward_timeout_ms,
    });
    return true;
  }

  #onCommand(command: RegistryCommand): void {
    const node = this.#node;
    switch (command.type) {
      case "convert_to_master":
        if (command.epoch < node.epoch) return;
        this.#becomeMaster(command.epoch, "the registry promoted this node");
        return;
      case "change_master":
        if (command.epoch < node.epoch) return;
        if (command.master.nodeId === this.#config.node_id) {
          this.#becomeMaster(command.epoch, "the registry named this node master");
        } else this.#follow(command.master, command.epoch);
        return;
      case "slave_removed":
        if (this.#replicas.delete(command.nodeId) || !this.#removedReplicas.has(command.nodeId)) {
          logger.warn(
            "Slave {nodeId} removed from the cluster ({reason}); dropped from the slave list",
            {
              nodeId: command.nodeId,
              reason: command.reason,
            },
          );
        }
        this.#removedReplicas.add(command.nodeId);
        this.#updateReplicas(performance.now());
        return;
      case "master_info": {
        const master = command.master;
        if (command.role === "ROLE_MASTER" || master?.nodeId === this.#config.node_id) {
          if (!node.authoritative || command.epoch > node.epoch) {
            this.#becomeMaster(
              Math.max(command.epoch, node.epoch),
              "the registry confirmed this node as master",
            );
          }
          return;
        }
        if (!master) return;
        if (command.epoch < node.epoch && node.authoritative) return;
        if (
          node.authoritative || master.nodeId !== this.#master?.nodeId || command.epoch > node.epoch
        ) {
          this.#follow(master, Math.max(command.epoch, node.epoch));
        }
        return;
      }
    }
  }

  #remember(): void {
    writeStateFile(this.#config.state_file, {
      nodeId: this.#config.node_id,
      epoch: this.#node.epoch,
      role: this.#node.authoritative ? "master" : "slave",
    });
  }

  #becomeMaster(epoch: number, why: string): void {
    const node = this.#node;
    const wasMaster = node.role === "ROLE_MASTER";
    const epochChanged = node.epoch !== epoch;
    node.epoch = epoch;
    node.masterId = this.#config.node_id;
    if (wasMaster && epochChanged) this.#remember();
    if (wasMaster) return;
    node.role = "ROLE_MASTER";
    this.#master = undefined;
    this.#subscriber?.close();
    this.#subscriber = undefined;
    this.#masterLink?.close();
    this.#masterLink = undefined;
    this.#failForwards("The master changed; the write may not have been applied, retry it");
    // Any unpublished local ops do not exist on a slave; the op log is empty for a replica anyway.
    node.state.drainOps();
    this.#replicas.clear();
    this.#fenced = false;
    this.#remember();
    logger.info("Now MASTER at epoch {epoch} ({why}); {users} users, continuing from seq {seq}", {
      epoch,
      why,
      users: node.state.world.size,
      seq: node.lastSeq,
    });
  }

  /** Fails writes forwarded to a master that is gone: the client retries through the new one. */
  #failForwards(message: string): void {
    for (const pending of this.#forwards.values()) {
      pending.write.done({
        clientId: pending.write.clientId,
        requestId: pending.write.requestId,
        error: { code: "UNAVAILABLE", message },
      });
    }
    this.#forwards.clear();
  }

  #follow(master: NodeAddress, epoch: number): void {
    const node = this.#node;
    const wasMaster = node.authoritative;
    if (this.#master && this.#master.nodeId !== master.nodeId) {
      this.#failForwards(
        `The master changed to ${master.nodeId}; the write may not have been applied, retry it`,
      );
    }
    node.role = "ROLE_SLAVE";
    node.epoch = epoch;
    node.masterId = master.nodeId ?? "";
    this.#remember();
    this.#master = master;
    const clusterEndpoint = connectEndpoint(master.host ?? "", master.clusterPort ?? 0);
    const publishEndpoint = connectEndpoint(master.host ?? "", master.publishPort ?? 0);
    if (this.#masterLink) this.#masterLink.reconnect(clusterEndpoint);
    else {
      this.#masterLink = DealerSocket.connect(
        this.#pump,
        clusterEndpoint,
        (f) => this.#onMasterFrame(f),
        {
          curve: this.#curve?.client,
          sendHwm: 100_000,
        },
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
    if (wasMaster) {
      logger.warn("Stepping down: {master} is master at epoch {epoch}; this node is now a slave", {
        master: master.nodeId,
        epoch,
      });
      // Writes waiting for replicas were never confirmed: fail them rather than acknowledge.
      this.#acks.failAll("This node stepped down from master; the write may not have been applied");
      this.#acks.setReplicas([]);
    } else {
      logger.info("Following master {master} at {endpoint} (epoch {epoch})", {
        master: master.nodeId,
        endpoint: publishEndpoint,
        epoch,
      });
    }
    this.#handleSync(this.#sync.reset(epoch, performance.now()));
  }

  /** Leaves the cluster: deregisters (best effort) and closes every cluster socket. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#link.close();
    this.#subscriber?.close();
    this.#masterLink?.close();
    this.#publisher.close();
    this.#router.close();
    await Promise.resolve();
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
