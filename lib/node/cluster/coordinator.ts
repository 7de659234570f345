import { PublisherSocket, type Pump, RouterSocket } from "../../transport/mod.ts";
import type { NodeAddress } from "../../protocol/mod.ts";
import {
  bindEndpoint,
  type ClusterCurve,
  connectEndpoint,
  type NodeConfig,
  startupClusterCurve,
} from "../../config/mod.ts";
import { log } from "../../log/mod.ts";
import type { GameNode, WritePath } from "../game_node.ts";
import { MasterPlane } from "./master_plane.ts";
import { SlavePlane } from "./slave_plane.ts";
import { type RegistryCommand, RegistryLink } from "./registry_link.ts";
import { readStateFile, writeStateFile } from "./state_file.ts";

const logger = log("cluster");

/**
 * The cluster side of a game node. It owns the registry link and the two planes, and is the one
 * place that decides role changes: the registry's commands arrive in {@linkcode onCommand}, which
 * moves the node between {@linkcode MasterPlane} (publish, acks, fencing, forwarded writes) and
 * {@linkcode SlavePlane} (subscription, snapshots, forwarding) and remembers the epoch on disk.
 *
 * Two phases: {@linkcode ClusterCoordinator.bind} binds the cluster sockets and yields the node's
 * {@linkcode WritePath}; {@linkcode ClusterCoordinator.join} attaches the node and registers.
 */
export class ClusterCoordinator implements AsyncDisposable {
  readonly #config: NodeConfig;
  readonly #pump: Pump;
  readonly #curve: ClusterCurve | undefined;
  readonly #router: RouterSocket;
  readonly #publisher: PublisherSocket;
  readonly #runId = crypto.randomUUID();
  #node: GameNode | undefined;
  #master: MasterPlane | undefined;
  #slave: SlavePlane | undefined;
  #link: RegistryLink | undefined;
  #closed = false;

  /** The write path a {@linkcode GameNode} in this cluster is built with. */
  readonly writePath: WritePath = {
    forward: (write) => this.#slave?.forward(write) ?? false,
    whenDurable: (ack, fail) =>
      this.#master
        ? this.#master.whenDurable(ack, fail)
        : fail("UNAVAILABLE", "This node has not joined its cluster yet"),
    canAcknowledge: () => this.#master?.canAcknowledge ?? false,
    expire: (userId, generation) => this.#slave?.expire(userId, generation),
  };

  private constructor(
    config: NodeConfig,
    pump: Pump,
    curve: ClusterCurve | undefined,
    router: RouterSocket,
    publisher: PublisherSocket,
  ) {
    this.#config = config;
    this.#pump = pump;
    this.#curve = curve;
    this.#router = router;
    this.#publisher = publisher;
  }

