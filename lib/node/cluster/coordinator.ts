import { PublisherSocket, type Pump, RouterSocket } from "../../transport/mod.ts";
import type { NodeAddress, PromiseReply, Role } from "../../protocol/mod.ts";
import {
  bindEndpoint,
  checkMembers,
  type ClusterCurve,
  connectEndpoint,
  type NodeConfig,
  startupClusterCurve,
} from "../../config/mod.ts";
import { log } from "../../log/mod.ts";
import type { Journal, Position } from "../../persist/mod.ts";
import type { ReplicaSyncState, ReplicaSyncStats } from "../../replication/mod.ts";
import type { GameNode, WritePath } from "../game_node.ts";
import { MasterPlane } from "./master_plane.ts";
import { SlavePlane } from "./slave_plane.ts";
import { type RegistryCommand, RegistryLink } from "./registry_link.ts";
import { registerWithAny } from "./register_with_any.ts";
import { DurablePromise } from "./durable_promise.ts";

const logger = log("cluster");

/** The cluster side's figures since the node started (see {@linkcode ClusterCoordinator.stats}). */
export interface ClusterStats {
  /** Changes between master and slave. */
  roleChanges: number;
  /** Election promises granted, and refused (an epoch not above the one promised). */
  promisesGranted: number;
  promisesRefused: number;
  /** As master: updates published, their bytes, snapshots sent, writes slaves forwarded here. */
  updatesPublished: number;
  bytesPublished: number;
  snapshotsServed: number;
  forwardedExecuted: number;
  /** As master: writes applied and waiting for replica acks (0 as slave). */
  pendingAcks: number;
  /** As slave: client writes forwarded to the master, and replication bytes received. */
  forwardedWrites: number;
  bytesReceived: number;
  /** True while a slave following a master. */
  following: boolean;
  /** Where replication stands (meaningful while following). */
  syncState: ReplicaSyncState;
  /** When the last update was applied as slave (performance.now() ms; 0 before any). */
  lastUpdateAt: number;
}

