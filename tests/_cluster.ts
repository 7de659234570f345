/**
 * A local cluster for integration tests: a registry and game nodes as real processes on free ports,
 * sharing a fresh CURVE keypair, with configs in a temporary folder.
 *
 * @module
 */
import { generateCurveKeyPair } from "../lib/transport/mod.ts";
import { freePorts, Proc, TempDir } from "./_harness.ts";

/** Ports of one node. */
export interface NodePorts {
  client: number;
  cluster: number;
  publish: number;
  /** The HTTP port (WebSocket clients at `/ws`), with `TestClusterOptions.http`. */
  http?: number;
}

/** Options of {@linkcode TestCluster}. */
export interface TestClusterOptions {
  /** Extra fields merged into every node config's `cluster` group. */
  cluster?: Record<string, unknown>;
  /** Extra fields merged into every node config's `world` group. */
  world?: Record<string, unknown>;
  /** Registry config overrides. */
  registry?: Record<string, unknown>;
  /** The cluster's members (every node config lists them); default master, slave1, slave2. */
  members?: string[];
  /** Serve HTTP (and so WebSocket clients) on a port of each node's own. */
  http?: boolean;
}

/** A registry plus nodes, all stopped on dispose. */
export class TestCluster implements AsyncDisposable {
  readonly dir = new TempDir();
  readonly keys = generateCurveKeyPair();
  readonly registryPorts: { cluster: number; discovery: number };
  readonly procs = new Map<string, Proc>();
  readonly nodePorts = new Map<string, NodePorts>();
  readonly #options: TestClusterOptions;

  constructor(options: TestClusterOptions = {}) {
    this.#options = options;
    const [cluster, discovery] = freePorts(2);
    this.registryPorts = { cluster, discovery };
  }

  /** The cluster's members. */
  get members(): string[] {
    return this.#options.members ?? ["master", "slave1", "slave2"];
  }

  /** The registry's discovery endpoint (for clients). */
  get discovery(): string {
    return `tcp://127.0.0.1:${this.registryPorts.discovery}`;
  }

  /** The curve section of the configs. */
  get curve(): { public_key: string; secret_key: string } {
    return { public_key: this.keys.publicKey, secret_key: this.keys.secretKey };
  }

  /** Starts (or restarts) the registry and waits until it listens. */
  async startRegistry(name = "registry"): Promise<Proc> {
    const path = this.dir.writeJson("registry.json", {
      cluster_port: this.registryPorts.cluster,
      discovery_port: this.registryPorts.discovery,
      http_port: 0,
      node_timeout_ms: 1000,
      recovery_grace_ms: 3000,
      log_level: "debug",
      curve: this.curve,
      ...this.#options.registry,
    });
    const proc = new Proc(name, "registry.ts", [`--config=${path}`]);
    this.procs.set(name, proc);
    await proc.waitFor(/Registry listening/);
    return proc;
  }

  /** Writes a node config (fresh ports the first time) and returns its path. */
  nodeConfig(
    nodeId: string,
    role: "master" | "slave",
    extra: Record<string, unknown> = {},
  ): string {
    let ports = this.nodePorts.get(nodeId);
    if (!ports) {
      const [client, cluster, publish, http] = freePorts(4);
      ports = { client, cluster, publish, http: this.#options.http ? http : undefined };
      this.nodePorts.set(nodeId, ports);
    }
    return this.dir.writeJson(`${nodeId}.json`, {
      mode: "cluster",
      node_id: nodeId,
      role,
      client_port: ports.client,
      cluster_port: ports.cluster,
      publish_port: ports.publish,
      http_port: ports.http ?? 0,
      registry: [`tcp://127.0.0.1:${this.registryPorts.cluster}`],
      log_level: "debug",
      state_file: `${this.dir.path}/${nodeId}.state.json`,
      data_dir: `${this.dir.path}/${nodeId}.data`,
      curve: this.curve,
      world: { width: 2000, height: 2000, ...this.#options.world },
      cluster: {
        members: this.members,
        register_timeout_ms: 5000,
        report_interval_ms: 100,
        ...this.#options.cluster,
      },
      ...extra,
    });
  }

  /** Starts a node process (does not wait). */
  spawnNode(nodeId: string, role: "master" | "slave", extra: Record<string, unknown> = {}): Proc {
    const proc = new Proc(nodeId, "main.ts", [`--config=${this.nodeConfig(nodeId, role, extra)}`]);
    this.procs.set(nodeId, proc);
    return proc;
  }

  /** Starts a node and waits until it registered (and, for a slave, took a snapshot). */
  async startNode(nodeId: string, role: "master" | "slave"): Promise<Proc> {
    const proc = this.spawnNode(nodeId, role);
    await proc.waitFor(/Registered with registry/);
    if (role === "slave") await proc.waitFor(/Snapshot applied/);
    return proc;
  }

  /** The client endpoint of a node. */
  clientEndpoint(nodeId: string): string {
    return `tcp://127.0.0.1:${this.nodePorts.get(nodeId)!.client}`;
  }

  /** The WebSocket URL of a node (with `TestClusterOptions.http`). */
  wsUrl(nodeId: string): string {
    const http = this.nodePorts.get(nodeId)?.http;
    if (!http) throw new Error(`${nodeId} serves no HTTP (TestClusterOptions.http)`);
    return `ws://127.0.0.1:${http}/ws`;
  }

  /** A process by name. */
  proc(name: string): Proc {
    const p = this.procs.get(name);
    if (!p) throw new Error(`No process ${name}`);
    return p;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => p.stop(3000)));
    await this.dir[Symbol.asyncDispose]();
  }
}