  /** Binds the cluster and publish ports (closing what it opened when one fails). */
  static async bind(pump: Pump, config: NodeConfig): Promise<ClusterCoordinator> {
    const curve = startupClusterCurve(config.curve);
    const ref: { coordinator?: ClusterCoordinator } = {};
    const router = await RouterSocket.bind(
      pump,
      bindEndpoint(config.bind, config.cluster_port),
      (peer, frames) => ref.coordinator?.onClusterFrame(peer, frames),
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
    ref.coordinator = new ClusterCoordinator(config, pump, curve, router, publisher);
    return ref.coordinator;
  }

  /**
   * Attaches the node, registers with the registry (rejecting with a `RegistrationError` when none
   * accepts the node in time; everything is then closed) and takes the role the registry gives.
   */
  async join(node: GameNode, clientPort: number): Promise<void> {
    const config = this.#config;
    this.#node = node;
    this.#master = new MasterPlane({
      config,
      node,
      router: this.#router,
      publisher: this.#publisher,
      registryContact: () => this.#link?.lastContact ?? 0,
    });
    this.#slave = new SlavePlane({ config, node, pump: this.#pump, curve: this.#curve });
    const address: NodeAddress = {
      nodeId: config.node_id,
      host: config.host,
      clientPort,
      clusterPort: this.#router.port,
      publishPort: this.#publisher.port,
      httpPort: config.http_port,
    };
    this.#link = new RegistryLink({
      pump: this.#pump,
      endpoints: config.registry,
      curve: this.#curve,
      identity: {
        address,
        runId: this.#runId,
        role: () => node.role,
        epoch: () => node.epoch,
        masterId: () => node.masterId,
        load: () => node.loadReport(),
      },
      reportIntervalMs: config.cluster.report_interval_ms,
      registryTimeoutMs: config.cluster.registry_timeout_ms,
      retryMaxMs: config.cluster.retry_max_ms,
      onCommand: (command) => this.onCommand(command),
    });
    // A restarted node claims the epoch it last had, so the registry knows it as a returning node.
    const remembered = readStateFile(config.state_file, config.node_id);
    if (remembered) {
      node.rememberEpoch(remembered.epoch);
      logger.info("Remembered epoch {epoch} as {role} from {path}", {
        epoch: remembered.epoch,
        role: remembered.role,
        path: config.state_file,
      });
    }
    try {
      await this.#link.register(config.cluster.register_timeout_ms);
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Handles a message on the cluster socket (slaves talk to the master plane). */
  onClusterFrame(peer: Uint8Array, frames: Uint8Array[]): void {
    this.#master?.onFrame(peer, frames);
  }

  /** The registry link (for status). */
  get registry(): RegistryLink | undefined {
    return this.#link;
  }

  /** Called by the node server after every tick: the plane of the node's role does its part. */
  afterTick(now: number): void {
    if (this.#closed || !this.#node) return;
    const { master, slave } = this.#planes();
    if (this.#node.authoritative) master.afterTick(now);
    else slave.afterTick(now);
  }

  /** Acts on a command or news from the registry: the only place roles change. */
  onCommand(command: RegistryCommand): void {
    const { node, master, slave } = this.#planes();
    const self = this.#config.node_id;
    switch (command.type) {
      case "convert_to_master":
        if (command.epoch < node.epoch) return;
        this.#becomeMaster(command.epoch, "the registry promoted this node");
        return;
      case "change_master":
        if (command.epoch < node.epoch) return;
        if (command.master.nodeId === self) {
          this.#becomeMaster(command.epoch, "the registry named this node master");
        } else this.#follow(command.master, command.epoch);
        return;
      case "slave_removed":
        master.removeReplica(command.nodeId, command.reason);
        return;
      case "master_info": {
        const named = command.master;
        if (command.role === "ROLE_MASTER" || named?.nodeId === self) {
          if (!node.authoritative || command.epoch > node.epoch) {
            this.#becomeMaster(
              Math.max(command.epoch, node.epoch),
              "the registry confirmed this node as master",
            );
          }
          return;
        }
        if (!named) return;
        if (command.epoch < node.epoch && node.authoritative) return;
        if (
          node.authoritative || named.nodeId !== slave.master?.nodeId || command.epoch > node.epoch
        ) {
          this.#follow(named, Math.max(command.epoch, node.epoch));
        }
        return;
      }
    }
  }

  #planes(): { node: GameNode; master: MasterPlane; slave: SlavePlane } {
    if (!this.#node || !this.#master || !this.#slave) {
      throw new Error("ClusterCoordinator used before join()");
    }
    return { node: this.#node, master: this.#master, slave: this.#slave };
  }

  #remember(): void {
    const node = this.#planes().node;
    writeStateFile(this.#config.state_file, {
      nodeId: this.#config.node_id,
      epoch: node.epoch,
      role: node.authoritative ? "ROLE_MASTER" : "ROLE_SLAVE",
    });
  }

  #becomeMaster(epoch: number, why: string): void {
    const { node, master, slave } = this.#planes();
    const wasMaster = node.role === "ROLE_MASTER";
    const epochChanged = node.epoch !== epoch;
    node.becomeMaster(epoch);
    if (wasMaster) {
      if (epochChanged) this.#remember();
      return;
    }
    slave.stop("The master changed; the write may not have been applied, retry it");
    master.begin();
    this.#remember();
    logger.info("Now MASTER at epoch {epoch} ({why}); {users} users, continuing from seq {seq}", {
      epoch,
      why,
      users: node.state.world.size,
      seq: node.lastSeq,
    });
  }

  #follow(address: NodeAddress, epoch: number): void {
    const { node, master, slave } = this.#planes();
    const wasMaster = node.authoritative;
    node.becomeSlave(address.nodeId ?? "", epoch);
    this.#remember();
    if (wasMaster) {
      logger.warn("Stepping down: {master} is master at epoch {epoch}; this node is now a slave", {
        master: address.nodeId,
        epoch,
      });
      // Writes waiting for replicas were never confirmed: fail them rather than acknowledge.
      master.end("This node stepped down from master; the write may not have been applied");
    } else {
      logger.info("Following master {master} at {endpoint} (epoch {epoch})", {
        master: address.nodeId,
        endpoint: connectEndpoint(address.host ?? "", address.publishPort ?? 0),
        epoch,
      });
    }
    slave.follow(address, epoch);
  }

  /** Leaves the cluster: deregisters (best effort) and closes every cluster socket. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#link?.close();
    this.#slave?.close();
    this.#publisher.close();
    this.#router.close();
    await Promise.resolve();
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