/**
 * The cluster side of a game node. It owns the registry link, the two planes and the node's durable
 * promise, and is the one place that decides role changes: the registry's commands arrive in
 * {@linkcode onCommand}, which moves the node between {@linkcode MasterPlane} (publish, acks,
 * fencing, forwarded writes) and {@linkcode SlavePlane} (subscription, snapshots, forwarding).
 *
 * The safety rule's node half lives here: the node promises an epoch at most once and durably
 * before answering the registry's `prepare`, and from then on takes no role, update or command of an
 * older epoch; a master that promises a newer epoch stops acting as master at once.
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
  /** The highest epoch promised or followed (durable in the state file). */
  readonly #durable: DurablePromise;
  /** The role asked for at the first registration: master only for a new node configured so. */
  readonly #wish: Role;
  #joined = false;
  #node: GameNode | undefined;
  #master: MasterPlane | undefined;
  #slave: SlavePlane | undefined;
  #journal: Journal | undefined;
  /** One link per registry: every registry hears from this node and may coordinate elections. */
  #links: RegistryLink[] = [];
  #closed = false;
  readonly #counts = { roleChanges: 0, promisesGranted: 0, promisesRefused: 0 };

  /** The write path a {@linkcode GameNode} in this cluster is built with. */
  readonly writePath: WritePath = {
    forward: (write) => this.#slave?.forward(write) ?? false,
    whenDurable: (ack, fail) =>
      this.#master
        ? this.#master.whenDurable(ack, fail)
        : fail("UNAVAILABLE", "This node has not joined its cluster yet"),
    canAcknowledge: () => (this.#master?.canAcknowledge ?? false) && this.#promisedIsCurrent(),
    expire: (userId, generation) => this.#slave?.expire(userId, generation),
  };

  private constructor(
    config: NodeConfig,
    pump: Pump,
    curve: ClusterCurve | undefined,
    sockets: { router: RouterSocket; publisher: PublisherSocket },
    promise: DurablePromise,
  ) {
    this.#config = config;
    this.#pump = pump;
    this.#curve = curve;
    this.#router = sockets.router;
    this.#publisher = sockets.publisher;
    this.#durable = promise;
    // A node that remembers an epoch is returning: it never claims master by itself.
    this.#wish = promise.epoch === 0 && config.role === "master" ? "ROLE_MASTER" : "ROLE_SLAVE";
  }

  /**
   * Checks the membership, reads the state file (its promise), binds the cluster and publish ports
   * (closing what it opened when one fails). Throws `ConfigError` or `StateFileError` (exit 2).
   */
  static async bind(pump: Pump, config: NodeConfig): Promise<ClusterCoordinator> {
    checkMembers(config.node_id, config.cluster.members);
    const promise = DurablePromise.load(config.state_file, config.node_id);
    const curve = startupClusterCurve(config.curve, [config.bind, config.host, ...config.registry]);
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
        peerTimeoutMs: config.cluster.publish_timeout_ms,
      });
    } catch (err) {
      router.close();
      throw err;
    }
    ref.coordinator = new ClusterCoordinator(
      config,
      pump,
      curve,
      { router, publisher },
      promise,
    );
    return ref.coordinator;
  }

  /**
   * Attaches the node (and its journal, when it persists: the node's position is then what the
   * journal recovered), registers with the registry (rejecting with a `RegistrationError` when none
   * accepts the node in time; everything is then closed) and takes the role the registry gives.
   */
  async join(node: GameNode, clientPort: number, journal?: Journal): Promise<void> {
    const config = this.#config;
    this.#node = node;
    this.#journal = journal;
    this.#master = new MasterPlane({
      config,
      node,
      router: this.#router,
      publisher: this.#publisher,
      registryContact: () => Math.max(0, ...this.#links.map((l) => l.lastContact)),
      journal,
    });
    this.#slave = new SlavePlane({
      config,
      node,
      pump: this.#pump,
      curve: this.#curve,
      promised: () => this.#durable.epoch,
      adopt: (epoch) => this.#promise(epoch, "a master publishes in it"),
      journal,
    });
    const address: NodeAddress = {
      nodeId: config.node_id,
      host: config.host,
      clientPort,
      clusterPort: this.#router.port,
      publishPort: this.#publisher.port,
      httpPort: config.http_port,
    };
    const identity = {
      address,
      runId: this.#runId,
      role: () => this.#joined ? node.role : this.#wish,
      epoch: () => Math.max(node.epoch, this.#durable.epoch),
      masterId: () => node.masterId,
      load: () => node.loadReport(),
      members: config.cluster.members,
    };
    this.#links = config.registry.map((endpoint) =>
      new RegistryLink({
        pump: this.#pump,
        endpoints: [endpoint],
        curve: this.#curve,
        identity,
        reportIntervalMs: config.cluster.report_interval_ms,
        registryTimeoutMs: config.cluster.registry_timeout_ms,
        retryMaxMs: config.cluster.retry_max_ms,
        onCommand: (command) => this.onCommand(command),
      })
    );
    try {
      await registerWithAny(this.#links, config.cluster.register_timeout_ms);
      this.#joined = true;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Handles a message on the cluster socket (slaves talk to the master plane). */
  onClusterFrame(peer: Uint8Array, frames: Uint8Array[]): void {
    this.#master?.onFrame(peer, frames);
  }

  /** The registry links, one per configured registry (for status). */
  get registries(): readonly RegistryLink[] {
    return this.#links;
  }

  /** Replication's counters as a slave (zeros before this node ever followed a master). */
  get replicaStats(): ReplicaSyncStats | undefined {
    return this.#slave?.replicaStats;
  }

  /** What the cluster side did since the node started: for metrics, read when scraped. */
  get stats(): ClusterStats {
    const master = this.#master?.stats;
    const slave = this.#slave?.stats;
    const lastUpdateAt = this.#slave?.lastUpdateAt ?? 0;
    return {
      ...this.#counts,
      updatesPublished: master?.updatesPublished ?? 0,
      bytesPublished: master?.bytesPublished ?? 0,
      snapshotsServed: master?.snapshotsServed ?? 0,
      forwardedExecuted: master?.forwardedWrites ?? 0,
      pendingAcks: this.#node?.authoritative ? this.#master?.pendingAcks ?? 0 : 0,
      forwardedWrites: slave?.forwardedWrites ?? 0,
      bytesReceived: slave?.bytesReceived ?? 0,
      following: this.#node?.authoritative === false && this.#slave?.master !== undefined,
      syncState: this.#slave?.syncState ?? "need_snapshot",
      lastUpdateAt,
    };
  }

  /**
   * Whether this node can serve its part of the cluster, and why: registered with a registry, and
   * either master (not fenced) or a slave replicating its master live (holding a current snapshot).
   */
  readiness(): { ready: boolean; reason: string } {
    const node = this.#node;
    if (!this.#joined || !node || !this.#master || !this.#slave) {
      return { ready: false, reason: "Not registered with any registry yet" };
    }
    if (this.#closed) return { ready: false, reason: "Leaving the cluster" };
    if (node.authoritative) {
      return this.#master.canAcknowledge
        ? { ready: true, reason: `Master at epoch ${node.epoch}` }
        : { ready: false, reason: "Master fenced: no contact with the registry or any slave" };
    }
    const master = this.#slave.master;
    if (!master) return { ready: false, reason: "No master to follow yet" };
    const state = this.#slave.syncState;
    if (state !== "live") {
      return {
        ready: false,
        reason: state === "awaiting_snapshot"
          ? `Waiting for a snapshot from ${master.nodeId}`
          : `Not replicating from ${master.nodeId} yet`,
      };
    }
    return {
      ready: true,
      reason:
        `Slave replicating live from ${master.nodeId} (epoch ${node.epoch}, seq ${node.lastSeq})`,
    };
  }

  /** The highest epoch this node promised or followed. */
  get promised(): number {
    return this.#durable.epoch;
  }

  /** Called by the node server after every tick: the plane of the node's role does its part. */
  afterTick(now: number): void {
    if (this.#closed || !this.#node) return;
    const { node, master, slave } = this.#planes();
    if (node.authoritative) master.afterTick(now);
    else slave.afterTick(now);
  }

  /** Acts on a command or news from the registry: the only place roles change. */
  onCommand(command: RegistryCommand): void {
    const { node, master, slave } = this.#planes();
    const self = this.#config.node_id;
    switch (command.type) {
      case "prepare":
        this.#onPrepare(command.epoch, command.registryId, command.reply);
        return;
      case "convert_to_master":
        this.#becomeMaster(command.epoch, "the registry promoted this node");
        return;
      case "change_master":
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
            this.#becomeMaster(command.epoch, "the registry confirmed this node as master");
          }
          return;
        }
        if (!named) return;
        if (
          node.authoritative || named.nodeId !== slave.master?.nodeId || command.epoch > node.epoch
        ) {
          this.#follow(named, command.epoch);
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

  /** A master whose promise moved past its epoch must not acknowledge (it steps down at once). */
  #promisedIsCurrent(): boolean {
    return this.#node !== undefined && this.#durable.epoch <= this.#node.epoch;
  }

  /** Raises the durable promise to `epoch` (fsync'd before anything acts on it); false if it failed. */
  #promise(epoch: number, why: string): boolean {
    return this.#durable.raise(epoch, this.#roleNow(), why);
  }

  #roleNow(): "ROLE_MASTER" | "ROLE_SLAVE" {
    return this.#planes().node.authoritative ? "ROLE_MASTER" : "ROLE_SLAVE";
  }

  #onPrepare(epoch: number, registryId: string, reply: (promise: PromiseReply) => void): void {
    const { node } = this.#planes();
    const granted = epoch > this.#durable.epoch && this.#promise(epoch, "election round");
    if (granted) this.#counts.promisesGranted++;
    else this.#counts.promisesRefused++;
    if (granted && node.authoritative) {
      // Promising a newer epoch ends this master's term now: nothing more is acknowledged by it.
      this.#stepDown(`promised epoch ${epoch} to an election`);
    }
    const position = this.#position();
    logger.info(
      "{what} epoch {epoch} to registry {registryId}; holding epoch {posEpoch} seq {posSeq}",
      {
        what: granted ? "Promised" : `Refused (promised ${this.#durable.epoch})`,
        epoch,
        registryId: registryId || "?",
        posEpoch: position.epoch,
        posSeq: position.seq,
      },
    );
    reply({
      nodeId: this.#config.node_id,
      runId: this.#runId,
      granted,
      epoch,
      promisedEpoch: this.#durable.epoch,
      positionEpoch: position.epoch,
      positionSeq: position.seq,
      load: node.loadReport(),
      configuredRole: this.#config.role === "master" ? "ROLE_MASTER" : "ROLE_SLAVE",
    });
  }

  /**
   * The position a promise reports: what this node holds durably (with a journal: what a crash now
   * would recover, so an election never counts on updates only in memory), else what it holds.
   */
  #position(): Position {
    return this.#journal?.durable ?? this.#planes().node.position;
  }

  /** Commands of an epoch below the promise are stale: the cluster has moved on. */
  #stale(epoch: number, what: string): boolean {
    if (epoch >= this.#durable.epoch) return false;
    logger.debug("Ignored {what} at epoch {epoch}: promised {promised}", {
      what,
      epoch,
      promised: this.#durable.epoch,
    });
    return true;
  }

  #becomeMaster(epoch: number, why: string): void {
    const { node, master, slave } = this.#planes();
    if (this.#stale(epoch, "a master role") || epoch < node.epoch) return;
    if (node.role === "ROLE_MASTER" && epoch === node.epoch) return;
    if (!this.#promise(epoch, why)) return;
    const wasMaster = node.role === "ROLE_MASTER";
    node.becomeMaster(epoch);
    this.#remember();
    if (wasMaster) return;
    this.#counts.roleChanges++;
    slave.stop("The master changed; the write may not have been applied, retry it");
    master.begin();
    logger.info("Now MASTER at epoch {epoch} ({why}); {users} users, continuing from seq {seq}", {
      epoch,
      why,
      users: node.state.world.size,
      seq: node.lastSeq,
    });
  }

  /** Ends this node's term as master (a newer epoch exists): pending writes fail, none is acked. */
  #stepDown(why: string): void {
    const { node, master } = this.#planes();
    if (!node.authoritative) return;
    logger.warn("Stepping down as master of epoch {epoch}: {why}", { epoch: node.epoch, why });
    this.#counts.roleChanges++;
    node.becomeSlave("", node.epoch);
    master.end("This node stepped down from master; the write may not have been applied");
  }

  #follow(address: NodeAddress, epoch: number): void {
    const { node, slave } = this.#planes();
    if (!node.authoritative && node.epoch === epoch && sameAddress(slave.master, address)) {
      // Registries repeat themselves (a report queued through a partition is answered after it):
      // following again would throw away a replica in step and ask for another snapshot.
      logger.debug("Already following {master} at epoch {epoch}", {
        master: address.nodeId,
        epoch,
      });
      return;
    }
    if (this.#stale(epoch, `following ${address.nodeId}`)) return;
    if (!this.#promise(epoch, `following ${address.nodeId}`)) return;
    const wasMaster = node.authoritative;
    if (wasMaster) this.#stepDown(`${address.nodeId} is master at epoch ${epoch}`);
    node.becomeSlave(address.nodeId ?? "", epoch);
    this.#remember();
    logger.info("Following master {master} at {endpoint} (epoch {epoch})", {
      master: address.nodeId,
      endpoint: connectEndpoint(address.host ?? "", address.publishPort ?? 0),
      epoch,
    });
    slave.follow(address, epoch);
  }

  #remember(): void {
    this.#durable.remember(this.#roleNow());
  }

  /** Leaves the cluster: deregisters (best effort) and closes every cluster socket. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const link of this.#links) link.close();
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

/** True when `a` names the same node at the same endpoints as `b`. */
function sameAddress(a: NodeAddress | undefined, b: NodeAddress): boolean {
  return a !== undefined && a.nodeId === b.nodeId && a.host === b.host &&
    a.clusterPort === b.clusterPort && a.publishPort === b.publishPort;
}
